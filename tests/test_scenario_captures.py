"""The detection scenario captures (pcaps/scenarios/) against their ground truth,
through the sensor pipeline's flow and handshake records.

The ground truth was accumulated by pcaps/make_scenarios.py while it framed the
packets; these tests replay the committed files (no generator dependency) and
check what the engine reports: every flow's counters and app_proto, and each
handshake's SNI, version, protocol and certificate facts. Verdicts and
detections are the detection layer's to check.
"""
import datetime as dt
import ipaddress
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import verification

from engine.capture import open_capture
from engine.handshake import SshSession, TlsSession
from engine.pipeline import SensorPipeline
from engine.records import FlowRecord

SCENARIOS = Path(__file__).resolve().parent.parent / "pcaps" / "scenarios"
GROUND_TRUTH = json.loads((SCENARIOS / "ground_truth.json").read_text())
CAPTURES = GROUND_TRUTH["captures"]
DETECTION_NAMES = {"large_upload", "untrusted_certificate", "nonstandard_port", "new_destination",
                   "sustained_transfer", "beaconing", "multi_host_new_destination",
                   "host_baseline_deviation"}

_replays = {}


def replay(name):
    """(final flow records by 5-tuple, handshake session by flow id, packets seen, counters);
    one replay per capture for the whole module."""
    if name not in _replays:
        pipeline = SensorPipeline()
        records = []
        with open_capture(str(SCENARIOS / name)) as reader:
            for batch in reader:
                records += pipeline.feed(batch)
            assert not reader.truncated
        records += pipeline.finish()
        flows = {}
        for rec in records:
            if isinstance(rec, FlowRecord) and not rec.interim:
                key = (rec.proto_name, rec.src_ip, rec.src_port, rec.dest_ip, rec.dest_port)
                assert key not in flows, f"{name}: two final records for {key}"
                flows[key] = rec
        sessions = {s.record.flow_id: s for s in records if isinstance(s, (TlsSession, SshSession))}
        _replays[name] = (flows, sessions, pipeline.engine.packets_seen, pipeline.engine.counters())
    return _replays[name]


def _key(t):
    return (t["proto"], t["src_ip"], t["src_port"], t["dest_ip"], t["dest_port"])


def _flows_with(app_proto):
    return [pytest.param(name, i, id=f"{name}#{i}")
            for name, cap in CAPTURES.items()
            for i, t in enumerate(cap["flows"]) if t["app_proto"] == app_proto]


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_scenario_flows_match_the_generators_counts_and_app_proto(name):
    flows, _, packets_seen, counters = replay(name)
    truth = CAPTURES[name]
    assert packets_seen == truth["packets"]
    assert counters["decode.ok"] == truth["packets"]
    assert sorted(flows) == sorted(_key(t) for t in truth["flows"])
    for t in truth["flows"]:
        rec = flows[_key(t)]
        assert (rec.pkts_toserver, rec.pkts_toclient, rec.bytes_toserver, rec.bytes_toclient) == \
            (t["pkts_toserver"], t["pkts_toclient"], t["bytes_toserver"], t["bytes_toclient"]), _key(t)
        assert (rec.start_us, rec.end_us) == (t["start"], t["end"]), _key(t)
        assert rec.app_proto == t["app_proto"], _key(t)


@pytest.mark.parametrize("name, index", _flows_with("tls") + _flows_with("smtp"))
def test_scenario_tls_handshake_matches_the_ground_truth(name, index):
    flows, sessions, _, _ = replay(name)
    t = CAPTURES[name]["flows"][index]
    session = sessions[flows[_key(t)].flow_id]
    assert session.transport == "tcp"
    assert session.preamble == ("smtp" if t["app_proto"] == "smtp" else None)
    assert (session.sni, session.version) == (t["sni"], t["tls_version"])
    assert session.established and not session.anomalies
    offered = [a.decode() for a in session.client_hello["alpn"]]
    if t["tls_version"] == "TLS 1.2":   # TLS 1.3 sends the chosen ALPN encrypted
        chosen = session.server_hello.get("alpn")
        assert (chosen.decode() if chosen else None) == t["alpn"]
    assert t["alpn"] is None or t["alpn"] in offered
    if not t["cert_in_clear"]:          # TLS 1.3: the certificate is encrypted
        assert session.certificates == ()
        return
    leaf = session.certificates[0]
    assert leaf.sha1_fingerprint == t["cert_sha1"]
    assert leaf.sha256 == t["cert_sha256"]
    assert len(session.chain) == t["cert_chain_len"]
    assert _trusted_by_root(session.chain, t["sni"] or t["dest_ip"], t["start"],
                            CAPTURES[name]["config"]["trusted_ca_pem"]) == t["cert_trusted"]


