"""The `exfilwatch report` subcommand: its parser and its run function,
kept here so that engine/cli.py only wires them in."""
import logging
import os
import sys
import tempfile
from pathlib import Path

from ..netscope import NetScope
from ..settings import load_settings
from .evefiles import ReportInputError, read_directories
from .html import render
from .model import build_triage

log = logging.getLogger(__name__)

DESCRIPTION = (
    "Write an HTML triage report of the EVE records in one or more output directories of "
    "'exfilwatch replay' or 'exfilwatch live' (every eve.json* file there, rotated ones "
    "included): per internal host, the analyst's playbook questions answered with their "
    "evidence (flows, bytes, certificates, fingerprints), each alert's escalation decision "
    "and reasons, the containment list, and charts. The file is self-contained: no script, "
    "nothing fetched. A malformed line is skipped with a warning naming the file and line, "
    "and listed in the report. Exit status 2: a directory is missing or holds no eve.json, "
    "the configuration is wrong, or the report cannot be written (or would overwrite an "
    "EVE file)."
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("report", help="write an HTML triage report of an output directory",
                              description=DESCRIPTION)
    p.add_argument("directories", nargs="+", metavar="DIR",
                   help="output directory of replay or live (several: one report for all)")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="the HTML file to write")
    p.add_argument("-c", "--config", metavar="FILE",
                   help="TOML configuration file: its [aggregate] home_net says which hosts are "
                        "internal (default: the private address ranges)")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")


def run(args) -> int:
    """Write the report. A configuration error raises ConfigError, which
    engine.cli reports like every other command's."""
    from ..cli import EXIT_OK, EXIT_USAGE   # engine.cli imports this module first
    settings = load_settings(args.config)
    try:
        eve = read_directories(args.directories)
    except ReportInputError as exc:
        print(f"exfilwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if Path(args.output).resolve() in {Path(f).resolve() for f in eve.files}:
        print(f"exfilwatch: {args.output} is an EVE file the report reads: write the report "
              "elsewhere.", file=sys.stderr)
        return EXIT_USAGE
    scope = NetScope(list(settings["aggregate"].home_net))
    page = render(build_triage(eve.records, scope), [str(d) for d in args.directories],
                  eve.skipped)
    try:
        _write_atomically(Path(args.output), page)
    except OSError as exc:
        print(f"exfilwatch: cannot write the report to {args.output}: {exc.strerror}.",
              file=sys.stderr)
        return EXIT_USAGE
    log.info("report written to %s from %d file(s)", args.output, len(eve.files))
    return EXIT_OK


def _write_atomically(path: Path, text: str) -> None:
    # a reader (a browser refreshing) never sees half a report
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
