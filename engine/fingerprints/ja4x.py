# LICENCE NOTE: JA4X is part of JA4+ and is licensed by FoxIO under the
# FoxIO License 1.1 (https://github.com/FoxIO-LLC/ja4/blob/main/LICENSE),
# not BSD 3-Clause like JA4 itself. That licence restricts some commercial
# uses. This module is kept separate (like ja4s.py) so that JA4X can be left
# out of a build, or its use reviewed, without touching anything else.
"""JA4X X.509 certificate fingerprint: JA4X and JA4X_r.

Our own implementation of FoxIO's technical_details/JA4X.md:

    JA4X = a_b_c
    a = first 12 hex digits of sha256 of the issuer's attribute type OIDs
    b = the same for the subject
    c = the same for the extension OIDs
    each OID written as the hex of its DER content octets ("550403" for
    2.5.4.3, CN), in the order they appear in the certificate (every
    attribute of a multi-valued RDN, in encoded order), joined by ",".

JA4X_r shows the three lists unhashed. Nothing is sorted, so there is no
"original order" variant.

An empty list hashes as the empty string ("e3b0c44298fc"), as FoxIO's
reference implementation (python/ja4x.py) does and as its expected outputs
show; the "000000000000" rule of the other JA4+ hashes is not applied here.

JA4X describes how a certificate was *made* (which tool filled in which
fields), not who it names, so one JA4X covers every certificate a given
generator issues: a pivot for tool-made certificates.
"""
from __future__ import annotations

import hashlib
import warnings
from typing import Iterable, Optional

__all__ = ["ja4x", "ja4x_r", "ja4x_of_der", "oid_hex"]


def oid_hex(dotted: str) -> str:
    """DER content octets of an OBJECT IDENTIFIER, lower-case hex."""
    arcs = [int(x) for x in dotted.split(".")]
    if len(arcs) < 2:
        raise ValueError(f"An OID needs at least two arcs, not {dotted!r}.")
    out = bytearray()
    for value in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        out.extend(reversed(chunk))
    return out.hex()


def _hash12(items: Iterable[str]) -> str:
    return hashlib.sha256(",".join(items).encode("ascii")).hexdigest()[:12]


def _lists(cert_info) -> tuple[list[str], list[str], list[str]]:
    issuer = [oid_hex(oid) for oid, _ in cert_info.issuer_attributes]
    subject = [oid_hex(oid) for oid, _ in cert_info.subject_attributes]
    extensions = [oid_hex(oid) for oid in cert_info.extension_oids]
    return issuer, subject, extensions


def ja4x(cert_info) -> Optional[str]:
    """JA4X of an engine.certs.CertInfo; None when the certificate could not be parsed."""
    if cert_info.parse_error:
        return None
    return "_".join(_hash12(part) for part in _lists(cert_info))


def ja4x_r(cert_info) -> Optional[str]:
    if cert_info.parse_error:
        return None
    return "_".join(",".join(part) for part in _lists(cert_info))


def ja4x_of_der(der: bytes) -> Optional[str]:
    """JA4X straight from a DER certificate (parses it; prefer `ja4x` with a cached CertInfo)."""
    from ..certs import parse_certificate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ja4x(parse_certificate(der))
