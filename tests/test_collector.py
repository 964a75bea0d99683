"""The live detection side's reload (SIGHUP), without a network: policy
replaced, state kept, a bad configuration refused, sinks reopened."""
import dataclasses
import logging

from engine.collector import Collector
from engine.config import CoreConfig
from engine.detections import DetectConfig
from engine.errors import ConfigError
from engine.settings import Settings


def with_sections(settings: Settings, **sections) -> Settings:
    return dataclasses.replace(settings, sections={**settings.sections, **sections})


def test_reload_replaces_the_thresholds_and_keeps_baseline_and_channels(tmp_path):
    start = Settings()
    lower = with_sections(start, detect=DetectConfig(large_upload_bytes=1000))
    with Collector(str(tmp_path), start, None, "test", reload_settings=lambda: lower) as c:
        baseline, aggregator, alerts = c.detection.baseline, c.detection.aggregator, \
            c.detection.alerts
        assert c.reload() is True
        assert c.detection.cfg.large_upload_bytes == 1000
        assert c.detection.baseline is baseline and c.detection.aggregator is aggregator
        assert c.detection.alerts is alerts          # suppression state kept
        assert c.result.reloads == 1 and c.settings["detect"] is lower["detect"]


def test_a_configuration_that_does_not_load_changes_nothing(tmp_path, caplog):
    def broken():
        raise ConfigError("Configuration key 'detect.large_upload_bytes' must be an integer.")

    with Collector(str(tmp_path), Settings(), None, "test", reload_settings=broken) as c:
        cfg = c.detection.cfg
        with caplog.at_level(logging.ERROR):
            assert c.reload() is False
        assert c.detection.cfg is cfg
        assert c.result.reload_failures == 1 and c.result.reloads == 0
    assert "'detect.large_upload_bytes' must be an integer. Keeping the running configuration." \
        in caplog.text


def test_a_changed_core_table_is_said_to_need_a_restart(tmp_path, caplog):
    new = with_sections(Settings(), core=CoreConfig(max_flows=10))
    with Collector(str(tmp_path), Settings(), None, "test", reload_settings=lambda: new) as c:
        with caplog.at_level(logging.WARNING):
            c.reload()
            assert "the [core] table changed; it takes effect at the next restart" \
                in caplog.text
            caplog.clear()
            c.reload()          # still not running: said again
        assert c.settings["core"] == CoreConfig()
    assert "the [core] table changed" in caplog.text


def test_reload_reopens_a_sink_that_can_be_rotated(tmp_path):
    with Collector(str(tmp_path), Settings(), None, "test") as c:
        reopened = []
        c.sink.reopen = lambda: reopened.append(True)
        c.reload()
        assert reopened == [True]
