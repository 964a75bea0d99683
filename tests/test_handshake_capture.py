"""The core's handshake capture: TCP reassembly of the first bytes of each
direction, protocol detection, and the hand-over when the handshake is over.

The same handshake fed split at every offset, reordered or retransmitted
must give the same captured bytes (STYLE.md item 14, streaming tests)."""
import random

import pytest

from batches import make_batch
from conversations import (handshake_message, segments, tcp_frames, tls_record, udp_frames)
from engine._core import FlowEngine
from engine.config import CoreConfig

CLIENT_HELLO = tls_record(22, handshake_message(1, bytes(range(200))))
SERVER_FLIGHT = (tls_record(22, handshake_message(2, bytes(70)))
                 + tls_record(22, handshake_message(11, bytes(900)))
                 + tls_record(22, handshake_message(14, b"")))
CLIENT_FINISH = tls_record(22, handshake_message(16, bytes(66))) + tls_record(20, b"\x01") \
    + tls_record(22, bytes(40))
SERVER_FINISH = tls_record(20, b"\x01") + tls_record(22, bytes(40))
APP_DATA = tls_record(23, bytes(300))
TLS12 = [(True, CLIENT_HELLO), (False, SERVER_FLIGHT), (True, CLIENT_FINISH),
         (False, SERVER_FINISH), (True, APP_DATA), (False, APP_DATA)]


def capture(frames, config=None):
    engine = FlowEngine(config or CoreConfig())
    engine.process(make_batch(frames))
    taken = engine.take_handshakes()
    engine.flush()
    taken += engine.take_handshakes()
    return taken, engine


def only_handshake(frames, config=None):
    taken, _ = capture(frames, config)
    assert len(taken) == 1
    return taken[0]


def expected_bytes(chunks, from_client, upto=None):
    return b"".join(d for c, d in chunks if c == from_client)[:upto]


def test_tls_handshake_is_captured_in_both_directions_and_marked_established():
    hs = only_handshake(tcp_frames(segments(TLS12)))
    assert hs.client.kind == "tls" and hs.server.kind == "tls"
    # the client's bytes end at its Finished (after ChangeCipherSpec): nothing after is kept
    assert hs.client.data == CLIENT_HELLO + CLIENT_FINISH
    assert hs.server.data == SERVER_FLIGHT + SERVER_FINISH
    assert "established" in hs.client.flags and "established" in hs.server.flags
    assert hs.client.start == 0 and (hs.src_port, hs.dest_port) == (40000, 443)


def test_handshake_is_handed_over_before_the_flow_ends_and_the_flow_is_bypassed():
    engine = FlowEngine(CoreConfig())
    engine.process(make_batch(tcp_frames(segments(TLS12 + [(True, APP_DATA)] * 50))))
    assert len(engine.take_handshakes()) == 1
    assert engine.counters()["handshake.memory_bytes"] == 0     # buffers already freed
    assert engine.take_flows() == []


@pytest.mark.parametrize("direction", [True, False], ids=["client", "server"])
def test_first_flight_split_at_every_offset_gives_the_same_capture(direction):
    reference = only_handshake(tcp_frames(segments(TLS12)))
    first = next(d for c, d in TLS12 if c == direction)
    for k in range(1, len(first)):
        hs = only_handshake(tcp_frames(segments(TLS12, split_at=(direction, k))))
        assert (hs.client.data, hs.server.data) == (reference.client.data, reference.server.data), k
        assert hs.client.flags == reference.client.flags and hs.server.flags == reference.server.flags


def test_reordered_segments_are_held_and_joined_in_order():
    segs = segments(TLS12, split_at=(False, 500))
    rng = random.Random(7)
    for _ in range(20):
        shuffled = segs[:]
        rng.shuffle(shuffled)
        hs = only_handshake(tcp_frames(shuffled))
        assert hs.server.data.startswith(SERVER_FLIGHT)
        assert hs.client.data.startswith(CLIENT_HELLO)
        assert "gap" not in hs.client.flags + hs.server.flags


