"""decode_packet, layer by layer: literal header bytes in, decoded fields out.

Every frame is spelled out as the wire bytes of its headers (frames.py fills
in only length fields). flow_len is what the flow table charges: the whole
frame, or for a tunnelled packet the inner packet from its first inner
header, as Suricata counts its tunnel pseudo-packets.
"""
import random
import socket
import struct

import pytest

from engine._core import DECODE_STATUS_NAMES, decode_packet

from batches import run_engine
from frames import (
    MAC_PAIR, V4_A, V4_B, V4_OUTER_A, V4_OUTER_B, V6_B, V6_OUTER_A, V6_OUTER_B,
    eth, ipv4, ipv6, pppoe_session, tcp, udp, vlan_tag,
)

LT_NULL, LT_ETHERNET, LT_PPP, LT_RAW_BSD, LT_RAW_OPENBSD = 0, 1, 9, 12, 14
LT_RAW, LT_LOOP, LT_LINUX_SLL, LT_IPV4, LT_IPV6, LT_LINUX_SLL2 = 101, 108, 113, 228, 229, 276

PSH_ACK = 0x18
DATA = b"exfil-bytes"
# the innermost packet most tests carry: 10.0.0.1:12345 -> 10.0.0.2:443, PSH|ACK
INNER_V4 = ipv4(6, tcp(PSH_ACK, payload=DATA))
INNER_V6 = ipv6(6, tcp(PSH_ACK, payload=DATA))


def decode(frame, linktype=LT_ETHERNET):
    return decode_packet(frame, linktype)


def assert_inner_tcp(d, family=4, depth=0):
    """The fields of INNER_V4 / INNER_V6."""
    assert d["status"] == "ok"
    assert d["family"] == family
    if family == 4:
        assert (d["src_ip"], d["dst_ip"]) == ("10.0.0.1", "10.0.0.2")
    else:
        assert (d["src_ip"], d["dst_ip"]) == ("2001:db8::1", "2001:db8::2")
    assert (d["proto"], d["sport"], d["dport"]) == (6, 12345, 443)
    assert d["tcp_flags"] == PSH_ACK
    assert d["payload"] == DATA
    assert d["depth"] == depth


@pytest.mark.parametrize("src, dst", [
    ("0.0.0.0", "255.255.255.255"),
    ("9.10.99.100", "199.200.249.250"),
    ("1.0.20.109", "110.101.190.5"),
])
def test_ipv4_addresses_are_dotted_decimal_without_leading_zeros(src, dst):
    frame = ipv4(6, tcp(PSH_ACK, payload=DATA), src=socket.inet_aton(src), dst=socket.inet_aton(dst))
    d = decode_packet(frame, LT_RAW)
    assert (d["src_ip"], d["dst_ip"]) == (src, dst)


def outer_ipv4(proto, payload):
    return ipv4(proto, payload, src=V4_OUTER_A, dst=V4_OUTER_B)


def outer_ipv6(next_header, payload):
    return ipv6(next_header, payload, src=V6_OUTER_A, dst=V6_OUTER_B)


# ------------------------------------------------------------------ Ethernet

def test_ethernet_ipv4_tcp_gives_tuple_flags_payload_and_whole_frame_length():
    frame = eth(0x0800, INNER_V4)
    d = decode(frame)
    assert_inner_tcp(d)
    assert d["vlan"] == ()
    assert d["flow_len"] == len(frame)


def test_ethernet_padding_is_charged_but_not_in_payload():
    frame = eth(0x0800, INNER_V4) + bytes(6)   # minimum-size padding after the IP packet
    d = decode(frame)
    assert d["payload"] == DATA
    assert d["flow_len"] == len(frame)


def test_ethernet_arp_is_not_flow():
    arp = bytes.fromhex("0001080006040001" "020000000001" "0a000001" "000000000000" "0a000002")
    assert decode(eth(0x0806, arp))["status"] == "not_flow"


@pytest.mark.parametrize("cut", [0, 1, 13])
def test_ethernet_shorter_than_its_header_is_l2_truncated(cut):
    assert decode(eth(0x0800, INNER_V4)[:cut])["status"] == "l2_truncated"


# ---------------------------------------------------------------- VLAN tags

def test_8021q_tag_becomes_vlan_id_without_priority_bits():
    # TCI 0xa064: priority 5, VLAN 100
    frame = MAC_PAIR + bytes.fromhex("8100" "a064" "0800") + INNER_V4
    d = decode(frame)
    assert_inner_tcp(d)
    assert d["vlan"] == (100,)
    assert d["flow_len"] == len(frame)


