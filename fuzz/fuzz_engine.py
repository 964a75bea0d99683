"""Fuzz the core's batch entry point: FlowEngine.process on frames of any
link type, then every take_* / expire / flush / counters call.

Input: [u8 config][frames...], each frame
[u8 linktype index][u8 ts delta ms][u16 extra wire bytes][u16 len][bytes].
"""

import numpy as np

from common import LINKTYPES, Reader, fuzzing_imports, main

with fuzzing_imports(__name__):
    from engine._core import FlowEngine
    from engine.capture import Batch
    from engine.config import CoreConfig

MAX_FRAMES = 64
# small caps so that memcap/eviction/out-of-order paths are reached with few frames
TIGHT = CoreConfig(max_flows=4, max_fragment_sets=2, handshake_bytes_per_direction=1024,
                   handshake_preamble_bytes=64, max_ooo_segments=2, quic_max_datagrams=2,
                   handshake_memory_mb=1, tcp_timeout_new_s=1.0, other_timeout_new_s=1.0)
CONFIGS = (CoreConfig(), TIGHT)


def frames_of(r: Reader):
    frames, ts = [], 1_700_000_000_000_000
    while r.remaining() >= 6 and len(frames) < MAX_FRAMES:
        linktype = LINKTYPES[r.u8() % len(LINKTYPES)]
        ts += r.u8() * 1000
        extra = r.u16()
        frame = r.take(r.u16())
        frames.append((ts, frame, len(frame) + extra, linktype))
    return frames


def batch_of(frames) -> Batch:
    buf = b"".join(f[1] for f in frames)
    caplens = np.array([len(f[1]) for f in frames], dtype=np.uint32)
    offsets = np.zeros(len(frames), dtype=np.uint64)
    if len(frames) > 1:
        offsets[1:] = np.cumsum(caplens[:-1], dtype=np.uint64)
    return Batch(buf=buf, offsets=offsets, caplens=caplens,
                 wirelens=np.array([f[2] for f in frames], dtype=np.uint32),
                 ts_us=np.array([f[0] for f in frames], dtype=np.int64),
                 linktypes=np.array([f[3] for f in frames], dtype=np.uint16),
                 count=len(frames))


def TestOneInput(data: bytes) -> None:
    r = Reader(data)
    mode = r.u8()
    engine = FlowEngine(CONFIGS[mode & 1])
    frames = frames_of(r)
    # mode bit 1: two batches (state carried across process calls)
    cut = len(frames) // 2 if mode & 2 else len(frames)
    for part in (frames[:cut], frames[cut:]):
        if part:
            engine.process(batch_of(part))
        engine.take_flows()
        engine.take_handshakes()
        engine.take_ja4ssh()
    if mode & 4 and frames:
        engine.expire(frames[-1][0] + 3_600_000_000)
    engine.flush()
    engine.take_flows()
    engine.take_handshakes()
    engine.take_ja4ssh()
    engine.counters()
    assert engine.active_flows == 0, "flush left flows in the table"


if __name__ == "__main__":
    main(TestOneInput)
