"""The disk spool and delivery with retry: order, persistence, the bound, backoff.

The transport here is a list that can be switched down; the real
collectors are driven in test_sinks_peers.py.
"""
import logging

from engine.sinks.delivery import BATCH_RECORDS, OutputUnavailable, SpoolingSink
from engine.sinks.spool import DiskSpool


def records(start, stop):
    return [b'{"n":%d}' % n for n in range(start, stop)]


def drain(spool, per_peek=7):
    """Every record of the spool, oldest first, committed as read."""
    delivered = []
    while spool:
        batch = spool.peek(per_peek)
        delivered += batch
        spool.commit(len(batch))
    return delivered


def test_spool_returns_records_in_order_and_forgets_committed_ones(tmp_path):
    spool = DiskSpool(str(tmp_path), max_bytes=1 << 20)
    assert not spool
    spool.append(records(0, 5))
    assert spool
    assert spool.peek(3) == records(0, 3)
    spool.commit(2)
    assert spool.peek(10) == records(2, 5)
    spool.commit(3)
    assert not spool
    assert spool.peek(10) == []


def test_spool_survives_a_restart_with_its_delivery_cursor(tmp_path):
    spool = DiskSpool(str(tmp_path), max_bytes=1 << 20)
    spool.append(records(0, 10))
    spool.commit(4)
    spool.close()
    again = DiskSpool(str(tmp_path), max_bytes=1 << 20)
    assert again.peek(100) == records(4, 10)
    again.append(records(10, 12))
    again.commit(6)
    assert again.peek(100) == records(10, 12)


def test_spool_spreads_over_segments_and_deletes_delivered_ones(tmp_path):
    spool = DiskSpool(str(tmp_path), max_bytes=8 * 100)      # segments of 100 bytes
    spool.append(records(0, 60))                              # 9-10 bytes a record
    segments = sorted(p.name for p in tmp_path.glob("*.spool"))
    assert len(segments) > 3
    assert drain(spool) == records(0, 60)
    assert list(tmp_path.glob("*.spool")) == []
    assert spool.bytes_on_disk == 0


def test_full_spool_drops_the_newest_counts_them_and_warns_once(tmp_path, caplog):
    spool = DiskSpool(str(tmp_path), max_bytes=100, name="syslog")
    assert spool.append(records(0, 10)) is True                # 8 bytes each with the newline
    assert spool.append(records(10, 20)) is False              # 9 bytes each: 2 more fit
    assert spool.append(records(20, 30)) is False
    assert spool.dropped == 18
    assert spool.bytes_on_disk == 98
    assert drain(spool) == records(0, 12)
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "spool_max_mb" in warnings[0]


def test_a_record_cut_short_by_a_crash_is_not_delivered(tmp_path):
    spool = DiskSpool(str(tmp_path), max_bytes=1 << 20)
    spool.append(records(0, 2))
    spool.close()
    with open(next(tmp_path.glob("*.spool")), "ab") as fh:
        fh.write(b'{"n":2')
    again = DiskSpool(str(tmp_path), max_bytes=1 << 20)
    again.append(records(3, 4))
    assert drain(again) == records(0, 2) + records(3, 4)
    assert not again and list(tmp_path.glob("*.spool")) == []


class FlakyTransport:
    """Takes records while up; ``fail_after`` lets a batch fail part way."""

    name = "flaky"

    def __init__(self):
        self.received = []
        self.up = True
        self.fail_after = None
        self.attempts = 0

    def describe(self):
        return "flaky output"

    def prepare(self, event_type, line):
        return line

    def send(self, batch):
        self.attempts += 1
        if not self.up:
            raise OutputUnavailable("Connection refused")
        if self.fail_after is not None:
            taken, self.fail_after = self.fail_after, None
            self.received += batch[:taken]
            raise OutputUnavailable("Connection reset by peer", delivered=taken)
        self.received += batch

    def counters(self):
        return {}

    def close(self):
        pass


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make_sink(tmp_path, transport, clock=None, max_bytes=1 << 20):
    return SpoolingSink(transport, DiskSpool(str(tmp_path / "spool"), max_bytes, "flaky"),
                        clock=clock or Clock())


def write_all(sink, lines):
    for line in lines:
        sink.write("flow", line)


