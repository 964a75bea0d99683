"""Validity: the leaf's dates against the packet time and the public-CA rules.

Reasons: expired, not_yet_valid (at packet time; also when validation found
a chain certificate out of its validity), validity_too_long (beyond
``validity_long_days``, 398 by default: the CA/Browser Forum maximum for
public leaves since 2020-09-01, so a longer one was not issued by a public
CA), validity_too_short (under ``validity_short_days``: throwaway
certificates generated per run).
"""
from __future__ import annotations

import datetime as _dt

from .model import Reason

_UTC = _dt.timezone.utc


def reasons(cert, validation, context, config) -> list[Reason]:
    out: list[Reason] = []
    nb, na = cert.not_before, cert.not_after
    status = getattr(validation, "status", None)
    if context.at_us is not None and nb is not None and na is not None:
        when = _dt.datetime.fromtimestamp(context.at_us // 1_000_000, tz=_UTC)
        if na < when:
            out.append(Reason("expired", config.expired_points,
                              f"The certificate expired on {cert.notafter}, "
                              f"{(when - na).days} days before the packet."))
        elif nb > when:
            out.append(Reason("not_yet_valid", config.not_yet_valid_points,
                              f"The certificate is valid only from {cert.notbefore}, after the packet."))
    if not out and status in ("expired", "not_yet_valid"):
        out.append(Reason(status, getattr(config, f"{status}_points"), validation.reason))
    if nb is not None and na is not None:
        days = (na - nb).total_seconds() / 86400
        if days > config.validity_long_days:
            out.append(Reason("validity_too_long", config.validity_too_long_points,
                              f"Valid for {days:.0f} days, beyond the {config.validity_long_days} "
                              "days a public CA may issue."))
        elif days < config.validity_short_days:
            out.append(Reason("validity_too_short", config.validity_too_short_points,
                              f"Valid for only {days * 24:.1f} hours."))
    return out
