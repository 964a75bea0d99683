"""Reading the EVE records of `replay`/`live` output directories, streaming.

A directory holds `eve.json` and, once a rotating sink has run, rotated
`eve.json.1` .. `eve.json.N` (gzip-compressed ones too: `eve.json.N.gz`);
every one of them is read, oldest first (the highest number is the oldest).
Records are yielded one at a time and never kept: weeks of a sensor's output
are many GB, the report must read them in bounded memory.

A line that is not a JSON object (a half-written last line of a live run, a
damaged file) is skipped with a warning naming the file and the line: one
bad line must not cost the analyst the report. The first SKIPPED_KEPT of
them are listed in the report, all are counted.
"""
import logging
from dataclasses import dataclass
from pathlib import Path

import orjson

from ..errors import ExfilwatchError
from ..sinks.file import eve_files, open_eve

log = logging.getLogger(__name__)

SKIPPED_KEPT = 20          # malformed lines named in the log and the report; the rest are counted


class ReportInputError(ExfilwatchError):
    """An output directory is missing or holds no EVE file."""


@dataclass(frozen=True, slots=True)
class SkippedLine:
    path: str
    line: int
    problem: str


class EveRecords:
    """The records of output directories, with the index of the directory
    each came from (`source`, in the order given). Every directory is
    checked when this is made; the files are read when `records` is
    iterated, once."""

    def __init__(self, directories):
        self.paths = [(source, path) for source, directory in enumerate(directories)
                      for path in _eve_files(Path(directory))]
        self.files = []            # paths read so far, in order
        self.skipped = []          # the first SKIPPED_KEPT SkippedLine
        self.skipped_count = 0     # every malformed line

    @property
    def records(self):
        """(source, record dict) of every file, oldest first."""
        for source, path in self.paths:
            yield from self._read_file(path, source)
            self.files.append(str(path))

    def _read_file(self, path: Path, source: int):
        try:
            with open_eve(str(path)) as fh:
                for number, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        record = orjson.loads(line)
                    except orjson.JSONDecodeError as exc:
                        self._skip(path, number, f"not JSON ({exc.msg} at column {exc.colno})")
                        continue
                    if isinstance(record, dict):
                        yield source, record
                    else:
                        self._skip(path, number, "not a JSON object")
        except (OSError, EOFError) as exc:
            raise ReportInputError(f"{path} cannot be read: "
                                   f"{getattr(exc, 'strerror', None) or exc}.") from None

    def _skip(self, path: Path, number: int, problem: str) -> None:
        self.skipped_count += 1
        if self.skipped_count <= SKIPPED_KEPT:
            log.warning("%s line %d skipped: %s.", path, number, problem)
            self.skipped.append(SkippedLine(str(path), number, problem))
        elif self.skipped_count == SKIPPED_KEPT + 1:
            log.warning("More than %d malformed lines: the others are counted, not named.",
                        SKIPPED_KEPT)


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
    return EveRecords(directories)
