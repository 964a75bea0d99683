"""The detection scenarios (pcaps/scenarios) alert or stay silent as their
ground truth says; precision and recall over the matrix are both 1.0."""
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "pcaps" / "scenario_matrix.py"
spec = importlib.util.spec_from_file_location("scenario_matrix", SCRIPT)
scenario_matrix = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scenario_matrix)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    return {o.name: o for o in scenario_matrix.run_matrix(tmp_path_factory.mktemp("scenarios"))}


def test_every_scenario_gets_its_expected_verdict(outcomes):
    print("\n" + scenario_matrix.format_matrix(list(outcomes.values())))
    assert {n: o.verdict for n, o in outcomes.items()} == {n: o.expect for n, o in outcomes.items()}
    assert scenario_matrix.precision_recall(list(outcomes.values())) == (1.0, 1.0)


def test_every_detection_the_ground_truth_requires_fires_and_no_other(outcomes):
    assert {n: (o.missing, o.unexpected) for n, o in outcomes.items()} == \
        {n: (set(), set()) for n in outcomes}


@pytest.mark.parametrize("name,detection", [
    ("exfil_selfsigned_oddport.pcap", "untrusted_certificate"),
    ("exfil_selfsigned_oddport.pcap", "nonstandard_port"),
    ("exfil_new_cert_443.pcap", "new_destination"),
    ("scp_upload.pcap", "large_upload"),
    ("quic_upload.pcap", "large_upload"),
    ("slow_and_low.pcap", "sustained_transfer"),
    ("beaconing.pcap", "beaconing"),
    ("many_hosts_new_dest.pcap", "multi_host_new_destination"),
    ("starttls_smtp_attachments.pcap", "large_upload"),
    ("host_upload_jump.pcap", "host_baseline_deviation"),
])
def test_the_detection_the_scenario_is_about_fires(outcomes, name, detection):
    assert detection in outcomes[name].fired


def test_the_allowlisted_backup_would_alert_without_its_allowlist(tmp_path):
    import json

    truth = json.loads((scenario_matrix.SCENARIOS / "ground_truth.json").read_text())
    entry = truth["captures"]["allowlisted_backup.pcap"]
    entry["config"]["allowlist"] = {}
    assert scenario_matrix.run_scenario("allowlisted_backup.pcap", entry, tmp_path).verdict == "alert"


def test_the_host_upload_jump_needs_its_lower_deviation_floor(tmp_path):
    """1.2 MB is far over the host's median but under the 20 MB default floor: with the
    default tunables the scenario is silent, so its config.detect override is what counts."""
    import json

    truth = json.loads((scenario_matrix.SCENARIOS / "ground_truth.json").read_text())
    entry = truth["captures"]["host_upload_jump.pcap"]
    assert entry["config"]["detect"] == {"host_deviation_min_bytes": 1_000_000}
    del entry["config"]["detect"]
    assert scenario_matrix.run_scenario("host_upload_jump.pcap", entry, tmp_path).verdict == "silent"


def test_a_scenario_overriding_an_unknown_tunable_is_named():
    from engine.errors import ConfigError

    config = {"home_net": ["10.20.0.0/16"], "trusted_ca_pem": "demo_root_ca.pem",
              "detect": {"host_deviation_floor": 1}}
    with pytest.raises(ConfigError, match="'detect.host_deviation_floor'"):
        scenario_matrix.scenario_settings(config)


def _replay(name, state, out):
    import json

    truth = json.loads((scenario_matrix.SCENARIOS / "ground_truth.json").read_text())
    settings = scenario_matrix.scenario_settings(truth["captures"][name]["config"])
    return scenario_matrix.replay([str(scenario_matrix.SCENARIOS / name)], str(out), settings,
                                  str(state)).alerts


def test_replays_are_reproducible_and_a_learned_baseline_only_drops_first_seen(tmp_path):
    import shutil

    capture = "exfil_selfsigned_oddport.pcap"
    _replay("benign_browsing.pcap", tmp_path / "learnt", tmp_path / "learn")
    shutil.copytree(tmp_path / "learnt", tmp_path / "a")
    shutil.copytree(tmp_path / "learnt", tmp_path / "b")
    first_a = _replay(capture, tmp_path / "a", tmp_path / "out_a")
    first_b = _replay(capture, tmp_path / "b", tmp_path / "out_b")
    assert first_a and first_a == first_b            # same state in, same alerts out
    again = _replay(capture, tmp_path / "a", tmp_path / "out_again")

    def without_first_seen(alerts):
        return [(a["flow_id"], a["dest_ip"], a["dest_port"],
                 sorted(set(a["exfil"]["evidence"]["findings"]) - {"new_destination"}))
                for a in alerts]

    assert without_first_seen(first_a) == without_first_seen(again)
    assert "new_destination" in first_a[0]["exfil"]["evidence"]["findings"]
    assert all("new_destination" not in a["exfil"]["evidence"]["findings"] for a in again)
