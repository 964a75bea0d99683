"""What scoring takes and gives: the caller's context, a reason, the score."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional

__all__ = ["CertContext", "Reason", "CertScore"]


@dataclass(frozen=True, slots=True)
class CertContext:
    """What the certificate alone cannot say, supplied by the caller.

    sni: the ClientHello's server name (None or "" when absent).
    at_us: packet time, microseconds since the epoch (validity is judged
        then, never at wall-clock time); None skips the validity-at-time reasons.
    first_seen_in_org: the baseline store has never seen this certificate.
    snis_seen: every SNI seen with this certificate (the current one may be
        included or not), from the baseline store.
    """
    sni: Optional[str] = None
    at_us: Optional[int] = None
    first_seen_in_org: bool = False
    snis_seen: frozenset = frozenset()


class Reason(NamedTuple):
    reason_id: str   # stable identifier, e.g. "self_signed"
    points: int
    detail: str      # a sentence for the analyst

    def as_dict(self) -> dict:
        return {"id": self.reason_id, "points": self.points, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class CertScore:
    score: int                    # 0-100: min(100, sum of points)
    reasons: tuple[Reason, ...]   # in a fixed order (concern, then reason)

    @property
    def reason_ids(self) -> tuple[str, ...]:
        return tuple(r.reason_id for r in self.reasons)

    def points_for(self, reason_id: str) -> Optional[int]:
        for r in self.reasons:
            if r.reason_id == reason_id:
                return r.points
        return None
