"""Replays every detection scenario as its ground truth prescribes and
prints the verdict matrix with precision and recall.

    python pcaps/scenario_matrix.py [--out DIR]

For each capture in pcaps/scenarios: a fresh baseline state, the captures
the scenario learns from replayed first, then the capture itself, with the
configuration its ground truth names (home_net, the demo root CA as an
approved CA, allowlist entries, [detect] tunables it overrides). An alert on the capture is an "alert"
verdict. Exit status 1 unless precision and recall are both 1.0.
"""
import argparse
import json
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from engine.allowlist import AllowlistConfig
from engine.config import from_table
from engine.detections import DetectConfig
from engine.replay import replay
from engine.settings import Settings
from engine.validation import ValidationConfig

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


@dataclass
class Outcome:
    name: str
    expect: str
    verdict: str
    fired: set
    must_fire: set
    may_fire: set

    @property
    def missing(self) -> set:
        return self.must_fire - self.fired

    @property
    def unexpected(self) -> set:
        """Detections that fired although the ground truth neither requires nor allows them."""
        return self.fired - self.must_fire - self.may_fire


def scenario_settings(config: dict) -> Settings:
    s = Settings()
    sections = dict(s.sections)
    sections["aggregate"] = replace(sections["aggregate"], home_net=tuple(config["home_net"]))
    sections["validation"] = ValidationConfig.from_table(
        {"approved_ca_files": [str(SCENARIOS / config["trusted_ca_pem"])]})
    sections["allowlist"] = AllowlistConfig.from_table(config.get("allowlist", {}))
    sections["detect"] = from_table(DetectConfig, config.get("detect", {}), "detect")
    return Settings(sections)


def run_scenario(name: str, truth: dict, workdir: Path) -> Outcome:
    config = truth["config"]
    settings = scenario_settings(config)
    state = workdir / name / "state"
    for i, learn in enumerate(config.get("baseline_learn_from", [])):
        replay([str(SCENARIOS / learn)], str(workdir / name / f"learn{i}"), settings, str(state))
    result = replay([str(SCENARIOS / name)], str(workdir / name / "out"), settings, str(state))
    fired = {d for a in result.alerts for d in a["exfil"]["evidence"]["findings"]}
    return Outcome(name, truth["expect"], "alert" if result.alerts else "silent", fired,
                   set(truth["detections"]), set(truth["detections_may_fire"]))


def run_matrix(workdir: Path) -> list:
    truth = json.loads((SCENARIOS / "ground_truth.json").read_text())
    return [run_scenario(name, t, workdir) for name, t in truth["captures"].items()]


def precision_recall(outcomes) -> tuple[float, float]:
    tp = sum(o.expect == "alert" and o.verdict == "alert" for o in outcomes)
    fp = sum(o.expect == "silent" and o.verdict == "alert" for o in outcomes)
    fn = sum(o.expect == "alert" and o.verdict == "silent" for o in outcomes)
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def format_matrix(outcomes) -> str:
    lines = ["| scenario | expected | verdict | detections that fired | expected, did not fire "
             "| fired, not in the ground truth |", "|---|---|---|---|---|---|"]
    for o in outcomes:
        lines.append(f"| {o.name.removesuffix('.pcap')} | {o.expect} | {o.verdict} | "
                     + " | ".join(", ".join(sorted(s)) or "-" for s in (o.fired, o.missing, o.unexpected))
                     + " |")
    p, r = precision_recall(outcomes)
    lines.append(f"\nprecision {p:.2f}, recall {r:.2f} over {len(outcomes)} scenarios")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="keep the replays' output here (default: temporary)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="exfilwatch-scenarios-") as tmp:
        outcomes = run_matrix(args.out or Path(tmp))
    print(format_matrix(outcomes))
    return 0 if precision_recall(outcomes) == (1.0, 1.0) else 1


if __name__ == "__main__":
    sys.exit(main())
