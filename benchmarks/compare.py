"""Flow-building throughput of exfilwatch and its peers, same capture, same run.

The capture is read once first so every tool starts from a warm page cache;
each tool then runs ``--repeat`` times and its median wall time is reported.

    python benchmarks/compare.py --make-if-missing --repeat 3
"""
from __future__ import annotations

import argparse
import logging
import resource
import statistics
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import peers
from make_corpus import DEFAULT_OUT, make_corpus

log = logging.getLogger(__name__)

READ_CHUNK = 16 << 20
_PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
                b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}


@dataclass(frozen=True, slots=True)
class Measurement:
    tool: str
    packets: int = 0
    seconds: float = 0.0          # median wall time
    note: str = ""                # why there is no number


def capture_totals(path: Path) -> tuple[int, int]:
    """Packets and captured frame bytes of a classic pcap, reading it once
    (which also warms the page cache for the tools measured after)."""
    packets = frame_bytes = 0
    with open(path, "rb") as f:
        head = f.read(24)
        endian = _PCAP_MAGICS.get(head[:4])
        if endian is None:
            raise ValueError(f"{path} is not a classic pcap file; compare.py measures pcap only.")
        rec = struct.Struct(endian + "IIII")
        pending = b""
        while chunk := f.read(READ_CHUNK):
            data, pos = pending + chunk, 0
            while pos + 16 <= len(data):
                caplen = rec.unpack_from(data, pos)[2]
                if pos + 16 + caplen > len(data):
                    break
                packets += 1
                frame_bytes += caplen
                pos += 16 + caplen
            pending = data[pos:]
    return packets, frame_bytes


def measure(tool: str, path: Path, repeat: int) -> Measurement:
    reason = peers.available(tool)
    if reason:
        return Measurement(tool, note=reason)
    run = peers.RUNNERS[tool]
    times, packets = [], 0
    for i in range(repeat):
        started = time.perf_counter()
        try:
            packets = run(path)
        except Exception as exc:   # a peer's failure is a row in the table, not a crash
            log.error("%s failed: %s", tool, exc)
            return Measurement(tool, note=f"failed: {exc}")
        times.append(time.perf_counter() - started)
        log.info("%s run %d/%d: %.2f s", tool, i + 1, repeat, times[-1])
    return Measurement(tool, packets, statistics.median(times))


def peak_rss_during(fn):
    """Run ``fn`` and return (its result, peak RSS in bytes while it ran).

    Resets the kernel's high-water mark first (Linux clear_refs), so memory the
    process held before, e.g. for another tool, is not charged to ``fn``."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    result = fn()
    if reset:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return result, int(line.split()[1]) * 1024
    return result, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def format_table(results: list[Measurement], frame_bytes: int, repeat: int) -> str:
    ours = next((r for r in results if r.tool == "exfilwatch" and r.seconds), None)
    rows = [("tool", "packets", f"seconds (median of {repeat})", "packets/s", "Gbit/s",
             "time vs exfilwatch")]
    for r in results:
        if not r.seconds:
            rows.append((r.tool, "-", r.note, "-", "-", "-"))
            continue
        ratio = f"{r.seconds / ours.seconds:.2f}x" if ours else "n/a"
        rows.append((r.tool, f"{r.packets:,}", f"{r.seconds:.2f}", f"{r.packets / r.seconds:,.0f}",
                     f"{frame_bytes * 8 / r.seconds / 1e9:.2f}", ratio))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--capture", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--make-if-missing", action="store_true",
                    help="generate the capture with make_corpus.py (seed 1) when it is absent")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tools", default=",".join(peers.RUNNERS),
                    help="comma-separated subset of: " + ", ".join(peers.RUNNERS))
    args = ap.parse_args(argv)
    unknown = set(args.tools.split(",")) - set(peers.RUNNERS)
    if unknown:
        ap.error(f"unknown tool(s): {', '.join(sorted(unknown))}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.capture.exists():
        if not args.make_if_missing:
            sys.exit(f"{args.capture} does not exist; run make_corpus.py or pass --make-if-missing.")
        make_corpus(args.capture, seed=1)
    try:
        packets, frame_bytes = capture_totals(args.capture)
    except ValueError as exc:
        sys.exit(str(exc))
    print(f"capture {args.capture}: {packets:,} packets, {frame_bytes:,} frame bytes "
          f"(mean {frame_bytes / packets:.0f} B)")
    # exfilwatch first, so memory the peers leave behind cannot raise its peak RSS.
    tools = sorted(args.tools.split(","), key=lambda t: t != "exfilwatch")
    results, rss = [], None
    for tool in tools:
        if tool == "exfilwatch":
            result, rss = peak_rss_during(lambda: measure(tool, args.capture, args.repeat))
            results.append(result)
        else:
            results.append(measure(tool, args.capture, args.repeat))
    for r in results:
        if r.seconds and r.packets != packets:   # a tool that skipped packets did less work
            log.warning("%s processed %d of the capture's %d packets", r.tool, r.packets, packets)
    print(format_table(results, frame_bytes, args.repeat))
    if rss is not None and results[tools.index("exfilwatch")].seconds:
        print(f"exfilwatch peak RSS: {rss / 2**20:,.0f} MiB (whole process, Python included)")


if __name__ == "__main__":
    main()
