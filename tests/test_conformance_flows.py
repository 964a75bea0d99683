"""Flow records against Suricata 7.0.10's on the shared corpus.

For every `flow` record Suricata wrote, the engine must have a flow with the
same 5-tuple (initiator first) and the same packet and byte counters in each
direction. The target is 95 % of Suricata's flows; the rest fall into the
classes below, each with the verdict on who is right.
"""
import ipaddress
from collections import defaultdict

from engine._core import FlowEngine
from engine.capture import open_capture

from corpus import read_eve, reference_cases

REQUIRED_AGREEMENT = 0.95

# Classes of disagreement, with the verdict (see the module docstring):
EXPLAINED = {
    "direction": (
        "Same flow and counters, opposite direction. All are TCP flows picked up "
        "midstream (no SYN seen) or ICMP without a request: Suricata 7 swaps such a flow "
        "when its app-layer detection first matches the protocol's server-side pattern "
        "(FlowSwap on reverse_flow). Without a SYN, RFC 9293 gives no initiator; our "
        "contract (DESIGN.md) is the first packet's sender, which is reproducible without "
        "a protocol guess. Not a defect on either side: a documented convention."
    ),
    "split": (
        "Suricata's one flow is several of ours (or back) with the same total: a late "
        "packet after a close or a long idle gap. DESIGN.md sets the TCP new/closed "
        "timeouts to 30 s where Suricata's defaults are 60 s, and Suricata's flow manager "
        "expires flows on its own clock tick rather than at the exact packet time. "
        "Configuration, not a defect."
    ),
    "counts": (
        "Same flow, different counters: malformed-fragment evasion captures where "
        "Suricata's overlap policy (BSD, last-wins for some overlaps) and ours (first copy "
        "wins, as in the handshake reassembler) reassemble different datagrams, and tunnel "
        "payloads Suricata rejects as invalid that we decode."
    ),
    "missing": (
        "Suricata has a flow we do not: packets it decodes through a layer we treat as "
        "not-a-flow (e.g. an IPv6-in-IPv4 packet whose inner header is invalid becomes an "
        "outer proto-41 flow in Suricata) or whose inner decode we reject."
    ),
}


def _key(proto_name, src, sport, dst, dport):
    return (proto_name, ipaddress.ip_address(src), sport, ipaddress.ip_address(dst), dport)


def _totals(count_tuples):
    return tuple(map(sum, zip(*count_tuples))) if count_tuples else None


def _engine_flows(capture):
    engine = FlowEngine()
    flows = []
    with open_capture(str(capture)) as reader:
        for batch in reader:
            engine.process(batch)
            flows.extend(engine.take_flows())
    engine.flush()
    flows.extend(engine.take_flows())
    return [f for f in flows if not f.interim]      # Suricata writes final records only


def compare_capture(capture, reference):
    """(agreeing count, list of (class, detail)) for one capture."""
    ours = defaultdict(list)
    for r in _engine_flows(capture):
        ports = r.proto in (6, 17)
        k = _key(r.proto_name, r.src_ip, r.src_port if ports else None,
                 r.dest_ip, r.dest_port if ports else None)
        ours[k].append((r.pkts_toserver, r.pkts_toclient, r.bytes_toserver, r.bytes_toclient))
    agree, disagreements = 0, []
    for s in read_eve(reference, "flow"):
        k = _key(s["proto"], s["src_ip"], s.get("src_port"), s["dest_ip"], s.get("dest_port"))
        f = s["flow"]
        counts = (f["pkts_toserver"], f["pkts_toclient"], f["bytes_toserver"], f["bytes_toclient"])
        if counts in ours.get(k, []):
            ours[k].remove(counts)
            agree += 1
            continue
        reverse = (k[0], k[3], k[4], k[1], k[2])
        swapped = (counts[1], counts[0], counts[3], counts[2])
        if swapped in ours.get(reverse, []):
            ours[reverse].remove(swapped)
            cls = "direction"
        elif _totals(ours.get(k, [])) == counts:
            cls = "split"
        elif ours.get(k) or ours.get(reverse):
            cls = "counts"
        else:
            cls = "missing"
        disagreements.append((cls, f"{capture.name}: {k} suricata={counts} "
                                   f"ours={ours.get(k) or ours.get(reverse)}"))
    return agree, disagreements


def test_flow_records_match_suricata_on_the_corpus():
    total = agreeing = 0
    by_class = defaultdict(list)
    for capture, reference in reference_cases():
        agree, disagreements = compare_capture(capture, reference)
        agreeing += agree
        total += agree + len(disagreements)
        for cls, detail in disagreements:
            by_class[cls].append(detail)
    rate = agreeing / total
    print(f"\nflow agreement with Suricata 7.0.10: {agreeing}/{total} = {rate:.2%}")
    for cls, details in sorted(by_class.items()):
        print(f"\n{cls} ({len(details)}): {EXPLAINED[cls]}")
        for d in details:
            print("   ", d)
    assert total > 1000, "the corpus references fewer flows than expected"
    assert rate >= REQUIRED_AGREEMENT
    assert set(by_class) <= set(EXPLAINED)


def test_every_corpus_capture_replays_without_error():
    """No capture, malformed ones included, may crash or raise in the core."""
    for capture, _ in reference_cases():
        flows = _engine_flows(capture)
        for r in flows:
            assert r.pkts_toserver + r.pkts_toclient > 0
