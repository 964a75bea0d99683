"""Channel aggregation over packet-time windows (engine/aggregate.py)."""

import numpy as np
import pytest

from engine.aggregate import AggregateConfig, ChannelAggregator, ChannelKey, window_label
from engine.errors import ConfigError
from engine.netscope import INTERNAL, OUTBOUND
from engine.records import FlowRecord

S = 1_000_000          # one second in microseconds
T0 = 1_700_000_000 * S
HOST, EXT = "10.0.0.5", "203.0.113.9"


def flow(flow_id=1, src=HOST, dst=EXT, dport=443, out=1000, back=100, start=T0, end=None,
         interim=False, app_proto="tls", proto=6, sport=50000):
    return FlowRecord(flow_id, src, sport, dst, dport, proto, (), 0, 10, 5, out, back,
                      start, start if end is None else end, start if end is None else end,
                      "established", "timeout", 0x1b, 0x1b, interim=interim, app_proto=app_proto)


def key(service="example.com", host=HOST, ext=EXT, port=443, proto=6):
    return ChannelKey(host, ext, service, port, proto)


# ---------------------------------------------------------------- config

def test_config_from_toml_table_accepts_duration_strings():
    cfg = AggregateConfig.from_table({"windows": ["24h", "1h", "15m"], "max_channels": 100})
    assert cfg.windows == (900, 3600, 86400)
    assert [window_label(w) for w in cfg.windows] == ["15m", "1h", "24h"]


@pytest.mark.parametrize("table, fragment", [
    ({"windows": []}, "'aggregate.windows' must be a non-empty list"),
    ({"windows": ["1 fortnight"]}, "'aggregate.windows' must be"),
    ({"windows": [10]}, "from 60 s"),
    ({"max_channels": -1}, "'aggregate.max_channels' is -1"),
    ({"beacon_ring": True}, "'aggregate.beacon_ring'"),
    ({"idle_timeout_s": 60}, "'aggregate.idle_timeout_s' is 60"),
    ({"include_internal": "yes"}, "'aggregate.include_internal' must be true or false"),
    ({"home_net": ["10.0.0.0/40"]}, "'aggregate.home_net'"),
    ({"window": ["1h"]}, "'aggregate.window' is not known"),
])
def test_bad_config_raises_a_sentence_naming_the_full_key(table, fragment):
    with pytest.raises(ConfigError) as err:
        AggregateConfig.from_table(table)
    assert fragment in str(err.value)
    assert str(err.value).endswith(".")


def test_config_errors_name_the_table_they_came_from():
    with pytest.raises(ConfigError, match="'sensor.aggregate.max_channels'"):
        AggregateConfig.from_table({"max_channels": 0}, where="sensor.aggregate")


# ---------------------------------------------------------------- channels

def test_outbound_flow_makes_a_channel_keyed_by_sni_port_and_protocol():
    agg = ChannelAggregator()
    delta = agg.add_flow(flow(out=5000, back=700), sni="Example.COM.")
    assert delta.key == key() and delta.bytes_out == 5000 and delta.new_connection
    st = agg.channel(key())
    assert st.windows["1h"].bytes_out == 5000 and st.windows["1h"].bytes_in == 700
    assert st.windows["1h"].connections == 1
    assert st.windows["24h"].upload_ratio == pytest.approx(5000 / 700)


def test_without_sni_the_service_or_app_proto_names_the_channel():
    agg = ChannelAggregator()
    agg.add_flow(flow(flow_id=1, dport=22, app_proto="ssh"))
    agg.add_flow(flow(flow_id=2, dport=2222, app_proto=None), service="ssh")
    agg.add_flow(flow(flow_id=3, dport=9999, app_proto=None))
    assert {k.service for k in agg._slots} == {"ssh", "-"}
    assert len(agg) == 3


def test_inbound_flow_is_the_internal_servers_channel_with_its_bytes_as_out():
    agg = ChannelAggregator()
    agg.add_flow(flow(src=EXT, dst=HOST, dport=22, sport=40000, out=100, back=8_000_000,
                      app_proto="ssh"))
    st = agg.channel(key("ssh", port=22))
    assert st.windows["1h"].bytes_out == 8_000_000


