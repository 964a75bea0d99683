"""The detection side of a live sensor: records in, EVE out.

One Collector per sensor, whatever the number of capture workers, so that
the baseline, the channel windows and the alert suppression see every
flow: DetectionEngine + RecordWriter + the EVE sink, the `stats` records,
and the reload on SIGHUP (configuration, allowlists and intelligence
re-read; flow and baseline state kept; sinks reopened for rotation).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

from .detect import DetectionEngine
from .errors import ConfigError
from .manifest import RunManifest
from .replay import RecordWriter
from .settings import Settings
from .sinks.eve import stats_event
from .sinks.fanout import open_outputs

log = logging.getLogger(__name__)

# tables whose change a running sensor cannot apply without losing its state
# (or, for the outputs, without reopening every connection and spool)
_RESTART_TABLES = ("core", "aggregate", "baseline", "outputs")


@dataclass
class LiveResult:
    eve_path: str | None          # None: [outputs] eve_file = false
    flows_written: int = 0
    handshakes_written: int = 0
    alerts: list = field(default_factory=list)
    counters: dict = field(default_factory=dict)
    kernel: dict = field(default_factory=dict)     # recv, drop, ifdrop at the end
    stats_written: int = 0
    reloads: int = 0                               # configurations applied on SIGHUP
    reload_failures: int = 0                       # configurations that did not load
    worker_deaths: int = 0
    worker_restarts: int = 0
    flows_lost: int = 0                            # open in a worker when it died

    def lifecycle_fields(self) -> dict:
        """The sensor's own events, for the totals `stats` record."""
        return {"reloads": self.reloads, "reload_failures": self.reload_failures,
                "worker_deaths": self.worker_deaths, "worker_restarts": self.worker_restarts,
                "flows_lost": self.flows_lost}


class Collector:
    """``reload_settings()`` returns the settings to apply on reload()
    (the CLI re-reads its configuration file); it may raise ConfigError.
    ``output_format``: "eve", "zeek" or "both" (engine.sinks.fanout)."""

    def __init__(self, out_dir: str, settings: Settings, state_dir: str | None,
                 source: str, reload_settings=None, output_format: str = "eve"):
        self.settings = settings
        self._reload_settings = reload_settings
        self.detection = DetectionEngine(settings.detection(), state_dir, source=source)
        try:
            self.sink = open_outputs(settings["outputs"], out_dir, output_format=output_format,
                                     scope=self.detection.scope,
                                     validation=lambda: self.settings["validation"])
        except BaseException:
            self.detection.close()
            raise
        self.result = LiveResult(eve_path=self.sink.eve_path)
        self.write = RecordWriter(self.sink, self.detection, self.result)
        self.out_dir = out_dir
        # run.json: `extract` finds the alerts' kept packets of this directory;
        # rewritten with each totals `stats` record (write_stats)
        self._manifest = RunManifest.of_run("live", settings.core)
        self._manifest.write(out_dir)

    def write_stats(self, counters: dict, capture: dict, on_stats=None,
                    span: tuple | None = None) -> dict:
        """A `stats` record, flushed at once so that readers of eve.json see
        everything so far. ``span`` (first, last packet time) is given with
        the sensor's totals: run.json is then rewritten (atomically) with
        it and the record's packet count, so that it tells the truth about
        a sensor that runs for weeks."""
        self.result.counters = counters
        self.result.kernel = {k: v for k, v in capture.items() if k.startswith("kernel_")}
        self.sink.flush()       # the outputs' counters in the record include every record
        event = stats_event(time.time_ns() // 1000, counters, capture,
                            outputs=self.sink.counters())
        self.sink.write(event)
        self.sink.flush()
        self.result.stats_written += 1
        if span is not None:
            self._manifest = dataclasses.replace(self._manifest, packets=counters["packets"],
                                                 start_us=span[0], end_us=span[1])
            self._manifest.write(self.out_dir)
        if on_stats:
            on_stats(event)
        return event

    def reload(self) -> bool:
        """Apply the configuration again (SIGHUP). A configuration that does
        not load is logged and the running one kept. True when applied."""
        self.sink.reopen()                   # a rotated eve.json starts afresh
        if self._reload_settings is None:
            return False
        try:
            new = self._reload_settings()
            self.detection.set_policy(new.detection())
        except ConfigError as exc:
            log.error("Reload: %s Keeping the running configuration.", exc)
            self.result.reload_failures += 1
            return False
        running = {}
        for name in _RESTART_TABLES:
            running[name] = self.settings[name]
            if new[name] != running[name]:
                log.warning("Reload: the [%s] table changed; it takes effect at the next "
                            "restart (the running %s state is kept).", name, name)
        self.settings = Settings({**new.sections, **running})     # what runs now
        self.result.reloads += 1
        log.warning("Reload: configuration applied; flow and baseline state kept.")
        return True

    def close(self) -> None:
        try:
            self.detection.close()
        finally:
            self.sink.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
