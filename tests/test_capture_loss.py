"""Capture-loss inference: ACKs for bytes the capture never saw.

The demo upload (6.6 MB over TLS) is replayed with segments removed the way
a dropping capture would lose them; the flow's missed_bytes must equal the
payload bytes removed, and nothing may be counted when only ACKs are
removed or segments are reordered.
"""
import os

import dpkt
import pytest

from batches import run_engine
from frames import ETH_IPV4, V4_A, V4_B, ipv4, tcp

PCAPS = os.path.join(os.path.dirname(__file__), "..", "pcaps")
UPLOAD = os.path.join(PCAPS, "exfil_tls_selfsigned.pcap")
UPLOAD_PORT = 8443


def _upload_frames():
    """(ts, frame, is_upload_data, payload_len) for the upload flow's packets."""
    out = []
    with open(UPLOAD, "rb") as fh:
        for ts, buf in dpkt.pcap.Reader(fh):
            ip = dpkt.ethernet.Ethernet(buf).data
            tcp = getattr(ip, "data", None)
            if not isinstance(tcp, dpkt.tcp.TCP) or UPLOAD_PORT not in (tcp.sport, tcp.dport):
                continue
            upload = tcp.dport == UPLOAD_PORT and len(tcp.data) > 0
            out.append((ts, buf, upload, len(tcp.data)))
    return out


@pytest.fixture(scope="module")
def upload():
    frames = _upload_frames()
    assert sum(1 for f in frames if f[2]) > 1000, "the demo upload capture changed"
    return frames


def _replay(frames):
    flows, counters = run_engine([(ts, buf) for ts, buf, *_ in frames])
    (flow,) = [f for f in flows if UPLOAD_PORT in (f.src_port, f.dest_port)]
    return flow, counters


def _data_indexes(frames):
    return [i for i, f in enumerate(frames) if f[2]]


def test_complete_capture_has_no_gaps(upload):
    flow, counters = _replay(upload)
    assert flow.missed_bytes == 0
    assert counters["tcp.gap_events"] == 0 and counters["tcp.gap_bytes"] == 0
    assert counters["tcp.ack_events"] > 100


def test_sparse_drops_are_counted_byte_for_byte(upload):
    data = _data_indexes(upload)
    dropped = set(data[20:-20:40])
    frames = [f for i, f in enumerate(upload) if i not in dropped]
    flow, counters = _replay(frames)
    lost = sum(upload[i][3] for i in dropped)
    assert flow.missed_bytes == lost
    assert counters["tcp.gap_bytes"] == lost
    assert counters["tcp.gap_events"] == len(dropped)


def test_a_burst_of_lost_packets_is_one_gap(upload):
    # 30 consecutive packets, data and ACKs alike, as when a ring overflows
    start = _data_indexes(upload)[500]
    frames = upload[:start] + upload[start + 30:]
    flow, counters = _replay(frames)
    assert flow.missed_bytes == sum(f[3] for f in upload[start:start + 30])
    assert counters["tcp.gap_events"] >= 1


def test_lost_acks_are_not_loss(upload):
    acks = [i for i, f in enumerate(upload) if not f[2] and f[3] == 0][10:-10]
    dropped = set(acks[::3])
    flow, counters = _replay([f for i, f in enumerate(upload) if i not in dropped])
    assert flow.missed_bytes == 0 and counters["tcp.gap_events"] == 0
    assert counters["tcp.ack_events"] > 100


def test_reordered_segments_are_not_loss(upload):
    # back-to-back segments swapped: the later one opens a hole the
    # earlier one fills before any ACK covers it
    frames = list(upload)
    pairs = [i for i in _data_indexes(frames)[50:-50] if frames[i + 1][2]][::10]
    assert len(pairs) > 20
    for i in pairs:
        frames[i], frames[i + 1] = frames[i + 1], frames[i]
    flow, counters = _replay(frames)
    assert flow.missed_bytes == 0 and counters["tcp.gap_events"] == 0