def test_internal_and_external_only_flows_are_skipped_and_counted():
    agg = ChannelAggregator()
    assert agg.add_flow(flow(dst="10.0.0.9")) is None
    assert agg.add_flow(flow(src="8.8.8.8", dst="1.1.1.1")) is None
    assert agg.stats()["skipped_internal"] == 1 and agg.stats()["skipped_external"] == 1
    assert len(agg) == 0
    agg = ChannelAggregator(AggregateConfig(include_internal=True, include_inbound=False))
    assert agg.add_flow(flow(dst="10.0.0.9")).direction == INTERNAL
    assert agg.add_flow(flow(flow_id=2)).direction == OUTBOUND
    assert agg.add_flow(flow(src=EXT, dst=HOST)) is None
    assert agg.stats()["skipped_inbound"] == 1


# ---------------------------------------------------------------- windows

def test_windows_slide_with_packet_time_not_wall_clock():
    agg = ChannelAggregator()
    agg.add_flow(flow(flow_id=1, out=1000, start=T0), sni="example.com")
    agg.add_flow(flow(flow_id=2, out=2000, start=T0 + 2 * 3600 * S), sni="example.com")
    st = agg.channel(key())
    assert st.windows["1h"].bytes_out == 2000          # the first left the hour
    assert st.windows["24h"].bytes_out == 3000
    assert st.windows["1h"].connections == 1 and st.windows["24h"].connections == 2
    agg.advance(T0 + 2 * 3600 * S + 25 * 3600 * S)
    assert agg.channel(key()) is None                 # idle past the longest window


def test_a_record_counts_at_its_flows_end_time():
    agg = ChannelAggregator()
    agg.add_flow(flow(out=1000, start=T0, end=T0 + 3 * 3600 * S), sni="example.com")
    agg.advance(T0 + 3 * 3600 * S + 30 * 60 * S)
    st = agg.channel(key())
    assert st.windows["1h"].bytes_out == 1000
    assert st.windows["1h"].duration_max_us == 3 * 3600 * S


def test_window_edge_is_bucket_granular():
    # 1 h window, 24 buckets of 150 s: a record 59 min old is in, 61 min old is out
    agg = ChannelAggregator()
    agg.add_flow(flow(flow_id=1, out=10, start=T0), sni="a.example")
    agg.advance(T0 + 59 * 60 * S - 150 * S)
    assert agg.channel(key("a.example")).windows["1h"].bytes_out == 10
    agg.advance(T0 + 61 * 60 * S)
    assert agg.channel(key("a.example")).windows["1h"].bytes_out == 0


def test_interim_records_are_not_double_counted():
    agg = ChannelAggregator()
    agg.add_flow(flow(out=1000, back=100, end=T0 + 300 * S, interim=True), sni="example.com")
    agg.add_flow(flow(out=2500, back=300, end=T0 + 600 * S, interim=True), sni="example.com")
    d = agg.add_flow(flow(out=4000, back=400, end=T0 + 700 * S), sni="example.com")
    assert (d.bytes_out, d.bytes_in, d.new_connection) == (1500, 100, False)
    w = agg.channel(key()).windows["1h"]
    assert (w.bytes_out, w.bytes_in, w.connections) == (4000, 400, 1)
    assert w.duration_total_us == 700 * S and w.duration_max_us == 700 * S
    assert agg.stats()["open_flows"] == 0


def test_interim_record_deltas_land_in_the_windows_of_their_own_time():
    agg = ChannelAggregator()
    agg.add_flow(flow(out=1000, end=T0, interim=True), sni="example.com")
    agg.add_flow(flow(out=1500, end=T0 + 2 * 3600 * S), sni="example.com")
    w = agg.channel(key()).windows
    assert w["1h"].bytes_out == 500 and w["24h"].bytes_out == 1500


def test_later_records_of_a_flow_stay_on_the_channel_of_its_first():
    agg = ChannelAggregator()
    agg.add_flow(flow(out=1000, interim=True), sni="example.com")
    agg.add_flow(flow(out=2000, end=T0 + 10 * S))          # caller forgot the SNI
    assert len(agg) == 1 and agg.channel(key()).windows["1h"].bytes_out == 2000


def test_channels_over_is_a_vectorised_threshold_query():
    agg = ChannelAggregator()
    for i in range(100):
        agg.add_flow(flow(flow_id=i, dst=f"198.51.100.{i}", out=i * 1000, back=1000),
                     sni="bulk.example")
    rows = agg.channels_over("1h", bytes_out=90_000)
    assert rows["external_ip"].tolist() == [f"198.51.100.{i}" for i in range(99, 89, -1)]
    assert rows["bytes_out"][0] == 99_000 and rows["upload_ratio"][0] == 99.0
    assert len(agg.channels_over("1h", upload_ratio=50.0)) == 50
    assert len(agg.snapshot("24h")) == 100


