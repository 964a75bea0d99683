"""The flow table, fragment reassembly and timeouts, through FlowEngine.

Frames are literal header bytes (frames.py); run_engine replays them in one
batch and flushes, so every flow comes back as one FlowRecord.
"""
import random

import pytest

from engine.config import CoreConfig

from batches import run_engine
from frames import (
    ICMP_ECHO, ICMP_ECHO_REPLY, MAC_PAIR, TCP_ACK, TCP_FIN_ACK, TCP_FIN_ACK_REPLY, TCP_RST,
    TCP_SYN, TCP_SYNACK_REPLY, V4_A, V4_B, eth, ipv4, ipv6, ipv6_frag, tcp, udp, vlan_tag,
)

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
T0 = 1_700_000_000.0      # a realistic epoch; every test time is T0 + a few seconds


def us(seconds):
    return round((T0 + seconds) * 1e6)


def client(segment):
    """10.0.0.1 -> 10.0.0.2 (the literal TCP headers carry 12345 -> 443)."""
    return eth(0x0800, ipv4(6, segment))


def server(segment):
    return eth(0x0800, ipv4(6, segment, src=V4_B, dst=V4_A))


def udp_frame(payload=b"q", sport=5353, dport=53, src=V4_A, dst=V4_B):
    return eth(0x0800, ipv4(17, udp(payload, sport=sport, dport=dport), src=src, dst=dst))


def at(*frames_with_times):
    """[(seconds, frame)] with T0 added."""
    return [(T0 + t, f) for t, f in frames_with_times]


def only(records):
    assert len(records) == 1, records
    return records[0]


# ---------------------------------------------------------------- TCP state

def test_full_tcp_conversation_is_one_closed_flow_with_per_direction_counts():
    request = tcp(PSH | ACK, 12345, 443, seq=2, ack=101, payload=b"GET / " * 20)
    response = tcp(ACK, 443, 12345, seq=101, ack=122, payload=b"x" * 300)
    frames = at(
        (0.0, client(TCP_SYN)), (0.1, server(TCP_SYNACK_REPLY)), (0.2, client(TCP_ACK)),
        (0.3, client(request)), (0.4, server(response)),
        (0.5, client(TCP_FIN_ACK)), (0.6, server(TCP_FIN_ACK_REPLY)), (0.7, client(TCP_ACK)),
    )
    r = only(run_engine(frames)[0])
    assert (r.src_ip, r.src_port, r.dest_ip, r.dest_port, r.proto) == \
        ("10.0.0.1", 12345, "10.0.0.2", 443, 6)
    assert (r.pkts_toserver, r.pkts_toclient) == (5, 3)
    assert r.bytes_toserver == sum(len(f) for t, f in frames if f[26:30] == V4_A)
    assert r.bytes_toclient == sum(len(f) for t, f in frames if f[26:30] == V4_B)
    assert r.state == "closed"
    assert r.reason == "shutdown"
    assert r.tcp_flags_ts == SYN | ACK | PSH | FIN
    assert r.tcp_flags_tc == SYN | ACK | FIN          # the server never sent PSH
    assert (r.start_us, r.end_us) == (us(0.0), us(0.7))


def test_three_way_handshake_is_established():
    frames = at((0, client(TCP_SYN)), (0.1, server(TCP_SYNACK_REPLY)), (0.2, client(TCP_ACK)))
    assert only(run_engine(frames)[0]).state == "established"


def test_syn_and_synack_without_the_ack_stay_new():
    frames = at((0, client(TCP_SYN)), (0.1, server(TCP_SYNACK_REPLY)))
    assert only(run_engine(frames)[0]).state == "new"


def test_fin_from_one_side_only_does_not_close():
    frames = at((0, client(TCP_SYN)), (0.1, server(TCP_SYNACK_REPLY)), (0.2, client(TCP_ACK)),
                (0.3, client(TCP_FIN_ACK)))
    assert only(run_engine(frames)[0]).state == "established"


