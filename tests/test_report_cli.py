"""`exfilwatch report` as an operator meets it: exit codes and messages."""
import subprocess
import sys

from report_records import flow, write_eve


def run(*args):
    return subprocess.run([sys.executable, "-m", "engine.cli", "report", *map(str, args)],
                          capture_output=True, text=True)


def test_report_is_written_from_an_output_directory(tmp_path):
    write_eve(tmp_path / "out", [flow(1, "10.0.0.5", "203.0.113.9", 443, 5000, 100)])
    result = run(tmp_path / "out", "-o", tmp_path / "r.html")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "r.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "10.0.0.5" in page
    assert list(tmp_path.glob(".r.html.*")) == []        # no temporary file left behind


def test_a_missing_directory_is_named_and_exits_2(tmp_path):
    result = run(tmp_path / "nowhere", "-o", tmp_path / "r.html")
    assert result.returncode == 2
    assert f"{tmp_path / 'nowhere'} does not exist" in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_a_directory_without_eve_json_is_named_and_exits_2(tmp_path):
    result = run(tmp_path, "-o", tmp_path / "r.html")
    assert result.returncode == 2 and f"{tmp_path} holds no eve.json" in result.stderr


def test_malformed_lines_are_skipped_named_and_listed_in_the_report(tmp_path):
    path = write_eve(tmp_path / "out", [flow(1, "10.0.0.5", "203.0.113.9", 443, 5000, 100)])
    with open(path, "a") as fh:
        fh.write('{"event_type": "flo')                  # a live run's half-written line
    result = run(tmp_path / "out", "-o", tmp_path / "r.html")
    assert result.returncode == 0
    assert f"{path} line 2 skipped: not JSON" in result.stderr
    assert "1 malformed line(s) skipped" in (tmp_path / "r.html").read_text()


def test_an_unwritable_report_path_is_a_usage_error(tmp_path):
    write_eve(tmp_path / "out", [flow(1, "10.0.0.5", "203.0.113.9", 443, 5000, 100)])
    result = run(tmp_path / "out", "-o", tmp_path / "no" / "such" / "r.html")
    assert result.returncode == 2
    assert f"cannot write the report to {tmp_path / 'no' / 'such' / 'r.html'}" in result.stderr


def test_home_net_comes_from_the_configuration_file(tmp_path):
    # opened from outside: without home_net both ends are external and the
    # initiator stands for the host; with it, 192.0.2.5 is ours
    write_eve(tmp_path / "out", [flow(1, "198.51.100.9", "192.0.2.5", 22, 100, 5000)])
    run(tmp_path / "out", "-o", tmp_path / "r.html")
    assert '<td class="mono">198.51.100.9</td>' in (tmp_path / "r.html").read_text()
    config = tmp_path / "c.toml"
    config.write_text('[aggregate]\nhome_net = ["192.0.2.0/24"]\n')
    run(tmp_path / "out", "-o", tmp_path / "r.html", "-c", config)
    page = (tmp_path / "r.html").read_text()
    assert '<td class="mono">192.0.2.5</td><td class="n">1</td><td class="n">5.0 kB</td>' in page
    config.write_text('[aggregate]\nhome_net = ["not a network"]\n')
    result = run(tmp_path / "out", "-o", tmp_path / "r.html", "-c", config)
    assert result.returncode == 2 and "home_net" in result.stderr


def test_help_says_what_the_report_holds_and_the_exit_status():
    result = run("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for words in ("eve.json* file", "self-contained", "malformed line is skipped",
                  "Exit status 2"):
        assert words in text


def test_the_report_never_overwrites_the_records_it_reads(tmp_path):
    path = write_eve(tmp_path / "out", [flow(1, "10.0.0.5", "203.0.113.9", 443, 5000, 100)])
    before = path.read_bytes()
    result = run(tmp_path / "out", "-o", path)
    assert result.returncode == 2 and "is an EVE file the report reads" in result.stderr
    assert path.read_bytes() == before
