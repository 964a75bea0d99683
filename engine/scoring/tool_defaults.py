"""Known tool defaults: certificates that offensive frameworks, interception
proxies and reverse proxies ship and that operators forget to replace.

Reason: tool_default_certificate, when the certificate's SHA-256 is in
``tool_default_sha256``, its serial in ``tool_default_serials`` (hex, any
case, leading zeros and ":" ignored), or one of its subject attributes
equals an "ATTR=value" key of ``tool_default_subjects`` (case-insensitive).
The default tables and their sources are in `engine.scoring.config`.
"""
from __future__ import annotations

from .model import Reason
from .naming import _SHORT


def _serial_key(text: str) -> str:
    return text.replace(":", "").strip().upper().lstrip("0") or "0"


def reasons(cert, validation, context, config) -> list[Reason]:
    found: list[str] = []
    by_hash = {k.replace(":", "").lower(): v for k, v in config.tool_default_sha256.items()}
    if cert.sha256 in by_hash:
        found.append(f"{by_hash[cert.sha256]} (SHA-256 match)")
    if cert.serial:
        serials = {_serial_key(k): v for k, v in config.tool_default_serials.items()}
        tool = serials.get(_serial_key(cert.serial))
        if tool:
            found.append(f"{tool} (serial {cert.serial})")
    if config.tool_default_subjects and cert.subject_attributes:
        subjects = {k.strip().lower(): v for k, v in config.tool_default_subjects.items()}
        for oid, value in cert.subject_attributes:
            tool = subjects.get(f"{_SHORT.get(oid, oid)}={value}".lower())
            if tool:
                found.append(f"{tool} ({_SHORT.get(oid, oid)}={value})")
    if not found:
        return []
    return [Reason("tool_default_certificate", config.tool_default_points,
                   "A known tool's default certificate: " + "; ".join(dict.fromkeys(found)) + ".")]
