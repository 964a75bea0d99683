"""Local outputs and syslog framing: literal bytes, rotation, reopen, stdout, fan-out."""
import io
import json
import os
from datetime import datetime, timezone

from engine.sinks.config import OutputsConfig
from engine.sinks.fanout import open_outputs
from engine.sinks.file import EveFileSink, eve_files
from engine.sinks.stdout import StdoutSink
from engine.sinks.syslog import octet_counted, rfc5424_message


def test_rfc5424_message_has_the_header_fields_in_order_and_the_json_as_msg():
    message = rfc5424_message(b'{"event_type":"alert"}', facility=16, severity=6,
                              hostname="sensor1.example.org", app_name="exfilwatch",
                              procid="4242", msgid="alert",
                              timestamp=datetime(2026, 11, 28, 4, 5, 6, 123456, timezone.utc))
    assert message == (b'<134>1 2026-11-28T04:05:06.123456Z sensor1.example.org exfilwatch '
                       b'4242 alert - {"event_type":"alert"}')


def test_rfc5424_timestamp_is_written_in_utc_whatever_the_zone_given():
    from datetime import timedelta

    local = datetime(2026, 11, 28, 6, 0, 0, 0, timezone(timedelta(hours=2)))
    message = rfc5424_message(b"{}", facility=0, severity=0, hostname="h", app_name="a",
                              procid="1", msgid="-", timestamp=local)
    assert message == b"<0>1 2026-11-28T04:00:00.000000Z h a 1 - - {}"


def test_octet_counting_frame_counts_bytes_not_characters():
    assert octet_counted(b"<134>1 - - - - - - {}") == b"21 <134>1 - - - - - - {}"
    assert octet_counted('{"sni":"\u00e9"}'.encode()) == b'12 {"sni":"\xc3\xa9"}'


def _lines(path):
    with open(path, "rb") as fh:
        return fh.read().splitlines()


def test_rotation_moves_files_up_and_keeps_the_configured_count(tmp_path):
    sink = EveFileSink(str(tmp_path), rotate_bytes=100, keep=2)
    records = [b'{"n":%02d,"pad":"%s"}' % (n, b"x" * 30) for n in range(10)]   # 49 bytes a line
    for record in records:
        sink.write("flow", record)
    sink.close()
    eve = tmp_path / "eve.json"
    # two lines (98 bytes) fit under 100: files hold pairs, newest in eve.json
    assert _lines(eve) == records[8:10]
    assert _lines(f"{eve}.1") == records[6:8]
    assert _lines(f"{eve}.2") == records[4:6]
    assert not os.path.exists(f"{eve}.3")
    assert sink.rotations == 4
    assert all(os.path.getsize(p) <= 100 for p in eve_files(str(eve.parent)))
    assert eve_files(str(eve.parent)) == [f"{eve}.2", f"{eve}.1", str(eve)]


def test_a_line_longer_than_the_rotation_size_gets_a_file_of_its_own(tmp_path):
    sink = EveFileSink(str(tmp_path), rotate_bytes=10, keep=3)
    for record in (b'"a"', b'"' + b"b" * 40 + b'"', b'"c"'):
        sink.write("flow", record)
    sink.close()
    eve = tmp_path / "eve.json"
    assert _lines(eve) == [b'"c"']
    assert _lines(f"{eve}.1") == [b'"' + b"b" * 40 + b'"']
    assert _lines(f"{eve}.2") == [b'"a"']


def test_without_rotate_size_the_file_only_grows(tmp_path):
    sink = EveFileSink(str(tmp_path))
    for n in range(1000):
        sink.write("flow", b"%d" % n)
    sink.close()
    assert len(_lines(tmp_path / "eve.json")) == 1000
    assert eve_files(str(tmp_path)) == [str(tmp_path / "eve.json")]


def test_reopen_writes_to_a_new_file_after_logrotate_moved_the_old_one(tmp_path):
    sink = EveFileSink(str(tmp_path))
    sink.write("flow", b'"before"')
    sink.flush()
    os.rename(tmp_path / "eve.json", tmp_path / "eve.json-20261128")
    sink.write("flow", b'"still old"')       # written to the moved file until reopen
    sink.reopen()
    sink.write("flow", b'"after"')
    sink.close()
    assert _lines(tmp_path / "eve.json-20261128") == [b'"before"', b'"still old"']
    assert _lines(tmp_path / "eve.json") == [b'"after"']


