"""Offline replay: capture files -> core -> EVE records.

All files of one run go through one core, in the order given, as if they
were one capture; flows still open at the end are flushed with reason
"shutdown", also when the run is interrupted.
"""
import logging
import os
from dataclasses import dataclass, field

from ._core import FlowEngine
from .capture import open_capture
from .config import CoreConfig
from .errors import CaptureError
from .progress import Progress
from .handshake import HandshakeInterpreter
from .sinks.eve import (EveFileSink, app_proto_of, flow_event, ja4ssh_event, session_event,
                        stats_event)

log = logging.getLogger(__name__)


@dataclass
class ReplayResult:
    eve_path: str
    files_read: list = field(default_factory=list)
    files_failed: list = field(default_factory=list)      # (path, message)
    files_truncated: list = field(default_factory=list)
    flows_written: int = 0
    handshakes_written: int = 0
    counters: dict = field(default_factory=dict)
    interrupted: bool = False


def replay(paths, out_dir: str, config: CoreConfig = CoreConfig(),
           progress: Progress | None = None) -> ReplayResult:
    engine = FlowEngine(config)
    interpreter = HandshakeInterpreter()
    app_protos = {}          # flow_id -> app_proto, until the flow's record is written
    with EveFileSink(out_dir) as sink:
        result = ReplayResult(eve_path=sink.path)

        def emit_flows():
            # handshakes first: a flow's handshake is queued before its record
            for hs in engine.take_handshakes():
                session = interpreter.interpret(hs)
                if session is not None:
                    sink.write(session_event(session))
                    app_protos[hs.flow_id] = app_proto_of(session)
                    result.handshakes_written += 1
            for window in engine.take_ja4ssh():
                sink.write(ja4ssh_event(window))
            for rec in engine.take_flows():
                sink.write(flow_event(rec, app_protos.pop(rec.flow_id, None)))
                result.flows_written += 1

        try:
            for path in paths:
                _replay_file(path, engine, emit_flows, result, progress)
        except KeyboardInterrupt:
            result.interrupted = True
            log.warning("Interrupted: flushing open flows before exit.")
        finally:
            if progress:
                progress.finish()
            engine.flush()
            emit_flows()
            result.counters = engine.counters()
            sink.write(stats_event(engine.last_packet_us, result.counters, {
                "files_read": len(result.files_read),
                "files_failed": len(result.files_failed),
                "files_truncated": len(result.files_truncated),
            }))
    return result


def _replay_file(path, engine, emit_flows, result, progress):
    try:
        total = os.path.getsize(path)
        with open_capture(path) as reader:
            for batch in reader:
                engine.process(batch)
                emit_flows()
                if progress:
                    progress.update(os.path.basename(path), reader.bytes_read, total,
                                    engine.packets_seen)
            if reader.truncated:
                result.files_truncated.append(path)
        result.files_read.append(path)
    except (CaptureError, OSError) as exc:
        message = str(exc) if isinstance(exc, CaptureError) else f"{path}: {exc.strerror}."
        log.error("%s", message)
        result.files_failed.append((path, message))
