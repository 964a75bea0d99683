"""Acceptance: the triage report of the bundled scenario captures shows every
escalated alert with its reasons, and renders in headless Chromium without
console errors, scripts or fetches (issue 6). Needs the Debian package
`chromium` (make test installs it) and fails without it."""
import json
import struct
from pathlib import Path

import pytest

from browser import render
from report_records import HOSTILE, alert, flow, tls, write_eve, x509
from engine.cli import main as exfilwatch
from test_scenario_matrix import scenario_matrix

HOST_SECTIONS = ("Object.fromEntries([...document.querySelectorAll('section.host')]"
                 ".map(s => [s.querySelector('h2').innerText, s.innerText]))")


@pytest.fixture(scope="module")
def scenario_report(tmp_path_factory):
    """Every scenario replayed as its ground truth says, one report for all."""
    work = tmp_path_factory.mktemp("scenarios")
    outcomes = scenario_matrix.run_matrix(work)
    dirs = sorted(work.glob("*/out"))
    truth = json.loads((scenario_matrix.SCENARIOS / "ground_truth.json").read_text())
    assert len(dirs) == len(outcomes) == len(truth["captures"])
    report = work / "report.html"
    assert exfilwatch(["report", *map(str, dirs), "-o", str(report)]) == 0
    shot = work / "report.png"
    rendered = render(report, shot, evaluate={"hosts": HOST_SECTIONS,
                                              "page_width": "document.documentElement.scrollWidth"})
    alerts = [json.loads(line) for d in dirs for line in open(d / "eve.json")]
    return rendered, shot, [a for a in alerts if a["event_type"] == "alert"]


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_every_escalated_alert_is_shown_in_its_hosts_section_with_its_reasons(scenario_report):
    rendered, _, alerts = scenario_report
    escalated = [a for a in alerts if a["exfil"]["escalate"]]
    assert len(escalated) == 6
    sections = rendered.evaluated["hosts"]
    for a in escalated:
        text = sections[a["src_ip"]]
        assert "ESCALATE TO TIER 2" in text
        assert a["alert"]["signature"] in text
        assert f"{a['src_ip']} → {a['dest_ip']}:{a['dest_port']}" in text
        assert f"Escalate to Tier 2: {a['exfil']['escalation_reason']}" in text
        for reason in a["exfil"]["reasons"]:
            assert reason in text
        for block in a["exfil"]["containment"]["block_domains"]:
            assert block in text
    for a in alerts:                        # Tier 1 alerts are shown too
        assert a["alert"]["signature"] in sections[a["src_ip"]]


def test_the_page_renders_without_console_errors_scripts_or_fetches(scenario_report):
    rendered, shot, alerts = scenario_report
    assert rendered.console_errors == []
    assert rendered.requests == []
    assert rendered.script_count == 0
    hosts = {a["src_ip"] for a in alerts}
    assert rendered.svg_count == 2 + len(hosts)   # timeline, up/down, one chart per host
    width, height = png_size(shot)
    assert width == 1280 and height > 3000
    assert rendered.evaluated["page_width"] == 1280     # nothing sticks out sideways
    assert shot.stat().st_size > 100_000          # a drawn page, not a blank one
    assert "Containment: what escalated alerts ask to block" in rendered.text


@pytest.mark.parametrize("keep_csp", [True, False], ids=["blocked-by-csp", "script-runs"])
def test_a_planted_console_error_is_caught(scenario_report, tmp_path, keep_csp):
    """The check above works: a page with an error planted fails it, whether
    the policy blocks the script (an error of its own) or the script runs."""
    rendered, _, _ = scenario_report
    page = rendered.dom.replace("</body>", "<script>console.error('planted')</script></body>")
    if not keep_csp:
        page = page.replace("Content-Security-Policy", "X-No-Policy")
    planted = tmp_path / "planted.html"
    planted.write_text(page, encoding="utf-8")
    errors = render(planted, tmp_path / "planted.png").console_errors
    assert errors
    if not keep_csp:
        assert "console error: planted" in errors


def test_a_hostile_sni_and_subject_render_as_text(tmp_path):
    sha = "ef" * 32
    long_name = "x" * 240 + ".example"          # an SNI may be 255 bytes long, unbroken
    write_eve(tmp_path / "out", [
        flow(2, "10.0.0.6", "203.0.113.10", 443, up=7_000_000, down=1000),
        tls(2, "10.0.0.6", "203.0.113.10", 443, long_name),
        alert(2, "10.0.0.6", "203.0.113.10", 443, ["large_upload"], sni=long_name),
        flow(1, "10.0.0.5", "203.0.113.9", 8443, up=6_600_000, down=1000),
        tls(1, "10.0.0.5", "203.0.113.9", 8443, HOSTILE, cert_sha256=sha),
        x509(1, sha, f"CN={HOSTILE}"),
        alert(1, "10.0.0.5", "203.0.113.9", 8443, ["large_upload"], sni=HOSTILE,
              reasons=(f"The SNI '{HOSTILE}' is not covered by the certificate",)),
    ])
    assert exfilwatch(["report", str(tmp_path / "out"), "-o", str(tmp_path / "r.html")]) == 0
    rendered = render(tmp_path / "r.html", tmp_path / "r.png",
                      evaluate={"page_width": "document.documentElement.scrollWidth"})
    assert rendered.script_count == 0 and rendered.requests == []
    assert rendered.evaluated["page_width"] == 1280
    assert rendered.console_errors == []
    assert f"The SNI '{HOSTILE}' is not covered by the certificate" in rendered.text
    assert f"CN={HOSTILE}" in rendered.text
