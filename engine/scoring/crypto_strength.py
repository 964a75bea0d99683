"""Crypto strength: key size and signature hash.

Reasons: weak_key (RSA or DSA under ``rsa_min_bits``, 2048 by default,
NIST SP 800-131A; EC under ``ec_min_bits``, 256), weak_signature_hash
(a hash in ``weak_signature_hashes``: MD2/MD4/MD5/SHA-1 by default).
"""
from __future__ import annotations

from .model import Reason


def reasons(cert, validation, context, config) -> list[Reason]:
    out: list[Reason] = []
    bits = cert.key_bits
    if bits is not None:
        if cert.key_type in ("RSA", "DSA") and bits < config.rsa_min_bits:
            out.append(Reason("weak_key", config.weak_key_points,
                              f"{cert.key_type} key of {bits} bits (under {config.rsa_min_bits})."))
        elif cert.key_type == "EC" and bits < config.ec_min_bits:
            out.append(Reason("weak_key", config.weak_key_points,
                              f"EC key on {cert.key_curve} of {bits} bits (under {config.ec_min_bits})."))
    weak = {h.lower() for h in config.weak_signature_hashes}
    if cert.signature_hash and cert.signature_hash.lower() in weak:
        out.append(Reason("weak_signature_hash", config.weak_signature_points,
                          f"Signed with {cert.signature_algorithm} ({cert.signature_hash})."))
    return out
