"""Containment export (engine/contain.py): the escalated alerts' block list
as nftables, iptables/ip6tables-restore and CSV. The rule formats are checked
by the real tools (Debian nftables and iptables) inside a network namespace
the test creates, so nothing touches the host's firewall."""
import csv
import io
import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from engine.cli import main
from engine.contain import load_block_list, render

PCAPS = Path(__file__).resolve().parent.parent / "pcaps"
_names = itertools.count()


def alert(ts, dest, port, proto="TCP", escalate=True, ips=None, ports=None, domains=(),
          signature="EXFIL large upload over an encrypted channel", alert_id=None):
    exfil = {"score": 90, "escalate": escalate,
             "containment": {"block_ips": [dest] if ips is None else ips,
                             "block_ports": [port] if ports is None else ports,
                             "block_domains": list(domains)}}
    if alert_id:
        exfil["alert_id"] = alert_id
    return {"timestamp": ts, "flow_id": 1, "event_type": "alert", "src_ip": "10.0.0.5",
            "dest_ip": dest, "dest_port": port, "proto": proto,
            "alert": {"signature_id": 9480001, "signature": signature, "severity": 1},
            "exfil": exfil}


def write_eve(path, events):
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")


@pytest.fixture
def run_dir(tmp_path):
    # the rotated file holds the older records
    write_eve(tmp_path / "eve.json.1", [
        alert("2026-03-10T10:00:00.000000+00:00", "203.0.113.66", 8443, alert_id="aaa1",
              domains=["backup-sync.example"]),
    ])
    write_eve(tmp_path / "eve.json", [
        {"timestamp": "2026-03-10T11:00:00.000000+00:00", "event_type": "flow", "flow_id": 1},
        alert("2026-03-10T12:00:00.000000+00:00", "203.0.113.66", 8443, alert_id="bbb2",
              signature="EXFIL sustained transfer over an encrypted channel",
              domains=["Backup-Sync.example."]),
        alert("2026-03-10T12:30:00.000000+00:00", "2001:db8::66", 443, alert_id="ccc3"),
        alert("2026-03-10T12:40:00.000000+00:00", "198.51.100.9", 4433, proto="UDP"),
        alert("2026-03-10T12:45:00.000000+00:00", "192.0.2.200", 443, escalate=False),
        # hostile values from the wire: none may become a rule or a line
        alert("2026-03-10T13:00:00.000000+00:00", "192.0.2.1; flush ruleset", 443,
              domains=["evil.example\nflush ruleset", "ok.example"]),
        alert("2026-03-10T13:05:00.000000+00:00", "192.0.2.7", 0, ports=[70000, "22"]),
        alert("2026-03-10T13:10:00.000000+00:00", "", 443,
              ips=["fe80::1%eth0\nflush ruleset", 3221225985]),
    ])
    (tmp_path / "eve.json").open("a").write('{"event_type": "alert", "truncat')
    return tmp_path


def test_block_list_deduplicates_validates_and_keeps_first_and_last_seen(run_dir):
    blocks = load_block_list(str(run_dir))
    assert blocks.escalated_alerts == 7
    keys = [(str(a), proto, port) for a, proto, port in blocks.sorted_channels()]
    assert keys == [("192.0.2.7", "", 0), ("198.51.100.9", "udp", 4433),
                    ("203.0.113.66", "tcp", 8443), ("2001:db8::66", "tcp", 443)]
    seen = blocks.channels[next(k for k in blocks.channels if k[2] == 8443)]
    assert seen.first_seen == "2026-03-10T10:00:00.000000+00:00"
    assert seen.last_seen == "2026-03-10T12:00:00.000000+00:00"
    assert seen.alert_ids == {"aaa1", "bbb2"} and len(seen.signatures) == 2
    assert sorted(blocks.domains) == ["backup-sync.example", "ok.example"]
    # three addresses (one with a zone holding a newline, one a number), a domain, two ports
    assert blocks.rejected == 6


def test_csv_rows(run_dir):
    rows = list(csv.DictReader(io.StringIO(render(load_block_list(str(run_dir)), "csv"))))
    assert [(r["address"], r["protocol"], r["port"], r["domain"]) for r in rows] == [
        ("192.0.2.7", "", "", ""), ("198.51.100.9", "udp", "4433", ""),
        ("203.0.113.66", "tcp", "8443", ""), ("2001:db8::66", "tcp", "443", ""),
        ("", "", "", "backup-sync.example"), ("", "", "", "ok.example")]
    assert rows[2]["alert_ids"] == "aaa1; bbb2"
    assert rows[2]["signatures"] == ("EXFIL large upload over an encrypted channel; "
                                     "EXFIL sustained transfer over an encrypted channel")
    assert rows[4]["first_seen"] == "2026-03-10T10:00:00.000000+00:00"