def test_rst_closes_the_flow():
    frames = at((0, client(TCP_SYN)), (0.1, server(TCP_SYNACK_REPLY)), (0.2, client(TCP_ACK)),
                (0.3, client(TCP_RST)))
    r = only(run_engine(frames)[0])
    assert r.state == "closed"
    assert r.tcp_flags_ts & RST


def test_synack_seen_first_makes_its_receiver_the_initiator():
    frames = at((0, server(TCP_SYNACK_REPLY)), (0.1, client(TCP_ACK)))
    r = only(run_engine(frames)[0])
    assert (r.src_ip, r.src_port, r.dest_ip, r.dest_port) == ("10.0.0.1", 12345, "10.0.0.2", 443)
    assert (r.pkts_toserver, r.pkts_toclient) == (1, 1)
    assert r.tcp_flags_tc == SYN | ACK


def test_midstream_first_data_packet_sender_is_the_initiator():
    data = tcp(PSH | ACK, 443, 12345, payload=b"server speaks first")
    frames = at((0, server(data)), (0.1, client(TCP_ACK)))
    r = only(run_engine(frames)[0])
    assert (r.src_ip, r.src_port, r.dest_ip, r.dest_port) == ("10.0.0.2", 443, "10.0.0.1", 12345)
    assert r.bytes_toserver == len(server(data))
    assert r.state == "established"    # both sides seen, no handshake to wait for


def test_vlan_id_separates_otherwise_identical_flows():
    packet = ipv4(6, TCP_SYN)
    frames = at(*[(i * 0.1, MAC_PAIR + vlan_tag(0x8100, vid) + b"\x08\x00" + packet)
                  for i, vid in enumerate((10, 20, 10))])
    records = sorted(run_engine(frames)[0], key=lambda r: r.vlan)
    assert [(r.vlan, r.pkts_toserver) for r in records] == [((10,), 2), ((20,), 1)]


def test_tunnel_depth_separates_otherwise_identical_flows():
    inner = ipv4(6, TCP_SYN)
    tunnelled = eth(0x0800, ipv4(4, inner, src=bytes([192, 0, 2, 1]), dst=bytes([192, 0, 2, 2])))
    records = sorted(run_engine(at((0, eth(0x0800, inner)), (0.1, tunnelled)))[0],
                     key=lambda r: r.tunnel_depth)
    assert [(r.tunnel_depth, r.src_ip, r.pkts_toserver) for r in records] == \
        [(0, "10.0.0.1", 1), (1, "10.0.0.1", 1)]
    assert records[1].bytes_toserver == len(inner)


# ---------------------------------------------------------------------- UDP

def test_udp_both_directions_is_established():
    frames = at((0, udp_frame()), (0.1, udp_frame(sport=53, dport=5353, src=V4_B, dst=V4_A)))
    r = only(run_engine(frames)[0])
    assert (r.src_port, r.dest_port, r.pkts_toserver, r.pkts_toclient) == (5353, 53, 1, 1)
    assert r.state == "established"


def test_udp_one_direction_stays_new():
    assert only(run_engine(at((0, udp_frame()), (0.1, udp_frame())))[0]).state == "new"


# ----------------------------------------------------------------- timeouts

# distinct timeouts, so a flow timed out by the wrong class fails one of the
# two checks (the boundary or just past it)
TIMEOUTS = CoreConfig(tcp_timeout_new_s=10, tcp_timeout_established_s=20,
                      tcp_timeout_closed_s=5, other_timeout_new_s=7,
                      other_timeout_established_s=13)
UDP_REPLY = udp_frame(sport=53, dport=5353, src=V4_B, dst=V4_A)
ICMP_REQ = eth(0x0800, ipv4(1, ICMP_ECHO))
ICMP_REP = eth(0x0800, ipv4(1, ICMP_ECHO_REPLY, src=V4_B, dst=V4_A))

