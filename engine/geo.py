"""Country and autonomous system of an address, and the high-risk policy over them.

Mechanism and policy apart (STYLE.md item 10): `GeoLookup` reads MaxMind DB
files (GeoLite2-Country / GeoIP2-Country / -City for the country,
GeoLite2-ASN / GeoIP2-ISP for the AS) with `maxminddb`, the field's standard
reader; `HighRiskPolicy` turns a `GeoInfo` into reasons.

Layout read (MaxMind's):
    country DB: {"country": {"iso_code": "DE"}, "registered_country": {...}}
    ASN DB:     {"autonomous_system_number": 15169,
                 "autonomous_system_organization": "GOOGLE"}
The country is `country.iso_code`, falling back to
`registered_country.iso_code` (anycast and satellite ranges carry only the
latter). Lookups are cached per address (bounded LRU, `cache_size`).

Tunables (`[geo]` in the configuration):
    country_db            path of the country database; none: no country
    asn_db                path of the ASN database; none: no AS
    high_risk_countries   ISO 3166-1 alpha-2 codes, any case ("RU", "kp")
    high_risk_asns        AS numbers, as 4242 or "AS4242"
    cache_size            addresses remembered per database (default 65536)
"""
from dataclasses import dataclass
from functools import lru_cache
import ipaddress
import logging
import re

import maxminddb

