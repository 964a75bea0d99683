"""What the organisation approves: flows matching the allowlist stay silent.

Item 6 of the detection issue. The `[allowlist]` table:

    [allowlist]
    ips = ["192.0.2.10", "198.51.100.0/24", "2001:db8:backup::/48"]
    domains = ["backup.example", "*.corp.example"]
    cert_fingerprints = ["AB:CD:...", "9f86d0..."]      # SHA-1 or SHA-256
    ca_names = ["Corp Issuing CA 1", "O=Example Corp"]
    ja4 = ["t13d1516h2_8daaf6152771_02713d6af862", "t13d*_*_*"]

Every entry may also be an inline table with a note that travels into the
reason, so the audit trail says why it is there:
    ips = [{ value = "192.0.2.10", note = "nightly backup, CHG-1234" }]

Matching:
    ips                 an address, or a network containing the flow's address
    domains             "backup.example" matches that name only; "*.corp.example"
                        matches every name below corp.example (any depth), not
                        corp.example itself; case and a trailing dot are ignored
    cert_fingerprints   SHA-1 (40 hex digits) or SHA-256 (64), any case, with or
                        without colons
    ca_names            an entry with '=' ("O=Example Corp", "CN=Corp CA, O=Corp")
                        is a substring of the issuer DN (case and the spaces after
                        commas ignored); an entry without '=' is the issuer's
                        exact CN (case ignored)
    ja4                 exact, or with '*' matching any run of characters inside
                        one '_'-separated section ("t13d*_*_*": any TLS 1.3 client
                        over TCP with SNI)

`Allowlist.allows(...)` returns the first matching reason (a sentence naming
the key and the entry) or None. Any one match allows: an approved CA
approves every flow whose certificate it issued.
"""
from dataclasses import dataclass
import re

from .config import require_table
from .errors import ConfigError
from .intel import DomainTable, IpRangeTable, ip_range, normalize_domain, normalize_fingerprint

_KEYS = ("ips", "domains", "cert_fingerprints", "ca_names", "ja4")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_JA4_PATTERN = re.compile(r"^[0-9A-Za-z,*]+(?:_[0-9A-Za-z,*]+)*$")


@dataclass(frozen=True, slots=True)
class Entry:
    """One allowlist entry: its normalised value and the operator's note."""

    value: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class AllowlistConfig:
    """The `[allowlist]` table, validated and normalised."""

    ips: tuple[Entry, ...] = ()
    domains: tuple[Entry, ...] = ()
    cert_fingerprints: tuple[Entry, ...] = ()
    ca_names: tuple[Entry, ...] = ()
    ja4: tuple[Entry, ...] = ()

    @classmethod
    def from_table(cls, table, where="allowlist"):
        """Validate a parsed TOML table; ConfigError names the full key."""
        require_table(table, where, _KEYS)
        out = {}
        for key, check in (("ips", _check_ip), ("domains", _check_domain),
                           ("cert_fingerprints", _check_fingerprint),
                           ("ca_names", _check_ca_name), ("ja4", _check_ja4)):
            if key in table:
                out[key] = tuple(_entries(table[key], f"{where}.{key}", check))
        return cls(**out)


