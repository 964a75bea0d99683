"""The garbage-collector thresholds of a batch run (engine/gcpolicy.py)."""
import gc

import pytest

from engine.gcpolicy import BATCH_GEN0_THRESHOLD, batch_collections


@pytest.fixture
def default_thresholds():
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_the_young_generation_threshold_is_raised_inside_and_restored_after(default_thresholds):
    with batch_collections():
        assert gc.get_threshold() == (BATCH_GEN0_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_thresholds_are_restored_when_the_run_raises(default_thresholds):
    with pytest.raises(KeyboardInterrupt):
        with batch_collections():
            raise KeyboardInterrupt
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_threshold_set_by_the_caller_is_kept(default_thresholds):
    gc.set_threshold(10 * BATCH_GEN0_THRESHOLD, 10, 10)
    with batch_collections():
        assert gc.get_threshold()[0] == 10 * BATCH_GEN0_THRESHOLD


def test_the_collector_stays_enabled_inside(default_thresholds):
    with batch_collections():
        assert gc.isenabled()


def test_live_runs_its_sensor_with_the_batch_thresholds(default_thresholds, monkeypatch, tmp_path):
    import argparse

    from engine import live_command
    from engine.settings import Settings

    class Handles:
        workers = [None]

        def close(self):
            pass

    seen = []

    def sensor(handles, *args, **kwargs):
        seen.append(gc.get_threshold())
        return argparse.Namespace(flows_written=0, alerts=[])

    monkeypatch.setattr(live_command.signal, "signal", lambda *args: None)
    monkeypatch.setattr(live_command, "open_worker_handles", lambda *args: Handles())
    monkeypatch.setattr(live_command, "_single_process", sensor)
    args = argparse.Namespace(workers=1, user=None, interface=["eth0"], bpf=None, snaplen=65535,
                              buffer_mb=16, stats_interval=60, capture="pcap",
                              output=str(tmp_path), state=None, quiet=True, format="eve")
    assert live_command.run(args, Settings(), Settings) == 0
    assert seen == [(BATCH_GEN0_THRESHOLD, 10, 10)]
    assert gc.get_threshold() == (700, 10, 10)
