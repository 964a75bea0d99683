"""Highest replay rate `exfilwatch live` keeps up with, per capture path.

A veth pair joins two network namespaces (tests/netns.py); tcpreplay
writes the benchmark capture into one end at increasing packet rates and
`exfilwatch live` captures on the other end. Each step replays
``--seconds`` worth of packets at its rate; the sensor's last `stats`
record gives the kernel's received and dropped counts. A rate passes when
fewer than 0.1 % of the packets the kernel received were dropped; the
first failing rate ends the climb for that capture path. ``--flow-only``
runs the sensor without handshake parsing, where the Python layers have
little to do and the capture path's own cost shows.

    python benchmarks/live_rates.py --make-if-missing            # needs root, tcpreplay
    python benchmarks/live_rates.py --paths afpacket --rates 50000,100000 --seconds 3

tcpreplay comes from benchmarks/install_peers.sh (Debian package tcpreplay).
Everything runs on the same cores as tcpreplay, so the numbers
understate a sensor with its own cores and a capture NIC.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

from make_corpus import DEFAULT_OUT, make_corpus  # noqa: E402
from netns import VethPair  # noqa: E402

DROP_LIMIT = 0.001
DEFAULT_RATES = (25_000, 50_000, 100_000, 200_000, 400_000, 800_000)


@dataclass(frozen=True)
class Step:
    path: str
    workers: int
    pps_asked: int
    pps_sent: float         # what tcpreplay reports it achieved
    mbps_sent: float
    sent: int
    kernel_packets: int
    kernel_drops: int
    packets_read: int
    cpu_s: float            # the sensor's user + system CPU time while the replay ran

    @property
    def cpu_us_per_packet(self) -> float:
        return 1e6 * self.cpu_s / self.packets_read if self.packets_read else 0.0

    @property
    def drop_ratio(self) -> float:
        return self.kernel_drops / self.kernel_packets if self.kernel_packets else 1.0

    @property
    def passed(self) -> bool:
        return self.kernel_packets > 0 and self.drop_ratio < DROP_LIMIT


def start_sensor(net: VethPair, out: Path, config: Path, path: str,
                 workers: int) -> subprocess.Popen:
    argv = [sys.executable, "-m", "engine.cli", "live", "-i", net.client_if, "-o", out,
            "-c", config, "--capture", path, "--stats-interval", "0.5", "--quiet"]
    if workers > 1:
        argv += ["--workers", workers]
    sensor = net.popen(net.client_ns, argv, cwd=REPO, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not last_stats(out):
        if sensor.poll() is not None or time.monotonic() > deadline:
            sensor.kill()
            raise RuntimeError(f"exfilwatch live did not start: {sensor.communicate()[1]!r}")
        time.sleep(0.1)
    return sensor


def last_stats(out: Path) -> dict | None:
    eve = out / "eve.json"
    if not eve.exists():
        return None
    stats = None
    for line in eve.read_text(encoding="utf-8").splitlines():
        if '"event_type":"stats"' in line.replace(" ", ""):
            stats = json.loads(line)["stats"]["capture"]
    return stats


def replay(net: VethPair, capture: Path, pps: int, packets: int) -> tuple[int, float, float]:
    """Packets tcpreplay sent and the rate it reports (packets/s, Mbit/s)."""
    r = net.popen(net.server_ns, ["tcpreplay", "-q", "-i", net.server_if, f"--pps={pps}",
                                  f"--limit={packets}", capture],
                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = r.communicate(timeout=packets / pps * 3 + 60)
    if r.returncode != 0:
        raise RuntimeError(f"tcpreplay failed: {out.strip()}")
    sent = re.search(r"Actual: (\d+) packets", out)
    rated = re.search(r"Rated: [\d.]+ Bps, ([\d.]+) Mbps, ([\d.]+) pps", out)
    if not (sent and rated):
        raise RuntimeError(f"tcpreplay's report is not understood: {out.strip()}")
    return int(sent.group(1)), float(rated.group(2)), float(rated.group(1))


def measure(net: VethPair, capture: Path, config: Path, path: str, workers: int, pps: int,
            seconds: float) -> Step:
    with tempfile.TemporaryDirectory(prefix="live-rates-") as tmp:
        out = Path(tmp)
        sensor = start_sensor(net, out, config, path, workers)
        try:
            cpu_at_start = cpu_seconds(sensor.pid)
            sent, pps_sent, mbps_sent = replay(net, capture, pps, int(pps * seconds))
            time.sleep(1.0)             # the last ring blocks retire and are read
            cpu_s = cpu_seconds(sensor.pid) - cpu_at_start
        finally:
            sensor.send_signal(signal.SIGTERM)
            sensor.communicate(timeout=120)
        stats = last_stats(out) or {}
    return Step(path, workers, pps, pps_sent, mbps_sent, sent, stats.get("kernel_packets", 0),
                stats.get("kernel_drops", 0), stats.get("packets_read", 0), cpu_s)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (`ip netns exec` execs it: same pid)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--capture", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--make-if-missing", action="store_true",
                    help="generate the capture with make_corpus.py (seed 1) when it is absent")
    ap.add_argument("--paths", default="pcap,afpacket", help="capture paths to measure")
    ap.add_argument("--workers", default="1,2,4", help="worker counts")
    ap.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)),
                    help="packets per second to try, in increasing order")
    ap.add_argument("--seconds", type=float, default=4.0, help="replay length of each step")
    ap.add_argument("--flow-only", action="store_true",
                    help="run the sensor with [core] capture_handshakes = false: flows only, "
                         "no handshake parsing, so the capture path's own cost shows")
    args = ap.parse_args(argv)

    if shutil.which("tcpreplay") is None:
        sys.exit("tcpreplay is missing: run benchmarks/install_peers.sh (needs root).")
    if not args.capture.exists():
        if not args.make_if_missing:
            sys.exit(f"{args.capture} does not exist; run make_corpus.py or pass "
                     f"--make-if-missing.")
        make_corpus(args.capture, seed=1)
    workers = [int(w) for w in args.workers.split(",")]
    rates = [int(r) for r in args.rates.split(",")]

    best, first_drops = {}, {}
    paths = args.paths.split(",")
    with tempfile.TemporaryDirectory(prefix="live-rates-conf-") as conf_dir, VethPair() as net:
        config = Path(conf_dir) / "exfilwatch.toml"
        # flow-only: the core keeps flows and nothing else, so the capture path shows
        config.write_text("[core]\ncapture_handshakes = false\n" if args.flow_only else "")
        for dev, ns in ((net.client_if, net.client_ns), (net.server_if, net.server_ns)):
            # the corpus has tagged full-size frames; no frame may be refused by the veth
            subprocess.run(["ip", "-n", ns, "link", "set", dev, "mtu", "9000"], check=True)
        for w in workers:
            climbing = list(paths)
            # the paths take turns at each rate, so that load from elsewhere
            # on the machine falls on both alike
            for pps in rates:
                for path in list(climbing):
                    step = measure(net, args.capture, config, path, w, pps, args.seconds)
                    print(f"{path:8} workers={w} asked {pps:>7,} pps  sent {step.pps_sent:>9,.0f} "
                          f"pps  kernel received {step.kernel_packets:>9,} dropped "
                          f"{step.kernel_drops:>8,} ({100 * step.drop_ratio:.3f} %)  "
                          f"read {step.packets_read:>9,}  CPU {step.cpu_us_per_packet:.1f} us/packet  "
                          f"{'ok' if step.passed else 'DROPS'}",
                          flush=True)
                    if not step.passed:
                        climbing.remove(path)
                        first_drops[path, w] = step
                    elif (path, w) not in best or step.pps_sent > best[path, w].pps_sent:
                        best[path, w] = step
                if not climbing:
                    break
    print("\n| capture path | workers | highest rate with < 0.1 % kernel drops | sensor CPU there "
          "| first drops |")
    print("|---|---|---|---|---|")
    for path in paths:
        for w in workers:
            step = best.get((path, w))
            rate = (f"{step.pps_sent:,.0f} packets/s ({step.mbps_sent:,.0f} Mbit/s)"
                    if step else f"below {rates[0]:,} packets/s")
            cpu = f"{step.cpu_us_per_packet:.1f} us/packet" if step else "-"
            drops = first_drops.get((path, w))
            limit = (f"{100 * drops.drop_ratio:.1f} % at {drops.pps_sent:,.0f} packets/s" if drops
                     else "none at any rate tried")
            print(f"| {path} | {w} | {rate} | {cpu} | {limit} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
