"""The hostile-traffic floods (benchmarks/floods.py) as benchmarks that also
assert their bounds: each runs in its own process, its throughput is
reported, and its peak RSS and counters must be within what the flood
states. Several seconds each:

    pytest benchmarks/test_bench_floods.py --benchmark-columns=median
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from floods import FLOODS

FLOODS_SCRIPT = Path(__file__).with_name("floods.py")


def _run_flood(name: str) -> dict:
    out = subprocess.run([sys.executable, str(FLOODS_SCRIPT), name, "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, f"the {name} flood crashed the sensor:\n{out.stderr}"
    return json.loads(out.stdout)


@pytest.mark.parametrize("name", list(FLOODS))
def test_flood_stays_within_its_bounds(benchmark, name):
    result = benchmark.pedantic(_run_flood, args=(name,), rounds=1, iterations=1)
    benchmark.extra_info.update({k: result[k] for k in
                                 ("packets", "packets_per_s", "peak_rss_mib", "bound_mib")})
    assert result["peak_rss_mib"] <= result["bound_mib"], result
    assert not result["expected_counters_missing"], result
