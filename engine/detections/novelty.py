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
    if len(v.early_hosts) < cfg.multi_host_min_hosts:
        return None
    return Finding("multi_host_new_destination", cfg.multi_host_points,
                   f"{len(v.early_hosts)} internal hosts reached {v.key[1]} within "
                   f"{cfg.multi_host_window_s // 60} min of its first sighting",
                   {"hosts": list(v.early_hosts)})
