"""Threat-intelligence indicators from files, and fast matching against them.

Item 5(h) of the detection issue. Mechanism only: which indicators an
address, name, certificate or fingerprint matches; what that is worth is the
detection's business.

Indicator kinds (`Indicator.kind`):
    ip            an IPv4/IPv6 address or network ("203.0.113.7", "2001:db8::/32")
    domain        a domain; matches itself and every name below it
                  ("evil.com" matches "a.evil.com"); "*.evil.com" matches only below it
    cert_sha1     certificate SHA-1 fingerprint (lower-case hex, no colons)
    cert_sha256   certificate SHA-256 fingerprint
    ja3           JA3 MD5 hash
    ja4           JA4 string ("t13d1516h2_8daaf6152771_02713d6af862"), exact

File formats, told apart by content:
    STIX 2.1      JSON: a bundle (or one object, or a list of objects); `indicator`
                  objects with `pattern_type` stix and patterns made of equality
                  comparisons joined by OR, e.g. "[ipv4-addr:value = '1.2.3.4'] OR
                  [domain-name:value = 'x.example']". Object paths: ipv4-addr:value,
                  ipv6-addr:value (also ISSUBSET 'cidr'), network-traffic:dst_ref.value,
                  domain-name:value, x509-certificate:hashes.'SHA-1'/'SHA-256', and any
                  property named ja3/x_ja3/ja3_hash/ja4/x_ja4... Anything else (AND,
                  FOLLOWEDBY, qualifiers, LIKE/MATCHES, file hashes, URLs, revoked or
                  non-STIX indicators) is skipped and counted in `IntelSet.skipped`,
                  with a warning in the log; dropping a term of an OR only loses
                  coverage, so the other terms are kept.
    CSV with a header (commented "# a,b,c" or plain):
                  abuse.ch SSLBL  "# Listingdate,SHA1,Listingreason"   (certificates)
                                  "# ja3_md5,Firstseen,Lastseen,Listingreason"
                                  "# Firstseen,DstIP,DstPort"          (botnet C2 IPs)
                  and Feodo Tracker's "# Firstseen,DstIP,DstPort,LastOnline,Malware";
                  generic "type,value[,description]".
    CSV without a header (the first line that is not a comment has a comma):
                  type,value[,description];
                  types: ip, ipv4, ipv6, cidr, domain, hostname, sha1, cert_sha1,
                  sha256, cert_sha256, ja3, ja3_md5, ja4 (and MISP's x509-fingerprint-*,
                  ja3-fingerprint-md5, ip-dst, ip-src).
    Plain list:   one indicator per line, its kind inferred (32 hex digits is a JA3,
                  40 a SHA-1, 64 a SHA-256, colons allowed in fingerprints); '#' or ';'
                  starts a comment, and a comment after the indicator is its description.
Malformed input raises IntelError naming the file and the line.

Lookups: addresses and networks are flattened into sorted disjoint integer
ranges per family (one bisect per lookup, parsed with inet_pton), domains are
a dict walked from the full name up through its parents, hashes are dicts.
An IntelSet is immutable; reloading builds a fresh one and swaps it in.
"""
from bisect import bisect_right
import csv
from dataclasses import dataclass
import ipaddress
import json
import logging
from pathlib import Path
import re
import socket

from .config import require_table
from .errors import ConfigError, IntelError

log = logging.getLogger(__name__)

KINDS = ("ip", "domain", "cert_sha1", "cert_sha256", "ja3", "ja4")

_HEX = re.compile(r"^[0-9a-f]+$")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_DOMAIN = re.compile(rf"^(?:{_LABEL}\.)+{_LABEL}$")
_JA4 = re.compile(r"^[tqd][0-9a-z]{2}[di]\d{4}[0-9A-Za-z]{2}(?:_[0-9a-f,]+){2,3}$")

