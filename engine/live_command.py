"""`exfilwatch live`: the options this module adds to the command's parser
and the command itself (open the handles, drop privileges, run one
process or fan-out workers, handle the signals)."""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from .errors import CaptureError
from .gcpolicy import batch_collections
from .live import LiveOptions, run_live
from .privileges import check_writable, drop_privileges, lookup_user
from .workers import open_worker_handles, run_workers

# the exit statuses engine/cli.py documents (EXIT_OK, EXIT_INPUT_ERROR, EXIT_USAGE)
EXIT_OK = 0
EXIT_CAPTURE_ERROR = 1
EXIT_USAGE = 2
MAX_WORKERS = 256
# handle sets opened for worker restarts once --user has dropped root
RESTART_SPARES = 2


def add_live_options(lp) -> None:
    """--workers and --user, on the `live` sub-parser."""
    lp.add_argument("--workers", type=_worker_count, default=1, metavar="N",
                    help="capture worker processes (default 1: one process). With N > 1 each "
                         "worker holds a handle per interface in a PACKET_FANOUT_HASH group, "
                         "so a flow always lands on one worker, runs on its own CPU where "
                         "there are enough, and sends its records to the one process that "
                         "runs the detections and writes eve.json; a worker that dies is "
                         "restarted (its open flows are lost and counted)")
    lp.add_argument("--user", metavar="NAME",
                    help="after opening the capture handles, drop root and run as this user; "
                         "the output and state directories must be writable by it (checked "
                         "first; created for it when missing). With --workers, two spare "
                         "handle sets are opened first: a dead worker is restarted at most "
                         "twice once root is gone")


def _worker_count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_WORKERS}, not {text}")
    return value


def run(args, settings, reload_settings) -> int:
    """``reload_settings()``: the settings again, for SIGHUP (ConfigError
    when the file no longer loads)."""
    stop, reload = threading.Event(), threading.Event()
    # reading stops at the next batch; the flows are flushed, nothing is lost
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    signal.signal(signal.SIGHUP, lambda signum, frame: reload.set())
    identity = lookup_user(args.user) if args.user else None
    options = [LiveOptions(iface, bpf=args.bpf, snaplen=args.snaplen, buffer_mb=args.buffer_mb,
                           stats_interval_s=args.stats_interval, capture=args.capture)
               for iface in dict.fromkeys(args.interface)]
    try:
        spares = RESTART_SPARES if identity is not None and args.workers > 1 else 0
        handles = open_worker_handles(options, args.workers, spares)
    except CaptureError as exc:
        print(f"exfilwatch: {exc}", file=sys.stderr)
        return EXIT_CAPTURE_ERROR
    try:
        if identity is not None:
            check_writable(identity, {"--output": args.output, "--state": args.state})
            _load_installation()
            drop_privileges(identity)
        run_sensor = run_workers if args.workers > 1 else _single_process
        # the collector runs replay's record writer and detections, with
        # replay's GC thresholds; forked workers inherit them
        with batch_collections():
            result = run_sensor(handles, args.output, settings, state_dir=args.state, stop=stop,
                                on_stats=None if args.quiet else _print_status, reload=reload,
                                reload_settings=reload_settings,
                                output_format=args.format)
    except OSError as exc:
        print(f"exfilwatch: cannot write to {args.output}: {exc.strerror}.", file=sys.stderr)
        return EXIT_USAGE
    finally:
        handles.close()
    if not args.quiet:
        print(f"exfilwatch: stopped; {result.flows_written:,} flow records, "
              f"{len(result.alerts)} alerts in {args.output}.", file=sys.stderr)
    return EXIT_OK


def _load_installation() -> None:
    """Import now what the sensor would import lazily once --user has dropped
    root: an interpreter or venv the user cannot read (a pyenv under /root)
    would otherwise fail mid-capture."""
    import multiprocessing.popen_fork  # noqa: F401  (the workers' fork starter)

    import certifi
    import tldextract  # noqa: F401  (registered domains of SNIs)
    certifi.where()     # resolves its CA bundle through a lazy stdlib import


def _single_process(handles, *args, **kwargs):
    return run_live(handles.workers[0], *args, **kwargs)


def _print_status(event) -> None:
    """The status line, of the sensor's totals (not of each worker)."""
    s = event["stats"]
    c = s["capture"]
    print(f"exfilwatch: {c['interface']}: {s['decoder']['pkts']:,} packets, "
          f"{s['flow']['active']:,} flows open, kernel received {c['kernel_packets']:,} "
          f"dropped {c['kernel_drops']:,} (interface {c['kernel_ifdrops']:,}).", file=sys.stderr)
