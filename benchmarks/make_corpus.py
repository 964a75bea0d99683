"""Writes the benchmark capture: a large, deterministic, realistic TLS pcap.

Same seed and same handshake pool file -> byte-identical output. Frames are
packed with ``struct`` into a reused chunk buffer; IPv4 and TCP checksums are
filled per chunk with numpy prefix sums, so they are correct without a
per-packet Python checksum loop.

    python benchmarks/make_corpus.py --seed 1 --out benchmarks/data/bench.pcap
"""
from __future__ import annotations

import argparse
import logging
import random
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from handshakes import load_or_make_pool
from sessions import ACK, SYN, Plan, Session

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_OUT = DATA_DIR / "bench.pcap"
DEFAULT_PACKETS = 1_600_000
CAPTURE_EPOCH = 1_705_309_200        # 2024-01-15 09:00:00 UTC, fixed so output is reproducible
CHUNK_BYTES = 32 << 20
RANDOM_POOL_BYTES = 8 << 20          # ciphertext bodies are slices of this
_PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
_SYN_OPTIONS_LEN, _OPTIONS_LEN = 20, 12     # MSS,SACK-perm,TS,NOP,WS / NOP,NOP,TS
_REC = struct.Struct("<IIII")
_TCP = struct.Struct("!HHIIBBHHH")
_TS_OPT = struct.Struct("!BBBBII")
_SYN_OPT = struct.Struct("!BBHBBBBIIBBBB")
_U16 = struct.Struct("!H")


@dataclass(frozen=True, slots=True)
class CorpusStats:
    packets: int
    sessions: int
    bulk_sessions: int
    ipv6_sessions: int
    tls13_sessions: int
    frame_bytes: int
    file_bytes: int
    max_concurrent_sessions: int
    capture_seconds: float

    @property
    def mean_frame(self) -> float:
        return self.frame_bytes / self.packets


def make_corpus(out: Path, seed: int, packets: int = DEFAULT_PACKETS,
                pool_path: Path | None = None) -> CorpusStats:
    """Plan sessions until ``packets`` packets are reached and write them to ``out``."""
    pool = load_or_make_pool(pool_path or DATA_DIR / f"handshake_pool_{seed}.bin", seed)
    plan = Plan(seed, pool)
    sessions: list[Session] = []
    all_pkts: list[tuple] = []
    while len(all_pkts) < packets:
        sess, pkts = plan.session(len(sessions))
        sessions.append(sess)
        all_pkts += pkts
    all_pkts.sort()
    log.info("planned %d sessions, %d packets", len(sessions), len(all_pkts))
    content = random.Random(seed ^ 0x5EED).randbytes(RANDOM_POOL_BYTES)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".part")
    with open(tmp, "wb") as f:
        frame_bytes = _FrameWriter(f, sessions, content).write(all_pkts)
    tmp.replace(out)
    return CorpusStats(
        packets=len(all_pkts), sessions=len(sessions),
        bulk_sessions=sum(s.bulk for s in sessions),
        ipv6_sessions=sum(len(s.client.ip) == 16 for s in sessions),
        tls13_sessions=sum(s.transcript.tls_version == "TLSv1.3" for s in sessions),
        frame_bytes=frame_bytes, file_bytes=out.stat().st_size,
        max_concurrent_sessions=_max_concurrent(sessions),
        capture_seconds=(all_pkts[-1][0] - all_pkts[0][0]) / 1e6)


