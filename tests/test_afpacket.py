"""The AF_PACKET TPACKET_V3 capture path (engine/afpacket.py, engine/_afpacket.pxi)
on a veth pair between two namespaces the tests create.

Frames are written by a raw socket on the peer's veth end, so every byte the
ring must hand over is known; they carry MAC addresses no namespace owns, so
no stack answers them. Needs root and fails, not skips, without `ip netns`.
"""
import json
import socket
import struct
import subprocess
import sys
import threading
import time
from datetime import datetime

import pytest

from frames import eth, ipv4, udp
from netns import CLIENT_ADDR, SERVER_ADDR, VethPair
from nsthread import call_in_namespace
from livelab import REPO, client_flows, read_eve, sensor_lab

from engine.afpacket import ring_geometry
from engine.live import LiveOptions, open_interface, run_live

SERVER_IP = socket.inet_aton(SERVER_ADDR)
CLIENT_IP = socket.inet_aton(CLIENT_ADDR)
# Counting tests see only the frames they wrote, not the namespaces' own chatter.
ONLY_OURS = "udp and host " + SERVER_ADDR + " and {}"


def frame(sport: int, dport: int, payload: bytes, src=SERVER_IP, dst=CLIENT_IP) -> bytes:
    return eth(0x0800, ipv4(17, udp(payload, sport, dport), src, dst))


def flow_of(data: bytes) -> frozenset:
    """Direction-free UDP flow key of a captured frame."""
    return frozenset({(data[26:30], data[34:36]), (data[30:34], data[36:38])})


@pytest.fixture
def net():
    with VethPair() as pair:
        yield pair


def capture(net, **options):
    """A capture handle on the client's veth end."""
    return call_in_namespace(net.client_ns, open_interface,
                             LiveOptions(net.client_if, capture=options.pop("capture", "afpacket"),
                                         **options))


def sender(net, ns: str, ifname: str) -> socket.socket:
    """A raw socket that writes whole Ethernet frames onto ifname."""
    def make():
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((ifname, 0))
        return s
    return call_in_namespace(ns, make)


def from_server(net) -> socket.socket:
    return sender(net, net.server_ns, net.server_if)


def read_packets(handle, want: int, timeout_s: float = 5.0) -> list:
    """Copies of the frames of batches read until ``want`` came (or time ran out)."""
    got = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        batch = handle.read(0.05)
        if batch is not None:
            got += [batch.packet(i) for i in range(batch.count)]
    return got


def blast(sock, n: int, tag: bytes, dport: int = 7009) -> None:
    for i in range(n):
        sock.send(frame(20000 + i % 1000, dport, tag + i.to_bytes(4, "big") + bytes(40)))


def test_batches_hold_the_frames_sent_in_place_with_wall_clock_timestamps(net):
    handle = capture(net, bpf="udp dst port 7001", timeout_ms=20)
    try:
        tx = from_server(net)
        sent = [frame(40000 + i, 7001, b"frame %03d " % i + bytes(i)) for i in range(50)]
        t0 = time.time_ns() // 1000
        for f in sent:
            tx.send(f)
        t1 = time.time_ns() // 1000
        batches, got = [], []
        deadline = time.monotonic() + 5
        while len(got) < len(sent) and time.monotonic() < deadline:
            batch = handle.read(0.05)
            if batch is not None:
                batches.append((batch.count, batch.ts_us.copy(), batch.wirelens.copy(),
                                batch.caplens.copy(), batch.linktypes.copy()))
                got += [batch.packet(i) for i in range(batch.count)]
                # zero copy: the batch's buffer is the kernel's ring, read-only
                assert memoryview(batch.buf).readonly and not isinstance(batch.buf, bytes)
        assert got == sent
        for count, ts, wirelens, caplens, linktypes in batches:
            assert (t0 <= ts).all() and (ts <= t1 + 1000).all()
            assert (ts[1:] >= ts[:-1]).all()
            assert (linktypes == 1).all()
            assert (caplens == wirelens).all()
        assert [int(w) for b in batches for w in b[2]] == [len(f) for f in sent]
        assert handle.packets_read == len(sent)
        assert handle.kernel_stats()["kernel_packets"] == len(sent)
    finally:
        handle.close()


def test_bpf_filter_and_snap_length_apply(net):
    handle = capture(net, bpf="udp dst port 7001", snaplen=60, timeout_ms=20)
    try:
        tx = from_server(net)
        for i in range(40):
            tx.send(frame(40000 + i, 7001 + i % 2, b"x" * 200))
        got = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:      # the frames to 7002 must never come
            batch = handle.read(0.05)
            if batch is not None:
                assert (batch.caplens == 60).all() and (batch.wirelens == 242).all()
                got += [batch.packet(i) for i in range(batch.count)]
        assert len(got) == 20
        assert {struct.unpack("!H", g[36:38])[0] for g in got} == {7001}
    finally:
        handle.close()


