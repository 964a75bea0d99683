"""engine.certs: parse once, format like Suricata 7, never raise on bad input."""
import base64
import datetime as dt
import hashlib
import ipaddress
import json
from collections import Counter

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from engine.certs import (CertCache, CertInfo, chain_base64, format_serial, format_time,
                          parse_certificate)
from tests.cert_factory import NOT_AFTER, NOT_BEFORE, UTC, mint, mint_v1, name, new_key
from tests.corpus import corpus_dir

# ---------------------------------------------------------------- minted certificates


@pytest.fixture(scope="module")
def chain():
    """root CA -> intermediate CA -> RSA leaf with SANs of every type."""
    root = mint(name(("C", "US"), ("O", "Example Trust"), ("CN", "Example Root")),
                key=new_key("p384"), serial=1, ca=(True, None),
                key_usage={"key_cert_sign": True, "crl_sign": True})
    inter = mint(name(("C", "US"), ("O", "Example Trust"), ("CN", "Example Issuing CA 1")),
                 key=new_key("p256"), issuer=root, serial=2, ca=(True, 0),
                 key_usage={"key_cert_sign": True, "crl_sign": True})
    leaf = mint(name(("C", "US"), ("ST", "California"), ("L", "San Francisco"),
                     ("O", "GitHub, Inc."), ("CN", "www.example.com")),
                key=new_key("rsa"), issuer=inter, serial=0x00BB2A80CC14,
                sans=[x509.DNSName("www.example.com"), x509.DNSName("*.example.org"),
                      x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
                      x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
                      x509.UniformResourceIdentifier("https://example.com/x"),
                      x509.RFC822Name("ops@example.com")],
                ca=(False, None),
                key_usage={"digital_signature": True, "key_encipherment": True},
                eku=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    return root, inter, leaf


def test_ca_signed_leaf_has_every_field(chain):
    _, inter, leaf = chain
    info = parse_certificate(leaf.der)
    assert info.parse_error is None and info.anomalies == ()
    assert info.sha256 == hashlib.sha256(leaf.der).hexdigest()
    assert info.sha1_fingerprint == ":".join(f"{b:02x}" for b in hashlib.sha1(leaf.der).digest())
    assert info.der_len == len(leaf.der)
    # RDNs in certificate order, ", " between them, no escaping of the comma in O.
    assert info.subject == "C=US, ST=California, L=San Francisco, O=GitHub, Inc., CN=www.example.com"
    assert info.issuerdn == "C=US, O=Example Trust, CN=Example Issuing CA 1"
    assert info.issuerdn == parse_certificate(inter.der).subject
    assert info.serial == "00:BB:2A:80:CC:14"  # 0xBB has the sign bit set: DER adds 00
    assert info.notbefore == "2024-01-02T03:04:05" and info.notafter == "2034-01-02T03:04:05"
    assert info.not_before == NOT_BEFORE and info.not_after == NOT_AFTER
    assert info.not_before.tzinfo is not None
    assert info.version == 3
    assert info.san_dns == ("www.example.com", "*.example.org")
    assert info.san_ip == ("192.0.2.7", "2001:db8::1")
    assert info.san_uri == ("https://example.com/x",)
    assert info.san_email == ("ops@example.com",)
    assert (info.key_type, info.key_bits, info.key_curve) == ("RSA", 2048, None)
    assert info.signature_algorithm == "ecdsa-with-SHA256"  # signed by the P-256 intermediate
    assert info.signature_hash == "sha256"
    assert (info.is_ca, info.path_length) == (False, None)
    assert info.key_usage == ("digitalSignature", "keyEncipherment")
    assert info.extended_key_usage == ("serverAuth", "clientAuth")
    assert info.extension_oids == ("2.5.29.17", "2.5.29.19", "2.5.29.15", "2.5.29.37")
    assert info.is_self_signed is False


def test_ca_certificates_carry_basic_constraints_and_curve(chain):
    root, inter, _ = chain
    r, i = parse_certificate(root.der), parse_certificate(inter.der)
    assert (r.is_ca, r.path_length, r.is_self_signed) == (True, None, True)
    assert (i.is_ca, i.path_length, i.is_self_signed) == (True, 0, False)
    assert (r.key_type, r.key_bits, r.key_curve) == ("EC", 384, "secp384r1")
    assert (i.key_type, i.key_bits, i.key_curve) == ("EC", 256, "secp256r1")
    assert r.signature_algorithm == "ecdsa-with-SHA256"
    assert r.key_usage == ("keyCertSign", "cRLSign")
    assert r.san_dns == () and r.extended_key_usage == ()


def test_self_signed_ed25519_has_no_signature_hash():
    m = mint(name(("CN", "ed")), key=new_key("ed25519"))
    info = parse_certificate(m.der)
    assert (info.key_type, info.key_bits) == ("Ed25519", 256)
    assert info.signature_algorithm == "ed25519"
    assert info.signature_hash is None
    assert info.is_self_signed is True
    assert (info.is_ca, info.path_length, info.extension_oids) == (None, None, ())


def test_self_signed_rsa_certificate_verifies_with_its_own_key():
    info = parse_certificate(mint(name(("CN", "exfil.example")), key=new_key("rsa")).der)
    assert info.is_self_signed is True
    assert info.signature_algorithm == "sha256WithRSAEncryption"


def test_issuer_equal_to_subject_but_signed_by_another_key_is_not_self_signed():
    forged = mint(name(("CN", "looks-self-signed")), signing_key=new_key("p256"))
    info = parse_certificate(forged.der)
    assert info.issuerdn == info.subject
    assert info.is_self_signed is False


def test_version_1_certificate_has_no_extensions():
    info = parse_certificate(mint_v1("v1.example"))
    assert info.parse_error is None
    assert info.version == 1
    assert info.subject == info.issuerdn == "CN=v1.example"
    assert info.extension_oids == () and info.is_ca is None
    assert info.is_self_signed is True


def test_expired_certificate_is_parsed_as_is():
    # Validity judgement is the validation layer's job; here only the dates.
    m = mint(name(("CN", "old")), not_before=dt.datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC),
             not_after=dt.datetime(2002, 2, 3, 4, 5, 6, tzinfo=UTC))
    info = parse_certificate(m.der)
    assert (info.notbefore, info.notafter) == ("2001-02-03T04:05:06", "2002-02-03T04:05:06")
    assert info.not_after < dt.datetime.now(UTC)


