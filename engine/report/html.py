"""The triage report as one self-contained HTML page.

No script and nothing fetched: styles are inline, charts are inline SVG
(engine.report.svg), and a Content-Security-Policy forbids scripts and
remote loads, so even a string that slipped through escaping could not run.
Every value from traffic (SNI, certificate subjects and issuers, reasons
that quote them) goes through esc(). The page skeleton is a
string.Template: the page is small and fixed, a template engine would add a
dependency for nothing.
"""
from string import Template

from . import svg
from ..netscope import INTERNAL
from .model import PLAYBOOK, Alert, Host, Triage, certificate_concern
from .text import describe, esc, format_time, human_bytes

UPDOWN_CHANNELS = 16       # channels in the upload/download chart
FLOWS_LISTED = 12          # evidence flows listed per alert
ROWS_LISTED = 200          # rows of the channel, quiet host and certificate tables
# (what is left out is counted in the table: a day's records must still give a page
# a browser opens quickly)
SKIPPED_LISTED = 20        # malformed lines listed (all are counted)

VERDICT_TEXT = {"alert": "yes — detection fired", "context": "worth a look", "clear": "no"}

PAGE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>exfilwatch triage report</title>
<style>$css</style></head>
<body><header><h1>exfilwatch <span>triage report</span></h1>
<p class="sub">$subtitle</p></header>
<main>$body</main>
<footer>$footer</footer></body></html>
""")

CSS = """
:root{--bg:#f3f5f9;--card:#fff;--ink:#1f2937;--mute:#6b7280;--line:#e5e7eb;--red:#c0392b;
--amber:#e69f00;--green:#2e9d6a;--blue:#0072b2}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif}
header{background:#111827;color:#fff;padding:18px 32px}h1{margin:0;font-size:22px}
h1 span{font-weight:400;color:#9ca3af}.sub{margin:4px 0 0;color:#9ca3af}
main{max-width:1180px;margin:0 auto;padding:20px 24px}
h2{font-size:17px;margin:28px 0 10px}h3{font-size:15px;margin:16px 0 8px}
.card{background:var(--card);border-radius:10px;box-shadow:0 1px 3px #0000001a;padding:16px 20px;
margin-bottom:16px}.tiles{display:grid;grid-template-columns:repeat(5,1fr);gap:12px}
.tile{background:var(--card);border-radius:10px;padding:14px 16px;box-shadow:0 1px 3px #0000001a}
.tile b{display:block;font-size:26px}.tile span{color:var(--mute)}.tile.red b{color:var(--red)}
.tile.amber b{color:var(--amber)}
.warn{background:#fff7e6;border-left:4px solid var(--amber);padding:10px 14px;border-radius:6px}
.chips span,.chip{display:inline-block;background:#eef2f7;border-radius:12px;padding:2px 10px;
margin:2px 4px 2px 0;font-family:ui-monospace,monospace;font-size:12.5px}
.chips.block span{background:#fde8e6;color:#8e2418}
.host{border-left:6px solid var(--amber)}.host.escalated{border-left-color:var(--red)}
.hosthead{display:flex;align-items:center;gap:14px;flex-wrap:wrap}
.hosthead h2{margin:0;font-family:ui-monospace,monospace}
.badge{border-radius:12px;padding:3px 12px;font-weight:600;font-size:12.5px;color:#fff;
background:var(--amber)}.badge.t2{background:var(--red)}.badge.soft{background:#e5e7eb;color:var(--ink)}
.nums{color:var(--mute)}.nums b{color:var(--ink)}
.playbook{display:grid;grid-template-columns:repeat(3,1fr);gap:10px;margin:14px 0;align-items:start}
.q{border-radius:8px;padding:10px 12px;background:#f0f7f3;border:1px solid #cfe8da}
.q.alert{background:#fdecea;border-color:#f3b9b2}.q.context{background:#fff7e6;border-color:#f5d79e}
.q h4{margin:0 0 4px;font-size:13px}.q .v{font-weight:700;font-size:12px;text-transform:uppercase;
letter-spacing:.03em}.q.alert .v{color:var(--red)}.q.context .v{color:#a86b00}.q.clear .v{color:var(--green)}
.q ul{margin:4px 0 0;padding-left:18px;font-size:12.5px;color:#374151;overflow-wrap:anywhere}
.alertcard{border:1px solid var(--line);border-radius:8px;padding:12px 14px;margin:10px 0}
.alertcard.esc{border-color:#f3b9b2;background:#fffafa}
.alertcard h4{margin:0;font-size:14px}.meta{color:var(--mute);font-size:12.5px}
.decision{margin:8px 0;padding:8px 12px;border-radius:6px;background:#fdecea;color:#7f1d1d}
.decision.t1{background:#fff7e6;color:#6b4500}
.reasons{margin:6px 0;padding-left:20px}.reasons li{margin:2px 0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;font-size:12.5px;margin:6px 0}
th{text-align:left;color:var(--mute);font-weight:600;border-bottom:1px solid var(--line);padding:4px 6px}
td{border-bottom:1px solid #f1f3f6;padding:4px 6px;vertical-align:top;overflow-wrap:anywhere}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.mono{font-family:ui-monospace,monospace;font-size:12px}.flag{color:var(--red);font-weight:700}
.ok{color:var(--green)}a{color:var(--blue);text-decoration:none}
.score{display:inline-block;min-width:34px;text-align:center;border-radius:10px;padding:1px 8px;
font-weight:700;color:#fff;background:var(--green)}.score.mid{background:var(--amber)}
.score.hi{background:var(--red)}
.contain th{width:90px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:12px}
details summary{cursor:pointer;color:var(--blue);margin:6px 0}
svg{width:100%;height:auto;display:block}
footer{max-width:1180px;margin:0 auto;padding:10px 24px 30px;color:var(--mute);font-size:12px}
"""


def render(triage: Triage, sources: list, skipped: list = (), skipped_count: int = None) -> str:
    """The page for a triage; `sources` names the directories read,
    `skipped` lists evefiles.SkippedLine, the first of `skipped_count`
    (default: as many as listed)."""
    span = (f"{format_time(triage.first_us)} – {format_time(triage.last_us)} UTC"
            if triage.first_us else "no timed records")
    where = sources[0] if len(sources) == 1 else f"{len(sources)} output directories"
    subtitle = f"{esc(span)} · {esc(where)}"
    body = [_skipped(skipped, len(skipped) if skipped_count is None else skipped_count),
            _bounds(triage.dropped), _summary(triage), _at_a_glance(triage), _containment(triage),
            _overview_charts(triage)]
    body += [_host(h, triage) for h in triage.flagged]
    body += [_other_hosts(triage), _certificates(triage)]
    return PAGE.substitute(css=CSS, subtitle=subtitle, body="".join(body),
                           footer=_footer(triage, sources))


def _skipped(skipped, count: int) -> str:
    if not count:
        return ""
    listed = skipped[:SKIPPED_LISTED]
    items = "".join(f"<li>{esc(s.path)} line {s.line}: {esc(s.problem)}</li>" for s in listed)
    more = f"<li>… and {count - len(listed)} more</li>" if count > len(listed) else ""
    return (f'<div class="warn"><b>{count} malformed line(s) skipped</b>'
            f"<ul>{items}{more}</ul></div>")


# what each of the model's bounds leaves out (model.Dropped), said to the analyst
BOUND_TEXT = {
    "hosts": "hosts without alerts that sent least were left out (--max-hosts)",
    "channels": "channels that sent least were left out; their bytes still count in their "
                "host's totals (--max-channels)",
    "alerts": "Tier 1 and lowest-score alerts were left out; escalated alerts still add to the "
              "containment list (--max-alerts)",
    "certificates": "certificates with the lowest anomaly score were left out",
    "open_flows": "long flows were forgotten between interim records: a later record counted "
                  "them again",
    "handshakes": "handshakes were forgotten before their flow ended: those flows show their "
                  "application protocol instead of the SNI",
    "containment": "containment entries past the list's bound were left out",
}


def _bounds(dropped) -> str:
    """What the report left out to stay within its memory bounds."""
    items = "".join(f"<li>{n:,} {BOUND_TEXT[name]}</li>" for name, n in vars(dropped).items()
                    if n)
    if not items:
        return ""
    return ('<div class="warn"><b>Records left out to keep the report within its memory '
            "bounds</b> (see exfilwatch report --help)<ul>" + items + "</ul></div>")


def _summary(t: Triage) -> str:
    escalated = [h for h in t.flagged if h.escalated]
    out_flagged = sum(h.bytes_out for h in t.flagged)
    blocks = len(t.containment["block_ips"]) + len(t.containment["block_domains"])
    tiles = [("red" if escalated else "", len(escalated), "hosts escalated to Tier 2"),
             ("amber" if t.flagged else "", len(t.flagged), "hosts with alerts"),
             ("", len(t.alerts), "alerts"),
             ("", human_bytes(out_flagged), "sent out by flagged hosts"),
             ("red" if blocks else "", blocks, "IPs and domains to block")]
    return '<section class="tiles">' + "".join(
        f'<div class="tile {cls}"><b>{esc(v)}</b><span>{esc(label)}</span></div>'
        for cls, v, label in tiles) + "</section>"


def _anchor(ip: str) -> str:
    return "host-" + "".join(c if c.isalnum() else "-" for c in ip)


def _at_a_glance(t: Triage) -> str:
    if not t.flagged:
        return ""
    rows = []
    for h in t.flagged:
        lead = max(h.alerts, key=lambda a: (a.escalate, a.score))
        decision = ('<span class="badge t2">Tier 2</span>' if h.escalated
                    else '<span class="badge">Tier 1</span>')
        rows.append(f'<tr><td class="mono"><a href="#{_anchor(h.ip)}">{esc(h.ip)}</a></td>'
                    f"<td>{decision}</td><td class=\"n\">{_score(h.score)}</td>"
                    f"<td>{_alert_id(lead)}{esc(lead.signature)}</td>"
                    f"<td>{esc(lead.dest_ip)}:{lead.dest_port}</td>"
                    f'<td class="n">{esc(human_bytes(h.bytes_out))}</td>'
                    f'<td class="n">{len(h.alerts)}</td></tr>')
    return ('<h2>Hosts to triage</h2><div class="card"><table><tr><th>host</th><th>decision</th>'
            '<th class="n">score</th><th>leading alert</th><th>destination</th>'
            '<th class="n">sent out</th><th class="n">alerts</th></tr>'
            + "".join(rows) + "</table></div>")


def _alert_id(a: Alert) -> str:
    return f'<span class="chip">{esc(a.alert_id)}</span> ' if a.alert_id else ""


def _score(score) -> str:
    level = "hi" if isinstance(score, int) and score >= 70 else \
        "mid" if isinstance(score, int) and score >= 40 else "lo"
    return f'<span class="score {level}">{esc(score)}</span>'


def _chips(values, cls="") -> str:
    return f'<span class="chips {cls}">' + "".join(f"<span>{esc(v)}</span>" for v in values) + \
        "</span>" if values else '<span class="meta">none</span>'


def _containment(t: Triage) -> str:
    c = t.containment
    if not any(c.values()):
        return ('<h2>Containment</h2><div class="card">No alert was escalated: nothing to '
                "block.</div>")
    return ('<h2 id="containment">Containment: what escalated alerts ask to block</h2>'
            '<div class="card"><table class="contain">'
            f"<tr><th>IPs</th><td>{_chips(c['block_ips'], 'block')}</td></tr>"
            f"<tr><th>Ports</th><td>{_chips(c['block_ports'], 'block')}</td></tr>"
            f"<tr><th>Domains</th><td>{_chips(c['block_domains'], 'block')}</td></tr>"
            "</table></div>")


def _overview_charts(t: Triage) -> str:
    parts = ['<h2>Alerts over time</h2><div class="card">']
    if t.alerts:
        parts.append(svg.alert_timeline(t.alerts, t.alerts[0].ts_us, t.alerts[-1].ts_us,
                                        "Timeline of alerts per host"))
        parts.append('<p class="meta">One mark per alert; the larger, the higher its score. '
                     '<b style="color:#c0392b">Red</b>: escalated to Tier 2; '
                     '<b style="color:#e69f00">amber</b>: Tier 1 review.</p>')
    else:
        parts.append("No alerts.")
    parts.append("</div>")
    top = t.channels[:UPDOWN_CHANNELS]
    if top:
        parts.append(f'<h2>Upload vs download per channel</h2><div class="card">'
                     + svg.upload_vs_download(
                         [(f"{c.host} → {c.label}", c.bytes_out, c.bytes_in, c.alerted)
                          for c in top], "Upload versus download per channel")
                     + f'<p class="meta">The {len(top)} channels that sent the most, of '
                       f'{len(t.channels)}; ⚑ marks a channel with an alert.</p></div>')
    return "".join(parts)


def _host(h: Host, t: Triage) -> str:
    tier = ('<span class="badge t2">ESCALATE TO TIER 2</span>' if h.escalated
            else '<span class="badge">Tier 1 review</span>')
    head = (f'<div class="hosthead"><h2>{esc(h.ip)}</h2>{tier}'
            f'<span class="badge soft">score {h.score}</span>'
            f'<span class="nums"><b>{esc(human_bytes(h.bytes_out))}</b> out · '
            f'<b>{esc(human_bytes(h.bytes_in))}</b> in · <b>{h.flows}</b> flows · '
            f'<b>{len(h.channels)}</b> channels · <b>{len(h.alerts)}</b> alerts</span></div>')
    playbook = '<div class="playbook">' + "".join(
        f'<div class="q {a.verdict}"><h4>{esc(a.question)}</h4>'
        f'<div class="v">{esc(VERDICT_TEXT[a.verdict])}</div>'
        + (f"<ul>{''.join(f'<li>{esc(e)}</li>' for e in a.evidence[:6])}</ul>"
           if a.evidence else "") + "</div>" for a in h.answers) + "</div>"
    series = {}
    for ch in h.channels:
        if ch.bytes_out and ch.direction != INTERNAL:
            series.setdefault(ch.label, []).extend(ch.out_series.spans())
    chart = ("<h3>Bytes out over time, per destination</h3>"
             + svg.bytes_out_over_time(series, h.first_us, h.last_us,
                                       f"Bytes out of {h.ip} over time")
             if series else "")
    alerts = "<h3>Alerts</h3>" + "".join(_alert(a, t) for a in h.alerts)
    if h.alerts_dropped:
        alerts += (f'<p class="meta">… and {h.alerts_dropped:,} more with lower scores, left '
                   "out at the report's bound (--max-alerts)</p>")
    dropped = (f" (and {h.channels_dropped:,} that sent least, left out at the report's "
               "bound)" if h.channels_dropped else "")
    channels = (f"<details><summary>All {len(h.channels)} channels of {esc(h.ip)}{dropped}"
                "</summary>"
                + _channel_table(h.channels, t) + "</details>")
    cls = "card host escalated" if h.escalated else "card host"
    return (f'<section class="{cls}" id="{_anchor(h.ip)}">{head}{playbook}{chart}{alerts}'
            f"{channels}</section>")


def _alert(a: Alert, t: Triage) -> str:
    decision = (f'<div class="decision"><b>Escalate to Tier {a.tier}</b>: '
                f"{esc(a.escalation_reason)}</div>" if a.escalate else
                f'<div class="decision t1"><b>Tier {a.tier}</b>: '
                f"{esc(a.escalation_reason or 'not escalated')}</div>")
    reasons = "<ul class=\"reasons\">" + "".join(f"<li>{esc(r)}</li>" for r in a.reasons) + "</ul>"
    findings = "".join(f"<tr><th>{esc(k)}</th><td>{esc(describe(v))}</td></tr>"
                       for k, v in a.findings.items())
    fps = "".join(f"<tr><th>{esc(k.upper())}</th><td class=\"mono\">{esc(v)}</td></tr>"
                  for k, v in a.fingerprints.items())
    c = a.containment
    block = c["block_ips"] + [f"port {p}" for p in c["block_ports"]] + c["block_domains"]
    contain = f"<tr><th>Block</th><td>{_chips(block, 'block')}</td></tr>" if block else ""
    return (f'<div class="alertcard{" esc" if a.escalate else ""}"><h4>{_alert_id(a)}{esc(a.signature)}</h4>'
            f'<div class="meta">{esc(format_time(a.ts_us))} UTC · {esc(a.host)} → '
            f"{esc(a.dest_ip)}:{a.dest_port}/{esc(a.proto)} · score <b>{a.score}</b> · "
            f"severity {a.severity} · {esc(human_bytes(a.bytes_out))} out, "
            f"{esc(human_bytes(a.bytes_in))} in</div>{decision}{reasons}"
            f'<div class="grid2"><table><tr><th colspan="2">Findings</th></tr>{findings}'
            f'{contain}</table><table><tr><th colspan="2">Fingerprints</th></tr>'
            f"{fps or '<tr><td>none recorded</td></tr>'}</table></div>"
            f"{_certificate(a.certificate)}{_evidence_flows(a, t)}</div>")


def _certificate(cert: dict) -> str:
    if not cert:
        return ""
    anomaly = cert.get("anomaly") if isinstance(cert.get("anomaly"), dict) else {}
    rows = "".join(
        f"<tr><td>{esc(r.get('reason_id') or r.get('id') or '')}</td>"
        f"<td class=\"n\">{esc(r.get('points', ''))}</td><td>{esc(r.get('detail', ''))}</td></tr>"
        for r in anomaly.get("reasons") or [] if isinstance(r, dict))
    return (f"<h3>Server certificate · anomaly score {esc(anomaly.get('score', '–'))}/100</h3>"
            f"<table><tr><th>Subject</th><td>{esc(cert.get('subject', ''))}</td></tr>"
            f"<tr><th>Issuer</th><td>{esc(cert.get('issuerdn', ''))}</td></tr>"
            f"<tr><th>SHA-256</th><td class=\"mono\">{esc(cert.get('sha256', ''))}</td></tr>"
            f"<tr><th>Validation</th><td>{esc(cert.get('validation', ''))}: "
            f"{esc(cert.get('validation_reason', ''))}</td></tr></table>"
            + (f'<table><tr><th>Anomaly</th><th class="n">points</th><th>why</th></tr>{rows}'
               "</table>" if rows else ""))


def _evidence_flows(a: Alert, t: Triage) -> str:
    found = [t.flows[k] for k in a.flows if k in t.flows]
    if not found:
        return ""
    rows = [f'<tr><td class="mono">{f.key.flow_id}</td><td>{esc(format_time(f.start_us))}</td>'
            f'<td class="n">{(f.end_us - f.start_us) / 1e6:,.1f} s</td>'
            f"<td>{esc(f.host)} → {esc(f.external)}:{f.port}/{esc(f.proto)}</td>"
            f"<td>{esc(f.service)}</td><td class=\"n\">{esc(human_bytes(f.bytes_out))}</td>"
            f'<td class="n">{esc(human_bytes(f.bytes_in))}</td></tr>'
            for f in found[:FLOWS_LISTED]]
    return "<h3>Evidence flows</h3>" + _table(
        '<th>flow id</th><th>start (UTC)</th><th class="n">duration</th><th>flow</th>'
        '<th>service</th><th class="n">up</th><th class="n">down</th>', rows, len(found))


def _channel_table(channels, t: Triage) -> str:
    rows = []
    for ch in channels[:ROWS_LISTED]:
        fps = " ".join(f"{k}={v}" for k, vs in sorted(ch.fingerprints.items()) for v in sorted(vs))
        if ch.values_dropped:
            fps += f" (+{ch.values_dropped} more values)"
        certs = []
        for sha in ch.certificates:
            x = t.certificates.get(sha, {})
            status = x.get("validation", {}).get("status", "") if isinstance(
                x.get("validation"), dict) else ""
            certs.append(f"{x.get('subject', sha[:16])} ({status or 'not validated'}, "
                         f"score {x.get('score', '–')})")
        rows.append(f'<tr><td>{"<span class=flag>⚑</span> " if ch.alerted else ""}'
                    f"{esc(ch.label)}</td><td class=\"n\">{ch.flows}</td>"
                    f'<td class="n">{esc(human_bytes(ch.bytes_out))}</td>'
                    f'<td class="n">{esc(human_bytes(ch.bytes_in))}</td>'
                    f"<td>{esc(format_time(ch.first_us))} – {esc(format_time(ch.last_us))}</td>"
                    f'<td class="mono">{esc(fps)}</td><td>{esc("; ".join(certs))}</td></tr>')
    return _table('<th>channel</th><th class="n">flows</th><th class="n">up</th>'
                  '<th class="n">down</th><th>seen (UTC)</th><th>fingerprints</th>'
                  '<th>certificates</th>', rows, len(channels))


def _other_hosts(t: Triage) -> str:
    quiet = [h for h in t.hosts if not h.alerts]
    if not quiet:
        return ""
    rows = [f'<tr><td class="mono">{esc(h.ip)}</td><td class="n">{h.flows}</td>'
            f'<td class="n">{esc(human_bytes(h.bytes_out))}</td>'
            f'<td class="n">{esc(human_bytes(h.bytes_in))}</td>'
            f"<td>{esc(h.channels[0].label) if h.channels else ''}</td></tr>"
            for h in quiet[:ROWS_LISTED]]
    return (f'<h2>Hosts without alerts ({len(quiet)})</h2><div class="card"><details>'
            "<summary>Show them, most bytes out first</summary>"
            + _table('<th>host</th><th class="n">flows</th><th class="n">out</th>'
                     '<th class="n">in</th><th>top channel</th>', rows, len(quiet))
            + "</details></div>")


def _certificates(t: Triage) -> str:
    if not t.certificates:
        return ""
    certs = sorted(t.certificates.values(),
                   key=lambda x: -x["score"] if isinstance(x.get("score"), int) else 0)
    rows = []
    for x in certs[:ROWS_LISTED]:
        v = x.get("validation") if isinstance(x.get("validation"), dict) else {}
        reasons = ", ".join(str(r.get("id", "")) for r in x.get("reasons") or []
                            if isinstance(r, dict))
        concern = certificate_concern(x)
        rows.append(f'<tr><td class="n">{_score(x.get("score", "–"))}</td>'
                    f"<td>{esc(x.get('subject', ''))}</td><td>{esc(x.get('issuerdn', ''))}</td>"
                    f'<td class="{"flag" if concern else "ok"}" title="{esc(concern)}">'
                    f'{esc(v.get("status", ""))}</td>'
                    f"<td>{esc(reasons)}</td>"
                    f"<td>{esc(x.get('sni', ''))}</td></tr>")
    return ('<h2>Certificates seen, highest anomaly score first</h2><div class="card">'
            + _table('<th class="n">score</th><th>subject</th><th>issuer</th><th>validation</th>'
                     "<th>anomalies</th><th>SNI</th>", rows, len(certs))
            + "</div>")


def _table(head: str, rows: list, total: int) -> str:
    """A table of the rows given, the first of `total`; the others are
    counted in a last row."""
    more = (f'<tr><td colspan="{head.count("<th")}" class="meta">… and {total - len(rows):,} '
            "more</td></tr>" if total > len(rows) else "")
    return f"<table><tr>{head}</tr>{''.join(rows)}{more}</table>"


def _footer(t: Triage, sources: list) -> str:
    counts = ", ".join(f"{n:,} {kind}" for kind, n in sorted(t.counts.items()))
    return (f"Read from {esc(', '.join(sources))}. "
            f"Records: {esc(counts) or 'none'}. Packets: {t.packets:,}. "
            "Generated by exfilwatch report; playbook questions from DESIGN.md "
            f"({len(PLAYBOOK)} per host).")
