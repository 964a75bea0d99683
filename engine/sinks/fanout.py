"""Every EVE record to every configured output, encoded once.

    with open_outputs(settings["outputs"], "out/", output_format="both") as sink:
        sink.write(event)                  # eve.json, Zeek logs, stdout, syslog, redis...
        sink.flush()                       # network outputs deliver (or spool)
        sink.counters()                    # -> stats.outputs
        sink.reopen()                      # SIGHUP: eve.json opened again by name

An output that fails does not hold up the others: network outputs spool
(engine.sinks.delivery); a local file that cannot be written raises, as
it did before there were several outputs.
"""
from __future__ import annotations

import os

from .config import OutputsConfig
from .delivery import SpoolingSink
from .eve import encode_event
from .file import EveFileSink
from .spool import DiskSpool
from .stdout import StdoutSink
from .syslog import SyslogTransport
from .zeek import ZeekLogSink

OUTPUT_FORMATS = ("eve", "zeek", "both")    # --format: EVE lines, Zeek logs, or both


class FanoutSink:
    """The configured outputs, written in turn; ``eve_path`` is DIR/eve.json or None.
    ``outputs`` take the encoded EVE line; ``event_outputs`` (the Zeek
    logs) take the event itself."""

    def __init__(self, outputs: list, eve_path: str | None = None, event_outputs=()):
        self.outputs = outputs
        self.event_outputs = list(event_outputs)
        self.eve_path = eve_path

    def write(self, event: dict) -> None:
        if self.outputs:
            line = encode_event(event)
            event_type = event["event_type"]
            for output in self.outputs:
                output.write(event_type, line)
        for output in self.event_outputs:
            output.write(event)

    def flush(self) -> None:
        for output in self.outputs + self.event_outputs:
            output.flush()

    def reopen(self) -> None:
        """Open local files again by name (after logrotate moved them);
        the live capture's SIGHUP handling calls it from its loop."""
        for output in self.outputs:
            if hasattr(output, "reopen"):
                output.reopen()

    def counters(self) -> dict:
        """stats.outputs: per output, records written or sent, spooled, dropped."""
        return {_name(output): output.counters() for output in self.outputs}

    def close(self) -> None:
        """Deliver what can be delivered, then close every output, also when one fails."""
        errors = []
        for output in self.outputs + self.event_outputs:
            try:
                output.close()
            except OSError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _name(output) -> str:
    return getattr(output, "transport", output).name


def open_outputs(config: OutputsConfig, out_dir: str, *, stdout=None,
                 output_format: str = "eve", scope=None, validation=None) -> FanoutSink:
    """The outputs ``config`` asks for, writing into ``out_dir`` (eve.json,
    and the spool unless ``spool_dir`` is set). ``stdout``: the stream of
    the stdout output (the process's stdout by default). ``output_format``
    (--format) "zeek" writes the Zeek logs instead of eve.json, "both" as
    well; ``scope`` (home_net) decides their local_orig/local_resp, and
    ``validation`` (returning the [validation] table in force) their
    ssl.log validation_status."""
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output format must be one of {', '.join(OUTPUT_FORMATS)}, "
                         f"not {output_format!r}.")
    sink = FanoutSink([])
    try:
        if output_format in ("zeek", "both"):
            sink.event_outputs.append(ZeekLogSink(out_dir, scope, validation))
        if config.eve_file and output_format != "zeek":
            local = EveFileSink(out_dir, rotate_bytes=int(config.rotate_mb * (1 << 20)),
                                keep=config.rotate_keep)
            sink.outputs.append(local)
            sink.eve_path = local.path
        if config.stdout:
            sink.outputs.append(StdoutSink(stdout))
        transports = []
        if config.syslog is not None:
            transports.append(SyslogTransport(config.syslog))
        if config.redis is not None:
            from .redis_stream import RedisStreamTransport   # redis-py loads only when used
            transports.append(RedisStreamTransport(config.redis))
        spool_dir = config.spool_dir or os.path.join(out_dir, "spool")
        for transport in transports:
            spool = DiskSpool(os.path.join(spool_dir, transport.name),
                              int(config.spool_max_mb * (1 << 20)), transport.name)
            sink.outputs.append(SpoolingSink(transport, spool))
    except BaseException:
        sink.close()
        raise
    return sink