def test_qinq_88a8_then_8100_keeps_both_ids_outermost_first():
    frame = MAC_PAIR + bytes.fromhex("88a8" "000a" "8100" "0014" "0800") + INNER_V4
    d = decode(frame)
    assert_inner_tcp(d)
    assert d["vlan"] == (10, 20)


def test_three_tags_are_all_kept():
    frame = MAC_PAIR + bytes.fromhex("88a8000a" "81000014" "8100001e" "0800") + INNER_V4
    assert decode(frame)["vlan"] == (10, 20, 30)


def test_fourth_tag_is_dropped_from_the_key_and_counted():
    frame = (MAC_PAIR + vlan_tag(0x88A8, 10) + vlan_tag(0x8100, 20) + vlan_tag(0x8100, 30)
             + vlan_tag(0x8100, 40) + bytes.fromhex("0800") + INNER_V4)
    assert decode(frame)["vlan"] == (10, 20, 30)
    records, counters = run_engine([(1.0, frame)])
    assert records[0].vlan == (10, 20, 30)
    assert counters["decode.vlan_extra_tags"] == 1


def test_vlan_tag_cut_short_is_l2_truncated():
    assert decode(MAC_PAIR + bytes.fromhex("8100" "00"))["status"] == "l2_truncated"


# --------------------------------------------------------------------- MPLS

def test_mpls_single_label_ipv4_by_version_nibble():
    # label 16, bottom of stack, TTL 64
    frame = eth(0x8847, bytes.fromhex("00010140") + INNER_V4)
    d = decode(frame)
    assert_inner_tcp(d)
    assert d["flow_len"] == len(frame)


def test_mpls_two_labels_are_skipped_to_the_bottom_of_stack():
    frame = eth(0x8847, bytes.fromhex("00010040" "00011140") + INNER_V4)
    assert_inner_tcp(decode(frame))


def test_mpls_ipv4_explicit_null_label():
    assert_inner_tcp(decode(eth(0x8847, bytes.fromhex("00000140") + INNER_V4)))


def test_mpls_ipv6_explicit_null_label():
    assert_inner_tcp(decode(eth(0x8847, bytes.fromhex("00002140") + INNER_V6)), family=6)


def test_mpls_ethernet_pseudowire_behind_control_word():
    inner_eth = MAC_PAIR + bytes.fromhex("8100" "0042" "0800") + INNER_V4
    frame = eth(0x8847, bytes.fromhex("00010140" "00000000") + inner_eth)
    d = decode(frame)
    assert_inner_tcp(d)
    assert d["vlan"] == (0x42,)          # the pseudowire's own tag
    assert d["flow_len"] == len(frame)   # a pseudowire is not a tunnel here


def test_mpls_label_stack_without_bottom_is_l2_truncated():
    assert decode(eth(0x8847, bytes.fromhex("00010040")))["status"] == "l2_truncated"


# -------------------------------------------------------------------- PPPoE

@pytest.mark.parametrize("ppp_proto", ["0021", "21"], ids=["full", "compressed"])
def test_pppoe_session_ipv4(ppp_proto):
    frame = eth(0x8864, pppoe_session(bytes.fromhex(ppp_proto) + INNER_V4))
    d = decode(frame)
    assert_inner_tcp(d)
    assert d["flow_len"] == len(frame)


@pytest.mark.parametrize("ppp_proto", ["0057", "57"], ids=["full", "compressed"])
def test_pppoe_session_ipv6(ppp_proto):
    frame = eth(0x8864, pppoe_session(bytes.fromhex(ppp_proto) + INNER_V6))
    assert_inner_tcp(decode(frame), family=6)


def test_pppoe_lcp_is_not_flow():
    assert decode(eth(0x8864, pppoe_session(bytes.fromhex("c021" "01010004"))))["status"] \
        == "not_flow"


# --------------------------------------------------------------------- IPv4

def test_ipv4_options_are_skipped_by_ihl():
    # NOP, NOP, router alert (4 bytes), end: IHL 7
    frame = eth(0x0800, ipv4(6, tcp(PSH_ACK, payload=DATA),
                             options=bytes.fromhex("01019404" "00000000")))
    assert frame[14] == 0x47
    assert_inner_tcp(decode(frame))


@pytest.mark.parametrize("first_byte", [0x44, 0x55, 0x35], ids=["ihl4", "version5", "version3"])
def test_ipv4_bad_version_or_ihl_is_ipv4_header(first_byte):
    packet = bytearray(INNER_V4)
    packet[0] = first_byte
    assert decode(eth(0x0800, bytes(packet)))["status"] == "ipv4_header"


