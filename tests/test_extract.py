"""Tier-2 extraction: the packets behind an alert, read again from the
run's captures, checked against an independent dpkt decode of the original
capture and against the flow records."""
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import dpkt
import pytest
from flowtags import charged_frames

from engine._core import FlowEngine
from engine.capture import open_capture
from engine.config import CoreConfig
from engine.errors import CaptureError, OutputError, RunDirError
from engine.extract import extract
from engine.manifest import RunManifest
from engine.pcapout import PacketFileWriter
from engine.replay import replay

ROOT = Path(__file__).resolve().parent.parent
PCAPS = ROOT / "pcaps"
SCRIPT = PCAPS / "scenario_matrix.py"
spec = importlib.util.spec_from_file_location("scenario_matrix", SCRIPT)
scenario_matrix = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scenario_matrix)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "engine.cli", *map(str, args)],
                          capture_output=True, text=True)


def eve(out_dir):
    return [json.loads(line) for line in open(Path(out_dir) / "eve.json", encoding="utf-8")]


def final_flows(out_dir):
    return {e["flow_id"]: e for e in eve(out_dir)
            if e["event_type"] == "flow" and not e["flow"]["interim"]}


def alerts_of(out_dir):
    return [e for e in eve(out_dir) if e["event_type"] == "alert"]


@pytest.fixture(scope="module")
def scenario_runs(tmp_path_factory):
    """The scenario matrix replayed twice: {name: (out dir of run 1, of run 2)}."""
    runs = []
    for i in range(2):
        work = tmp_path_factory.mktemp(f"scenarios{i}")
        scenario_matrix.run_matrix(work)
        runs.append(work)
    names = json.loads((scenario_matrix.SCENARIOS / "ground_truth.json").read_text())["captures"]
    return {name: (runs[0] / name / "out", runs[1] / name / "out") for name in names}


def _dpkt_flow_key(frame):
    """(endpoint, endpoint, proto) of an Ethernet frame, endpoints sorted,
    decoded independently of the core; None for non-TCP/UDP."""
    ip = dpkt.ethernet.Ethernet(frame).data
    if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) or ip.p not in (6, 17):
        return None
    family = socket.AF_INET if isinstance(ip, dpkt.ip.IP) else socket.AF_INET6
    a = (socket.inet_ntop(family, ip.src), ip.data.sport)
    b = (socket.inet_ntop(family, ip.dst), ip.data.dport)
    return (min(a, b), max(a, b), {6: "TCP", 17: "UDP"}[ip.p])


def _record_key(flow):
    a = (flow["src_ip"], flow["src_port"])
    b = (flow["dest_ip"], flow["dest_port"])
    return (min(a, b), max(a, b), flow["proto"])


def _us(ts):
    return round(ts * 1e6)


def _owner(flows, key, ts_us):
    """The flow record a packet belongs to, by 5-tuple and time span."""
    from datetime import datetime

    for fid, f in flows.items():
        start = datetime.fromisoformat(f["flow"]["start"]).timestamp()
        end = datetime.fromisoformat(f["flow"]["end"]).timestamp()
        if _record_key(f) == key and _us(start) <= ts_us <= _us(end):
            return fid
    return None


