"""Certificate anomaly score (engine.scoring): one test per reason, each with
a certificate minted here, plus the clean CA-signed baseline and the
configuration checks."""
import datetime as dt
import hashlib

import pytest
from cryptography import x509

from engine.certs import parse_certificate
from engine.errors import ConfigError
from engine.scoring import (DEFAULT_CERT_SCORING, REASON_IDS, CertContext, CertScoringConfig,
                            score_certificate)
from engine.validation import ChainValidator
from tests.cert_factory import (INSIDE_LEAF_VALIDITY, UTC, mint, mint_intermediate, mint_leaf,
                                mint_root, mint_v1, name, new_key, with_signature_hash)

HOST = "files.northwind-traders.net"
AT_US = int(INSIDE_LEAF_VALIDITY.timestamp()) * 1_000_000
CFG = DEFAULT_CERT_SCORING


@pytest.fixture(scope="module")
def pki():
    root = mint_root()
    return root, mint_intermediate(root)


@pytest.fixture(scope="module")
def validator(pki):
    return ChainValidator([pki[0].cert])


def score(der, validator=None, chain=(), sni=HOST, at_us=AT_US, config=CFG, **context):
    info = parse_certificate(der)
    validation = validator.validate([der, *chain], sni, at_us) if validator else None
    return score_certificate(info, validation, CertContext(sni=sni, at_us=at_us, **context), config)


def assert_reason(result, reason_id, points):
    assert result.points_for(reason_id) == points, (reason_id, result.reasons)


def leaf(pki, *names, **kw):
    return mint_leaf(pki[1], *(names or (HOST,)), **kw)


# --- the baseline ----------------------------------------------------------------

def test_clean_ca_signed_leaf_scores_zero(pki, validator):
    result = score(leaf(pki).der, validator, chain=[pki[1].der])
    assert result.score == 0 and result.reasons == ()


# --- trust -----------------------------------------------------------------------

def test_self_signed_certificate_gives_self_signed(validator):
    cert = mint(name(("O", "Files Ltd"), ("CN", HOST)), sans=[x509.DNSName(HOST)],
                not_after=dt.datetime(2024, 12, 1, tzinfo=UTC))
    result = score(cert.der, validator)
    assert_reason(result, "self_signed", CFG.self_signed_points)
    assert result.points_for("untrusted_chain") is None


def test_self_signed_without_validation_still_gives_self_signed():
    cert = mint(name(("O", "Files Ltd"), ("CN", HOST)), sans=[x509.DNSName(HOST)])
    assert_reason(score(cert.der), "self_signed", CFG.self_signed_points)


def test_chain_to_an_unknown_root_gives_untrusted_chain(validator):
    private = mint_root("Private Root")
    inter = mint_intermediate(private, "Private Issuing CA")
    cert = mint_leaf(inter, HOST)
    result = score(cert.der, validator, chain=[inter.der, private.der])
    assert_reason(result, "untrusted_chain", CFG.untrusted_chain_points)


def test_chain_without_its_intermediate_gives_incomplete_chain(pki):
    result = score(leaf(pki).der, ChainValidator([pki[0].cert]))
    assert_reason(result, "incomplete_chain", CFG.incomplete_chain_points)


def test_clean_leaf_has_no_trust_reason(pki, validator):
    result = score(leaf(pki).der, validator, chain=[pki[1].der])
    assert not {"self_signed", "untrusted_chain", "incomplete_chain"} & set(result.reason_ids)


# --- validity --------------------------------------------------------------------

def test_leaf_expired_at_packet_time_gives_expired(pki, validator):
    cert = leaf(pki)
    later = int((cert.cert.not_valid_after_utc + dt.timedelta(days=3)).timestamp()) * 1_000_000
    result = score(cert.der, validator, chain=[pki[1].der], at_us=later)
    assert_reason(result, "expired", CFG.expired_points)
    assert score(cert.der, validator, chain=[pki[1].der]).points_for("expired") is None