def test_fanout_group_splits_by_flow_and_keeps_each_flow_whole(net):
    handles = [capture(net, bpf=ONLY_OURS.format("portrange 5000-5039"), fanout_group=4242,
                       timeout_ms=20) for _ in range(2)]
    try:
        tx_in = from_server(net)
        tx_out = sender(net, net.client_ns, net.client_if)
        flows = 40
        for i in range(flows):
            for _ in range(3):
                tx_in.send(frame(30000 + i, 5000 + i, b"to client"))
            # the reply direction leaves through the captured interface
            tx_out.send(frame(5000 + i, 30000 + i, b"to server", src=CLIENT_IP, dst=SERVER_IP))
        seen = [read_packets(h, 4 * flows, timeout_s=1.5) for h in handles]
        per_handle = [{flow_of(p) for p in packets} for packets in seen]
        assert sum(len(p) for p in seen) == 4 * flows
        assert per_handle[0] and per_handle[1], "one handle got every flow"
        assert not per_handle[0] & per_handle[1], "a flow was split between handles"
        assert len(per_handle[0] | per_handle[1]) == flows
    finally:
        for h in handles:
            h.close()


def test_batch_stays_valid_until_the_next_read_then_its_blocks_are_reused(net):
    # 1 MiB of 128 KiB blocks: a burst of small frames fills it several times over
    handle = capture(net, bpf=ONLY_OURS.format("dst port 7009"), snaplen=256, buffer_mb=1,
                     timeout_ms=10)
    try:
        assert handle.geometry.block_nr == 8
        tx = from_server(net)
        blast(tx, 20, b"first")
        batch = None
        deadline = time.monotonic() + 3
        while batch is None and time.monotonic() < deadline:
            batch = handle.read(0.05)
        assert batch is not None
        kept = [batch.packet(i) for i in range(batch.count)]
        assert all(b"first" in k for k in kept)
        # the kernel fills every other block, then finds ours held and drops
        blast(tx, 30000, b"later")
        time.sleep(0.3)
        assert [batch.packet(i) for i in range(batch.count)] == kept
        assert handle.kernel_stats()["kernel_drops"] > 0
        # the next read gives the block back: new frames land in it
        assert handle.read(0.05) is not None
        blast(tx, 30000, b"third")
        time.sleep(0.3)
        assert [batch.packet(i) for i in range(batch.count)] != kept
    finally:
        handle.close()


@pytest.mark.parametrize("path", ["pcap", "afpacket"])
def test_kernel_drops_of_a_throttled_consumer_reach_the_stats_record(net, tmp_path, path):
    handle = capture(net, capture=path, bpf=ONLY_OURS.format("dst port 7009"), snaplen=256,
                     buffer_mb=1, timeout_ms=10)
    try:
        # nobody reads while 30,000 frames arrive: the 1 MiB ring overflows
        blast(from_server(net), 30000, b"flood")
        time.sleep(0.3)
        early = handle.kernel_stats()
        assert early["kernel_drops"] > 0, early
        stop_event = threading.Event()
        threading.Timer(1.0, stop_event.set).start()
        result = run_live(handle, str(tmp_path / "out"), stop=stop_event)
    finally:
        handle.close()
    stats = [e for e in read_eve(tmp_path / "out" / "eve.json") if e["event_type"] == "stats"]
    capture_stats = stats[-1]["stats"]["capture"]
    assert capture_stats["kernel_drops"] >= early["kernel_drops"]
    assert capture_stats["kernel_packets"] >= 30000
    assert capture_stats["packets_read"] == (capture_stats["kernel_packets"]
                                            - capture_stats["kernel_drops"])
    assert result.kernel == {k: v for k, v in capture_stats.items() if k in result.kernel}


def test_pcap_counters_start_when_the_filter_is_set(net):
    """libpcap counts what arrives between binding and filtering; kernel_stats
    must not, or kernel_packets - kernel_drops exceeds what can be read."""
    import dataclasses
    handle = capture(net, capture="pcap", bpf="", timeout_ms=10)
    try:
        blast(from_server(net), 50, b"before")
        time.sleep(0.2)
        assert handle.kernel_stats()["kernel_packets"] >= 50
        handle.join(dataclasses.replace(handle.options, bpf=ONLY_OURS.format("dst port 7010")))
        assert handle.kernel_stats()["kernel_packets"] == 0
        blast(from_server(net), 7, b"after", dport=7010)
        got = read_packets(handle, 7, timeout_s=2)
        assert [g for g in got if b"after" in g] == got and len(got) == 7
        stats = handle.kernel_stats()
        assert (stats["kernel_packets"], stats["kernel_drops"]) == (7, 0)
    finally:
        handle.close()


