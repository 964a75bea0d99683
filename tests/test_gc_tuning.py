"""The collector setting the exfilwatch command runs captures with."""
import gc
from pathlib import Path

import pytest

from engine import cli, gc_tuning

PCAPS = Path(__file__).resolve().parent.parent / "pcaps"


@pytest.fixture
def restored_thresholds():
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_tuning_raises_the_young_generation_threshold_and_keeps_the_older_ones(
        restored_thresholds):
    gc.set_threshold(700, 7, 9)
    gc_tuning.tune_for_capture()
    assert gc.get_threshold() == (gc_tuning.GEN0_THRESHOLD, 7, 9)
    assert gc.isenabled()                        # cycles are still collected


def test_replay_command_tunes_the_collector_before_it_runs(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(gc_tuning, "tune_for_capture", lambda: calls.append("tuned"))
    rc = cli.main(["replay", str(PCAPS / "benign_browsing.pcap"), "-o", str(tmp_path), "-q"])
    assert rc == cli.EXIT_OK
    assert calls == ["tuned"]
    assert (tmp_path / "eve.json").stat().st_size > 0
