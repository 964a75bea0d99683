"""The report's peak memory does not grow with the number of flows it reads:
the model is run in a child process (its own peak RSS, from getrusage) over
a synthetic sensor output (benchmarks/make_eve.py) of N and 5N flows, with
bounds small enough that both runs reach every one of them. The old model
kept every record: about 5.4 KB a flow, some 0.9 GB between these runs.
Measured figures on a multi-GB output are in benchmarks/README.md."""
import json
import subprocess
import sys
from pathlib import Path

from sanitizer_env import environment_without_sanitizer

ROOT = Path(__file__).resolve().parent.parent
FEW_FLOWS = 40_000
MANY_FLOWS = 5 * FEW_FLOWS
HOSTS = 300                    # fewer than the host bound: every flow must be counted
GROWTH_BOUND_KIB = 8 * 1024    # what 160,000 more flows may add to the peak RSS

CHILD = """
import json, resource, sys
sys.path.insert(0, {bench!r})
import orjson
from make_eve import eve_lines
from engine.report.model import ReportLimits, build_triage

flows = int(sys.argv[1])
limits = ReportLimits(hosts=1_000, channels=2_000, alerts=1, certificates=500,
                      open_flows=1_000, handshakes=1_000, recent_flows=1_000)
triage = build_triage(((0, orjson.loads(line)) for line in eve_lines(flows, {hosts})),
                      limits=limits)
print(json.dumps({{"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   "flows": sum(h.flows for h in triage.hosts),
                   "channels_dropped": triage.dropped.channels,
                   "alerts_dropped": triage.dropped.alerts,
                   "open_flows_dropped": triage.dropped.open_flows}}))
"""


def run_model(flows: int) -> dict:
    code = CHILD.format(bench=str(ROOT / "benchmarks"), hosts=HOSTS)
    result = subprocess.run([sys.executable, "-c", code, str(flows)], capture_output=True,
                            text=True, check=True, cwd=ROOT,
                            env=environment_without_sanitizer())
    return json.loads(result.stdout)


def test_peak_memory_does_not_grow_with_the_number_of_flows():
    few, many = run_model(FEW_FLOWS), run_model(MANY_FLOWS)
    # every flow counted once, its interim records included, none forgotten
    assert (few["flows"], many["flows"]) == (FEW_FLOWS, MANY_FLOWS)
    assert few["open_flows_dropped"] == many["open_flows_dropped"] == 0
    # both runs reached the bounds: the smaller one is not trivially small
    assert few["channels_dropped"] > 0 and few["alerts_dropped"] > 0
    assert many["peak_kib"] - few["peak_kib"] < GROWTH_BOUND_KIB, (few, many)