def test_leaf_before_its_validity_gives_not_yet_valid(pki, validator):
    cert = leaf(pki)
    early = int((cert.cert.not_valid_before_utc - dt.timedelta(days=3)).timestamp()) * 1_000_000
    result = score(cert.der, validator, chain=[pki[1].der], at_us=early)
    assert_reason(result, "not_yet_valid", CFG.not_yet_valid_points)


def test_ten_year_leaf_gives_validity_too_long(pki):
    cert = leaf(pki, not_after=dt.datetime(2034, 6, 1, tzinfo=UTC))
    assert_reason(score(cert.der), "validity_too_long", CFG.validity_too_long_points)


def test_leaf_of_398_days_is_not_too_long(pki):
    start = dt.datetime(2024, 6, 1, tzinfo=UTC)
    cert = leaf(pki, not_before=start, not_after=start + dt.timedelta(days=398))
    assert score(cert.der).points_for("validity_too_long") is None


def test_one_hour_leaf_gives_validity_too_short(pki):
    start = INSIDE_LEAF_VALIDITY - dt.timedelta(minutes=30)
    cert = leaf(pki, not_before=start, not_after=start + dt.timedelta(hours=1))
    assert_reason(score(cert.der), "validity_too_short", CFG.validity_too_short_points)


def test_short_validity_threshold_is_tunable(pki):
    start = INSIDE_LEAF_VALIDITY - dt.timedelta(days=1)
    cert = leaf(pki, not_before=start, not_after=start + dt.timedelta(days=5))
    assert score(cert.der).points_for("validity_too_short") is None
    tuned = CertScoringConfig.from_table({"validity_short_days": 7})
    assert_reason(score(cert.der, config=tuned), "validity_too_short", CFG.validity_too_short_points)


# --- names -----------------------------------------------------------------------

def test_sni_outside_the_certificate_names_gives_sni_not_covered(pki, validator):
    result = score(leaf(pki).der, validator, chain=[pki[1].der], sni="upload.attacker.test")
    assert_reason(result, "sni_not_covered", CFG.sni_not_covered_points)


def test_wildcard_covering_the_sni_is_not_sni_not_covered(pki):
    result = score(leaf(pki, "*.northwind-traders.net").der)
    assert result.points_for("sni_not_covered") is None


def test_missing_sni_gives_no_sni(pki, validator):
    result = score(leaf(pki).der, validator, chain=[pki[1].der], sni=None)
    assert_reason(result, "no_sni", CFG.no_sni_points)
    assert result.points_for("sni_not_covered") is None


def test_ip_address_in_san_gives_ip_address_name(pki):
    import ipaddress
    cert = leaf(pki, sans=[x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("203.0.113.9"))])
    assert_reason(score(cert.der), "ip_address_name", CFG.ip_address_name_points)


def test_ip_address_as_cn_gives_ip_address_name(pki):
    cert = leaf(pki, subject=name(("O", "Files Ltd"), ("CN", "203.0.113.9")))
    assert_reason(score(cert.der, sni=None), "ip_address_name", CFG.ip_address_name_points)


@pytest.mark.parametrize("attr,value", [
    ("O", "Internet Widgits Pty Ltd"), ("O", "Default Company Ltd"), ("CN", "localhost"),
    ("CN", "www.example.com"), ("ST", "Some-State"),
])
def test_openssl_default_and_reserved_names_give_placeholder_name(pki, attr, value):
    subject = name(("C", "AU"), ("O", "Files Ltd"), (attr, value)) if attr != "O" else \
        name(("C", "AU"), ("O", value), ("CN", HOST))
    result = score(leaf(pki, subject=subject).der)
    assert_reason(result, "placeholder_name", CFG.placeholder_name_points)
    assert value in result.reasons[[r.reason_id for r in result.reasons].index("placeholder_name")].detail


def test_one_character_subject_value_gives_single_character_field(pki):
    cert = leaf(pki, subject=name(("C", "GB"), ("O", "a"), ("CN", HOST)))
    assert_reason(score(cert.der), "single_character_field", CFG.single_character_field_points)