def test_ipv4_total_length_below_ihl_is_ipv4_header():
    packet = bytearray(INNER_V4)
    packet[2:4] = struct.pack("!H", 19)
    assert decode(eth(0x0800, bytes(packet)))["status"] == "ipv4_header"


def test_ipv4_cut_by_snaplen_still_decodes_and_is_counted():
    frame = eth(0x0800, INNER_V4)[:-4]
    d = decode(frame)
    assert d["status"] == "ok"
    assert d["payload"] == DATA[:-4]
    assert d["flow_len"] == len(frame)
    _, counters = run_engine([(1.0, frame)])
    assert counters["decode.ipv4_truncated"] == 1


def test_ipv4_unknown_protocol_is_not_flow():
    assert decode(eth(0x0800, ipv4(132, bytes(12))))["status"] == "not_flow"


# --------------------------------------------------------------------- IPv6

HOP_BY_HOP_TO_DSTOPTS = bytes.fromhex("3c00" "010400000000")   # PadN, next: dest options
DSTOPTS_TO_ROUTING = bytes.fromhex("2b00" "010400000000")      # next: routing
ROUTING_TO_TCP = bytes.fromhex("06" "00" "00" "00" "00000000")  # type 0, no segments left


def test_ipv6_hop_by_hop_destination_options_routing_then_tcp():
    frame = eth(0x86DD, ipv6(0, HOP_BY_HOP_TO_DSTOPTS + DSTOPTS_TO_ROUTING + ROUTING_TO_TCP
                             + tcp(PSH_ACK, payload=DATA)))
    d = decode(frame)
    assert_inner_tcp(d, family=6)
    assert d["flow_len"] == len(frame)


def test_ipv6_longer_extension_header_uses_its_length_field():
    # destination options with hdr ext len 1: 16 bytes
    dstopts = bytes.fromhex("0601" "010c" + "00" * 12)
    assert_inner_tcp(decode(eth(0x86DD, ipv6(60, dstopts + tcp(PSH_ACK, payload=DATA)))),
                     family=6)


@pytest.mark.parametrize("payload", [
    bytes.fromhex("00000001" "00000001") + bytes(16),            # ESP
    b"",                                                         # no next header
], ids=["esp", "no_next_header"])
def test_ipv6_esp_and_no_next_header_are_not_flow(payload):
    next_header = 50 if payload else 59
    assert decode(eth(0x86DD, ipv6(next_header, payload)))["status"] == "not_flow"


def test_ipv6_esp_behind_hop_by_hop_is_not_flow():
    hop_by_hop = bytes.fromhex("3200" "010400000000")
    assert decode(eth(0x86DD, ipv6(0, hop_by_hop + bytes(16))))["status"] == "not_flow"


def test_ipv6_extension_header_past_the_packet_is_ipv6_exthdr():
    # hop-by-hop claims 24 bytes, 8 are there
    assert decode(eth(0x86DD, ipv6(0, bytes.fromhex("0602" "010400000000"))))["status"] \
        == "ipv6_exthdr"


def test_ipv6_short_header_is_ipv6_header():
    assert decode(eth(0x86DD, INNER_V6[:39]))["status"] == "ipv6_header"


# ---------------------------------------------------------------- TCP / UDP

def test_tcp_options_are_skipped_by_data_offset():
    # data offset 7: MSS 1460, NOP NOP, SACK permitted... padded to 8 bytes
    header = bytes.fromhex("303901bb" "00000001" "00000000" "7002ffff" "00000000"
                           "020405b4" "01010402")
    d = decode(eth(0x0800, ipv4(6, header + b"syn-data")))
    assert (d["sport"], d["dport"], d["tcp_flags"]) == (12345, 443, 0x02)
    assert d["payload"] == b"syn-data"


@pytest.mark.parametrize("segment", [
    bytes.fromhex("303901bb0000000100000000"),                   # 12 bytes
    bytes.fromhex("303901bb" "00000001" "00000000" "4002ffff" "00000000"),   # offset 4
    bytes.fromhex("303901bb" "00000001" "00000000" "6002ffff" "00000000"),   # offset past end
], ids=["short", "offset_below_5", "offset_past_end"])
def test_tcp_bad_header_is_tcp_header(segment):
    assert decode(eth(0x0800, ipv4(6, segment)))["status"] == "tcp_header"


def test_udp_ports_and_payload():
    frame = eth(0x0800, ipv4(17, udp(b"query", sport=5353, dport=53)))
    d = decode(frame)
    assert (d["status"], d["proto"], d["sport"], d["dport"]) == ("ok", 17, 5353, 53)
    assert d["payload"] == b"query"
    assert d["tcp_flags"] == 0


