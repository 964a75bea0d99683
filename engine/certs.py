"""X.509 certificate parsing and EVE formatting (the mechanism half).

One `CertInfo` is built per distinct certificate DER and cached by SHA-256 in
a bounded LRU (`CertCache`). Validation and scoring are policy and live
elsewhere; this module only says what a certificate *is*.

Parsing is done by `cryptography`; no DER is parsed by hand here. Nothing a
certificate contains can make `CertCache.get` raise: a certificate
cryptography cannot load yields a `CertInfo` with only the hashes and
`parse_error` set, and a field that fails on its own (a malformed extension,
an undecodable name) is left empty and named in `anomalies`.

The EVE fields (`subject`, `issuerdn`, `serial`, `fingerprint`, `notbefore`,
`notafter`, `chain`) are written exactly as Suricata 7 writes `tls.*`.
Suricata 7 formats names with the Rust crate x509-parser 0.15
(`X509Name::to_string`):

* RDNs in certificate order (not RFC 4514's reversed order), joined by ", ";
  the attributes of a multi-valued RDN joined by " + ", in encoded order;
* attribute names: CN, C, L, ST, O, OU, DC, Email, then the short names of
  the oid-registry crate (serialNumber, streetAddress, postalCode,
  businessCategory, msJurisdictionCountry, ...), else "OID(1.2.3)";
* values verbatim, with no RFC 4514 escaping ("O=GitHub, Inc.");
  values that are not character strings are upper-case hex of their
  content octets.

Where that formatter produces something wrong we deliberately differ, and
say so (see `_attribute_value`): BMPString and UniversalString values are
decoded as the UCS-2 / UCS-4 text RFC 5280 says they are, where Suricata
prints the raw UTF-16 octets (NUL-interleaved) or hex.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable, Optional

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtensionOID

__all__ = ["CertInfo", "CertCache", "parse_certificate", "chain_base64",
           "format_name", "name_attributes", "format_serial", "format_time", "DEFAULT_CERT_CACHE_ENTRIES"]

DEFAULT_CERT_CACHE_ENTRIES = 10_000

# x509-parser's ABBREV_MAP, consulted first.
_ABBREV = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST",
    "2.5.4.10": "O", "2.5.4.11": "OU", "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "Email",
}
# Short names from the oid-registry crate (features x509 and pkcs9, which
# x509-parser loads) for OIDs that can meaningfully appear as attribute types.
_REGISTRY_SN = {
    "2.5.4.0": "objectClass", "2.5.4.1": "aliasedEntryName",
    "2.5.4.2": "knowledgeInformation", "2.5.4.4": "surname",
    "2.5.4.5": "serialNumber", "2.5.4.9": "streetAddress", "2.5.4.12": "title",
    "2.5.4.13": "description", "2.5.4.14": "searchGuide",
    "2.5.4.15": "businessCategory", "2.5.4.16": "postalAddress",
    "2.5.4.17": "postalCode", "2.5.4.41": "name", "2.5.4.42": "givenName",
    "2.5.4.43": "initials", "2.5.4.44": "generationQualifier",
    "2.5.4.45": "uniqueIdentifier", "2.5.4.46": "dnQualifier",
    "1.3.6.1.4.1.311.60.2.1.1": "msJurisdictionLocality",
    "1.3.6.1.4.1.311.60.2.1.2": "msJurisdictionStateOrProvince",
    "1.3.6.1.4.1.311.60.2.1.3": "msJurisdictionCountry",
    "1.2.840.113549.1.9.2": "unstructuredName",
    "1.2.840.113549.1.9.3": "contentType",
    "1.2.840.113549.1.9.20": "friendlyName",
    "2.5.29.14": "subjectKeyIdentifier", "2.5.29.15": "keyUsage",
    "2.5.29.17": "subjectAltName", "2.5.29.18": "issuerAltName",
    "2.5.29.19": "basicConstraints", "2.5.29.31": "crlDistributionPoints",
    "2.5.29.32": "certificatePolicies", "2.5.29.35": "authorityKeyIdentifier",
    "2.5.29.37": "extendedKeyUsage",
}

# Attribute value types whose content octets x509-parser prints as text.
_TEXT_TYPES = {
    _ASN1Type.UTF8String, _ASN1Type.NumericString, _ASN1Type.PrintableString,
    _ASN1Type.T61String, _ASN1Type.IA5String, _ASN1Type.VisibleString,
    _ASN1Type.BMPString, _ASN1Type.UniversalString,
}

# SubjectPublicKeyInfo algorithms, for keys cryptography will not load.
_KEY_ALGORITHMS = {
    "1.2.840.113549.1.1.1": "RSA", "1.2.840.113549.1.1.10": "RSA",
    "1.2.840.10045.2.1": "EC", "1.3.101.112": "Ed25519", "1.3.101.113": "Ed448",
    "1.2.840.10040.4.1": "DSA", "1.3.101.110": "X25519", "1.3.101.111": "X448",
}

_KEY_USAGE_BITS = (
    ("digital_signature", "digitalSignature"), ("content_commitment", "contentCommitment"),
    ("key_encipherment", "keyEncipherment"), ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"), ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)


@dataclass(frozen=True, slots=True)
class CertInfo:
    """Everything later layers need from one certificate, parsed once.

    Sequence fields are tuples so that one cached instance can be shared.
    Fields after `parse_error` are None/empty when the certificate could not
    be loaded or when that part of it failed on its own (see `anomalies`).
    """
    sha256: str                           # hex, lower case, of the DER
    sha1_fingerprint: str                 # "ab:cd:...", Suricata tls.fingerprint
    der_len: int
    parse_error: Optional[str] = None     # set when cryptography cannot load the DER
    subject: Optional[str] = None         # Suricata tls.subject
    issuerdn: Optional[str] = None        # Suricata tls.issuerdn
    serial: Optional[str] = None          # Suricata tls.serial, "00:AB:..."
    notbefore: Optional[str] = None       # Suricata tls.notbefore, "2016-05-20T00:00:00"
    notafter: Optional[str] = None
    not_before: Optional[_dt.datetime] = None   # aware, UTC
    not_after: Optional[_dt.datetime] = None
    version: Optional[int] = None         # 1, 2 or 3
    san_dns: tuple[str, ...] = ()
    san_ip: tuple[str, ...] = ()
    san_uri: tuple[str, ...] = ()
    san_email: tuple[str, ...] = ()
    key_type: Optional[str] = None        # "RSA", "EC", "Ed25519", "Ed448", "DSA", ... or an OID
    key_bits: Optional[int] = None
    key_curve: Optional[str] = None       # EC only, e.g. "secp256r1"
    signature_algorithm: Optional[str] = None   # e.g. "sha256WithRSAEncryption", or an OID
    signature_hash: Optional[str] = None        # e.g. "sha256"; None for Ed25519/unknown
    is_ca: Optional[bool] = None          # None: no basicConstraints extension
    path_length: Optional[int] = None
    key_usage: tuple[str, ...] = ()       # RFC 5280 names, e.g. ("digitalSignature",)
    extended_key_usage: tuple[str, ...] = ()   # e.g. ("serverAuth",), unknown as dotted OID
    extension_oids: tuple[str, ...] = ()  # dotted, in certificate order
    is_self_signed: bool = False
    anomalies: tuple[str, ...] = field(default=())  # "field: reason", for partial failures
    # Every attribute of the name in encoded order (multi-valued RDNs
    # flattened): (dotted OID, value as in `subject`/`issuerdn`). For policy
    # (placeholder names, tool defaults) and JA4X, which need the attribute
    # types and values without re-parsing the formatted string.
    subject_attributes: tuple[tuple[str, str], ...] = ()
    issuer_attributes: tuple[tuple[str, str], ...] = ()

    @property
    def common_name(self) -> Optional[str]:
        """The subject's last CN (the most specific one), None without one."""
        cns = [value for oid, value in self.subject_attributes if oid == "2.5.4.3"]
        return cns[-1] if cns else None


