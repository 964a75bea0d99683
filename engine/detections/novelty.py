"""Novelty detections: (c) a new destination, (g) several hosts reaching
one new destination."""
from ..alerts import Finding
from . import MB, ChannelView, DetectConfig


def new_destination(v: ChannelView, cfg: DetectConfig) -> Finding | None:
    w = v.stats.windows[cfg.short_window]
    if not v.new_for_org or w.bytes_out < cfg.new_destination_min_bytes:
        return None
    what = ", ".join(sorted(v.new_for_org))
    return Finding("new_destination", cfg.new_destination_points,
                   f"first time the organisation sees this {what}; "
                   f"{w.bytes_out / MB:.1f} MB uploaded to it",
                   {"new": sorted(v.new_for_org), "bytes_out": w.bytes_out})


def multi_host_new_destination(v: ChannelView, cfg: DetectConfig) -> Finding | None:
    if not v.destination_new or len(v.hosts_reaching) < cfg.multi_host_min_hosts:
        return None
    return Finding("multi_host_new_destination", cfg.multi_host_points,
                   f"{len(v.hosts_reaching)} internal hosts reached new destination "
                   f"{v.key[1]} within {cfg.short_window}",
                   {"hosts": list(v.hosts_reaching)})
