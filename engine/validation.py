"""Certificate chain validation: is this chain trusted for this name, at
the time of the packet? (policy; `engine.certs` is the mechanism half)

`ChainValidator.validate(chain, sni, at_us)` runs
`cryptography.x509.verification` (the Web PKI profile of RFC 5280 and the
CA/Browser Forum baseline requirements) against

* a trust store: Mozilla's roots as shipped by `certifi` (the field's
  standard root bundle), or a configured PEM bundle instead;
* organisation-approved CAs, added as extra trust anchors, so that a chain
  ending in one is valid *and* says so (`approved_ca`);
* certificate pins: per domain, the SHA-256 of the leaf certificates the
  organisation expects; the verdict (`pin`) is reported beside the status,
  it does not change it.

Time is packet time, never the wall clock: a capture replayed in five years
validates as it did on the wire.

Two bounded caches keep the cost per handshake low:

* intermediates by subject name, filled from chains that validated, so
  that a later chain whose server forgot to send its intermediate is still
  completed (``completed_from_cache`` says so — browsers do the same with
  their intermediate caches, and a server that does this is a finding in
  itself);
* results by (chain hash, SNI, UTC day). A cached result is reused only
  while the packet time stays between the same certificate validity
  boundaries, and an ``incomplete_chain`` result only while no intermediate
  was learned since, so caching never changes an answer.

Nothing a certificate contains makes `validate` raise: a failure inside
`cryptography` becomes status ``error`` with its message.

Status, one per result (the first that applies, in this order):

==================  =========================================================
error               the leaf cannot be parsed, the chain is empty, or
                    cryptography failed in an unexpected way
valid               chains to a trust anchor and covers the SNI
no_sni              chains to a trust anchor; there was no SNI to check
self_signed         the leaf is signed by its own key and is not an anchor
expired             a presented certificate's notAfter is before packet time
not_yet_valid       a presented certificate's notBefore is after packet time
name_mismatch       chains to a trust anchor but does not cover the SNI
incomplete_chain    the leaf's issuer is missing from the chain, the
                    intermediate cache and the trust store (the server did
                    not send its intermediate)
untrusted           anything else cryptography rejects (a chain ending at an
                    unknown root, bad signature, forbidden algorithm,
                    constraint violations, ...): see `reason`
==================  =========================================================
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import ipaddress
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Iterable, Mapping, Optional, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import verification as _v

from .errors import ConfigError

__all__ = ["ValidationResult", "ChainValidator", "ValidationConfig", "STATUSES", "TRUSTED_STATUSES",
           "PIN_MATCH", "PIN_MISMATCH", "PIN_NOT_PINNED", "load_pem_bundle",
           "default_roots", "hostname_matches", "normalise_pins",
           "DEFAULT_INTERMEDIATE_CACHE_SUBJECTS", "DEFAULT_RESULT_CACHE_ENTRIES"]

STATUSES = ("valid", "untrusted", "incomplete_chain", "expired", "not_yet_valid",
            "name_mismatch", "self_signed", "no_sni", "error")
TRUSTED_STATUSES = frozenset(("valid", "no_sni"))
PIN_MATCH, PIN_MISMATCH, PIN_NOT_PINNED = "match", "mismatch", "not_pinned"

DEFAULT_INTERMEDIATE_CACHE_SUBJECTS = 2048   # distinct issuer names kept
INTERMEDIATES_PER_SUBJECT = 4                # key rollover: a few per name
DEFAULT_RESULT_CACHE_ENTRIES = 20_000
MAX_CHAIN_DEPTH = 8                          # cryptography's default is 8 too
_DAY_US = 86_400_000_000
_SHA256 = hashes.SHA256()


@dataclass(frozen=True, slots=True)
class ValidationResult:
    status: str                    # one of STATUSES
    reason: str                    # a sentence for the analyst
    sni: Optional[str] = None      # the name checked (normalised), None without SNI
    approved_ca: bool = False      # the verified chain ends in an organisation-approved CA
    pin: str = PIN_NOT_PINNED      # match / mismatch / not_pinned
    completed_from_cache: bool = False   # an intermediate came from the cache, not the wire
    anchor: Optional[str] = None   # subject of the trust anchor the chain ended in
    # the issuer no certificate of the chain, the cache or the trust store has
    # (incomplete_chain, and untrusted chains ending at a CA of an unknown root)
    missing_issuer: Optional[str] = None

    @property
    def trusted(self) -> bool:
        return self.status in TRUSTED_STATUSES


# --- trust material -----------------------------------------------------------

def _load_quietly(fn, data):
    # cryptography warns (CryptographyDeprecationWarning) about e.g. negative
    # serials in a few real roots and server certificates; that is data here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(data)


def load_pem_bundle(path: str, what: str = "CA bundle") -> list[x509.Certificate]:
    """Every certificate of a PEM file; ConfigError naming the file otherwise."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ConfigError(f"The {what} '{path}' cannot be read: {exc.strerror or exc}.") from None
    try:
        certs = _load_quietly(x509.load_pem_x509_certificates, data)
    except ValueError as exc:
        raise ConfigError(f"The {what} '{path}' is not a PEM certificate file: {exc}.") from None
    return certs