def test_udp_length_beyond_the_packet_uses_the_captured_bytes():
    datagram = bytearray(udp(b"query"))
    datagram[4:6] = struct.pack("!H", 200)
    assert decode(eth(0x0800, ipv4(17, bytes(datagram))))["payload"] == b"query"


def test_udp_shorter_than_its_header_is_udp_header():
    assert decode(eth(0x0800, ipv4(17, bytes.fromhex("14e90035"))))["status"] == "udp_header"


# --------------------------------------------------------------------- ICMP

@pytest.mark.parametrize("icmp,ports", [
    (bytes.fromhex("0800f7ff00010001"), (8, 0)),     # echo request, reply counterpart
    (bytes.fromhex("0000ffff00010001"), (0, 8)),     # echo reply
    (bytes.fromhex("0d00000000010001") + bytes(12), (13, 14)),   # timestamp request
    (bytes.fromhex("0b00000000000000") + bytes(28), (11, 255)),  # time exceeded: none
], ids=["echo", "echo_reply", "timestamp", "time_exceeded"])
def test_icmp_type_code_and_counterpart_ports(icmp, ports):
    d = decode(eth(0x0800, ipv4(1, icmp)))
    assert (d["status"], d["proto"]) == ("ok", 1)
    assert (d["icmp_type"], d["icmp_code"]) == (icmp[0], icmp[1])
    assert (d["sport"], d["dport"]) == ports


def test_icmp_code_is_reported():
    # destination unreachable, port unreachable, quoting nothing in particular
    d = decode(eth(0x0800, ipv4(1, bytes.fromhex("0303fcfc00000000"))))
    assert (d["icmp_type"], d["icmp_code"], d["sport"], d["dport"]) == (3, 3, 3, 255)


@pytest.mark.parametrize("icmp_type,ports", [(135, (135, 136)), (136, (136, 135)),
                                             (128, (128, 129))],
                         ids=["neighbour_solicitation", "neighbour_advert", "echo"])
def test_icmpv6_counterpart_ports(icmp_type, ports):
    message = bytes([icmp_type, 0]) + bytes.fromhex("0000" "00000000") + V6_B
    d = decode(eth(0x86DD, ipv6(58, message)))
    assert (d["status"], d["proto"], d["icmp_type"]) == ("ok", 58, icmp_type)
    assert (d["sport"], d["dport"]) == ports


def test_icmp_shorter_than_type_code_checksum_is_icmp_header():
    assert decode(eth(0x0800, ipv4(1, bytes.fromhex("0800"))))["status"] == "icmp_header"


# ---------------------------------------------------------------------- GRE

def gre_frame(gre_header, payload):
    return eth(0x0800, outer_ipv4(47, gre_header + payload))


def test_gre_plain_ipv4_charges_the_inner_ip_packet():
    d = decode(gre_frame(bytes.fromhex("0000" "0800"), INNER_V4))
    assert_inner_tcp(d, depth=1)
    assert d["flow_len"] == len(INNER_V4)


def test_gre_with_checksum_key_and_sequence_skips_all_three():
    header = bytes.fromhex("b000" "0800" "00000000" "0000002a" "00000007")
    d = decode(gre_frame(header, INNER_V4))
    assert_inner_tcp(d, depth=1)
    assert d["flow_len"] == len(INNER_V4)


def test_gre_ipv6_payload():
    d = decode(gre_frame(bytes.fromhex("0000" "86dd"), INNER_V6))
    assert_inner_tcp(d, family=6, depth=1)
    assert d["flow_len"] == len(INNER_V6)


def test_gre_transparent_bridging_charges_from_the_inner_ethernet():
    inner_eth = eth(0x0800, INNER_V4)
    d = decode(gre_frame(bytes.fromhex("0000" "6558"), inner_eth))
    assert_inner_tcp(d, depth=1)
    assert d["flow_len"] == len(inner_eth)


def test_gre_unknown_version_is_tunnel_error():
    assert decode(gre_frame(bytes.fromhex("0002" "0800"), INNER_V4))["status"] == "tunnel"


def test_gre_header_flags_past_the_packet_is_tunnel_error():
    assert decode(gre_frame(bytes.fromhex("b000" "0800" "0000"), b""))["status"] == "tunnel"


def test_erspan_type_1_has_no_header_after_gre():
    inner_eth = eth(0x0800, INNER_V4)
    d = decode(gre_frame(bytes.fromhex("0000" "88be"), inner_eth))
    assert_inner_tcp(d, depth=1)
    assert d["vlan"] == ()
    assert d["flow_len"] == len(inner_eth)


