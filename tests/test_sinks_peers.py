"""Network outputs against real collectors: rsyslogd (UDP, TCP) and redis-server.

Every record of a replay of the demo captures must arrive, equal to its
line in eve.json and in the same order; a collector that is down (from the
start, or stopped in the middle) gets every record once it is back; a
spool over its bound counts what it dropped in the `stats` record. The
collectors are started by the tests on free loopback ports (tests/peers.py)
and the tests fail when rsyslog or redis-server is not installed.
"""
import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from peers import RedisServer, Rsyslog, free_port
from engine.sinks.config import OutputsConfig, RedisConfig, SyslogConfig
from engine.sinks.fanout import open_outputs

PCAPS = Path(__file__).resolve().parent.parent / "pcaps"
DEMO = sorted(PCAPS.glob("*.pcap")) + sorted(PCAPS.glob("*.pcapng"))


def replay(out_dir, config_text, *files):
    config = Path(out_dir).with_suffix(".toml")
    config.write_text(config_text)
    result = subprocess.run([sys.executable, "-m", "engine.cli", "replay", *map(str, files),
                             "-o", str(out_dir), "-c", str(config), "--quiet"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def eve_records(out_dir):
    with open(Path(out_dir) / "eve.json", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def stream_records(server, stream="exfilwatch:eve"):
    entries = redis.Redis(port=server.port).xrange(stream)
    for _, fields in entries:
        assert json.loads(fields[b"eve"])["event_type"] == fields[b"event_type"].decode()
    return [json.loads(fields[b"eve"]) for _, fields in entries]


@pytest.fixture(scope="module")
def demo_records(tmp_path_factory):
    """The demo replay's EVE records, as the file output writes them."""
    out = tmp_path_factory.mktemp("demo") / "out"
    replay(out, "", *DEMO)
    return eve_records(out)


def test_replay_delivers_every_record_to_rsyslog_over_tcp_and_to_a_redis_stream(tmp_path):
    with Rsyslog(tmp_path / "rsyslog") as syslog, RedisServer() as server:
        replay(tmp_path / "out", f"""
[outputs.syslog]
port = {syslog.port}
protocol = "tcp"
facility = "local3"
severity = "notice"
hostname = "sensor-7"

[outputs.redis]
url = "{server.url}"
""", *DEMO)
        expected = eve_records(tmp_path / "out")
        received = [json.loads(m) for m in syslog.messages(len(expected))]
        in_stream = stream_records(server)
        headers = syslog.headers()
    assert len(expected) > 50
    assert received == expected
    assert in_stream == expected
    # local3.notice = 19 * 8 + 5; MSGID is the event_type; no structured data
    assert headers == [f"157 sensor-7 exfilwatch {headers[0].split()[3]} {e['event_type']} -"
                       for e in expected]
    stats = expected[-1]["stats"]["outputs"]
    assert stats["syslog"]["sent"] == stats["redis"]["sent"] == len(expected) - 1
    assert stats["syslog"]["spooled"] == stats["redis"]["dropped"] == 0


def test_replay_delivers_every_record_to_rsyslog_over_udp(tmp_path):
    with Rsyslog(tmp_path / "rsyslog") as syslog:
        replay(tmp_path / "out", f'[outputs.syslog]\nport = {syslog.port}\nprotocol = "udp"\n',
               *DEMO)
        expected = eve_records(tmp_path / "out")
        received = [json.loads(m) for m in syslog.messages(len(expected))]
    assert received == expected


def _config(tmp_path, **outputs):
    return OutputsConfig(eve_file=False, spool_dir=str(tmp_path / "spool"), **outputs)


def test_syslog_over_tcp_stopped_mid_run_loses_nothing_and_keeps_the_order(tmp_path, demo_records):
    third = len(demo_records) // 3
    with Rsyslog(tmp_path / "rsyslog") as syslog:
        config = _config(tmp_path, syslog=SyslogConfig(port=syslog.port, protocol="tcp"))
        sink = open_outputs(config, str(tmp_path))
        for event in demo_records[:third]:
            sink.write(event)
        sink.flush()
        syslog.messages(third)
        syslog.stop()
        for event in demo_records[third:2 * third]:
            sink.write(event)
        sink.flush()                        # refused: to the spool
        assert sink.counters()["syslog"]["spooled"] == third
        assert list((tmp_path / "spool" / "syslog").glob("*.spool"))
        syslog.start()
        for event in demo_records[2 * third:]:
            sink.write(event)
        sink.close()                        # shutdown delivers the spool, then the rest
        received = [json.loads(m) for m in syslog.messages(len(demo_records))]
    assert received == demo_records
    assert not list((tmp_path / "spool" / "syslog").glob("*.spool"))


def test_redis_down_at_start_gets_the_spool_from_the_next_run(tmp_path, demo_records):
    server = RedisServer()          # not started: connections are refused
    config = f'[outputs.redis]\nurl = "{server.url}"\ntimeout_s = 0.5\n'
    first = replay(tmp_path / "run1", config, *DEMO)
    assert "is unavailable" in first.stderr and "Connection refused" in first.stderr
    run1 = eve_records(tmp_path / "run1")
    outputs = run1[-1]["stats"]["outputs"]["redis"]
    assert outputs["sent"] == 0 and outputs["spooled"] == len(run1) - 1
    assert outputs["dropped"] == 0 and outputs["spool_bytes"] > 0
    shutil.copytree(tmp_path / "run1" / "spool", tmp_path / "run2" / "spool")
    with server:
        replay(tmp_path / "run2", config, PCAPS / "tunnels_vlan.pcap")
        run2 = eve_records(tmp_path / "run2")
        in_stream = stream_records(server)
    assert run1[:-1] == demo_records[:-1]      # the stats records differ in stats.outputs
    assert in_stream == run1 + run2
    assert not list((tmp_path / "run2" / "spool" / "redis").glob("*.spool"))


def test_redis_stopped_mid_run_loses_nothing_and_keeps_the_order(tmp_path, demo_records):
    half = len(demo_records) // 2
    with RedisServer() as server:
        config = _config(tmp_path, redis=RedisConfig(url=server.url, timeout_s=0.5))
        sink = open_outputs(config, str(tmp_path))
        for event in demo_records[:half]:
            sink.write(event)
        sink.flush()
        # the server keeps nothing across a restart (--save ''): read before stopping
        before = stream_records(server)
        server.stop()
        for event in demo_records[half:]:
            sink.write(event)
        sink.flush()
        assert sink.counters()["redis"]["spooled"] == len(demo_records) - half
        server.start()
        sink.close()
        after = stream_records(server)
    assert before + after == demo_records


def test_a_spool_over_its_bound_counts_the_dropped_records_in_stats(tmp_path, caplog):
    port = free_port()              # nothing listens there
    replay(tmp_path / "out", f"""
[outputs]
spool_max_mb = 0.02

[outputs.redis]
url = "redis://127.0.0.1:{port}/0"
timeout_s = 0.5
""", *DEMO)
    records = eve_records(tmp_path / "out")
    outputs = records[-1]["stats"]["outputs"]["redis"]
    assert outputs["dropped"] > 0
    assert outputs["spooled"] + outputs["dropped"] == len(records) - 1
    assert outputs["spool_bytes"] <= 0.02 * (1 << 20)
    # what was kept is the oldest records, in order: a later run delivers them
    with RedisServer() as server:
        server_config = dataclasses.replace(
            _config(tmp_path, redis=RedisConfig(url=server.url)),
            spool_dir=str(tmp_path / "out" / "spool"))
        open_outputs(server_config, str(tmp_path)).close()
        assert stream_records(server) == records[:outputs["spooled"]]
