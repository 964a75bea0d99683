"""Inline SVG charts for the triage report, drawn here: no script, no
charting library, nothing fetched. Every string that reaches a chart
(destination names come from SNI, attacker-controlled) goes through esc().

Each chart function returns one `<svg>` element as a string, sized by its
viewBox so that it scales with the page.
"""
import math

from .text import clip, esc, format_time, human_bytes

# colour-blind-safe categorical palette (Okabe-Ito, without black)
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442",
           "#999999")
UPLOAD = "#d55e00"
DOWNLOAD = "#0072b2"
ESCALATED = "#c0392b"
TIER1 = "#e69f00"
AXIS = "#8a94a6"
FONT = "font-family=\"system-ui, sans-serif\" font-size=\"11\""
MAX_LINES = 6          # destinations drawn per host chart; the rest add up as "other"
BINS = 96              # time resolution of the bytes-out chart


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * magnitude:
            return m * magnitude
    return 10 * magnitude


_TIME_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
                 43200, 86400, 172800, 604800)


def _time_ticks(t0: int, t1: int, target: int = 6) -> list:
    span_s = max((t1 - t0) / 1e6, 1)
    step = next((s for s in _TIME_STEPS_S if span_s / s <= target), _TIME_STEPS_S[-1])
    first = -(-t0 // int(step * 1e6)) * int(step * 1e6)
    return list(range(first, t1 + 1, int(step * 1e6)))


def _svg(width: int, height: int, body: list, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="{esc(label)}" {FONT}>' + "".join(body) + "</svg>")


def _time_axis(t0, t1, x, y_base, y_top) -> list:
    out = []
    for t in _time_ticks(t0, t1):
        px = x(t)
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{y_top}" y2="{y_base}" '
                   f'stroke="#e3e7ee"/>')
        out.append(f'<text x="{px:.1f}" y="{y_base + 16}" text-anchor="middle" fill="{AXIS}">'
                   f'{esc(format_time(t, t1 - t0))}</text>')
    return out


def bytes_out_over_time(series: dict, t0: int, t1: int, title: str,
                        width: int = 760, height: int = 230) -> str:
    """Cumulative bytes out per destination: `series` maps a destination
    label to (from_us, to_us, bytes) spans; a span's bytes are spread evenly
    over it."""
    if t1 <= t0:
        t1 = t0 + 1_000_000
    ranked = sorted(series.items(), key=lambda kv: -sum(b for *_, b in kv[1]))
    if len(ranked) > MAX_LINES:
        rest = [s for _, spans in ranked[MAX_LINES - 1:] for s in spans]
        ranked = ranked[:MAX_LINES - 1] + [(f"{len(ranked) - MAX_LINES + 1} other "
                                            "destinations", rest)]
    left, right, top, bottom, legend_w = 64, 12, 14, 30, 270
    plot_w = width - left - right - legend_w
    plot_h = height - top - bottom
    bin_us = (t1 - t0) / BINS
    curves = []
    for label, spans in ranked:
        bins = [0.0] * BINS
        for a, b, n in spans:
            a, b = max(a, t0), min(max(b, a), t1)
            first, last = int((a - t0) // bin_us), int((b - t0) // bin_us)
            first, last = min(first, BINS - 1), min(last, BINS - 1)
            per_bin = n / (last - first + 1)
            for i in range(first, last + 1):
                bins[i] += per_bin
        total, cumulative = 0.0, [0.0]
        for v in bins:
            total += v
            cumulative.append(total)
        curves.append((label, cumulative))
    y_max = max((c[-1] for _, c in curves), default=0) or 1
    step = _nice_step(y_max, 4)
    y_max = step * -(-y_max // step)

    def x(t):
        return left + (t - t0) / (t1 - t0) * plot_w

    def y(v):
        return top + plot_h - v / y_max * plot_h

    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafbfd"/>']
    for i in range(int(y_max / step) + 1):
        v = i * step
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                    f'stroke="#e3e7ee"/><text x="{left - 6}" y="{y(v) + 4:.1f}" '
                    f'text-anchor="end" fill="{AXIS}">{esc(human_bytes(v))}</text>')
    body += _time_axis(t0, t1, x, top + plot_h, top)
    for i, (label, cumulative) in enumerate(curves):
        colour = PALETTE[i % len(PALETTE)]
        points = " ".join(f"{x(t0 + k * bin_us):.1f},{y(v):.1f}" for k, v in enumerate(cumulative))
        body.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                    f'stroke-width="2.2" stroke-linejoin="round"><title>{esc(label)}: '
                    f'{esc(human_bytes(cumulative[-1]))} out</title></polyline>')
        ly = top + 8 + i * 20
        lx = width - legend_w + 8
        body.append(f'<rect x="{lx}" y="{ly - 8}" width="12" height="12" rx="2" '
                    f'fill="{colour}"/><text x="{lx + 18}" y="{ly + 2}" fill="#2b3445">'
                    f'{esc(clip(label, 28))} <tspan fill="{AXIS}">'
                    f'{esc(human_bytes(cumulative[-1]))}</tspan></text>')
    return _svg(width, height, body, title)


def upload_vs_download(channels: list, title: str, width: int = 960) -> str:
    """One row per channel: bytes down to the left, bytes up to the right,
    on one linear scale; `channels` are (label, bytes_out, bytes_in, flagged)."""
    row, top, label_w, value_w = 22, 24, 390, 64
    height = top + row * len(channels) + 8
    half = (width - label_w - 2 * value_w) / 2
    mid = label_w + value_w + half
    peak = max((max(o, i) for _, o, i, _ in channels), default=0) or 1
    body = [f'<text x="{mid - 6}" y="14" text-anchor="end" fill="{DOWNLOAD}" '
            f'font-weight="600">◀ download</text>',
            f'<text x="{mid + 6}" y="14" fill="{UPLOAD}" font-weight="600">upload ▶</text>',
            f'<line x1="{mid}" x2="{mid}" y1="{top - 4}" y2="{height - 4}" stroke="{AXIS}"/>']
    for k, (label, out, inn, flagged) in enumerate(channels):
        y = top + k * row
        w_out, w_in = out / peak * half, inn / peak * half
        weight = ' font-weight="700"' if flagged else ""
        mark = "⚑ " if flagged else ""
        body.append(f'<g><title>{esc(label)}: {esc(human_bytes(out))} up, '
                    f'{esc(human_bytes(inn))} down</title>'
                    f'<text x="0" y="{y + 14}" fill="{ESCALATED if flagged else "#2b3445"}"'
                    f'{weight}>{esc(mark + clip(label, 58))}</text>'
                    f'<rect x="{mid - w_in:.1f}" y="{y + 3}" width="{w_in:.1f}" height="15" '
                    f'rx="2" fill="{DOWNLOAD}" opacity="0.85"/>'
                    f'<rect x="{mid:.1f}" y="{y + 3}" width="{w_out:.1f}" height="15" rx="2" '
                    f'fill="{UPLOAD}" opacity="0.85"/>'
                    f'<text x="{mid - w_in - 4:.1f}" y="{y + 14}" text-anchor="end" '
                    f'fill="{AXIS}">{esc(human_bytes(inn))}</text>'
                    f'<text x="{mid + w_out + 4:.1f}" y="{y + 14}" fill="{AXIS}">'
                    f'{esc(human_bytes(out))}</text></g>')
    return _svg(width, height, body, title)


def alert_timeline(alerts: list, t0: int, t1: int, title: str, width: int = 760) -> str:
    """One row per host; one mark per alert, its radius the score, red when
    escalated to Tier 2, amber otherwise. `alerts` are model.Alert."""
    hosts = list(dict.fromkeys(a.host for a in alerts))
    if t1 <= t0:
        t0, t1 = t0 - 60_000_000, t0 + 60_000_000
    pad = (t1 - t0) * 0.03
    t0, t1 = int(t0 - pad), int(t1 + pad)
    left, right, top, row = 110, 16, 10, 30
    height = top + row * len(hosts) + 30
    plot_w = width - left - right

    def x(t):
        return left + (t - t0) / (t1 - t0) * plot_w

    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{row * len(hosts)}" '
            f'fill="#fafbfd"/>']
    body += _time_axis(t0, t1, x, top + row * len(hosts), top)
    for k, host in enumerate(hosts):
        y = top + k * row + row / 2
        body.append(f'<text x="{left - 8}" y="{y + 4}" text-anchor="end" fill="#2b3445" '
                    f'font-family="ui-monospace, monospace">{esc(host)}</text>'
                    f'<line x1="{left}" x2="{left + plot_w}" y1="{y}" y2="{y}" '
                    f'stroke="#e3e7ee" stroke-dasharray="3 3"/>')
    for a in sorted(alerts, key=lambda a: a.escalate):
        y = top + hosts.index(a.host) * row + row / 2
        r = 4 + 7 * min(max(a.score, 0), 100) / 100
        colour = ESCALATED if a.escalate else TIER1
        body.append(f'<circle cx="{x(a.ts_us):.1f}" cy="{y}" r="{r:.1f}" fill="{colour}" '
                    f'fill-opacity="0.85" stroke="#fff" stroke-width="1.5"><title>'
                    f'{esc(format_time(a.ts_us))} {esc(a.alert_id)} {esc(a.signature)} → '
                    f'{esc(a.dest_ip)}:{a.dest_port}, score {a.score}'
                    f'{", escalated to Tier 2" if a.escalate else ""}</title></circle>')
    return _svg(width, height, body, title)
