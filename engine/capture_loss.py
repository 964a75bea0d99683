"""Capture loss over a sliding window of packet time.

The core counts ACK events and gap events (ACKs for bytes the capture never
saw, see engine/_loss.pxi); the loss of a window is the share of ACK events
in it that were gap events, as Zeek's capture_loss.log reports it. The
meter keeps one cumulative sample per minute of packet time, so any window
up to its span is answered from two samples.

    meter = CaptureLossMeter(span_s=86400)
    meter.observe(ts_us, ack_events, gap_events)     # counted since the last call
    meter.fraction(now_us, window_s=3600)            # 0.04, or None
"""
from collections import deque

SAMPLE_US = 60_000_000


class CaptureLossMeter:
    def __init__(self, span_s: int = 86400):
        # cumulative (ts_us, acks, gaps), one per minute of packet time
        self._samples = deque(maxlen=span_s * 1_000_000 // SAMPLE_US + 2)
        self._latest = None

    def observe(self, ts_us: int, ack_events: int, gap_events: int) -> None:
        """Add the events counted up to packet time ``ts_us`` since the last
        call (several capture workers may report in turn)."""
        acks, gaps = (self._latest[1], self._latest[2]) if self._latest else (0, 0)
        self._latest = (max(ts_us, self._latest[0]) if self._latest else ts_us,
                        acks + ack_events, gaps + gap_events)
        if not self._samples or self._latest[0] - self._samples[-1][0] >= SAMPLE_US:
            self._samples.append(self._latest)

    def fraction(self, now_us: int, window_s: int) -> float | None:
        """Share of the ACK events of the window ending now that were gap
        events; None when the window saw no loss (or no ACKs at all)."""
        if self._latest is None:
            return None
        start_us = now_us - window_s * 1_000_000
        base = (0, 0, 0)
        for sample in reversed(self._samples):
            if sample[0] <= start_us:
                base = sample
                break
        acks = self._latest[1] - base[1]
        gaps = self._latest[2] - base[2]
        if acks <= 0 or gaps <= 0:
            return None
        return gaps / acks