def test_every_scenario_alert_extracts_exactly_the_packets_of_its_flows(scenario_runs, tmp_path):
    checked = set()
    for name, (out, _) in scenario_runs.items():
        flows = final_flows(out)
        for alert in alerts_of(out):
            aid = alert["exfil"]["alert_id"]
            mine = {fid: flows[fid] for fid in alert["exfil"]["evidence"]["flows"]}
            pcap = tmp_path / f"{aid}.pcap"
            result = extract(str(out), str(pcap), alert_id=aid)
            assert result.warnings == []
            with open(pcap, "rb") as fh:
                written = [(_us(ts), bytes(frame)) for ts, frame in dpkt.pcap.Reader(fh)]
            # the same packets, in the same order, as an independent decode of the
            # original capture assigns to the alert's flows by 5-tuple and time
            with open(PCAPS / "scenarios" / name, "rb") as fh:
                original = [(_us(ts), bytes(frame)) for ts, frame in dpkt.pcap.Reader(fh)]
            expected = [(ts, frame) for ts, frame in original
                        if _owner(mine, _dpkt_flow_key(frame), ts) is not None]
            assert written == expected, (name, aid)
            per_flow = Counter(_owner(mine, _dpkt_flow_key(frame), ts) for ts, frame in written)
            size = Counter()
            for ts, frame in written:
                size[_owner(mine, _dpkt_flow_key(frame), ts)] += len(frame)
            for fid, f in mine.items():
                assert per_flow[fid] == f["flow"]["pkts_toserver"] + f["flow"]["pkts_toclient"]
                assert size[fid] == f["flow"]["bytes_toserver"] + f["flow"]["bytes_toclient"]
                assert result.found[fid] == per_flow[fid]
            checked.add(name)
    truth = json.loads((scenario_matrix.SCENARIOS / "ground_truth.json").read_text())["captures"]
    assert checked == {name for name, t in truth.items() if t["expect"] == "alert"}


def test_alert_ids_are_stable_across_two_replays_and_unique(scenario_runs):
    all_ids = []
    for first, second in scenario_runs.values():
        ids = [a["exfil"]["alert_id"] for a in alerts_of(first)]
        assert ids == [a["exfil"]["alert_id"] for a in alerts_of(second)]
        all_ids += ids
    assert len(all_ids) >= 8 and len(set(all_ids)) == len(all_ids)


def test_run_manifest_names_the_captures_span_packets_and_core(scenario_runs):
    out, _ = scenario_runs["scp_upload.pcap"]
    data = json.loads((out / "run.json").read_text())
    capture = scenario_matrix.SCENARIOS / "scp_upload.pcap"      # the path replay was given
    assert data["mode"] == "replay" and data["version"]
    assert data["captures"] == [{"path": str(capture), "size": capture.stat().st_size,
                                 "mtime_ns": capture.stat().st_mtime_ns}]
    with open(capture, "rb") as fh:
        times = [_us(ts) for ts, _ in dpkt.pcap.Reader(fh)]
    assert (data["start_us"], data["end_us"], data["packets"]) == (min(times), max(times),
                                                                  len(times))
    assert RunManifest.read(str(out)).core_config() == CoreConfig()


def test_tag_flows_gives_every_flow_record_its_packets_tunnels_and_vlans_included(tmp_path):
    """On the demo captures (VLAN, QinQ, GRE, VXLAN, 6in4, two interfaces), the
    packets tagged with each flow id add up to the flow records of a full
    replay (handshakes captured), outer tunnel flows included."""
    captures = sorted(PCAPS.glob("*.pcap")) + sorted(PCAPS.glob("*.pcapng"))
    replay([str(p) for p in captures], str(tmp_path / "out"))
    flows = final_flows(tmp_path / "out")
    counted = Counter(f[0] for f in charged_frames(FlowEngine(CoreConfig(capture_handshakes=False)),
                                                   *captures))
    assert set(counted) == set(flows)
    assert any(f.get("vlan") for f in flows.values())
    assert any(f["flow"].get("tunnel_depth") for f in flows.values())
    for fid, f in flows.items():
        assert counted[fid] == f["flow"]["pkts_toserver"] + f["flow"]["pkts_toclient"], f


def test_one_tunnelled_flow_extracted_replays_to_the_same_flow_record(tmp_path):
    """A flow's packets written as captured (outer headers, VLAN tags) give,
    replayed alone, a flow with the same id and the same counters."""
    replay([str(PCAPS / "tunnels_vlan.pcap")], str(tmp_path / "run"))
    flows = final_flows(tmp_path / "run")
    with open(PCAPS / "tunnels_vlan.pcap", "rb") as fh:
        original = [bytes(frame) for _, frame in dpkt.pcap.Reader(fh)]
    inner = [f for f in flows.values() if f["flow"].get("tunnel_depth")]
    assert inner
    for f in inner:
        pcap = tmp_path / f"{f['flow_id']}.pcap"
        extract(str(tmp_path / "run"), str(pcap), flow_id=f["flow_id"])
        with open(pcap, "rb") as fh:
            frames = [bytes(frame) for _, frame in dpkt.pcap.Reader(fh)]
        assert all(frame in original for frame in frames)
        again = final_flows_of_replay(pcap, tmp_path / f"again{f['flow_id']}")
        assert again[f["flow_id"]]["flow"] | {"reason": None} == f["flow"] | {"reason": None}


