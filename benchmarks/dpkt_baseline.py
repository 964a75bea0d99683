"""Flow counting in pure Python with dpkt: the speed baseline and a test oracle.

It counts what the engine's flow-only pipeline counts: a bidirectional
5-tuple (Ethernet, 802.1Q or raw IP -> IPv4/IPv6 -> TCP/UDP), the initiator
being the sender of the first SYN (SYN without ACK) or else of the first
packet, per-direction packets and bytes (whole frames as captured), and the
first/last packet times. It has no timeouts and no tuple reuse: on captures
where no flow idles past the engine's timeouts and no 5-tuple is reused (the
generated corpus, by construction) both must agree exactly.

    python benchmarks/dpkt_baseline.py CAPTURE
"""
from __future__ import annotations

import argparse
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import dpkt

_ETHERNET, _RAW_LINKTYPES = 1, (101, 12, 14, 228, 229)
_TCP, _UDP = 6, 17


class FlowKey(NamedTuple):
    """A flow as seen from its initiator: ``src`` is the client side."""

    proto: int
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int


@dataclass(slots=True)
class FlowCounts:
    pkts_toserver: int
    pkts_toclient: int
    bytes_toserver: int
    bytes_toclient: int
    first_ts_us: int
    last_ts_us: int


def count_flows(path: str | Path) -> dict[FlowKey, FlowCounts]:
    """Count every TCP/UDP flow of a pcap or pcapng file."""
    # Per flow, keyed by the endpoint pair in sorted order ("low" < "high"):
    # [initiator_is_low, syn_seen, pkts_low, pkts_high, bytes_low, bytes_high, first, last]
    flows: dict[tuple, list] = {}
    with open(path, "rb") as f:
        reader = _reader(f)
        raw_ip = reader.datalink() in _RAW_LINKTYPES
        for ts, buf in reader:
            l3 = _network_layer(buf, raw_ip)
            if l3 is None:
                continue
            l4 = l3.data
            if isinstance(l4, dpkt.tcp.TCP):
                proto, syn = _TCP, (l4.flags & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK)) == dpkt.tcp.TH_SYN
            elif isinstance(l4, dpkt.udp.UDP):
                proto, syn = _UDP, False
            else:
                continue
            a, b = (l3.src, l4.sport), (l3.dst, l4.dport)
            from_low = a <= b
            key = (proto, a, b) if from_low else (proto, b, a)
            ts_us = round(ts * 1_000_000)
            flow = flows.get(key)
            if flow is None:
                flow = flows[key] = [from_low, syn, 0, 0, 0, 0, ts_us, ts_us]
            elif syn and not flow[1]:
                flow[0], flow[1] = from_low, True
            side = 2 if from_low else 3
            flow[side] += 1
            flow[side + 2] += len(buf)
            flow[7] = ts_us
    return dict(_oriented(key, flow) for key, flow in flows.items())


def _reader(f):
    magic = f.read(4)
    f.seek(0)
    return dpkt.pcapng.Reader(f) if magic == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(f)


def _network_layer(buf: bytes, raw_ip: bool):
    """The IPv4/IPv6 layer of a frame, or None when it carries something else."""
    try:
        if raw_ip:
            l3 = dpkt.ip.IP(buf) if buf[0] >> 4 == 4 else dpkt.ip6.IP6(buf)
        else:
            l3 = dpkt.ethernet.Ethernet(buf).data   # dpkt strips 802.1Q tags itself
    except (dpkt.UnpackError, IndexError):
        return None
    return l3 if isinstance(l3, (dpkt.ip.IP, dpkt.ip6.IP6)) else None


def _oriented(key: tuple, flow: list) -> tuple[FlowKey, FlowCounts]:
    proto, low, high = key
    init_low, _, pkts_low, pkts_high, bytes_low, bytes_high, first, last = flow
    client, server = (low, high) if init_low else (high, low)
    counts = (FlowCounts(pkts_low, pkts_high, bytes_low, bytes_high, first, last) if init_low
              else FlowCounts(pkts_high, pkts_low, bytes_high, bytes_low, first, last))
    return FlowKey(proto, _ntop(client[0]), client[1], _ntop(server[0]), server[1]), counts


def _ntop(addr: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(addr) == 16 else socket.AF_INET, addr)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture", type=Path)
    args = ap.parse_args(argv)
    started = time.perf_counter()
    flows = count_flows(args.capture)
    elapsed = time.perf_counter() - started
    packets = sum(c.pkts_toserver + c.pkts_toclient for c in flows.values())
    print(f"{len(flows):,} flows, {packets:,} packets in {elapsed:.1f} s "
          f"({packets / elapsed:,.0f} packets/s)")


if __name__ == "__main__":
    main()
