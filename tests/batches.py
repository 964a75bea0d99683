"""Build capture batches straight from frames, for core tests without files."""
import numpy as np

from engine.capture import Batch

LINKTYPE_ETHERNET = 1


def make_batch(frames, linktype=LINKTYPE_ETHERNET) -> Batch:
    """frames: list of (timestamp_seconds, frame_bytes) or (ts, frame, linktype)."""
    buf = b"".join(f[1] for f in frames)
    lengths = np.array([len(f[1]) for f in frames], dtype=np.uint32)
    offsets = np.zeros(len(frames), dtype=np.uint64)
    if len(frames) > 1:
        offsets[1:] = np.cumsum(lengths[:-1], dtype=np.uint64)
    return Batch(
        buf=buf,
        offsets=offsets,
        caplens=lengths,
        wirelens=lengths.copy(),
        ts_us=np.array([round(f[0] * 1e6) for f in frames], dtype=np.int64),
        linktypes=np.array([f[2] if len(f) > 2 else linktype for f in frames], dtype=np.uint16),
        count=len(frames),
    )


def run_engine(frames, config=None, linktype=LINKTYPE_ETHERNET):
    """Replay frames through a fresh core; returns (flow records, counters)."""
    from engine._core import FlowEngine
    from engine.config import CoreConfig

    engine = FlowEngine(config or CoreConfig())
    if frames:
        engine.process(make_batch(frames, linktype))
    engine.flush()
    return engine.take_flows(), engine.counters()