class Allowlist:
    """Answers whether a flow is approved, and why."""

    def __init__(self, config=None):
        config = config or AllowlistConfig()
        self.config = config
        self._ips = IpRangeTable((e.value, e) for e in config.ips)
        self._exact_domains = {}
        wildcards = []
        for e in config.domains:
            if e.value.startswith("*."):
                wildcards.append((e.value, e))
            else:
                self._exact_domains.setdefault(e.value, e)
        self._wild_domains = DomainTable(wildcards)
        self._fingerprints = {}
        for e in config.cert_fingerprints:
            self._fingerprints.setdefault(e.value, e)
        self._ca_cns = {}
        self._ca_dn_parts = []
        for e in config.ca_names:
            if "=" in e.value:
                self._ca_dn_parts.append((_normalize_dn(e.value), e))
            else:
                self._ca_cns.setdefault(e.value.casefold(), e)
        self._ja4_exact = {}
        self._ja4_patterns = []
        for e in config.ja4:
            if "*" in e.value:
                regex = "[^_]*".join(re.escape(part) for part in e.value.split("*"))
                self._ja4_patterns.append((re.compile(regex), e))
            else:
                self._ja4_exact.setdefault(e.value, e)

    @classmethod
    def from_table(cls, table, where="allowlist"):
        return cls(AllowlistConfig.from_table(table, where))

    def __bool__(self):
        c = self.config
        return bool(c.ips or c.domains or c.cert_fingerprints or c.ca_names or c.ja4)

    def allows(self, flow_ip=None, sni=None, cert_sha256=None, cert_sha1=None, issuer=None,
               ja4=None):
        """The reason the flow is approved (a sentence), or None. Never raises on traffic."""
        if flow_ip:
            hits = self._ips.lookup(flow_ip)
            if hits:
                return _reason(f"address {flow_ip}", "ips", hits[0])
        if sni:
            reason = self._allows_name(sni)
            if reason:
                return reason
        for label, fp in (("SHA-256", cert_sha256), ("SHA-1", cert_sha1)):
            if fp:
                entry = self._fingerprints.get(normalize_fingerprint(fp))
                if entry:
                    return _reason(f"certificate {label} {entry.value}", "cert_fingerprints",
                                   entry)
        if issuer is not None:
            reason = self._allows_issuer(issuer)
            if reason:
                return reason
        if ja4:
            entry = self._ja4_exact.get(ja4)
            if entry is None:
                entry = next((e for rx, e in self._ja4_patterns if rx.fullmatch(ja4)), None)
            if entry:
                return _reason(f"JA4 {ja4}", "ja4", entry)
        return None

    def _allows_name(self, sni):
        name = normalize_domain(sni)
        if not name:
            return None
        entry = self._exact_domains.get(name)
        if entry is None:
            hits = self._wild_domains.lookup(name)
            entry = hits[0] if hits else None
        return _reason(f"server name {name}", "domains", entry) if entry else None

    def _allows_issuer(self, issuer):
        if isinstance(issuer, (bytes, bytearray)):
            issuer = bytes(issuer).decode("utf-8", "replace")
        elif not isinstance(issuer, str):
            # a cryptography x509.Name; its RFC 4514 text holds the same attributes
            issuer = issuer.rfc4514_string()
        cn = _common_name(issuer)
        if cn is not None:
            entry = self._ca_cns.get(cn.casefold())
            if entry:
                return _reason(f"issuer CN {cn}", "ca_names", entry)
        if self._ca_dn_parts:
            dn = _normalize_dn(issuer)
            for part, entry in self._ca_dn_parts:
                if part in dn:
                    return _reason(f"issuer {issuer}", "ca_names", entry)
        return None


def _reason(what, key, entry):
    note = f" ({entry.note})" if entry.note else ""
    return f"{what} is allowlisted by allowlist.{key} entry '{entry.value}'{note}"


_CN = re.compile(r"(?:^|[,/+])\s*CN\s*=\s*((?:[^,/+\\]|\\.)*)", re.IGNORECASE)


def _common_name(dn):
    """The CN of a DN in Suricata ("C=US, O=x, CN=y"), RFC 4514 or OpenSSL '/' form."""
    m = _CN.search(dn)
    return re.sub(r"\\(.)", r"\1", m.group(1)).strip() if m else None


def _normalize_dn(dn):
    """Lower case, no spaces around ',' '=' '+', so 'O=Corp,  C=US' matches 'o=corp,c=us'."""
    return re.sub(r"\s*([,=+])\s*", r"\1", dn.strip()).casefold()


def _entries(value, key, check):
    if not isinstance(value, list):
        raise ConfigError(f"Configuration key '{key}' must be a list, not {value!r}.")
    out = []
    for i, item in enumerate(value):
        where = f"{key}[{i}]"
        note = ""
        if isinstance(item, dict):
            unknown = set(item) - {"value", "note"}
            if unknown or "value" not in item:
                raise ConfigError(
                    f"Configuration key '{where}' must be a string or a table with 'value' and "
                    f"an optional 'note', not {item!r}.")
            note = item.get("note", "")
            if not isinstance(note, str):
                raise ConfigError(
                    f"Configuration key '{where}.note' must be a string, not {note!r}.")
            item = item["value"]
            where = f"{where}.value"
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(
                f"Configuration key '{where}' must be a non-empty string, not {item!r}.")
        out.append(Entry(check(item.strip(), where), note))
    return out


def _check_ip(text, where):
    try:
        ip_range(text)
    except ValueError:
        raise ConfigError(
            f"Configuration key '{where}' must be an IP address or CIDR network, "
            f"not {text!r}.") from None
    return text


def _check_domain(text, where):
    name = normalize_domain(text)
    bare = name[2:] if name.startswith("*.") else name
    if not bare or "*" in bare or not _DOMAIN.match(bare):
        raise ConfigError(
            f"Configuration key '{where}' must be a domain like \"backup.example\" or "
            f"\"*.corp.example\" ('*' only as the whole first label), not {text!r}.")
    return name


def _check_fingerprint(text, where):
    fp = normalize_fingerprint(text)
    if len(fp) not in (40, 64):
        raise ConfigError(
            f"Configuration key '{where}' must be a certificate SHA-1 (40 hex digits) or "
            f"SHA-256 (64 hex digits) fingerprint, colons allowed, not {text!r}.")
    return fp


def _check_ca_name(text, where):
    return text


def _check_ja4(text, where):
    if not _JA4_PATTERN.match(text):
        raise ConfigError(
            f"Configuration key '{where}' must be a JA4 fingerprint, with '*' standing for any "
            f"characters within a section (\"t13d*_*_*\"), not {text!r}.")
    return text
