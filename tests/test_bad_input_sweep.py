"""Bad input at the edges, swept rather than sampled (issue 7): every key of
the configuration given a value of the wrong type, and every command given
bad arguments, must come back as a sentence naming the problem and a
non-zero exit status, never a traceback."""
import tomllib
from pathlib import Path

import pytest
import tomli_w

from engine.cli import EXIT_USAGE, main

PCAPS = Path(__file__).resolve().parent.parent / "pcaps"
DEMO = PCAPS / "exfil_tls_selfsigned.pcap"


def _default_keys():
    """(table path, key, default value) of every key `config show` prints."""
    from engine.settings import load_settings, render_settings

    keys = []

    def walk(table, path):
        for key, value in table.items():
            if isinstance(value, dict):
                walk(value, path + (key,))
            else:
                keys.append((path, key, value))

    walk(tomllib.loads(render_settings(load_settings(None))), ())
    return keys


def _wrong_type(value):
    """A value no key of the default's type may accept."""
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, (int, float)):
        return "many"
    if isinstance(value, str):
        return [1, 2]
    if isinstance(value, list):
        return {"nested": 1}
    raise AssertionError(f"no wrong type for {value!r}")


KEYS = _default_keys()


def test_the_sweep_covers_every_table():
    tables = {path[0] for path, _, _ in KEYS}
    assert {"core", "aggregate", "baseline", "detect", "alerts", "outputs"} <= tables
    assert len(KEYS) > 100


@pytest.mark.parametrize("path,key,value", KEYS,
                         ids=[".".join(p + (k,)) for p, k, _ in KEYS])
def test_every_config_key_with_a_wrong_type_is_named_and_refused(tmp_path, capsys,
                                                                 path, key, value):
    table = {key: _wrong_type(value)}
    for name in reversed(path):
        table = {name: table}
    config = tmp_path / "bad.toml"
    config.write_text(tomli_w.dumps(table))
    assert main(["config", "check", str(config)]) == EXIT_USAGE
    err = capsys.readouterr().err
    # a table whose keys are data (serial = "tool") is named as the table
    assert ".".join(path + (key,)) in err or f"'{'.'.join(path)}'" in err, err
    assert "Traceback" not in err
    assert err.strip().endswith((".", ")")), f"not a sentence: {err!r}"


@pytest.mark.parametrize("argv,message", [
    (["replay", "-o", "{out}"], "the following arguments are required: FILE"),
    (["replay", str(DEMO)], "the following arguments are required: -o/--output"),
    (["replay", str(DEMO), "-o", "{out}", "--max-flows", "lots"], "--max-flows"),
    (["replay", str(DEMO), "-o", "{out}", "--max-flows", "-3"], "max_flows"),
    (["replay", str(DEMO), "-o", "{out}", "--tcp-timeout-established", "nan"],
     "tcp_timeout_established_s"),
    (["replay", str(DEMO), "-o", "{out}", "-c", "{missing}"], "missing.toml"),
    (["replay", str(DEMO), "-o", "{out}", "--format", "xml"], "--format"),
    (["live", "-o", "{out}"], "the following arguments are required: -i/--interface"),
    (["live", "-i", "lo", "-o", "{out}", "--snaplen", "0"], "--snaplen"),
    (["live", "-i", "lo", "-o", "{out}", "--buffer-mb", "x"], "--buffer-mb"),
    (["live", "-i", "lo", "-o", "{out}", "--stats-interval", "-1"], "--stats-interval"),
    (["config", "check", "{missing}"], "missing.toml"),
    (["config", "show", "-c", "{missing}"], "missing.toml"),
    (["report", "{missing_dir}", "-o", "{out}/r.html"], "nothere"),
    (["contain", "{missing_dir}", "--format", "nft"], "nothere"),
    (["contain", "{out}", "--format", "pf"], "--format"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_are_a_sentence_and_a_usage_exit(tmp_path, capsys, argv, message):
    names = {"out": str(tmp_path / "out"), "missing": str(tmp_path / "missing.toml"),
             "missing_dir": str(tmp_path / "nothere")}
    argv = [a.format(**names) for a in argv]
    try:
        status = main(argv)
    except SystemExit as exc:       # argparse's own usage errors
        status = exc.code
    assert status == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err


def test_an_interface_that_does_not_exist_is_named_with_exit_1(tmp_path, capsys):
    status = main(["live", "-i", "xw-no-such0", "-o", str(tmp_path / "out"), "-q"])
    assert status == 1
    assert "xw-no-such0" in capsys.readouterr().err


@pytest.mark.parametrize("cut", [1, 3, 4, 23, 24, 25, 39, 40, 41, 1000, 4096])
def test_a_capture_cut_at_any_point_is_read_to_the_cut_with_a_warning_and_a_stats_record(
        tmp_path, cut):
    import json
    import subprocess
    import sys
    data = DEMO.read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:cut])
    result = subprocess.run([sys.executable, "-m", "engine.cli", "replay", str(path),
                             "-o", str(tmp_path / "out"), "-q"], capture_output=True, text=True)
    assert "Traceback" not in result.stderr
    events = [json.loads(line) for line in (tmp_path / "out" / "eve.json").open()]
    stats = events[-1]["stats"]
    if cut < 4:                     # not even the magic number: not a capture
        assert result.returncode == 1 and "cut.pcap" in result.stderr
        assert stats["capture"]["files_failed"] == 1
    else:                           # a whole 24-byte header and nothing more is complete
        assert result.returncode == 0, result.stderr
        assert stats["capture"]["files_truncated"] == (cut != 24), result.stderr
        assert ("cut.pcap" in result.stderr) == (cut != 24)