class _FrameWriter:
    """Packs planned packets into pcap records, one chunk buffer at a time."""

    def __init__(self, f, sessions: list[Session], content: bytes):
        self.f, self.sessions, self.content = f, sessions, content
        self.buf = bytearray(CHUNK_BYTES + 65536)
        self.ip4_starts: list[int] = []
        self.tcp_starts: list[int] = []
        self.tcp_lens: list[int] = []
        self.pseudo: list[int] = []

    def write(self, pkts: list[tuple]) -> int:
        self.f.write(_PCAP_HEADER)
        buf, sessions = self.buf, self.sessions
        state: dict[int, _SessionFrames] = {}
        frame_bytes = off = 0
        for ts, sid, _k, d, flags, seq, ack, plen in pkts:
            st = state.get(sid)
            if st is None:
                st = state[sid] = _SessionFrames(sessions[sid], self.content)
            opt_len = _SYN_OPTIONS_LEN if flags & SYN else _OPTIONS_LEN
            tcp_len = 20 + opt_len + plen
            tpl = st.templates[d]
            ip = off + 16 + st.l2_len
            frame_len = st.l2_len + st.ip_len + tcp_len
            _REC.pack_into(buf, off, CAPTURE_EPOCH + ts // 1_000_000, ts % 1_000_000,
                           frame_len, frame_len)
            buf[off + 16:ip + st.ip_len] = tpl
            if st.ip_len == 20:
                _U16.pack_into(buf, ip + 2, 20 + tcp_len)
                _U16.pack_into(buf, ip + 4, st.next_ipid(d))
                self.ip4_starts.append(ip)
            else:
                _U16.pack_into(buf, ip + 4, tcp_len)
            t = ip + st.ip_len
            _TCP.pack_into(buf, t, st.ports[d], st.ports[1 - d], (st.isn[d] + seq) & 0xFFFFFFFF,
                           (st.isn[1 - d] + ack) & 0xFFFFFFFF if flags & ACK else 0,
                           (20 + opt_len) << 2, flags, st.window(d, flags), 0, 0)
            tsval, tsecr = st.tcp_timestamps(d, ts, flags)
            if opt_len == _SYN_OPTIONS_LEN:
                _SYN_OPT.pack_into(buf, t + 20, 2, 4, st.mss, 4, 2, 8, 10, tsval, tsecr, 1, 3, 3, 7)
            else:
                _TS_OPT.pack_into(buf, t + 20, 1, 1, 8, 10, tsval, tsecr)
            if plen:
                p = t + 20 + opt_len
                buf[p:p + plen] = st.streams[d][seq - 1:seq - 1 + plen]
            self.tcp_starts.append(t)
            self.tcp_lens.append(tcp_len)
            self.pseudo.append(st.pseudo_sum)
            off += 16 + frame_len
            frame_bytes += frame_len
            st.remaining -= 1
            if not st.remaining:
                del state[sid]      # frees the session's materialised streams
            if off >= CHUNK_BYTES:
                self._flush(off)
                off = 0
        self._flush(off)
        return frame_bytes

    def _flush(self, n: int) -> None:
        arr = np.frombuffer(self.buf, np.uint8, count=n + 2)   # +2: room for the odd-offset words
        sums = _PrefixSums(arr, n)
        tcp = np.array(self.tcp_starts, np.int64)
        tcp_sum = sums.sum(tcp, np.array(self.tcp_lens, np.int64))
        tcp_sum += np.array(self.pseudo, np.uint64) + np.array(self.tcp_lens, np.uint64)
        _store(arr, tcp + 16, tcp_sum)
        ip4 = np.array(self.ip4_starts, np.int64)
        _store(arr, ip4 + 10, sums.sum(ip4, np.full(len(ip4), 20, np.int64)))
        self.f.write(memoryview(self.buf)[:n])
        for lst in (self.ip4_starts, self.tcp_starts, self.tcp_lens, self.pseudo):
            lst.clear()