# (opening frames, the state they leave, the timeout of that state, a later frame)
TIMEOUT_CASES = {
    "tcp_new": ([client(TCP_SYN)], "new", 10, client(TCP_SYN)),
    "tcp_established": ([client(TCP_SYN), server(TCP_SYNACK_REPLY), client(TCP_ACK)],
                        "established", 20, client(TCP_ACK)),
    "tcp_closed": ([client(TCP_SYN), client(TCP_RST)], "closed", 5, client(TCP_SYN)),
    "udp_new": ([udp_frame()], "new", 7, udp_frame()),
    "udp_established": ([udp_frame(), UDP_REPLY], "established", 13, udp_frame()),
    "icmp_new": ([ICMP_REQ], "new", 7, ICMP_REQ),
    "icmp_established": ([ICMP_REQ, ICMP_REP], "established", 13, ICMP_REQ),
}


def _timeout_frames(case, gap_us):
    opening, _, _, later = TIMEOUT_CASES[case]
    frames = [(T0 + i * 0.25, f) for i, f in enumerate(opening)]
    last = frames[-1][0]
    return frames + [((round(last * 1e6) + gap_us) / 1e6, later)], round(last * 1e6)


@pytest.mark.parametrize("case", list(TIMEOUT_CASES))
def test_packet_after_the_timeout_ends_the_flow_and_starts_another(case):
    _, state, timeout_s, _ = TIMEOUT_CASES[case]
    frames, last_us = _timeout_frames(case, timeout_s * 1_000_000 + 1)
    records, counters = run_engine(frames, TIMEOUTS)
    assert [(r.reason, r.state) for r in records] == [("timeout", state), ("shutdown", "new")]
    first, second = records
    assert first.end_us == last_us
    assert first.emitted_us >= first.end_us
    assert first.pkts_toserver + first.pkts_toclient == len(frames) - 1
    assert (second.pkts_toserver, second.start_us) == (1, last_us + timeout_s * 1_000_000 + 1)
    assert counters["flows_timed_out"] == 1


def test_fractional_timeouts_are_not_shortened_by_float_rounding():
    # 2.01 s is 2,010,000 us: a packet 2.01 s after the last one is exactly
    # at the timeout and stays in the flow
    config = CoreConfig(other_timeout_new_s=2.01)
    frames = at((0, udp_frame(b"a")), (2.01, udp_frame(b"b")))
    r = only(run_engine(frames, config)[0])
    assert r.pkts_toserver == 2


@pytest.mark.parametrize("case", list(TIMEOUT_CASES))
def test_packet_exactly_at_the_timeout_stays_in_the_flow(case):
    _, _, timeout_s, _ = TIMEOUT_CASES[case]
    frames, _ = _timeout_frames(case, timeout_s * 1_000_000)
    r = only(run_engine(frames, TIMEOUTS)[0])
    assert r.pkts_toserver + r.pkts_toclient == len(frames)


def test_idle_flow_is_swept_by_another_flows_packet():
    frames = at((0, udp_frame()), (30, udp_frame(sport=1111)))
    records, _ = run_engine(frames, TIMEOUTS)
    swept = records[0]
    assert (swept.src_port, swept.reason) == (5353, "timeout")
    assert swept.emitted_us == us(30) > swept.end_us


# ------------------------------------------------------------------- memcap

def test_memcap_evicts_the_flows_idle_longest():
    # flows 1..3 fill the table; flow 1 is refreshed, so 2 then 3 are idlest
    frames = at((1, udp_frame(sport=1)), (2, udp_frame(sport=2)), (3, udp_frame(sport=3)),
                (4, udp_frame(sport=1)), (5, udp_frame(sport=4)), (6, udp_frame(sport=5)))
    records, counters = run_engine(frames, CoreConfig(max_flows=3))
    reasons = {r.src_port: r.reason for r in records}
    assert reasons == {2: "memcap", 3: "memcap", 1: "shutdown", 4: "shutdown", 5: "shutdown"}
    assert counters["flow.evicted_memcap"] == 2
    evicted = {r.src_port: r.emitted_us for r in records if r.reason == "memcap"}
    assert evicted == {2: us(5), 3: us(6)}


def test_flush_ends_every_open_flow_with_shutdown_at_the_last_packet_time():
    frames = at((0, client(TCP_SYN)), (1, udp_frame()), (2, ICMP_REQ))
    records, counters = run_engine(frames)
    assert sorted(r.proto for r in records) == [1, 6, 17]
    assert {(r.reason, r.emitted_us) for r in records} == {("shutdown", us(2))}
    assert counters["flows_active"] == 0


