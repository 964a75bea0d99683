"""The organisation's view: what the baseline store and the approved pins say.

Reasons:
  first_seen_in_org              the caller's baseline store has never seen
                                 this certificate (context.first_seen_in_org)
  shared_across_unrelated_snis   the certificate was served for SNIs it
                                 does not cover, in at least
                                 ``shared_min_domains`` different registered
                                 domains (context.snis_seen plus the current
                                 SNI): one server answering for many unrelated
                                 names, as C2 redirectors and domain fronting
                                 do. SNIs the certificate covers (CDN
                                 certificates with hundreds of SANs) never count.
  pin_mismatch                   a domain the organisation pinned was served
                                 a different leaf (validation.pin)

Registered domains are approximated without the Public Suffix List: the
last two labels, or three under a common two-level suffix (co.uk, com.au, ...).
"""
from __future__ import annotations

import ipaddress

from ..validation import hostname_matches
from .model import Reason

# Two-label public suffixes frequent enough to matter for grouping SNIs.
_TWO_LEVEL = frozenset((
    "co.uk", "org.uk", "ac.uk", "gov.uk", "ltd.uk", "plc.uk", "me.uk", "net.uk",
    "com.au", "net.au", "org.au", "edu.au", "gov.au", "co.nz", "org.nz", "co.jp", "ne.jp",
    "or.jp", "ac.jp", "co.kr", "or.kr", "com.br", "net.br", "com.cn", "net.cn", "org.cn",
    "com.tw", "com.hk", "com.sg", "com.my", "co.in", "net.in", "org.in", "co.za", "com.mx",
    "com.ar", "com.tr", "com.ua", "co.il", "com.pl", "co.id", "com.vn", "com.ph",
))


def registered_domain(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.split(".")
    if len(labels) >= 3 and ".".join(labels[-2:]) in _TWO_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def reasons(cert, validation, context, config) -> list[Reason]:
    out: list[Reason] = []
    if context.first_seen_in_org:
        out.append(Reason("first_seen_in_org", config.first_seen_points,
                          "First time this certificate is seen in the organisation."))
    snis = {s.strip().rstrip(".").lower() for s in context.snis_seen if s and s.strip()}
    if context.sni and context.sni.strip():
        snis.add(context.sni.strip().rstrip(".").lower())
    uncovered = sorted(s for s in snis
                       if not hostname_matches(cert.san_dns, cert.san_ip, cert.common_name, s))
    domains = sorted({registered_domain(s) for s in uncovered})
    if len(domains) >= config.shared_min_domains:
        shown = ", ".join(domains[:6]) + (", ..." if len(domains) > 6 else "")
        out.append(Reason("shared_across_unrelated_snis", config.shared_across_snis_points,
                          f"The same certificate was served for {len(domains)} unrelated domains "
                          f"it does not cover ({shown})."))
    if getattr(validation, "pin", None) == "mismatch":
        out.append(Reason("pin_mismatch", config.pin_mismatch_points,
                          f"'{validation.sni}' is pinned by the organisation and this leaf "
                          f"(SHA-256 {cert.sha256[:16]}...) is not one of its pins."))
    return out