def test_host_upload_and_hosts_reaching_a_destination():
    agg = ChannelAggregator()
    agg.add_flow(flow(flow_id=1, out=100), sni="a.example")
    agg.add_flow(flow(flow_id=2, dst="198.51.100.1", out=200), sni="b.example")
    agg.add_flow(flow(flow_id=3, src="10.0.0.6", out=50), sni="a.example")
    assert agg.host_upload(HOST, "1h") == 300 and agg.host_upload("10.9.9.9", "1h") == 0
    assert agg.hosts_reaching(EXT, "24h") == ["10.0.0.5", "10.0.0.6"]


def test_unknown_window_is_a_programmer_error():
    with pytest.raises(ValueError, match="No window '2h'"):
        ChannelAggregator().snapshot("2h")


# ---------------------------------------------------------------- beacons

def test_beacon_ring_keeps_the_last_n_connections_oldest_first():
    agg = ChannelAggregator(AggregateConfig(beacon_ring=8))
    for i in range(20):
        agg.add_flow(flow(flow_id=i, out=100 + i, start=T0 + i * 60 * S), sni="c2.example")
    st = agg.channel(key("c2.example"))
    assert st.connections_seen == 20
    assert st.conn_start_us.tolist() == [T0 + i * 60 * S for i in range(12, 20)]
    assert st.conn_bytes_out.tolist() == [100 + i for i in range(12, 20)]
    assert np.all(np.diff(st.conn_start_us) == 60 * S)


def test_beacon_ring_size_of_a_long_flow_follows_its_interim_records():
    agg = ChannelAggregator(AggregateConfig(beacon_ring=4))
    agg.add_flow(flow(flow_id=1, out=10, interim=True), sni="x.example")
    agg.add_flow(flow(flow_id=1, out=99, end=T0 + 5 * S), sni="x.example")
    st = agg.channel(key("x.example"))
    assert st.conn_bytes_out.tolist() == [99] and st.connections_seen == 1


# ---------------------------------------------------------------- bounds

def test_channel_cap_evicts_the_least_recently_seen_and_counts_it():
    agg = ChannelAggregator(AggregateConfig(max_channels=64))
    for i in range(200):
        agg.add_flow(flow(flow_id=i, dst=f"198.51.{i // 250}.{i % 250}", start=T0 + i * S),
                     sni="x.example")
    st = agg.stats()
    assert len(agg) <= 64 and st["capacity"] == 64
    assert st["evicted_cap"] == 200 - len(agg)
    assert agg.channel(key("x.example", ext="198.51.0.199")) is not None
    assert agg.channel(key("x.example", ext="198.51.0.0")) is None
    assert len(agg._externals.ids) == len(agg)        # interned ids are released


def test_idle_channels_are_evicted_after_the_longest_window():
    agg = ChannelAggregator()
    agg.add_flow(flow(flow_id=1), sni="old.example")
    agg.add_flow(flow(flow_id=2, start=T0 + 23 * 3600 * S), sni="recent.example")
    agg.advance(T0 + 24 * 3600 * S + 120 * S)
    assert agg.channel(key("old.example")) is None
    assert agg.channel(key("recent.example")) is not None
    assert agg.stats()["evicted_idle"] == 1


def test_a_channel_evicted_while_asked_about_is_left_out_not_returned_empty():
    agg = ChannelAggregator()
    agg.add_flow(flow(flow_id=1), sni="old.example")
    assert agg.channel(key("old.example")) is not None
    # the next record applied makes the old channel idle past the longest window
    agg.add_flow(flow(flow_id=2, start=T0 + 25 * 3600 * S), sni="recent.example")
    found = agg.channels([key("old.example"), key("recent.example")])
    assert list(found) == [tuple(key("recent.example"))]
    assert found[tuple(key("recent.example"))].key == key("recent.example")


def test_flow_continuing_after_its_channel_was_evicted_starts_a_new_connection():
    agg = ChannelAggregator(AggregateConfig(max_channels=16))
    agg.add_flow(flow(flow_id=1, out=1000, interim=True), sni="long.example")
    for i in range(40):
        agg.add_flow(flow(flow_id=100 + i, dst=f"198.51.100.{i}", start=T0 + (i + 1) * S),
                     sni="x.example")
    assert agg.channel(key("long.example")) is None
    d = agg.add_flow(flow(flow_id=1, out=1500, end=T0 + 100 * S))
    assert d.new_connection and d.bytes_out == 500
    assert agg.channel(key("long.example")).windows["1h"].connections == 1


