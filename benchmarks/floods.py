"""Hostile-traffic floods: each must leave the sensor running, its memory
within the configured caps plus a stated constant, and the right counters
moving (issue 7). Run every flood, each in its own process so that its
peak RSS is its own:

    python benchmarks/floods.py                 # all floods, a table, exit 1 if a bound fails
    python benchmarks/floods.py syn_flood --json

A flood is a generator of capture batches built in memory with numpy from
one frame template (no capture file, so the input's own memory stays one
batch). The whole sensor pipeline (core + handshake layer) consumes them
and its records are dropped batch by batch, as a sink would write them.

The memory bound of a flood is what the core reports as its caps
(FlowEngine.memory_bytes(): flow slots and index at max_flows, handshake
buffers at their memcap) plus a constant of CONSTANT_MIB for the Python
layers, one batch of records and allocator slack; peak RSS is measured
from the process's RSS once the pipeline is built (VmHWM, reset through
/proc/self/clear_refs).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from engine.capture import DEFAULT_BATCH_SIZE, Batch  # noqa: E402
from engine.config import CoreConfig  # noqa: E402

BATCH = DEFAULT_BATCH_SIZE          # what replay reads at a time
CONSTANT_MIB = 96
MAC_HDR = bytes.fromhex("020000000002" "020000000001" "0800")
SERVER_IP = 0xC6336401            # 198.51.100.1
CLIENT_NET = 0x0A000000           # 10.0.0.0/8
SYN, ACK, PSH, SYNACK = 0x02, 0x10, 0x08, 0x12


# ------------------------------------------------------------ frame batches
def _ipv4_tcp(payload_len: int) -> bytearray:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + payload_len, 1, 0x4000, 64, 6, 0,
                     bytes(4), bytes(4))
    tcp = struct.pack("!HHIIBBHHH", 0, 0, 0, 0, 0x50, 0, 0xFFFF, 0, 0)
    return bytearray(MAC_HDR + ip + tcp + bytes(payload_len))


def _ipv4_udp(payload_len: int) -> bytearray:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + payload_len, 1, 0x4000, 64, 17, 0,
                     bytes(4), bytes(4))
    udp = struct.pack("!HHHH", 0, 0, 8 + payload_len, 0)
    return bytearray(MAC_HDR + ip + udp + bytes(payload_len))


def _be(values, dtype: str, n: int, width: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(values, dtype=dtype), (n,)).astype(dtype).view(
        np.uint8).reshape(n, width)


def frames(template: bytearray, n: int, *, src, dst, sport, dport, flags=None, seq=None,
           ack=None, payload: np.ndarray | None = None, start_us: int = 0,
           step_us: int = 1) -> Batch:
    """n copies of an Ethernet/IPv4 TCP or UDP template with the per-packet
    fields set (scalars or arrays of n); payload, if given, is (n, len)."""
    rows = np.frombuffer(bytes(template) * n, dtype=np.uint8).reshape(n, len(template)).copy()
    rows[:, 26:30] = _be(src, ">u4", n, 4)
    rows[:, 30:34] = _be(dst, ">u4", n, 4)
    rows[:, 34:36] = _be(sport, ">u2", n, 2)
    rows[:, 36:38] = _be(dport, ">u2", n, 2)
    l4 = 42 if template[23] == 17 else 54
    if template[23] == 6:
        rows[:, 38:42] = _be(0 if seq is None else seq, ">u4", n, 4)
        rows[:, 42:46] = _be(0 if ack is None else ack, ">u4", n, 4)
        rows[:, 47] = np.broadcast_to(np.asarray(flags, dtype=np.uint8), (n,))
    if payload is not None:
        rows[:, l4:l4 + payload.shape[1]] = payload
    length = len(template)
    return Batch(buf=rows.tobytes(), offsets=np.arange(n, dtype=np.uint64) * length,
                 caplens=np.full(n, length, np.uint32), wirelens=np.full(n, length, np.uint32),
                 ts_us=start_us + np.arange(n, dtype=np.int64) * step_us,
                 linktypes=np.ones(n, np.uint16), count=n)


def _chunks(total: int):
    for start in range(0, total, BATCH):
        yield start, min(BATCH, total - start)


T0_US = 1_700_000_000_000_000


# ------------------------------------------------------------------ floods
def syn_flood(n: int = 2_000_000) -> Iterator[Batch]:
    """SYNs from n distinct (client, port) tuples to one server."""
    tpl = _ipv4_tcp(0)
    for start, count in _chunks(n):
        i = np.arange(start, start + count, dtype=np.uint64)
        yield frames(tpl, count, src=CLIENT_NET + (i >> 14), dst=SERVER_IP,
                     sport=1024 + (i & 0x3FFF), dport=443, flags=SYN, seq=i,
                     start_us=T0_US + start)


def udp_cardinality(n: int = 2_000_000) -> Iterator[Batch]:
    """UDP datagrams with random addresses and ports: nearly every one a new flow."""
    tpl = _ipv4_udp(32)
    rng = np.random.default_rng(7)
    for start, count in _chunks(n):
        yield frames(tpl, count, src=CLIENT_NET + rng.integers(0, 1 << 24, count),
                     dst=rng.integers(0x0B000000, 0xDF000000, count, dtype=np.uint64),
                     sport=rng.integers(1024, 65536, count),
                     dport=rng.integers(1, 65536, count), start_us=T0_US + start)


def established_1m(n: int = 1_000_000) -> Iterator[Batch]:
    """Three-way handshakes of n flows, all left open: the table holds them all."""
    tpl = _ipv4_tcp(0)
    t = T0_US
    for flags, forward in ((SYN, True), (SYNACK, False), (ACK, True)):
        for start, count in _chunks(n):
            i = np.arange(start, start + count, dtype=np.uint64)
            client, cport = CLIENT_NET + (i >> 14), 1024 + (i & 0x3FFF)
            src, dst, sport, dport = ((client, SERVER_IP, cport, 443) if forward
                                      else (SERVER_IP, client, 443, cport))
            yield frames(tpl, count, src=src, dst=dst, sport=sport, dport=dport, flags=flags,
                         seq=1000 if forward else 5000, ack=0 if flags == SYN else
                         (5001 if forward else 1001), start_us=t)
            t += count


def _huge_hello_stream(size: int) -> bytes:
    """`size` bytes of TLS handshake records (16 KiB each, the most a
    record may carry) holding one ClientHello that claims 16 MiB and is
    made of as many empty extensions as fit."""
    ext = b"".join(struct.pack("!HH", 0x1000 + (k & 0xFFF), 0) for k in range(size // 4))
    body = (b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
            + struct.pack("!H", 0xFFFF) + ext)
    message = b"\x01" + (0xFFFFFF).to_bytes(3, "big") + body
    records = b"".join(b"\x16\x03\x01" + struct.pack("!H", len(chunk)) + chunk
                       for chunk in (message[k:k + 16384] for k in range(0, len(message), 16384)))
    return records[:size]


def huge_hellos(flows: int = 6_000, segments: int = 60) -> Iterator[Batch]:
    """Each flow's client sends `segments` 1,400-byte segments (84 KB, past
    the 64 KiB a direction may keep) of a ClientHello with a 16 MiB length
    field and maximal extension counts, all flows interleaved so that
    together they want more than the handshake memcap."""
    tpl = _ipv4_tcp(1400)
    stream = np.frombuffer(_huge_hello_stream(segments * 1400), dtype=np.uint8)
    t = T0_US
    i = np.arange(flows, dtype=np.uint64)
    for seg in range(segments):
        payload = np.broadcast_to(stream[seg * 1400:(seg + 1) * 1400], (flows, 1400))
        yield frames(tpl, flows, src=CLIENT_NET + i, dst=SERVER_IP, sport=40000, dport=443,
                     flags=ACK | PSH, seq=1 + seg * 1400, ack=1, payload=payload, start_us=t)
        t += flows


def ooo_storm(depth: int = 10_000, flows: int = 20) -> Iterator[Batch]:
    """Per flow, a first TLS segment, then `depth` segments in reverse order:
    every one out of order, far beyond what a direction may hold."""
    tpl = _ipv4_tcp(100)
    head = np.frombuffer(_huge_hello_stream(100), dtype=np.uint8)
    t = T0_US
    for f in range(flows):
        yield frames(tpl, 1, src=CLIENT_NET + f, dst=SERVER_IP, sport=40000, dport=443,
                     flags=ACK | PSH, seq=1, ack=1, payload=head[None, :], start_us=t)
        seqs = 1 + 100 * np.arange(depth, 0, -1, dtype=np.uint64) + 100
        yield frames(tpl, depth, src=CLIENT_NET + f, dst=SERVER_IP, sport=40000, dport=443,
                     flags=ACK | PSH, seq=seqs, ack=1,
                     payload=np.full((depth, 100), 0x41, np.uint8), start_us=t + 1)
        t += depth + 1


def overlap_rewrites(flows: int = 2_000, rewrites: int = 50) -> Iterator[Batch]:
    """Retransmissions of a flow's first segment, each with different bytes."""
    tpl = _ipv4_tcp(200)
    head = np.frombuffer(_huge_hello_stream(200), dtype=np.uint8)
    t = T0_US
    i = np.arange(flows, dtype=np.uint64)
    for r in range(rewrites):
        payload = np.array(np.broadcast_to(head, (flows, 200)))
        if r:
            payload[:, 100:] = r & 0xFF
        yield frames(tpl, flows, src=CLIENT_NET + i, dst=SERVER_IP, sport=40000, dport=443,
                     flags=ACK | PSH, seq=1, ack=1, payload=payload, start_us=t)
        t += flows