def test_subject_without_o_gives_missing_organisation(pki):
    cert = leaf(pki, subject=name(("CN", HOST)))
    assert_reason(score(cert.der), "missing_organisation", CFG.missing_organisation_points)


@pytest.mark.parametrize("cn", ["KbGtHzeUqxWp", "xk3j9fq2lmz8.com", "lwzqkrtvnmpx.net"])
def test_random_looking_cn_gives_high_entropy_cn(pki, cn):
    cert = leaf(pki, cn, subject=name(("O", "Files Ltd"), ("CN", cn)))
    assert_reason(score(cert.der, sni=cn), "high_entropy_cn", CFG.high_entropy_cn_points)


@pytest.mark.parametrize("cn", ["authentication.microsoft.com", "googleusercontent.com",
                                "sslvpn-gateway01.corp.net", HOST])
def test_ordinary_hostnames_are_not_high_entropy(pki, cn):
    cert = leaf(pki, cn, subject=name(("O", "Files Ltd"), ("CN", cn)))
    assert score(cert.der, sni=cn).points_for("high_entropy_cn") is None


# --- crypto strength -------------------------------------------------------------

@pytest.mark.parametrize("key", [lambda: new_key("rsa", 1024), lambda: new_key("dsa", 1024)],
                         ids=["rsa1024", "dsa1024"])
def test_rsa_or_dsa_under_2048_bits_gives_weak_key(pki, key):
    assert_reason(score(leaf(pki, key=key()).der), "weak_key", CFG.weak_key_points)


def test_ec_under_256_bits_gives_weak_key(pki):
    from cryptography.hazmat.primitives.asymmetric import ec
    cert = leaf(pki, key=ec.generate_private_key(ec.SECP224R1()))
    assert_reason(score(cert.der), "weak_key", CFG.weak_key_points)


def test_p256_and_rsa2048_are_not_weak(pki):
    assert score(leaf(pki).der).points_for("weak_key") is None
    assert score(leaf(pki, key=new_key("rsa")).der).points_for("weak_key") is None


@pytest.mark.parametrize("hash_name", ["md5", "sha1"])
def test_md5_or_sha1_signature_gives_weak_signature_hash(pki, hash_name):
    cert = mint_leaf(mint_intermediate(pki[0], key=new_key("rsa")), HOST)
    der = with_signature_hash(cert.der, hash_name)
    assert_reason(score(der), "weak_signature_hash", CFG.weak_signature_points)


# --- structure -------------------------------------------------------------------

def test_ca_flag_on_the_served_certificate_gives_ca_flag_on_leaf(pki):
    cert = mint(name(("O", "Files Ltd"), ("CN", HOST)), issuer=pki[1], sans=[x509.DNSName(HOST)],
                ca=(True, None))
    assert_reason(score(cert.der), "ca_flag_on_leaf", CFG.ca_flag_on_leaf_points)


def test_version_1_certificate_gives_x509_v1():
    result = score(mint_v1(HOST))
    assert_reason(result, "x509_v1", CFG.x509_v1_points)


def test_certificate_without_san_gives_missing_san(pki):
    assert_reason(score(leaf(pki, sans=[]).der), "missing_san", CFG.missing_san_points)


def test_garbage_certificate_gives_unparseable_and_nothing_else():
    result = score(b"\x30\x03\x02\x01\x00")
    assert result.reason_ids == ("unparseable",)
    assert_reason(result, "unparseable", CFG.unparseable_points)


# --- tool defaults ---------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Attribute.s length:UserWarning")
def test_cobalt_strike_default_serial_gives_tool_default_certificate():
    earth = x509.NameAttribute(x509.NameOID.COUNTRY_NAME, "Earth", _validate=False)  # as shipped
    cert = mint(name(earth, ("ST", "Cyberspace"), ("L", "Somewhere"), ("O", "cobaltstrike"),
                     ("OU", "AdvancedPenTesting"), ("CN", "Major Cobalt Strike")),
                serial=0x8BB00EE, key=new_key("rsa"))
    result = score(cert.der)
    assert_reason(result, "tool_default_certificate", CFG.tool_default_points)
    assert "Cobalt Strike" in result.reasons[result.reason_ids.index("tool_default_certificate")].detail


