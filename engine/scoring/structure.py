"""Structure: what a served TLS leaf should and should not carry.

Reasons: ca_flag_on_leaf (basicConstraints CA:TRUE on the certificate the
server presents as its own: a CA key on a server, typical of tools that
generate one certificate for everything), x509_v1 (no extensions at all:
``openssl x509 -req`` without an extension file), missing_san (public CAs
must include subjectAltName; browsers ignore the CN since 2017),
unparseable (cryptography cannot load it).
"""
from __future__ import annotations

from .model import Reason


def reasons(cert, validation, context, config) -> list[Reason]:
    if cert.parse_error:
        return [Reason("unparseable", config.unparseable_points,
                       f"The certificate cannot be parsed: {cert.parse_error}.")]
    out: list[Reason] = []
    if cert.is_ca and not cert.is_self_signed:
        out.append(Reason("ca_flag_on_leaf", config.ca_flag_on_leaf_points,
                          "The server's own certificate says it is a CA (basicConstraints CA:TRUE)."))
    elif cert.is_ca and cert.is_self_signed:
        out.append(Reason("ca_flag_on_leaf", config.ca_flag_on_leaf_points,
                          "The server presents a self-signed CA certificate as its own."))
    if cert.version == 1:
        out.append(Reason("x509_v1", config.x509_v1_points,
                          "X.509 version 1: no extensions, no subjectAltName, no constraints."))
    if not (cert.san_dns or cert.san_ip or cert.san_uri or cert.san_email):
        out.append(Reason("missing_san", config.missing_san_points,
                          "No subjectAltName: only the CN names the server."))
    return out
