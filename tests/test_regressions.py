"""Every input a fuzz target ever crashed on, replayed through that target.

tests/regressions/<target>/<file> is an input that made fuzz/<target>.py's
TestOneInput raise or crash (the fuzzer's crash-* artifact, kept as is);
the test runs it through the same TestOneInput, so a fixed bug stays fixed
under `make test` and, built with sanitizers, under `make test-sanitize`.
Add a file here for every crash `make fuzz` reports, with its fix.
"""
import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FUZZ = REPO / "fuzz"
REGRESSIONS = Path(__file__).resolve().parent / "regressions"

CASES = sorted(p for p in REGRESSIONS.glob("*/*") if p.is_file())


def _target(name: str):
    """fuzz/<name>.py imported as a plain module (atheris is not needed)."""
    if str(FUZZ) not in sys.path:
        sys.path.insert(0, str(FUZZ))
    module_name = f"_fuzz_target_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, FUZZ / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def test_every_regression_dir_names_a_fuzz_target():
    for folder in REGRESSIONS.iterdir():
        if folder.is_dir():
            assert (FUZZ / f"{folder.name}.py").is_file(), \
                f"tests/regressions/{folder.name}/ names no fuzz target in fuzz/."


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.name[:20]}" for p in CASES])
def test_fuzz_crash_input_no_longer_fails(path):
    _target(path.parent.name).TestOneInput(path.read_bytes())