def test_open_flow_table_is_bounded():
    agg = ChannelAggregator(AggregateConfig(max_open_flows=10))
    for i in range(25):
        agg.add_flow(flow(flow_id=i, interim=True), sni="x.example")
    assert agg.stats()["open_flows"] == 10 and agg.stats()["open_flows_evicted"] == 15


def test_batched_application_matches_one_by_one():
    records = [flow(flow_id=i % 37, dst=f"198.51.100.{i % 11}", out=(i + 1) * 100,
                    start=T0 + (i // 37) * 600 * S, end=T0 + (i // 37) * 600 * S + i * S,
                    interim=i < 300) for i in range(400)]
    a = ChannelAggregator(AggregateConfig(batch_size=1))
    b = ChannelAggregator(AggregateConfig(batch_size=4096))
    for r in records:
        a.add_flow(r, sni="s.example")
        b.add_flow(r, sni="s.example")
    for w in ("1h", "24h"):
        sa, sb = a.snapshot(w), b.snapshot(w)
        assert sa.tolist() == sb.tolist()


def test_aggregation_with_every_record_a_new_channel_stays_bounded_and_usable():
    # the adversarial case: the cap holds and eviction keeps up (its speed is
    # measured in benchmarks/test_bench_layers.py)
    records = [flow(flow_id=i, src=f"10.0.{i % 50}.{i % 200}", dst=f"198.51.{i % 97}.{i % 250}",
                    start=T0 + i * 1000, out=i) for i in range(60_000)]
    agg = ChannelAggregator(AggregateConfig(max_channels=20_000))
    for r in records:
        agg.add_flow(r, sni="x.example")
    assert len(agg) <= 20_000 and agg.stats()["evicted_cap"] >= 40_000
    assert len(agg.channels_over("1h", bytes_out=1)) > 0


# ---------------------------------------------------------------- end to end

def test_demo_exfil_capture_through_the_pipeline_tops_the_hourly_upload():
    import json
    from pathlib import Path
    from engine.capture import open_capture
    from engine.detect import DetectionEngine
    from engine.pipeline import SensorPipeline
    pcaps = Path(__file__).resolve().parent.parent / "pcaps"
    truth = json.loads((pcaps / "ground_truth.json").read_text())
    exfil = next(f for f in truth["captures"]["exfil_tls_selfsigned.pcap"]["flows"]
                 if f["scenario"] == "exfil")
    # the detection layer takes each flow's SNI from the handshake that precedes it
    pipeline, detection = SensorPipeline(), DetectionEngine()
    with open_capture(str(pcaps / "exfil_tls_selfsigned.pcap")) as reader:
        for batch in reader:
            detection.process(pipeline.feed(batch))
    detection.process(pipeline.finish())
    top = detection.aggregator.channels_over("1h", bytes_out=1_000_000)
    assert len(top) == 1
    row = top[0]
    assert (row["internal_host"], row["external_ip"], row["service"], row["dest_port"],
            row["proto"]) == (exfil["src_ip"], exfil["dest_ip"], exfil["sni"],
                              exfil["dest_port"], 6)
    assert (row["bytes_out"], row["bytes_in"]) == (exfil["bytes_toserver"],
                                                   exfil["bytes_toclient"])
    assert row["connections"] == 1


def test_a_record_whose_channel_went_idle_while_its_batch_was_applied_is_judged_on_its_own():
    from engine.detect import DetectionEngine
    detection = DetectionEngine()
    detection.process([flow(flow_id=1, out=1000)])
    # 30 h later, with a record of that channel that comes far too late for
    # any window: a two-hour connection that sent 500 MB
    late = flow(flow_id=3, out=500_000_000, start=T0 + 10 * S, end=T0 + 7210 * S)
    events = detection.process([flow(flow_id=2, dst="198.51.100.7", start=T0 + 30 * 3600 * S),
                                late])
    assert detection.aggregator.channel(ChannelKey(HOST, EXT, "tls", 443, 6)) is None
    [alert] = [e for e in events if e["dest_ip"] == EXT]
    assert "connection open for 2.0 h" in alert["exfil"]["reasons"]
