"""The `exfilwatch` command."""
import argparse
import dataclasses
import logging
import os
import signal
import sys
from collections import Counter

from . import __version__, extract
from .alert_packets import add_keep_arguments
from .report import cli as report_cli
from .config import CoreConfig
from . import live_command
from .live import CAPTURE_PATHS, LiveOptions
from .errors import ConfigError
from .settings import load_settings, render_settings
from .sinks.fanout import OUTPUT_FORMATS
from .contain import add_contain_parser, run_contain
from .progress import Progress
from .sinks.file import eve_files, open_eve

EXIT_OK = 0
EXIT_INPUT_ERROR = 1     # a capture file could not be read (the others were)
EXIT_USAGE = 2           # bad arguments or configuration
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exfilwatch",
        description="Find data exfiltration over encrypted channels (MITRE ATT&CK T1048.002) "
                    "in network traffic.",
    )
    parser.add_argument("--version", action="version", version=f"exfilwatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    rp = sub.add_parser(
        "replay",
        help="replay pcap/pcapng files and write EVE JSON or Zeek logs",
        description="Replay capture files (pcap, pcapng, or anything libpcap reads) in the "
                    "order given, as one capture, and write DIR/eve.json: one `flow` record "
                    "per flow and a closing `stats` record; --format zeek writes Zeek's "
                    "conn.log, ssl.log, x509.log and ssh.log instead, both writes both. A file that cannot be read is "
                    "reported and skipped; the exit status is then 1.",
    )
    rp.add_argument("files", nargs="+", metavar="FILE", help="capture files to replay")
    rp.add_argument("-o", "--output", required=True, metavar="DIR",
                    help="output directory (created if missing) for the files --format names")
    _add_format_argument(rp)
    rp.add_argument("-q", "--quiet", action="store_true",
                    help="no progress line on stderr (it is shown only when stderr is a terminal)")
    rp.add_argument("--summary", action="store_true",
                    help="print a short summary of the flows found when done (reads eve.json: "
                         "not with --format zeek)")
    defaults = CoreConfig()
    rp.add_argument("--max-flows", type=int, metavar="N",
                    help="flow table cap; the oldest idle flows are evicted beyond it "
                         f"(default {defaults.max_flows:,})")
    rp.add_argument("--tcp-timeout-established", type=float, metavar="SECONDS",
                    help="idle time, in packet time, after which an established TCP flow ends "
                         f"(default {defaults.tcp_timeout_established_s:g})")
    rp.add_argument("--state", metavar="DIR",
                    help="baseline state directory (SQLite), kept across runs and shared with "
                         "live capture; without it every run starts with an empty baseline")
    rp.add_argument("-c", "--config", metavar="FILE",
                    help="TOML configuration file (see 'exfilwatch config show'); "
                         "the options above override it")
    rp.add_argument("--stdout", action="store_true",
                    help="also write the EVE records to stdout ([outputs] stdout = true)")
    rp.add_argument("-v", "--verbose", action="store_true", help="log debug messages")

    lp = sub.add_parser(
        "live",
        help="capture from interfaces and write EVE JSON or Zeek logs",
        description="Capture from network interfaces (libpcap, or the kernel's AF_PACKET "
                    "ring with --capture afpacket) and write DIR/eve.json "
                    "(or the Zeek logs --format names) as replay does, plus `stats` records "
                    "every --stats-interval seconds with the kernel's received and dropped "
                    "packet counts (per worker and in total with --workers). SIGINT or SIGTERM stops the capture: every open "
                    "flow is written (reason \"shutdown\"), then the last `stats` records, and "
                    "the exit status is 0. SIGHUP re-reads the configuration file (a file "
                    "that does not load is reported and the running configuration kept) "
                    "without losing flow or baseline state. Capturing needs root or the "
                    "CAP_NET_RAW capability (CAP_NET_ADMIN for promiscuous mode); --user "
                    "drops root once the handles are open. Exit status 1: an interface "
                    "cannot be captured on or the BPF filter is invalid; 2: bad arguments, "
                    "configuration, user or output directory.",
    )
    lp.add_argument("-i", "--interface", required=True, action="append", metavar="IFACE",
                    help="network interface to capture on (repeat for several)")
    lp.add_argument("-o", "--output", required=True, metavar="DIR",
                    help="output directory (created if missing) for the files --format names, "
                         "and run.json (interfaces, packet span and count), rewritten with "
                         "each stats record")
    _add_format_argument(lp)
    live_defaults = LiveOptions("-")
    lp.add_argument("--bpf", metavar="EXPR", help="BPF capture filter, as tcpdump takes it")
    lp.add_argument("--snaplen", type=_positive_int, default=live_defaults.snaplen, metavar="N",
                    help=f"bytes kept per packet (default {live_defaults.snaplen})")
    lp.add_argument("--buffer-mb", type=_positive_int, default=live_defaults.buffer_mb,
                    metavar="N", help="kernel capture buffer in MiB "
                                      f"(default {live_defaults.buffer_mb})")
    lp.add_argument("--capture", choices=CAPTURE_PATHS, default=live_defaults.capture,
                    help="pcap: libpcap copies each packet out of the kernel; afpacket: the core "
                         "reads the kernel's AF_PACKET ring in place, for high rates "
                         f"(default {live_defaults.capture})")
    lp.add_argument("--stats-interval", type=_positive_float, metavar="SECONDS",
                    default=live_defaults.stats_interval_s,
                    help=f"write a stats record this often (default {live_defaults.stats_interval_s:g})")
    lp.add_argument("--state", metavar="DIR",
                    help="baseline state directory (SQLite), kept across runs and shared with "
                         "replay; without it every run starts with an empty baseline")
    lp.add_argument("-c", "--config", metavar="FILE",
                    help="TOML configuration file (see 'exfilwatch config show')")
    lp.add_argument("-q", "--quiet", action="store_true",
                    help="no status line on stderr at each stats record")
    lp.add_argument("--stdout", action="store_true",
                    help="also write the EVE records to stdout ([outputs] stdout = true)")
    lp.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    live_command.add_live_options(lp)
    add_keep_arguments(lp)

    report_cli.add_parser(sub)

    cp = sub.add_parser("config", help="show or check the configuration",
                        description="Show the effective configuration (defaults, or a file "
                                    "merged over them) as TOML, or check a configuration file.")
    csub = cp.add_subparsers(dest="config_command", metavar="ACTION")
    csub.required = True
    show = csub.add_parser("show", help="print the effective configuration as TOML")
    show.add_argument("-c", "--config", metavar="FILE", help="configuration file to merge")
    check = csub.add_parser("check", help="validate a configuration file; exit 2 if it is wrong")
    check.add_argument("file", metavar="FILE")
    add_contain_parser(sub)
    extract.add_parser(sub)
    return parser


