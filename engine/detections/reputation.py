"""Reputation detections: (h) threat-intelligence matches, (i) high-risk
countries or networks, and the server certificate's anomaly score."""
from ..alerts import Finding
from . import ChannelView, DetectConfig


def threat_intel(v: ChannelView, cfg: DetectConfig) -> Finding | None:
    s = v.session
    if s is None or not s.intel:
        return None
    return Finding("threat_intel", cfg.intel_points, "; ".join(s.intel), {"matches": list(s.intel)})


def high_risk_location(v: ChannelView, cfg: DetectConfig) -> Finding | None:
    s = v.session
    if s is None or not s.geo:
        return None
    return Finding("high_risk_location", cfg.high_risk_points, "; ".join(s.geo),
                   {"reasons": list(s.geo)})


def untrusted_certificate(v: ChannelView, cfg: DetectConfig) -> Finding | None:
    s = v.session
    if s is None or s.cert_score < cfg.untrusted_certificate_score:
        return None
    reasons = (s.certificate or {}).get("anomaly", {}).get("reasons", [])
    names = ", ".join(r["reason_id"] for r in reasons[:4])
    return Finding("untrusted_certificate", cfg.untrusted_certificate_points,
                   f"server certificate scores {s.cert_score}/100 ({names})",
                   {"score": s.cert_score, "reasons": reasons})
