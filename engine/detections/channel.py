"""Channel-shape detections: (d) an encrypted protocol on a non-standard
port, (e) long or persistent connections."""
from ..alerts import Finding
from . import ChannelView, DetectConfig


def nonstandard_port(v: ChannelView, cfg: DetectConfig) -> Finding | None:
    s = v.session
    if s is None or not s.unusual_port:
        return None
    return Finding("nonstandard_port", cfg.nonstandard_port_points,
                   f"{s.kind.upper()} found by content on port {v.key[3]}",
                   {"protocol": s.kind, "port": v.key[3]})


def long_connection(v: ChannelView, cfg: DetectConfig) -> Finding | None:
    duration_s = (v.flow.end_us - v.flow.start_us) / 1e6
    if duration_s < cfg.long_connection_s:
        return None
    return Finding("long_connection", cfg.long_connection_points,
                   f"connection open for {duration_s / 3600:.1f} h",
                   {"flow_id": v.flow.flow_id, "duration_s": round(duration_s),
                    "interim": v.flow.interim})
