"""How each measured tool is run over a capture; each runner returns packets processed.

Every tool is set up to do the same job: build bidirectional flows with the
exfilwatch core's default timeouts (new 30 s, established 600 s, closed
30 s) and emit one record per flow. ``available()`` says why a tool cannot
run instead of failing, so a missing peer is reported, not raised.
"""
from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import dpkt_baseline

# Suricata: single thread, EVE flow records only, no rules, our timeouts.
SURICATA_YAML = """\
%YAML 1.1
---
outputs:
  - eve-log:
      enabled: yes
      filetype: regular
      filename: eve.json
      types:
        - flow
stats:
  enabled: no
flow-timeouts:
  tcp:
    new: 30
    established: 600
    closed: 30
logging:
  default-log-level: notice
  outputs:
    - console:
        enabled: yes
"""
_SURICATA_READ = re.compile(r"read (\d+) files?, (\d+) packets")


def available(tool: str) -> str | None:
    """None when ``tool`` can run here, else the reason it cannot."""
    if tool.startswith("exfilwatch"):
        try:
            import engine._core  # noqa: F401  (the compiled core is the thing measured)
            import engine.capture  # noqa: F401
        except ImportError as exc:
            return f"not available ({exc})"
        return None
    if tool == "suricata":
        return None if shutil.which("suricata") else "not installed"
    if tool == "nfstream":
        return None if importlib.util.find_spec("nfstream") else "not installed"
    return None


def _run_in_process(path: Path, process, finish) -> int:
    """Every batch of the capture into `process`, then `finish()`, under the
    GC thresholds a replay runs with; returns the packets read."""
    from engine.capture import open_capture
    from engine.gcpolicy import batch_collections

    with batch_collections():
        with open_capture(path) as reader:
            for batch in reader:
                process(batch)
            packets = reader.packets_read
        finish()
    return packets


def run_exfilwatch(path: Path) -> int:
    """The flow-only pipeline in-process (handshake capture off): reader
    batches into the core, then flush."""
    from engine._core import FlowEngine
    from engine.config import CoreConfig

    eng = FlowEngine(CoreConfig(capture_handshakes=False))

    def finish():
        eng.flush()
        eng.take_flows()
    return _run_in_process(path, eng.process, finish)


def run_exfilwatch_full(path: Path) -> int:
    """The whole sensor pipeline in-process: the core plus the handshake layer
    (TLS/SSH/QUIC parsing, certificates); records are built, not written."""
    from engine.pipeline import SensorPipeline

    pipeline = SensorPipeline()
    return _run_in_process(path, pipeline.feed, pipeline.finish)


def run_exfilwatch_replay(path: Path) -> int:
    """What `exfilwatch replay` does: the pipeline, certificates, detections
    and alerts, EVE written to a temporary directory."""
    from engine.replay import replay

    with tempfile.TemporaryDirectory(prefix="exw-replay-") as tmp:
        result = replay([str(path)], tmp)
    return result.counters["packets"]


def run_dpkt(path: Path) -> int:
    flows = dpkt_baseline.count_flows(path)
    return sum(c.pkts_toserver + c.pkts_toclient for c in flows.values())


def run_suricata(path: Path) -> int:
    """A whole ``suricata -r`` run; the packet count is the one Suricata reports."""
    with tempfile.TemporaryDirectory(prefix="exw-suricata-") as tmp:
        conf = Path(tmp, "suricata.yaml")
        conf.write_text(SURICATA_YAML)
        proc = subprocess.run(
            ["suricata", "-c", str(conf), "--runmode", "single", "-r", str(path),
             "-l", tmp, "-k", "none", "-S", "/dev/null"],
            capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"suricata exited with {proc.returncode}: {proc.stderr.strip()[-500:]}")
    m = _SURICATA_READ.search(proc.stdout + proc.stderr)
    if not m:
        raise RuntimeError("suricata did not report how many packets it read.")
    return int(m.group(2))


def run_nfstream(path: Path) -> int:
    from nfstream import NFStreamer

    streamer = NFStreamer(source=str(path), statistical_analysis=False, n_dissections=0,
                          n_meters=1, idle_timeout=600)
    return sum(flow.bidirectional_packets for flow in streamer)


RUNNERS = {
    "exfilwatch": run_exfilwatch,
    "exfilwatch-full": run_exfilwatch_full,
    "exfilwatch-replay": run_exfilwatch_replay,
    "dpkt": run_dpkt,
    "suricata": run_suricata,
    "nfstream": run_nfstream,
}