def quic_initial_storm(n: int = 300_000) -> Iterator[Batch]:
    """QUIC v1 Initial-looking datagrams (long header, random DCID and
    body) from n distinct tuples: every one starts a handshake capture and
    a decryption attempt."""
    tpl = _ipv4_udp(1200)
    rng = np.random.default_rng(11)
    head = np.frombuffer(b"\xc3\x00\x00\x00\x01\x08", dtype=np.uint8)
    for start, count in _chunks(n):
        payload = rng.integers(0, 256, (count, 1200), dtype=np.uint8)
        payload[:, :6] = head
        i = np.arange(start, start + count, dtype=np.uint64)
        yield frames(tpl, count, src=CLIENT_NET + (i >> 14), dst=SERVER_IP,
                     sport=1024 + (i & 0x3FFF), dport=443, payload=payload,
                     start_us=T0_US + start)


@dataclass(frozen=True)
class Flood:
    make: Callable[[], Iterator[Batch]]
    # counter name -> minimum it must reach
    expect: dict
    config: CoreConfig = CoreConfig()


FLOODS = {
    "syn_flood": Flood(syn_flood, {"flows_created": 2_000_000, "flow.evicted_memcap": 1_000_000}),
    "udp_cardinality": Flood(udp_cardinality, {"flows_created": 1_990_000,
                                               "flow.evicted_memcap": 990_000}),
    "established_1m": Flood(established_1m, {"flows_created": 1_000_000,
                                             "flows_active": 1_000_000}),
    "huge_hellos": Flood(huge_hellos, {"handshake.truncated": 1, "handshake.memcap": 1}),
    # a direction holds 16 segments; once it drops one it is a gap and the
    # flow stops capturing, so later segments are not even looked at
    "ooo_storm": Flood(ooo_storm, {"tcp.ooo_dropped": 20}),
    # the first differing copy marks the flow (first copy wins), once per flow
    "overlap_rewrites": Flood(overlap_rewrites, {"tcp.overlap_differs": 2_000}),
    "quic_initial_storm": Flood(quic_initial_storm, {"flows_created": 300_000}),
}