def test_lost_tail_segment_is_counted():
    # the server acknowledges 100 bytes the capture never saw
    frames = [
        (0.0, _tcp_req(0x02, 1000, 0)),
        (0.1, _tcp_reply(0x12, seq=5000, ack=1001)),
        (0.2, _tcp_req(0x10, 1001, 5001)),
        (0.3, _tcp_req(0x18, 1001, 5001, b"x" * 200)),
        (0.4, _tcp_reply(0x10, seq=5001, ack=1301)),
    ]
    flow, counters = _replay_frames(frames)
    assert flow.missed_bytes == 100
    assert (counters["tcp.ack_events"], counters["tcp.gap_events"]) == (1, 1)


def test_midstream_pickup_and_absurd_jumps_are_not_loss():
    frames = [
        (0.0, _tcp_req(0x18, 70000, 9000, b"a" * 100)),      # no SYN: picked up midstream
        (0.1, _tcp_reply(0x10, seq=9000, ack=70100)),
        (0.2, _tcp_req(0x18, 70100, 9000, b"b" * 100)),
        (0.3, _tcp_reply(0x10, seq=9000, ack=70100 + (1 << 30))),   # a broken ACK
    ]
    flow, counters = _replay_frames(frames)
    assert flow.missed_bytes == 0 and counters["tcp.gap_events"] == 0


def _tcp_req(flags, seq, ack, payload=b""):
    return ETH_IPV4 + ipv4(6, tcp(flags, seq=seq, ack=ack, payload=payload))


def _tcp_reply(flags, seq, ack, payload=b""):
    return ETH_IPV4 + ipv4(6, tcp(flags, sport=443, dport=12345, seq=seq, ack=ack,
                                  payload=payload), src=V4_B, dst=V4_A)


def _replay_frames(frames):
    flows, counters = run_engine(frames)
    assert len(flows) == 1
    return flows[0], counters


def test_loss_meter_answers_for_the_window_only():
    from engine.capture_loss import CaptureLossMeter
    meter = CaptureLossMeter(span_s=7200)
    minute = 60_000_000
    meter.observe(0, 100, 10)                 # a lossy first minute
    for i in range(1, 60):
        meter.observe(i * minute, 100, 0)     # then clean ones
    assert meter.fraction(59 * minute, 3600) == pytest.approx(10 / 6000)
    for i in range(60, 120):
        meter.observe(i * minute, 100, 0)
    assert meter.fraction(119 * minute, 3600) is None   # the loss left the window
    meter.observe(120 * minute, 50, 5)
    # since the sample at minute 60: 59 clean minutes and the last report
    assert meter.fraction(120 * minute, 3600) == pytest.approx(5 / (59 * 100 + 50))


def test_alert_and_stats_say_how_much_the_capture_lost(upload, tmp_path):
    import json
    from engine.replay import replay
    data = _data_indexes(upload)
    dropped = set(data[20:-20:25])
    path = tmp_path / "lossy.pcap"
    with open(path, "wb") as fh:
        writer = dpkt.pcap.Writer(fh)
        for i, (ts, buf, *_rest) in enumerate(upload):
            if i not in dropped:
                writer.writepkt(buf, ts)
    result = replay([str(path)], str(tmp_path / "out"))
    events = [json.loads(line) for line in open(result.eve_path)]
    (stats,) = [e["stats"]["tcp"] for e in events if e["event_type"] == "stats"]
    assert stats["gap_events"] == len(dropped)
    assert stats["capture_loss_pct"] == pytest.approx(100 * len(dropped) / stats["ack_events"],
                                                      abs=1e-3)
    (flow,) = [e for e in events if e["event_type"] == "flow"]
    assert flow["tcp"]["missed_bytes"] == sum(upload[i][3] for i in dropped)
    alerts = [e for e in events if e["event_type"] == "alert"]
    assert alerts, "the lossy upload must still raise its alert"
    loss = round(len(dropped) / stats["ack_events"] * 100)
    assert any(r.startswith(f"capture loss {loss}% in this window") for r in alerts[0]["exfil"]["reasons"])
