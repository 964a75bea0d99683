"""DIR/run.json: what a run read, so that its output directory alone is
enough for later commands (extract re-reads the captures through it).

    RunManifest.of_replay(captures, ...).write(out_dir)   # atomically
    manifest = RunManifest.read(out_dir)                   # RunDirError
    problems = [c.problem() for c in manifest.captures]    # gone or changed

It names the capture files (absolute paths, with size and modification
time to notice a file replaced since), the packet time span and packet
count, the command, the version, the mode (replay or live) and the core's
caps and timeouts: flow ids depend on them, so extract rebuilds the same
flow table. A replay writes it at the end; a live sensor at its start and
again with each totals `stats` record and at shutdown (engine.collector),
so that the span and packet count are those of its latest record.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shlex
import sys
import tempfile
from dataclasses import dataclass

from . import __version__
from .config import CoreConfig
from .errors import ConfigError, RunDirError
from .sinks.eve import format_timestamp

MANIFEST_NAME = "run.json"
MODES = ("replay", "live")


@dataclass(frozen=True)
class CaptureFile:
    path: str                # absolute
    size: int                # bytes
    mtime_ns: int

    @classmethod
    def of(cls, path: str) -> "CaptureFile":
        """The file as it is now (OSError when it cannot be stat'ed)."""
        st = os.stat(path)
        return cls(os.path.abspath(path), st.st_size, st.st_mtime_ns)

    def problem(self) -> str | None:
        """Why the file is no longer the one the run read, or None."""
        try:
            now = CaptureFile.of(self.path)
        except FileNotFoundError:
            return f"Capture file {self.path} is gone."
        except OSError as exc:
            return f"Capture file {self.path} cannot be read: {exc.strerror}."
        if now.size != self.size:
            return (f"Capture file {self.path} changed since the run: it is {now.size:,} bytes, "
                    f"the run read {self.size:,}.")
        if now.mtime_ns != self.mtime_ns:
            return (f"Capture file {self.path} changed since the run: it was modified at "
                    f"{format_timestamp(now.mtime_ns // 1000)}, after the run read it "
                    f"(modified at {format_timestamp(self.mtime_ns // 1000)}).")
        return None


@dataclass(frozen=True)
class RunManifest:
    mode: str                        # "replay" or "live"
    command: str                     # the command line, shell-quoted
    version: str                     # exfilwatch's
    captures: tuple = ()             # CaptureFile, in the order they were read
    packets: int = 0                 # packets the core was fed
    start_us: int | None = None      # first and last packet time
    end_us: int | None = None
    core: dict = dataclasses.field(default_factory=dict)   # CoreConfig's fields

    @classmethod
    def of_run(cls, mode: str, core: CoreConfig, captures=(), packets: int = 0,
               start_us: int | None = None, end_us: int | None = None,
               command: str | None = None) -> "RunManifest":
        """The manifest of this process's run (``command`` defaults to sys.argv)."""
        return cls(mode, command or shlex.join(sys.argv), __version__, tuple(captures), packets,
                   start_us, end_us, dataclasses.asdict(core))

    def core_config(self) -> CoreConfig:
        return CoreConfig(**self.core)

    def to_json(self) -> dict:
        out = {"mode": self.mode, "command": self.command, "version": self.version,
               "captures": [dataclasses.asdict(c) for c in self.captures],
               "packets": self.packets, "start_us": self.start_us, "end_us": self.end_us}
        if self.start_us is not None:
            out["start"] = format_timestamp(self.start_us)
            out["end"] = format_timestamp(self.end_us)
        out["core"] = self.core
        return out

    def write(self, out_dir: str) -> str:
        """Write DIR/run.json atomically (a reader sees the old file or the new one)."""
        path = os.path.join(out_dir, MANIFEST_NAME)
        fd, tmp = tempfile.mkstemp(prefix=".run.", suffix=".json", dir=out_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.to_json(), fh, indent=1)
                fh.write("\n")
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        return path

    @classmethod
    def read(cls, out_dir: str) -> "RunManifest":
        path = os.path.join(out_dir, MANIFEST_NAME)
        if not os.path.isdir(out_dir):
            raise RunDirError(f"{out_dir} is not a directory written by exfilwatch replay or live.")
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise RunDirError(f"{out_dir} has no {MANIFEST_NAME}: it was not written by "
                              "exfilwatch replay (or by a version before run manifests), so "
                              "the captures it read are unknown.") from None
        except (OSError, ValueError) as exc:
            raise RunDirError(f"{path} cannot be read as JSON: {exc}.") from None
        try:
            manifest = cls(data["mode"], data["command"], data["version"],
                           tuple(CaptureFile(c["path"], c["size"], c["mtime_ns"])
                                 for c in data["captures"]),
                           data["packets"], data["start_us"], data["end_us"], data["core"])
            manifest.core_config()
        except (KeyError, TypeError, ConfigError) as exc:
            raise RunDirError(f"{path} is not a run manifest this version of exfilwatch "
                              f"understands ({exc}).") from None
        if manifest.mode not in MODES:
            raise RunDirError(f"{path}: mode must be one of {', '.join(MODES)}, "
                              f"not {manifest.mode!r}.")
        return manifest