_TYPE_ALIASES = {
    "ip": "ip", "ipv4": "ip", "ipv6": "ip", "ip_dst": "ip", "ip_src": "ip", "cidr": "ip",
    "network": "ip", "ipv4_addr": "ip", "ipv6_addr": "ip",
    "domain": "domain", "hostname": "domain", "fqdn": "domain", "domain_name": "domain",
    "sni": "domain",
    "sha1": "cert_sha1", "cert_sha1": "cert_sha1", "x509_sha1": "cert_sha1",
    "x509_fingerprint_sha1": "cert_sha1",
    "sha256": "cert_sha256", "cert_sha256": "cert_sha256", "x509_sha256": "cert_sha256",
    "x509_fingerprint_sha256": "cert_sha256",
    "ja3": "ja3", "ja3_md5": "ja3", "ja3_fingerprint_md5": "ja3",
    "ja4": "ja4",
}
_KNOWN_TYPES = "ip, cidr, domain, hostname, sha1, sha256, ja3, ja4"

# CSV header columns: the indicator column and the columns that describe it
_VALUE_COLUMNS = {"sha1": "cert_sha1", "sha256": "cert_sha256", "ja3_md5": "ja3", "ja3": "ja3",
                  "ja4": "ja4", "dstip": "ip", "ip": "ip", "ip_address": "ip",
                  "domain": "domain"}
_REASON_COLUMNS = ("listingreason", "malware", "reason", "description", "desc", "comment",
                   "threat")
_EXTRA_COLUMNS = {"dstport": "port", "port": "port", "listingdate": "listed",
                  "firstseen": "first seen", "lastseen": "last seen",
                  "lastonline": "last online"}


@dataclass(frozen=True, slots=True)
class Indicator:
    """One indicator and where it came from."""

    kind: str              # one of KINDS
    value: str             # normalised: "203.0.113.0/24", "evil.com", lower-case hex
    source: str            # the file it was read from
    line: int              # 1-based line in that file
    description: str = ""  # listing reason, STIX name, inline comment
    ref: str = ""          # the STIX indicator id, when there is one


@dataclass(frozen=True, slots=True)
class Skipped:
    """An indicator (or one OR term of it) that was not loaded, and why."""

    source: str
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class IntelConfig:
    """The `[intel]` table: the indicator files to load."""

    files: tuple[str, ...] = ()

    @classmethod
    def from_table(cls, table, where="intel"):
        """Validate a parsed TOML table; ConfigError names the full key."""
        require_table(table, where, ("files",))
        files = table.get("files", [])
        if not isinstance(files, list):
            raise ConfigError(
                f"Configuration key '{where}.files' must be a list of file paths, not {files!r}.")
        for i, item in enumerate(files):
            if not isinstance(item, str) or not item:
                raise ConfigError(
                    f"Configuration key '{where}.files[{i}]' must be a file path, not {item!r}.")
        return cls(tuple(files))


# ---------------------------------------------------------------- normalising

def normalize_domain(name):
    """Lower case, no trailing dot, IDNA A-labels; '' when it cannot be a name."""
    if isinstance(name, (bytes, bytearray, memoryview)):
        name = bytes(name).decode("latin-1")
    name = name.strip().rstrip(".").lower()
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return ""
    return name


def normalize_fingerprint(text):
    """'AB:CD:..' or 'abcd..' -> 'abcd..'; '' when it is not hexadecimal."""
    text = text.strip().replace(":", "").replace(" ", "").lower()
    return text if text and _HEX.match(text) else ""


def ip_key(ip):
    """(4 or 6, integer) for an address; IPv4-mapped IPv6 counts as IPv4; None if invalid."""
    if not isinstance(ip, str):
        ip = str(ip)
    try:
        if ":" in ip:
            n = int.from_bytes(socket.inet_pton(socket.AF_INET6, ip), "big")
            if n >> 32 == 0xFFFF:
                return 4, n & 0xFFFFFFFF
            return 6, n
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big")
    except (OSError, ValueError):
        return None


def parse_network(text):
    """An ipaddress network for an address or CIDR (host bits allowed); ValueError if neither."""
    net = ipaddress.ip_network(text.strip(), strict=False)
    if net.version == 6 and net.network_address.ipv4_mapped is not None and net.prefixlen >= 96:
        mapped = net.network_address.ipv4_mapped
        net = ipaddress.ip_network(f"{mapped}/{net.prefixlen - 96}")
    return net