def format_serial(serial: int) -> str:
    """Suricata's tls.serial: the INTEGER's DER content octets, upper-case hex
    pairs joined by ":" — so a leading 00 sign octet is kept ("00:BB:2A")
    and a serial of 0x55 is "55"."""
    magnitude = serial if serial >= 0 else ~serial
    octets = serial.to_bytes(magnitude.bit_length() // 8 + 1, "big", signed=True)
    return ":".join(f"{b:02X}" for b in octets)


def format_time(when: _dt.datetime) -> str:
    """Suricata's tls.notbefore/notafter: UTC, second precision, no zone."""
    return (f"{when.year:04d}-{when.month:02d}-{when.day:02d}"
            f"T{when.hour:02d}:{when.minute:02d}:{when.second:02d}")


def _attribute_name(oid: x509.ObjectIdentifier) -> str:
    dotted = oid.dotted_string
    return _ABBREV.get(dotted) or _REGISTRY_SN.get(dotted) or f"OID({dotted})"


def _attribute_value(attr: x509.NameAttribute) -> str:
    value = attr.value
    if isinstance(value, bytes):
        # BIT STRING (x500UniqueIdentifier): x509-parser hex-encodes the
        # content octets, which start with the unused-bits octet; DER names
        # only ever carry whole octets here, so that octet is 00.
        return "00" + value.hex().upper()
    if attr._type in _TEXT_TYPES:
        # cryptography hands back text: UTF-8 for the 8-bit string types
        # (identical to Suricata), UCS-2/UCS-4 decoded for BMPString and
        # UniversalString (Suricata differs; see the module docstring).
        return value
    # Any other type (OCTET STRING, ...): content octets as upper-case hex,
    # like x509-parser. cryptography only accepted it because it is UTF-8.
    return value.encode("utf-8").hex().upper()


def format_name(name: x509.Name) -> str:
    """A Name as Suricata 7 writes tls.subject / tls.issuerdn."""
    return ", ".join(
        " + ".join(f"{_attribute_name(a.oid)}={_attribute_value(a)}" for a in rdn)
        for rdn in name.rdns)


def name_attributes(name: x509.Name) -> tuple[tuple[str, str], ...]:
    """(dotted OID, value) of every attribute of a Name, in encoded order."""
    return tuple((a.oid.dotted_string, _attribute_value(a)) for rdn in name.rdns for a in rdn)


def chain_base64(ders: Iterable[bytes]) -> list[str]:
    """Suricata's tls.chain: base64 (standard alphabet, padded) of each DER."""
    return [base64.b64encode(bytes(der)).decode("ascii") for der in ders]


def _key_fields(cert: x509.Certificate) -> dict:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return {"key_type": "RSA", "key_bits": key.key_size}
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"key_type": "EC", "key_bits": key.curve.key_size, "key_curve": key.curve.name}
    if isinstance(key, ed25519.Ed25519PublicKey):
        return {"key_type": "Ed25519", "key_bits": 256}
    if isinstance(key, ed448.Ed448PublicKey):
        return {"key_type": "Ed448", "key_bits": 456}
    if isinstance(key, dsa.DSAPublicKey):
        return {"key_type": "DSA", "key_bits": key.key_size}
    if isinstance(key, x25519.X25519PublicKey):
        return {"key_type": "X25519", "key_bits": 256}
    if isinstance(key, x448.X448PublicKey):
        return {"key_type": "X448", "key_bits": 448}
    return {"key_type": type(key).__name__}