# -------------------------------------------------- growth and deletion

def test_twenty_thousand_flows_match_a_python_recount():
    """Index growth (1024 -> 32768 slots) and backward-shift deletion under
    timeouts: every record must equal an independent recount."""
    rng = random.Random(20000)
    new_us, est_us = 2_000_000, 4_000_000
    config = CoreConfig(other_timeout_new_s=2, other_timeout_established_s=4)
    packets = []          # (ts_us, flow number, from_client, frame)
    for n in range(20_000):
        client_ip = bytes([10, n >> 16, (n >> 8) & 255, n & 255])
        server_ip = bytes([172, 16, rng.randrange(256), rng.randrange(1, 255)])
        cport, sport = rng.randrange(1024, 65536), rng.choice((53, 123, 443, 4500))
        t = rng.randrange(0, 40_000_000)
        for _ in range(rng.randint(1, 5)):
            from_client = rng.random() < 0.6
            payload = bytes(rng.randrange(0, 64))
            if from_client:
                frame = udp_frame(payload, cport, sport, client_ip, server_ip)
            else:
                frame = udp_frame(payload, sport, cport, server_ip, client_ip)
            packets.append((t, n, from_client, frame))
            t += rng.choice((1_000, 300_000, 1_500_000, 2_500_000, 5_000_000))
    packets.sort(key=lambda p: p[0])

    # the recount: same rules, plain dicts
    expected, open_flows, next_sweep = [], {}, -1

    def end(n, reason, now):
        f = open_flows.pop(n)
        expected.append((f["src"], f["start"], f["last"], f["ts"], f["tc"], f["bts"], f["btc"],
                         "established" if f["ts"][0] and f["tc"][0] else "new", reason, now))

    def timed_out(f, now):
        limit = est_us if f["ts"][0] and f["tc"][0] else new_us
        return f["last"] + limit < now

    for ts, n, from_client, frame in packets:
        if ts >= next_sweep:
            for m in [m for m, f in open_flows.items() if timed_out(f, ts)]:
                end(m, "timeout", ts)
            next_sweep = ts + 1_000_000
        if n in open_flows and timed_out(open_flows[n], ts):
            end(n, "timeout", ts)
        if n not in open_flows:
            open_flows[n] = {"src": (frame[26:30], from_client), "start": ts, "last": ts,
                             "ts": [0], "tc": [0], "bts": [0], "btc": [0]}
        f = open_flows[n]
        toserver = from_client == f["src"][1]
        (f["ts"] if toserver else f["tc"])[0] += 1
        (f["bts"] if toserver else f["btc"])[0] += len(frame)
        f["last"] = ts
    last_ts = packets[-1][0]
    for n in list(open_flows):
        end(n, "shutdown", last_ts)

    frames = [(ts / 1e6, frame) for ts, _, _, frame in packets]
    records, counters = run_engine(frames, config)
    got = sorted((r.src_ip, r.start_us, r.end_us, r.pkts_toserver, r.pkts_toclient,
                  r.bytes_toserver, r.bytes_toclient, r.state, r.reason, r.emitted_us)
                 for r in records)
    want = sorted((".".join(map(str, src)), start, last, ts[0], tc[0], bts[0], btc[0], state,
                   reason, emitted)
                  for (src, _), start, last, ts, tc, bts, btc, state, reason, emitted in expected)
    assert counters["flows_created"] == len(want) > 20_000
    assert counters["flows_timed_out"] == sum(1 for w in want if w[8] == "timeout") > 1000
    assert got == want


# ---------------------------------------------------------- flow identity

def test_flow_ids_are_non_zero_51_bit_distinct_and_reproducible():
    frames = at(*[(i * 0.01, udp_frame(sport=1000 + i)) for i in range(500)])
    records, _ = run_engine(frames)
    ids = [r.flow_id for r in records]
    assert all(0 < i < 2**51 for i in ids)
    assert len(set(ids)) == len(ids)
    assert [r.flow_id for r in run_engine(frames)[0]] == ids


