"""Tier-2 extraction: the packets behind an alert, or of one flow, read
again from the captures a replay read (`exfilwatch extract`).

    result = extract("out/", "flows.pcap", alert_id="3f2a...")   # or flow_id=...

The alert's `exfil.evidence.flows` name flow ids; their `flow` records in
DIR/eve.json (and rotated eve.json.N) say how many packets each has. The
captures named in DIR/run.json go through a core built with the run's caps
and timeouts, whose tag_flows() gives each packet the flow_id its flow
record carries: a packet is written when its flow (or, for a UDP tunnel's
packet, its outer flow) is one of them, as captured (tunnel and VLAN
headers included), in capture order. A fragmented datagram is charged to
its flow by the fragment completing it: its other fragments, held until
then (engine/ipfrag.py), are written just before that one. Reading stops
once every flow's packets are found.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import orjson

from .alert_packets import kept_path
from .capture import Batch, open_capture
from .errors import CaptureError, RunDirError
from .ipfrag import FragmentHold, fragment_key
from .manifest import RunManifest
from .pcapout import PacketFileWriter
from .sinks.file import eve_files, open_eve

log = logging.getLogger(__name__)

EVE_NAME = "eve.json"
# alert ids listed when the one asked for is not there
_IDS_SHOWN = 5
_FLOW_ID = re.compile(rb'"flow_id":\s*(\d+)')
_FLOW_EVENT = re.compile(rb'"event_type":\s*"flow"')


@dataclass
class ExtractResult:
    output: str
    alert: dict | None                     # the alert extracted for, or None (--flow)
    expected: dict = field(default_factory=dict)   # flow_id -> packets its flow record counts
    found: dict = field(default_factory=dict)      # flow_id -> packets written
    packets_written: int = 0
    fragments_written: int = 0                     # other fragments of their datagrams
    warnings: list = field(default_factory=list)   # sentences: changed captures, missing packets


@dataclass
class _Copied:
    found: Counter                                 # flow_id -> packets charged to it, written
    fragments: int = 0                             # other fragments of their datagrams, written too
    incomplete: Counter = field(default_factory=Counter)  # flow_id -> datagrams missing fragments


def _eve_files(out_dir: str) -> list[str]:
    files = eve_files(out_dir)
    if not files:
        raise RunDirError(f"{out_dir} has no {EVE_NAME}: it is not an output directory of "
                          "exfilwatch replay or live.")
    return files


def _eve_lines(out_dir: str):
    for path in _eve_files(out_dir):
        with open_eve(path) as fh:
            yield from fh


def find_alert(out_dir: str, alert_id: str) -> dict:
    """The alert event with this exfil.alert_id; RunDirError listing a few
    ids that exist when there is none."""
    needle = alert_id.encode()
    for line in _eve_lines(out_dir):
        if needle in line:
            event = orjson.loads(line)
            if event.get("event_type") == "alert" and \
                    event.get("exfil", {}).get("alert_id") == alert_id:
                return event
    known = [(e["exfil"]["alert_id"], e["alert"]["signature"]) for e in _alerts(out_dir)]
    if not known:
        raise RunDirError(f"No alert {alert_id} in {out_dir}: the run raised no alerts.")
    listed = "; ".join(f"{aid} ({sig})" for aid, sig in known[:_IDS_SHOWN])
    more = f" and {len(known) - _IDS_SHOWN} more" if len(known) > _IDS_SHOWN else ""
    raise RunDirError(f"No alert {alert_id} in {out_dir}. Its alerts are: {listed}{more}.")


def _alerts(out_dir: str):
    for line in _eve_lines(out_dir):
        if b'"alert_id"' in line:
            event = orjson.loads(line)
            if event.get("event_type") == "alert":
                yield event


def flow_packet_counts(out_dir: str, flow_ids) -> dict:
    """flow_id -> packets of the flow (both directions) per its last `flow`
    record: the final one, or the latest interim one of a flow still open."""
    wanted = set(flow_ids)
    counts = {}
    for line in _eve_lines(out_dir):
        m = _FLOW_ID.search(line)
        if m is None or int(m.group(1)) not in wanted or not _FLOW_EVENT.search(line):
            continue
        event = orjson.loads(line)
        f = event["flow"]
        n = f["pkts_toserver"] + f["pkts_toclient"]
        counts[event["flow_id"]] = max(n, counts.get(event["flow_id"], 0))
    return counts


def check_captures(manifest: RunManifest, force: bool) -> list[str]:
    """Refuse captures that are gone; refuse captures changed since the run
    (size or mtime differ) unless ``force``, then return the warnings."""
    problems = [(c, c.problem()) for c in manifest.captures]
    gone = [p for c, p in problems if p and not os.path.exists(c.path)]
    changed = [p for c, p in problems if p and os.path.exists(c.path)]
    if gone:
        raise CaptureError(" ".join(gone) + " The packets cannot be read again.")
    if changed and not force:
        raise CaptureError(" ".join(changed) + " The flow ids of the run may not match it any "
                           "more; --force extracts anyway.")
    return changed


def extract(out_dir: str, output: str, alert_id: str | None = None,
            flow_id: int | None = None, force: bool = False) -> ExtractResult:
    """Write the packets of an alert's flows (or of one flow) to ``output``
    (pcapng when it ends in .pcapng, else pcap)."""
    if (alert_id is None) == (flow_id is None):
        raise ValueError("extract needs exactly one of alert_id and flow_id")
    manifest = RunManifest.read(out_dir)
    if manifest.mode == "live":
        return _copy_kept(out_dir, output, alert_id)
    alert = find_alert(out_dir, alert_id) if alert_id is not None else None
    flow_ids = alert["exfil"]["evidence"]["flows"] if alert else [flow_id]
    expected = flow_packet_counts(out_dir, flow_ids)
    if flow_id is not None and flow_id not in expected:
        raise RunDirError(f"No flow record with flow_id {flow_id} in {out_dir}.")
    result = ExtractResult(output, alert, expected)
    result.warnings += check_captures(manifest, force)
    for fid in flow_ids:
        if fid not in expected:
            result.warnings.append(f"Flow {fid} of the alert has no flow record in {out_dir}: "
                                   "its packets are written, but cannot be checked.")
    with PacketFileWriter(output) as writer:
        copied = _copy_flows(manifest, flow_ids, expected, writer)
        result.packets_written = writer.packets
    result.found = dict(copied.found)
    result.fragments_written = copied.fragments
    for fid, n in copied.incomplete.items():
        result.warnings.append(f"Flow {fid}: {n:,} fragmented datagram(s) written without their "
                               "other fragments (dropped from the fragment hold, or not in the "
                               "captures).")
    for fid, n in expected.items():
        if result.found.get(fid, 0) != n:
            result.warnings.append(f"Flow {fid}: {result.found.get(fid, 0):,} packets found in "
                                   f"the captures, its flow record counts {n:,}.")
    return result


def _copy_kept(out_dir: str, output: str, alert_id: str | None) -> ExtractResult:
    """A live run has no capture to read again: copy the packets kept for
    the alert when it was raised (live --keep-kib)."""
    if alert_id is None:
        raise RunDirError(f"{out_dir} is a live capture's output: packets are kept there for "
                          "alerts only (live --keep-kib); extract one with --alert.")
    alert = find_alert(out_dir, alert_id)
    kept = kept_path(out_dir, alert_id)
    if kept is None:
        raise RunDirError(f"The packets of alert {alert_id} were not kept: the live capture "
                          "ran without --keep-kib, or its flows had left the kept-packet ring.")
    result = ExtractResult(output, alert)
    with PacketFileWriter(output) as writer, open_capture(kept) as reader:
        for batch in reader:
            for i in range(batch.count):
                writer.write(int(batch.ts_us[i]), batch.packet(i), int(batch.wirelens[i]),
                             int(batch.linktypes[i]))
        result.packets_written = writer.packets
    return result


def _copy_flows(manifest: RunManifest, flow_ids, expected: dict, writer) -> _Copied:
    """Feed the run's captures through a core like the run's and write the
    packets charged to ``flow_ids``, each with the other fragments of its
    datagram when it completed one."""
    from ._core import FlowEngine

    config = manifest.core_config()
    # flow-only and keeping nothing: neither changes which flow a packet joins
    engine = FlowEngine(dataclasses.replace(config, capture_handshakes=False,
                                            keep_kib_per_flow=0))
    hold = FragmentHold(config.max_fragment_sets, round(config.fragment_timeout_s * 1e6))
    wanted = np.array(sorted(set(flow_ids)), dtype=np.uint64)
    copied = _Copied(Counter(dict.fromkeys(flow_ids, 0)))
    # stop once every flow is complete; an unknown count means reading to the end
    owed = sum(expected.values()) if set(expected) >= set(copied.found) else None
    budget = manifest.packets          # the run may have stopped early (Ctrl-C)
    reassembled = 0
    for capture in manifest.captures:
        with open_capture(capture.path) as reader:
            tags = np.empty(reader.batch_size, np.uint64)
            outer = np.empty(reader.batch_size, np.uint64)
            for batch in reader:
                if budget <= 0 or owed is not None and owed <= 0:
                    return copied
                if batch.count > budget:
                    batch = _head(batch, budget)
                budget -= batch.count
                engine.tag_flows(batch, tags, outer)
                charged = np.concatenate([tags[:batch.count], outer[:batch.count]])
                hit = np.isin(charged, wanted)
                copied.found.update(charged[hit].tolist())
                if owed is not None:
                    owed -= int(hit.sum())
                hit = hit[:batch.count] | hit[batch.count:]
                uncharged = (tags[:batch.count] == 0) & (outer[:batch.count] == 0)
                completed = engine.counters()["frag.reassembled"] - reassembled
                reassembled += completed
                if completed or uncharged.any():
                    _copy_with_fragments(batch, hit, uncharged, completed, tags, hold, writer,
                                         copied)
                else:
                    for i in np.flatnonzero(hit).tolist():
                        _write(writer, batch, i)
    return copied


def _copy_with_fragments(batch: Batch, hit, uncharged, completed: int, tags,
                         hold: FragmentHold, writer, copied: _Copied) -> None:
    """Write a batch's hits, holding the fragments charged to no flow until
    the fragment completing their datagram says which flow it is.
    ``completed``: datagrams the core reassembled in this batch; a packet
    charged to a flow is a fragment only then, so only then are the charged
    packets decoded."""
    for i in range(batch.count):
        if not (uncharged[i] or hit[i] or completed):
            continue
        frame, linktype = batch.packet(i), int(batch.linktypes[i])
        if uncharged[i]:
            key = fragment_key(frame, linktype)
            if key is not None:
                hold.hold(key, int(batch.ts_us[i]), frame, int(batch.wirelens[i]), linktype)
            continue
        key = fragment_key(frame, linktype) if completed else None
        fragments = hold.take(key) if key is not None else []
        completed -= key is not None
        if not hit[i]:
            continue                      # another flow's datagram: its fragments are not ours
        if key is not None and not fragments:
            copied.incomplete[int(tags[i])] += 1
        for ts_us, held, wirelen, held_linktype in fragments:
            writer.write(ts_us, held, wirelen, held_linktype)
        copied.fragments += len(fragments)
        _write(writer, batch, i)


def _write(writer, batch: Batch, i: int) -> None:
    writer.write(int(batch.ts_us[i]), batch.packet(i), int(batch.wirelens[i]),
                 int(batch.linktypes[i]))


def _head(batch: Batch, n: int) -> Batch:
    return Batch(batch.buf, batch.offsets[:n], batch.caplens[:n], batch.wirelens[:n],
                 batch.ts_us[:n], batch.linktypes[:n], n)


def add_parser(sub) -> None:
    """The `extract` sub-command's arguments."""
    p = sub.add_parser(
        "extract",
        help="write the packets behind an alert or a flow to a pcap file",
        description="Find an alert (by its exfil.alert_id) or a flow (by its flow_id) in DIR, "
                    "an output directory of `exfilwatch replay`, and write the packets of its "
                    "flows, both directions, exactly as captured (VLAN and tunnel headers "
                    "included, every fragment of a fragmented IP datagram), read again from "
                    "the capture files named in DIR/run.json. "
                    "The output is pcap, or pcapng when its name ends in .pcapng (needed when "
                    "the packets come from interfaces with different link types). On the "
                    "output directory of `exfilwatch live --keep-kib N`, the first N KiB of "
                    "each of the alert's flows, saved when the alert was raised, are copied "
                    "instead. Exit status "
                    "1: a capture file is gone or changed since the run (size or modification "
                    "time differ; --force extracts anyway); 2: DIR has no run.json or eve.json, "
                    "the alert or flow is not in it, or the output cannot be written.",
    )
    p.add_argument("dir", metavar="DIR", help="output directory of exfilwatch replay (or of "
                                               "live --keep-kib, for alerts)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--alert", metavar="ID", help="the alert's exfil.alert_id")
    which.add_argument("--flow", type=int, metavar="FLOW_ID", help="one flow's flow_id")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="pcap file to write (pcapng if the name ends in .pcapng)")
    p.add_argument("--force", action="store_true",
                   help="extract even from capture files changed since the run, with a warning")


def run_command(args) -> int:
    """Run `exfilwatch extract`; the exit status."""
    import sys

    from .cli import EXIT_INPUT_ERROR, EXIT_OK, EXIT_USAGE
    from .errors import OutputError

    try:
        result = extract(args.dir, args.output, alert_id=args.alert, flow_id=args.flow,
                         force=args.force)
    except CaptureError as exc:
        print(f"exfilwatch: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except (RunDirError, OutputError) as exc:
        print(f"exfilwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for warning in result.warnings:
        print(f"exfilwatch: warning: {warning}", file=sys.stderr)
    what = (f"alert {args.alert} ({result.alert['alert']['signature']})" if result.alert
            else f"flow {args.flow}")
    fragments = (f", {result.fragments_written:,} of them IP fragments written beside the one "
                 "completing their datagram" if result.fragments_written else "")
    print(f"Wrote {result.packets_written:,} packets of {len(result.found)} flow(s) of {what} "
          f"to {result.output}{fragments}.")
    return EXIT_OK