def _signature_fields(cert: x509.Certificate) -> dict:
    oid = cert.signature_algorithm_oid
    name = getattr(oid, "_name", None)
    out = {"signature_algorithm": oid.dotted_string if not name or name == "Unknown OID" else name}
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:  # UnsupportedAlgorithm: an algorithm cryptography does not know
        algorithm = None
    out["signature_hash"] = algorithm.name if algorithm is not None else None
    return out


def _extension_fields(cert: x509.Certificate) -> dict:
    out: dict = {}
    exts = cert.extensions
    out["extension_oids"] = tuple(e.oid.dotted_string for e in exts)
    for ext in exts:
        value = ext.value
        if ext.oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME:
            out["san_dns"] = tuple(value.get_values_for_type(x509.DNSName))
            out["san_ip"] = tuple(str(ip) for ip in value.get_values_for_type(x509.IPAddress))
            out["san_uri"] = tuple(value.get_values_for_type(x509.UniformResourceIdentifier))
            out["san_email"] = tuple(value.get_values_for_type(x509.RFC822Name))
        elif ext.oid == ExtensionOID.BASIC_CONSTRAINTS:
            out["is_ca"] = value.ca
            out["path_length"] = value.path_length
        elif ext.oid == ExtensionOID.KEY_USAGE:
            usages = [label for attr, label in _KEY_USAGE_BITS if getattr(value, attr)]
            if value.key_agreement:  # the two bits below only exist alongside keyAgreement
                usages += [label for attr, label in (("encipher_only", "encipherOnly"),
                                                     ("decipher_only", "decipherOnly"))
                           if getattr(value, attr)]
            out["key_usage"] = tuple(usages)
        elif ext.oid == ExtensionOID.EXTENDED_KEY_USAGE:
            out["extended_key_usage"] = tuple(
                oid._name if getattr(oid, "_name", "Unknown OID") != "Unknown OID"
                else oid.dotted_string for oid in value)
    return out


