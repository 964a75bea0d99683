"""The [outputs] table: defaults, validation naming the key, config show, --stdout."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.settings import load_settings, render_settings
from engine.sinks.config import OutputsConfig, RedisConfig, SyslogConfig

DEMO = Path(__file__).resolve().parent.parent / "pcaps" / "tunnels_vlan.pcap"


def load(tmp_path, text):
    path = tmp_path / "exfilwatch.toml"
    path.write_text(text)
    return load_settings(str(path))


def test_without_a_table_only_eve_json_is_written():
    outputs = load_settings(None)["outputs"]
    assert outputs == OutputsConfig()
    assert outputs.eve_file and not outputs.stdout
    assert outputs.syslog is None and outputs.redis is None


def test_a_syslog_and_a_redis_table_turn_those_outputs_on_with_defaults_for_the_rest(tmp_path):
    outputs = load(tmp_path, """
[outputs]
rotate_mb = 100
rotate_keep = 3
spool_max_mb = 64

[outputs.syslog]
address = "collector.example.org"
protocol = "udp"
facility = "local5"

[outputs.redis]
stream = "sensor1:eve"
maxlen = 5000
""")["outputs"]
    assert outputs.rotate_mb == 100 and outputs.rotate_keep == 3 and outputs.spool_max_mb == 64
    assert outputs.syslog == SyslogConfig(address="collector.example.org", protocol="udp",
                                          facility="local5")
    assert outputs.redis == RedisConfig(stream="sensor1:eve", maxlen=5000)


def test_config_show_prints_the_outputs_and_reads_back_the_same(tmp_path):
    settings = load(tmp_path, '[outputs.syslog]\nport = 6514\n\n[outputs.redis]\n')
    shown = render_settings(settings)
    assert "[outputs]" in shown and "[outputs.syslog]" in shown and "[outputs.redis]" in shown
    assert 'url = "redis://127.0.0.1:6379/0"' in shown
    assert load(tmp_path, shown)["outputs"] == settings["outputs"]


@pytest.mark.parametrize("text, message", [
    ('[outputs]\nrotate_keep = 0\n', "'outputs.rotate_keep' is 0; it must be a number from 1"),
    ('[outputs]\nspool_max_mb = "big"\n', "'outputs.spool_max_mb' must be a number"),
    ('[outputs]\nspool = "/tmp"\n', "'outputs.spool' is not known"),
    ('[outputs]\neve_file = false\n', "[outputs] turns every output off"),
    ('[outputs.syslog]\nport = 70000\n', "'outputs.syslog.port' is 70000"),
    ('[outputs.syslog]\nprotocol = "relp"\n', "'outputs.syslog.protocol' is 'relp'; it must be "
                                              "one of tcp, udp"),
    ('[outputs.syslog]\nfacility = "local9"\n', "'outputs.syslog.facility' is 'local9'"),
    ('[outputs.syslog]\napp_name = "exfil watch"\n', "'outputs.syslog.app_name'"),
    ('[outputs.syslog]\nhostname = "' + "h" * 256 + '"\n', "'outputs.syslog.hostname'"),
    ('[outputs.syslog]\naddres = "x"\n', "'outputs.syslog.addres' is not known"),
    ('[outputs]\nsyslog = "127.0.0.1"\n', "'outputs.syslog' must be a table"),
    ('[outputs.redis]\nurl = "http://127.0.0.1"\n', "'outputs.redis.url' is 'http://127.0.0.1', "
                                                    "not a Redis URL"),
    ('[outputs.redis]\nmaxlen = 0\n', "'outputs.redis.maxlen' is 0"),
    ('[outputs.redis]\nstream = ""\n', "'outputs.redis.stream' is empty"),
])
def test_bad_outputs_values_are_named_by_their_full_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    assert message in str(err.value)


def run(*args):
    return subprocess.run([sys.executable, "-m", "engine.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_replay_stdout_flag_writes_the_same_records_as_eve_json(tmp_path):
    result = run("replay", DEMO, "-o", tmp_path / "out", "--quiet", "--stdout")
    assert result.returncode == 0, result.stderr
    eve = (tmp_path / "out" / "eve.json").read_text().splitlines()
    assert result.stdout.splitlines() == eve
    assert json.loads(eve[-1])["stats"]["outputs"]["stdout"]["written"] == len(eve) - 1


def test_summary_without_the_file_output_is_refused_with_exit_2(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[outputs]\neve_file = false\nstdout = true\n")
    result = run("replay", DEMO, "-o", tmp_path / "out", "-c", config, "--summary")
    assert result.returncode == 2
    assert "--summary reads eve.json" in result.stderr


def test_summary_counts_the_flows_of_rotated_files_too(tmp_path):
    plain = run("replay", DEMO, "-o", tmp_path / "plain", "--summary")
    config = tmp_path / "c.toml"
    config.write_text("[outputs]\nrotate_mb = 0.002\nrotate_keep = 100\n")
    rotated = run("replay", DEMO, "-o", tmp_path / "rotated", "-c", config, "--summary")
    assert rotated.returncode == 0, rotated.stderr
    assert (tmp_path / "rotated" / "eve.json.2").exists()
    assert rotated.stdout.splitlines()[:-1] == plain.stdout.splitlines()[:-1]