def test_records_go_to_the_spool_while_down_and_arrive_in_order_when_back(tmp_path):
    transport, clock = FlakyTransport(), Clock()
    sink = make_sink(tmp_path, transport, clock)
    write_all(sink, records(0, 10))
    sink.flush()
    transport.up = False
    write_all(sink, records(10, 20))
    sink.flush()
    transport.up = True
    write_all(sink, records(20, 30))
    sink.flush()                         # inside the backoff: not tried, spooled
    assert transport.received == records(0, 10)
    clock.now += 1.0
    write_all(sink, records(30, 40))
    sink.flush()
    assert transport.received == records(0, 40)
    assert sink.counters() == {"sent": 40, "spooled": 20, "dropped": 0, "spool_bytes": 0}
    sink.close()


def test_backoff_doubles_while_the_output_stays_down(tmp_path):
    transport, clock = FlakyTransport(), Clock()
    transport.up = False
    sink = make_sink(tmp_path, transport, clock)
    tried_at = []
    for _ in range(40):
        attempts = transport.attempts
        sink.write("flow", b"{}")
        sink.flush()
        if transport.attempts > attempts:
            tried_at.append(clock.now - 1000.0)
        clock.now += 0.5
    assert tried_at == [0.0, 1.0, 3.0, 7.0, 15.0]
    assert transport.attempts == 5


def test_only_the_records_not_taken_are_spooled_after_a_partial_batch(tmp_path):
    transport, clock = FlakyTransport(), Clock()
    sink = make_sink(tmp_path, transport, clock)
    transport.fail_after = 3
    write_all(sink, records(0, 8))
    sink.flush()
    assert transport.received == records(0, 3)
    clock.now += 1.0
    sink.flush()
    assert transport.received == records(0, 8)       # no duplicates, no gap


def test_spooled_records_are_delivered_by_the_next_sink_on_the_same_spool(tmp_path):
    down = FlakyTransport()
    down.up = False
    first = make_sink(tmp_path, down)
    write_all(first, records(0, 25))
    first.close()                                    # collector still down: left on disk
    assert down.received == []
    up = FlakyTransport()
    second = make_sink(tmp_path, up)
    write_all(second, records(25, 30))
    second.close()
    assert up.received == records(0, 30)
    assert list((tmp_path / "spool").glob("*.spool")) == []


def test_a_full_batch_is_sent_without_waiting_for_a_flush(tmp_path):
    transport = FlakyTransport()
    sink = make_sink(tmp_path, transport)
    write_all(sink, records(0, BATCH_RECORDS))
    assert len(transport.received) == BATCH_RECORDS


def test_a_record_written_a_second_after_the_oldest_waiting_one_sends_them(tmp_path):
    transport, clock = FlakyTransport(), Clock()
    sink = make_sink(tmp_path, transport, clock)
    write_all(sink, records(0, 3))
    clock.now += 0.9
    sink.write("flow", b'{"n":3}')
    assert transport.received == []
    clock.now += 0.1
    sink.write("flow", b'{"n":4}')
    assert transport.received == records(0, 5)


def test_spool_bound_counts_the_records_dropped_while_down(tmp_path):
    transport = FlakyTransport()
    transport.up = False
    sink = make_sink(tmp_path, transport, max_bytes=1000)
    write_all(sink, records(0, 300))
    sink.flush()
    counters = sink.counters()
    # 10 records of 8 bytes, 90 of 9, 11 of 10: 1000 bytes
    assert counters == {"sent": 0, "spooled": 111, "dropped": 189, "spool_bytes": 1000}
    transport.up = True
    sink.close()
    assert transport.received == records(0, 111)


def test_a_full_spool_takes_records_again_once_delivery_has_emptied_half(tmp_path, caplog):
    spool = DiskSpool(str(tmp_path), max_bytes=80, name="redis")
    spool.append(records(0, 10))                     # 80 bytes: full
    assert spool.append(records(10, 11)) is False
    for n in range(5):                               # one record a segment (80 / 8 bytes)
        assert spool.peek(5) == records(n, n + 1)
        spool.commit(1)                              # 40 bytes left after the fifth: half
    assert spool.append(records(11, 12)) is True
    assert drain(spool) == records(5, 10) + records(11, 12)
    assert spool.dropped == 1
    assert [r.message.split(" has ")[1] for r in caplog.records if "room again" in r.message] \
        == ["room again; 1 records were dropped while it was full."]