def ip_range(text):
    """(family, first, last) integers for an address or network; ValueError if neither."""
    if "/" not in text:
        key = ip_key(text.strip())
        if key is not None:
            return key[0], key[1], key[1]
    net = parse_network(text)
    return net.version, int(net.network_address), int(net.broadcast_address)


def _canonical_ip(text):
    """Canonical text of an address or network (host bits dropped), or None."""
    if "/" not in text:
        key = ip_key(text.strip())
        if key is not None:
            family, n = key
            if family == 4:
                return socket.inet_ntoa(n.to_bytes(4, "big"))
            return socket.inet_ntop(socket.AF_INET6, n.to_bytes(16, "big"))
    try:
        net = parse_network(text)
    except ValueError:
        return None
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


class IpRangeTable:
    """Addresses and networks as sorted disjoint integer ranges, one bisect per lookup.

    Built from (address or CIDR text, payload) pairs; overlapping and nested
    networks are flattened so every range carries the payloads of all the
    networks covering it, the narrowest network first.
    """

    __slots__ = ("_starts", "_payloads")

    def __init__(self, entries):
        by_family = {4: [], 6: []}
        for text, payload in entries:
            family, first, last = ip_range(text)
            by_family[family].append((first, last, payload))
        self._starts = {}
        self._payloads = {}
        for family, ranges in by_family.items():
            self._starts[family], self._payloads[family] = _flatten(ranges)

    def lookup(self, ip):
        """Payloads of every network containing `ip`; () if none or not an address."""
        key = ip_key(ip)
        if key is None:
            return ()
        family, n = key
        i = bisect_right(self._starts[family], n) - 1
        return self._payloads[family][i] if i >= 0 else ()

    def __len__(self):
        return sum(len(s) for s in self._starts.values())


def _flatten(ranges):
    """Sweep (first, last, payload) ranges into segment starts and the payloads active in each."""
    events = {}
    for index, (first, last, payload) in enumerate(ranges):
        events.setdefault(first, ([], []))[0].append((index, last - first, payload))
        events.setdefault(last + 1, ([], []))[1].append(index)
    starts, payloads = [], []
    active = {}
    previous = None
    for point in sorted(events):
        adds, removes = events[point]
        for index in removes:
            del active[index]
        for index, size, payload in adds:
            active[index] = (size, index, payload)
        snapshot = tuple(p for _, _, p in sorted(active.values())) if active else ()
        if snapshot == previous:
            continue
        starts.append(point)
        payloads.append(snapshot)
        previous = snapshot
    return starts, payloads


class DomainTable:
    """Domains matched exactly and as parents: 'evil.com' matches 'a.b.evil.com'."""

    __slots__ = ("_self_and_below", "_below_only")

    def __init__(self, entries):
        """entries: (domain, payload); a domain '*.x' matches names below x, not x."""
        self._self_and_below = {}
        self._below_only = {}
        for domain, payload in entries:
            if domain.startswith("*."):
                self._below_only.setdefault(domain[2:], []).append(payload)
            else:
                self._self_and_below.setdefault(domain, []).append(payload)

    def lookup(self, name):
        """Payloads of every entry matching `name`, most specific first; never raises."""
        name = normalize_domain(name)
        if not name:
            return ()
        out = []
        exact = self._self_and_below
        below = self._below_only
        first = True
        while True:
            hits = exact.get(name)
            if hits:
                out.extend(hits)
            if not first:
                hits = below.get(name)
                if hits:
                    out.extend(hits)
            dot = name.find(".")
            if dot < 0:
                return tuple(out)
            name = name[dot + 1:]
            first = False

    def __len__(self):
        return len(self._self_and_below) + len(self._below_only)


# ------------------------------------------------------------------- the set

