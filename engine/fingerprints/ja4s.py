# LICENCE NOTE: JA4S is part of JA4+ and is licensed by FoxIO under the
# FoxIO License 1.1 (https://github.com/FoxIO-LLC/ja4/blob/main/LICENSE),
# not BSD 3-Clause like JA4 itself. That licence restricts some commercial
# uses. This module is kept separate from ja4.py for that reason, so that
# JA4S can be left out of a build (or its use reviewed) without touching
# the BSD-licensed fingerprints.
"""JA4S TLS server fingerprint: JA4S and JA4S_r.

Our own implementation of FoxIO's technical_details/JA4S.md:

    JA4S = a_b_c
    a = transport ("t"/"q"/"d") + version (the ServerHello's
        supported_versions selection, else legacy_version; codes as in JA4)
        + 2-digit count of extensions (all of them, in the order seen, as
        FoxIO's implementations count them; capped at 99)
        + first and last character of the selected ALPN ("00" without one;
        same hex rule as JA4 for non-alphanumeric bytes)
    b = the chosen cipher suite, 4-digit lower-case hex
    c = sha256 of the extensions as 4-digit hex in the order seen, joined
        by ","; first 12 hex digits ("000000000000" when there are none)

JA4S_r shows c unhashed. Server extensions are not sorted, so there is no
"original order" variant.
"""
from .ja4 import TRANSPORTS, alpn_code, hash12, version_code


def _parts(sh: dict, transport: str) -> tuple[str, str, str]:
    if transport not in TRANSPORTS:
        raise ValueError(f"JA4S transport must be one of {TRANSPORTS}, not {transport!r}.")
    extensions = list(sh.get("extensions") or ())
    selected = sh.get("selected_version")
    a = "%s%s%02d%s" % (
        transport,
        version_code(sh.get("legacy_version"), [selected] if selected is not None else ()),
        min(len(extensions), 99),
        alpn_code(sh.get("alpn") or b""),
    )
    cipher = sh.get("cipher_suite")
    b = "0000" if cipher is None else "%04x" % cipher
    c = ",".join("%04x" % e for e in extensions)
    return a, b, c


def ja4s(sh: dict, transport: str = "t") -> str:
    a, b, c = _parts(sh, transport)
    return f"{a}_{b}_{hash12(c)}"


def ja4s_r(sh: dict, transport: str = "t") -> str:
    a, b, c = _parts(sh, transport)
    return f"{a}_{b}_{c}"