def test_utctime_1950_and_generalized_time_after_2049_are_formatted():
    # cryptography mints nothing before 1950; the corpus has a 1969 notBefore.
    m = mint(name(("CN", "t")), not_before=dt.datetime(1950, 1, 1, tzinfo=UTC),
             not_after=dt.datetime(2051, 1, 1, 23, 59, 59, tzinfo=UTC))
    info = parse_certificate(m.der)
    assert (info.notbefore, info.notafter) == ("1950-01-01T00:00:00", "2051-01-01T23:59:59")


def test_name_with_multi_valued_rdn_joins_attributes_with_plus():
    rdn = x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Ops"),
                                          x509.NameAttribute(NameOID.COMMON_NAME, "host")])
    info = parse_certificate(mint(name(("C", "DE"), rdn)).der)
    # Encoded order, which DER sorts by whole encoding: the OU SEQUENCE is
    # one octet shorter, so it comes first whatever order the builder got.
    assert info.subject == "C=DE, OU=Ops + CN=host"


def test_name_attribute_names_follow_x509_parser():
    subject = name(("DC", "com"), ("DC", "example"), ("Email", "a@example.com"),
                   ("serialNumber", "5157550"),
                   x509.NameAttribute(NameOID.BUSINESS_CATEGORY, "Private Organization"),
                   x509.NameAttribute(NameOID.JURISDICTION_COUNTRY_NAME, "US"),
                   x509.NameAttribute(NameOID.POSTAL_CODE, "94107"),
                   x509.NameAttribute(NameOID.STREET_ADDRESS, ""),
                   x509.NameAttribute(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), "x"))
    info = parse_certificate(mint(subject).der)
    assert info.subject == ("DC=com, DC=example, Email=a@example.com, serialNumber=5157550, "
                            "businessCategory=Private Organization, msJurisdictionCountry=US, "
                            "postalCode=94107, streetAddress=, OID(1.3.6.1.4.1.99999.1)=x")


def test_name_values_are_not_escaped():
    info = parse_certificate(mint(name(("O", "A, B + C = \"D\" <E>"), ("CN", "#x"))).der)
    assert info.subject == 'O=A, B + C = "D" <E>, CN=#x'


def test_bmpstring_value_is_decoded_as_text():
    # Deliberate difference from Suricata 7 (see test_suricata_conformance).
    cn = x509.NameAttribute(NameOID.COMMON_NAME, "Ünïcødé", _type=_ASN1Type.BMPString)
    assert parse_certificate(mint(name(cn)).der).subject == "CN=Ünïcødé"


def test_empty_issuer_name_is_an_empty_string():
    m = mint(x509.Name([]), issuer=None)
    info = parse_certificate(m.der)
    assert info.subject == "" and info.issuerdn == ""


@pytest.mark.parametrize("serial, text", [
    (0x55, "55"), (0x80, "00:80"), (0, "00"), (0xBB2A80CC14FCDDBC, "00:BB:2A:80:CC:14:FC:DD:BC"),
    (0x1000_43, "10:00:43"), (-1, "FF"), (-128, "80"), (-129, "FF:7F")])
