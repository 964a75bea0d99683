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


class Outputs:
    """Every event to each of the chosen sinks. ``eve_path`` is DIR/eve.json,
    or None when EVE is not written."""

    def __init__(self, sinks: list, eve_path: str | None, closing: ExitStack):
        self.sinks = sinks
        self.eve_path = eve_path
        self._closing = closing

    def write(self, event: dict) -> None:
        for sink in self.sinks:
            sink.write(event)

    def flush(self) -> None:
        for sink in self.sinks:
            sink.flush()

    def close(self) -> None:
        # every sink is closed, also when closing one of them fails
        self._closing.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_outputs(out_dir: str, output_format: str = "eve",
                 scope: NetScope | None = None) -> Outputs:
    """The sinks of ``output_format`` in ``out_dir``; ``scope`` (home_net)
    is what the Zeek logs' local_orig/local_resp are computed against."""
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output format must be one of {', '.join(OUTPUT_FORMATS)}, "
                         f"not {output_format!r}.")
    with ExitStack() as opened:     # a sink that fails to open closes the ones before it
        sinks, eve_path = [], None
        if output_format in ("eve", "both"):
            eve = opened.enter_context(EveFileSink(out_dir))
            sinks.append(eve)
            eve_path = eve.path
        if output_format in ("zeek", "both"):
            sinks.append(opened.enter_context(ZeekLogSink(out_dir, scope)))
        return Outputs(sinks, eve_path, opened.pop_all())