def test_serial_match_alone_gives_tool_default_certificate(pki):
    assert_reason(score(leaf(pki, serial=0x8BB00EE).der), "tool_default_certificate", CFG.tool_default_points)


def test_poshc2_default_subject_gives_tool_default_certificate(pki):
    subject = name(("C", "US"), ("ST", "Minnesota"), ("L", "Minnetonka"), ("O", "Pajfds"),
                   ("OU", "Jethpro"), ("CN", "P18055077"))
    assert_reason(score(leaf(pki, subject=subject).der), "tool_default_certificate", CFG.tool_default_points)


def test_configured_sha256_gives_tool_default_certificate(pki):
    cert = leaf(pki)
    tuned = CertScoringConfig.from_table(
        {"tool_default_sha256": {hashlib.sha256(cert.der).hexdigest(): "Lab implant"}})
    assert_reason(score(cert.der, config=tuned), "tool_default_certificate", CFG.tool_default_points)


# --- organisation ----------------------------------------------------------------

def test_certificate_new_to_the_organisation_gives_first_seen_in_org(pki):
    result = score(leaf(pki).der, first_seen_in_org=True)
    assert_reason(result, "first_seen_in_org", CFG.first_seen_points)
    assert score(leaf(pki).der).points_for("first_seen_in_org") is None


def test_one_certificate_for_unrelated_snis_gives_shared_across_unrelated_snis(pki):
    result = score(leaf(pki).der, sni="cdn-update.biz",
                   snis_seen=frozenset({"login.contoso.co.uk", "api.fabrikam.io"}))
    assert_reason(result, "shared_across_unrelated_snis", CFG.shared_across_snis_points)


def test_snis_the_certificate_covers_are_not_unrelated(pki):
    cert = leaf(pki, HOST, "*.northwind-traders.net", "northwind.co.uk")
    result = score(cert.der, snis_seen=frozenset({"a.northwind-traders.net", "northwind.co.uk"}))
    assert result.points_for("shared_across_unrelated_snis") is None


def test_pinned_domain_served_another_leaf_gives_pin_mismatch(pki):
    pinned = leaf(pki)
    other = leaf(pki)
    validator = ChainValidator([pki[0].cert], pins={HOST: hashlib.sha256(pinned.der).hexdigest()})
    result = score(other.der, validator, chain=[pki[1].der])
    assert_reason(result, "pin_mismatch", CFG.pin_mismatch_points)
    assert score(pinned.der, validator, chain=[pki[1].der]).score == 0


# --- the sum and the config ------------------------------------------------------

def test_score_is_capped_at_100():
    cert = mint(name(("C", "AU"), ("ST", "Some-State"), ("O", "Internet Widgits Pty Ltd"),
                     ("CN", "203.0.113.9")), serial=0x8BB00EE, ca=(True, None), key=new_key("rsa", 1024))
    result = score(cert.der, sni=None, first_seen_in_org=True)
    assert sum(r.points for r in result.reasons) > 100 and result.score == 100


def test_reason_with_zero_points_is_left_out(pki):
    tuned = CertScoringConfig.from_table({"missing_organisation_points": 0})
    cert = leaf(pki, subject=name(("CN", HOST)))
    assert score(cert.der, config=tuned).points_for("missing_organisation") is None


def test_every_reason_id_is_documented_in_the_package():
    assert len(REASON_IDS) == len(set(REASON_IDS)) == 24


def test_unknown_config_key_names_the_full_key():
    with pytest.raises(ConfigError, match=r"'scoring\.certificates\.weak_kye_points' is not known"):
        CertScoringConfig.from_table({"weak_kye_points": 5})


