"""ssl.log validation_status (engine/sinks/zeek.py): engine.validation's
verdict on each chain, spelled as Zeek writes it ("ok" or OpenSSL's verify
error string), read back by zat. (test_zeek_logs.py checks the demo and
scenario replays against the validation their EVE x509 records carry.)"""
import base64
import datetime as dt

import pytest
from cryptography.hazmat.primitives import serialization
from zat.zeek_log_reader import ZeekLogReader

from engine.sinks.zeek import ZeekLogSink, validation_status, zeek_uid
from engine.validation import ValidationConfig, ValidationResult
from tests.cert_factory import (INSIDE_LEAF_VALIDITY, UTC, mint, mint_intermediate, mint_leaf,
                                mint_root, name)

HOST = "files.example.org"


def read_log(path):
    return list(ZeekLogReader(str(path), strict=True).readrows())


def tls_event(flow_id, chain, sni=HOST, when=INSIDE_LEAF_VALIDITY):
    return {"timestamp": when.isoformat(timespec="microseconds"), "flow_id": flow_id,
            "event_type": "tls", "src_ip": "10.0.0.1", "src_port": 40000 + flow_id,
            "dest_ip": "192.0.2.9", "dest_port": 443, "proto": "TCP",
            "tls": {"sni": sni, "version": "TLS 1.2",
                    "chain": [base64.b64encode(c.der).decode() for c in chain]}}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A root (written as the CA bundle), its intermediate and leaves."""
    root = mint_root()
    inter = mint_intermediate(root)
    bundle = tmp_path_factory.mktemp("pki") / "root.pem"
    bundle.write_bytes(root.cert.public_bytes(serialization.Encoding.PEM))
    return root, inter, ValidationConfig(ca_bundle=str(bundle))


def statuses(tmp_path, events, validation):
    with ZeekLogSink(str(tmp_path), validation=validation) as sink:
        for event in events:
            sink.write(event)
    return {row["uid"]: row for row in read_log(tmp_path / "ssl.log")}


def test_each_verdict_is_spelled_as_zeek_writes_it(tmp_path, pki):
    root, inter, config = pki
    leaf = mint_leaf(inter, HOST)
    expired = mint_leaf(inter, HOST, not_before=dt.datetime(2023, 1, 1, tzinfo=UTC),
                        not_after=dt.datetime(2023, 4, 1, tzinfo=UTC))
    future = mint_leaf(inter, HOST, not_before=dt.datetime(2025, 1, 1, tzinfo=UTC),
                       not_after=dt.datetime(2025, 4, 1, tzinfo=UTC))
    self_signed = mint(name(("CN", HOST)))
    # (the chain of case 1 teaches `inter` to the intermediate cache, as in Zeek)
    orphan = mint_leaf(mint_intermediate(root, "Unsent Issuing CA"), HOST)
    other_root = mint_root("Unknown Root CA")
    other_inter = mint_intermediate(other_root, "Unknown Issuing CA")
    stranger = mint_leaf(other_inter, HOST)
    cases = {
        1: ([leaf, inter], "ok"),
        2: ([self_signed], "self signed certificate"),
        3: ([expired, inter], "certificate has expired"),
        4: ([future, inter], "certificate is not yet valid"),
        5: ([orphan], "unable to get local issuer certificate"),        # intermediate not sent
        6: ([stranger, other_inter], "unable to get local issuer certificate"),  # unknown root
        7: ([stranger, other_inter, other_root], "self signed certificate in certificate chain"),
    }
    rows = statuses(tmp_path, [tls_event(fid, chain) for fid, (chain, _) in cases.items()],
                    lambda: config)
    for fid, (_, expected) in cases.items():
        assert rows[zeek_uid(fid)]["validation_status"] == expected, fid


def test_the_name_is_not_part_of_it_and_no_chain_means_unset(tmp_path, pki):
    """Zeek's x509_verify checks the chain only: a certificate for another
    name is "ok", with sni_matches_cert F beside it. Without a certificate
    no validation runs."""
    _, inter, config = pki
    leaf = mint_leaf(inter, "other.example.org")
    rows = statuses(tmp_path, [tls_event(1, [leaf, inter]), tls_event(2, []),
                               tls_event(3, [leaf, inter], sni=None)], lambda: config)
    assert rows[zeek_uid(1)]["validation_status"] == "ok"
    assert rows[zeek_uid(1)]["sni_matches_cert"] is False
    assert rows[zeek_uid(2)]["validation_status"] == "-"
    assert rows[zeek_uid(3)]["validation_status"] == "ok"


def test_a_sink_without_a_validation_table_leaves_it_unset(tmp_path, pki):
    _, inter, _ = pki
    rows = statuses(tmp_path, [tls_event(1, [mint_leaf(inter, HOST), inter])], None)
    assert rows[zeek_uid(1)]["validation_status"] == "-"


def test_a_reloaded_validation_table_applies_to_the_next_rows(tmp_path, pki):
    """The sink asks for the table in force each time: once the root is an
    approved CA (a SIGHUP reload), the same chain is "ok"."""
    root, inter, _ = pki
    approved = tmp_path / "approved.pem"
    approved.write_bytes(root.cert.public_bytes(serialization.Encoding.PEM))
    leaf = mint_leaf(inter, HOST)
    in_force = {"table": ValidationConfig()}     # Mozilla's roots: the test root is unknown
    with ZeekLogSink(str(tmp_path), validation=lambda: in_force["table"]) as sink:
        sink.write(tls_event(1, [leaf, inter]))
        in_force["table"] = ValidationConfig(approved_ca_files=(str(approved),))
        sink.write(tls_event(2, [leaf, inter]))
    rows = {row["uid"]: row for row in read_log(tmp_path / "ssl.log")}
    assert rows[zeek_uid(1)]["validation_status"] == "unable to get local issuer certificate"
    assert rows[zeek_uid(2)]["validation_status"] == "ok"


def test_mapping_of_statuses_without_a_chain_verdict():
    assert validation_status(ValidationResult("error", "no parse"), [False]) is None
    # an untrusted chain that is complete and rooted in the store, rejected for its content
    assert validation_status(ValidationResult("untrusted", "bad signature"),
                             [False, False]) == "certificate rejected"
    assert validation_status(ValidationResult("no_sni", "ok"), [False, False]) == "ok"