def final_flows_of_replay(pcap, out):
    replay([str(pcap)], str(out))
    return final_flows(out)


def test_cli_extracts_an_alert_and_says_what_it_wrote(scenario_runs, tmp_path):
    out, _ = scenario_runs["exfil_selfsigned_oddport.pcap"]
    aid = alerts_of(out)[0]["exfil"]["alert_id"]
    result = run_cli("extract", out, "--alert", aid, "-o", tmp_path / "x.pcap")
    assert result.returncode == 0, result.stderr
    assert f"alert {aid}" in result.stdout and str(tmp_path / "x.pcap") in result.stdout
    assert (tmp_path / "x.pcap").stat().st_size > 24


def test_unknown_alert_id_lists_the_alerts_that_exist(scenario_runs, tmp_path):
    out, _ = scenario_runs["beaconing.pcap"]
    result = run_cli("extract", out, "--alert", "0123456789abcdef", "-o", tmp_path / "x.pcap")
    assert result.returncode == 2
    assert "No alert 0123456789abcdef" in result.stderr
    for alert in alerts_of(out)[:5]:
        assert alert["exfil"]["alert_id"] in result.stderr
    assert not (tmp_path / "x.pcap").exists()


def test_unknown_flow_id_is_refused(scenario_runs, tmp_path):
    out, _ = scenario_runs["scp_upload.pcap"]
    with pytest.raises(RunDirError, match="No flow record with flow_id 12345"):
        extract(str(out), str(tmp_path / "x.pcap"), flow_id=12345)


def test_a_directory_without_run_json_is_refused(tmp_path):
    (tmp_path / "eve.json").write_text("")
    result = run_cli("extract", tmp_path, "--alert", "0123456789abcdef", "-o", tmp_path / "x.pcap")
    assert result.returncode == 2
    assert f"{tmp_path} has no run.json" in result.stderr


def _private_run(tmp_path, capture="scp_upload.pcap"):
    copy = tmp_path / capture
    shutil.copy(PCAPS / "scenarios" / capture, copy)
    replay([str(copy)], str(tmp_path / "out"))
    fid = max(final_flows(tmp_path / "out").values(),
              key=lambda f: f["flow"]["pkts_toserver"])["flow_id"]
    return copy, tmp_path / "out", fid


def test_a_capture_gone_since_the_run_is_named(tmp_path):
    copy, out, fid = _private_run(tmp_path)
    copy.unlink()
    result = run_cli("extract", out, "--flow", fid, "-o", tmp_path / "x.pcap")
    assert result.returncode == 1
    assert f"Capture file {copy} is gone." in result.stderr


def test_a_capture_changed_since_the_run_is_refused_unless_forced(tmp_path):
    copy, out, fid = _private_run(tmp_path)
    with open(copy, "ab") as fh:
        fh.write(b"\0" * 16)
    with pytest.raises(CaptureError, match=f"{copy} changed since the run: it is"):
        extract(str(out), str(tmp_path / "x.pcap"), flow_id=fid)
    result = run_cli("extract", out, "--flow", fid, "-o", tmp_path / "x.pcap", "--force")
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stderr and str(copy) in result.stderr


def test_a_capture_touched_since_the_run_is_reported_by_its_mtime(tmp_path):
    copy, out, fid = _private_run(tmp_path)
    st = copy.stat()
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(CaptureError, match="was modified at .* after the run read it"):
        extract(str(out), str(tmp_path / "x.pcap"), flow_id=fid)


def test_rotated_eve_files_are_searched_too(tmp_path):
    copy, out, fid = _private_run(tmp_path)
    os.rename(out / "eve.json", out / "eve.json.1")
    (out / "eve.json").write_text("")
    result = extract(str(out), str(tmp_path / "x.pcap"), flow_id=fid)
    assert result.packets_written == result.expected[fid] > 0