def test_identical_retransmission_is_ignored():
    segs = segments(TLS12)
    hs = only_handshake(tcp_frames(segs[:2] + segs[:2] + segs[2:]))
    assert hs.client.data == CLIENT_HELLO + CLIENT_FINISH
    assert "overlap_differs" not in hs.client.flags


def test_retransmission_with_different_bytes_keeps_the_first_copy_and_is_flagged():
    segs = segments(TLS12)
    forged = type(segs[0])(True, 0, CLIENT_HELLO[:50] + b"X" * 20 + CLIENT_HELLO[70:])
    hs, engine = capture(tcp_frames(segs[:1] + [forged] + segs[1:]))
    assert hs[0].client.data.startswith(CLIENT_HELLO)
    assert "overlap_differs" in hs[0].client.flags
    assert engine.counters()["tcp.overlap_differs"] == 1


def test_missing_segment_is_a_gap_and_the_bytes_before_it_are_kept():
    segs = segments(TLS12, split_at=(False, 300))
    hs = only_handshake(tcp_frames([s for s in segs if not (not s.from_client and s.offset == 300)]))
    assert hs.server.data == SERVER_FLIGHT[:300]
    assert "gap" in hs.server.flags


def test_out_of_order_overflow_drops_the_newest_and_marks_a_gap():
    pieces = [(False, SERVER_FLIGHT[i:i + 10]) for i in range(0, 400, 10)]
    segs = segments([(True, CLIENT_HELLO)] + pieces)
    server = [s for s in segs if not s.from_client]
    # the first server segment arrives last: everything else must be held
    hs, engine = capture(tcp_frames([segs[0]] + server[1:] + server[:1]),
                         CoreConfig(max_ooo_segments=4))
    assert "gap" in hs[0].server.flags
    assert engine.counters()["tcp.ooo_dropped"] >= 1


def test_per_direction_byte_cap_truncates_and_flags():
    big_cert = tls_record(22, handshake_message(11, bytes(16000)))
    chunks = [(True, CLIENT_HELLO), (False, big_cert + big_cert)]
    hs, engine = capture(tcp_frames(segments(chunks)),
                         CoreConfig(handshake_bytes_per_direction=4096))
    assert len(hs[0].server.data) == 4096
    assert "truncated" in hs[0].server.flags
    assert engine.counters()["handshake.truncated"] == 1


def test_midstream_pickup_captures_from_the_first_payload_seen():
    hs = only_handshake(tcp_frames(segments(TLS12), handshake=False))
    assert hs.client.data == CLIENT_HELLO + CLIENT_FINISH


def test_ssh_banner_and_kexinit_are_captured():
    def ssh_packet(payload):
        pad = 4
        return (len(payload) + pad + 1).to_bytes(4, "big") + bytes([pad]) + payload + bytes(pad)

    kexinit = ssh_packet(b"\x14" + bytes(16) + bytes(4 * 10) + b"\x00" + bytes(4))
    client = b"SSH-2.0-OpenSSH_9.6\r\n" + kexinit
    server = b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n" + kexinit
    after = ssh_packet(b"\x1e" + bytes(40))
    hs = only_handshake(tcp_frames(segments([(False, server), (True, client), (True, after)]),
                                   dport=22))
    assert hs.client.kind == "ssh" and hs.server.kind == "ssh"
    assert hs.client.data == client            # nothing after KEXINIT is kept
    assert hs.server.data == server