# -------------------------------------------------------------------- ICMP

def test_icmp_echo_request_and_reply_share_one_flow():
    r = only(run_engine(at((0, ICMP_REQ), (0.1, ICMP_REP)))[0])
    assert (r.proto, r.src_ip, r.dest_ip) == (1, "10.0.0.1", "10.0.0.2")
    assert (r.src_port, r.dest_port) == (8, 0)
    assert (r.icmp_type, r.icmp_code, r.response_icmp_type, r.response_icmp_code) == (8, 0, 0, 0)
    assert (r.pkts_toserver, r.pkts_toclient, r.state) == (1, 1, "established")


def icmp_port_unreachable_for(quoted_frame):
    quoted = quoted_frame[14:14 + 28]      # the IP header and 8 bytes of the datagram
    return eth(0x0800, ipv4(1, bytes.fromhex("0303fcfc00000000") + quoted, src=V4_B, dst=V4_A))


def test_icmp_destination_unreachable_joins_the_udp_flow_it_quotes():
    query = udp_frame(b"query")
    error = icmp_port_unreachable_for(query)
    records, counters = run_engine(at((0, query), (0.1, error)))
    r = only(records)
    assert counters["decode.icmp_error_mapped"] == 1
    assert (r.proto, r.src_port, r.dest_port) == (17, 5353, 53)
    assert (r.pkts_toserver, r.pkts_toclient) == (1, 1)
    assert (r.bytes_toserver, r.bytes_toclient) == (len(query), len(error))


def test_icmp_destination_unreachable_does_not_revive_a_timed_out_flow():
    # the other flow's packet at 6.5 s sweeps; the error at 7.2 s comes before
    # the next sweep, after the query's 7 s timeout
    query = udp_frame(b"query")
    frames = at((0, query), (6.5, udp_frame(sport=1111)),
                (7.2, icmp_port_unreachable_for(query)))
    records, _ = run_engine(frames, TIMEOUTS)
    by_proto_port = {(r.proto, r.src_port): r for r in records}
    timed_out = by_proto_port[(17, 5353)]
    assert (timed_out.reason, timed_out.pkts_toclient, timed_out.end_us) == ("timeout", 0, us(0))
    assert by_proto_port[(1, 3)].icmp_type == 3


def test_icmp_destination_unreachable_without_its_flow_is_an_icmp_flow():
    error = icmp_port_unreachable_for(udp_frame(b"query"))
    r = only(run_engine(at((0, error)))[0])
    assert (r.proto, r.icmp_type, r.icmp_code, r.src_ip) == (1, 3, 3, "10.0.0.2")


# --------------------------------------------------------------- fragments

DATAGRAM = udp(bytes(range(40)), sport=5353, dport=53)     # 48 bytes


def frag4(offset, more, chunk, ident=7, src=V4_A):
    return eth(0x0800, ipv4(17, chunk, src=src, ident=ident,
                            frag_field=(0x2000 if more else 0) | offset // 8))


def in_three(ident=7, src=V4_A):
    return [frag4(0, True, DATAGRAM[:16], ident, src), frag4(16, True, DATAGRAM[16:32], ident, src),
            frag4(32, False, DATAGRAM[32:], ident, src)]


def assert_one_reassembled_udp_packet(records, counters, flow_len, dport=53):
    r = only(records)
    assert (r.proto, r.src_port, r.dest_port) == (17, 5353, dport)
    assert (r.pkts_toserver, r.pkts_toclient) == (1, 0)
    assert r.bytes_toserver == flow_len
    assert counters["frag.reassembled"] == 1


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1), (1, 2, 0), (2, 1, 0)])
def test_ipv4_fragments_in_any_order_are_one_packet(order):
    frags = in_three()
    records, counters = run_engine(at(*[(i * 0.01, frags[k]) for i, k in enumerate(order)]))
    assert_one_reassembled_udp_packet(records, counters, 14 + 20 + len(DATAGRAM))
    assert counters["decode.fragment"] == 2


