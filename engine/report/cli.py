"""The `exfilwatch report` subcommand: its parser and its run function,
kept here so that engine/cli.py only wires them in."""
import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

from ..netscope import NetScope
from ..settings import load_settings
from .evefiles import ReportInputError, read_directories
from .html import render
from .model import (CHANNEL_VALUES, CONTAINMENT_ENTRIES, MAX_ALERTS, MAX_CERTIFICATES,
                    MAX_CHANNELS, MAX_HANDSHAKES, MAX_HOSTS, MAX_OPEN_FLOWS, RECENT_FLOWS,
                    SERIES_SPANS, ReportLimits, build_triage)

log = logging.getLogger(__name__)

DESCRIPTION = (
    "Write an HTML triage report of the EVE records in one or more output directories of "
    "'exfilwatch replay' or 'exfilwatch live' (every eve.json* file there, rotated ones "
    "included): per internal host, the analyst's playbook questions answered with their "
    "evidence (flows, bytes, certificates, fingerprints), each alert's escalation decision "
    "and reasons, the containment list, and charts. The file is self-contained: no script, "
    "nothing fetched. A malformed line is skipped with a warning naming the file and line, "
    "and listed in the report. The records are read once, in bounded memory however many "
    "there are: per host and channel only counters, byte totals and bytes out over time "
    "are kept; flows only while open, for the next "
    f"{RECENT_FLOWS:,} flows after they end, or when an alert names them. Past a bound "
    "(--max-hosts, --max-channels, --max-alerts; also at most "
    f"{MAX_CERTIFICATES:,} certificates, {MAX_OPEN_FLOWS:,} open flows and "
    f"{MAX_HANDSHAKES:,} handshakes awaiting their flow, {CHANNEL_VALUES} fingerprint values "
    f"and certificates per channel, {CONTAINMENT_ENTRIES:,} containment entries of each "
    "kind) what matters least is left out and the report says how much; a host or channel "
    "left out and seen again counts from then on. Each channel's bytes out over time are "
    f"merged into {SERIES_SPANS // 2} time buckets past {SERIES_SPANS} spans. Exit status 2: "
    "a directory is missing or holds no eve.json, the configuration is wrong, a bound is not "
    "a whole number of at least 1, or the report cannot be written (or would overwrite an "
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
    p.add_argument("--max-hosts", type=_bound("--max-hosts"), default=MAX_HOSTS, metavar="N",
                   help="internal hosts kept; past it the hosts without alerts that sent least "
                        f"are left out (default {MAX_HOSTS:,})")
    p.add_argument("--max-channels", type=_bound("--max-channels"), default=MAX_CHANNELS,
                   metavar="N",
                   help="channels (host, destination, port, protocol, service) kept, all hosts "
                        "together; past it those without alerts that sent least are left out, "
                        f"their bytes still counted in their host's totals (default "
                        f"{MAX_CHANNELS:,})")
    p.add_argument("--max-alerts", type=_bound("--max-alerts"), default=MAX_ALERTS, metavar="N",
                   help="alerts kept; past it Tier 1 before Tier 2 and lowest score first are "
                        "left out, escalated ones still adding to the containment list "
                        f"(default {MAX_ALERTS:,})")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")


def _bound(option: str):
    def positive(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"{option} must be a whole number of at least 1, "
                                             f"not {text!r}")
        return value
    return positive


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
    if Path(args.output).resolve() in {Path(f).resolve() for _, f in eve.paths}:
        print(f"exfilwatch: {args.output} is an EVE file the report reads: write the report "
              "elsewhere.", file=sys.stderr)
        return EXIT_USAGE
    scope = NetScope(list(settings["aggregate"].home_net))
    limits = ReportLimits(hosts=args.max_hosts, channels=args.max_channels,
                          alerts=args.max_alerts)
    try:
        triage = build_triage(eve.records, scope, limits)
    except ReportInputError as exc:
        print(f"exfilwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    page = render(triage, [str(d) for d in args.directories], eve.skipped, eve.skipped_count)
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
