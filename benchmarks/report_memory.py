"""Peak memory and time of `exfilwatch report` on large synthetic EVE outputs.

    python benchmarks/report_memory.py [--flows 100000 500000 2000000]

For each size, the output directory `benchmarks/data/eve_<flows>/` is made by
make_eve.py on first use (git-ignored; 2 M flows are about 1.9 GB), then
`exfilwatch report` runs on it in a child process: the table gives its wall
time and its peak RSS (the child's own getrusage when the report is
written: the kernel's high-water mark of the whole Python process,
interpreter and imports included). tests/test_report_memory.py asserts the same property cheaply.
"""
import argparse
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from make_eve import write_eve_dir

log = logging.getLogger("report_memory")

DATA = Path(__file__).resolve().parent / "data"


# the report in a child, which prints its own peak RSS (KiB) when done
CHILD = ("import resource, sys\n"
         "from engine.cli import main\n"
         "status = main(sys.argv[1:])\n"
         "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
         "sys.exit(status)\n")


def measure(directory: Path) -> tuple:
    """(seconds, peak RSS in MiB) of one report of `directory`."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-c", CHILD, "report", str(directory), "-o",
                                 str(Path(tmp) / "report.html")],
                                check=True, capture_output=True, text=True)
        seconds = time.monotonic() - started
    return seconds, int(result.stdout.split()[-1]) / 1024


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flows", type=int, nargs="+", default=[100_000, 500_000, 2_000_000])
    args = p.parse_args(argv)
    rows = []
    for flows in sorted(args.flows):
        directory = DATA / f"eve_{flows}"
        if not (directory / "eve.json").exists():
            log.info("writing %s", directory)
            write_eve_dir(directory, flows)
        size = sum(f.stat().st_size for f in directory.glob("eve.json*"))
        seconds, peak = measure(directory)
        rows.append((flows, size, seconds, peak))
        log.info("%s flows: %.0f s, %.0f MiB", f"{flows:,}", seconds, peak)
    print("| flows | EVE bytes | seconds | peak RSS |\n|---:|---:|---:|---:|")
    for flows, size, seconds, peak in rows:
        print(f"| {flows:,} | {size / 1e9:.2f} GB | {seconds:.0f} | {peak:.0f} MiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
