"""`exfilwatch extract` writes every fragment of a flow's fragmented IP
datagrams, not only the fragment that completed each datagram, and none of
another flow's fragments, on captures generated here with dpkt (IPv4 in
order, out of order, interleaved with another flow's fragments reusing the
same IP ids; IPv6 fragment headers) and on Suricata's defrag captures."""
import socket

import dpkt
import pytest
from corpus import corpus_dir

from engine.extract import extract
from engine.ipfrag import FragmentHold, fragment_key
from engine.replay import replay

A, B = "10.1.0.1", "10.1.0.2"
A6, B6 = "fd00::1", "fd00::2"
MAC = b"\x02\x00\x00\x00\x00\x01"


def ipv4_fragments(src, dst, sport, dport, payload, ident, size=64):
    """One UDP datagram as Ethernet frames of IPv4 fragments of ``size``
    payload bytes (a multiple of 8), in order."""
    udp = bytes(dpkt.udp.UDP(sport=sport, dport=dport, data=payload,
                             ulen=8 + len(payload)))
    frames = []
    for off in range(0, len(udp), size):
        more = off + size < len(udp)
        ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=17, id=ident,
                        mf=int(more), offset=off // 8, data=udp[off:off + size])
        frames.append(_ether(ip, dpkt.ethernet.ETH_TYPE_IP))
    return frames


def ipv6_fragments(src, dst, sport, dport, payload, ident, size=64):
    """One UDP datagram as Ethernet frames of IPv6 fragments, in order."""
    udp = bytes(dpkt.udp.UDP(sport=sport, dport=dport, data=payload,
                             ulen=8 + len(payload), sum=1))
    frames = []
    for off in range(0, len(udp), size):
        more = off + size < len(udp)
        chunk = udp[off:off + size]
        frag = (bytes([17, 0]) + (off | more).to_bytes(2, "big") + ident.to_bytes(4, "big"))
        ip6 = dpkt.ip6.IP6(v=6, src=socket.inet_pton(socket.AF_INET6, src),
                           dst=socket.inet_pton(socket.AF_INET6, dst), nxt=44, hlim=64,
                           plen=len(frag) + len(chunk))
        frames.append(_ether(bytes(ip6) + frag + chunk, dpkt.ethernet.ETH_TYPE_IP6))
    return frames


def whole_udp(src, dst, sport, dport, payload):
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=17,
                    data=dpkt.udp.UDP(sport=sport, dport=dport, data=payload,
                                      ulen=8 + len(payload)))
    return _ether(ip, dpkt.ethernet.ETH_TYPE_IP)


def _ether(ip, ethertype):
    return bytes(dpkt.ethernet.Ethernet(src=MAC, dst=MAC, type=ethertype, data=bytes(ip)))


def write_pcap(path, frames):
    with open(path, "wb") as fh:
        writer = dpkt.pcap.Writer(fh)
        for i, frame in enumerate(frames):
            writer.writepkt(frame, ts=1_700_000_000 + i / 1000)
    return path


def read_frames(path):
    with open(path, "rb") as fh:
        return [bytes(frame) for _, frame in dpkt.pcap.Reader(fh)]


def flow_ids_by_port(out):
    import json

    flows = [json.loads(line) for line in open(out / "eve.json", encoding="utf-8")]
    return {f["src_port"]: f for f in flows if f["event_type"] == "flow"}


def extract_flow(tmp_path, frames, port):
    """Replay ``frames``, extract the flow whose source port is ``port``;
    (frames written, result, its flow record)."""
    pcap = write_pcap(tmp_path / "in.pcap", frames)
    replay([str(pcap)], str(tmp_path / "out"))
    flow = flow_ids_by_port(tmp_path / "out")[port]
    result = extract(str(tmp_path / "out"), str(tmp_path / "x.pcap"), flow_id=flow["flow_id"])
    return read_frames(tmp_path / "x.pcap"), result, flow