from .config import require_table
from .errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 65536
_ISO_CODE = re.compile(r"^[A-Za-z]{2}$")
_AS_TEXT = re.compile(r"^(?:AS)?(\d{1,10})$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class GeoInfo:
    """What the databases say about one address; None where they say nothing."""

    country: str | None = None       # ISO 3166-1 alpha-2, upper case
    asn: int | None = None
    as_org: str | None = None


_NOTHING = GeoInfo()


@dataclass(frozen=True, slots=True)
class GeoConfig:
    """The `[geo]` table: database paths and the high-risk lists."""

    country_db: str | None = None
    asn_db: str | None = None
    high_risk_countries: tuple[str, ...] = ()
    high_risk_asns: tuple[int, ...] = ()
    cache_size: int = DEFAULT_CACHE_SIZE

    @classmethod
    def from_table(cls, table, where="geo"):
        """Validate a parsed TOML table; ConfigError names the full key."""
        known = ("country_db", "asn_db", "high_risk_countries", "high_risk_asns", "cache_size")
        require_table(table, where, known)
        kwargs = {}
        for key in ("country_db", "asn_db"):
            if key in table:
                value = table[key]
                if not isinstance(value, str) or not value:
                    raise ConfigError(
                        f"Configuration key '{where}.{key}' must be the path of a MaxMind DB "
                        f"file, not {value!r}.")
                kwargs[key] = value
        if "high_risk_countries" in table:
            kwargs["high_risk_countries"] = _country_codes(
                table["high_risk_countries"], f"{where}.high_risk_countries")
        if "high_risk_asns" in table:
            kwargs["high_risk_asns"] = _as_numbers(
                table["high_risk_asns"], f"{where}.high_risk_asns")
        if "cache_size" in table:
            value = table["cache_size"]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1 << 24:
                raise ConfigError(
                    f"Configuration key '{where}.cache_size' must be a whole number from 0 to "
                    f"{1 << 24}, not {value!r}.")
            kwargs["cache_size"] = value
        return cls(**kwargs)


class GeoLookup:
    """Country and AS of an address from MaxMind DB files, cached.

    Either database may be absent (None); its fields then stay None. An
    address the database does not cover, a private address, or an IPv6
    address in an IPv4-only database gives None fields, never an error.
    """

    def __init__(self, country_db=None, asn_db=None, *, cache_size=DEFAULT_CACHE_SIZE):
        self._country = _open(country_db, "country") if country_db else None
        try:
            self._asn = _open(asn_db, "ASN") if asn_db else None
        except ConfigError:
            self.close()
            raise
        self._cached = lru_cache(maxsize=cache_size)(self._lookup)

    @classmethod
    def from_config(cls, config):
        return cls(config.country_db, config.asn_db, cache_size=config.cache_size)

    def lookup(self, ip):
        """GeoInfo for an address given as text (or an ipaddress object)."""
        return self._cached(str(ip))

    def country(self, ip):
        return self.lookup(ip).country

    def asn(self, ip):
        return self.lookup(ip).asn

    def cache_info(self):
        return self._cached.cache_info()

    def close(self):
        for reader in (self._country, getattr(self, "_asn", None)):
            if reader is not None:
                reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _lookup(self, ip):
        ip = _unmap(ip)
        if ip is None:
            return _NOTHING
        country = asn = org = None
        rec = _get(self._country, ip)
        if isinstance(rec, dict):
            for key in ("country", "registered_country"):
                sub = rec.get(key)
                if isinstance(sub, dict) and isinstance(sub.get("iso_code"), str):
                    country = sub["iso_code"].upper()
                    break
        rec = _get(self._asn, ip)
        if isinstance(rec, dict):
            number = rec.get("autonomous_system_number")
            asn = number if isinstance(number, int) and not isinstance(number, bool) else None
            name = rec.get("autonomous_system_organization")
            org = name if isinstance(name, str) else None
        if country is None and asn is None and org is None:
            return _NOTHING
        return GeoInfo(country, asn, org)


@dataclass(frozen=True, slots=True)
class GeoReason:
    """One reason a destination is high-risk, with what matched."""

    kind: str        # "country" or "asn"
    value: str       # the ISO code, or "AS<number>"
    text: str        # a sentence for the alert's reasons[]

    def __str__(self):
        return self.text


class HighRiskPolicy:
    """High-risk countries and ASNs; `reasons(info)` says which ones match."""

    def __init__(self, countries=(), asns=()):
        self.countries = frozenset(_country_codes(list(countries), "geo.high_risk_countries"))
        self.asns = frozenset(_as_numbers(list(asns), "geo.high_risk_asns"))

    @classmethod
    def from_config(cls, config):
        return cls(config.high_risk_countries, config.high_risk_asns)

    def __bool__(self):
        return bool(self.countries or self.asns)

    def reasons(self, info, ip=None):
        """Tuple of GeoReason for a GeoInfo; empty when nothing is high-risk."""
        where = f"destination {ip}" if ip else "destination"
        out = []
        if info.country is not None and info.country in self.countries:
            out.append(GeoReason("country", info.country,
                                 f"{where} is in high-risk country {info.country}"))
        if info.asn is not None and info.asn in self.asns:
            org = f" ({info.as_org})" if info.as_org else ""
            out.append(GeoReason("asn", f"AS{info.asn}",
                                 f"{where} is in high-risk AS{info.asn}{org}"))
        return tuple(out)


def _open(path, what):
    try:
        reader = maxminddb.open_database(str(path))
    except FileNotFoundError:
        raise ConfigError(f"The {what} database '{path}' does not exist.") from None
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise ConfigError(
            f"The {what} database '{path}' cannot be read as a MaxMind DB file: {exc}.") from None
    db_type = reader.metadata().database_type or ""
    looks_right = ("ASN" in db_type or "ISP" in db_type) if what == "ASN" else "ASN" not in db_type
    if not looks_right:
        log.warning("the %s database %s has type %r; lookups may find no %s fields",
                    what, path, db_type, what)
    return reader


def _get(reader, ip):
    if reader is None:
        return None
    try:
        return reader.get(ip)
    except ValueError:        # not an address, or IPv6 in an IPv4-only database
        return None


def _unmap(ip):
    """'::ffff:1.2.3.4' -> '1.2.3.4' (databases file IPv4 under ::/96); None if invalid."""
    if ":" not in ip:
        return ip
    try:
        addr = ipaddress.IPv6Address(ip)
    except ValueError:
        return None
    return str(addr.ipv4_mapped) if addr.ipv4_mapped else ip


def _country_codes(value, key):
    if not isinstance(value, (list, tuple)):
        raise ConfigError(
            f"Configuration key '{key}' must be a list of ISO 3166-1 alpha-2 country codes, "
            f"not {value!r}.")
    out = []
    for i, code in enumerate(value):
        if not isinstance(code, str) or not _ISO_CODE.match(code):
            raise ConfigError(
                f"Configuration key '{key}[{i}]' must be a two-letter country code like "
                f"\"RU\", not {code!r}.")
        out.append(code.upper())
    return tuple(out)


def _as_numbers(value, key):
    if not isinstance(value, (list, tuple)):
        raise ConfigError(
            f"Configuration key '{key}' must be a list of AS numbers, not {value!r}.")
    out = []
    for i, item in enumerate(value):
        number = None
        if isinstance(item, int) and not isinstance(item, bool):
            number = item
        elif isinstance(item, str) and _AS_TEXT.match(item.strip()):
            number = int(_AS_TEXT.match(item.strip()).group(1))
        if number is None or not 0 <= number < 2**32:
            raise ConfigError(
                f"Configuration key '{key}[{i}]' must be an AS number like 4242 or \"AS4242\", "
                f"not {item!r}.")
        out.append(number)
    return tuple(out)
