"""How the report writes values for people: escaped text, byte counts,
times, a finding's evidence as one line. Shared by the model, the charts
and the page."""
from datetime import datetime, timezone
from html import escape

FULL_DATE_SPAN_US = 10**12     # a span long enough that format_time shows the date


def esc(value) -> str:
    """Text safe inside HTML and SVG elements and attribute values."""
    return escape(str(value), quote=True)


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def format_time(us: int, span_us: int = FULL_DATE_SPAN_US) -> str:
    """UTC time of a packet timestamp, as precise as a span of `span_us`
    needs: the date over a day, seconds under five minutes."""
    t = datetime.fromtimestamp(us / 1e6, tz=timezone.utc)
    return t.strftime("%m-%d %H:%M" if span_us > 86_400e6 else "%H:%M:%S" if span_us < 300e6
                      else "%H:%M")


def clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def describe(evidence) -> str:
    """A finding's evidence dict as one short line: byte counts in units,
    nested lists of dicts (such as certificate reasons) by their ids."""
    if not isinstance(evidence, dict):
        return str(evidence)
    parts = []
    for k, v in evidence.items():
        if isinstance(v, list):
            v = ", ".join(str(i.get("reason_id") or i.get("id") or i) if isinstance(i, dict)
                          else str(i) for i in v)
        elif isinstance(v, dict):
            v = describe(v)
        elif k.startswith("bytes") and isinstance(v, int):
            v = human_bytes(v)
        parts.append(f"{k} {v}")
    return "; ".join(parts)
