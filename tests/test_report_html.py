"""The report page: attacker-controlled strings (SNI, certificate subjects,
reasons quoting them) are escaped everywhere, charts included, and the page
needs nothing from outside."""
import re
from html.parser import HTMLParser

from engine.netscope import NetScope
from engine.report import svg
from engine.report.html import render
from engine.report.model import build_triage
from engine.report.text import describe, esc, human_bytes
from report_records import HOSTILE, alert, flow, tls, x509


def hostile_page(**kwargs) -> str:
    sha = "cd" * 32
    records = [
        flow(1, "10.0.0.5", "203.0.113.9", 8443, up=6_600_000, down=1000),
        flow(2, "10.0.0.5", "203.0.113.9", 8443, up=10, down=10,
             start="2026-03-10T14:01:00+00:00", end="2026-03-10T14:01:05+00:00"),
        tls(1, "10.0.0.5", "203.0.113.9", 8443, HOSTILE, cert_sha256=sha, ja4=HOSTILE),
        x509(1, sha, f"CN={HOSTILE}"),
        alert(1, "10.0.0.5", "203.0.113.9", 8443, ["large_upload", HOSTILE], sni=HOSTILE,
              reasons=(f"The SNI '{HOSTILE}' is not covered",), alert_id=HOSTILE,
              escalation_reason=HOSTILE),
    ]
    records[-1]["exfil"]["evidence"]["certificate"] = {
        "subject": f"CN={HOSTILE}", "issuerdn": HOSTILE, "sha256": sha,
        "anomaly": {"score": 70, "reasons": [{"reason_id": HOSTILE, "points": 5,
                                              "detail": HOSTILE}]}}
    return render(build_triage([(0, r) for r in records], NetScope()), [HOSTILE], **kwargs)


class Markup(HTMLParser):
    """The elements and attributes a browser would see."""

    def __init__(self, page):
        super().__init__()
        self.tags, self.attrs, self.links = set(), set(), []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)
        self.links += [value for name, value in attrs if name == "href"]


def test_no_markup_from_traffic_reaches_the_page():
    page = hostile_page()
    markup = Markup(page)
    assert not {"script", "img", "iframe", "object"} & markup.tags
    assert not [a for a in markup.attrs if a.startswith("on")]
    assert esc(HOSTILE) in page
    # in chart labels and tooltips too
    assert page.count(esc(HOSTILE)) >= 8


def test_a_skipped_line_is_listed_with_its_escaped_path():
    from engine.report.evefiles import SkippedLine

    page = hostile_page(skipped=[SkippedLine(f"/x/{HOSTILE}/eve.json", 7, "not JSON")])
    assert "1 malformed line(s) skipped" in page
    assert f"/x/{esc(HOSTILE)}/eve.json line 7: not JSON" in page
    assert "<script" not in page


def test_the_page_is_self_contained_and_forbids_scripts_and_fetches():
    page = hostile_page()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    markup = Markup(page)
    assert not {"src", "srcset", "action"} & markup.attrs
    assert markup.links and all(link.startswith("#host-") for link in markup.links)
    assert re.findall(r"https?://[^\s\"'<]+", page) == ["http://www.w3.org/2000/svg"] * \
        page.count("<svg ")
    assert page.count("<svg ") == 3      # timeline, upload/download, the host's bytes out


def test_chart_labels_are_escaped_and_clipped_before_escaping():
    label = "<b>" + "x" * 60
    chart = svg.upload_vs_download([(label, 10, 5, True)], title=HOSTILE)
    assert "<b>" not in chart and "&lt;b&gt;" in chart
    assert esc(HOSTILE) in chart                 # aria-label
    line = svg.bytes_out_over_time({HOSTILE: [(0, 10_000_000, 1000)]}, 0, 10_000_000, "t")
    assert "<script" not in line and esc("<script>alert(") in line


def test_bytes_out_chart_ends_at_each_destinations_total():
    chart = svg.bytes_out_over_time({"a": [(0, 5_000_000, 1500), (5_000_000, 9_000_000, 500)],
                                     "b": [(2_000_000, 3_000_000, 700)]}, 0, 10_000_000, "t")
    assert f"a: {human_bytes(2000)} out" in chart and f"b: {human_bytes(700)} out" in chart


def test_describe_writes_byte_counts_in_units_and_reasons_by_id():
    assert describe({"bytes_out": 6_600_000, "window": "1h",
                     "reasons": [{"reason_id": "self_signed"}, {"id": "missing_san"}]}) == \
        "bytes_out 6.6 MB; window 1h; reasons self_signed, missing_san"


def test_fields_of_unexpected_types_are_left_out_not_raised():
    records = [
        {"event_type": "flow", "flow_id": "x", "src_ip": 5, "flow": "broken", "timestamp": 7},
        {"event_type": "tls", "flow_id": 1, "tls": {"ja3": "not a dict", "sni": 5}},
        {"event_type": "x509", "x509": {"sha256": "aa", "score": "high", "validation": "ok",
                                        "reasons": "x"}},
        {"event_type": "stats", "stats": {"decoder": {"pkts": "many"}}},
        {"event_type": "alert", "src_ip": "10.0.0.5", "alert": [],
         "exfil": {"evidence": [], "reasons": "abc", "score": "high", "escalate": "yes",
                   "containment": {"block_ips": "1.2.3.4", "block_ports": ["22", 22, True]}}},
        alert(2, "10.0.0.6", "203.0.113.9", 443, ["large_upload"]),
    ]
    records[-1]["exfil"]["evidence"]["certificate"] = {"anomaly": {"reasons": "x"}}
    t = build_triage([(0, r) for r in records], NetScope())
    assert t.alerts[0].containment == {"block_ips": [], "block_ports": [22], "block_domains": []}
    assert not t.alerts[0].escalate and t.packets == 0
    page = render(t, ["out"])
    assert "10.0.0.5" in page and "203.0.113.9" in page


def test_an_alert_id_is_shown_with_its_alert_and_in_the_hosts_to_triage():
    t = build_triage([(0, alert(1, "10.0.0.5", "203.0.113.9", 443, ["large_upload"],
                                alert_id="ew-3f9a2c"))], NetScope())
    page = render(t, ["out"])
    assert page.count('<span class="chip">ew-3f9a2c</span>') == 2
    assert "ew-3f9a2c EXFIL large upload" in page          # the timeline's tooltip


def test_long_tables_list_the_first_rows_and_count_the_rest():
    from engine.report.html import ROWS_LISTED

    records = [flow(i, f"10.1.{i // 250}.{i % 250}", "203.0.113.9", 443, up=1000 + i, down=1)
               for i in range(ROWS_LISTED + 50)]
    page = render(build_triage([(0, r) for r in records], NetScope()), ["out"])
    assert f"Hosts without alerts ({ROWS_LISTED + 50})" in page
    assert '<td colspan="5" class="meta">… and 50 more</td>' in page
    assert page.count('<td class="mono">10.1.') == ROWS_LISTED
    # most bytes out first: the last hosts made are listed, the first are counted
    assert f'<td class="mono">10.1.{(ROWS_LISTED + 49) // 250}.{(ROWS_LISTED + 49) % 250}<' in page
    assert '<td class="mono">10.1.0.0<' not in page