def test_an_interrupted_run_extracts_only_the_packets_it_read(tmp_path):
    copy, out, _ = _private_run(tmp_path)
    fid = min(final_flows(out).values(), key=lambda f: f["flow"]["start"])["flow_id"]
    manifest = json.loads((out / "run.json").read_text())
    manifest["packets"] = 10
    (out / "run.json").write_text(json.dumps(manifest))
    result = extract(str(out), str(tmp_path / "x.pcap"), flow_id=fid)
    assert 0 < result.packets_written <= 10


def test_pcap_writer_keeps_microseconds_wire_length_and_link_type(tmp_path):
    path = tmp_path / "w.pcap"
    with PacketFileWriter(str(path)) as w:
        w.write(1_773_651_600_123_457, b"\x01" * 60, 1514, 113)
        w.write(1_773_651_601_999_999, b"\x02" * 70, 70, 113)
    with open_capture(path) as reader:
        batch = next(iter(reader))
        assert reader.format == "pcap"
        assert batch.ts_us.tolist() == [1_773_651_600_123_457, 1_773_651_601_999_999]
        assert batch.wirelens.tolist() == [1514, 70]
        assert batch.linktypes.tolist() == [113, 113]
        assert batch.packet(0) == b"\x01" * 60


def test_mixed_link_types_need_pcapng_and_pcapng_keeps_them(tmp_path):
    with pytest.raises(OutputError, match=r"link types 1 and 101.*mixed\.pcapng"):
        with PacketFileWriter(str(tmp_path / "mixed.pcap")) as w:
            w.write(1_000_000, b"\x00" * 60, 60, 1)
            w.write(2_000_000, b"\x45" + b"\x00" * 39, 40, 101)
    assert list(tmp_path.iterdir()) == []          # nothing half-written is left
    with PacketFileWriter(str(tmp_path / "mixed.pcapng")) as w:
        w.write(1_000_000, b"\x00" * 60, 60, 1)
        w.write(2_000_001, b"\x45" + b"\x00" * 39, 40, 101)
        w.write(3_000_000, b"\x00" * 61, 61, 1)
    with open_capture(tmp_path / "mixed.pcapng") as reader:
        batch = next(iter(reader))
        assert reader.format == "pcapng"
        assert batch.linktypes.tolist() == [1, 101, 1]
        assert batch.ts_us.tolist() == [1_000_000, 2_000_001, 3_000_000]
        assert batch.caplens.tolist() == [60, 40, 61]


def test_an_output_that_cannot_be_written_is_named(scenario_runs, tmp_path):
    out, _ = scenario_runs["scp_upload.pcap"]
    aid = alerts_of(out)[0]["exfil"]["alert_id"]
    target = tmp_path / "missing-dir" / "x.pcap"
    result = run_cli("extract", out, "--alert", aid, "-o", target)
    assert result.returncode == 2
    assert f"Cannot write {target}" in result.stderr


def test_the_replay_summary_shows_alert_ids_that_extract_takes(tmp_path):
    import re

    summary = run_cli("replay", PCAPS / "exfil_tls_selfsigned.pcap", "-o", tmp_path / "out",
                      "--summary", "--quiet")
    assert summary.returncode == 0, summary.stderr
    ids = re.findall(r"^  \[\s*\d+\] ([0-9a-f]{16}) EXFIL", summary.stdout, re.M)
    assert ids == [a["exfil"]["alert_id"] for a in alerts_of(tmp_path / "out")]
    result = run_cli("extract", tmp_path / "out", "--alert", ids[0], "-o", tmp_path / "a.pcap")
    assert result.returncode == 0, result.stderr
    assert "Wrote 6,558 packets of 1 flow(s)" in result.stdout


def test_extracted_packets_are_readable_by_their_owner_only(scenario_runs, tmp_path):
    out, _ = scenario_runs["scp_upload.pcap"]
    aid = alerts_of(out)[0]["exfil"]["alert_id"]
    extract(str(out), str(tmp_path / "x.pcap"), alert_id=aid)
    assert (tmp_path / "x.pcap").stat().st_mode & 0o777 == 0o600
