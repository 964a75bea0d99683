"""pcaps/make_scenarios.py: --check holds the committed set to its ground truth
and to SCENARIOS; --only regenerates one capture and its entry, nothing else.

Regenerating host_upload_jump needs only the TLS building blocks (no paramiko
or aioquic); the other captures are linked, not copied, into the output."""
import hashlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

PCAPS = Path(__file__).resolve().parent.parent / "pcaps"
spec = importlib.util.spec_from_file_location("make_scenarios", PCAPS / "make_scenarios.py")
make_scenarios = importlib.util.module_from_spec(spec)
sys.modules["make_scenarios"] = make_scenarios    # its dataclasses look their module up
spec.loader.exec_module(make_scenarios)

COMMITTED = PCAPS / "scenarios"
TRUTH = json.loads((COMMITTED / "ground_truth.json").read_text())
JUMP = "host_upload_jump.pcap"


def _committed_set(tmp_path: Path, without: str | None = None) -> Path:
    """The committed set in tmp_path, minus capture ``without`` and its root; the
    ground truth copied, the rest linked."""
    for f in COMMITTED.iterdir():
        if without and (f.name == without or f.name.startswith(Path(without).stem + ".")):
            continue
        if f.name == "ground_truth.json":
            shutil.copy(f, tmp_path / f.name)
        else:
            (tmp_path / f.name).symlink_to(f)
    return tmp_path


def test_the_committed_set_passes_its_own_check():
    assert make_scenarios.main(["--check"]) == 0


def test_only_rewrites_its_own_entry_and_reproduces_the_committed_layout(tmp_path):
    out = _committed_set(tmp_path, JUMP)
    assert make_scenarios.main(["--only", JUMP, "--out", str(out)]) == 0
    truth = json.loads((out / "ground_truth.json").read_text())
    assert list(truth["captures"]) == list(TRUTH["captures"])
    assert {k: v for k, v in truth.items() if k != "captures"} == \
        {k: v for k, v in TRUTH.items() if k != "captures"}
    for name, entry in TRUTH["captures"].items():
        if name != JUMP:
            assert truth["captures"][name] == entry, name
    new, old = truth["captures"][JUMP], TRUTH["captures"][JUMP]
    assert (new["layout_sha256"], new["packets"], new["size"]) == \
        (old["layout_sha256"], old["packets"], old["size"])
    root = out / new["config"]["trusted_ca_pem"]
    assert root.name == "host_upload_jump.root_ca.pem"
    assert hashlib.sha256(root.read_bytes()).hexdigest() == new["trusted_ca_sha256"] \
        != TRUTH["trusted_ca_sha256"]
    assert all(f["cert_trusted"] for f in new["flows"] if f["app_proto"] == "tls")


def test_check_names_a_scenario_whose_expectations_drifted(tmp_path, caplog):
    out = _committed_set(tmp_path)
    truth = json.loads((out / "ground_truth.json").read_text())
    truth["captures"]["benign_browsing.pcap"]["detections_may_fire"].append("new_destination")
    (out / "ground_truth.json").write_text(json.dumps(truth))
    assert make_scenarios.main(["--check", "--out", str(out)]) == 1
    assert "benign_browsing.pcap: ground_truth.json's expectations differ" in caplog.text


@pytest.mark.parametrize("argv, message", [
    (["--seed", "1"], "was made with seed 20260316 and scale 1.0; --only host_upload_jump.pcap "
                      "must use the same"),
    (["--scale", "0.5"], "must use the same"),
])
def test_only_refuses_another_seed_or_scale_than_the_sets(tmp_path, caplog, argv, message):
    out = _committed_set(tmp_path, JUMP)
    assert make_scenarios.main(["--only", JUMP, "--out", str(out), *argv]) == 1
    assert message in caplog.text
    assert not (out / JUMP).exists()


def test_only_without_a_set_says_to_generate_the_whole_set_first(tmp_path, caplog):
    assert make_scenarios.main(["--only", JUMP, "--out", str(tmp_path)]) == 1
    assert "which does not exist; generate the whole set first" in caplog.text
