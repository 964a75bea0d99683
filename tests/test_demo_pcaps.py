"""End to end over the bundled demo captures: replay -> eve.json.

Two independent oracles: the generator's ground truth (accumulated while
framing, tunnels included) and a pure-Python dpkt recount of the files.
"""
import json
from pathlib import Path

import pytest

from engine.replay import replay

PCAPS = Path(__file__).resolve().parent.parent / "pcaps"
GROUND_TRUTH = json.loads((PCAPS / "ground_truth.json").read_text())


def _replay_flows(capture: Path, tmp_path: Path):
    result = replay([str(capture)], str(tmp_path / "out"))
    assert result.files_failed == []
    events = [json.loads(line) for line in open(result.eve_path, encoding="utf-8")]
    assert events[-1]["event_type"] == "stats"
    return [e for e in events if e["event_type"] == "flow"], events[-1]


def _eve_key(e):
    return (e["proto"], e["src_ip"], e.get("src_port"), e["dest_ip"], e.get("dest_port"),
            tuple(e.get("vlan", [])))


@pytest.mark.parametrize("name", sorted(GROUND_TRUTH["captures"]))
def test_demo_capture_flows_match_the_generators_ground_truth(name, tmp_path):
    flows, stats = _replay_flows(PCAPS / name, tmp_path)
    ours = {_eve_key(e): e for e in flows}
    truth = GROUND_TRUTH["captures"][name]
    for t in truth["flows"]:
        key = (t["proto"], t["src_ip"], t["src_port"], t["dest_ip"], t["dest_port"],
               tuple(t["vlan"]))
        assert key in ours, f"{name}: no flow record for {key}"
        f = ours.pop(key)["flow"]
        assert (f["pkts_toserver"], f["pkts_toclient"], f["bytes_toserver"], f["bytes_toclient"]) \
            == (t["pkts_toserver"], t["pkts_toclient"], t["bytes_toserver"], t["bytes_toclient"]), key
        assert f["reason"] in ("shutdown", "timeout")   # closed flows idle 30 s time out
    # the only flows beyond the ground truth are VXLAN tunnels' outer UDP flows
    assert all(k[0] == "UDP" and 4789 in (k[2], k[4]) for k in ours), ours.keys()
    assert stats["stats"]["decoder"]["pkts"] == truth["packets"]
    assert stats["stats"]["decoder"]["invalid"] == 0


@pytest.mark.parametrize("name", ["benign_browsing.pcap", "exfil_tls_selfsigned.pcap"])
def test_demo_capture_flows_match_a_dpkt_recount(name, tmp_path):
    from dpkt_recount import recount_flows

    flows, _ = _replay_flows(PCAPS / name, tmp_path)
    ours = {(e["src_ip"], e["src_port"], e["dest_ip"], e["dest_port"], e["proto"]):
            (e["flow"]["pkts_toserver"], e["flow"]["pkts_toclient"],
             e["flow"]["bytes_toserver"], e["flow"]["bytes_toclient"]) for e in flows}
    assert ours == recount_flows(PCAPS / name)


def test_exfil_upload_is_the_largest_upload_in_the_demo(tmp_path):
    flows, _ = _replay_flows(PCAPS / "exfil_tls_selfsigned.pcap", tmp_path)
    biggest = max(flows, key=lambda e: e["flow"]["bytes_toserver"])
    assert (biggest["dest_ip"], biggest["dest_port"]) == ("203.0.113.66", 8443)
    assert biggest["flow"]["bytes_toserver"] > 6_000_000
    assert biggest["flow"]["bytes_toserver"] > 40 * biggest["flow"]["bytes_toclient"]


def test_interrupted_replay_still_flushes_open_flows_and_writes_stats(tmp_path, monkeypatch):
    from engine import pipeline as pipeline_module

    real = pipeline_module.FlowEngine

    class InterruptAfterFirstBatch(real):
        calls = 0

        def process(self, batch):
            super().process(batch)
            type(self).calls += 1
            if type(self).calls == 1:
                raise KeyboardInterrupt

    monkeypatch.setattr(pipeline_module, "FlowEngine", InterruptAfterFirstBatch)
    result = replay([str(PCAPS / "exfil_tls_selfsigned.pcap")], str(tmp_path / "out"))
    assert result.interrupted
    events = [json.loads(line) for line in open(result.eve_path, encoding="utf-8")]
    flows = [e for e in events if e["event_type"] == "flow"]
    assert flows and all(e["flow"]["reason"] in ("shutdown", "timeout") for e in flows)
    assert events[-1]["event_type"] == "stats"
    assert sum(e["flow"]["pkts_toserver"] + e["flow"]["pkts_toclient"] for e in flows) \
        == events[-1]["stats"]["decoder"]["pkts"]
