"""Trust: what chain validation (engine.validation) concluded.

Reasons: self_signed, untrusted_chain, incomplete_chain. Without a
validation result (the caller did not validate) none of them is given.
``expired`` / ``not_yet_valid`` / ``name_mismatch`` statuses are left to the
validity and naming concerns, which judge the leaf itself, so that a
certificate is not counted twice for one fault.
"""
from __future__ import annotations

from .model import Reason


def reasons(cert, validation, context, config) -> list[Reason]:
    out: list[Reason] = []
    status = getattr(validation, "status", None)
    if status == "self_signed" or (status is None and cert.is_self_signed):
        out.append(Reason("self_signed", config.self_signed_points,
                          f"The certificate is self-signed ({cert.subject or 'empty subject'})."))
    elif status == "untrusted":
        out.append(Reason("untrusted_chain", config.untrusted_chain_points, validation.reason))
    elif status == "incomplete_chain":
        out.append(Reason("incomplete_chain", config.incomplete_chain_points, validation.reason))
    return out
