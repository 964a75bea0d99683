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
])
def test_the_detection_the_scenario_is_about_fires(outcomes, name, detection):
    assert detection in outcomes[name].fired


def test_the_allowlisted_backup_would_alert_without_its_allowlist(tmp_path):
    import json

    truth = json.loads((scenario_matrix.SCENARIOS / "ground_truth.json").read_text())
    entry = truth["captures"]["allowlisted_backup.pcap"]
    entry["config"]["allowlist"] = {}
    assert scenario_matrix.run_scenario("allowlisted_backup.pcap", entry, tmp_path).verdict == "alert"


def _alerts(state, out, name="exfil_selfsigned_oddport.pcap"):
    import json

    truth = json.loads((scenario_matrix.SCENARIOS / "ground_truth.json").read_text())
    settings = scenario_matrix.scenario_settings(truth["captures"][name]["config"])
    result = scenario_matrix.replay([str(scenario_matrix.SCENARIOS / name)], str(out), settings,
                                    str(state))
    return result.alerts


def test_replays_are_reproducible_and_a_learned_baseline_only_drops_first_seen(tmp_path):
    import shutil

    first = _alerts(tmp_path / "a", tmp_path / "out1")
    shutil.copytree(tmp_path / "a", tmp_path / "b")     # the state after one replay
    again_a = _alerts(tmp_path / "a", tmp_path / "out2")
    again_b = _alerts(tmp_path / "b", tmp_path / "out3")
    assert first and again_a == again_b                 # same state in, same alerts out
    drop = ("new_destination",)

    def without_first_seen(alerts):
        out = []
        for a in alerts:
            findings = {k: v for k, v in a["exfil"]["evidence"]["findings"].items() if k not in drop}
            out.append((a["flow_id"], a["dest_ip"], a["dest_port"], sorted(findings)))
        return out

    assert without_first_seen(first) == without_first_seen(again_a)
    assert "new_destination" in first[0]["exfil"]["evidence"]["findings"]
    assert all("new_destination" not in a["exfil"]["evidence"]["findings"] for a in again_a)