def test_ipv4_two_fragments():
    frames = at((0, frag4(0, True, DATAGRAM[:24])), (0.1, frag4(24, False, DATAGRAM[24:])))
    assert_one_reassembled_udp_packet(*run_engine(frames), 14 + 20 + len(DATAGRAM))


def test_ipv4_fragment_length_counts_the_first_fragments_options():
    # IHL 6 in the first fragment only: Suricata counts the first fragment's header
    first = eth(0x0800, ipv4(17, DATAGRAM[:16], ident=7, frag_field=0x2000,
                             options=bytes.fromhex("01010100")))
    frames = at((0, frag4(16, False, DATAGRAM[16:])), (0.1, first))
    assert_one_reassembled_udp_packet(*run_engine(frames), 14 + 24 + len(DATAGRAM))


def test_ipv4_overlapping_fragment_first_copy_wins():
    # a later copy of offset 0 names port 99; the first copy's port 53 must stay
    forged = udp(bytes(range(40)), sport=5353, dport=99)[:16]
    frames = at((0, frag4(0, True, DATAGRAM[:16])), (0.1, frag4(0, True, forged)),
                (0.2, frag4(8, True, forged[8:] + DATAGRAM[16:24])),
                (0.3, frag4(16, True, DATAGRAM[16:32])), (0.4, frag4(32, False, DATAGRAM[32:])))
    assert_one_reassembled_udp_packet(*run_engine(frames), 14 + 20 + len(DATAGRAM))


def test_ipv4_duplicate_first_fragment_does_not_replace_the_kept_header():
    # the later copy carries IP options; the first copy's 20-byte header is counted
    with_options = eth(0x0800, ipv4(17, DATAGRAM[:16], ident=7, frag_field=0x2000,
                                    options=bytes.fromhex("01010100")))
    frames = at((0, frag4(0, True, DATAGRAM[:16])), (0.1, with_options),
                (0.2, frag4(16, False, DATAGRAM[16:])))
    assert_one_reassembled_udp_packet(*run_engine(frames), 14 + 20 + len(DATAGRAM))


def test_ipv4_interleaved_datagrams_reassemble_separately():
    a, b = in_three(ident=1), in_three(ident=2, src=bytes([10, 0, 0, 9]))
    records, counters = run_engine(at(*[(i * 0.01, f) for i, f in
                                        enumerate([a[0], b[2], a[1], b[0], a[2], b[1]])]))
    assert sorted(r.src_ip for r in records) == ["10.0.0.1", "10.0.0.9"]
    assert counters["frag.reassembled"] == 2


