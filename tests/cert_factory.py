"""Mint X.509 certificates for tests with `cryptography` (and, for the one
thing cryptography's builder cannot do, a version 1 certificate, the
openssl command).

Every certificate here is made fresh at test time from the arguments the
test passes, so the expected field values sit next to the assertion.
"""
import datetime as dt
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = dt.timezone.utc
NOT_BEFORE = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
NOT_AFTER = dt.datetime(2034, 1, 2, 3, 4, 5, tzinfo=UTC)


def new_key(kind: str = "rsa", bits: int = 2048):
    """kind: rsa (of `bits`), dsa (of `bits`), p256, p384 or ed25519."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if kind == "dsa":
        return dsa.generate_private_key(key_size=bits)
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"Unknown key kind {kind!r}; use rsa, dsa, p256, p384 or ed25519.")


def name(*pairs) -> x509.Name:
    """name(("CN", "x"), ("O", "y")) or name(x509.NameAttribute(...), ...)."""
    oids = {"C": NameOID.COUNTRY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME,
            "L": NameOID.LOCALITY_NAME, "O": NameOID.ORGANIZATION_NAME,
            "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "CN": NameOID.COMMON_NAME,
            "Email": NameOID.EMAIL_ADDRESS, "DC": NameOID.DOMAIN_COMPONENT,
            "serialNumber": NameOID.SERIAL_NUMBER}
    rdns = []
    for pair in pairs:
        if isinstance(pair, x509.RelativeDistinguishedName):
            rdns.append(pair)
        elif isinstance(pair, x509.NameAttribute):
            rdns.append(x509.RelativeDistinguishedName([pair]))
        else:
            rdns.append(x509.RelativeDistinguishedName([x509.NameAttribute(oids[pair[0]], pair[1])]))
    return x509.Name(rdns)


@dataclass
class Minted:
    cert: x509.Certificate
    key: object

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


def _hash_for(key):
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def mint(subject: x509.Name, *, key=None, issuer: Minted = None, serial: int = 0x1234,
         not_before=NOT_BEFORE, not_after=NOT_AFTER, sans=(), ca=None,
         key_usage=None, eku=None, signing_key=None, key_ids=False) -> Minted:
    """A certificate for `subject`, signed by `issuer` (self-signed when None).

    ca: None (no basicConstraints), or (is_ca, path_length).
    key_usage: None or a dict of KeyUsage keyword arguments set True.
    signing_key: sign with this key instead (to forge a bad signature).
    key_ids: add subjectKeyIdentifier and authorityKeyIdentifier, which
        the Web PKI profile of cryptography.x509.verification requires.
    """
    key = key or new_key()
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer.cert.subject if issuer else subject)
               .public_key(key.public_key())
               .serial_number(serial)
               .not_valid_before(not_before)
               .not_valid_after(not_after))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca[0], path_length=ca[1]),
                                        critical=True)
    if key_usage is not None:
        bits = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment",
                              "data_encipherment", "key_agreement", "key_cert_sign",
                              "crl_sign", "encipher_only", "decipher_only"), False)
        bits.update(key_usage)
        builder = builder.add_extension(x509.KeyUsage(**bits), critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if key_ids:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        authority = (issuer.key if issuer else key).public_key()
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority), critical=False)
    signer = signing_key or (issuer.key if issuer else key)
    return Minted(builder.sign(signer, _hash_for(signer)), key)


def mint_v1(common_name: str) -> bytes:
    """DER of a self-signed version 1 certificate (no extensions), made by
    `openssl x509 -req` because cryptography's builder always writes v3."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("The openssl command is needed to mint a version 1 certificate; install it.")
    key = new_key("p256")
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(name(("CN", common_name)))
           .sign(key, hashes.SHA256()))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "key.pem").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        (tmp / "req.pem").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
        subprocess.run([openssl, "x509", "-req", "-in", str(tmp / "req.pem"),
                        "-signkey", str(tmp / "key.pem"), "-days", "1",
                        "-outform", "DER", "-out", str(tmp / "v1.der")],
                       check=True, capture_output=True)
        return (tmp / "v1.der").read_bytes()


# --- a local Web PKI (root -> intermediate -> leaf) -------------------------

_CA_USAGE = {"key_cert_sign": True, "crl_sign": True}


def mint_root(common_name: str = "Test Root CA", **kw) -> Minted:
    """A self-signed root CA that cryptography.x509.verification accepts as
    a trust anchor (v3, basicConstraints CA, keyCertSign, key identifiers)."""
    kw.setdefault("key", new_key("p256"))
    return mint(name(("C", "GB"), ("O", "Test PKI"), ("CN", common_name)),
                ca=(True, None), key_usage=_CA_USAGE, key_ids=True, **kw)


def mint_intermediate(root: Minted, common_name: str = "Test Issuing CA", **kw) -> Minted:
    kw.setdefault("key", new_key("p256"))
    return mint(name(("C", "GB"), ("O", "Test PKI"), ("CN", common_name)), issuer=root,
                ca=(True, 0), key_usage=_CA_USAGE, key_ids=True, **kw)


def mint_leaf(issuer: Minted, *dns_names: str, subject=None, sans=None, **kw) -> Minted:
    """A TLS server certificate for `dns_names`, in the shape public CAs issue
    (O and CN in the subject, SANs, serverAuth, not a CA, key identifiers)."""
    kw.setdefault("key", new_key("p256"))
    kw.setdefault("not_before", dt.datetime(2024, 6, 1, tzinfo=UTC))
    kw.setdefault("not_after", dt.datetime(2024, 6, 1, tzinfo=UTC) + dt.timedelta(days=90))
    if subject is None:
        subject = name(("C", "GB"), ("O", "Files Ltd"), ("CN", dns_names[0] if dns_names else "leaf"))
    if sans is None:
        sans = [x509.DNSName(n) for n in dns_names]
    return mint(subject, issuer=issuer, sans=sans, ca=(False, None),
                key_usage={"digital_signature": True},
                eku=[ExtendedKeyUsageOID.SERVER_AUTH], key_ids=True, **kw)


# A packet time inside mint_leaf's default validity.
INSIDE_LEAF_VALIDITY = dt.datetime(2024, 7, 1, tzinfo=UTC)


def with_signature_hash(der: bytes, hash_name: str) -> bytes:
    """The DER of an RSA/SHA-256 certificate relabelled as signed with
    md5WithRSAEncryption or sha1WithRSAEncryption.

    cryptography refuses to sign with MD5 or SHA-1, and scoring only reads
    the algorithm identifier, so the two AlgorithmIdentifiers (in the TBS
    and outside it) are rewritten in place: the OIDs 1.2.840.113549.1.1.11
    / .4 / .5 differ only in their last octet. The signature no longer
    verifies, which no test here relies on.
    """
    sha256_rsa = bytes.fromhex("06092a864886f70d01010b")
    last = {"md5": 0x04, "sha1": 0x05}[hash_name]
    if der.count(sha256_rsa) != 2:
        raise ValueError("with_signature_hash needs a certificate signed with RSA and SHA-256.")
    return der.replace(sha256_rsa, sha256_rsa[:-1] + bytes([last]))
