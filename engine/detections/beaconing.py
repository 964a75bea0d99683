"""(f) Beaconing: connections at regular intervals with regular sizes.

The score follows RITA's idea: a beacon's inter-connection intervals and
upload sizes are both tightly clustered. Each part scores 1 - dispersion,
where dispersion is the median absolute deviation over the median (robust
to a few missed or extra beats); the score is their mean."""
import numpy as np

from ..alerts import Finding
from . import ChannelView, DetectConfig


def regularity(values: np.ndarray) -> float:
    """1 for identical values, towards 0 as they spread."""
    median = float(np.median(values))
    if median <= 0:
        return 0.0
    mad = float(np.median(np.abs(values - median)))
    return max(0.0, 1.0 - mad / median)


def beacon_score(starts_us: np.ndarray, sizes: np.ndarray) -> tuple[float, float]:
    """(score, median interval in seconds) of a channel's connections."""
    intervals = np.diff(np.sort(starts_us)) / 1e6
    if len(intervals) == 0:
        return 0.0, 0.0
    score = (regularity(intervals) + regularity(sizes.astype(float) + 1.0)) / 2
    return score, float(np.median(intervals))


def beaconing(v: ChannelView, cfg: DetectConfig) -> Finding | None:
    starts = v.stats.conn_start_us
    if len(starts) < cfg.beacon_min_connections:
        return None
    score, interval = beacon_score(starts, v.stats.conn_bytes_out)
    if score < cfg.beacon_score_threshold or interval < cfg.beacon_min_interval_s:
        return None
    return Finding("beaconing", cfg.beacon_points,
                   f"{len(starts)} connections about every {interval:.0f} s "
                   f"(regularity {score:.2f})",
                   {"connections": len(starts), "interval_s": round(interval, 1),
                    "score": round(score, 3)})