def default_roots() -> list[x509.Certificate]:
    """Mozilla's root program, as packaged by certifi."""
    import certifi
    return load_pem_bundle(certifi.where(), "Mozilla root bundle (certifi)")


def _sha256_hex(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def normalise_pins(pins: Optional[Mapping[str, Iterable[str]]]) -> dict[str, frozenset[str]]:
    """{domain: SHA-256 hex of the allowed leaves}; domains lower case without
    a trailing dot, "*.example.com" for every name below example.com;
    fingerprints lower case with any ":" removed."""
    out: dict[str, frozenset[str]] = {}
    for domain, digests in (pins or {}).items():
        if isinstance(digests, str):
            digests = (digests,)
        key = domain.strip().rstrip(".").lower()
        values = frozenset(d.replace(":", "").strip().lower() for d in digests)
        for d in values:
            if len(d) != 64 or any(c not in "0123456789abcdef" for c in d):
                raise ConfigError(f"The pin '{d}' for '{domain}' is not a SHA-256 "
                                  "fingerprint (64 hex digits).")
        out[key] = out.get(key, frozenset()) | values
    return out


def _normalise_name(sni: Optional[str]) -> Optional[str]:
    if not sni:
        return None
    name = sni.strip().rstrip(".").lower()
    return name or None


def hostname_matches(dns_names: Iterable[str], ip_addresses: Iterable[str],
                     common_name: Optional[str], host: str) -> bool:
    """RFC 6125 matching of `host` against a certificate's names: DNS SANs
    (a wildcard only as the whole left-most label, never over a public
    suffix-like single label), IP SANs for an address; the CN only when the
    certificate has no SAN at all (the legacy rule)."""
    host = _normalise_name(host)
    if host is None:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    dns_names, ip_addresses = tuple(dns_names), tuple(ip_addresses)
    if address is not None:
        return any(_ip_equal(address, ip) for ip in ip_addresses) or (
            not dns_names and not ip_addresses and common_name is not None
            and _ip_equal(address, common_name))
    candidates = dns_names if (dns_names or ip_addresses) else (
        (common_name,) if common_name else ())
    return any(_dns_match(pattern, host) for pattern in candidates)


def _ip_equal(address, text: str) -> bool:
    try:
        return ipaddress.ip_address(text.strip()) == address
    except ValueError:
        return False


def _dns_match(pattern: str, host: str) -> bool:
    pattern = pattern.strip().rstrip(".").lower()
    if pattern == host:
        return True
    if pattern.startswith("*.") and "*" not in pattern[2:] and pattern.count(".") >= 2:
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return False


def _pin_lookup(pins: Mapping[str, frozenset[str]], host: Optional[str]) -> Optional[frozenset[str]]:
    if not pins or host is None:
        return None
    if host in pins:
        return pins[host]
    labels = host.split(".")
    for i in range(1, len(labels)):
        wildcard = "*." + ".".join(labels[i:])
        if wildcard in pins:
            return pins[wildcard]
    return None


# --- configuration ---------------------------------------------------------------

@dataclass(frozen=True)
class ValidationConfig:
    """The ``[validation]`` table: where trust comes from and the cache caps.

    ca_bundle: a PEM file replacing the Mozilla roots ("" = certifi's bundle).
    approved_ca_files: PEM files of organisation-approved CAs (extra anchors;
        a self-signed server certificate the organisation approves works too).
    pins: {domain: [leaf SHA-256, ...]}; "*.example.com" covers subdomains.
    max_intermediate_subjects / max_results: the two cache caps.
    """
    ca_bundle: str = ""
    approved_ca_files: tuple = ()
    pins: Mapping = field(default_factory=lambda: MappingProxyType({}))
    max_intermediate_subjects: int = DEFAULT_INTERMEDIATE_CACHE_SUBJECTS
    max_results: int = DEFAULT_RESULT_CACHE_ENTRIES

    @classmethod
    def from_table(cls, table: Mapping, where: str = "validation") -> "ValidationConfig":
        """From a parsed TOML table; ConfigError names the full key."""
        if not isinstance(table, Mapping):
            raise ConfigError(f"Configuration key '{where}' must be a table, not {table!r}.")
        out: dict = {}
        for key, value in table.items():
            full = f"{where}.{key}"
            if key == "ca_bundle":
                if not isinstance(value, str):
                    raise ConfigError(f"Configuration key '{full}' must be a file path, not {value!r}.")
                out[key] = value
            elif key == "approved_ca_files":
                if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                    raise ConfigError(f"Configuration key '{full}' must be a list of file paths, "
                                      f"not {value!r}.")
                out[key] = tuple(value)
            elif key == "pins":
                if not isinstance(value, Mapping) or not all(
                        isinstance(v, str) or (isinstance(v, (list, tuple))
                                               and all(isinstance(d, str) for d in v))
                        for v in value.values()):
                    raise ConfigError(f"Configuration key '{full}' must be a table of domain = "
                                      f"[\"sha256 hex\", ...], not {value!r}.")
                try:
                    out[key] = MappingProxyType(normalise_pins(value))
                except ConfigError as exc:
                    raise ConfigError(f"Configuration key '{full}': {exc}") from None
            elif key in ("max_intermediate_subjects", "max_results"):
                if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000_000:
                    raise ConfigError(f"Configuration key '{full}' must be an integer from 1 "
                                      f"to 10000000, not {value!r}.")
                out[key] = value
            else:
                raise ConfigError(f"Configuration key '{full}' is not known; the validation keys are: "
                                  "approved_ca_files, ca_bundle, max_intermediate_subjects, "
                                  "max_results, pins.")
        return cls(**out)


# --- the validator --------------------------------------------------------------

class ChainValidator:
    """Validates server chains at packet time; bounded, thread-safe caches.

    roots: the trust store (default: certifi's Mozilla roots).
    approved_cas: organisation-approved CAs, extra anchors (reported as
        `approved_ca` when a chain ends in one).
    pins: {domain: leaf SHA-256 hex, or several}; see `normalise_pins`.
    """

    def __init__(self, roots: Optional[Sequence[x509.Certificate]] = None, *,
                 approved_cas: Sequence[x509.Certificate] = (),
                 pins: Optional[Mapping[str, Iterable[str]]] = None,
                 max_intermediate_subjects: int = DEFAULT_INTERMEDIATE_CACHE_SUBJECTS,
                 max_results: int = DEFAULT_RESULT_CACHE_ENTRIES):
        if max_intermediate_subjects < 1 or max_results < 1:
            raise ValueError("ChainValidator cache sizes must be at least 1.")
        roots = list(default_roots() if roots is None else roots)
        approved = list(approved_cas)
        self._approved = {c.fingerprint(_SHA256) for c in approved}
        anchors = roots + approved
        self._store = _v.Store(anchors) if anchors else None
        self._anchor_subjects = {c.subject.public_bytes() for c in anchors}
        self._anchor_ders = {c.public_bytes(serialization.Encoding.DER) for c in anchors}
        self.pins = normalise_pins(pins)
        self.max_intermediate_subjects = max_intermediate_subjects
        self.max_results = max_results
        self._intermediates: OrderedDict[bytes, OrderedDict[bytes, x509.Certificate]] = OrderedDict()
        self._results: OrderedDict[tuple, tuple] = OrderedDict()
        self._generation = 0
        self._lock = threading.Lock()
        self.result_hits = 0
        self.result_misses = 0
        self.result_evictions = 0
        self.intermediate_evictions = 0
        self.completed_from_cache = 0

    @classmethod
    def from_files(cls, ca_bundle: Optional[str] = None, approved_ca_files: Iterable[str] = (),
                   pins: Optional[Mapping[str, Iterable[str]]] = None, **kw) -> "ChainValidator":
        """A CA bundle file replaces the Mozilla roots; approved CA files add anchors."""
        roots = load_pem_bundle(ca_bundle) if ca_bundle else None
        approved: list[x509.Certificate] = []
        for path in approved_ca_files:
            approved += load_pem_bundle(path, "approved CA file")
        return cls(roots, approved_cas=approved, pins=pins, **kw)

    @classmethod
    def from_config(cls, config: ValidationConfig) -> "ChainValidator":
        return cls.from_files(config.ca_bundle or None, config.approved_ca_files, dict(config.pins),
                              max_intermediate_subjects=config.max_intermediate_subjects,
                              max_results=config.max_results)

    # -- public API --

    def validate_session(self, session) -> ValidationResult:
        """The server chain of an engine.handshake.TlsSession, at its packet time."""
        return self.validate(session.chain, session.sni, session.record.at_us)

    def validate(self, chain: Sequence[bytes], sni: Optional[str], at_us: int) -> ValidationResult:
        """Validate `chain` (DER, leaf first) for `sni` at packet time `at_us`
        (microseconds since the epoch, UTC). Never raises for any chain bytes."""
        host = _normalise_name(sni)
        ders = [bytes(d) for d in chain]
        digest = hashlib.sha256(b"".join(hashlib.sha256(d).digest() for d in ders)).digest()
        key = (digest, host, at_us // _DAY_US)
        with self._lock:
            cached = self._results.get(key)
            if cached is not None:
                result, lo, hi, generation = cached
                if lo <= at_us < hi and (generation is None or generation == self._generation):
                    self._results.move_to_end(key)
                    self.result_hits += 1
                    return result
        try:
            result, boundaries = self._validate(ders, host, at_us)
        except Exception as exc:  # never let cryptography's surprises reach the pipeline
            result, boundaries = ValidationResult(
                "error", f"Validation failed unexpectedly: {type(exc).__name__}: {exc}", host), []
        lo, hi = _region(boundaries, at_us)
        with self._lock:
            self.result_misses += 1
            generation = self._generation if result.status == "incomplete_chain" else None
            self._results[key] = (result, lo, hi, generation)
            self._results.move_to_end(key)
            while len(self._results) > self.max_results:
                self._results.popitem(last=False)
                self.result_evictions += 1
        return result

    def pin_verdict(self, leaf_sha256: str, sni: Optional[str]) -> str:
        allowed = _pin_lookup(self.pins, _normalise_name(sni))
        if allowed is None:
            return PIN_NOT_PINNED
        return PIN_MATCH if leaf_sha256.lower() in allowed else PIN_MISMATCH

    @property
    def intermediate_count(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._intermediates.values())

    # -- internals --

    def _validate(self, ders: list[bytes], host: Optional[str], at_us: int):
        if not ders:
            return ValidationResult("error", "The server sent no certificate.", host), []
        pin = self.pin_verdict(_sha256_hex(ders[0]), host)
        try:
            leaf = _load_quietly(x509.load_der_x509_certificate, ders[0])
        except Exception as exc:
            return ValidationResult("error", f"The leaf certificate cannot be parsed: {exc}.",
                                    host, pin=pin), []
        presented = [leaf]
        for der in ders[1:]:
            try:
                presented.append(_load_quietly(x509.load_der_x509_certificate, der))
            except Exception:
                continue  # an unparseable extra certificate is ignored, as clients do
        when = _dt.datetime.fromtimestamp(at_us // 1_000_000, tz=_dt.timezone.utc).replace(
            microsecond=at_us % 1_000_000)
        from_cache = self._cached_issuers(presented)
        pool = presented[1:] + from_cache
        boundaries = _validity_boundaries(presented + from_cache)

        subject, bad_name = None, None
        if host is not None:
            try:
                subject = _subject_for(host)
            except ValueError as exc:
                bad_name = f"The SNI '{host}' is not a valid DNS name ({exc})"

        built, error = self._verify(leaf, pool, subject, when)
        if built is not None and bad_name is None:
            return self._success(built, host, pin, from_cache, presented, boundaries,
                                 "valid" if host is not None else "no_sni"), boundaries
        # Why did it fail? The first matching explanation wins (module docstring).
        if _is_self_signed(leaf) and leaf.public_bytes(serialization.Encoding.DER) not in self._anchor_ders:
            return ValidationResult("self_signed", "The leaf certificate is self-signed "
                                    f"({_cn(leaf)}) and is not a trust anchor.", host, pin=pin), boundaries
        expiry = _time_problem(presented[:1], when, host, pin)
        if expiry is not None:
            return expiry, boundaries
        if host is not None:
            nameless = built if built is not None else self._verify(leaf, pool, None, when)[0]
            if nameless is not None:
                reason = bad_name + "." if bad_name else (
                    f"The certificate ({_names(leaf)}) does not cover the SNI '{host}'.")
                ok = self._success(nameless, host, pin, from_cache, presented, boundaries, "name_mismatch")
                return _replace_reason(ok, reason), boundaries
        expiry = _time_problem(presented, when, host, pin)
        if expiry is not None:
            return expiry, boundaries
        missing = self._missing_issuer(presented + from_cache)
        if missing is not None and missing[0]:
            # The server sent no intermediate for its leaf, and none is cached.
            return ValidationResult("incomplete_chain", f"No certificate for the issuer '{missing[2]}' "
                                    "was in the chain, the intermediate cache or the trust store.",
                                    host, pin=pin, missing_issuer=missing[2]), boundaries
        if missing is not None:
            # The chain has its intermediates and ends at a CA whose issuer is
            # not a trust anchor: an unknown (or since removed) root.
            return ValidationResult("untrusted", f"The chain ends at '{missing[1]}', issued by "
                                    f"'{missing[2]}', which is not in the trust store.",
                                    host, pin=pin, missing_issuer=missing[2]), boundaries
        return ValidationResult("untrusted", _clean(error), host, pin=pin), boundaries

    def _verify(self, leaf, pool, subject, when):
        """(verified chain, None) or (None, error text)."""
        if self._store is None:
            return None, "The trust store is empty."
        builder = _v.PolicyBuilder().store(self._store).time(when).max_chain_depth(MAX_CHAIN_DEPTH)
        try:
            if subject is not None:
                return list(builder.build_server_verifier(subject).verify(leaf, pool)), None
            # No name to check: the CA side keeps the Web PKI rules, the leaf
            # is only required to be signed into the chain.
            if not hasattr(builder, "extension_policies"):  # cryptography < 45
                stand_in = _any_name(leaf)
                if stand_in is None:
                    return None, "The leaf has no subjectAltName to validate it without an SNI."
                return list(builder.build_server_verifier(stand_in).verify(leaf, pool)), None
            builder = builder.extension_policies(ca_policy=_v.ExtensionPolicy.webpki_defaults_ca(),
                                                 ee_policy=_v.ExtensionPolicy.permit_all())
            return list(builder.build_client_verifier().verify(leaf, pool).chain), None
        except _v.VerificationError as exc:
            return None, str(exc)

    def _success(self, built, host, pin, from_cache, presented, boundaries, status):
        cached_ders = {c.public_bytes(serialization.Encoding.DER) for c in from_cache}
        completed = any(c.public_bytes(serialization.Encoding.DER) in cached_ders for c in built[1:])
        boundaries.extend(_validity_boundaries(built))
        self._learn(built[1:-1])
        anchor = built[-1]
        approved = anchor.fingerprint(_SHA256) in self._approved
        if completed:
            with self._lock:
                self.completed_from_cache += 1
        reason = (f"The chain verifies to '{_cn(anchor)}'"
                  + (", an organisation-approved CA" if approved else "")
                  + (", completed with an intermediate from the cache that the server did not send"
                     if completed else "")
                  + ("." if host is not None else "; there was no SNI to check the name against."))
        return ValidationResult(status, reason, host, approved_ca=approved, pin=pin,
                                completed_from_cache=completed, anchor=_name(anchor))

    def _learn(self, intermediates):
        with self._lock:
            for cert in intermediates:
                subject = cert.subject.public_bytes()
                der = cert.public_bytes(serialization.Encoding.DER)
                bucket = self._intermediates.get(subject)
                if bucket is None:
                    bucket = self._intermediates[subject] = OrderedDict()
                self._intermediates.move_to_end(subject)
                if der in bucket:
                    bucket.move_to_end(der)
                    continue
                bucket[der] = cert
                self._generation += 1
                while len(bucket) > INTERMEDIATES_PER_SUBJECT:
                    bucket.popitem(last=False)
                while len(self._intermediates) > self.max_intermediate_subjects:
                    self._intermediates.popitem(last=False)
                    self.intermediate_evictions += 1

    def _cached_issuers(self, presented):
        """Cached intermediates for issuers the presented chain lacks, following
        issuer links up to MAX_CHAIN_DEPTH."""
        have = {c.subject.public_bytes() for c in presented}
        wanted = [c.issuer.public_bytes() for c in presented]
        found: list[x509.Certificate] = []
        with self._lock:
            for _ in range(MAX_CHAIN_DEPTH):
                new = []
                for issuer in wanted:
                    if issuer in have or issuer in self._anchor_subjects:
                        continue
                    bucket = self._intermediates.get(issuer)
                    have.add(issuer)
                    if bucket:
                        self._intermediates.move_to_end(issuer)
                        new.extend(bucket.values())
                if not new:
                    break
                found.extend(new)
                wanted = [c.issuer.public_bytes() for c in new]
        return found

    def _missing_issuer(self, certs) -> Optional[tuple[bool, str, str]]:
        """Walk issuer links from the leaf through `certs`; where one is missing
        (and is no anchor), (missing at the leaf?, that certificate, the issuer)."""
        subjects = {c.subject.public_bytes() for c in certs} | self._anchor_subjects
        current, seen = certs[0], set()
        while True:
            issuer = current.issuer.public_bytes()
            if issuer == current.subject.public_bytes() or issuer in self._anchor_subjects:
                return None
            if issuer not in subjects:
                return current is certs[0], _cn(current), _name_of(current.issuer)
            if issuer in seen:
                return None
            seen.add(issuer)
            current = next(c for c in certs if c.subject.public_bytes() == issuer)


def _time_problem(certs, when, host, pin) -> Optional[ValidationResult]:
    for position, cert in enumerate(certs):
        what = "leaf certificate" if position == 0 else f"chain certificate {position + 1} ({_cn(cert)})"
        if cert.not_valid_after_utc < when:
            return ValidationResult("expired", f"The {what} expired at "
                                    f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}, before the "
                                    f"packet time {when:%Y-%m-%dT%H:%M:%SZ}.", host, pin=pin)
        if cert.not_valid_before_utc > when:
            return ValidationResult("not_yet_valid", f"The {what} is valid only from "
                                    f"{cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}, after the "
                                    f"packet time {when:%Y-%m-%dT%H:%M:%SZ}.", host, pin=pin)
    return None


def _any_name(leaf: x509.Certificate):
    """A name the leaf itself claims, to validate its chain where no SNI was sent."""
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except Exception:
        return None
    for value in san.get_values_for_type(x509.DNSName):
        try:
            return _v.DNSName(value.replace("*.", "wildcard.", 1))
        except ValueError:
            continue
    for value in san.get_values_for_type(x509.IPAddress):
        return _v.IPAddress(value)
    return None


def _subject_for(host: str):
    try:
        return _v.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return _v.DNSName(host)


def _is_self_signed(cert: x509.Certificate) -> bool:
    try:
        if cert.issuer != cert.subject:
            return False
        cert.verify_directly_issued_by(cert)
        return True
    except Exception:
        return False


def _name_of(name: x509.Name) -> str:
    from .certs import format_name
    try:
        return format_name(name)
    except Exception:
        return name.rfc4514_string()


def _name(cert: x509.Certificate) -> str:
    return _name_of(cert.subject)


def _cn(cert: x509.Certificate) -> str:
    try:
        cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return f"CN={cns[0].value}" if cns else _name(cert)
    except Exception:
        return "unnamed"


def _names(cert: x509.Certificate) -> str:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n.value) for n in san]
        return "SAN " + ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    except x509.ExtensionNotFound:
        return f"no SAN, {_cn(cert)}"
    except Exception:
        return _cn(cert)