def test_serial_is_der_integer_content_octets(serial, text):
    assert format_serial(serial) == text


def test_minted_serial_with_high_bit_keeps_leading_zero_octet():
    info = parse_certificate(mint(name(("CN", "s")), serial=0x97E647098EEAC9B4).der)
    assert info.serial == "00:97:E6:47:09:8E:EA:C9:B4"


def test_format_time_pads_small_years():
    assert format_time(dt.datetime(999, 1, 2, 3, 4, 5)) == "0999-01-02T03:04:05"


def test_chain_base64_is_standard_padded_base64(chain):
    ders = [m.der for m in chain]
    encoded = chain_base64(ders)
    assert [base64.b64decode(e, validate=True) for e in encoded] == ders
    assert chain_base64([b"\xfb\xff"]) == ["+/8="]
    assert chain_base64([]) == []


# ---------------------------------------------------------------- malformed input


@pytest.mark.parametrize("der", [b"", b"\x00", b"\x30", b"\x30\x82\xff\xff", b"not a certificate",
                                 bytes(range(256)), b"\x30\x03\x02\x01\x00"])
def test_garbage_der_gives_parse_error_and_only_hashes(der):
    info = parse_certificate(der)
    assert info.parse_error
    assert info.sha256 == hashlib.sha256(der).hexdigest()
    assert info.sha1_fingerprint == ":".join(f"{b:02x}" for b in hashlib.sha1(der).digest())
    assert info.subject is None and info.serial is None and info.notbefore is None
    assert info.version is None and info.key_type is None and info.is_self_signed is False


def test_truncated_certificate_at_every_length_never_raises(chain):
    der = chain[2].der
    cache = CertCache()
    for cut in range(len(der)):
        assert cache.get(der[:cut]).parse_error, cut


def test_certificate_with_trailing_bytes_is_a_parse_error(chain):
    # cryptography requires exactly one DER certificate; Suricata's parser
    # ignores what follows. A TLS Certificate message frames each DER with its
    # own length, so trailing bytes only appear in crafted traffic.
    assert parse_certificate(chain[2].der + b"\x00").parse_error


def test_single_bit_flips_never_raise(chain):
    der = bytearray(chain[2].der)
    for pos in range(0, len(der), 7):
        flipped = bytearray(der)
        flipped[pos] ^= 0x01
        info = parse_certificate(bytes(flipped))
        assert isinstance(info, CertInfo)


def test_version_2_certificate_is_a_parse_error():
    # cryptography refuses X.509 v2 at load time (InvalidVersion); Suricata
    # would log it. v2 (unique identifiers, no extensions) is unused in TLS.
    der = bytearray(mint(name(("CN", "v2"))).der)
    at = der.find(b"\xa0\x03\x02\x01\x02")  # [0] EXPLICIT INTEGER 2 (v3)
    der[at + 4] = 1
    info = parse_certificate(bytes(der))
    assert info.parse_error.startswith("InvalidVersion")
    assert info.subject is None


def test_memoryview_input_is_accepted(chain):
    der = chain[2].der
    assert CertCache().get(memoryview(der)).sha256 == hashlib.sha256(der).hexdigest()


# ---------------------------------------------------------------- cache


def test_cache_hit_returns_the_same_object(chain):
    cache = CertCache()
    first = cache.get(chain[2].der)
    assert cache.get(bytes(chain[2].der)) is first
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)


def test_cache_is_bounded_and_evicts_least_recently_used(chain):
    a, b, c = (m.der for m in chain)
    cache = CertCache(max_entries=2)
    info_a, info_b = cache.get(a), cache.get(b)
    assert cache.get(a) is info_a  # a is now the most recently used
    cache.get(c)                   # evicts b
    assert len(cache) == 2 and cache.evictions == 1
    assert cache.get(a) is info_a
    assert cache.get(b) is not info_b  # re-parsed after eviction
    assert len(cache) == 2 and cache.evictions == 2


def test_cache_caches_unparseable_certificates_too():
    cache = CertCache()
    assert cache.get(b"junk") is cache.get(b"junk")


def test_cache_rejects_a_size_below_one():
    with pytest.raises(ValueError, match="at least 1"):
        CertCache(max_entries=0)


def test_cert_info_is_frozen(chain):
    info = parse_certificate(chain[0].der)
    with pytest.raises(AttributeError):
        info.subject = "x"
    assert not hasattr(info, "__dict__")


# ---------------------------------------------------------------- Suricata conformance

SURICATA_FIELDS = ("subject", "issuerdn", "serial", "fingerprint", "notbefore", "notafter")


