"""Chain validation (engine.validation) against a real local CA minted by
cryptography: root -> intermediate -> leaf, validated at packet time."""
import datetime as dt
import hashlib

import pytest
from cryptography import x509

from engine.errors import ConfigError
from engine.validation import (PIN_MATCH, PIN_MISMATCH, PIN_NOT_PINNED, ChainValidator,
                               hostname_matches, normalise_pins)
from tests.cert_factory import (INSIDE_LEAF_VALIDITY, UTC, mint, mint_intermediate,
                                mint_leaf, mint_root, name)


def us(when: dt.datetime) -> int:
    return int(when.timestamp()) * 1_000_000


INSIDE = us(INSIDE_LEAF_VALIDITY)


@pytest.fixture(scope="module")
def pki():
    root = mint_root()
    inter = mint_intermediate(root)
    leaf = mint_leaf(inter, "files.example.org", "www.example.org")
    return root, inter, leaf


@pytest.fixture()
def validator(pki):
    return ChainValidator([pki[0].cert])


def test_complete_chain_for_covered_name_is_valid(validator, pki):
    root, inter, leaf = pki
    result = validator.validate([leaf.der, inter.der], "files.example.org", INSIDE)
    assert result.status == "valid", result.reason
    assert result.trusted and not result.completed_from_cache and not result.approved_ca
    assert result.pin == PIN_NOT_PINNED
    assert "Test Root CA" in result.anchor


def test_chain_missing_its_intermediate_is_incomplete(validator, pki):
    _, _, leaf = pki
    result = validator.validate([leaf.der], "files.example.org", INSIDE)
    assert result.status == "incomplete_chain"
    assert "Test Issuing CA" in result.reason


def test_missing_intermediate_is_completed_from_cache_once_seen(validator, pki):
    _, inter, leaf = pki
    assert validator.validate([leaf.der], "files.example.org", INSIDE).status == "incomplete_chain"
    assert validator.validate([leaf.der, inter.der], "www.example.org", INSIDE).status == "valid"
    result = validator.validate([leaf.der], "files.example.org", INSIDE)
    assert result.status == "valid", result.reason
    assert result.completed_from_cache
    assert "cache" in result.reason
    assert validator.completed_from_cache == 1


def test_expired_leaf_at_packet_time_is_expired(validator, pki):
    _, inter, leaf = pki
    later = us(leaf.cert.not_valid_after_utc + dt.timedelta(days=1))
    result = validator.validate([leaf.der, inter.der], "files.example.org", later)
    assert result.status == "expired"
    assert "packet time" in result.reason


def test_same_chain_is_valid_when_the_packet_time_is_inside_the_validity(validator, pki):
    _, inter, leaf = pki
    # a replay today of a capture taken while the leaf was valid
    assert validator.validate([leaf.der, inter.der], "files.example.org", INSIDE).status == "valid"
    last_second = us(leaf.cert.not_valid_after_utc)
    assert validator.validate([leaf.der, inter.der], "files.example.org", last_second).status == "valid"


def test_result_cache_does_not_carry_valid_past_expiry_on_the_same_day(validator, pki):
    _, inter, leaf = pki
    expiry = leaf.cert.not_valid_after_utc
    before = us(expiry - dt.timedelta(seconds=10))
    after = us(expiry + dt.timedelta(seconds=10))
    assert validator.validate([leaf.der, inter.der], "files.example.org", before).status == "valid"
    assert validator.validate([leaf.der, inter.der], "files.example.org", after).status == "expired"


def test_leaf_before_its_not_before_is_not_yet_valid(validator, pki):
    _, inter, leaf = pki
    early = us(leaf.cert.not_valid_before_utc - dt.timedelta(days=1))
    assert validator.validate([leaf.der, inter.der], "files.example.org", early).status == "not_yet_valid"


def test_name_not_covered_by_the_certificate_is_name_mismatch(validator, pki):
    _, inter, leaf = pki
    result = validator.validate([leaf.der, inter.der], "exfil.attacker.test", INSIDE)
    assert result.status == "name_mismatch"
    assert "exfil.attacker.test" in result.reason and "files.example.org" in result.reason


def test_missing_sni_validates_the_chain_without_a_name(validator, pki):
    _, inter, leaf = pki
    result = validator.validate([leaf.der, inter.der], None, INSIDE)
    assert result.status == "no_sni" and result.trusted
    assert result.sni is None


def test_self_signed_leaf_is_self_signed(validator):
    leaf = mint(name(("CN", "files.example.org")), sans=[x509.DNSName("files.example.org")])
    result = validator.validate([leaf.der], "files.example.org", INSIDE)
    assert result.status == "self_signed"