@pytest.mark.parametrize("preamble", [
    [(False, b"220 mail.example ESMTP\r\n"), (True, b"EHLO client\r\n"),
     (False, b"250-mail.example\r\n250 STARTTLS\r\n"), (True, b"STARTTLS\r\n"),
     (False, b"220 Ready to start TLS\r\n")],
    [(False, b"* OK IMAP4rev1 ready\r\n"), (True, b"a1 STARTTLS\r\n"), (False, b"a1 OK go\r\n")],
    [(True, b"\x00\x00\x00\x08\x04\xd2\x16\x2f"), (False, b"S")],
    [(True, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n"),
     (False, b"HTTP/1.1 200 Connection established\r\n\r\n")],
    [(True, b"\x04\x01\x01\xbb\x5d\xb8\xd8\x22user\x00"), (False, b"\x00\x5a\x00\x00\x00\x00\x00\x00")],
], ids=["smtp", "imap", "postgresql", "http-connect", "socks4"])
def test_tls_after_a_plaintext_preamble_starts_where_the_tls_record_begins(preamble):
    chunks = preamble + TLS12
    hs = only_handshake(tcp_frames(segments(chunks), dport=25))
    client_pre = b"".join(d for c, d in preamble if c)
    server_pre = b"".join(d for c, d in preamble if not c)
    assert hs.client.kind == "tls" and hs.client.start == len(client_pre)
    assert hs.client.data[:len(client_pre)] == client_pre
    assert hs.server.kind == "tls" and hs.server.start == len(server_pre)


def test_plain_http_is_not_kept_and_hands_nothing_over():
    chunks = [(True, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), (False, b"HTTP/1.1 200 OK\r\n\r\nhi")]
    taken, engine = capture(tcp_frames(segments(chunks), dport=80))
    assert taken == []
    assert engine.counters()["handshake.memory_bytes"] == 0


def test_quic_long_header_datagrams_are_kept_until_a_short_header_packet():
    initial = bytes([0xC3]) + (1).to_bytes(4, "big") + bytes([8]) + bytes(8) + bytes(1) + bytes(1200)
    short = bytes([0x43]) + bytes(40)
    frames = udp_frames([(True, initial), (False, initial[:300]), (False, short),
                         (True, initial[:500]), (True, short)])
    hs = only_handshake(frames)
    assert hs.client.kind == "quic" and hs.proto == 17
    assert hs.client.data == len(initial).to_bytes(2, "big") + initial \
        + (500).to_bytes(2, "big") + initial[:500]
    assert hs.server.data == (300).to_bytes(2, "big") + initial[:300]


def test_udp_that_is_not_quic_is_not_kept():
    taken, _ = capture(udp_frames([(True, b"\x12\x34 dns query"), (False, b"answer")]))
    assert taken == []


def test_a_dns_query_whose_id_looks_like_a_long_header_is_not_quic():
    query = bytes.fromhex("c3a1 0100 0001 0000 0000 0000") + b"\x07example\x03com\x00\x00\x01\x00\x01"
    taken, _ = capture(udp_frames([(True, query), (False, query)]))
    assert taken == []


def test_a_long_header_with_an_unknown_version_is_not_quic():
    datagram = bytes([0xC3]) + (0x12345678).to_bytes(4, "big") + bytes([8]) + bytes(1300)
    taken, _ = capture(udp_frames([(True, datagram)]))
    assert taken == []


def test_handshake_memory_cap_bounds_buffers_and_counts_refusals():
    frames = []
    for i in range(2000):       # 2000 concurrent flows, each waiting for its server
        frames += tcp_frames(segments([(True, CLIENT_HELLO)]), sport=10000 + i, t0=i * 0.01)
    engine = FlowEngine(CoreConfig(handshake_memory_mb=1))
    engine.process(make_batch(frames))
    counters = engine.counters()
    assert counters["handshake.memory_bytes"] <= 1 << 20
    assert counters["handshake.memcap"] > 0
    engine.flush()
    engine.take_handshakes()
    assert engine.counters()["handshake.memory_bytes"] == 0


def test_flow_only_mode_captures_no_handshake_and_counts_the_same():
    frames = tcp_frames(segments(TLS12))
    taken, engine = capture(frames, CoreConfig(capture_handshakes=False))
    assert taken == [] and engine.counters()["handshake.memory_bytes"] == 0
    _, with_capture = capture(frames)
    only = engine.counters()
    assert only["flows_created"] == with_capture.counters()["flows_created"] == 1
