"""Volume detections: (a) large upload, (b) sustained transfer, (j) a host
uploading far above its own baseline."""
from ..alerts import Finding
from . import MB, ChannelView, DetectConfig


def large_upload(v: ChannelView, cfg: DetectConfig) -> Finding | None:
    w = v.stats.windows[cfg.short_window]
    if w.bytes_out < cfg.large_upload_bytes or w.upload_ratio < cfg.large_upload_ratio:
        return None
    return Finding("large_upload", cfg.large_upload_points,
                   f"{w.bytes_out / MB:.1f} MB uploaded in {cfg.short_window} "
                   f"({w.upload_ratio:.0f}x what came back)",
                   {"bytes_out": w.bytes_out, "bytes_in": w.bytes_in, "window": cfg.short_window})


def sustained_transfer(v: ChannelView, cfg: DetectConfig) -> Finding | None:
    w = v.stats.windows[cfg.long_window]
    span_s = (v.stats.last_seen_us - v.stats.first_seen_us) / 1e6
    if w.bytes_out < cfg.sustained_bytes or span_s < cfg.sustained_min_span_s:
        return None
    return Finding("sustained_transfer", cfg.sustained_points,
                   f"{w.bytes_out / MB:.1f} MB uploaded over {span_s / 3600:.1f} h "
                   f"({w.connections} connections in {cfg.long_window})",
                   {"bytes_out": w.bytes_out, "span_s": round(span_s),
                    "connections": w.connections, "window": cfg.long_window})


def host_baseline_deviation(v: ChannelView, cfg: DetectConfig) -> Finding | None:
    up = v.upload
    if up is None or up.days == 0 or up.current < cfg.host_deviation_min_bytes:
        return None
    z = up.robust_z()
    if z < cfg.host_deviation_z:
        return None
    return Finding("host_baseline_deviation", cfg.host_deviation_points,
                   f"{v.key[0]} uploaded {up.current / MB:.1f} MB today against a median of "
                   f"{up.median / MB:.1f} MB over {up.days} days",
                   {"today_bytes": int(up.current), "median_bytes": int(up.median),
                    "history_days": up.days, "robust_z": None if z == float("inf") else round(z, 1)})
