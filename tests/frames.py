"""Literal header bytes for building test frames, layer by layer.

Each constant is the literal wire bytes of one header; the helpers only fill
in length fields so that a test reads as the stack it builds.
"""
import struct

MAC_PAIR = bytes.fromhex("020000000002" "020000000001")
ETH_IPV4 = MAC_PAIR + bytes.fromhex("0800")
ETH_IPV6 = MAC_PAIR + bytes.fromhex("86dd")

# TCP 12345 -> 443, seq 1, ack 0, data offset 5, SYN
TCP_SYN = bytes.fromhex("303901bb" "00000001" "00000000" "5002ffff" "00000000")
TCP_SYNACK_REPLY = bytes.fromhex("01bb3039" "00000064" "00000002" "5012ffff" "00000000")
TCP_ACK = bytes.fromhex("303901bb" "00000002" "00000065" "5010ffff" "00000000")
TCP_FIN_ACK = bytes.fromhex("303901bb" "00000002" "00000065" "5011ffff" "00000000")
TCP_FIN_ACK_REPLY = bytes.fromhex("01bb3039" "00000065" "00000003" "5011ffff" "00000000")
TCP_RST = bytes.fromhex("303901bb" "00000002" "00000000" "5004ffff" "00000000")
# UDP 5353 -> 53, length filled in
UDP_HDR = bytes.fromhex("14e90035" "0000" "0000")
ICMP_ECHO = bytes.fromhex("0800f7ff" "00010001")
ICMP_ECHO_REPLY = bytes.fromhex("0000ffff" "00010001")

V4_A = bytes.fromhex("0a000001")     # 10.0.0.1
V4_B = bytes.fromhex("0a000002")     # 10.0.0.2
V6_A = bytes.fromhex("20010db8000000000000000000000001")
V6_B = bytes.fromhex("20010db8000000000000000000000002")


def ipv4(proto: int, payload: bytes, src=V4_A, dst=V4_B, ident=1, frag_field=0x4000,
         options=b"") -> bytes:
    ihl = 5 + len(options) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(options) + len(payload),
                      ident, frag_field, 64, proto, 0, src, dst)
    return hdr + options + payload


def ipv6(next_header: int, payload: bytes, src=V6_A, dst=V6_B) -> bytes:
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), next_header, 64, src, dst) + payload


def udp(payload: bytes, sport=5353, dport=53) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(flags: int, sport=12345, dport=443, seq=1, ack=0, payload=b"") -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 0xFFFF, 0, 0) + payload


def eth(ethertype: int, payload: bytes) -> bytes:
    return MAC_PAIR + struct.pack("!H", ethertype) + payload


def vlan_tag(tpid: int, vid: int) -> bytes:
    """A tag as it sits after the MAC pair: TPID then TCI."""
    return struct.pack("!HH", tpid, vid)


def eth_tcp(flags, sport=12345, dport=443, src=V4_A, dst=V4_B, payload=b"") -> bytes:
    return eth(0x0800, ipv4(6, tcp(flags, sport, dport, payload=payload), src, dst))


# outer (tunnel endpoint) addresses, so inner and outer tuples differ
V4_OUTER_A = bytes.fromhex("c0000201")   # 192.0.2.1
V4_OUTER_B = bytes.fromhex("c0000202")   # 192.0.2.2
V6_OUTER_A = bytes.fromhex("20010db8ffff00000000000000000001")
V6_OUTER_B = bytes.fromhex("20010db8ffff00000000000000000002")


def pppoe_session(ppp: bytes, session=1) -> bytes:
    """PPPoE session header (version 1, type 1, code 0) with its length filled in."""
    return struct.pack("!BBHH", 0x11, 0, session, len(ppp)) + ppp


def ipv6_frag(next_header: int, offset: int, more: bool, ident: int, payload: bytes) -> bytes:
    """An IPv6 fragment extension header followed by its share of the payload."""
    return struct.pack("!BBHI", next_header, 0, offset | int(more), ident) + payload