def _suricata_tls_records():
    records = []
    for ref in sorted((corpus_dir() / "reference" / "suricata").glob("*.eve.jsonl")):
        with open(ref, encoding="utf-8") as fh:
            for line in fh:
                event = json.loads(line)
                if event["event_type"] == "tls" and event.get("tls", {}).get("chain"):
                    records.append((ref.name, event["tls"]))
    return records


def test_suricata_fingerprint_is_sha1_of_the_first_chain_certificate():
    records = _suricata_tls_records()
    assert records, "The Suricata references hold no tls record with a chain."
    for ref, tls in records:
        der = base64.b64decode(tls["chain"][0])
        assert tls["fingerprint"] == ":".join(f"{b:02x}" for b in hashlib.sha1(der).digest()), ref


def test_suricata_conformance_of_leaf_certificate_fields():
    """Every Suricata 7.0.10 tls record with a chain: our six leaf fields vs its.

    Result on the shared corpus (85 records, 51 distinct leaves): 100 % on
    all six fields, so there is no disagreement class left in the corpus.

    The corpus covers: leading 00 sign octet kept in serials (00:BB:2A:...,
    00:97:E6:...), one-octet serials ("55", "32"); EV names with
    businessCategory / msJurisdiction* / serialNumber / streetAddress /
    postalCode; emailAddress written "Email"; a v1 certificate with a
    T61String attribute typed 2.5.29.17 written "subjectAltName=";
    an empty streetAddress and an empty issuer (""); commas inside values
    left unescaped; a pre-1970 notBefore ("1969-12-31T00:00:00").

    Known classes where we would differ from Suricata 7, none in the corpus:
    * BMPString / UniversalString values. RFC 5280 4.1.2.4 lets
      DirectoryString be BMPString (UCS-2) or UniversalString (UCS-4);
      x509-parser 0.15 prints a BMPString's raw octets as if they were
      UTF-8 ("\\u0000A\\u0000B") or fails the whole name, and a
      UniversalString as hex. We print the decoded text: we are right.
    * A name cryptography cannot decode (a T61String with non-UTF-8 octets,
      or a GraphicString/GeneralString value): Suricata writes
      "<X509Error: Invalid X.509 name>" or the raw text; we leave the field
      None and record an anomaly. Neither is RFC 4514; a sink should omit
      the key rather than invent a value.
    * Certificates that are not valid DER (non-minimal INTEGER, trailing
      bytes after the certificate, bad lengths): RFC 5280 4.1 requires DER,
      cryptography refuses them (parse_error, no fields), Suricata's
      parser is lenient and logs fields. RFC 5280 sides with refusing;
      the refusal itself is a useful anomaly for scoring.
    * X.509 v2 certificates: cryptography refuses them (InvalidVersion),
      Suricata logs them. RFC 5280 4.1.2.1 allows v2, so Suricata is right;
      v2 is not used by TLS servers in practice, and the refusal is kept
      as parse_error rather than hand-parsing the DER.
    * Suricata's name format is not RFC 4514 (certificate order, no
      escaping of ',', '+', '"', '\\', '<', '>', ';', leading '#' or
      spaces); we copy it on purpose because tls.subject / tls.issuerdn
      must match what EVE consumers already index and alert on.
    """
    records = _suricata_tls_records()
    cache = CertCache()
    agree = Counter()
    mismatches = []
    for ref, tls in records:
        info = cache.get(base64.b64decode(tls["chain"][0]))
        ours = {"subject": info.subject, "issuerdn": info.issuerdn, "serial": info.serial,
                "fingerprint": info.sha1_fingerprint, "notbefore": info.notbefore,
                "notafter": info.notafter}
        for key in SURICATA_FIELDS:
            if ours[key] == tls[key]:
                agree[key] += 1
            else:
                mismatches.append(f"{ref} {key}: ours={ours[key]!r} suricata={tls[key]!r}")
    total = len(records)
    print(f"\nSuricata tls records with a chain: {total} ({len(cache)} distinct leaves)")
    for key in SURICATA_FIELDS:
        print(f"  {key:12s} {agree[key]:3d}/{total} = {100 * agree[key] / total:.1f} %")
    for line in mismatches:
        print("  MISMATCH", line)
    assert total >= 50, f"Only {total} Suricata tls records with a chain; is the corpus complete?"
    for key in SURICATA_FIELDS:
        assert agree[key] >= 0.98 * total, f"{key}: {agree[key]}/{total} agree with Suricata"


def test_every_corpus_chain_certificate_parses_without_raising():
    seen = set()
    for _, tls in _suricata_tls_records():
        for encoded in tls["chain"]:
            if encoded in seen:
                continue
            seen.add(encoded)
            info = parse_certificate(base64.b64decode(encoded))
            assert info.parse_error is None, info.parse_error
            assert info.subject is not None and info.key_type is not None
    assert len(seen) > 51
