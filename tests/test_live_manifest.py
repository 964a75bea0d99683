"""`exfilwatch live` keeps DIR/run.json true while it runs: rewritten
atomically with every totals `stats` record and at shutdown, with the packet
time span and the packet count so far (the netns live lab, livelab.py)."""
import json
import time
from datetime import datetime

import pytest

from engine.manifest import RunManifest
from livelab import client_flows, sensor_lab, totals


def _us(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1_000_000)


def _run_json(lab) -> dict:
    return json.loads((lab.out / "run.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("workers", [1, 2])
def test_run_json_has_the_span_and_packets_of_the_stats_records(tmp_path, workers):
    with sensor_lab(tmp_path, args=["--workers", workers]) as lab:
        started_us = time.time_ns() // 1000
        client_port = lab.upload_done(1_000_000)
        # while running: run.json is one of the totals records (read it first:
        # it is rewritten after its record is written)
        deadline = time.monotonic() + 15
        while True:
            running = _run_json(lab)
            counted = {s["stats"]["decoder"]["pkts"] for s in totals(lab.events())}
            if running["packets"] > 0:
                break
            assert time.monotonic() < deadline, "run.json was not rewritten with packets"
            time.sleep(0.05)
        assert running["packets"] in counted
        assert started_us - 1_000_000 <= running["start_us"] <= running["end_us"]
        rc, err = lab.stop()
    assert rc == 0, err

    events = lab.events()
    final = _run_json(lab)
    last = totals(events)[-1]["stats"]
    assert final["mode"] == "live"
    assert final["packets"] == last["decoder"]["pkts"] >= running["packets"]
    [flow] = client_flows(events, client_port)
    # the span covers every packet of the upload's flow
    assert final["start_us"] <= _us(flow["flow"]["start"])
    assert final["end_us"] >= _us(flow["flow"]["end"])
    assert started_us - 1_000_000 <= final["start_us"]
    assert _us(final["start"]) == final["start_us"] and _us(final["end"]) == final["end_us"]
    manifest = RunManifest.read(str(lab.out))
    assert (manifest.packets, manifest.start_us, manifest.end_us) == (
        final["packets"], final["start_us"], final["end_us"])
    # rewritten through a temporary file renamed over it: none is left behind
    assert sorted(p.name for p in lab.out.glob("*run*")) == ["run.json"]


def test_run_json_of_a_sensor_that_saw_no_packet_has_no_span(tmp_path):
    with sensor_lab(tmp_path) as lab:
        rc, err = lab.stop()
    assert rc == 0, err
    final = _run_json(lab)
    assert final["packets"] == totals(lab.events())[-1]["stats"]["decoder"]["pkts"] == 0
    assert final["start_us"] is None and final["end_us"] is None and "start" not in final
