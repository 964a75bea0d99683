"""Alert policy: scoring, suppression, the playbook's escalation rule and
the containment data."""
import pytest

from engine.alerts import AlertConfig, AlertManager, Candidate, Channel, Finding, escalation

CHANNEL = Channel("10.20.0.5", "203.0.113.66", 8443, "TCP", "backup-sync.example")
HOUR_US = 3600 * 1_000_000


def candidate(*findings, ts_us=HOUR_US, **kw):
    return Candidate(CHANNEL, ts_us, tuple(findings), flow_ids=(11, 12), bytes_out=20_000_000,
                     bytes_in=40_000, window_s=3600, **kw)


LARGE = Finding("large_upload", 40, "20 MB uploaded in 1 h", {"bytes_out": 20_000_000})
NEW = Finding("new_destination", 25, "first time the organisation reaches 203.0.113.66")
UNTRUSTED = Finding("untrusted_certificate", 30, "self-signed certificate")
BEACON = Finding("beaconing", 30, "regular 60 s sessions")
INTEL = Finding("threat_intel", 60, "IP on the SSLBL blocklist")


def test_weak_findings_alone_do_not_alert():
    assert AlertManager().decide(candidate(Finding("nonstandard_port", 15, "TLS on 8443"))) is None


def test_alert_carries_score_reasons_evidence_and_containment():
    event = AlertManager().decide(candidate(LARGE, NEW))
    assert event["event_type"] == "alert"
    assert (event["src_ip"], event["dest_ip"], event["dest_port"]) == ("10.20.0.5", "203.0.113.66", 8443)
    assert event["alert"]["signature_id"] == 9_480_001 and event["alert"]["severity"] == 2
    exfil = event["exfil"]
    assert exfil["score"] == 65
    assert exfil["reasons"][0] == "20 MB uploaded in 1 h"
    assert exfil["evidence"]["flows"] == [11, 12]
    assert exfil["evidence"]["findings"]["large_upload"] == {"bytes_out": 20_000_000}
    assert exfil["containment"] == {"block_ips": ["203.0.113.66"], "block_ports": [8443],
                                    "block_domains": ["backup-sync.example"]}


def test_score_is_capped_at_100_and_high_scores_are_severity_1():
    event = AlertManager().decide(candidate(LARGE, NEW, UNTRUSTED, INTEL))
    assert event["exfil"]["score"] == 100 and event["alert"]["severity"] == 1


@pytest.mark.parametrize("kinds,escalate", [
    ({"large_upload", "new_destination"}, True),
    ({"sustained_transfer", "untrusted_certificate"}, True),
    ({"host_baseline_deviation", "beaconing"}, True),
    ({"threat_intel"}, True),
    ({"high_risk_location", "new_destination"}, True),
    ({"large_upload"}, False),
    ({"new_destination", "nonstandard_port"}, False),
])
def test_escalation_follows_the_playbook(kinds, escalate):
    assert escalation(kinds)[0] is escalate


def test_repeats_are_suppressed_within_the_window_unless_the_score_grows():
    manager = AlertManager(AlertConfig(suppress_s=3600, rescore_points=20))
    assert manager.decide(candidate(LARGE, NEW)) is not None
    assert manager.decide(candidate(LARGE, NEW, ts_us=HOUR_US + 60_000_000)) is None
    grown = manager.decide(candidate(LARGE, NEW, UNTRUSTED, ts_us=HOUR_US + 120_000_000))
    assert grown is not None and grown["exfil"]["score"] == 95
    assert manager.decide(candidate(LARGE, NEW, ts_us=3 * HOUR_US)) is not None
    assert manager.suppressed == 1


def test_capture_loss_qualifies_the_alert():
    event = AlertManager().decide(candidate(LARGE, NEW, capture_loss=0.04))
    assert event["exfil"]["reasons"][-1].startswith("capture loss 4% in this window")
    assert event["exfil"]["evidence"]["capture_loss"] == 0.04


def test_an_ip_only_service_gives_no_domain_to_block():
    c = Candidate(Channel("10.20.0.5", "203.0.113.66", 22, "TCP", "ssh"), HOUR_US, (LARGE, NEW))
    assert AlertManager().decide(c)["exfil"]["containment"]["block_domains"] == []


def test_alert_id_is_short_hex_and_the_same_for_the_same_alert_in_another_run():
    first = AlertManager().decide(candidate(LARGE, NEW))["exfil"]["alert_id"]
    again = AlertManager().decide(candidate(LARGE, NEW))["exfil"]["alert_id"]
    assert first == again
    assert len(first) == 16 and int(first, 16) >= 0


def test_alert_id_changes_with_time_flows_and_signature():
    ids = {
        AlertManager().decide(candidate(LARGE, NEW))["exfil"]["alert_id"],
        AlertManager().decide(candidate(LARGE, NEW, ts_us=HOUR_US + 1))["exfil"]["alert_id"],
        AlertManager().decide(Candidate(CHANNEL, HOUR_US, (LARGE, NEW), flow_ids=(11, 13)))
        ["exfil"]["alert_id"],
        AlertManager().decide(candidate(INTEL))["exfil"]["alert_id"],
    }
    assert len(ids) == 4


def test_identical_alerts_without_suppression_still_get_unique_ids():
    manager = AlertManager(AlertConfig(suppress_s=0))
    ids = [manager.decide(candidate(LARGE, NEW))["exfil"]["alert_id"] for _ in range(3)]
    assert ids[1:] == [ids[0] + "-2", ids[0] + "-3"]
