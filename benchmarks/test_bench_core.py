"""pytest-benchmark benchmarks of the flow pipeline; timings are reported, never asserted.

    pytest benchmarks/ --benchmark-columns=median,ops
"""
import pytest

import peers

needs_engine = pytest.mark.skipif(peers.available("exfilwatch") is not None,
                                  reason=f"exfilwatch core: {peers.available('exfilwatch')}")


def _report_rate(benchmark, packets: int) -> None:
    benchmark.extra_info["packets"] = packets
    if benchmark.stats is not None:   # None under --benchmark-disable
        benchmark.extra_info["packets_per_s"] = round(packets / benchmark.stats.stats.median)


def _read_only(path) -> int:
    from engine.capture import open_capture

    with open_capture(path) as reader:
        return sum(batch.count for batch in reader)


@needs_engine
def test_flow_pipeline_packets_per_second(benchmark, bench_capture):
    packets = benchmark.pedantic(peers.run_exfilwatch, args=(bench_capture,),
                                 rounds=5, warmup_rounds=1)
    _report_rate(benchmark, packets)


@needs_engine
def test_capture_reader_alone_packets_per_second(benchmark, bench_capture):
    """The reader's share of the pipeline: batches built, nothing decoded."""
    packets = benchmark.pedantic(_read_only, args=(bench_capture,), rounds=5, warmup_rounds=1)
    _report_rate(benchmark, packets)


def test_dpkt_baseline_packets_per_second(benchmark, bench_capture):
    """The pure-Python reference the core's speed-up is quoted against."""
    packets = benchmark.pedantic(peers.run_dpkt, args=(bench_capture,), rounds=2)
    _report_rate(benchmark, packets)
