"""The report's data: EVE files of an output directory read in full, flows
grouped per internal host with totals that add up, the playbook answered
from the alerts' findings."""
import gzip
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.netscope import NetScope
from engine.report.evefiles import ReportInputError, read_directories
from engine.report.model import build_triage
from engine.sinks.file import eve_files
from report_records import alert, flow, tls, write_eve, x509

PCAPS = Path(__file__).resolve().parent.parent / "pcaps"


def triage_of(records, home_net=None):
    return build_triage([(0, r) for r in records], NetScope(home_net))


def test_flows_are_grouped_under_the_internal_host_whichever_side_opened_them():
    t = triage_of([
        flow(1, "10.0.0.5", "203.0.113.9", 443, up=5000, down=700),
        flow(2, "198.51.100.7", "10.0.0.5", 22, up=300, down=9000),   # inbound: 9000 out
        flow(3, "10.0.0.6", "203.0.113.9", 443, up=100, down=200),
    ])
    hosts = {h.ip: h for h in t.hosts}
    assert set(hosts) == {"10.0.0.5", "10.0.0.6"}
    assert (hosts["10.0.0.5"].bytes_out, hosts["10.0.0.5"].bytes_in) == (14000, 1000)
    assert {c.external for c in hosts["10.0.0.5"].channels} == {"203.0.113.9", "198.51.100.7"}
    assert t.shared_destinations == {"203.0.113.9": ["10.0.0.5", "10.0.0.6"]}


def test_interim_records_count_a_flow_once_with_its_last_counters():
    t = triage_of([
        flow(7, "10.0.0.5", "203.0.113.9", 443, up=1000, down=10, interim=True,
             end="2026-03-10T14:05:00+00:00"),
        flow(7, "10.0.0.5", "203.0.113.9", 443, up=4000, down=40, interim=True,
             end="2026-03-10T14:10:00+00:00"),
        flow(7, "10.0.0.5", "203.0.113.9", 443, up=4500, down=50,
             end="2026-03-10T14:12:00+00:00"),
    ])
    (host,) = t.hosts
    (channel,) = host.channels
    assert (host.flows, host.bytes_out, host.bytes_in) == (1, 4500, 50)
    assert (channel.flows, channel.bytes_out) == (1, 4500)
    # bytes out over time: what each record added, in its span
    spans = channel.out_series.spans()
    assert [n for *_, n in spans] == [1000, 3000, 500]
    assert spans[0][0] == channel.first_us and spans[-1][1] == channel.last_us


def test_flows_from_different_directories_with_the_same_id_stay_apart():
    a = flow(5, "10.0.0.5", "203.0.113.9", 443, up=100, down=1)
    t = build_triage([(0, a), (1, a)])
    assert t.hosts[0].flows == 2 and t.hosts[0].bytes_out == 200


def test_host_totals_equal_the_sums_of_the_flow_records_of_a_real_replay(tmp_path):
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "engine.cli", "replay", *sorted(PCAPS.glob("*.pcap*")),
                    "-o", out, "--quiet"], check=True, capture_output=True)
    flows = [json.loads(line) for line in open(out / "eve.json")]
    flows = [f["flow"] for f in flows if f["event_type"] == "flow"]
    t = build_triage(read_directories([out]).records)
    assert sum(h.flows for h in t.hosts) == len(flows)
    assert sum(h.bytes_out + h.bytes_in for h in t.hosts) == \
        sum(f["bytes_toserver"] + f["bytes_toclient"] for f in flows)
    for h in t.hosts:
        assert h.bytes_out == sum(c.bytes_out for c in h.channels)
        assert h.flows == sum(c.flows for c in h.channels)
    flagged = {h.ip for h in t.flagged}
    assert flagged == {"10.1.0.23"} and t.flagged[0].escalated


def test_alerts_answer_the_playbook_questions_of_their_host():
    sha = "ab" * 32
    t = triage_of([
        flow(1, "10.0.0.5", "203.0.113.9", 8443, up=6_600_000, down=1000),
        tls(1, "10.0.0.5", "203.0.113.9", 8443, "sync.example", cert_sha256=sha),
        x509(1, sha, "CN=203.0.113.9"),
        alert(1, "10.0.0.5", "203.0.113.9", 8443,
              ["large_upload", "new_destination", "a_detection_from_the_future"]),
    ])
    (host,) = t.flagged
    verdicts = {a.key: a.verdict for a in host.answers}
    assert verdicts == {"transfer": "alert", "destination": "alert", "certificate": "context",
                        "baseline": "clear", "shared": "clear", "intel": "clear"}
    transfer = next(a for a in host.answers if a.key == "transfer")
    assert transfer.evidence == ["large_upload on 203.0.113.9:8443: bytes_out 6.6 MB"]
    (channel,) = host.channels
    assert channel.alerted and channel.service == "sync.example"
    assert channel.fingerprints["ja4"] == {"t13d1812h2_aaaa_bbbb"}
    assert channel.certificates == [sha]