def _trusted_by_root(chain, name, at_us, root_pem):
    """Does the chain the engine captured verify against the capture's root PEM?"""
    root = x509.load_pem_x509_certificate((SCENARIOS / root_pem).read_bytes())
    certs = [x509.load_der_x509_certificate(bytes(der)) for der in chain]
    try:
        subject = x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        subject = x509.DNSName(name)
    when = dt.datetime.fromtimestamp(at_us / 1e6, tz=dt.timezone.utc)
    try:
        (verification.PolicyBuilder().store(verification.Store([root])).time(when)
         .build_server_verifier(subject).verify(certs[0], certs[1:]))
        return True
    except verification.VerificationError:
        return False


@pytest.mark.parametrize("name, index", _flows_with("ssh"))
def test_scenario_ssh_handshake_matches_the_ground_truth(name, index):
    flows, sessions, _, _ = replay(name)
    t = CAPTURES[name]["flows"][index]
    session = sessions[flows[_key(t)].flow_id]
    assert isinstance(session, SshSession)
    for side in ("client", "server"):
        parsed = getattr(session, side)
        assert parsed["status"] == "ok"
        assert parsed["proto_version"] == t["ssh_proto_version"]
        assert parsed["software_version"] == t[f"ssh_{side}_software"]
    assert session.hassh() and session.hassh_server()    # both KEXINITs were read


@pytest.mark.parametrize("name, index", _flows_with("quic"))
def test_scenario_quic_handshake_matches_the_ground_truth(name, index):
    flows, sessions, _, _ = replay(name)
    t = CAPTURES[name]["flows"][index]
    session = sessions[flows[_key(t)].flow_id]
    assert session.transport == "quic"
    assert session.quic["status"] == "ok"
    assert session.quic["version"] == t["quic_version"]
    assert (session.sni, session.version) == (t["sni"], t["tls_version"])
    assert [a.decode() for a in session.client_hello["alpn"]] == [t["alpn"]]


def test_scenario_matrix_is_complete_and_consistent():
    """What the detection layer will be scored on: every verdict and detection is named,
    every suspect flow exists, the config files exist, the captures fit the budget."""
    assert sum(c["size"] for c in CAPTURES.values()) < 60_000_000
    assert {c["expect"] for c in CAPTURES.values()} == {"alert", "silent"}
    assert (SCENARIOS / GROUND_TRUTH["trusted_ca_pem"]).is_file()
    for name, cap in CAPTURES.items():
        assert (SCENARIOS / name).stat().st_size == cap["size"]
        assert (SCENARIOS / cap["config"]["trusted_ca_pem"]).is_file(), name
        named = set(cap["detections"]) | set(cap["detections_may_fire"]) \
            | set(cap["detections_silenced_by_allowlist"])
        assert named <= DETECTION_NAMES, name
        assert bool(cap["detections"]) == (cap["expect"] == "alert"), name
        assert all(cap["flows"][i]["scenario"] != "benign" for i in cap["suspect_flows"])
        for learned in cap["config"]["baseline_learn_from"]:
            assert learned in CAPTURES and CAPTURES[learned]["expect"] == "silent"
    backup = CAPTURES["allowlisted_backup.pcap"]
    allowed = backup["config"]["allowlist"]
    for i in backup["suspect_flows"]:
        f = backup["flows"][i]
        assert f["sni"] in allowed["domains"] and f["dest_ip"] in allowed["ips"]
