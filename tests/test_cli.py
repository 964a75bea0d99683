"""The exfilwatch command as an operator meets it: exit codes and messages."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

PCAPS = Path(__file__).resolve().parent.parent / "pcaps"
DEMO = PCAPS / "tunnels_vlan.pcap"


def run(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "engine.cli", *map(str, args)],
                          capture_output=True, text=True, **kwargs)


def eve_events(out_dir):
    return [json.loads(line) for line in open(out_dir / "eve.json", encoding="utf-8")]


def test_version_prints_the_package_version():
    from engine import __version__

    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"exfilwatch {__version__}"


def test_help_lists_only_the_commands_that_exist():
    result = run("--help")
    assert result.returncode == 0
    commands = result.stdout.split("positional arguments:")[1].split("options:")[0]
    listed = {line.split()[0] for line in commands.splitlines()[2:] if line.strip()}
    assert listed == {"replay", "live", "report", "config", "contain", "extract"}     # --help must tell the truth


def test_replay_writes_flow_records_and_a_closing_stats_record(tmp_path):
    result = run("replay", DEMO, "-o", tmp_path / "out", "--quiet")
    assert result.returncode == 0, result.stderr
    events = eve_events(tmp_path / "out")
    assert {e["event_type"] for e in events[:-1]} == {"flow", "tls", "x509"}
    assert events[-1]["event_type"] == "stats"
    assert events[-1]["stats"]["capture"]["files_read"] == 1
    assert set(events[-1]["stats"]) >= {"decoder", "flow", "defrag", "tcp", "handshake", "capture"}


def test_missing_file_is_named_and_the_other_files_are_still_replayed(tmp_path):
    missing = tmp_path / "nope.pcap"
    result = run("replay", missing, DEMO, "-o", tmp_path / "out", "--quiet")
    assert result.returncode == 1
    assert str(missing) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    events = eve_events(tmp_path / "out")
    assert sum(e["event_type"] == "flow" for e in events) > 0


def test_a_file_that_is_not_a_capture_is_rejected_with_its_name(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a capture\n")
    result = run("replay", text, "-o", tmp_path / "out", "--quiet")
    assert result.returncode == 1
    assert "notes.txt is not a pcap or pcapng capture" in result.stderr


def test_truncated_capture_is_read_up_to_the_cut_and_reported(tmp_path):
    data = DEMO.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) // 2 + 7])
    result = run("replay", cut, "-o", tmp_path / "out", "--quiet", "--summary")
    assert result.returncode == 0, result.stderr
    assert "cut.pcap" in result.stderr                       # the warning names the file
    assert "Truncated" in result.stdout
    stats = eve_events(tmp_path / "out")[-1]["stats"]
    assert stats["capture"]["files_truncated"] == 1
    assert stats["decoder"]["pkts"] > 0


@pytest.mark.parametrize("flag,value,field", [
    ("--max-flows", "0", "max_flows"),
    ("--tcp-timeout-established", "-5", "tcp_timeout_established_s"),
])
def test_bad_config_values_name_the_field_and_exit_2(tmp_path, flag, value, field):
    result = run("replay", DEMO, "-o", tmp_path / "out", flag, value)
    assert result.returncode == 2
    assert field in result.stderr


def test_unwritable_output_directory_is_a_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run("replay", DEMO, "-o", blocker / "sub", "--quiet")
    assert result.returncode == 2
    assert str(blocker / "sub") in result.stderr


def test_summary_names_the_largest_upload_and_where_eve_json_is(tmp_path):
    result = run("replay", PCAPS / "exfil_tls_selfsigned.pcap", "-o", tmp_path / "out",
                 "--summary", "--quiet")
    assert result.returncode == 0
    assert "203.0.113.66:8443" in result.stdout.split("Largest uploads")[1].splitlines()[1]
    assert str(tmp_path / "out" / "eve.json") in result.stdout
    assert "EXFIL large upload over an encrypted channel: 10.1.0.23 -> 203.0.113.66:8443" \
        in result.stdout


def test_eve_lines_with_undecodable_wire_bytes_are_still_json():
    from engine.sinks.eve import encode_event

    line = encode_event({"ssh": {"kex": "curve25519\udcff"}})
    assert json.loads(line)["ssh"]["kex"] == "curve25519\udcff"


def test_config_show_prints_toml_that_config_check_accepts(tmp_path):
    shown = run("config", "show")
    assert shown.returncode == 0 and "[core]" in shown.stdout
    path = tmp_path / "exfilwatch.toml"
    path.write_text(shown.stdout)
    checked = run("config", "check", path)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("text,message", [
    ("[core]\nmax_flows = 0\n", "'core.max_flows' is 0"),
    ("[core]\nmax_flowz = 10\n", "'core.max_flowz' is not known"),
    ("[core]\nmax_flows = 'many'\n", "'core.max_flows' must be an integer"),
    ("[nope]\n", "unknown table [nope]"),
    ("[core\n", "is not valid TOML"),
])
def test_config_check_names_the_key_and_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = run("config", "check", path)
    assert result.returncode == 2
    assert message in result.stderr and str(path) not in result.stdout


def test_replay_takes_its_caps_from_the_config_file_and_the_options_override_it(tmp_path):
    path = tmp_path / "exfilwatch.toml"
    path.write_text("[core]\nmax_flows = 2\n")
    result = run("replay", PCAPS / "benign_browsing.pcap", "-o", tmp_path / "a", "-q", "-c", path)
    stats = eve_events(tmp_path / "a")[-1]["stats"]
    assert result.returncode == 0 and stats["flow"]["evicted_memcap"] > 0
    result = run("replay", PCAPS / "benign_browsing.pcap", "-o", tmp_path / "b", "-q", "-c", path,
                 "--max-flows", "1000")
    assert eve_events(tmp_path / "b")[-1]["stats"]["flow"]["evicted_memcap"] == 0


def test_x509_records_carry_validation_score_and_ja4x(tmp_path):
    result = run("replay", PCAPS / "exfil_tls_selfsigned.pcap", "-o", tmp_path / "out", "-q")
    assert result.returncode == 0
    x509 = [e["x509"] for e in eve_events(tmp_path / "out") if e["event_type"] == "x509"]
    selfsigned = next(x for x in x509 if "Internet Widgits" in x["subject"])
    assert selfsigned["ja4x"].count("_") == 2
    assert selfsigned["validation"]["status"] in ("self_signed", "untrusted")
    assert selfsigned["score"] >= 40
    assert "self_signed" in {r["id"] for r in selfsigned["reasons"]}
