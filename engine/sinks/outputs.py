"""The output formats of a run (--format eve|zeek|both), written as one sink.

replay and live write every event to `open_outputs(...)`; which files that
produces is decided here, once: DIR/eve.json (EVE), the Zeek logs, or both.
"""
from __future__ import annotations

from contextlib import ExitStack

from ..netscope import NetScope
from .eve import EveFileSink
from .zeek import ZeekLogSink

OUTPUT_FORMATS = ("eve", "zeek", "both")


class Outputs(ExitStack):
    """Every event to each of the chosen sinks; closing closes them all,
    also when closing one fails. ``eve_path`` is DIR/eve.json, or None when
    EVE is not written."""

    def __init__(self):
        super().__init__()
        self.sinks = []
        self.eve_path = None

    def add(self, sink):
        self.sinks.append(self.enter_context(sink))
        return sink

    def write(self, event: dict) -> None:
        for sink in self.sinks:
            sink.write(event)

    def flush(self) -> None:
        for sink in self.sinks:
            sink.flush()


def open_outputs(out_dir: str, output_format: str = "eve",
                 scope: NetScope | None = None) -> Outputs:
    """The sinks of ``output_format`` in ``out_dir``; ``scope`` (home_net)
    is what the Zeek logs' local_orig/local_resp are computed against."""
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output format must be one of {', '.join(OUTPUT_FORMATS)}, "
                         f"not {output_format!r}.")
    outputs = Outputs()
    try:
        if output_format in ("eve", "both"):
            outputs.eve_path = outputs.add(EveFileSink(out_dir)).path
        if output_format in ("zeek", "both"):
            outputs.add(ZeekLogSink(out_dir, scope))
    except BaseException:       # a sink that fails to open closes the ones before it
        outputs.close()
        raise
    return outputs