class IntelSet:
    """Indicators loaded from files, with one match_* method per kind."""

    def __init__(self, indicators=(), skipped=()):
        self.indicators = tuple(indicators)
        self.skipped = tuple(skipped)
        ips, domains = [], []
        self._cert_sha1, self._cert_sha256, self._ja3, self._ja4 = {}, {}, {}, {}
        dicts = {"cert_sha1": self._cert_sha1, "cert_sha256": self._cert_sha256,
                 "ja3": self._ja3, "ja4": self._ja4}
        for ind in self.indicators:
            if ind.kind == "ip":
                ips.append((ind.value, ind))
            elif ind.kind == "domain":
                domains.append((ind.value, ind))
            else:
                dicts[ind.kind].setdefault(ind.value, []).append(ind)
        self._ips = IpRangeTable(ips)
        self._domains = DomainTable(domains)

    @classmethod
    def load(cls, paths):
        """Read every file (see the module docstring for formats); IntelError if one is bad."""
        if isinstance(paths, (str, Path)):
            paths = [paths]
        indicators, skipped, seen = [], [], set()
        for path in paths:
            found, dropped = read_file(path)
            for ind in found:
                key = (ind.kind, ind.value, ind.source)
                if key not in seen:
                    seen.add(key)
                    indicators.append(ind)
            skipped.extend(dropped)
            if dropped:
                log.warning("%s: %d STIX indicator terms skipped (first: line %d, %s)",
                            path, len(dropped), dropped[0].line, dropped[0].reason)
            log.info("%s: %d indicators", path, len(found))
        return cls(indicators, skipped)

    @classmethod
    def from_config(cls, config):
        return cls.load(config.files)

    def match_ip(self, ip):
        """Indicators whose address or network contains `ip` (text or ipaddress object)."""
        return self._ips.lookup(ip)

    def match_domain(self, name):
        """Indicators equal to `name` or a parent of it (SNI, certificate name, ...)."""
        return self._domains.lookup(name)

    def match_cert(self, sha1=None, sha256=None):
        """Indicators for a certificate's SHA-1 and/or SHA-256 (any case, colons allowed)."""
        out = ()
        if sha1:
            out += tuple(self._cert_sha1.get(normalize_fingerprint(sha1), ()))
        if sha256:
            out += tuple(self._cert_sha256.get(normalize_fingerprint(sha256), ()))
        return out

    def match_ja3(self, h):
        """Indicators for a JA3 hash (any case)."""
        return tuple(self._ja3.get(h.strip().lower(), ())) if h else ()

    def match_ja4(self, s):
        """Indicators for a JA4 string (exact)."""
        return tuple(self._ja4.get(s.strip(), ())) if s else ()

    def counts(self):
        """{kind: number of indicators} for every kind."""
        out = dict.fromkeys(KINDS, 0)
        for ind in self.indicators:
            out[ind.kind] += 1
        return out

    def __len__(self):
        return len(self.indicators)

    def __bool__(self):
        return bool(self.indicators)


# ------------------------------------------------------------------- readers

def read_file(path):
    """(indicators, skipped) from one file; IntelError names the file and line."""
    path = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise IntelError(
            f"Threat-intelligence file '{path}' cannot be read: {exc.strerror or exc}.") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise IntelError(
            f"Threat-intelligence file '{path}', line {line}: not UTF-8 text "
            f"(byte {raw[exc.start]:#04x}).") from None
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        return _read_stix(path, text)
    lines = text.splitlines()
    header = _find_header(lines)
    if header is not None:
        return _read_csv(path, lines, header), []
    first = next((ln for ln in lines if ln.strip() and not _is_comment(ln)), "")
    if "," in first:
        return _read_csv(path, lines, None), []
    return _read_plain(path, lines), []


def _is_comment(line):
    return line.lstrip()[:1] in ("#", ";")


def _fail(path, line, problem):
    raise IntelError(f"Threat-intelligence file '{path}', line {line}: {problem}")


def _indicator(kind, value):
    """Normalised value for a kind, or None if it is not one."""
    value = value.strip()
    if kind == "ip":
        return _canonical_ip(value)
    if kind == "domain":
        name = normalize_domain(value)
        if name.startswith("*."):
            return name if _DOMAIN.match(name[2:]) or re.match(rf"^{_LABEL}$", name[2:]) else None
        return name if _DOMAIN.match(name) else None
    if kind in ("cert_sha1", "cert_sha256", "ja3"):
        if kind == "ja3" and ":" in value:
            return None
        fp = normalize_fingerprint(value)
        want = {"cert_sha1": 40, "cert_sha256": 64, "ja3": 32}[kind]
        return fp if len(fp) == want else None
    if kind == "ja4":
        return value if _JA4.match(value) else None
    raise AssertionError(kind)