def test_wrong_type_config_value_names_the_key_and_the_range():
    with pytest.raises(ConfigError) as err:
        CertScoringConfig.from_table({"weak_key_points": "x"})
    assert str(err.value) == ("Configuration key 'scoring.certificates.weak_key_points' must be an "
                              "integer from 0 to 100, not 'x'.")


@pytest.mark.parametrize("key,value,words", [
    ("self_signed_points", 101, "integer from 0 to 100, not 101"),
    ("self_signed_points", True, "integer from 0 to 100, not True"),
    ("validity_short_days", -1, "number from 0.0 to 365.0, not -1"),
    ("placeholder_names", "localhost", "list of strings"),
    ("tool_default_serials", {"8BB00EE": 5}, "table of strings"),
])
def test_out_of_range_config_values_name_the_key(key, value, words):
    with pytest.raises(ConfigError) as err:
        CertScoringConfig.from_table({key: value}, where="profile.scoring.certificates")
    assert f"'profile.scoring.certificates.{key}'" in str(err.value) and words in str(err.value)


def test_config_table_overrides_defaults_and_documents_every_key():
    cfg = CertScoringConfig.from_table({"self_signed_points": 40, "rsa_min_bits": 3072})
    assert cfg.self_signed_points == 40 and cfg.rsa_min_bits == 3072 and cfg.x509_v1_points == 15
    docs = CertScoringConfig.documentation()
    assert all(text for _, _, text in docs) and len(docs) > 30


# --- the EVE x509 record of a scored certificate (engine.sinks.eve_x509) ----------

def test_x509_event_carries_fields_validation_and_reasons(pki, validator):
    import json
    from types import SimpleNamespace
    from engine.sinks.eve_x509 import x509_event
    cert = leaf(pki)
    info = parse_certificate(cert.der)
    validation = validator.validate([cert.der, pki[1].der], HOST, AT_US)
    scored = score_certificate(info, validation, CertContext(sni=HOST, at_us=AT_US, first_seen_in_org=True))
    record = SimpleNamespace(flow_id=42, src_ip="10.1.1.5", src_port=51000, dest_ip="198.51.100.7",
                             dest_port=8443, proto=6, vlan=(), at_us=AT_US)
    event = json.loads(json.dumps(x509_event(info, validation, scored, AT_US - 10**6, record,
                                             ja4x="a_b_c")))
    assert event["event_type"] == "x509" and event["flow_id"] == 42 and event["proto"] == "TCP"
    assert event["timestamp"] == "2024-07-01T00:00:00.000000+00:00"
    x = event["x509"]
    assert x["subject"] == info.subject and x["serial"] == info.serial and x["version"] == 3
    assert x["san"] == {"dns": [HOST]} and x["key"] == {"type": "EC", "bits": 256, "curve": "secp256r1"}
    assert x["basic_constraints"] == {"ca": False, "path_length": None}
    assert x["is_self_signed"] is False and x["ja4x"] == "a_b_c" and x["sni"] == HOST
    assert x["validation"]["status"] == "valid" and x["validation"]["pin"] == "not_pinned"
    assert x["score"] == CFG.first_seen_points
    assert x["reasons"] == [{"id": "first_seen_in_org", "points": CFG.first_seen_points,
                             "detail": scored.reasons[0].detail}]
    assert x["first_seen"] == "2024-06-30T23:59:59.000000+00:00"


def test_x509_event_of_an_unparseable_certificate_has_only_hashes_and_the_error():
    from engine.sinks.eve_x509 import x509_event
    info = parse_certificate(b"junk")
    event = x509_event(info, None, score_certificate(info), None,
                       {"flow_id": 1, "src_ip": "10.0.0.1", "dest_ip": "10.0.0.2", "proto": 17,
                        "src_port": 1, "dest_port": 443, "at_us": AT_US})
    x = event["x509"]
    assert "subject" not in x and "validation" not in x and x["parse_error"]
    assert x["reasons"][0]["id"] == "unparseable" and event["proto"] == "UDP"
