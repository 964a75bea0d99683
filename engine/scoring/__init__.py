"""Certificate anomaly scoring (policy; one concern per module).

    score_certificate(cert_info, validation, context, config) -> CertScore

A pure function of its inputs: the parsed leaf (engine.certs.CertInfo), the
chain validation result (engine.validation.ValidationResult, or None when
the caller did not validate), what the caller knows (CertContext: SNI,
packet time, baseline facts) and the tunables (CertScoringConfig). The
score is min(100, sum of the points of the reasons found); a reason whose
points are configured to 0 is left out.

Concerns, in the order their reasons are listed:

    structure        unparseable, ca_flag_on_leaf, x509_v1, missing_san
    trust            self_signed, untrusted_chain, incomplete_chain
    validity         expired, not_yet_valid, validity_too_long, validity_too_short
    naming           no_sni, sni_not_covered, ip_address_name, placeholder_name,
                     single_character_field, missing_organisation, high_entropy_cn
    crypto_strength  weak_key, weak_signature_hash
    tool_defaults    tool_default_certificate
    organisation     first_seen_in_org, shared_across_unrelated_snis, pin_mismatch
"""
from __future__ import annotations

from typing import Optional

from . import crypto_strength, naming, organisation, structure, tool_defaults, trust, validity
from .config import DEFAULT_CERT_SCORING, CertScoringConfig
from .model import CertContext, CertScore, Reason

__all__ = ["score_certificate", "CertScoringConfig", "DEFAULT_CERT_SCORING", "CertContext",
           "CertScore", "Reason", "REASON_IDS"]

_CONCERNS = (structure, trust, validity, naming, crypto_strength, tool_defaults, organisation)

REASON_IDS = (
    "unparseable", "ca_flag_on_leaf", "x509_v1", "missing_san",
    "self_signed", "untrusted_chain", "incomplete_chain",
    "expired", "not_yet_valid", "validity_too_long", "validity_too_short",
    "no_sni", "sni_not_covered", "ip_address_name", "placeholder_name",
    "single_character_field", "missing_organisation", "high_entropy_cn",
    "weak_key", "weak_signature_hash", "tool_default_certificate",
    "first_seen_in_org", "shared_across_unrelated_snis", "pin_mismatch",
)


def score_certificate(cert_info, validation=None, context: Optional[CertContext] = None,
                      config: CertScoringConfig = DEFAULT_CERT_SCORING) -> CertScore:
    context = context or CertContext()
    reasons: list[Reason] = []
    for concern in _CONCERNS:
        reasons.extend(r for r in concern.reasons(cert_info, validation, context, config) if r.points > 0)
    return CertScore(min(100, sum(r.points for r in reasons)), tuple(reasons))
