"""The report model's bounds (ReportLimits): past each one what matters least
is left out and counted, what matters most is kept, totals stay exact where
they can, and the page says what was left out."""
import subprocess
import sys

import pytest

from engine.netscope import NetScope
from engine.report.evefiles import SKIPPED_KEPT, read_directories
from engine.report.html import render
from engine.report.model import (MAX_CERTIFICATES, MAX_OPEN_FLOWS, OPEN_FLOW_IDLE_US, OutSeries,
                                 PRUNE_SLACK, ReportLimits, TriageBuilder, build_triage)
from report_records import alert, flow, tls, write_eve


def triage_of(records, **limits):
    return build_triage([(0, r) for r in records], NetScope(), ReportLimits(**limits))


def at(minute: int) -> str:
    return f"2026-03-10T{14 + minute // 60:02d}:{minute % 60:02d}:00+00:00"


def test_past_the_channel_bound_the_channels_that_sent_least_go_and_host_totals_stay_exact():
    records = [flow(i, "10.0.0.5", f"203.0.113.{i}", 443, up=1000 * i, down=1)
               for i in range(1, 41)]
    t = triage_of(records, channels=8, recent_flows=1)
    (host,) = t.hosts
    assert len(host.channels) <= 8 * (1 + PRUNE_SLACK)
    assert host.channels[0].external == "203.0.113.40"          # the biggest is kept
    assert (host.flows, host.bytes_out) == (40, 1000 * sum(range(1, 41)))
    assert host.channels_dropped == t.dropped.channels == 40 - len(host.channels)
    page = render(t, ["out"])
    assert f"{t.dropped.channels:,} channels that sent least were left out" in page
    assert f"and {host.channels_dropped:,} that sent least" not in page   # only flagged hosts


def test_a_channel_with_an_alert_is_kept_however_little_it_sent():
    records = [alert(1, "10.0.0.5", "203.0.113.1", 443, ["beaconing"]),
               flow(1, "10.0.0.5", "203.0.113.1", 443, up=1, down=1)]
    records += [flow(i, "10.0.0.5", f"203.0.113.{i}", 443, up=1000 * i, down=1)
                for i in range(2, 40)]
    t = triage_of(records, channels=4, recent_flows=1)
    (host,) = t.hosts
    assert host.channels[0].external == "203.0.113.1" and host.channels[0].alerted
    page = render(t, ["out"])
    assert f"All {len(host.channels)} channels of 10.0.0.5 (and {host.channels_dropped:,} " \
           "that sent least, left out at the report's bound)" in page


def test_past_the_host_bound_quiet_hosts_that_sent_least_go_and_flagged_ones_stay():
    records = [alert(1, "10.0.0.1", "203.0.113.9", 443, ["large_upload"])]
    records += [flow(i, f"10.0.1.{i}", "203.0.113.9", 443, up=100 * i, down=1)
                for i in range(1, 60)]
    t = triage_of(records, hosts=10, recent_flows=1)
    ips = [h.ip for h in t.hosts]
    assert "10.0.0.1" in ips and "10.0.1.59" in ips and "10.0.1.1" not in ips
    assert len(ips) <= 10 * (1 + PRUNE_SLACK) + 1
    assert t.dropped.hosts == 60 - len(ips)
    assert not any(ch.host not in ips for ch in t.channels)     # their channels went too


def test_past_the_alert_bound_tier1_and_low_scores_go_but_containment_keeps_every_escalation():
    records = [alert(i, "10.0.0.5", f"203.0.113.{i}", 443, ["large_upload"], score=i,
                     escalate=i % 2 == 0) for i in range(1, 21)]
    t = triage_of(records, alerts=4)
    kept = sorted(a.score for a in t.alerts)
    assert len(kept) <= 4 * (1 + PRUNE_SLACK)
    assert all(a.escalate for a in t.alerts) and kept[-1] == 20
    assert t.dropped.alerts == 20 - len(kept) == t.hosts[0].alerts_dropped
    assert t.containment["block_ips"] == sorted(f"203.0.113.{i}" for i in range(2, 21, 2))
    page = render(t, ["out"])
    assert "Tier 1 and lowest-score alerts were left out" in page
    assert f"… and {t.dropped.alerts:,} more with lower scores" in page      # in the host's card