def test_rule_formats_hold_only_validated_values(run_dir):
    blocks = load_block_list(str(run_dir))
    for fmt in ("nft", "iptables", "ip6tables"):
        text = render(blocks, fmt)
        assert "flush ruleset" not in text and "192.0.2.1" not in text and "fe80" not in text
        assert "192.0.2.200" not in text              # not escalated
        assert "#   backup-sync.example" in text and "#   ok.example" in text
    nft = render(blocks, "nft")
    assert "203.0.113.66 . tcp . 8443" in nft and "2001:db8::66 . tcp . 443" in nft
    assert "elements = { 192.0.2.7 }" in nft
    ipt = render(blocks, "iptables")
    assert "-A EXFILWATCH-BLOCK -d 198.51.100.9/32 -p udp --dport 4433 -j DROP" in ipt
    assert "-A EXFILWATCH-BLOCK -d 192.0.2.7/32 -j DROP" in ipt and "2001:db8" not in ipt
    assert "-A EXFILWATCH-BLOCK -d 2001:db8::66/128 -p tcp --dport 443 -j DROP" in \
        render(blocks, "ip6tables")


class Netns:
    """A network namespace of the test's own, deleted on exit."""

    def __init__(self):
        self.name = f"xwtest-ct{os.getpid() % 100000}{next(_names)}"

    def __enter__(self):
        if shutil.which("ip") is None:
            pytest.fail("The `ip` command (Debian iproute2) is missing.")
        subprocess.run(["ip", "netns", "add", self.name], check=True, timeout=10)
        return self

    def run(self, argv, text):
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], input=text,
                              capture_output=True, text=True, timeout=30)

    def __exit__(self, *exc):
        subprocess.run(["ip", "netns", "delete", self.name], timeout=10)


def _tool(name, package):
    if shutil.which(name) is None:
        pytest.fail(f"`{name}` is missing: install the Debian package {package}.")
    return name


def test_nft_accepts_the_ruleset_and_rejects_a_broken_one(run_dir, tmp_path):
    nft = _tool("nft", "nftables")
    ruleset = tmp_path / "block.nft"
    ruleset.write_text(render(load_block_list(str(run_dir)), "nft"))
    broken = tmp_path / "broken.nft"
    broken.write_text("table inet exfilwatch { set s { type ipv4_addr; elements = { 1.2.3 } } }\n")
    with Netns() as ns:
        ok = ns.run([nft, "-c", "-f", str(ruleset)], "")
        assert ok.returncode == 0, ok.stderr
        assert ns.run([nft, "-c", "-f", str(broken)], "").returncode != 0


def test_nft_ruleset_of_no_escalated_alert_is_valid(tmp_path):
    nft = _tool("nft", "nftables")
    write_eve(tmp_path / "eve.json", [alert("2026-03-10T12:00:00+00:00", "192.0.2.1", 443,
                                            escalate=False)])
    ruleset = tmp_path / "empty.nft"
    ruleset.write_text(render(load_block_list(str(tmp_path)), "nft"))
    with Netns() as ns:
        result = ns.run([nft, "-c", "-f", str(ruleset)], "")
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("fmt, tool", [("iptables", "iptables-restore"),
                                       ("ip6tables", "ip6tables-restore")])
def test_iptables_restore_accepts_the_rules(run_dir, fmt, tool):
    restore = _tool(tool, "iptables")
    text = render(load_block_list(str(run_dir)), fmt)
    with Netns() as ns:
        result = ns.run([restore, "--test", "--noflush"], text)
        assert result.returncode == 0, result.stderr
        # the check is real: an impossible prefix length is refused
        broken = text.replace("/32 ", "/33 ").replace("/128 ", "/129 ")
        assert ns.run([restore, "--test", "--noflush"], broken).returncode != 0


def test_cli_on_a_replay_of_the_demo_exfil(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["replay", str(PCAPS / "exfil_tls_selfsigned.pcap"), "-o", str(out), "-q"]) == 0
    capsys.readouterr()
    assert main(["contain", str(out), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["address"], r["port"]) for r in rows if r["address"]] == [("203.0.113.66", "8443")]
    assert [r["domain"] for r in rows if r["domain"]] == ["backup-sync.example"]
    assert main(["contain", str(out), "-o", str(tmp_path / "b.nft")]) == 0
    assert "203.0.113.66 . tcp . 8443" in (tmp_path / "b.nft").read_text()


def test_cli_errors_name_the_directory(tmp_path, capsys):
    assert main(["contain", str(tmp_path / "missing")]) == 2
    assert "missing is not a directory" in capsys.readouterr().err
    assert main(["contain", str(tmp_path)]) == 2
    assert "holds no eve.json" in capsys.readouterr().err
    write_eve(tmp_path / "eve.json", [])
    assert main(["contain", str(tmp_path), "-o", str(tmp_path / "no" / "such.nft")]) == 2
    assert "cannot write" in capsys.readouterr().err
