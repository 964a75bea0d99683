"""EVE `x509` records: one certificate, parsed, validated and scored.

`x509_event` builds the record; emitting it once per certificate
fingerprint per day is the caller's job (DESIGN.md, output contract). The
record carries the flow it was seen on (common EVE keys), so an analyst can
go from the certificate to the packets; ``x509.*`` holds the evidence Tier 2
asks for: what the certificate says, whether it validated, and why it
scored what it scored.

``x509`` keys (absent when unknown, never null, except where noted):

    fingerprint          SHA-1, colon hex, lower case (as Suricata tls.fingerprint)
    sha256               hex, lower case
    subject, issuerdn, serial, notbefore, notafter   exactly as Suricata tls.*
    version              1 or 3
    validity_days        notafter - notbefore, in days (float)
    san                  {dns[], ip[], uri[], email[]} (only the non-empty ones)
    key                  {type, bits, curve}
    signature_algorithm, signature_hash
    basic_constraints    {ca, path_length}; absent without the extension
    key_usage[], extended_key_usage[]
    is_self_signed       bool
    ja4x                 when the caller passes it (FoxIO License 1.1, opt-in)
    sni                  the server name of the flow, when there was one
    validation           {status, reason, approved_ca, pin, completed_from_cache,
                          anchor}; absent when the caller did not validate
    score                0-100
    reasons[]            {id, points, detail}
    first_seen           RFC 3339: first time the organisation saw it
    parse_error, anomalies[]   when the certificate did not parse cleanly
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from ..records import PROTO_NAMES
from .eve import format_timestamp

__all__ = ["x509_event"]

_FLOW_KEYS = ("flow_id", "src_ip", "src_port", "dest_ip", "dest_port", "proto", "vlan", "at_us", "sni")


def _flow(info: Any) -> dict:
    if info is None:
        return {}
    if isinstance(info, Mapping):
        return {k: info[k] for k in _FLOW_KEYS if info.get(k) is not None}
    return {k: getattr(info, k) for k in _FLOW_KEYS if getattr(info, k, None) is not None}


def x509_event(cert_info, validation, cert_score, first_seen_us: Optional[int],
               flow_tuple_info: Any = None, *, ja4x: Optional[str] = None) -> dict:
    """The EVE `x509` record of one certificate.

    cert_info: engine.certs.CertInfo; validation: engine.validation.
    ValidationResult or None; cert_score: engine.scoring.CertScore or None;
    first_seen_us: packet time the organisation first saw this certificate
    (None if unknown); flow_tuple_info: the flow it was seen on, either an
    engine.records.HandshakeRecord or a mapping with flow_id, src_ip,
    src_port, dest_ip, dest_port, proto (number or name), vlan, at_us and
    optionally sni. The event's timestamp is the flow's at_us, else
    first_seen_us.
    """
    flow = _flow(flow_tuple_info)
    at_us = flow.get("at_us", first_seen_us)
    event: dict = {"timestamp": format_timestamp(at_us if at_us is not None else 0)}
    if "flow_id" in flow:
        event["flow_id"] = flow["flow_id"]
    event["event_type"] = "x509"
    if flow.get("vlan"):
        event["vlan"] = list(flow["vlan"])
    proto = flow.get("proto")
    with_ports = proto in (6, 17, "TCP", "UDP")
    for key in ("src_ip", "src_port", "dest_ip", "dest_port"):
        if key in flow and (with_ports or not key.endswith("_port")):
            event[key] = flow[key]
    if proto is not None:
        event["proto"] = PROTO_NAMES.get(proto, str(proto)) if isinstance(proto, int) else proto

    c = cert_info
    x: dict = {"fingerprint": c.sha1_fingerprint, "sha256": c.sha256}
    for key in ("subject", "issuerdn", "serial", "notbefore", "notafter", "version"):
        value = getattr(c, key)
        if value is not None:
            x[key] = value
    if c.not_before is not None and c.not_after is not None:
        x["validity_days"] = round((c.not_after - c.not_before).total_seconds() / 86400, 3)
    san = {k: list(v) for k, v in (("dns", c.san_dns), ("ip", c.san_ip), ("uri", c.san_uri),
                                   ("email", c.san_email)) if v}
    if san:
        x["san"] = san
    if c.key_type is not None:
        x["key"] = {k: v for k, v in (("type", c.key_type), ("bits", c.key_bits),
                                      ("curve", c.key_curve)) if v is not None}
    if c.signature_algorithm is not None:
        x["signature_algorithm"] = c.signature_algorithm
    if c.signature_hash is not None:
        x["signature_hash"] = c.signature_hash
    if c.is_ca is not None:
        x["basic_constraints"] = {"ca": c.is_ca, "path_length": c.path_length}  # path_length may be null
    if c.key_usage:
        x["key_usage"] = list(c.key_usage)
    if c.extended_key_usage:
        x["extended_key_usage"] = list(c.extended_key_usage)
    x["is_self_signed"] = c.is_self_signed
    if ja4x:
        x["ja4x"] = ja4x
    sni = flow.get("sni") or getattr(validation, "sni", None)
    if sni:
        x["sni"] = sni
    if validation is not None:
        x["validation"] = {
            "status": validation.status,
            "reason": validation.reason,
            "approved_ca": validation.approved_ca,
            "pin": validation.pin,
            "completed_from_cache": validation.completed_from_cache,
        }
        if validation.anchor is not None:
            x["validation"]["anchor"] = validation.anchor
    if cert_score is not None:
        x["score"] = cert_score.score
        x["reasons"] = [r.as_dict() for r in cert_score.reasons]
    if first_seen_us is not None:
        x["first_seen"] = format_timestamp(first_seen_us)
    if c.parse_error:
        x["parse_error"] = c.parse_error
    if c.anomalies:
        x["anomalies"] = list(c.anomalies)
    event["x509"] = x
    return event