def test_ring_geometry_fits_the_buffer_and_the_snap_length():
    g = ring_geometry(64, 262144)
    assert g.size == 64 << 20 and g.block_size == 1 << 20
    g = ring_geometry(1, 256)
    assert (g.block_size, g.block_nr) == (128 << 10, 8)
    g = ring_geometry(1, 262144)            # one packet of snaplen fits in a block
    assert g.block_size >= 262144 + 128 and g.block_size & (g.block_size - 1) == 0
    assert g.block_size % g.frame_size == 0


def _live(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "engine.cli", "live", "--capture", "afpacket",
                           *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=30, **kwargs)


def test_afpacket_errors_name_the_interface_filter_or_option(tmp_path):
    r = _live("-i", "xw-no-such0", "-o", tmp_path / "o")
    assert r.returncode == 1 and "Interface xw-no-such0 does not exist." in r.stderr
    r = _live("-i", "lo", "--bpf", "tcp port nosuchport", "-o", tmp_path / "o")
    assert r.returncode == 1 and "BPF filter 'tcp port nosuchport' is not valid" in r.stderr
    r = _live("-i", "lo", "--buffer-mb", 1 << 24, "-o", tmp_path / "o")
    assert r.returncode == 1 and "lower --buffer-mb (now 16777216)" in r.stderr
    r = _live("-i", "lo", "-o", tmp_path / "o", "--capture", "ring")
    assert r.returncode == 2 and "invalid choice: 'ring'" in r.stderr


def test_afpacket_without_cap_net_raw_says_so(tmp_path):
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", sys.executable, "-m", "engine.cli", "live",
                        "--capture", "afpacket", "-i", "lo", "-o", tmp_path / "o"],
                       cwd=REPO, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stderr
    assert "No permission to capture on interface lo" in r.stderr and "CAP_NET_RAW" in r.stderr


def test_afpacket_on_a_down_interface_says_so(net):
    subprocess.run(["ip", "-n", net.client_ns, "link", "set", net.client_if, "down"], check=True)
    with pytest.raises(Exception, match=f"Interface {net.client_if} is down"):
        capture(net)


# Each socket stamps a packet the stack did not stamp (the outgoing ones)
# itself, so two sensors' times, and the flow_id hashed from the start,
# differ by microseconds (and the alert_id hashed from them); everything else
# must be equal.
_PER_SOCKET = {"timestamp", "start", "end", "age", "first_seen", "flow_id", "flows", "alert_id"}


def _without_times(value):
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in _PER_SOCKET}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def _records(eve, client_port):
    """The upload's flow record's start (us) and its flow, tls, x509 and
    alert records without the per-socket times."""
    events = read_eve(eve)
    flows = client_flows(events, client_port)
    assert len(flows) == 1, flows
    flow_id = flows[0]["flow_id"]
    keep = [e for e in events if e["event_type"] in ("flow", "tls", "x509", "alert")
            and (e.get("flow_id") == flow_id or e["event_type"] == "x509"
                 or e.get("dest_ip") == SERVER_ADDR and e["event_type"] == "alert")]
    start = datetime.fromisoformat(flows[0]["flow"]["start"]).timestamp()
    return start, sorted(json.dumps(_without_times(e), sort_keys=True) for e in keep)


def test_both_capture_paths_write_the_same_records_for_a_tls_upload(tmp_path):
    with sensor_lab(tmp_path, args=["--capture", "pcap"], out=tmp_path / "pcap") as lab:
        afpacket_sensor = lab.add_sensor(tmp_path / "afpacket", "--capture", "afpacket")
        client_port = lab.upload_done(5_000_000)
        for sensor in (lab.sensor, afpacket_sensor):
            rc, err = lab.stop(sensor)
            assert rc == 0, err
    pcap_start, pcap = _records(tmp_path / "pcap" / "eve.json", client_port)
    start, afpacket = _records(tmp_path / "afpacket" / "eve.json", client_port)
    assert abs(start - pcap_start) < 0.001
    kinds = [json.loads(r)["event_type"] for r in afpacket]
    assert {"flow", "tls", "x509", "alert"} <= set(kinds), kinds
    assert afpacket == pcap


def test_a_spare_handle_captures_nothing_until_it_joins_its_filter_and_group(net):
    from engine.live import open_spare

    options = LiveOptions(net.client_if, capture="afpacket", bpf="udp dst port 7003",
                          timeout_ms=10, fanout_group=4242)
    spare = call_in_namespace(net.client_ns, open_spare, options)
    try:
        tx = from_server(net)
        blast(tx, 20, b"before", dport=7003)
        assert read_packets(spare, 1, timeout_s=0.5) == []
        spare.join(options)
        blast(tx, 30, b"after", dport=7003)
        blast(tx, 30, b"other", dport=7004)           # outside the joined filter
        got = read_packets(spare, 30)
        assert len(got) == 30 and all(b"after" in g for g in got)
    finally:
        spare.close()