ERSPAN_II = bytes.fromhex("1064" "0001" "00000000")   # version 1, VLAN 100, session 1


def test_erspan_type_2_vlan_becomes_a_vlan_id_and_its_header_is_charged():
    inner_eth = eth(0x0800, INNER_V4)
    d = decode(gre_frame(bytes.fromhex("1000" "88be" "00000001"), ERSPAN_II + inner_eth))
    assert_inner_tcp(d, depth=1)
    assert d["vlan"] == (100,)
    assert d["flow_len"] == len(ERSPAN_II) + len(inner_eth)


def test_erspan_type_2_vlan_follows_the_outer_tag():
    inner_eth = eth(0x0800, INNER_V4)
    frame = (MAC_PAIR + bytes.fromhex("8100" "0007" "0800")
             + outer_ipv4(47, bytes.fromhex("1000" "88be" "00000001") + ERSPAN_II + inner_eth))
    assert decode(frame)["vlan"] == (7, 100)


# version 2, VLAN 100, session 1, timestamp, SGT, flags without / with the O bit
ERSPAN_III = bytes.fromhex("2064" "0001" "00000000" "00000000")
ERSPAN_III_PLATFORM = bytes.fromhex("2064" "0001" "00000000" "00000001" "0800000000000000")


@pytest.mark.parametrize("erspan", [ERSPAN_III, ERSPAN_III_PLATFORM],
                         ids=["no_platform_subheader", "platform_subheader"])
def test_erspan_type_3_skips_its_header_and_keys_on_its_vlan(erspan):
    inner_eth = eth(0x0800, INNER_V4)
    d = decode(gre_frame(bytes.fromhex("1000" "22eb" "00000001"), erspan + inner_eth))
    assert_inner_tcp(d, depth=1)
    assert d["vlan"] == (100,)
    assert d["flow_len"] == len(erspan) + len(inner_eth)


def test_erspan_type_3_header_cut_short_is_tunnel_error():
    frame = gre_frame(bytes.fromhex("1000" "22eb" "00000001"), ERSPAN_III[:11])
    assert decode(frame)["status"] == "tunnel"


@pytest.mark.parametrize("ppp", ["ff030021", "0021", "21"])
def test_pptp_enhanced_gre_carries_ppp_and_charges_from_the_ppp_header(ppp):
    # flags K and S, version 1, protocol PPP; key = payload length + call id
    inner = bytes.fromhex(ppp) + INNER_V4
    header = bytes.fromhex("3001" "880b") + struct.pack("!HH", len(inner), 7) + bytes(4)
    d = decode(gre_frame(header, inner))
    assert_inner_tcp(d, depth=1)
    assert d["flow_len"] == len(inner)


def test_pptp_enhanced_gre_with_acknowledgment_number():
    inner = bytes.fromhex("ff030021") + INNER_V4
    header = bytes.fromhex("3081" "880b") + struct.pack("!HH", len(inner), 7) + bytes(8)
    assert_inner_tcp(decode(gre_frame(header, inner)), depth=1)


def test_gre_version_1_without_key_is_tunnel_error():
    assert decode(gre_frame(bytes.fromhex("1001" "880b" "00000001"), b"\x21" + INNER_V4))[
        "status"] == "tunnel"


# ----------------------------------------------------------- UDP tunnels

VXLAN = bytes.fromhex("08000000" "00006400")          # I flag, VNI 100


def udp_frame(payload, sport, dport):
    return eth(0x0800, outer_ipv4(17, udp(payload, sport=sport, dport=dport)))


@pytest.mark.parametrize("sport,dport", [(50000, 4789), (4789, 50000)], ids=["dport", "sport"])
def test_vxlan_on_either_port_charges_the_inner_ip_packet(sport, dport):
    d = decode(udp_frame(VXLAN + eth(0x0800, INNER_V4), sport, dport))
    assert_inner_tcp(d, depth=1)
    assert d["flow_len"] == len(INNER_V4)   # the inner Ethernet header is skipped


def test_vxlan_inner_vlan_tag_is_kept():
    inner_eth = MAC_PAIR + bytes.fromhex("8100" "0033" "0800") + INNER_V4
    assert decode(udp_frame(VXLAN + inner_eth, 50000, 4789))["vlan"] == (0x33,)