def test_containment_entries_past_their_bound_are_counted():
    records = [alert(i, "10.0.0.5", f"203.0.113.{i}", 443, ["large_upload"])
               for i in range(1, 6)]
    t = triage_of(records, containment=3)
    assert len(t.containment["block_ips"]) == 3 and t.dropped.containment == 2


@pytest.mark.parametrize("recent_flows,found", [(5, {1: 7000, 2: 9000}), (3, {2: 9000})])
def test_an_alert_finds_its_evidence_flow_written_before_it_within_the_recent_flows_or_after(
        recent_flows, found):
    t = triage_of([
        flow(1, "10.0.0.5", "203.0.113.9", 443, up=7000, down=1),
        *[flow(i, "10.0.0.6", "198.51.100.1", 443, up=1, down=1) for i in range(10, 14)],
        alert(1, "10.0.0.5", "203.0.113.9", 443, ["large_upload"]),
        alert(2, "10.0.0.5", "203.0.113.9", 443, ["large_upload"]),
        flow(2, "10.0.0.5", "203.0.113.9", 443, up=9000, down=1),
    ], recent_flows=recent_flows)
    assert {k.flow_id: f.bytes_out for k, f in t.flows.items()} == found
    assert len(t.alerts) == 2 and t.hosts[0].bytes_out == 16000


def test_a_handshake_written_after_its_flow_record_still_names_the_flows_service():
    t = triage_of([flow(1, "10.0.0.5", "203.0.113.9", 443, up=10, down=1),
                   tls(1, "10.0.0.5", "203.0.113.9", 443, "late.example")])
    assert [ch.service for ch in t.channels] == ["late.example"]


def test_a_long_flow_counts_once_when_records_of_other_flows_separate_its_interim_ones():
    long_flow = [flow(7, "10.0.0.5", "203.0.113.9", 443, up=1000 * k, down=k,
                      start=at(0), end=at(5 * k), interim=k < 4) for k in range(1, 5)]
    others = [flow(100 + i, "10.0.0.6", "203.0.113.9", 443, up=1, down=1,
                   start=at(i), end=at(i)) for i in range(20)]
    records = [long_flow[0], *others[:10], long_flow[1], long_flow[2], *others[10:],
               long_flow[3]]
    t = triage_of(records, recent_flows=1)
    host = next(h for h in t.hosts if h.ip == "10.0.0.5")
    assert (host.flows, host.bytes_out) == (1, 4000)


def test_an_open_flow_idle_past_any_interim_interval_is_settled_with_its_last_record():
    records = [flow(7, "10.0.0.5", "203.0.113.9", 443, up=500, down=5, start=at(0),
                    end=at(5), interim=True),
               flow(8, "10.0.0.6", "203.0.113.9", 443, up=1, down=1, start=at(200),
                    end=at(200))]
    assert (200 - 5) * 60 * 1_000_000 > OPEN_FLOW_IDLE_US
    model = TriageBuilder(NetScope(), ReportLimits())
    for rec in records:
        model.add(0, rec)
    # settled while reading, not only when the triage is made at the end
    assert not model.open_flows
    host = model.hosts["10.0.0.5"]
    assert (host.flows, host.bytes_out) == (1, 500) and model.dropped.open_flows == 0


def test_past_the_open_flow_bound_the_oldest_is_settled_and_counted():
    records = [flow(i, "10.0.0.5", "203.0.113.9", 443, up=100, down=1, start=at(0),
                    end=at(5), interim=True) for i in range(1, 6)]
    t = triage_of(records, open_flows=2)
    assert t.dropped.open_flows == 3 and t.hosts[0].flows == 5
    assert "3 long flows were forgotten between interim records" in render(t, ["out"])


def test_past_the_handshake_bound_the_oldest_is_forgotten_and_counted():
    records = [tls(i, "10.0.0.5", "203.0.113.9", 443, f"s{i}.example") for i in range(1, 5)]
    records += [flow(i, "10.0.0.5", "203.0.113.9", 443, up=10, down=1) for i in range(1, 5)]
    t = triage_of(records, handshakes=2)
    assert t.dropped.handshakes == 2
    assert sorted(ch.service for ch in t.channels) == ["s3.example", "s4.example", "tls"]


