"""Synthetic TCP/UDP conversations with correct sequence numbers, for the
handshake capture tests: segments can be split, reordered, repeated or lost
before they are framed."""
from dataclasses import dataclass

from frames import V4_A, V4_B, eth, ipv4, tcp, udp

SYN, ACK, PSH_ACK, FIN_ACK = 0x02, 0x10, 0x18, 0x11
CLIENT_ISN, SERVER_ISN = 1000, 5000


@dataclass
class Segment:
    from_client: bool
    offset: int          # byte offset in that direction's stream
    data: bytes


def segments(chunks, split_at=None):
    """[(from_client, bytes)] -> Segments at their stream offsets; split_at
    (direction, k) additionally cuts the first chunk of that direction at k."""
    out, offsets = [], {True: 0, False: 0}
    cut_done = False
    for from_client, data in chunks:
        if split_at and not cut_done and split_at[0] == from_client and 0 < split_at[1] < len(data):
            k = split_at[1]
            out.append(Segment(from_client, offsets[from_client], data[:k]))
            out.append(Segment(from_client, offsets[from_client] + k, data[k:]))
            cut_done = True
        else:
            out.append(Segment(from_client, offsets[from_client], data))
        offsets[from_client] += len(data)
    return out


def tcp_frames(segs, sport=40000, dport=443, handshake=True, t0=0.0):
    """Frames of a TCP conversation carrying the segments in the order given."""
    frames, t = [], t0

    def frame(from_client, flags, seq, ack, payload=b""):
        nonlocal t
        t += 0.001
        if from_client:
            f = eth(0x0800, ipv4(6, tcp(flags, sport, dport, seq, ack, payload), V4_A, V4_B))
        else:
            f = eth(0x0800, ipv4(6, tcp(flags, dport, sport, seq, ack, payload), V4_B, V4_A))
        frames.append((t, f))

    if handshake:
        frame(True, SYN, CLIENT_ISN, 0)
        frame(False, SYN | ACK, SERVER_ISN, CLIENT_ISN + 1)
        frame(True, ACK, CLIENT_ISN + 1, SERVER_ISN + 1)
    for s in segs:
        isn = CLIENT_ISN if s.from_client else SERVER_ISN
        frame(s.from_client, PSH_ACK, isn + 1 + s.offset, 0, s.data)
    return frames


def udp_frames(datagrams, sport=50000, dport=443, t0=0.0):
    """[(from_client, payload)] -> UDP frames."""
    frames = []
    for i, (from_client, data) in enumerate(datagrams):
        if from_client:
            f = eth(0x0800, ipv4(17, udp(data, sport, dport), V4_A, V4_B))
        else:
            f = eth(0x0800, ipv4(17, udp(data, dport, sport), V4_B, V4_A))
        frames.append((t0 + 0.001 * (i + 1), f))
    return frames


def tls_record(content_type: int, body: bytes, version=0x0303) -> bytes:
    return bytes([content_type, version >> 8, version & 0xFF, len(body) >> 8, len(body) & 0xFF]) + body


def handshake_message(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body