def test_vxlan_without_the_vni_flag_stays_plain_udp():
    payload = bytes.fromhex("00000000" "00006400") + eth(0x0800, INNER_V4)
    d = decode(udp_frame(payload, 50000, 4789))
    assert (d["status"], d["proto"], d["depth"], d["dport"]) == ("ok", 17, 0, 4789)
    assert d["payload"] == payload


def test_vxlan_outer_udp_flow_is_charged_the_whole_frame():
    frame = udp_frame(VXLAN + eth(0x0800, INNER_V4), 50000, 4789)
    records, _ = run_engine([(1.0, frame)])
    by_proto = {r.proto: r for r in records}
    assert (by_proto[17].src_ip, by_proto[17].dest_port) == ("192.0.2.1", 4789)
    assert by_proto[17].bytes_toserver == len(frame)
    assert by_proto[17].tunnel_depth == 0
    assert by_proto[6].bytes_toserver == len(INNER_V4)
    assert by_proto[6].tunnel_depth == 1


GENEVE_ETH = bytes.fromhex("0000" "6558" "00006400")
# two 4-byte words of options: class 0x0102, type 3, one word of data
GENEVE_OPTS_IPV4 = bytes.fromhex("0200" "0800" "00006400" "0102" "03" "01" "deadbeef")


def test_geneve_ethernet_payload_charges_from_the_inner_ethernet():
    inner_eth = eth(0x0800, INNER_V4)
    d = decode(udp_frame(GENEVE_ETH + inner_eth, 50000, 6081))
    assert_inner_tcp(d, depth=1)
    assert d["flow_len"] == len(inner_eth)


def test_geneve_options_are_skipped_and_ipv4_payload_charged_from_ip():
    d = decode(udp_frame(GENEVE_OPTS_IPV4 + INNER_V4, 6081, 50000))
    assert_inner_tcp(d, depth=1)
    assert d["flow_len"] == len(INNER_V4)


def test_geneve_options_past_the_datagram_stay_plain_udp():
    d = decode(udp_frame(bytes.fromhex("3f00" "0800" "00006400"), 50000, 6081))
    assert (d["status"], d["proto"], d["depth"]) == ("ok", 17, 0)


def test_teredo_ipv6_inside_udp():
    d = decode(udp_frame(INNER_V6, 3544, 50000))
    assert_inner_tcp(d, family=6, depth=1)
    assert d["flow_len"] == len(INNER_V6)


def test_teredo_origin_indication_is_skipped():
    origin = bytes.fromhex("0000" "f227" "3fffffff")
    d = decode(udp_frame(origin + INNER_V6, 50000, 3544))
    assert_inner_tcp(d, family=6, depth=1)
    assert d["flow_len"] == len(INNER_V6)


@pytest.mark.parametrize("payload", [INNER_V4, INNER_V6 + b"trailing", b"hello"],
                         ids=["ipv4", "length_mismatch", "text"])
def test_non_ipv6_payload_on_teredo_port_stays_udp(payload):
    d = decode(udp_frame(payload, 50000, 3544))
    assert (d["status"], d["proto"], d["depth"], d["dport"]) == ("ok", 17, 0, 3544)


# ------------------------------------------------------------- IP in IP

@pytest.mark.parametrize("outer,proto,inner,family", [
    (outer_ipv4, 4, INNER_V4, 4),
    (outer_ipv4, 41, INNER_V6, 6),
    (outer_ipv6, 4, INNER_V4, 4),
    (outer_ipv6, 41, INNER_V6, 6),
], ids=["4in4", "6in4", "4in6", "6in6"])
def test_ip_in_ip_charges_the_inner_packet(outer, proto, inner, family):
    frame = eth(0x0800 if outer is outer_ipv4 else 0x86DD, outer(proto, inner))
    d = decode(frame)
    assert_inner_tcp(d, family=family, depth=1)
    assert d["flow_len"] == len(inner)


def nested_ipip(levels):
    packet = INNER_V4
    for _ in range(levels):
        packet = outer_ipv4(4, packet)
    return eth(0x0800, packet)


def test_eight_nested_tunnels_decode():
    d = decode(nested_ipip(8))
    assert_inner_tcp(d, depth=8)
    assert d["flow_len"] == len(INNER_V4)


def test_nine_nested_tunnels_are_too_deep():
    assert decode(nested_ipip(9))["status"] == "too_deep"


def test_nesting_mixed_tunnels_counts_each_level():
    vxlan_in_gre = gre_frame(bytes.fromhex("0000" "0800"),
                             outer_ipv4(17, udp(VXLAN + eth(0x0800, INNER_V4), dport=4789)))
    assert_inner_tcp(decode(vxlan_in_gre), depth=2)


# --------------------------------------------------------------- link types