def test_fingerprint_values_of_a_channel_past_their_bound_are_counted_and_shown():
    records = []
    for i in range(1, 6):
        records += [tls(i, "10.0.0.5", "203.0.113.9", 443, "a.example", ja4=f"ja4_{i}"),
                    flow(i, "10.0.0.5", "203.0.113.9", 443, up=10, down=1)]
    records.append(alert(1, "10.0.0.5", "203.0.113.9", 443, ["large_upload"]))
    t = triage_of(records, channel_values=2)
    (ch,) = t.channels
    assert ch.fingerprints["ja4"] == {"ja4_1", "ja4_2"} and ch.values_dropped == 3
    assert "(+3 more values)" in render(t, ["out"])


def test_certificates_past_their_bound_go_lowest_score_first():
    records = [{"event_type": "x509", "x509": {"sha256": f"{i:064x}", "score": i}}
               for i in range(1, 21)]
    t = triage_of(records, certificates=4)
    assert sorted(x["score"] for x in t.certificates.values())[-1] == 20
    assert t.dropped.certificates == 20 - len(t.certificates)


def test_bytes_out_series_merged_past_its_bound_keeps_its_total_and_span():
    series = OutSeries(limit=8)
    for k in range(100):
        series.add(k * 10, k * 10 + 5, 3)
    spans = series.spans()
    assert len(spans) <= 8
    assert sum(n for *_, n in spans) == pytest.approx(300)
    assert spans[0][0] == 0 and spans[-1][1] == pytest.approx(995)


def test_malformed_lines_past_the_listed_ones_are_counted(tmp_path):
    path = write_eve(tmp_path, [flow(1, "10.0.0.5", "203.0.113.9", 443, 1, 1)])
    with open(path, "a") as fh:
        fh.write("not json\n" * (SKIPPED_KEPT + 5))
    eve = read_directories([tmp_path])
    assert len(list(eve.records)) == 1
    assert (len(eve.skipped), eve.skipped_count) == (SKIPPED_KEPT, SKIPPED_KEPT + 5)
    page = render(build_triage([]), ["out"], eve.skipped, eve.skipped_count)
    assert f"{SKIPPED_KEPT + 5} malformed line(s) skipped" in page and "… and 5 more" in page


def test_the_bounds_are_options_and_a_bad_value_names_the_option(tmp_path):
    write_eve(tmp_path / "out", [flow(i, "10.0.0.5", f"203.0.113.{i}", 443, i, 1)
                                 for i in range(1, 30)])
    run = [sys.executable, "-m", "engine.cli", "report", str(tmp_path / "out"), "-o",
           str(tmp_path / "r.html")]
    result = subprocess.run(run + ["--max-channels", "0"], capture_output=True, text=True)
    assert result.returncode == 2 and "--max-channels must be a whole number of at least 1" \
        in result.stderr
    result = subprocess.run(run + ["--max-channels", "5"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "channels that sent least were left out" in (tmp_path / "r.html").read_text()
    help_text = " ".join(subprocess.run(run[:4] + ["--help"], capture_output=True,
                                        text=True).stdout.split())
    for words in ("in bounded memory", "--max-hosts", "--max-channels", "--max-alerts",
                  f"{MAX_OPEN_FLOWS:,} open flows", f"{MAX_CERTIFICATES:,} certificates"):
        assert words in help_text


def test_eve_files_are_read_lazily_one_record_at_a_time(tmp_path):
    write_eve(tmp_path, [flow(i, "10.0.0.5", "203.0.113.9", 443, 1, 1) for i in range(1, 4)])
    write_eve(tmp_path, [flow(9, "10.0.0.5", "203.0.113.9", 443, 1, 1)], "eve.json.1")
    eve = read_directories([tmp_path])
    records = eve.records
    assert next(records)[1]["flow_id"] == 9 and eve.files == []    # nothing held ahead
    assert [r["flow_id"] for _, r in records] == [1, 2, 3]
    assert [p.rsplit("/", 1)[-1] for p in eve.files] == ["eve.json.1", "eve.json"]
