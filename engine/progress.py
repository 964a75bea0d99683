"""A one-line progress display on stderr for long replays."""
import sys
import time


class Progress:
    """Redraws '<file> 42% 1.2 M pkts 850 k pkt/s' at most a few times a second."""

    def __init__(self, stream=sys.stderr, interval_s: float = 0.25):
        self.stream = stream
        self.interval_s = interval_s
        self._last_draw = 0.0
        self._started = time.monotonic()
        self._drawn = False

    def update(self, label: str, done_bytes: int, total_bytes: int, packets: int) -> None:
        now = time.monotonic()
        if now - self._last_draw < self.interval_s:
            return
        self._last_draw = now
        pct = 100.0 * done_bytes / total_bytes if total_bytes else 100.0
        rate = packets / max(now - self._started, 1e-6)
        self.stream.write(f"\r{label} {pct:5.1f}%  {packets:,} pkts  {rate:,.0f} pkt/s\033[K")
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