def test_fragmented_vxlan_charges_the_outer_flow_the_reassembled_datagram():
    inner = ipv4(6, tcp(PSH | ACK, payload=bytes(40)))
    datagram = udp(bytes.fromhex("0800000000006400") + eth(0x0800, inner), 50000, 4789)
    outer = dict(src=bytes([192, 0, 2, 1]), dst=bytes([192, 0, 2, 2]), ident=9)
    frames = at((0, eth(0x0800, ipv4(17, datagram[:48], frag_field=0x2000, **outer))),
                (0.1, eth(0x0800, ipv4(17, datagram[48:], frag_field=48 // 8, **outer))))
    by_depth = {r.tunnel_depth: r for r in run_engine(frames)[0]}
    assert (by_depth[0].proto, by_depth[0].bytes_toserver) == (17, 14 + 20 + len(datagram))
    assert (by_depth[1].proto, by_depth[1].bytes_toserver) == (6, len(inner))


def test_fragment_past_the_datagram_end_does_not_fill_a_hole():
    # units 0, 2 (last) and a stray unit 3: unit 1 is missing, so no datagram
    frames = at((0, frag4(0, True, DATAGRAM[:8])), (0.1, frag4(24, True, bytes(8))),
                (0.2, frag4(16, False, DATAGRAM[16:20])))
    records, counters = run_engine(frames)
    assert records == []
    assert counters["frag.reassembled"] == 0
    # the hole filled: now it is whole
    _, counters = run_engine(frames + at((0.3, frag4(8, True, DATAGRAM[8:16]))))
    assert counters["frag.reassembled"] == 1


HOP_BY_HOP_TO_FRAGMENT = bytes.fromhex("2c00" "010400000000")


def frag6(offset, more, chunk, ident=0x1234):
    return eth(0x86DD, ipv6(0, HOP_BY_HOP_TO_FRAGMENT + ipv6_frag(17, offset, more, ident, chunk)))


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0)])
def test_ipv6_fragments_are_one_packet_counting_headers_before_the_fragment_header(order):
    frags = [frag6(0, True, DATAGRAM[:16]), frag6(16, True, DATAGRAM[16:32]),
             frag6(32, False, DATAGRAM[32:])]
    records, counters = run_engine(at(*[(i * 0.01, frags[k]) for i, k in enumerate(order)]))
    assert_one_reassembled_udp_packet(records, counters, 14 + 40 + 8 + len(DATAGRAM))
    assert only(records).src_ip == "2001:db8::1"


def test_ipv6_fragment_without_extension_headers():
    frames = at((0, eth(0x86DD, ipv6(44, ipv6_frag(17, 0, True, 5, DATAGRAM[:24])))),
                (0.1, eth(0x86DD, ipv6(44, ipv6_frag(17, 24, False, 5, DATAGRAM[24:])))))
    assert_one_reassembled_udp_packet(*run_engine(frames), 14 + 40 + len(DATAGRAM))


def test_fragment_table_full_evicts_the_oldest_set():
    a, b = in_three(ident=1), in_three(ident=2, src=bytes([10, 0, 0, 9]))
    frames = at((0, a[0]), (0.1, b[0]), (0.2, b[1]), (0.3, b[2]))
    records, counters = run_engine(frames, CoreConfig(max_fragment_sets=1))
    assert [r.src_ip for r in records] == ["10.0.0.9"]
    assert counters["frag.evicted"] == 1


def test_fragment_set_expires_after_the_fragment_timeout():
    frags = in_three()
    config = CoreConfig(fragment_timeout_s=1)
    late = at((0, frags[0]), (0.5, frags[1]), (1.000001, frags[2]))
    assert run_engine(late, config)[1]["frag.reassembled"] == 0
    on_time = at((0, frags[0]), (0.5, frags[1]), (1.0, frags[2]))
    assert run_engine(on_time, config)[1]["frag.reassembled"] == 1


def test_fragments_without_a_table_are_dropped():
    records, counters = run_engine(at(*[(i * 0.01, f) for i, f in enumerate(in_three())]),
                                   CoreConfig(max_fragment_sets=0))
    assert records == []
    assert counters["decode.fragment_dropped"] == 3


def test_non_final_fragment_not_a_multiple_of_8_is_dropped():
    _, counters = run_engine(at((0, frag4(0, True, DATAGRAM[:12]))))
    assert counters["decode.fragment_dropped"] == 1


def test_long_flows_get_interim_records_with_the_counters_so_far():
    frames = [(t, udp_frame(b"x" * 10)) for t in range(0, 700, 50)]   # 14 packets over 650 s
    records, counters = run_engine(frames, CoreConfig(interim_interval_s=300,
                                                      other_timeout_new_s=3600,
                                                      other_timeout_established_s=3600))
    interim = [r for r in records if r.interim]
    final = [r for r in records if not r.interim]
    assert [r.reason for r in interim] == ["interim", "interim"]
    assert [r.pkts_toserver for r in interim] == [7, 13]      # at 300 s and at 600 s
    assert len(final) == 1 and final[0].pkts_toserver == 14 and final[0].reason == "shutdown"
    assert {r.flow_id for r in records} == {final[0].flow_id}
    assert counters["flow.interim_records"] == 2


def test_interim_records_can_be_switched_off():
    frames = [(t, udp_frame(b"x")) for t in range(0, 700, 50)]
    records, _ = run_engine(frames, CoreConfig(interim_interval_s=0, other_timeout_new_s=3600,
                                               other_timeout_established_s=3600))
    assert not any(r.interim for r in records)
