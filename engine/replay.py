"""Offline replay: capture files -> core -> EVE records.

All files of one run go through one core, in the order given, as if they
were one capture; flows still open at the end are flushed with reason
"shutdown", also when the run is interrupted.
"""
import logging
import os
from dataclasses import dataclass, field

from .alert_packets import AlertPackets
from .capture import open_capture
from .detect import DetectionEngine
from .errors import CaptureError
from .gcpolicy import batch_collections
from .manifest import CaptureFile, RunManifest
from .progress import Progress
from .pipeline import SensorPipeline
from .records import CaptureLossSample, FlowRecord, Ja4sshRecord
from .settings import Settings
from .sinks.eve import stats_event, to_eve
from .sinks.fanout import open_outputs

log = logging.getLogger(__name__)


@dataclass
class ReplayResult:
    eve_path: str | None          # None: [outputs] eve_file = false
    files_read: list = field(default_factory=list)
    captures: list = field(default_factory=list)          # CaptureFile of each file fed to the core
    files_failed: list = field(default_factory=list)      # (path, message)
    files_truncated: list = field(default_factory=list)
    flows_written: int = 0
    handshakes_written: int = 0
    alerts: list = field(default_factory=list)
    counters: dict = field(default_factory=dict)
    interrupted: bool = False
    first_packet_us: int | None = None


class RecordWriter:
    """Pipeline records -> their EVE events, then the detection layer's
    x509 and alert events for them, into one sink. Replay and live capture
    both write through it; the tallies go to ``tally`` (flows_written,
    handshakes_written, alerts), a ReplayResult or a LiveResult."""

    @classmethod
    def for_run(cls, sink, detection: DetectionEngine, tally, pipeline, settings: Settings,
                out_dir: str) -> "RecordWriter":
        """The writer of a run: each alert's kept packets are saved too when
        the core keeps packets (core.keep_kib_per_flow)."""
        keep = settings.core.keep_kib_per_flow
        return cls(sink, detection, tally,
                   AlertPackets(pipeline.engine, out_dir) if keep else None)

    def __init__(self, sink, detection: DetectionEngine, tally, on_alert=None):
        self.sink = sink
        self.detection = detection
        self.tally = tally
        self.on_alert = on_alert      # called with each alert event (AlertPackets)

    def __call__(self, records) -> None:
        tally = self.tally
        for rec in records:
            if isinstance(rec, CaptureLossSample):
                continue            # for the detection layer only
            self.sink.write(to_eve(rec))
            if isinstance(rec, FlowRecord):
                tally.flows_written += 1
            elif not isinstance(rec, Ja4sshRecord):
                tally.handshakes_written += 1
        for event in self.detection.process(records):
            self.sink.write(event)
            if event["event_type"] == "alert":
                tally.alerts.append(event)
                if self.on_alert:
                    self.on_alert(event)


def replay(paths, out_dir: str, settings: Settings = Settings(), state_dir: str | None = None,
           progress: Progress | None = None, output_format: str = "eve") -> ReplayResult:
    """``output_format``: "eve", "zeek" or "both" (engine.sinks.fanout)."""
    pipeline = SensorPipeline(settings.core)
    detection = DetectionEngine(settings.detection(), state_dir,
                                source="replay:" + ",".join(os.path.basename(p) for p in paths))
    with batch_collections(), open_outputs(settings["outputs"], out_dir,
                                           output_format=output_format, scope=detection.scope,
                                           validation=lambda: settings["validation"]) as sink:
        result = ReplayResult(eve_path=sink.eve_path)
        write = RecordWriter.for_run(sink, detection, result, pipeline, settings, out_dir)
        try:
            for path in paths:
                _replay_file(path, pipeline, write, result, progress)
        except KeyboardInterrupt:
            result.interrupted = True
            log.warning("Interrupted: flushing open flows before exit.")
        finally:
            if progress:
                progress.finish()
            write(pipeline.finish())
            detection.close()
            result.counters = pipeline.engine.counters()
            sink.flush()        # the outputs' counters in the record include every record
            sink.write(stats_event(pipeline.engine.last_packet_us, result.counters, {
                "files_read": len(result.files_read),
                "files_failed": len(result.files_failed),
                "files_truncated": len(result.files_truncated),
            }, outputs=sink.counters()))
            # run.json: what later commands (extract) need to read the captures again
            engine = pipeline.engine
            RunManifest.of_run(
                "replay", settings.core, result.captures, engine.packets_seen,
                result.first_packet_us, engine.last_packet_us if engine.packets_seen else None
            ).write(out_dir)
    return result


def _replay_file(path, pipeline, write, result, progress):
    try:
        capture = CaptureFile.of(path)
        with open_capture(path) as reader:
            result.captures.append(capture)      # its packets reach the core from here on
            for batch in reader:
                first = int(batch.ts_us.min())
                if result.first_packet_us is None or first < result.first_packet_us:
                    result.first_packet_us = first
                write(pipeline.feed(batch))
                if progress:
                    progress.update(os.path.basename(path), reader.bytes_read, capture.size,
                                    pipeline.engine.packets_seen)
            if reader.truncated:
                result.files_truncated.append(path)
        result.files_read.append(path)
    except (CaptureError, OSError) as exc:
        message = str(exc) if isinstance(exc, CaptureError) else f"{path}: {exc.strerror}."
        log.error("%s", message)
        result.files_failed.append((path, message))
