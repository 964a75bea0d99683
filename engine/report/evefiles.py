"""Reading the EVE records of `replay`/`live` output directories.

A directory holds `eve.json` and, once a rotating sink has run, rotated
`eve.json.1` .. `eve.json.N` (gzip-compressed ones too: `eve.json.N.gz`);
every one of them is read, oldest first (the highest number is the oldest).
A line that is not a JSON object (a half-written last line of a live run, a
damaged file) is skipped with a warning naming the file and the line: one
bad line must not cost the analyst the report. The skipped lines are
listed in the report too.
"""
import logging
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from ..errors import ExfilwatchError
from ..sinks.file import eve_files, open_eve

log = logging.getLogger(__name__)


class ReportInputError(ExfilwatchError):
    """An output directory is missing or holds no EVE file."""


@dataclass(frozen=True, slots=True)
class SkippedLine:
    path: str
    line: int
    problem: str


@dataclass
class EveRecords:
    """Every record read, with the directory it came from (`source`, the
    index of the directory in the order given)."""
    records: list = field(default_factory=list)    # (source, record dict)
    files: list = field(default_factory=list)      # paths read, in order
    skipped: list = field(default_factory=list)    # SkippedLine


def _eve_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        what = "does not exist" if not directory.exists() else "is not a directory"
        raise ReportInputError(f"{directory} {what}: give an output directory of "
                               "'exfilwatch replay' or 'exfilwatch live'.")
    found = eve_files(str(directory))
    if not found:
        raise ReportInputError(f"{directory} holds no eve.json: is it an output directory of "
                               "'exfilwatch replay' or 'exfilwatch live'?")
    return [Path(p) for p in found]


def read_directories(directories) -> EveRecords:
    out = EveRecords()
    for source, directory in enumerate(directories):
        for path in _eve_files(Path(directory)):
            _read_file(path, source, out)
    return out


def _read_file(path: Path, source: int, out: EveRecords) -> None:
    try:
        with open_eve(str(path)) as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                problem = None
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    problem = f"not JSON ({exc.msg} at column {exc.colno})"
                else:
                    if not isinstance(record, dict):
                        problem = "not a JSON object"
                if problem:
                    log.warning("%s line %d skipped: %s.", path, number, problem)
                    out.skipped.append(SkippedLine(str(path), number, problem))
                    continue
                out.records.append((source, record))
    except (OSError, EOFError) as exc:
        raise ReportInputError(f"{path} cannot be read: "
                               f"{getattr(exc, 'strerror', None) or exc}.") from None
    out.files.append(str(path))
