"""What a fan-out worker pays to hand its records to the collector process.

    .venv/bin/python benchmarks/bench_ipc.py [--rounds 200]

Records are the real ones of the demo captures (flow records, TLS sessions
with their certificates). A forked child sends them as pickled lists over
a multiprocessing pipe, as engine/workers.py does, for several list sizes;
the parent receives and unpickles them. Printed per record: the whole
transfer (pickle, pipe, unpickle), and, for scale, what the collector then
spends on detection and EVE writing for the same records.
"""
import argparse
import glob
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.capture import open_capture              # noqa: E402
from engine.collector import Collector                 # noqa: E402
from engine.pipeline import SensorPipeline           # noqa: E402
from engine.records import FlowRecord                  # noqa: E402
from engine.settings import Settings                   # noqa: E402


def demo_records() -> list:
    pipeline = SensorPipeline()
    records = []
    for path in sorted(glob.glob(str(ROOT / "pcaps" / "*.pcap*"))):
        with open_capture(path) as reader:
            for batch in reader:
                records += pipeline.feed(batch)
    return records + pipeline.finish()


def _sender(conn, records, per_message, rounds):
    for _ in range(rounds):
        for i in range(0, len(records), per_message):
            conn.send(records[i:i + per_message])
    conn.send(None)
    conn.close()


def transfer_us_per_record(records, per_message, rounds) -> float:
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_sender, args=(send, records, per_message, rounds))
    start = time.perf_counter()
    child.start()
    send.close()
    received = 0
    while (batch := receive.recv()) is not None:
        received += len(batch)
    elapsed = time.perf_counter() - start
    child.join()
    assert received == len(records) * rounds
    return elapsed / received * 1e6


def collector_us_per_record(records, rounds) -> float:
    with tempfile.TemporaryDirectory() as out:
        with Collector(out, Settings(), None, "bench") as collector:
            start = time.perf_counter()
            for _ in range(rounds):
                collector.write(records)
            return (time.perf_counter() - start) / (len(records) * rounds) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    records = demo_records()
    flows = [r for r in records if isinstance(r, FlowRecord)]
    sessions = [r for r in records if not isinstance(r, FlowRecord)]
    print(f"{len(flows)} flow records, {len(sessions)} handshake sessions from pcaps/; "
          f"{os.cpu_count()} CPUs")
    print(f"{'records':<22} {'per message':>11} {'IPC us/record':>14}")
    for name, recs in (("flow records", flows), ("handshake sessions", sessions),
                       ("demo mix", records)):
        for per_message in (1, 64, 512):
            us = transfer_us_per_record(recs, per_message, args.rounds)
            print(f"{name:<22} {per_message:>11} {us:>14.2f}")
    us = collector_us_per_record(records, max(1, args.rounds // 20))
    print(f"collector (detection + EVE) on the demo mix: {us:.1f} us/record")


if __name__ == "__main__":
    main()