def test_in_order_fragments_are_all_written_with_the_flows_whole_packets(tmp_path):
    d1 = ipv4_fragments(A, B, 4000, 53, b"a" * 300, ident=1)
    whole = whole_udp(B, A, 53, 4000, b"reply")
    d2 = ipv4_fragments(A, B, 4000, 53, b"b" * 150, ident=2)
    frames, result, flow = extract_flow(tmp_path, [*d1, whole, *d2], 4000)
    assert frames == [*d1, whole, *d2]
    # the flow record counts each reassembled datagram once
    assert flow["flow"]["pkts_toserver"] == 2 and flow["flow"]["pkts_toclient"] == 1
    assert result.found == {flow["flow_id"]: 3}
    assert result.fragments_written == len(d1) + len(d2) - 2
    assert result.warnings == []


def test_out_of_order_fragments_are_written_in_capture_order(tmp_path):
    d1 = ipv4_fragments(A, B, 4000, 53, b"c" * 300, ident=9)
    shuffled = [d1[3], d1[0], d1[4], d1[2], d1[1]]
    frames, result, flow = extract_flow(tmp_path, shuffled, 4000)
    assert frames == shuffled
    assert result.found == {flow["flow_id"]: 1} and result.warnings == []


def test_another_flows_interleaved_fragments_are_not_written_even_with_the_same_ip_id(tmp_path):
    """Flow 4000 and flow 5000 run between the same hosts; their fragments
    interleave, and flow 5000's datagram uses the IP id that a later
    datagram of flow 4000 uses again."""
    ours1 = ipv4_fragments(A, B, 4000, 53, b"o" * 200, ident=7)
    theirs = ipv4_fragments(A, B, 5000, 53, b"t" * 200, ident=8)
    theirs_same_id = ipv4_fragments(A, B, 5000, 53, b"u" * 200, ident=3)
    ours2 = ipv4_fragments(A, B, 4000, 53, b"p" * 200, ident=3)
    interleaved = [f for pair in zip(ours1, theirs) for f in pair]
    capture = [*interleaved, theirs_same_id[0], theirs_same_id[1], theirs_same_id[3],
               theirs_same_id[2], *ours2]
    frames, result, flow = extract_flow(tmp_path, capture, 4000)
    assert frames == [*ours1, *ours2]
    assert result.found == {flow["flow_id"]: 2} and result.warnings == []
    # and the other flow gets exactly its own
    other = flow_ids_by_port(tmp_path / "out")[5000]["flow_id"]
    extract(str(tmp_path / "out"), str(tmp_path / "y.pcap"), flow_id=other)
    assert read_frames(tmp_path / "y.pcap") == [*theirs, theirs_same_id[0], theirs_same_id[1],
                                                 theirs_same_id[3], theirs_same_id[2]]


def test_a_fragment_whose_datagram_never_completes_is_not_written(tmp_path):
    stray = ipv4_fragments(A, B, 4000, 53, b"s" * 200, ident=11)[0]
    d1 = ipv4_fragments(A, B, 4000, 53, b"e" * 200, ident=12)
    whole = whole_udp(A, B, 4000, 53, b"tail")
    frames, result, flow = extract_flow(tmp_path, [stray, *d1, whole], 4000)
    assert frames == [*d1, whole]
    assert result.found == {flow["flow_id"]: 2} and result.warnings == []


def test_ipv6_fragments_are_all_written(tmp_path):
    d1 = ipv6_fragments(A6, B6, 4000, 53, b"6" * 250, ident=0x12345678)
    d2 = ipv6_fragments(A6, B6, 5000, 53, b"7" * 250, ident=0x12345679)
    capture = [d1[0], d2[0], d1[2], d2[1], d2[2], d1[1], *d2[3:], *d1[3:]]
    frames, result, flow = extract_flow(tmp_path, capture, 4000)
    assert frames == [d1[0], d1[2], d1[1], *d1[3:]]
    assert result.found == {flow["flow_id"]: 1} and result.warnings == []


def test_fragments_dropped_from_the_hold_are_reported(tmp_path, monkeypatch):
    """With no room to hold fragments, the completing fragment alone is
    written and the warning says its datagram lacks the others."""
    import engine.extract as extract_module

    monkeypatch.setattr(extract_module, "FragmentHold",
                        lambda sets, timeout: FragmentHold(sets, timeout, max_bytes=0))
    d1 = ipv4_fragments(A, B, 4000, 53, b"d" * 300, ident=5)
    frames, result, flow = extract_flow(tmp_path, d1, 4000)
    assert frames == [d1[-1]]
    assert result.warnings == [f"Flow {flow['flow_id']}: 1 fragmented datagram(s) written "
                               "without their other fragments (dropped from the fragment hold, "
                               "or not in the captures)."]


