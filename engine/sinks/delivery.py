"""Delivery to a network output that may be down, with nothing lost.

A `SpoolingSink` wraps a transport (syslog, Redis stream) and a
`DiskSpool`. Records wait in memory and go out in batches: when a batch
fills, when a record is written a second (``MAX_DELAY_S``) after the
oldest one waiting, and at each ``flush()`` (each `stats` record, shutdown). When the transport fails (refused, timed out, reset), the batch and
everything after it go to the spool, and the transport is retried at later
flushes with exponential backoff (1 s doubling to 60 s), so an output that
is down costs the capture path one short connect timeout per retry, not one
per record. When it answers again, the spool is delivered first, oldest
record first, then the new records: the order is kept. Delivery from the
spool is bounded in time per flush (``drain_budget_s``) so that a large
backlog does not stall the capture; ``close()`` delivers all it can and
leaves the rest on disk for the next run, which delivers it first.

A transport implements::

    name                      "syslog", "redis": the key in stats.outputs
    describe()                "syslog tcp://127.0.0.1:514" for log messages
    prepare(event_type, line) -> bytes   the record as the spool keeps it
    send(records)             deliver all of them, or raise OutputUnavailable
                              saying how many it delivered before failing
    counters()                its own counters for stats.outputs
    close()
"""
from __future__ import annotations

import logging
import time

from .spool import DiskSpool

log = logging.getLogger(__name__)

BATCH_RECORDS = 500           # records per send, and the in-memory batch
MAX_DELAY_S = 1.0             # a record waits in memory about this long at most
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0


class OutputUnavailable(Exception):
    """The output cannot take records now (its message says why);
    ``delivered``: how many records of the batch it took before failing."""

    def __init__(self, message: str, delivered: int = 0):
        super().__init__(message)
        self.delivered = delivered


class SpoolingSink:
    """One network output: in-memory batch, retry with backoff, disk spool."""

    def __init__(self, transport, spool: DiskSpool, *, drain_budget_s: float = 0.5,
                 clock=time.monotonic):
        self.transport = transport
        self.spool = spool
        self.drain_budget_s = drain_budget_s
        self._clock = clock
        self._pending: list[bytes] = []
        self._pending_since = 0.0
        self._retry_at = 0.0            # clock time of the next attempt while down
        self._backoff_s = FIRST_BACKOFF_S
        self._down = False              # warned that it is down, not yet back
        self.sent = 0
        self.spooled = 0

    def write(self, event_type: str, line: bytes) -> None:
        if not self._pending:
            self._pending_since = self._clock()
        self._pending.append(self.transport.prepare(event_type, line))
        if len(self._pending) >= BATCH_RECORDS or \
                self._clock() - self._pending_since >= MAX_DELAY_S:
            self.flush()

    def flush(self) -> None:
        """Deliver the spool, then the pending batch; on failure spool them."""
        self._deliver(deadline=self._clock() + self.drain_budget_s)

    def close(self) -> None:
        """Deliver everything if the output answers (one attempt, backoff
        or not); what it does not take stays in the spool for the next run."""
        self._retry_at = 0.0
        self._deliver(deadline=None)
        if self.spool:
            log.warning("%s: %d bytes of records stay in spool %s; the next run delivers "
                        "them first.", self.transport.describe(), self.spool.bytes_on_disk,
                        self.spool.directory)
        self.spool.close()
        self.transport.close()

    def counters(self) -> dict:
        """This output's line in stats.outputs."""
        return {"sent": self.sent, "spooled": self.spooled, "dropped": self.spool.dropped,
                "spool_bytes": self.spool.bytes_on_disk, **self.transport.counters()}

    def _deliver(self, deadline) -> None:
        if self._clock() < self._retry_at:
            self._to_spool()
            return
        try:
            while self.spool:
                if deadline is not None and self._clock() >= deadline:
                    self._to_spool()        # the rest of the backlog at the next flush
                    return
                batch = self.spool.peek(BATCH_RECORDS)
                self._send(batch, self.spool.commit)
            while self._pending:
                self._send(self._pending[:BATCH_RECORDS], self._forget_pending)
        except OutputUnavailable as exc:
            self._went_down(exc)
            self._to_spool()
            return
        self._came_back()

    def _send(self, batch, delivered) -> None:
        """Send a batch; ``delivered(n)`` drops the n records the output took."""
        try:
            self.transport.send(batch)
        except OutputUnavailable as exc:
            delivered(exc.delivered)
            self.sent += exc.delivered
            raise
        delivered(len(batch))
        self.sent += len(batch)

    def _forget_pending(self, count: int) -> None:
        del self._pending[:count]

    def _to_spool(self) -> None:
        if self._pending:
            dropped_before = self.spool.dropped
            self.spool.append(self._pending)
            self.spooled += len(self._pending) - (self.spool.dropped - dropped_before)
            self._pending = []
        self.spool.sync()

    def _went_down(self, exc: OutputUnavailable) -> None:
        if not self._down:
            self._down = True
            log.warning("%s is unavailable (%s): its records go to spool %s until it "
                        "returns.", self.transport.describe(), exc, self.spool.directory)
        else:
            self._backoff_s = min(self._backoff_s * 2, MAX_BACKOFF_S)
        self._retry_at = self._clock() + self._backoff_s

    def _came_back(self) -> None:
        if self._down:
            log.warning("%s is back; the spooled records were delivered.",
                        self.transport.describe())
            self._down = False
        self._backoff_s = FIRST_BACKOFF_S