def test_containment_lists_the_escalated_alerts_only():
    t = triage_of([
        alert(1, "10.0.0.5", "203.0.113.9", 8443, ["large_upload"], sni="a.example"),
        alert(2, "10.0.0.6", "198.51.100.4", 443, ["beaconing"], escalate=False,
              sni="b.example"),
        alert(3, "10.0.0.7", "203.0.113.9", 22, ["large_upload"]),
    ])
    assert t.containment == {"block_ips": ["203.0.113.9"], "block_ports": [22, 8443],
                             "block_domains": ["a.example"]}
    assert [h.ip for h in t.flagged] == ["10.0.0.5", "10.0.0.7", "10.0.0.6"]


def test_unknown_record_types_and_missing_fields_are_tolerated():
    t = triage_of([
        {"event_type": "dns", "dns": {"rrname": "x"}},
        {"event_type": "alert", "src_ip": "10.0.0.9"},            # no exfil, no alert body
        {"event_type": "flow", "src_ip": "10.0.0.9", "dest_ip": "203.0.113.1"},
        {"no_event_type": True},
    ])
    (host,) = t.hosts
    assert host.ip == "10.0.0.9" and len(host.alerts) == 1 and host.alerts[0].score == 0
    assert t.counts["dns"] == 1


def test_alert_ids_are_carried_when_present():
    t = triage_of([alert(1, "10.0.0.5", "203.0.113.9", 443, ["large_upload"],
                         alert_id="ew-3f9a2c")])
    assert t.alerts[0].alert_id == "ew-3f9a2c"


def test_rotated_and_compressed_eve_files_are_all_read_oldest_first(tmp_path):
    write_eve(tmp_path, [flow(3, "10.0.0.5", "203.0.113.9", 443, 1, 1)])
    write_eve(tmp_path, [flow(2, "10.0.0.5", "203.0.113.9", 443, 1, 1)], "eve.json.1")
    with gzip.open(tmp_path / "eve.json.2.gz", "wt") as fh:
        fh.write(json.dumps(flow(1, "10.0.0.5", "203.0.113.9", 443, 1, 1)) + "\n")
    (tmp_path / "eve.json.lock").write_text("not ours")
    (tmp_path / "conn.log").write_text("#fields\tts\n")
    assert [os.path.basename(p) for p in eve_files(str(tmp_path))] == [
        "eve.json.2.gz", "eve.json.1", "eve.json"]
    assert [r["flow_id"] for _, r in read_directories([tmp_path]).records] == [1, 2, 3]


def test_a_malformed_line_is_skipped_with_its_file_and_line_named(tmp_path, caplog):
    path = write_eve(tmp_path, [flow(1, "10.0.0.5", "203.0.113.9", 443, 1, 1)])
    with open(path, "a") as fh:
        fh.write('{"event_type": "flow", "src_ip": \n[1, 2]\n')
    with caplog.at_level(logging.WARNING):
        eve = read_directories([tmp_path])
        assert len(list(eve.records)) == 1
    assert [(s.path, s.line) for s in eve.skipped] == [(str(path), 2), (str(path), 3)]
    assert f"{path} line 2 skipped: not JSON" in caplog.text
    assert "line 3 skipped: not a JSON object" in caplog.text


@pytest.mark.parametrize("make,message", [
    (lambda d: d / "missing", "does not exist"),
    (lambda d: d, "holds no eve.json"),
])
def test_a_directory_without_eve_records_is_an_error_naming_it(tmp_path, make, message):
    with pytest.raises(ReportInputError, match=message):
        read_directories([make(tmp_path)])


@pytest.mark.parametrize("validation,concern", [
    ({"status": "valid", "pin": "not_pinned"}, ""),
    ({"status": "no_sni"}, ""),
    ({"status": "self_signed"}, "is self_signed"),
    ({"status": "valid", "pin": "mismatch"}, "does not match the pinned certificate"),
    (None, ""),
])
def test_a_certificate_matches_the_approved_ones_when_trusted_and_not_against_its_pin(
        validation, concern):
    from engine.report.model import certificate_concern

    assert certificate_concern({"validation": validation}) == concern


@pytest.mark.parametrize("detection,question", [
    ("large_upload", "transfer"), ("sustained_transfer", "transfer"),
    ("new_destination", "destination"), ("nonstandard_port", "destination"),
    ("beaconing", "destination"), ("long_connection", "destination"),
    ("untrusted_certificate", "certificate"), ("host_baseline_deviation", "baseline"),
    ("multi_host_new_destination", "shared"), ("threat_intel", "intel"),
    ("high_risk_location", "intel"),
])
def test_each_detection_answers_its_playbook_question(detection, question):
    from engine.alerts import SIGNATURES

    assert detection in SIGNATURES           # the names the alerting layer writes
    t = triage_of([alert(1, "10.0.0.5", "203.0.113.9", 443, [detection])])
    answers = {a.key: a.verdict for a in t.hosts[0].answers}
    assert [k for k, v in answers.items() if v == "alert"] == [question]


def test_every_detection_the_alerting_layer_knows_answers_a_question():
    from engine.alerts import SIGNATURES
    from engine.report.model import PLAYBOOK

    assert set(SIGNATURES) == set().union(*(detections for *_, detections in PLAYBOOK))