def test_chain_to_an_unknown_root_is_untrusted(validator):
    other_root = mint_root("Private Root")
    inter = mint_intermediate(other_root, "Private Issuing CA")
    leaf = mint_leaf(inter, "files.example.org")
    result = validator.validate([leaf.der, inter.der, other_root.der], "files.example.org", INSIDE)
    assert result.status == "untrusted", result.reason
    assert not result.trusted


def test_chain_to_an_approved_ca_is_valid_and_says_so(pki):
    corporate = mint_root("Corp Internal Root")
    inter = mint_intermediate(corporate, "Corp Issuing CA")
    leaf = mint_leaf(inter, "backup.corp.test")
    validator = ChainValidator([pki[0].cert], approved_cas=[corporate.cert])
    result = validator.validate([leaf.der, inter.der], "backup.corp.test", INSIDE)
    assert result.status == "valid" and result.approved_ca
    public = validator.validate([pki[2].der, pki[1].der], "files.example.org", INSIDE)
    assert public.status == "valid" and not public.approved_ca


def test_pinned_domain_with_the_pinned_leaf_is_a_pin_match(pki):
    _, inter, leaf = pki
    pins = {"files.example.org": hashlib.sha256(leaf.der).hexdigest()}
    result = ChainValidator([pki[0].cert], pins=pins).validate(
        [leaf.der, inter.der], "files.example.org", INSIDE)
    assert result.pin == PIN_MATCH


def test_pinned_domain_with_another_valid_leaf_is_a_pin_mismatch(pki):
    _, inter, leaf = pki
    other = mint_leaf(inter, "files.example.org")
    pins = {"*.example.org": [hashlib.sha256(leaf.der).hexdigest()]}
    result = ChainValidator([pki[0].cert], pins=pins).validate(
        [other.der, inter.der], "files.example.org", INSIDE)
    assert result.status == "valid" and result.pin == PIN_MISMATCH


def test_unpinned_domain_is_not_pinned(pki):
    pins = {"bank.test": ["00" * 32]}
    result = ChainValidator([pki[0].cert], pins=pins).validate(
        [pki[2].der, pki[1].der], "files.example.org", INSIDE)
    assert result.pin == PIN_NOT_PINNED


@pytest.mark.parametrize("chain", [[b""], [b"\x30\x03\x02\x01\x00"], [b"garbage" * 50], []])
def test_garbage_der_is_an_error_status_not_an_exception(validator, chain):
    result = validator.validate(chain, "files.example.org", INSIDE)
    assert result.status == "error"
    assert result.reason


def test_garbage_intermediate_is_ignored(validator, pki):
    _, inter, leaf = pki
    result = validator.validate([leaf.der, b"\x00junk", inter.der], "files.example.org", INSIDE)
    assert result.status == "valid"


def test_result_cache_is_bounded(pki):
    validator = ChainValidator([pki[0].cert], max_results=2)
    for i in range(5):
        validator.validate([pki[2].der, pki[1].der], f"n{i}.example.org", INSIDE)
    assert len(validator._results) == 2 and validator.result_evictions == 3


def test_repeated_chain_hits_the_result_cache(validator, pki):
    for _ in range(3):
        validator.validate([pki[2].der, pki[1].der], "files.example.org", INSIDE)
    assert validator.result_misses == 1 and validator.result_hits == 2


def test_intermediate_cache_is_bounded_by_subjects(pki):
    root = pki[0]
    validator = ChainValidator([root.cert], max_intermediate_subjects=2)
    for i in range(4):
        inter = mint_intermediate(root, f"Issuing CA {i}")
        leaf = mint_leaf(inter, "files.example.org")
        assert validator.validate([leaf.der, inter.der], "files.example.org", INSIDE).status == "valid"
    assert validator.intermediate_count == 2 and validator.intermediate_evictions == 2


def test_default_trust_store_is_mozillas_and_rejects_a_private_root(pki):
    result = ChainValidator().validate([pki[2].der, pki[1].der], "files.example.org", INSIDE)
    assert result.status == "untrusted"  # complete up to a root Mozilla does not know
    assert "Test Root CA" in result.reason and "trust store" in result.reason


def test_real_public_chain_from_the_corpus_validates_against_mozilla_roots():
    import base64
    import json
    from tests.corpus import corpus_dir
    path = corpus_dir() / "reference" / "suricata" / "ja4__browsers-x509.pcapng.eve.jsonl"
    events = [json.loads(line) for line in path.open()]
    tls = next(e for e in events if e["event_type"] == "tls" and e["tls"].get("chain")
               and e["tls"].get("sni") == "edge.microsoft.com")
    chain = [base64.b64decode(c) for c in tls["tls"]["chain"]]
    when = dt.datetime.fromisoformat(tls["timestamp"].replace("+0000", "+00:00"))
    result = ChainValidator().validate(chain, "edge.microsoft.com", us(when))
    assert result.status == "valid", result.reason
    later = ChainValidator().validate(chain, "edge.microsoft.com", us(dt.datetime(2030, 1, 1, tzinfo=UTC)))
    assert later.status == "expired"


