"""Where the shared conformance corpus is, and how to read its references.

The corpus lives beside the project (../shared/corpus) or at
$EXFILWATCH_CORPUS. It is required: a missing corpus fails the tests that
need it instead of skipping them, so CI cannot pass without it.
"""
import functools
import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def corpus_dir() -> Path:
    path = Path(os.environ.get("EXFILWATCH_CORPUS", REPO.parent / "shared" / "corpus"))
    if not (path / "reference" / "suricata").is_dir():
        pytest.fail(f"The conformance corpus is missing: {path} has no reference/suricata/. "
                    "Put ../shared beside the checkout or set EXFILWATCH_CORPUS.")
    return path


def reference_cases():
    """(capture path, Suricata eve.jsonl path) for every capture with a reference."""
    root = corpus_dir()
    cases = []
    for ref in sorted((root / "reference" / "suricata").glob("*.eve.jsonl")):
        name = ref.name[: -len(".eve.jsonl")]
        folder, _, filename = name.partition("__")
        cases.append((root / folder / filename, ref))
    return cases


def read_eve(path: Path, event_type: str):
    with open(path, encoding="utf-8") as fh:
        return [e for e in map(json.loads, fh) if e["event_type"] == event_type]


@functools.lru_cache(maxsize=None)
def pipeline_records(capture: Path) -> tuple:
    """Everything the sensor pipeline makes of one capture (cached: several
    conformance tests read the same captures)."""
    from engine.capture import open_capture
    from engine.pipeline import SensorPipeline

    pipeline = SensorPipeline()
    records = []
    with open_capture(str(capture)) as reader:
        for batch in reader:
            records += pipeline.feed(batch)
    records += pipeline.finish()
    return tuple(records)