class _PrefixSums:
    """One's-complement sums of any byte range of a buffer, for many ranges at once."""

    def __init__(self, arr: np.ndarray, n: int):
        words = (n + 2) // 2
        w = arr[:2 * words].astype(np.uint64)
        self.even = np.zeros(words + 1, np.uint64)
        np.cumsum((w[0::2] << 8) | w[1::2], out=self.even[1:])
        odd = np.zeros(words, np.uint64)
        odd[:words - 1] = (w[1:-1:2] << 8) | w[2::2]
        self.odd = np.zeros(words + 1, np.uint64)
        np.cumsum(odd, out=self.odd[1:])
        self.arr = arr

    def sum(self, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        j, m = starts >> 1, lengths >> 1
        total = np.where(starts & 1, self.odd[j + m] - self.odd[j], self.even[j + m] - self.even[j])
        odd_len = (lengths & 1).astype(bool)
        total[odd_len] += self.arr[starts[odd_len] + lengths[odd_len] - 1].astype(np.uint64) << 8
        return total


def _store(arr: np.ndarray, at: np.ndarray, total: np.ndarray) -> None:
    for _ in range(4):
        total = (total & 0xFFFF) + (total >> 16)
    ck = ~total & 0xFFFF
    arr[at] = (ck >> 8).astype(np.uint8)
    arr[at + 1] = (ck & 0xFF).astype(np.uint8)


class _SessionFrames:
    """Per-session header templates and counters, alive while the session has packets left."""

    def __init__(self, s: Session, content: bytes):
        v6 = len(s.client.ip) == 16
        self.ip_len = 40 if v6 else 20
        self.mss = 1440 if v6 else 1460      # advertised MSS; segments are smaller by the TS option
        self.ports = (s.cport, s.sport)
        self.isn = s.isn
        self.remaining = s.npackets
        self.templates = (_l2l3(s.client, s.server, v6, 2 * s.sid),
                          _l2l3(s.server, s.client, v6, 2 * s.sid + 1))
        self.l2_len = len(self.templates[0]) - self.ip_len
        ip = s.client.ip + s.server.ip
        self.pseudo_sum = sum(struct.unpack(f"!{len(ip) // 2}H", ip)) + 6
        self.ipid = [s.isn[0] & 0xFFFF, s.isn[1] & 0xFFFF]
        self.ts_base = (s.isn[0] >> 7, s.isn[1] >> 7)
        self.last_tsval = [0, 0]
        self.streams = tuple(memoryview(_materialise(r, s, content)) for r in s.recipe)

    def next_ipid(self, d: int) -> int:
        self.ipid[d] = (self.ipid[d] + 1) & 0xFFFF
        return self.ipid[d]

    def window(self, d: int, flags: int) -> int:
        if flags & SYN:
            return 64240 if d == 0 else 65160
        return 501 if d == 0 else 509        # scaled by 2**7

    def tcp_timestamps(self, d: int, ts_us: int, flags: int) -> tuple[int, int]:
        """TSval on a 1 ms clock; TSecr echoes the peer's latest TSval, as stateful
        monitors (Suricata's stream engine) check on the SYN/ACK."""
        tsval = (self.ts_base[d] + ts_us // 1000) & 0xFFFFFFFF
        tsecr = 0 if flags == SYN else self.last_tsval[1 - d]
        self.last_tsval[d] = tsval
        return tsval, tsecr


def _l2l3(src, dst, v6, flow_label_seed) -> bytes:
    """Ethernet (+802.1Q) and IP header with length, ID and checksum left zero."""
    eth = dst.mac + src.mac
    eth += (struct.pack("!HH", 0x8100, src.vlan) if src.vlan is not None else b"")
    if v6:
        label = (flow_label_seed * 2654435761) & 0xFFFFF
        return eth + b"\x86\xdd" + struct.pack("!IHBB", 0x60000000 | label, 0, 6, src.ttl) + src.ip + dst.ip
    return eth + b"\x08\x00" + struct.pack("!BBHHHBBH", 0x45, 0, 0, 0, 0x4000, src.ttl, 6, 0) + src.ip + dst.ip


def _materialise(recipe: list, s: Session, content: bytes) -> bytes:
    """A direction's byte stream: real handshake flights, then application_data records."""
    parts = []
    span = len(content) - 20_000
    pos = (s.sid * 7919) % span
    for item in recipe:
        if isinstance(item, bytes):
            parts.append(item)
        else:
            parts.append(b"\x17\x03\x03" + item.to_bytes(2, "big"))
            parts.append(content[pos:pos + item])
            pos = (pos + item * 3 + 1) % span
    return b"".join(parts)


def _max_concurrent(sessions: list[Session]) -> int:
    events = sorted([(s.start_us, 1) for s in sessions] + [(s.end_us, -1) for s in sessions])
    open_now = peak = 0
    for _, delta in events:
        open_now += delta
        peak = max(peak, open_now)
    return peak


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--packets", type=int, default=DEFAULT_PACKETS)
    ap.add_argument("--pool", type=Path, help="handshake pool file (default: data/handshake_pool_SEED.bin)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    st = make_corpus(args.out, args.seed, args.packets, args.pool)
    elapsed = time.perf_counter() - started
    print(f"wrote {args.out} in {elapsed:.1f} s\n"
          f"  packets        {st.packets:,}\n"
          f"  sessions       {st.sessions:,} (bulk {st.bulk_sessions}, IPv6 {st.ipv6_sessions}, "
          f"TLS 1.3 {st.tls13_sessions})\n"
          f"  frame bytes    {st.frame_bytes:,} (file {st.file_bytes:,})\n"
          f"  mean frame     {st.mean_frame:.0f} B\n"
          f"  max concurrent {st.max_concurrent_sessions:,} sessions over {st.capture_seconds:.0f} s")


if __name__ == "__main__":
    main()
