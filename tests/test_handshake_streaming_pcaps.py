"""Streaming over real handshakes: the TLS flows of the demo captures, with
the ClientHello and the server's first flight each split at every offset
(and the two pieces swapped), must give the same captured bytes and the
same JA3/JA4/JA4S as the capture as it is (STYLE.md item 14)."""
from pathlib import Path

import dpkt
import pytest

from batches import make_batch
from engine._core import FlowEngine, split_tls_records
from engine.config import CoreConfig
from engine.handshake import HandshakeInterpreter

PCAPS = Path(__file__).resolve().parent.parent / "pcaps"


def _first_tls_flow_frames(name):
    """(ts, frame) of the first TCP connection to port 443 in a demo capture."""
    frames, port = [], None
    with open(PCAPS / name, "rb") as fh:
        for ts, buf in dpkt.pcap.Reader(fh):
            tcp = dpkt.ethernet.Ethernet(buf).data.data
            if not isinstance(tcp, dpkt.tcp.TCP) or 443 not in (tcp.sport, tcp.dport):
                continue
            client_port = tcp.sport if tcp.dport == 443 else tcp.dport
            port = port or client_port
            if client_port == port:
                frames.append((ts, bytes(buf)))
    return frames


def _split(frame, k, swap):
    """The frame's TCP payload cut at k into two frames (optionally swapped)."""
    eth = dpkt.ethernet.Ethernet(frame)
    ip, tcp = eth.data, eth.data.data
    parts = []
    for seq_off, data in ((0, tcp.data[:k]), (k, tcp.data[k:])):
        t = dpkt.tcp.TCP(bytes(tcp))
        t.seq = (tcp.seq + seq_off) & 0xFFFFFFFF
        t.data = data
        t.sum = 0
        i = dpkt.ip.IP(bytes(ip))
        i.data = t
        i.len = 20 + len(bytes(t))
        i.sum = 0
        e = dpkt.ethernet.Ethernet(bytes(eth))
        e.data = i
        parts.append(bytes(e))
    return parts[::-1] if swap else parts


def _session(frames):
    engine = FlowEngine(CoreConfig())
    engine.process(make_batch(frames))
    engine.flush()
    (hs,) = engine.take_handshakes()
    s = HandshakeInterpreter().interpret(hs)
    # the handshake messages, not the raw bytes: how much of the segment that
    # carries the first application data is kept depends on where it was cut
    return (split_tls_records(hs.client.data)[0], split_tls_records(hs.server.data)[0],
            hs.client.flags, hs.server.flags, s.ja3(), s.ja4(), s.ja4s())


@pytest.mark.parametrize("name", ["benign_browsing.pcap", "exfil_tls_selfsigned.pcap"])
def test_real_handshakes_split_at_every_offset_give_the_same_record(name):
    frames = _first_tls_flow_frames(name)
    reference = _session(frames)
    payload_frames = [i for i, (_, f) in enumerate(frames)
                      if len(dpkt.ethernet.Ethernet(f).data.data.data) > 0][:2]
    for index in payload_frames:      # the ClientHello, then the server's first segment
        ts, frame = frames[index]
        size = len(dpkt.ethernet.Ethernet(frame).data.data.data)
        for k in range(1, size):
            for swap in (False, True):
                pieces = [(ts, p) for p in _split(frame, k, swap)]
                assert _session(frames[:index] + pieces + frames[index + 1:]) == reference, \
                    (index, k, swap)
