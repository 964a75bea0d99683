"""EVE lines to standard output, for a pipe (jq, a log shipper) or a container's log."""
from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)


class StdoutSink:
    """One EVE JSON object per line on stdout; stops quietly when the reader goes away."""

    name = "stdout"

    def __init__(self, stream=None):
        self._stream = stream if stream is not None else sys.stdout.buffer
        self.written = 0

    def write(self, event_type: str, line: bytes) -> None:
        if self._stream is None:
            return
        try:
            self._stream.write(line + b"\n")
        except BrokenPipeError:
            self._reader_gone()
            return
        self.written += 1

    def flush(self) -> None:
        if self._stream is not None:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._reader_gone()

    def _reader_gone(self) -> None:
        log.warning("The reader of stdout went away: the stdout output stops; the other "
                    "outputs go on.")
        self._stream = None

    def counters(self) -> dict:
        return {"written": self.written}

    def close(self) -> None:
        self.flush()