@pytest.mark.parametrize("header", ["02000000", "00000002"], ids=["little_endian", "big_endian"])
def test_null_link_type_ipv4_in_either_byte_order(header):
    assert_inner_tcp(decode(bytes.fromhex(header) + INNER_V4, LT_NULL))


@pytest.mark.parametrize("family", [10, 24, 28, 30])
@pytest.mark.parametrize("order", ["<I", ">I"], ids=["little_endian", "big_endian"])
def test_null_link_type_every_ipv6_address_family(family, order):
    assert_inner_tcp(decode(struct.pack(order, family) + INNER_V6, LT_NULL), family=6)


def test_null_link_type_unknown_family_is_not_flow():
    assert decode(struct.pack("<I", 7) + INNER_V4, LT_NULL)["status"] == "not_flow"


def test_null_link_type_short_header_is_l2_truncated():
    assert decode(bytes.fromhex("020000"), LT_NULL)["status"] == "l2_truncated"


def test_loop_link_type_is_network_byte_order():
    assert_inner_tcp(decode(bytes.fromhex("00000002") + INNER_V4, LT_LOOP))
    assert_inner_tcp(decode(bytes.fromhex("0000001e") + INNER_V6, LT_LOOP), family=6)


@pytest.mark.parametrize("linktype", [LT_RAW, LT_RAW_BSD, LT_RAW_OPENBSD, LT_IPV4])
def test_raw_ip_link_types_ipv4(linktype):
    d = decode(INNER_V4, linktype)
    assert_inner_tcp(d)
    assert d["flow_len"] == len(INNER_V4)


@pytest.mark.parametrize("linktype", [LT_RAW, LT_RAW_BSD, LT_RAW_OPENBSD, LT_IPV6])
def test_raw_ip_link_types_ipv6(linktype):
    assert_inner_tcp(decode(INNER_V6, linktype), family=6)


def test_raw_link_type_non_ip_version_is_not_flow():
    assert decode(b"\x50" + INNER_V4[1:], LT_RAW)["status"] == "not_flow"


def test_linux_sll_protocol_field_selects_the_layer_above():
    # packet type 0 (to us), ARPHRD_ETHER, 6-byte address padded to 8, protocol IPv4
    header = bytes.fromhex("0000" "0001" "0006" "0200000000010000" "0800")
    d = decode(header + INNER_V4, LT_LINUX_SLL)
    assert_inner_tcp(d)
    assert d["flow_len"] == 16 + len(INNER_V4)


def test_linux_sll_vlan_protocol_is_followed():
    header = bytes.fromhex("0000" "0001" "0006" "0200000000010000" "8100")
    d = decode(header + bytes.fromhex("0005" "86dd") + INNER_V6, LT_LINUX_SLL)
    assert_inner_tcp(d, family=6)
    assert d["vlan"] == (5,)


def test_linux_sll2_protocol_is_the_first_field():
    # protocol, reserved, ifindex, ARPHRD_ETHER, packet type, address length, address
    header = bytes.fromhex("86dd" "0000" "00000002" "0001" "00" "06" "0200000000010000")
    d = decode(header + INNER_V6, LT_LINUX_SLL2)
    assert_inner_tcp(d, family=6)
    assert d["flow_len"] == 20 + len(INNER_V6)


@pytest.mark.parametrize("linktype,cut", [(LT_LINUX_SLL, 15), (LT_LINUX_SLL2, 19)])
def test_linux_sll_headers_cut_short_are_l2_truncated(linktype, cut):
    assert decode(bytes(cut), linktype)["status"] == "l2_truncated"


@pytest.mark.parametrize("ppp", ["ff030021", "0021", "21"],
                         ids=["address_control", "no_address_control", "compressed"])
def test_ppp_link_type(ppp):
    assert_inner_tcp(decode(bytes.fromhex(ppp) + INNER_V4, LT_PPP))


def test_ppp_link_type_ipv6():
    assert_inner_tcp(decode(bytes.fromhex("ff030057") + INNER_V6, LT_PPP), family=6)


@pytest.mark.parametrize("linktype", [105, 127, 147, 0xFFFF])
def test_unknown_link_type_is_reported(linktype):
    assert decode(eth(0x0800, INNER_V4), linktype)["status"] == "unknown_linktype"


# ------------------------------------------------------ hostile input

def _erspan_frame():
    """VLAN + IPv4 + GRE(seq) + ERSPAN II + Ethernet + IPv4 with options + TCP."""
    inner = eth(0x0800, ipv4(6, tcp(PSH_ACK, payload=DATA), options=bytes.fromhex("01010100")))
    return (MAC_PAIR + bytes.fromhex("8100" "0007" "0800")
            + outer_ipv4(47, bytes.fromhex("1000" "88be" "00000001") + ERSPAN_II + inner))