def _add_format_argument(parser) -> None:
    parser.add_argument("--format", choices=OUTPUT_FORMATS, default="eve",
                        help="eve: DIR/eve.json; zeek: Zeek TSV logs DIR/conn.log, ssl.log, "
                             "x509.log, ssh.log (for RITA and Zeek tooling); both "
                             "(default eve)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _stop_on_sigterm(signum, frame):
    # SIGTERM stops a replay the way Ctrl-C does: open flows are flushed
    raise KeyboardInterrupt


def effective_settings(args):
    """The configuration file's settings with the command line's overrides."""
    settings = load_settings(args.config)
    overrides = {"max_flows": getattr(args, "max_flows", None),
                 "tcp_timeout_established_s": getattr(args, "tcp_timeout_established", None),
                 "keep_kib_per_flow": getattr(args, "keep_kib", None),
                 "keep_memory_mb": getattr(args, "keep_mb", None)}
    core = dataclasses.replace(settings.core,
                               **{k: v for k, v in overrides.items() if v is not None})
    outputs = dataclasses.replace(settings["outputs"],
                                  stdout=settings["outputs"].stdout or args.stdout)
    return dataclasses.replace(settings, sections={**settings.sections, "core": core,
                                                   "outputs": outputs})


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
                        format="exfilwatch: %(levelname)s: %(message)s")
    try:
        if args.command == "config":
            return run_config(args)
        if args.command == "contain":
            return run_contain(args)
        if args.command == "report":
            return report_cli.run(args)
        if args.command == "extract":
            return extract.run_command(args)
        settings = effective_settings(args)
        if args.command == "live":
            # SIGHUP reads the file again, with the same command-line overrides
            return live_command.run(args, settings, lambda: effective_settings(args))
        return run_replay(args, settings)
    except ConfigError as exc:
        print(f"exfilwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE


def run_config(args) -> int:
    if args.config_command == "show":
        print(render_settings(load_settings(args.config)), end="")
        return EXIT_OK
    load_settings(args.file)
    print(f"{args.file}: configuration is valid.")
    return EXIT_OK


def run_replay(args, settings) -> int:
    from .replay import replay   # the compiled core loads only when needed

    if args.summary and args.format == "zeek":
        print("exfilwatch: --summary reads eve.json: use it with --format eve or both.",
              file=sys.stderr)
        return EXIT_USAGE
    if args.summary and not settings["outputs"].eve_file:
        print("exfilwatch: --summary reads eve.json, which [outputs] eve_file = false turns off.",
              file=sys.stderr)
        return EXIT_USAGE
    show_progress = not args.quiet and sys.stderr.isatty()
    try:
        result = replay(args.files, args.output, settings, state_dir=args.state,
                        progress=Progress() if show_progress else None,
                        output_format=args.format)
    except OSError as exc:
        print(f"exfilwatch: cannot write to {args.output}: {exc.strerror}.", file=sys.stderr)
        return EXIT_USAGE
    if args.summary:
        print_summary(result)
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_INPUT_ERROR if result.files_failed else EXIT_OK


def print_summary(result) -> None:
    import json

    flows = []
    for path in eve_files(os.path.dirname(result.eve_path)):
        with open_eve(path) as fh:
            for line in fh:
                event = json.loads(line)
                if event["event_type"] == "flow":
                    flows.append(event)
    c = result.counters
    print(f"Replayed {len(result.files_read)} file(s): {c.get('packets', 0):,} packets, "
          f"{c.get('bytes', 0):,} bytes, {len(flows):,} flows.")
    by_proto = Counter(f["proto"] for f in flows)
    print("Flows by protocol: " + ", ".join(f"{p} {n}" for p, n in by_proto.most_common()))
    top = sorted(flows, key=lambda f: f["flow"]["bytes_toserver"], reverse=True)[:5]
    if top:
        print("Largest uploads (bytes to server):")
        for f in top:
            dst = f"{f['dest_ip']}:{f.get('dest_port', '-')}"
            print(f"  {f['src_ip']:>39} -> {dst:<45} {f['flow']['bytes_toserver']:>12,} B up "
                  f"{f['flow']['bytes_toclient']:>12,} B down")
    if result.alerts:
        print(f"Alerts ({len(result.alerts)}):")
        for a in result.alerts[:10]:
            x = a["exfil"]
            print(f"  [{x['score']:>3}] {x['alert_id']} {a['alert']['signature']}: "
                  f"{a['src_ip']} -> {a['dest_ip']}:{a['dest_port']}"
                  + (f"  ESCALATE to Tier 2 ({x['escalation_reason']})" if x["escalate"] else ""))
            for reason in x["reasons"]:
                print(f"        - {reason}")
    else:
        print("No alerts.")
    for path, message in result.files_failed:
        print(f"Not read: {message}")
    for path in result.files_truncated:
        print(f"Truncated (read up to the cut): {path}")
    print(f"EVE records: {result.eve_path}")


if __name__ == "__main__":
    sys.exit(main())