def test_reopen_appends_when_the_file_is_still_there(tmp_path):
    sink = EveFileSink(str(tmp_path), rotate_bytes=19, keep=1)
    sink.write("flow", b'"one"')
    sink.reopen()
    sink.write("flow", b'"two"')
    sink.write("flow", b'"three"')          # 6 + 6 + 8 > 19: rotates, counting the reopened size
    sink.close()
    assert _lines(tmp_path / "eve.json.1") == [b'"one"', b'"two"']
    assert _lines(tmp_path / "eve.json") == [b'"three"']


class _ClosedPipe(io.BytesIO):
    def write(self, data):
        raise BrokenPipeError


def test_stdout_output_stops_when_its_reader_goes_away_and_the_others_go_on(tmp_path, caplog):
    sink = open_outputs(OutputsConfig(stdout=True), str(tmp_path), stdout=_ClosedPipe())
    sink.write({"event_type": "flow", "n": 1})
    sink.write({"event_type": "flow", "n": 2})
    sink.close()
    assert [json.loads(x)["n"] for x in _lines(tmp_path / "eve.json")] == [1, 2]
    assert sum("reader of stdout went away" in r.message for r in caplog.records) == 1


def test_fanout_writes_the_same_line_to_every_output_and_counts_them(tmp_path):
    out = io.BytesIO()
    sink = open_outputs(OutputsConfig(stdout=True), str(tmp_path), stdout=out)
    events = [{"event_type": "flow", "flow_id": n, "sni": "\u00e9"} for n in range(3)]
    for event in events:
        sink.write(event)
    counters = sink.counters()
    sink.close()
    assert out.getvalue().splitlines() == _lines(tmp_path / "eve.json")
    assert [json.loads(line) for line in out.getvalue().splitlines()] == events
    assert counters == {"eve_file": {"written": 3, "rotations": 0}, "stdout": {"written": 3}}


def test_without_the_file_output_there_is_no_eve_json(tmp_path):
    out = io.BytesIO()
    sink = open_outputs(OutputsConfig(eve_file=False, stdout=True), str(tmp_path), stdout=out)
    sink.write({"event_type": "stats"})
    sink.close()
    assert sink.eve_path is None
    assert not (tmp_path / "eve.json").exists()
    assert out.getvalue() == b'{"event_type":"stats"}\n'


def test_stdout_sink_writes_one_line_per_record():
    out = io.BytesIO()
    sink = StdoutSink(out)
    sink.write("flow", b"{}")
    sink.write("alert", b"[]")
    sink.close()
    assert out.getvalue() == b"{}\n[]\n"


def test_a_record_too_big_for_a_udp_datagram_is_counted_and_the_next_ones_go_out(caplog):
    import socket

    from engine.sinks.config import SyslogConfig
    from engine.sinks.syslog import SyslogTransport

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as collector:
        collector.bind(("127.0.0.1", 0))
        collector.settimeout(5)
        transport = SyslogTransport(SyslogConfig(port=collector.getsockname()[1],
                                                 protocol="udp", hostname="h"))
        big = b'"' + b"x" * 70000 + b'"'
        transport.send([transport.prepare("tls", big), transport.prepare("flow", b"{}"),
                        transport.prepare("tls", big)])
        received = collector.recv(100000)
        transport.close()
    assert received.startswith(b"<134>1 ") and received.endswith(b" h exfilwatch "
                                                                  + str(os.getpid()).encode()
                                                                  + b" flow - {}")
    assert transport.counters() == {"too_large": 2}
    assert sum("does not fit in a UDP datagram" in r.message for r in caplog.records) == 1


def test_fanout_reopen_reaches_the_file_output(tmp_path):
    sink = open_outputs(OutputsConfig(stdout=True), str(tmp_path), stdout=io.BytesIO())
    sink.write({"event_type": "flow", "n": 1})
    sink.flush()
    os.rename(tmp_path / "eve.json", tmp_path / "eve.json.old")
    sink.reopen()
    sink.write({"event_type": "flow", "n": 2})
    sink.close()
    assert _lines(tmp_path / "eve.json.old") == [b'{"event_type":"flow","n":1}']
    assert _lines(tmp_path / "eve.json") == [b'{"event_type":"flow","n":2}']
