"""JA3 and JA3S TLS fingerprints.

JA3 was created at Salesforce by John Althouse, Jeff Atkinson and Josh
Atkins (https://github.com/salesforce/ja3, BSD 3-Clause). This is our own
implementation of the published method:

JA3  = md5("SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats")
JA3S = md5("SSLVersion,Cipher,Extensions")

Values are decimal, lists joined with "-", an empty field stays empty
("771,4865-4866,,,"). The version is the hello's legacy_version (never the
supported_versions extension). GREASE values (RFC 8701) are left out of
every list, as the reference ja3.py does for the client and as Suricata
does for both sides; the reference ja3s.py does not filter the server's
extensions, which only differs for a server sending GREASE, which RFC 8701
section 3 forbids.
"""
from hashlib import md5

from . import without_grease


def _join(values) -> str:
    return "-".join(map(str, without_grease(values)))


def ja3_string(ch: dict) -> str:
    """The JA3 string of a ClientHello record (also of an SSLv2 one)."""
    version = ch.get("legacy_version") or 0
    return ",".join((
        str(version),
        _join(ch.get("cipher_suites")),
        _join(ch.get("extensions")),
        _join(ch.get("supported_groups")),
        _join(ch.get("ec_point_formats")),
    ))


def ja3(ch: dict) -> tuple[str, str]:
    """(JA3 string, its md5 in lower-case hex)."""
    s = ja3_string(ch)
    return s, md5(s.encode("ascii")).hexdigest()


def ja3s_string(sh: dict) -> str:
    """The JA3S string of a ServerHello record."""
    version = sh.get("legacy_version") or 0
    cipher = sh.get("cipher_suite")
    return ",".join((
        str(version),
        "" if cipher is None else str(cipher),
        _join(sh.get("extensions")),
    ))


def ja3s(sh: dict) -> tuple[str, str]:
    """(JA3S string, its md5 in lower-case hex)."""
    s = ja3s_string(sh)
    return s, md5(s.encode("ascii")).hexdigest()