_EXTENSION_NAMES = {"2.5.29.14": "subjectKeyIdentifier", "2.5.29.15": "keyUsage",
                    "2.5.29.17": "subjectAltName", "2.5.29.19": "basicConstraints",
                    "2.5.29.30": "nameConstraints", "2.5.29.35": "authorityKeyIdentifier",
                    "2.5.29.37": "extendedKeyUsage", "1.3.6.1.5.5.7.1.1": "authorityInfoAccess"}


def _clean(error: Optional[str]) -> str:
    """cryptography's message as a sentence an analyst can read."""
    text = (error or "The chain does not verify.").strip()
    text = text.removeprefix("validation failed: ")
    text = text.split(" (encountered processing", 1)[0]
    if "Forbidden signature algorithm" in text:
        text = "a certificate is signed with an algorithm the Web PKI forbids (such as SHA-1)"
    elif "all candidates exhausted with no interior errors" in text:
        text = "no issuer in the chain or the trust store has the key that signed it"
    for oid, label in _EXTENSION_NAMES.items():
        text = text.replace(f"{oid}:", f"{label} ({oid}):")
    return f"The chain does not verify: {text}."


def _replace_reason(result: ValidationResult, reason: str) -> ValidationResult:
    return replace(result, reason=reason)


def _validity_boundaries(certs) -> list[int]:
    out = []
    for c in certs:
        for t in (c.not_valid_before_utc, c.not_valid_after_utc):
            out.append(int(t.timestamp()) * 1_000_000)
    return out


def _region(boundaries: list[int], at_us: int) -> tuple[int, int]:
    """The interval around at_us in which no certificate's validity changes."""
    lo, hi = -(1 << 62), 1 << 62
    for b in boundaries:
        if b < at_us:
            lo = max(lo, b + 1)
        elif b == at_us:  # exactly on a boundary: this microsecond only
            lo, hi = max(lo, b), min(hi, b + 1)
        else:
            hi = min(hi, b)
    return lo, hi
