"""Shared fixture for the benchmarks: one generated capture per test session."""
import pytest

from make_corpus import make_corpus

BENCH_PACKETS = 200_000


@pytest.fixture(scope="session")
def bench_capture(tmp_path_factory):
    """A 200k-packet corpus (seed 1): big enough to amortise start-up, quick to build."""
    path = tmp_path_factory.mktemp("corpus") / "bench_200k.pcap"
    make_corpus(path, seed=1, packets=BENCH_PACKETS)
    return path
