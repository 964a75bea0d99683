"""Interim flow records of long flows: due every interim_interval_s, also
for a flow that has gone quiet but is still open (the sweep writes them,
driven by other traffic or, live, by the wall clock through expire()),
and counted once by the channel aggregation."""
from engine._core import FlowEngine
from engine.aggregate import AggregateConfig, ChannelAggregator
from engine.config import CoreConfig

from batches import make_batch
from frames import V4_A, eth, ipv4, udp

T0 = 1_700_000_000.0
S = 1_000_000
EXTERNAL = bytes([203, 0, 113, 9])
# long timeouts: only interim records can show these flows before the end
LONG = CoreConfig(interim_interval_s=300, other_timeout_new_s=3600,
                  other_timeout_established_s=3600)


def datagram(sport, payload=b"x" * 100, reply=False):
    if reply:
        return eth(0x0800, ipv4(17, udp(b"ok", sport=443, dport=sport), src=EXTERNAL, dst=V4_A))
    return eth(0x0800, ipv4(17, udp(payload, sport=sport, dport=443), src=V4_A, dst=EXTERNAL))


def feed(engine, times_and_frames):
    engine.process(make_batch([(T0 + t, f) for t, f in times_and_frames]))
    return engine.take_flows()


def test_a_quiet_open_flow_gets_interim_records_from_the_wall_clock_sweep():
    engine = FlowEngine(LONG)
    # ten seconds of traffic, then silence: no packet of the flow ever comes again
    assert feed(engine, [(t, datagram(40000)) for t in range(10)]) == []
    engine.expire(round((T0 + 299) * S))
    assert engine.take_flows() == []                   # not due yet
    engine.expire(round((T0 + 301) * S))
    first = engine.take_flows()
    assert [(r.interim, r.reason, r.pkts_toserver) for r in first] == [(True, "interim", 10)]
    engine.expire(round((T0 + 450) * S))
    assert engine.take_flows() == []                   # once per interval, not per sweep
    engine.expire(round((T0 + 602) * S))
    second = engine.take_flows()
    assert [(r.interim, r.pkts_toserver) for r in second] == [(True, 10)]
    assert second[0].flow_id == first[0].flow_id
    engine.flush()
    final = engine.take_flows()
    assert [(r.interim, r.reason) for r in final] == [(False, "shutdown")]
    assert engine.counters()["flow.interim_records"] == 2


def test_other_traffic_drives_the_interim_records_of_a_quiet_flow():
    engine = FlowEngine(LONG)
    quiet = [(t, datagram(40000)) for t in range(5)]
    busy = [(t, datagram(40001)) for t in range(10, 700, 20)]
    records = feed(engine, quiet + busy)
    quiet_interims = [r for r in records if r.src_port == 40000]
    assert [(r.interim, r.pkts_toserver) for r in quiet_interims] == [(True, 5), (True, 5)]
    # each at the first sweep after it fell due, with the flow's counters so far
    assert [(r.emitted_us - round(T0 * S)) // S for r in quiet_interims] == [310, 610]
    assert all(r.end_us == round((T0 + 4) * S) for r in quiet_interims)


def test_a_flow_ended_before_its_interim_is_due_gets_none():
    engine = FlowEngine(CoreConfig(interim_interval_s=300, other_timeout_new_s=30,
                                   other_timeout_established_s=30))
    feed(engine, [(t, datagram(40000)) for t in range(5)])
    engine.expire(round((T0 + 400) * S))
    records = engine.take_flows()
    assert [(r.interim, r.reason) for r in records] == [(False, "timeout")]


def test_aggregation_counts_a_long_flow_with_interim_records_once():
    engine = FlowEngine(LONG)
    frames = []
    for t in range(0, 900, 30):
        frames += [(t, datagram(40000, b"u" * 1000)), (t + 0.5, datagram(40000, reply=True))]
    records = feed(engine, frames)
    engine.expire(round((T0 + 1000) * S))      # quiet for 100 s: one more interim at ~910 s
    records += engine.take_flows()
    engine.flush()
    records += engine.take_flows()
    interims = [r for r in records if r.interim]
    final = [r for r in records if not r.interim]
    assert len(interims) == 3 and len(final) == 1
    agg = ChannelAggregator(AggregateConfig(home_net=("10.0.0.0/8",)))
    for rec in records:
        agg.add_flow(rec, service="probe")
    [channel] = agg.snapshot("24h")
    assert channel["bytes_out"] == final[0].bytes_toserver
    assert channel["bytes_in"] == final[0].bytes_toclient
    assert channel["connections"] == 1
    assert agg.stats()["open_flows"] == 0          # the final record closed the flow


def test_app_proto_names_stay_for_interim_records_and_leave_with_the_final_one():
    # flow ids are reproducible: learn this flow's from a first engine
    first = FlowEngine(LONG)
    feed(first, [(t, datagram(40000)) for t in range(10)])
    first.expire(round((T0 + 301) * S))
    flow_id = first.take_flows()[0].flow_id

    engine = FlowEngine(LONG)
    names = {flow_id: "quic", 12345: "ssh"}
    engine.process(make_batch([(T0 + t, datagram(40000)) for t in range(10)]))
    engine.process(make_batch([(T0 + 20, datagram(40001))]))     # a flow without a name
    engine.expire(round((T0 + 301) * S))
    interims = engine.take_flows(names)
    assert [(r.src_port, r.interim, r.app_proto) for r in interims] == [(40000, True, "quic")]
    assert names == {flow_id: "quic", 12345: "ssh"}              # kept for the final record
    engine.flush()
    final = {r.src_port: r for r in engine.take_flows(names)}
    assert not final[40000].interim and final[40000].app_proto == "quic"
    assert final[40001].app_proto is None
    assert names == {12345: "ssh"}                               # the ended flow's name left
    assert engine.take_flows() == []
