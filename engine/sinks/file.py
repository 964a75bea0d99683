"""EVE lines to DIR/eve.json, rotated by size.

With ``rotate_bytes`` set, a line that would take eve.json past it first
moves eve.json to eve.json.1 (eve.json.1 to eve.json.2, ...) and starts a
new eve.json; ``keep`` rotated files are kept, the oldest beyond them is
overwritten. A file is never cut inside a line, and a single line longer
than the limit still goes whole into a file of its own.

``reopen()`` closes eve.json and opens it again by name, appending: after
an external logrotate has moved the file away, the sensor writes to a new
one. Live mode calls it on SIGHUP; call it from the thread that writes
(a signal handler should only set a flag the capture loop checks).
"""
from __future__ import annotations

import gzip
import os
import re


_EVE_FILE = re.compile(r"^eve\.json(?:\.(\d+))?(?:\.gz)?$")


def eve_files(out_dir: str) -> list[str]:
    """DIR/eve.json and its rotated predecessors (eve.json.N, and
    eve.json.N.gz once logrotate compressed them) that exist, oldest
    first; [] when there are none (or out_dir is not a directory)."""
    if not os.path.isdir(out_dir):
        return []
    found = []
    for name in os.listdir(out_dir):
        match = _EVE_FILE.match(name)
        if match and os.path.isfile(os.path.join(out_dir, name)):
            found.append((-int(match.group(1) or 0), name))
    return [os.path.join(out_dir, name) for _, name in sorted(found)]


def open_eve(path: str):
    """A binary file object over an EVE file, gzip-compressed or not."""
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


class EveFileSink:
    """Appends EVE lines to DIR/eve.json (created afresh), rotated by size."""

    name = "eve_file"

    def __init__(self, out_dir: str, rotate_bytes: int = 0, keep: int = 5):
        os.makedirs(out_dir, exist_ok=True)
        self.path = os.path.join(out_dir, "eve.json")
        self.rotate_bytes = rotate_bytes
        self.keep = keep
        self.written = 0
        self.rotations = 0
        self._open("wb")

    def _open(self, mode: str) -> None:
        self._file = open(self.path, mode, buffering=1 << 20)
        self._size = self._file.tell() if mode == "ab" else 0

    def write(self, event_type: str, line: bytes) -> None:
        size = len(line) + 1
        if self.rotate_bytes and self._size and self._size + size > self.rotate_bytes:
            self._rotate()
        self._file.write(line + b"\n")
        self._size += size
        self.written += 1

    def _rotate(self) -> None:
        self._file.close()
        for n in range(self.keep - 1, 0, -1):
            if os.path.exists(f"{self.path}.{n}"):
                os.replace(f"{self.path}.{n}", f"{self.path}.{n + 1}")
        os.replace(self.path, f"{self.path}.1")
        self.rotations += 1
        self._open("wb")

    def flush(self) -> None:
        """Hand the buffered lines to the OS (live capture, after each stats
        record, so that readers of eve.json see the records so far)."""
        self._file.flush()

    def reopen(self) -> None:
        """Close eve.json and open it again by name, appending (logrotate)."""
        self._file.close()
        self._open("ab")

    def counters(self) -> dict:
        return {"written": self.written, "rotations": self.rotations}

    def close(self) -> None:
        self._file.close()