def test_ca_bundle_file_replaces_the_roots_and_approved_ca_files_add_anchors(tmp_path, pki):
    from cryptography.hazmat.primitives.serialization import Encoding
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(pki[0].cert.public_bytes(Encoding.PEM))
    validator = ChainValidator.from_files(ca_bundle=str(bundle), approved_ca_files=[str(bundle)])
    result = validator.validate([pki[2].der, pki[1].der], "files.example.org", INSIDE)
    assert result.status == "valid" and result.approved_ca


def test_unreadable_ca_bundle_is_a_config_error_naming_the_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.pem"):
        ChainValidator.from_files(ca_bundle=str(tmp_path / "nope.pem"))
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match="bad.pem"):
        ChainValidator.from_files(approved_ca_files=[str(bad)])


def test_pin_that_is_not_a_sha256_is_a_config_error():
    with pytest.raises(ConfigError, match="SHA-256"):
        normalise_pins({"bank.test": "abc"})


@pytest.mark.parametrize("host,expected", [
    ("files.example.org", True), ("FILES.example.org.", True), ("a.b.example.org", False),
    ("example.org", False), ("x.example.org", True), ("10.0.0.1", True), ("10.0.0.2", False),
])
def test_hostname_matching_follows_rfc_6125(host, expected):
    assert hostname_matches(("files.example.org", "*.example.org"), ("10.0.0.1",), "ignored", host) is expected


def test_common_name_counts_only_without_any_san():
    assert hostname_matches((), (), "legacy.test", "legacy.test")
    assert not hostname_matches(("other.test",), (), "legacy.test", "legacy.test")


def test_self_signed_server_certificate_approved_by_the_organisation_is_valid():
    cert = mint(name(("O", "Corp"), ("CN", "backup.corp.test")),
                sans=[x509.DNSName("backup.corp.test")], key_ids=True)
    result = ChainValidator([], approved_cas=[cert.cert]).validate([cert.der], "backup.corp.test", INSIDE)
    assert result.status == "valid" and result.approved_ca


def test_validation_config_from_table_builds_a_validator(tmp_path, pki):
    from cryptography.hazmat.primitives.serialization import Encoding
    from engine.validation import ValidationConfig
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(pki[0].cert.public_bytes(Encoding.PEM))
    digest = hashlib.sha256(pki[2].der).hexdigest()
    cfg = ValidationConfig.from_table({"ca_bundle": str(bundle), "pins": {"Files.Example.org": [digest]},
                                       "max_results": 10})
    result = ChainValidator.from_config(cfg).validate([pki[2].der, pki[1].der], "files.example.org", INSIDE)
    assert result.status == "valid" and result.pin == PIN_MATCH


@pytest.mark.parametrize("table,words", [
    ({"ca_bundel": "x"}, "'validation.ca_bundel' is not known"),
    ({"max_results": 0}, "'validation.max_results' must be an integer from 1"),
    ({"approved_ca_files": "a.pem"}, "'validation.approved_ca_files' must be a list of file paths"),
    ({"pins": {"a.test": ["xyz"]}}, "'validation.pins': The pin 'xyz'"),
])
def test_validation_config_errors_name_the_key(table, words):
    from engine.validation import ValidationConfig
    with pytest.raises(ConfigError) as err:
        ValidationConfig.from_table(table)
    assert words in str(err.value)


def test_every_corpus_chain_validates_and_scores_without_raising():
    import base64
    import json
    from engine.certs import CertCache
    from engine.scoring import CertContext, score_certificate
    from engine.validation import STATUSES
    from tests.corpus import corpus_dir
    validator, cache, seen = ChainValidator(), CertCache(), 0
    for path in sorted((corpus_dir() / "reference" / "suricata").glob("*.eve.jsonl")):
        for line in path.open(encoding="utf-8"):
            event = json.loads(line)
            if event["event_type"] != "tls" or not event["tls"].get("chain"):
                continue
            chain = [base64.b64decode(c) for c in event["tls"]["chain"]]
            when = dt.datetime.strptime(event["timestamp"][:26], "%Y-%m-%dT%H:%M:%S.%f")
            at_us = us(when.replace(tzinfo=UTC))
            sni = event["tls"].get("sni")
            result = validator.validate(chain, sni, at_us)
            assert result.status in STATUSES and result.status != "error", result.reason
            scored = score_certificate(cache.get(chain[0]), result, CertContext(sni=sni, at_us=at_us))
            assert 0 <= scored.score <= 100
            seen += 1
    assert seen >= 50
