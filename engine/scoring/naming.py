"""Names: does the certificate name the server the client asked for, and do
its names look like a real organisation's?

Reasons:
  sni_not_covered         the SNI is not matched by the SANs (or, without
                          SANs, the CN), RFC 6125 rules
  no_sni                  the client sent no server name: browsers always
                          do, scripts and tools connecting to an IP often not
  ip_address_name         an IP address as CN or subjectAltName: a server
                          reached without DNS
  placeholder_name        a subject attribute left at a default such as
                          OpenSSL's "Internet Widgits Pty Ltd" (the list is
                          ``placeholder_names``; "example.*" also as suffix)
  single_character_field  a subject attribute one character long ("O=a",
                          someone pressing Enter past the prompts); any
                          attribute, C included
  missing_organisation    no O in the subject (self-made certificates;
                          domain-validated public certificates also lack
                          it, hence the low default)
  high_entropy_cn         a random-looking CN label: at least
                          ``high_entropy_min_length`` characters, Shannon
                          entropy >= ``high_entropy_bits`` per character,
                          and frequent case switches, letters interleaved
                          with digits, or almost no vowels (generated
                          names, e.g. Metasploit's random CNs)
"""
from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter

from ..validation import hostname_matches
from .model import Reason

_CN, _O = "2.5.4.3", "2.5.4.10"
_SHORT = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
          "2.5.4.11": "OU", "1.2.840.113549.1.9.1": "Email", "0.9.2342.19200300.100.1.25": "DC"}


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip())
        return True
    except ValueError:
        return False


def shannon_bits(text: str) -> float:
    """Shannon entropy of the characters of `text`, bits per character."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def random_looking(label: str, min_length: int, min_bits: float) -> bool:
    """A heuristic for generated names: judged per hyphen/underscore-separated
    token (random strings rarely contain separators, made-up names do); a
    token is random-looking when long enough, of high character entropy,
    and either switching case often (KbGtHzeUqx), interleaving letters and
    digits (xk3j9fq2), or nearly without vowels (lwzqkrtvnm)."""
    for token in re.split(r"[-_]", label):
        if len(token) < min_length or shannon_bits(token) < min_bits:
            continue
        letters = [c for c in token if c.isalpha()]
        kinds = ["d" if c.isdigit() else "u" if c.isupper() else "l" for c in token]
        case_changes = sum(1 for a, b in zip(kinds, kinds[1:]) if {a, b} == {"u", "l"})
        digit_changes = sum(1 for a, b in zip(kinds, kinds[1:]) if (a == "d") != (b == "d"))
        vowels = sum(c in "aeiouyAEIOUY" for c in letters)
        if (case_changes >= len(token) / 3 or digit_changes >= 4
                or (len(letters) >= min_length and vowels / len(letters) < 0.2)):
            return True
    return False


def _placeholder(value: str, placeholders) -> str | None:
    low = value.strip().lower()
    for p in placeholders:
        pl = p.lower()
        if low == pl or (pl.startswith("example.") and low.endswith("." + pl)):
            return p
    return None


def reasons(cert, validation, context, config) -> list[Reason]:
    if cert.parse_error:
        return []
    out: list[Reason] = []
    cn = cert.common_name
    sni = (context.sni or "").strip()
    if not sni:
        out.append(Reason("no_sni", config.no_sni_points, "The client sent no SNI."))
    elif not hostname_matches(cert.san_dns, cert.san_ip, cn, sni):
        names = ", ".join((cert.san_dns + cert.san_ip)[:6]) or f"CN={cn}"
        out.append(Reason("sni_not_covered", config.sni_not_covered_points,
                          f"The SNI '{sni}' is not covered by the certificate ({names})."))
    ips = list(cert.san_ip) + ([cn] if cn and _is_ip(cn) else [])
    if ips:
        out.append(Reason("ip_address_name", config.ip_address_name_points,
                          f"The certificate names an IP address ({', '.join(dict.fromkeys(ips))})."))
    attributes = cert.subject_attributes
    hits = []
    for oid, value in attributes:
        p = _placeholder(value, config.placeholder_names)
        if p is not None:
            hits.append(f"{_SHORT.get(oid, oid)}={value}")
    if hits:
        out.append(Reason("placeholder_name", config.placeholder_name_points,
                          f"Default or placeholder subject values: {', '.join(hits)}."))
    short = [f"{_SHORT.get(oid, oid)}={value}" for oid, value in attributes if len(value.strip()) == 1]
    if short:
        out.append(Reason("single_character_field", config.single_character_field_points,
                          f"One-character subject values: {', '.join(short)}."))
    if not any(oid == _O for oid, _ in attributes):
        out.append(Reason("missing_organisation", config.missing_organisation_points,
                          "The subject has no organisation (O)."))
    if cn and not _is_ip(cn):
        labels = [lab for lab in cn.split(".") if lab and lab != "*"]
        if len(labels) > 1:
            labels = labels[:-1]  # the TLD says nothing
        for label in labels:
            if random_looking(label, config.high_entropy_min_length, config.high_entropy_bits):
                out.append(Reason("high_entropy_cn", config.high_entropy_cn_points,
                                  f"The CN '{cn}' looks random ({shannon_bits(label):.2f} bits per "
                                  f"character in '{label}')."))
                break
    return out
