"""JA4 TLS client fingerprint: JA4, JA4_r, JA4_o, JA4_ro.

JA4 is by FoxIO (https://github.com/FoxIO-LLC/ja4, technical_details/JA4.md),
BSD 3-Clause; this is our own implementation of that specification.

    JA4 = a_b_c
    a = transport ("t" TCP, "q" QUIC, "d" DTLS)
        + version ("13", "12", "11", "10", "s3", "s2", "d1", "d2", "d3"; "00"
          unknown): the highest non-GREASE supported_versions value if that
          extension is present, else legacy_version
        + "d" if the server_name extension is present, else "i"
        + 2-digit count of cipher suites, GREASE excluded, capped at 99
        + 2-digit count of extensions, GREASE excluded (SNI and ALPN
          included), capped at 99
        + first and last character of the first ALPN value ("00" without
          one; when its first or last byte is not ASCII alphanumeric, the
          first and last character of the hex of the whole value instead)
    b = sha256 of the cipher suites as 4-digit lower-case hex, GREASE
        excluded, sorted, joined by ","; first 12 hex digits
    c = sha256 of the extensions the same way but without SNI (0000) and
        ALPN (0010), then "_" and the signature algorithms (GREASE excluded)
        in their original order when there are any; first 12 hex digits
    An empty list hashes to "000000000000".

JA4_r shows b and c unhashed. JA4_o / JA4_ro keep the original order of
ciphers and extensions, and (as in the specification and FoxIO's expected
output) keep SNI and ALPN in the extension list.
"""
from hashlib import sha256

from . import is_grease, without_grease

TRANSPORTS = ("t", "q", "d")
EMPTY_HASH = "000000000000"

VERSION_CODES = {
    0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3",
    0x0002: "s2",   # the SSLv2 CLIENT-HELLO version field
    0x0200: "s2", 0x0100: "s1",   # as FoxIO's implementations map them
    0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3",
}


def version_code(legacy_version, supported_versions) -> str:
    """2-character TLS version code, as JA4 and JA4S use it."""
    versions = without_grease(supported_versions)
    version = max(versions) if versions else legacy_version
    return VERSION_CODES.get(version, "00")


def _alnum(b: int) -> bool:
    return 0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A


def alpn_code(value) -> str:
    """First and last character of an ALPN value, JA4 style."""
    if not value:
        return "00"
    first, last = value[0], value[-1]
    if _alnum(first) and _alnum(last):
        return chr(first) + chr(last)
    h = bytes(value).hex()
    return h[0] + h[-1]


def hash12(text) -> str:
    """First 12 hex digits of sha256(text); "000000000000" for an empty list (""/None)."""
    return sha256(text.encode("ascii")).hexdigest()[:12] if text else EMPTY_HASH


class _Hex4(dict):
    """16-bit value -> its 4-digit lower-case hex, made once per value (at
    most 65,536): formatting each value of each hello anew was most of what
    a JA4 cost."""

    def __missing__(self, value):
        text = self[value] = "%04x" % value
        return text


_HEX4 = _Hex4()


def _hex(values) -> list:
    return [_HEX4[v] for v in values]


def _parts(ch: dict, transport: str, original: bool) -> tuple[str, str, str]:
    if transport not in TRANSPORTS:
        raise ValueError(f"JA4 transport must be one of {TRANSPORTS}, not {transport!r}.")
    ciphers = without_grease(ch.get("cipher_suites"))
    extensions = without_grease(ch.get("extensions"))
    alpn = ch.get("alpn") or ()
    a = "%s%s%s%02d%02d%s" % (
        transport,
        version_code(ch.get("legacy_version"), ch.get("supported_versions")),
        "d" if 0x0000 in extensions else "i",
        min(len(ciphers), 99),
        min(len(extensions), 99),
        alpn_code(alpn[0] if alpn else b""),
    )
    stripped = [e for e in extensions if e not in (0x0000, 0x0010)]
    if not original:
        ciphers = sorted(ciphers)
        extensions = sorted(stripped)
    b = ",".join(_hex(ciphers))
    c = ",".join(_hex(extensions))
    sigs = ",".join(_hex(without_grease(ch.get("signature_algorithms"))))
    if c and sigs:
        c = c + "_" + sigs
    # FoxIO's implementation (and expected output) judges "no extensions" on
    # the list without SNI and ALPN in both orders: a hello whose only
    # extensions are SNI/ALPN has JA4_o part c 000000000000, while JA4_ro
    # still lists them. hash_c is what part c hashes (None: the zeros).
    hash_c = c if stripped else None
    return a, b, c, hash_c


def ja4(ch: dict, transport: str = "t") -> str:
    a, b, _c, hash_c = _parts(ch, transport, original=False)
    return f"{a}_{hash12(b)}_{hash12(hash_c)}"


def ja4_r(ch: dict, transport: str = "t") -> str:
    a, b, c, _ = _parts(ch, transport, original=False)
    return f"{a}_{b}_{c}"


def ja4_o(ch: dict, transport: str = "t") -> str:
    a, b, _c, hash_c = _parts(ch, transport, original=True)
    return f"{a}_{hash12(b)}_{hash12(hash_c)}"


def ja4_ro(ch: dict, transport: str = "t") -> str:
    a, b, c, _ = _parts(ch, transport, original=True)
    return f"{a}_{b}_{c}"


__all__ = ["ja4", "ja4_r", "ja4_o", "ja4_ro", "version_code", "alpn_code", "hash12",
           "is_grease"]
