"""Records cross the worker-to-collector pipe whole: every record type of
the scenario captures (flows, TLS and SSH sessions, JA4SSH windows,
capture-loss samples), sent
as pickled lists from a forked process as engine/workers.py sends them,
gives the collector the same EVE output as the records handed over in
process."""
import glob
import multiprocessing
from pathlib import Path

from engine.capture import open_capture
from engine.collector import Collector
from engine.pipeline import SensorPipeline
from engine.settings import Settings
from engine.workers import SEND_RECORDS

SCENARIOS = Path(__file__).resolve().parent.parent / "pcaps" / "scenarios"


def scenario_records() -> list:
    pipeline = SensorPipeline()
    records = []
    for path in sorted(glob.glob(str(SCENARIOS / "*.pcap*"))):
        with open_capture(path) as reader:
            for batch in reader:
                records += pipeline.feed(batch)
    return records + pipeline.finish()


def send_in_batches(conn, records):
    for i in range(0, len(records), SEND_RECORDS):
        conn.send(("records", records[i:i + SEND_RECORDS]))
    conn.send(("done", None))
    conn.close()


def eve_of(out_dir: Path, batches) -> list:
    with Collector(str(out_dir), Settings(), None, "test") as collector:
        for batch in batches:
            collector.write(batch)
    return (out_dir / "eve.json").read_text().splitlines()


def test_records_through_the_pipe_give_the_same_eve_output(tmp_path):
    records = scenario_records()
    kinds = {type(r).__name__ for r in records}
    assert kinds == {"FlowRecord", "TlsSession", "SshSession", "Ja4sshRecord",
                     "CaptureLossSample"}

    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=send_in_batches, args=(send, records))
    child.start()
    send.close()
    received = []
    while (message := receive.recv())[0] == "records":
        received.append(message[1])
    child.join(timeout=30)
    assert child.exitcode == 0

    direct = eve_of(tmp_path / "direct", [records[i:i + SEND_RECORDS]
                                          for i in range(0, len(records), SEND_RECORDS)])
    piped = eve_of(tmp_path / "piped", received)
    assert sum(len(b) for b in received) == len(records)
    assert piped == direct and any('"event_type":"alert"' in line for line in piped)
