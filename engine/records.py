"""Immutable records that cross the core boundary, one per ended flow.

NamedTuple rather than a frozen dataclass: the core builds one per flow, and
a frozen dataclass's __init__ (one object.__setattr__ per field) was most of
the cost of taking 14,000 flows out of the core.
"""
from typing import NamedTuple

PROTO_NAMES = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "IPv6-ICMP"}


class FlowRecord(NamedTuple):
    flow_id: int
    src_ip: str              # the initiator: SYN sender, else the first packet's source
    src_port: int
    dest_ip: str
    dest_port: int
    proto: int               # IANA protocol number
    vlan: tuple              # VLAN ids, outermost first
    tunnel_depth: int        # 0 when not encapsulated
    pkts_toserver: int
    pkts_toclient: int
    bytes_toserver: int      # whole frames as captured (inner packet when tunnelled)
    bytes_toclient: int
    start_us: int            # first packet, microseconds since the epoch
    end_us: int              # last packet
    emitted_us: int          # packet time at which the flow ended
    state: str               # "new" | "established" | "closed"
    reason: str              # "timeout" | "shutdown" | "memcap"
    tcp_flags_ts: int
    tcp_flags_tc: int
    icmp_type: int | None = None
    icmp_code: int | None = None
    response_icmp_type: int | None = None
    response_icmp_code: int | None = None
    interim: bool = False
    app_proto: str | None = None     # named by the Python layers from the handshake
    missed_bytes: int = 0    # acknowledged by the peer but never captured (capture loss)

    @property
    def proto_name(self) -> str:
        return PROTO_NAMES.get(self.proto, str(self.proto))


HALF_KINDS = ("none", "tls", "sslv2", "ssh", "quic")
HALF_FLAG_NAMES = ("truncated", "gap", "overlap_differs", "memcap", "malformed", "alert",
                   "established", "change_cipher_spec")


class HalfCapture(NamedTuple):
    """What the core kept of one direction of a handshake."""
    kind: str                # one of HALF_KINDS
    data: bytes              # the direction's bytes from its first payload byte
    start: int               # offset in data where TLS/SSH begins (after a preamble)
    flags: tuple             # names from HALF_FLAG_NAMES
    established_us: int | None


class HandshakeRecord(NamedTuple):
    """A flow's captured handshake, handed over once it is over (or the flow ended)."""
    flow_id: int
    src_ip: str              # the initiator
    src_port: int
    dest_ip: str
    dest_port: int
    proto: int
    vlan: tuple
    first_us: int            # the flow's first packet
    at_us: int               # packet time of the hand-over
    client: HalfCapture      # the initiator's bytes
    server: HalfCapture


class Ja4sshRecord(NamedTuple):
    """The counters of one JA4SSH window (200 packets) of an SSH flow."""
    flow_id: int
    src_ip: str
    src_port: int
    dest_ip: str
    dest_port: int
    proto: int
    vlan: tuple
    index: int               # 1 for the first window
    client_payload_mode: int
    server_payload_mode: int
    client_packets: int      # packets with payload
    server_packets: int
    client_acks: int         # packets without payload, with ACK
    server_acks: int
    at_us: int


class CaptureLossSample(NamedTuple):
    """ACK and gap events counted by the core since the previous sample
    (deltas, so that samples from several workers add up)."""
    ts_us: int               # packet time at the end of the batch
    ack_events: int
    gap_events: int