def test_cli_says_how_many_fragments_it_wrote(tmp_path):
    import subprocess
    import sys

    d1 = ipv4_fragments(A, B, 4000, 53, b"a" * 300, ident=1)
    write_pcap(tmp_path / "in.pcap", d1)
    replay([str(tmp_path / "in.pcap")], str(tmp_path / "out"))
    fid = flow_ids_by_port(tmp_path / "out")[4000]["flow_id"]
    done = subprocess.run([sys.executable, "-m", "engine.cli", "extract", str(tmp_path / "out"),
                           "--flow", str(fid), "-o", str(tmp_path / "x.pcap")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"Wrote {len(d1)} packets of 1 flow(s) of flow {fid} to "
                           f"{tmp_path / 'x.pcap'}, {len(d1) - 1} of them IP fragments written "
                           "beside the one completing their datagram.\n")


def test_fragment_key_names_the_datagram_and_ignores_whole_packets():
    d4 = ipv4_fragments(A, B, 4000, 53, b"k" * 100, ident=77)
    assert {fragment_key(f, 1) for f in d4} == {(socket.inet_aton(A), socket.inet_aton(B), 17, 77)}
    d6 = ipv6_fragments(A6, B6, 4000, 53, b"k" * 100, ident=78)
    assert {fragment_key(f, 1) for f in d6} == {
        (socket.inet_pton(socket.AF_INET6, A6), socket.inet_pton(socket.AF_INET6, B6), 17, 78)}
    # raw IP link type: the same key without the Ethernet header
    assert fragment_key(d4[0][14:], 101) == fragment_key(d4[0], 1)
    # a whole GRE packet carrying a fragment: the inner datagram's key
    gre = dpkt.ip.IP(src=socket.inet_aton("192.0.2.1"), dst=socket.inet_aton("192.0.2.2"), p=47,
                     data=dpkt.gre.GRE(p=dpkt.ethernet.ETH_TYPE_IP, data=d4[0][14:]))
    assert fragment_key(_ether(gre, dpkt.ethernet.ETH_TYPE_IP), 1) == fragment_key(d4[0], 1)
    assert fragment_key(whole_udp(A, B, 1, 2, b"x"), 1) is None
    assert fragment_key(b"\x00" * 3, 1) is None


def test_hold_is_bounded_by_datagrams_bytes_and_age():
    hold = FragmentHold(max_datagrams=2, timeout_us=1_000, max_bytes=100)
    hold.hold("a", 0, b"x" * 10, 10, 1)
    hold.hold("b", 1, b"x" * 10, 10, 1)
    hold.hold("c", 2, b"x" * 10, 10, 1)              # a third datagram evicts the oldest
    assert hold.take("a") == [] and hold.bytes == 20
    hold.hold("b", 3, b"y" * 85, 85, 1)              # 105 bytes: the oldest (b itself) goes
    assert hold.take("b") == [] and hold.bytes == 10
    hold.hold("d", 2_000, b"z", 1, 1)                # c is older than the timeout
    assert hold.take("c") == [] and hold.take("d") == [(2_000, b"z", 1, 1)]
    assert not hold and hold.bytes == 0


@pytest.mark.parametrize("name", [
    "defrag__bug-6887-defrag-ipv4-tcp-syn__frag-ip-tcp-syn.pcap",
    "defrag__bug-6887-defrag-eth-vlan-ipv6-tcp__frag-eth-vlan-ipv6-tcp.pcap",
    "defrag__bug-6887-defrag-ppp-ipv4-tcp-syn__frag-ppp-ip-tcp-syn.pcap",
])
def test_suricata_defrag_captures_extract_every_fragment(tmp_path, name):
    """Every frame of Suricata's single-flow defrag captures is a fragment
    or packet of that one flow: extracting it gives the capture back."""
    capture = corpus_dir() / "suricata-verify" / name
    replay([str(capture)], str(tmp_path / "out"))
    (flow,) = flow_ids_by_port(tmp_path / "out").values()
    result = extract(str(tmp_path / "out"), str(tmp_path / "x.pcap"), flow_id=flow["flow_id"])
    assert result.warnings == [] and result.fragments_written > 0
    assert read_frames(tmp_path / "x.pcap") == read_frames(capture)