_KIND_WORDS = {"ip": "an IP address or network", "domain": "a domain name",
               "cert_sha1": "a SHA-1 fingerprint (40 hex digits)",
               "cert_sha256": "a SHA-256 fingerprint (64 hex digits)",
               "ja3": "a JA3 hash (32 hex digits)", "ja4": "a JA4 fingerprint"}


def _typed(path, line, kind, value):
    norm = _indicator(kind, value)
    if norm is None:
        _fail(path, line, f"{value.strip()!r} is not {_KIND_WORDS[kind]}.")
    return norm


def _infer(value):
    """(kind, normalised value) for a plain-list token, or None."""
    if "/" in value or ip_key(value) is not None:
        norm = _indicator("ip", value)
        return ("ip", norm) if norm else None
    fp = normalize_fingerprint(value)
    if fp:
        kinds = {32: "ja3", 40: "cert_sha1", 64: "cert_sha256"}
        kind = kinds.get(len(fp))
        if kind == "ja3" and ":" in value:
            return None          # a colon-separated MD5 is a certificate MD5, not a JA3
        return (kind, fp) if kind else None
    if _JA4.match(value):
        return "ja4", value
    norm = _indicator("domain", value)
    return ("domain", norm) if norm else None


def _read_plain(path, lines):
    out = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or _is_comment(text):
            continue
        token, _, rest = text.partition(" ")
        if "\t" in token:
            token, _, more = token.partition("\t")
            rest = f"{more} {rest}"
        rest = rest.strip()
        if rest and rest[0] not in "#;":
            _fail(path, number, f"expected one indicator per line, found {text!r}.")
        found = _infer(token)
        if found is None:
            _fail(path, number, f"{token!r} is not an IP address, network, domain, certificate "
                                f"fingerprint, JA3 or JA4.")
        out.append(Indicator(found[0], found[1], path, number, rest.lstrip("#;").strip()))
    return out


def _header_fields(line):
    text = line.strip().lstrip("#").strip()
    if "," not in text:
        return None
    fields = [f.strip().strip('"').lower() for f in next(csv.reader([text]))]
    if "type" in fields and "value" in fields:
        return fields
    if any(f in _VALUE_COLUMNS for f in fields) and all(
            f in _VALUE_COLUMNS or f in _REASON_COLUMNS or f in _EXTRA_COLUMNS for f in fields):
        return fields
    return None


def _find_header(lines):
    """(line number, fields) of a CSV header before the first data row, or None."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = _header_fields(line)
        if fields is not None:
            return number, fields
        if not _is_comment(line):
            return None
    return None


def _read_csv(path, lines, header):
    header_line, fields = header if header else (0, ["type", "value", "description"])
    typed = "type" in fields
    out = []
    for number, line in enumerate(lines, 1):
        if number <= header_line or not line.strip() or _is_comment(line):
            continue
        try:
            row = next(csv.reader([line]))
        except csv.Error as exc:
            _fail(path, number, f"not a CSV row ({exc}).")
        if len(row) > len(fields) and fields[-1] in _REASON_COLUMNS:
            # abuse.ch does not quote: a listing reason may hold commas
            row = row[:len(fields) - 1] + [",".join(row[len(fields) - 1:])]
        row = [cell.strip() for cell in row]
        least = 2 if typed and not header else len(fields)
        if typed and header:
            least = max(fields.index("type"), fields.index("value")) + 1
        if not least <= len(row) <= len(fields):
            span = f"{least} to {len(fields)}" if least < len(fields) else f"{least}"
            _fail(path, number, f"expected {span} columns ({','.join(fields)}), "
                                f"found {len(row)}.")
        cells = dict(zip(fields, row))
        if typed:
            alias = cells["type"].lower().replace("-", "_")
            kind = _TYPE_ALIASES.get(alias)
            if kind is None:
                _fail(path, number, f"unknown indicator type {cells['type']!r}; known types are "
                                    f"{_KNOWN_TYPES}.")
            value = cells["value"]
        else:
            column = next(f for f in fields if f in _VALUE_COLUMNS)
            kind, value = _VALUE_COLUMNS[column], cells[column]
        norm = _typed(path, number, kind, value)
        out.append(Indicator(kind, norm, path, number, _describe(cells)))
    return out


def _describe(cells):
    parts = [cells[c] for c in _REASON_COLUMNS if cells.get(c)]
    parts += [f"{_EXTRA_COLUMNS[c]} {cells[c]}" for c in cells
              if c in _EXTRA_COLUMNS and cells[c]]
    return "; ".join(parts)


# ---------------------------------------------------------------------- STIX

class _Unsupported(Exception):
    pass


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<path>[a-z0-9][a-z0-9_-]*:(?:[A-Za-z0-9_-]+|'[^']*')
             (?:\.(?:[A-Za-z0-9_-]+|'[^']*')|\[(?:\d+|\*)\])*)
  | (?P<punct>[\[\]()])
  | (?P<op>!=|<=|>=|=|<|>)
  | (?P<literal>[thb]'[^']*'|-?\d+(?:\.\d+)?)
  | (?P<word>[A-Za-z_]+)
""", re.VERBOSE)

