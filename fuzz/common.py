"""Plumbing shared by the atheris fuzz targets (fuzz/fuzz_*.py).

Each target is a module with `TestOneInput(data: bytes)` that must never
raise on any input: an exception out of it is a bug (in the engine, or in
the target). Run one as a fuzzer with `python fuzz/fuzz_x.py [libFuzzer
flags] [corpus dirs]`; tests/test_regressions.py imports the same modules
and replays tests/regressions/<target>/* through the same TestOneInput, so
nothing here may need atheris unless the module runs as __main__.

Inputs are decoded with `Reader`, a tiny deterministic byte consumer (not
atheris.FuzzedDataProvider) so that fuzz/make_seeds.py can *encode* real
traffic into the same layout and the replay does not depend on atheris.
"""
import contextlib
import logging
import struct
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for _p in (REPO / "tests", REPO):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

# link types the core decodes, plus one it does not (DLT_IEEE802_11 = 105)
LINKTYPES = (1, 101, 228, 229, 0, 108, 9, 50, 12, 14, 113, 276, 105)


class Reader:
    """Consumes fuzzer bytes front to back; past the end every read is 0/empty."""

    def __init__(self, data: bytes):
        self.data = bytes(data)
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        out = self.data[self.pos:self.pos + max(0, n)]
        self.pos += len(out)
        return out

    def u8(self) -> int:
        b = self.take(1)
        return b[0] if b else 0

    def u16(self) -> int:
        return int.from_bytes(self.take(2).ljust(2, b"\0"), "big")

    def u32(self) -> int:
        return int.from_bytes(self.take(4).ljust(4, b"\0"), "big")

    def rest(self) -> bytes:
        return self.take(self.remaining())

    def chunks(self, max_count: int) -> list:
        """[u16 length][bytes] items until the input or max_count runs out."""
        out = []
        while self.remaining() >= 2 and len(out) < max_count:
            out.append(self.take(self.u16()))
        return out


def chunk(data: bytes) -> bytes:
    """The encoding `Reader.chunks` reads (for make_seeds.py)."""
    data = data[:0xFFFF]
    return struct.pack(">H", len(data)) + data


def fuzzing_imports(module_name: str):
    """Context for a target's engine imports: atheris-instrumented (Python
    coverage of engine/*.py) when the target runs as the fuzzer, plain
    otherwise (the regression replay)."""
    if module_name != "__main__":
        return contextlib.nullcontext()
    import atheris
    return atheris.instrument_imports(include=["engine"])


class _FormatAndDiscard(logging.Handler):
    """Formats every log record (a bad format string is a bug the fuzzer
    should see) without printing millions of warnings about fuzzed input."""

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


def main(test_one_input) -> None:
    """Run `test_one_input` under libFuzzer with this process's argv."""
    import atheris
    logging.basicConfig(level=logging.INFO, handlers=[_FormatAndDiscard()])
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
