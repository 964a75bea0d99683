"""Tunables of the certificate anomaly score, one frozen object.

Every reason has its points (0 disables it) and, where it has one, its
threshold here, with the default and the reasoning behind it. A TOML table
``[scoring.certificates]`` overrides any of them; `from_table` rejects an
unknown key, a wrong type or an out-of-range value with a sentence naming
the full key.
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from types import MappingProxyType
from typing import Any, Mapping

from ..errors import ConfigError

__all__ = ["CertScoringConfig", "DEFAULT_CERT_SCORING"]


def _points(default: int, doc: str):
    return field(default=default, metadata={"kind": "int", "low": 0, "high": 100, "doc": doc})


def _int(default: int, low: int, high: int, doc: str):
    return field(default=default, metadata={"kind": "int", "low": low, "high": high, "doc": doc})


def _float(default: float, low: float, high: float, doc: str):
    return field(default=default, metadata={"kind": "float", "low": low, "high": high, "doc": doc})


def _strings(default: tuple, doc: str):
    return field(default=tuple(default), metadata={"kind": "strings", "doc": doc})


def _mapping(default: dict, doc: str):
    return field(default_factory=lambda: MappingProxyType(dict(default)),
                 metadata={"kind": "mapping", "doc": doc})


# OpenSSL's and common distributions' prompts left at their defaults, and
# names that only a test or a lab certificate carries. Matched whole
# (case-insensitive) against every subject attribute value; "example.*"
# also matches as a suffix (RFC 2606 reserved names).
PLACEHOLDER_NAMES = (
    "Internet Widgits Pty Ltd",      # openssl req default O (openssl.cnf)
    "Some-State",                    # openssl req default ST
    "Default Company Ltd",           # Red Hat / CentOS openssl.cnf default O
    "Default City",                  # Red Hat / CentOS openssl.cnf default L
    "XX",                            # Red Hat default C
    "My Company", "Company", "Acme Co", "Unknown", "Organization", "changeme",
    "localhost", "localhost.localdomain", "localdomain",
    "example.com", "example.org", "example.net", "test", "server",
)

# Default certificates of offensive and interception tools that ship a fixed
# certificate. Sources: Cobalt Strike teamserver's default keystore (serial
# 146473198 = 0x8BB00EE, SHA-256 87f2085c...; Zeek/Elastic/Sigma rules
# "Default Cobalt Strike Team Server Certificate"); PoshC2's default
# certificate fields (Config: Pajfds / Jethpro / P18055077); interception
# proxies' generated CAs (Burp "PortSwigger CA", mitmproxy, Fiddler
# "DO_NOT_TRUST_FiddlerRoot"); reverse proxies' built-in fallbacks (ingress-
# nginx "Kubernetes Ingress Controller Fake Certificate", "TRAEFIK DEFAULT
# CERT"), which mean the name asked for was not configured.
TOOL_DEFAULT_SERIALS = {
    "8BB00EE": "Cobalt Strike default teamserver certificate",
}
TOOL_DEFAULT_SHA256 = {
    "87f2085c32b6a2cc709b365f55873e207a9caa10bffecf2fd16d3cf9d94d390c":
        "Cobalt Strike default teamserver certificate",
}
TOOL_DEFAULT_SUBJECTS = {
    "CN=Major Cobalt Strike": "Cobalt Strike default teamserver certificate",
    "O=cobaltstrike": "Cobalt Strike default teamserver certificate",
    "O=Pajfds": "PoshC2 default certificate",
    "OU=Jethpro": "PoshC2 default certificate",
    "CN=PortSwigger CA": "Burp Suite interception CA",
    "CN=mitmproxy": "mitmproxy interception CA",
    "CN=DO_NOT_TRUST_FiddlerRoot": "Fiddler interception CA",
    "CN=Kubernetes Ingress Controller Fake Certificate": "ingress-nginx fallback certificate",
    "CN=TRAEFIK DEFAULT CERT": "Traefik fallback certificate",
}


@dataclass(frozen=True)
class CertScoringConfig:
    """Points per reason (0-100; 0 disables the reason) and thresholds.

    The score is min(100, sum of the points of the reasons found).
    """

    # trust (engine.validation status)
    self_signed_points: int = _points(30, "The leaf is signed by its own key and not a trust anchor.")
    untrusted_chain_points: int = _points(25, "The chain does not verify to any trust anchor.")
    incomplete_chain_points: int = _points(10, "An issuer is missing and not in the intermediate cache.")
    # validity at packet time
    expired_points: int = _points(20, "The leaf's notAfter is before the packet time.")
    not_yet_valid_points: int = _points(20, "The leaf's notBefore is after the packet time.")
    validity_too_long_points: int = _points(10, "Validity longer than validity_long_days.")
    validity_long_days: int = _int(398, 1, 36500,
                                   "Public CAs may not issue leaves valid for more than 398 days "
                                   "(CA/Browser Forum, since 2020-09-01).")
    validity_too_short_points: int = _points(10, "Validity shorter than validity_short_days.")
    validity_short_days: float = _float(2.0, 0.0, 365.0,
                                        "Throwaway certificates minted per session; public CAs "
                                        "issue at least 6 days.")
    # names
    sni_not_covered_points: int = _points(20, "The SNI is not among the certificate's names.")
    no_sni_points: int = _points(10, "The client sent no SNI (tools, not browsers).")
    ip_address_name_points: int = _points(15, "An IP address as CN or subjectAltName.")
    placeholder_name_points: int = _points(25, "A subject attribute left at a default / placeholder.")
    placeholder_names: tuple = _strings(PLACEHOLDER_NAMES, "Whole-value matches, case-insensitive.")
    single_character_field_points: int = _points(10, "A subject attribute one character long.")
    missing_organisation_points: int = _points(5, "No O attribute in the subject.")
    missing_san_points: int = _points(10, "No subjectAltName (required for public TLS leaves).")
    high_entropy_cn_points: int = _points(15, "A random-looking CN (generated names).")
    high_entropy_min_length: int = _int(10, 4, 253, "Shortest CN label considered.")
    high_entropy_bits: float = _float(3.2, 1.0, 8.0, "Shannon entropy per character at or above which "
                                      "a label is random-looking (with mixed case, digits, or few vowels).")
    # crypto strength
    weak_key_points: int = _points(15, "RSA/DSA key under rsa_min_bits, EC under ec_min_bits.")
    rsa_min_bits: int = _int(2048, 512, 16384, "NIST SP 800-131A: RSA/DSA under 2048 bits is disallowed.")
    ec_min_bits: int = _int(256, 160, 571, "EC curves under 256 bits.")
    weak_signature_points: int = _points(15, "Signed with a hash listed in weak_signature_hashes.")
    weak_signature_hashes: tuple = _strings(("md2", "md4", "md5", "sha1"), "Hash names as cryptography "
                                            "reports them; public CAs stopped SHA-1 in 2016.")
    # structure
    ca_flag_on_leaf_points: int = _points(10, "basicConstraints CA:TRUE on the served leaf.")
    x509_v1_points: int = _points(15, "X.509 version 1 (no extensions at all).")
    # known tool defaults
    tool_default_points: int = _points(60, "A certificate a known tool ships by default.")
    tool_default_serials: Mapping = _mapping(TOOL_DEFAULT_SERIALS, "Serial (hex) -> tool.")
    tool_default_sha256: Mapping = _mapping(TOOL_DEFAULT_SHA256, "Certificate SHA-256 -> tool.")
    tool_default_subjects: Mapping = _mapping(TOOL_DEFAULT_SUBJECTS,
                                              "'ATTR=value' subject attribute (case-insensitive) -> tool.")
    # organisation context (caller-supplied)
    first_seen_points: int = _points(10, "The certificate was never seen in the organisation before.")
    shared_across_snis_points: int = _points(20, "One certificate served for unrelated SNIs it does not cover.")
    shared_min_domains: int = _int(2, 2, 1000, "Distinct registered domains, not covered by the "
                                   "certificate, that make the SNIs 'unrelated'.")
    pin_mismatch_points: int = _points(50, "A pinned domain served a leaf other than the pinned one.")
    # the certificate itself
    unparseable_points: int = _points(30, "cryptography cannot load the certificate.")

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str = "scoring.certificates") -> "CertScoringConfig":
        """Build from a parsed TOML table; ConfigError names the full key."""
        if not isinstance(table, Mapping):
            raise ConfigError(f"Configuration key '{where}' must be a table, not {table!r}.")
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in table.items():
            full = f"{where}.{key}"
            f = known.get(key)
            if f is None:
                raise ConfigError(f"Configuration key '{full}' is not known; the certificate "
                                  f"scoring keys are: {', '.join(sorted(known))}.")
            values[key] = _check(full, f.metadata, value)
        return cls(**values)

    @classmethod
    def documentation(cls) -> list[tuple[str, Any, str]]:
        """(key, default, description) of every tunable, for `config show`."""
        out = []
        for f in fields(cls):
            default = f.default if f.default is not MISSING else dict(f.default_factory())
            out.append((f.name, default, f.metadata["doc"]))
        return out


def _check(full: str, meta: Mapping, value: Any) -> Any:
    kind = meta["kind"]
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not meta["low"] <= value <= meta["high"]:
            raise ConfigError(f"Configuration key '{full}' must be an integer from {meta['low']} "
                              f"to {meta['high']}, not {value!r}.")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not meta["low"] <= value <= meta["high"]:
            raise ConfigError(f"Configuration key '{full}' must be a number from {meta['low']} "
                              f"to {meta['high']}, not {value!r}.")
        return float(value)
    if kind == "strings":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"Configuration key '{full}' must be a list of strings, not {value!r}.")
        return tuple(value)
    if kind == "mapping":
        if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ConfigError(f"Configuration key '{full}' must be a table of strings "
                              f"(key = \"description\"), not {value!r}.")
        return MappingProxyType(dict(value))
    raise AssertionError(kind)


DEFAULT_CERT_SCORING = CertScoringConfig()
