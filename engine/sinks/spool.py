"""An on-disk FIFO of records a network output could not deliver yet.

    spool = DiskSpool("/var/spool/exfilwatch/syslog", max_bytes=256 << 20)
    spool.append([b'{"event_type":"flow",...}', ...])   # False: full, records dropped
    batch = spool.peek(500)          # the oldest records, in order
    spool.commit(len(batch))         # delivered: forget them

Records are lines (EVE JSON never holds a raw newline) in segment files
named by a sequence number, so the order survives a restart: a spool left
on disk by one run is read by the next. ``cursor`` holds how far the oldest
segment has been delivered; it is rewritten after each commit, so a crash
between delivery and commit delivers that batch twice, never loses it
(at-least-once).

The bound is the bytes on disk: once a record would pass ``max_bytes``, new
records are dropped until delivery has emptied half the spool (the newest
go, so what is kept is one contiguous run up to the first drop), counted in
``dropped``; a warning is logged once per episode of being full.
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

_SUFFIX = ".spool"
_CURSOR = "cursor"
# a segment is closed for appending past this size (or an eighth of the
# bound), so that delivered records leave the disk a segment at a time
_SEGMENT_BYTES = 4 << 20


class DiskSpool:
    """Bounded, persistent, ordered spool of one output's records."""

    def __init__(self, directory: str, max_bytes: int, name: str = "output"):
        self.directory = directory
        self.max_bytes = max_bytes
        self.name = name
        self.dropped = 0
        self._full_episode = False
        os.makedirs(directory, exist_ok=True)
        self._segments = sorted(int(f[:-len(_SUFFIX)]) for f in os.listdir(directory)
                                if f.endswith(_SUFFIX) and f[:-len(_SUFFIX)].isdigit())
        self._bytes = sum(os.path.getsize(self._path(s)) for s in self._segments)
        self._offset = self._read_cursor()
        self._writer = None
        self._segment_bytes = max(1, min(_SEGMENT_BYTES, max_bytes // 8))

    # -- state -------------------------------------------------------------

    @property
    def bytes_on_disk(self) -> int:
        return self._bytes

    def __bool__(self) -> bool:
        """True while records wait to be delivered."""
        return bool(self._segments) and (
            len(self._segments) > 1 or self._offset < self._size(self._segments[0]))

    # -- writing -----------------------------------------------------------

    def append(self, records) -> bool:
        """Add records at the end; False when some were dropped (spool full)."""
        kept = True
        for record in records:
            line = record + b"\n"
            if self._full_episode and self._bytes <= self.max_bytes // 2:
                self._full_episode = False
                log.warning("Spool %s of output %s has room again; %d records were dropped "
                            "while it was full.", self.directory, self.name, self.dropped)
            if self._full_episode or self._bytes + len(line) > self.max_bytes:
                self._drop()
                kept = False
                continue
            self._writable(len(line)).write(line)
            self._bytes += len(line)
        return kept

    def _drop(self) -> None:
        self.dropped += 1
        if not self._full_episode:
            self._full_episode = True
            log.warning("Spool %s of output %s is full (%g MiB, outputs.spool_max_mb): its new "
                        "records are dropped until it is half empty, counted in "
                        "stats.outputs.%s.dropped.",
                        self.directory, self.name, self.max_bytes / (1 << 20), self.name)

    def _writable(self, size: int):
        if self._writer is not None and self._writer.tell() + size > self._segment_bytes:
            self._close_writer()
        if self._writer is None:
            seq = self._segments[-1] + 1 if self._segments else 1
            self._segments.append(seq)
            self._writer = open(self._path(seq), "ab")
        return self._writer

    def sync(self) -> None:
        """Hand appended records to the OS (after each batch of appends)."""
        if self._writer is not None:
            self._writer.flush()

    # -- reading -----------------------------------------------------------

    def peek(self, limit: int) -> list[bytes]:
        """Up to ``limit`` of the oldest records, oldest first, from one segment."""
        if not self._segments:
            return []
        self.sync()
        with open(self._path(self._segments[0]), "rb") as fh:
            fh.seek(self._offset)
            records = []
            for line in fh:
                if not line.endswith(b"\n"):
                    break       # a record cut short by a crash: not delivered
                records.append(line[:-1])
                if len(records) == limit:
                    break
        if not records and (len(self._segments) > 1 or self._writer is None):
            # nothing whole left in a segment no longer written: a crash's cut record
            self._retire_oldest()
            return self.peek(limit)
        return records

    def commit(self, count: int) -> None:
        """The ``count`` oldest records (as returned by peek) were delivered."""
        if not count:
            return
        self.sync()
        with open(self._path(self._segments[0]), "rb") as fh:
            fh.seek(self._offset)
            for _ in range(count):
                self._offset += len(fh.readline())
        if self._offset >= self._size(self._segments[0]):
            self._retire_oldest()
        else:
            self._write_cursor()

    def _retire_oldest(self) -> None:
        if self._writer is not None and len(self._segments) == 1:
            self._close_writer()        # appends go on in a new segment
        seq = self._segments.pop(0)
        self._bytes -= self._size(seq)
        os.unlink(self._path(seq))
        self._offset = 0
        self._write_cursor()

    def close(self) -> None:
        """Close the open segment; an empty spool leaves no file behind."""
        self._close_writer()
        if not self:
            for seq in self._segments:
                os.unlink(self._path(seq))
            self._segments.clear()
            self._bytes = 0
            self._offset = 0
            self._write_cursor()

    # -- files -------------------------------------------------------------

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            os.fsync(self._writer.fileno())
            self._writer.close()
            self._writer = None

    def _path(self, seq: int) -> str:
        return os.path.join(self.directory, f"{seq:012d}{_SUFFIX}")

    def _size(self, seq: int) -> int:
        if self._writer is not None and seq == self._segments[-1]:
            return self._writer.tell()
        return os.path.getsize(self._path(seq))

    def _read_cursor(self) -> int:
        try:
            with open(os.path.join(self.directory, _CURSOR), encoding="ascii") as fh:
                seq, offset = (int(x) for x in fh.read().split())
        except (OSError, ValueError):
            return 0
        # the cursor belongs to the oldest segment, or to one already retired
        return offset if self._segments and seq == self._segments[0] else 0

    def _write_cursor(self) -> None:
        path = os.path.join(self.directory, _CURSOR)
        if not self._segments:
            if os.path.exists(path):
                os.unlink(path)
            return
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(f"{self._segments[0]} {self._offset}\n")
        os.replace(tmp, path)