# ------------------------------------------------------------------ running
def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def run_one(name: str) -> dict:
    """Run one flood in this process; the figures as a dict."""
    from engine.pipeline import SensorPipeline

    flood = FLOODS[name]
    pipeline = SensorPipeline(flood.config)
    batches = flood.make()
    first = next(batches)                      # numpy and the batch machinery warmed up
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")                          # VmHWM := VmRSS from here on
    base_kib = _rss_kib("VmRSS")
    packets = records = 0
    started = time.perf_counter()
    for batch in itertools.chain((first,), batches):
        records += len(pipeline.feed(batch))
        packets += batch.count
    seconds = time.perf_counter() - started
    counters = pipeline.engine.counters()      # before the flush ends every flow
    memory = pipeline.engine.memory_bytes()
    peak_kib = _rss_kib("VmHWM")
    records += len(pipeline.finish())
    bound = memory["flow_table_cap"] + memory["handshakes_cap"] + memory["fragments_cap"] \
        + (CONSTANT_MIB << 20)
    missing = {k: (counters.get(k, 0), v) for k, v in flood.expect.items()
               if counters.get(k, 0) < v}
    return {
        "flood": name,
        "packets": packets,
        "seconds": round(seconds, 3),
        "packets_per_s": round(packets / seconds),
        "records": records,
        "peak_rss_mib": round((peak_kib - base_kib) / 1024, 1),
        "bound_mib": round(bound / 2**20, 1),
        "counters": {k: counters[k] for k in sorted(counters)
                     if counters[k] and not k.startswith("decode.")},
        "expected_counters_missing": missing,
        "ok": (peak_kib - base_kib) * 1024 <= bound and not missing,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("floods", nargs="*", choices=[[], *FLOODS], metavar="FLOOD",
                        help=f"which floods (default all): {', '.join(FLOODS)}")
    parser.add_argument("--json", action="store_true",
                        help="run in this process and print one JSON result per flood")
    args = parser.parse_args(argv)
    names = args.floods or list(FLOODS)
    if args.json:
        for name in names:
            print(json.dumps(run_one(name)), flush=True)
        return 0
    results = []
    for name in names:
        out = subprocess.run([sys.executable, os.path.abspath(__file__), name, "--json"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{name}: the flood crashed the sensor (exit {out.returncode}):\n{out.stderr}")
            results.append({"flood": name, "ok": False})
            continue
        results.append(json.loads(out.stdout))
    print(f"{'flood':<20}{'packets':>11}{'pkt/s':>12}{'peak RSS':>11}{'bound':>10}  counters")
    for r in results:
        if "packets" not in r:
            continue
        moved = ", ".join(f"{k}={r['counters'].get(k, 0):,}" for k in FLOODS[r["flood"]].expect)
        print(f"{r['flood']:<20}{r['packets']:>11,}{r['packets_per_s']:>12,}"
              f"{r['peak_rss_mib']:>8} MiB{r['bound_mib']:>7} MiB  {moved}"
              f"{'' if r['ok'] else '  <-- FAILS ' + str(r['expected_counters_missing'])}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