def _self_signed(cert: x509.Certificate) -> bool:
    """Issuer equals subject, and the signature verifies under the
    certificate's own key wherever cryptography can check it. Where it
    cannot (an algorithm it does not implement), the names decide."""
    try:
        if cert.issuer != cert.subject:
            return False
    except Exception:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError):
        return False  # a bad signature, or names cryptography does not consider equal
    except Exception:
        return True  # TypeError / UnsupportedAlgorithm: cannot check, the names decide
    return True


def parse_certificate(der: bytes) -> CertInfo:
    """Build a CertInfo from one certificate's DER. Never raises for any input bytes."""
    der = bytes(der)
    fields: dict = {
        "sha256": hashlib.sha256(der).hexdigest(),
        "sha1_fingerprint": ":".join(f"{b:02x}" for b in hashlib.sha1(der).digest()),
        "der_len": len(der),
    }
    try:
        cert = x509.load_der_x509_certificate(der)
    except Exception as exc:
        return CertInfo(parse_error=f"{type(exc).__name__}: {exc}", **fields)

    anomalies: list[str] = []

    def attempt(label: str, fn):
        try:
            got = fn()
        except Exception as exc:  # one bad field must not cost the others
            anomalies.append(f"{label}: {type(exc).__name__}: {exc}")
            return
        if isinstance(got, dict):
            fields.update(got)
        else:
            fields[label] = got

    attempt("subject", lambda: format_name(cert.subject))
    attempt("issuerdn", lambda: format_name(cert.issuer))
    attempt("subject_attributes", lambda: name_attributes(cert.subject))
    attempt("issuer_attributes", lambda: name_attributes(cert.issuer))
    attempt("serial", lambda: format_serial(cert.serial_number))
    attempt("not_before", lambda: cert.not_valid_before_utc)
    attempt("not_after", lambda: cert.not_valid_after_utc)
    if "not_before" in fields:
        fields["notbefore"] = format_time(fields["not_before"])
    if "not_after" in fields:
        fields["notafter"] = format_time(fields["not_after"])
    attempt("version", lambda: {x509.Version.v1: 1, x509.Version.v3: 3}[cert.version])
    attempt("key", lambda: _key_fields(cert))
    if "key_type" not in fields:  # e.g. EC with explicit curve parameters (CVE-2020-0601)
        attempt("key_type", lambda: _KEY_ALGORITHMS.get(
            cert.public_key_algorithm_oid.dotted_string, cert.public_key_algorithm_oid.dotted_string))
    attempt("signature", lambda: _signature_fields(cert))
    attempt("extensions", lambda: _extension_fields(cert))
    fields["is_self_signed"] = _self_signed(cert)
    return CertInfo(anomalies=tuple(anomalies), **fields)


class CertCache:
    """CertInfo by SHA-256 of the DER, least recently used evicted first.

    Bounded by `max_entries` (DESIGN.md: every cap named and counted).
    `get` is safe to call from several threads.
    """

    def __init__(self, max_entries: int = DEFAULT_CERT_CACHE_ENTRIES):
        if max_entries < 1:
            raise ValueError(f"CertCache max_entries must be at least 1, got {max_entries}.")
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, CertInfo] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, der: bytes) -> CertInfo:
        der = bytes(der)
        key = hashlib.sha256(der).digest()
        with self._lock:
            info = self._entries.get(key)
            if info is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return info
        info = parse_certificate(der)  # outside the lock: parsing is the slow part
        with self._lock:
            existing = self._entries.get(key)
            if existing is not None:  # another thread parsed it meanwhile; keep one object
                self._entries.move_to_end(key)
                self.hits += 1
                return existing
            self.misses += 1
            self._entries[key] = info
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
                self.evictions += 1
        return info