_IP_PATHS = ("ipv4-addr:value", "ipv6-addr:value", "network-traffic:dst_ref.value",
             "network-traffic:src_ref.value")
_JA3_PROPERTY = re.compile(r"^(?:x[-_])?(?:misp[-_])?ja3(?:[-_](?:hash|md5|fingerprint"
                           r"(?:[-_]md5)?))?$")
_JA4_PROPERTY = re.compile(r"^(?:x[-_])?ja4(?:[-_](?:hash|fingerprint))?$")


def _tokenize(pattern):
    tokens, pos = [], 0
    while pos < len(pattern):
        m = _TOKEN.match(pattern, pos)
        if m is None:
            raise ValueError(f"unexpected {pattern[pos:pos + 12]!r} at character {pos}")
        pos = m.end()
        if m.lastgroup != "ws":
            kind = m.lastgroup
            text = m.group()
            if kind == "word":
                text = text.upper()
            tokens.append((kind, text))
    return tokens


def _parse_pattern(pattern):
    """[(path, operator, value)] for an OR of equality comparisons.

    ValueError when the pattern is not valid STIX pattern syntax as far as
    this subset can tell; _Unsupported when it is STIX beyond the subset.
    """
    tokens = _tokenize(pattern)
    for kind, text in tokens:
        if kind == "word" and text not in ("OR", "ISSUBSET"):
            raise _Unsupported(f"{text} in pattern")
        if kind == "op" and text != "=":
            raise _Unsupported(f"operator {text}")
    parser = _PatternParser(tokens)
    parser.expression(inside=False)
    if parser.pos != len(tokens):
        raise ValueError(f"unexpected {tokens[parser.pos][1]!r} after the pattern")
    return parser.terms


class _PatternParser:
    """Recursive descent over: expr := term (OR term)*; term := '(' expr ')' |
    '[' cexpr ']'; inside brackets term := '(' cexpr ')' | path op 'string'."""

    def __init__(self, tokens):
        self.tokens = tokens
        self.pos = 0
        self.terms = []

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None)

    def take(self):
        token = self.peek()
        if token[0] is None:
            raise ValueError("the pattern ends too early")
        self.pos += 1
        return token

    def expect(self, text):
        got = self.take()[1]
        if got != text:
            raise ValueError(f"expected {text!r}, found {got!r}")

    def expression(self, inside):
        self.term(inside)
        while self.peek() == ("word", "OR"):
            self.pos += 1
            self.term(inside)

    def term(self, inside):
        kind, text = self.take()
        if text == "(":
            self.expression(inside)
            self.expect(")")
        elif text == "[" and not inside:
            self.expression(True)
            self.expect("]")
        elif kind == "path" and inside:
            op_kind, op = self.take()
            if op_kind not in ("op", "word") or (op_kind == "word" and op != "ISSUBSET"):
                raise ValueError(f"expected a comparison operator after {text}, found {op!r}")
            value_kind, value = self.take()
            if value_kind == "literal":
                raise _Unsupported(f"non-string value {value}")
            if value_kind != "string":
                raise ValueError(f"expected a quoted value after {text} {op}, found {value!r}")
            self.terms.append((text, op, re.sub(r"\\(.)", r"\1", value[1:-1])))
        else:
            raise ValueError(f"unexpected {text!r}")


