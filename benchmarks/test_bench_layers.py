"""pytest-benchmark benchmarks of the Python layers' hot spots; timings are
reported (extra_info rates), never asserted: home_net orientation, channel
aggregation (steady and adversarial channel sets), batched baseline
observations, threat-intel lookups.

    pytest benchmarks/test_bench_layers.py --benchmark-columns=median,ops
"""
from types import SimpleNamespace

from engine.aggregate import AggregateConfig, ChannelAggregator
from engine.baseline import open_state
from engine.intel import IntelSet
from engine.netscope import NetScope

T0 = 1_700_000_000 * 1_000_000


def _flow(i, src, dst):
    return SimpleNamespace(flow_id=i, src_ip=src, src_port=50000 + i % 1000, dest_ip=dst,
                           dest_port=443, proto=6, bytes_toserver=1000 + i, bytes_toclient=200,
                           pkts_toserver=10, pkts_toclient=4, start_us=T0 + i * 1000,
                           end_us=T0 + i * 1000 + 500, interim=False, app_proto="tls")


def _rate(benchmark, n, unit):
    if benchmark.stats is not None:
        benchmark.extra_info[f"{unit}_per_s"] = round(n / benchmark.stats.stats.median)


def test_orient_flows_per_second(benchmark):
    scope = NetScope(["10.0.0.0/8", "2001:db8::/32"])
    flows = [_flow(i, f"10.0.{i % 256}.{i % 200}", f"198.51.{i % 100}.{i % 250}")
             for i in range(100_000)]
    benchmark(lambda: [scope.orient(f) for f in flows])
    _rate(benchmark, len(flows), "flows")


def test_aggregate_steady_channel_set(benchmark):
    records = [_flow(i, f"10.0.0.{i % 200}", f"198.51.100.{i % 25}") for i in range(100_000)]

    def run():
        agg = ChannelAggregator()
        for r in records:
            agg.add_flow(r, sni="x.example")
        agg.channels_over("1h", bytes_out=1)
    benchmark.pedantic(run, rounds=3)
    _rate(benchmark, len(records), "records")


def test_aggregate_every_record_a_new_channel(benchmark):
    records = [_flow(i, f"10.0.{i % 50}.{i % 200}", f"198.51.{i % 97}.{i % 250}")
               for i in range(60_000)]

    def run():
        agg = ChannelAggregator(AggregateConfig(max_channels=20_000))
        for r in records:
            agg.add_flow(r, sni="x.example")
    benchmark.pedantic(run, rounds=3)
    _rate(benchmark, len(records), "records")


def test_baseline_batched_observations(benchmark, tmp_path):
    obs = [("dest_ip", f"198.{i % 200}.{i % 97}.{i % 251}", f"10.0.{i % 40}.{i % 50}",
            T0 + i * 1000) for i in range(60_000)]
    counter = iter(range(1_000_000))

    def run():
        b = open_state(str(tmp_path / f"state{next(counter)}"))
        for i in range(0, len(obs), 500):
            b.observe_many(obs[i:i + 500])
        b.close()
    benchmark.pedantic(run, rounds=3)
    _rate(benchmark, len(obs), "observations")


def test_intel_lookups(benchmark, tmp_path):
    lines = [f"10.{i >> 8 & 255}.{i & 255}.0/24" for i in range(20000)]
    lines += [f"host{i}.evil{i % 97}.example" for i in range(20000)]
    path = tmp_path / "big.txt"
    path.write_text("\n".join(lines))
    intel = IntelSet.load([str(path)])

    def run():
        for i in range(20000):
            intel.match_ip(f"10.{i >> 8 & 255}.{i & 255}.9")
            intel.match_domain(f"a.b.host{i}.evil3.example")
    benchmark(run)
    _rate(benchmark, 40_000, "lookups")