def _vxlan_over_ipv6_ext_frame():
    """IPv6 + hop-by-hop + destination options + UDP + VXLAN + Ethernet + IPv4 + TCP."""
    hop_by_hop = bytes.fromhex("3c00" "010400000000")
    dstopts = bytes.fromhex("1100" "010400000000")
    return eth(0x86DD, outer_ipv6(0, hop_by_hop + dstopts
                                  + udp(VXLAN + eth(0x0800, INNER_V4), dport=4789)))


def _geneve_pppoe_frame():
    """PPPoE + IPv4 + UDP + Geneve with options + Ethernet + IPv6 + ICMPv6."""
    icmpv6 = ipv6(58, bytes.fromhex("87000000" "00000000") + V6_B)
    geneve = bytes.fromhex("0200" "6558" "00006400" "0102" "03" "01" "deadbeef")
    return eth(0x8864, pppoe_session(b"\x21" + outer_ipv4(
        17, udp(geneve + eth(0x86DD, icmpv6), dport=6081))))


def _teredo_mpls_frame():
    """MPLS x2 + IPv4 + UDP + Teredo origin indication + IPv6 ext header + TCP."""
    inner = ipv6(60, bytes.fromhex("0600" "010400000000") + tcp(PSH_ACK, payload=DATA))
    return eth(0x8847, bytes.fromhex("00010040" "00011140") + outer_ipv4(
        17, udp(bytes.fromhex("0000f2273fffffff") + inner, dport=3544)))


def _icmp_error_frame():
    """IPv4 with options + ICMP port unreachable quoting a UDP packet."""
    quoted = ipv4(17, udp(b"query"))[:28]
    return eth(0x0800, ipv4(1, bytes.fromhex("0303fcfc00000000") + quoted, src=V4_B, dst=V4_A,
                            options=bytes.fromhex("01010100")))


def _pptp_in_6in4_frame():
    """IPv4 + IPv6 + GRE v1 + PPP + IPv4 + TCP."""
    ppp = bytes.fromhex("ff030021") + INNER_V4
    gre = bytes.fromhex("3081" "880b") + struct.pack("!HH", len(ppp), 7) + bytes(8)
    return eth(0x0800, outer_ipv4(41, ipv6(47, gre + ppp)))


COMPLEX_FRAMES = {
    "vlan_gre_erspan_ipv4_tcp": _erspan_frame(),
    "ipv6_exthdrs_udp_vxlan": _vxlan_over_ipv6_ext_frame(),
    "pppoe_geneve_opts_icmpv6": _geneve_pppoe_frame(),
    "mpls_teredo_origin_exthdr": _teredo_mpls_frame(),
    "icmp_error_quoting_udp": _icmp_error_frame(),
    "pptp_in_6in4": _pptp_in_6in4_frame(),
}


def assert_sane(d, frame):
    assert d["status"] in DECODE_STATUS_NAMES
    if d["status"] == "ok":
        assert d["flow_len"] <= len(frame)
        assert len(d["payload"]) <= len(frame)
        assert d["payload"] in frame


@pytest.mark.parametrize("name", list(COMPLEX_FRAMES))
def test_complex_frame_decodes_whole(name):
    assert decode(COMPLEX_FRAMES[name])["status"] == "ok"


@pytest.mark.parametrize("name", list(COMPLEX_FRAMES))
def test_complex_frame_cut_at_every_length_gives_a_status(name):
    frame = COMPLEX_FRAMES[name]
    for cut in range(len(frame) + 1):
        assert_sane(decode(frame[:cut]), frame[:cut])
    assert decode(frame[:13])["status"] == "l2_truncated"


@pytest.mark.parametrize("name", list(COMPLEX_FRAMES))
def test_complex_frame_random_corruption_never_raises(name):
    frame = COMPLEX_FRAMES[name]
    rng = random.Random(name)      # seeded: a failure reproduces
    for _ in range(3000):
        corrupted = bytearray(frame)
        for _ in range(rng.randint(1, 4)):
            corrupted[rng.randrange(len(frame))] = rng.randrange(256)
        cut = rng.randint(0, len(frame))
        for linktype in (LT_ETHERNET, rng.choice((LT_NULL, LT_RAW, LT_LINUX_SLL, LT_PPP))):
            assert_sane(decode(bytes(corrupted[:cut]), linktype), corrupted[:cut])