def _kind_of(path):
    """Indicator kind for an object path; _Unsupported if none."""
    if path in _IP_PATHS:
        return "ip"
    if path == "domain-name:value":
        return "domain"
    obj, _, props = path.partition(":")
    parts = [p.strip("'").lower() for p in re.findall(r"'[^']*'|[^.\[\]]+", props)]
    if obj == "x509-certificate" and len(parts) == 2 and parts[0] == "hashes":
        algo = parts[1].replace("-", "")
        if algo in ("sha1", "sha256"):
            return "cert_" + algo
        raise _Unsupported(f"certificate hash {parts[1]}")
    if any(_JA3_PROPERTY.match(p) for p in parts):
        return "ja3"
    if any(_JA4_PROPERTY.match(p) for p in parts):
        return "ja4"
    if obj == "file":
        raise _Unsupported("file hashes and names are not visible in encrypted traffic")
    raise _Unsupported(f"object path {path}")


def _read_stix(path, text):
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(path, exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno}).")
    if isinstance(doc, dict) and doc.get("type") == "bundle":
        objects = doc.get("objects", [])
        if not isinstance(objects, list):
            _fail(path, 1, "the STIX bundle's 'objects' is not a list.")
    elif isinstance(doc, dict) and "type" in doc:
        objects = [doc]
    elif isinstance(doc, list):
        objects = doc
    else:
        _fail(path, 1, "JSON that is not a STIX 2.1 bundle, object or list of objects.")
    out, skipped = [], []
    cursor = (0, 1)
    for obj in objects:
        if not isinstance(obj, dict) or obj.get("type") != "indicator":
            continue
        ref = obj.get("id") if isinstance(obj.get("id"), str) else ""
        line, cursor = _line_of(text, ref, cursor)
        if obj.get("revoked") is True:
            skipped.append(Skipped(path, line, "revoked indicator"))
            continue
        pattern_type = obj.get("pattern_type", "stix")
        if pattern_type != "stix":
            skipped.append(Skipped(path, line, f"pattern_type {pattern_type!r}"))
            continue
        pattern = obj.get("pattern")
        if not isinstance(pattern, str) or not pattern.strip():
            _fail(path, line, f"STIX indicator {ref or '(no id)'} has no pattern.")
        try:
            terms = _parse_pattern(pattern)
        except _Unsupported as exc:
            skipped.append(Skipped(path, line, f"unsupported pattern ({exc}): {pattern}"))
            continue
        except ValueError as exc:
            _fail(path, line, f"STIX pattern {pattern!r} is malformed: {exc}.")
        name = obj.get("name") if isinstance(obj.get("name"), str) else ""
        desc = obj.get("description") if isinstance(obj.get("description"), str) else ""
        description = name or desc
        for obj_path, op, value in terms:
            try:
                kind = _kind_of(obj_path)
                if op == "ISSUBSET" and kind != "ip":
                    raise _Unsupported(f"ISSUBSET on {obj_path}")
            except _Unsupported as exc:
                skipped.append(Skipped(path, line, f"unsupported term ({exc}): "
                                                   f"{obj_path} {op} '{value}'"))
                continue
            norm = _typed(path, line, kind, value)
            out.append(Indicator(kind, norm, path, line, description, ref))
    return out, skipped


def _line_of(text, ref, cursor):
    """(line, cursor) of the object with id `ref`; cursor is (offset, line) of the last one.

    Bundles list objects in order, so the search runs forward from the last
    object found and counts only the newlines in between.
    """
    offset, line = cursor
    at = text.find(json.dumps(ref), offset) if ref else -1
    if at < 0 and ref:
        at = text.find(json.dumps(ref))
        if at >= 0:
            offset, line = 0, 1
    if at < 0:
        return line, cursor
    line += text.count("\n", offset, at)
    return line, (at, line)
