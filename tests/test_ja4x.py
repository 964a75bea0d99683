"""JA4X (engine.fingerprints.ja4x): FoxIO's spec example, minted
certificates, and agreement with FoxIO's expected JA4X.N values for every
corpus capture whose certificates Suricata's reference logs carry."""
import base64
import json

from cryptography import x509

from engine.certs import parse_certificate
from engine.fingerprints.ja4x import ja4x, ja4x_of_der, ja4x_r, oid_hex
from tests.cert_factory import mint, mint_intermediate, mint_leaf, mint_root, name
from tests.corpus import corpus_dir


def test_oid_hex_is_der_content_octets():
    assert oid_hex("2.5.4.3") == "550403"
    assert oid_hex("2.5.29.17") == "551d11"
    assert oid_hex("1.2.840.113549.1.9.1") == "2a864886f70d010901"
    assert oid_hex("1.3.6.1.4.1.11129.2.4.2") == "2b06010401d679020402"


def test_spec_example_lists_hash_to_the_spec_values():
    # technical_details/JA4X.md: Issuer = 550403,550406,550408,55040a = 96a6439c8f5c
    cert = mint(name(("CN", "a"), ("C", "US"), ("ST", "b"), ("O", "c")),
                sans=[x509.DNSName("a.test")], key_usage={"digital_signature": True},
                eku=[x509.oid.ExtendedKeyUsageOID.SERVER_AUTH])
    info = parse_certificate(cert.der)
    # mint adds SAN, keyUsage, EKU in that order; the spec example lists keyUsage, EKU, SAN
    assert ja4x_r(info) == "550403,550406,550408,55040a_550403,550406,550408,55040a_551d11,551d0f,551d25"
    assert ja4x(info).startswith("96a6439c8f5c_96a6439c8f5c_")


def test_extension_order_is_kept_not_sorted():
    a = parse_certificate(mint(name(("CN", "x")), sans=[x509.DNSName("x")], ca=(False, None)).der)
    assert ja4x_r(a).endswith("_551d11,551d13")


def test_certificates_from_one_generator_share_a_ja4x():
    root = mint_root()
    inter = mint_intermediate(root)
    one, two = mint_leaf(inter, "a.test"), mint_leaf(inter, "b.other.test")
    assert ja4x_of_der(one.der) == ja4x_of_der(two.der)
    assert ja4x_of_der(one.der) != ja4x_of_der(inter.der)


def test_empty_subject_hashes_as_the_empty_string():
    info = parse_certificate(mint(x509.Name([]), sans=[x509.DNSName("x")]).der)
    assert ja4x(info).split("_")[1] == "e3b0c44298fc"


def test_unparseable_certificate_has_no_ja4x():
    assert ja4x_of_der(b"\x30\x00") is None
    assert ja4x_r(parse_certificate(b"junk")) is None


def _corpus_pairs():
    """(capture, stream key, N, FoxIO's JA4X.N, the certificate DER) for every
    JA4X.N whose chain Suricata logged for the same src/srcport/dst/dstport."""
    root = corpus_dir()
    pairs, missing = [], []
    for expected_path in sorted((root / "ja4").glob("*.expected.json")):
        capture = expected_path.name[: -len(".expected.json")]
        reference = root / "reference" / "suricata" / f"ja4__{capture}.eve.jsonl"
        expected = [e for e in json.loads(expected_path.read_text())
                    if any(k.startswith("JA4X.") and k.count(".") == 1 for k in e)]
        if not expected or not reference.exists():
            continue
        chains = {}
        for line in reference.open(encoding="utf-8"):
            event = json.loads(line)
            if event["event_type"] == "tls" and event["tls"].get("chain"):
                key = (event["src_ip"], str(event["src_port"]), event["dest_ip"], str(event["dest_port"]))
                chains[key] = event["tls"]["chain"]
        for entry in expected:
            key = (entry["src"], str(entry["srcport"]), entry["dst"], str(entry["dstport"]))
            for field, value in entry.items():
                if not (field.startswith("JA4X.") and field.count(".") == 1):
                    continue
                n = int(field.split(".")[1])
                chain = chains.get(key)
                if chain is None or n > len(chain):
                    missing.append((capture, key, field))  # QUIC, SOCKS, decrypted TLS 1.3
                    continue
                pairs.append((capture, key, n, value, base64.b64decode(chain[n - 1])))
    return pairs, missing


def test_ja4x_agrees_with_foxio_expected_values_on_the_corpus():
    pairs, missing = _corpus_pairs()
    assert len(pairs) >= 40, "the corpus should give dozens of certificates with FoxIO JA4X values"
    disagree = [(c, k, n, want, ja4x_of_der(der)) for c, k, n, want, der in pairs
                if ja4x_of_der(der) != want]
    agreement = 1 - len(disagree) / len(pairs)
    print(f"JA4X agreement with FoxIO: {len(pairs) - len(disagree)}/{len(pairs)} "
          f"({agreement:.1%}); {len(missing)} JA4X.N without a Suricata chain to compare")
    assert agreement >= 0.99, disagree[:5]
