"""`make test-sanitize` preloads libasan into the tests. Processes that must
not inherit it (Chromium hangs under it; a child measuring Python's own
memory would measure ASan's quarantine instead) run without it."""
import contextlib
import os

SANITIZER_ENV = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")


def environment_without_sanitizer() -> dict:
    return {k: v for k, v in os.environ.items() if k not in SANITIZER_ENV}


@contextlib.contextmanager
def without_sanitizer_runtime():
    saved = {k: os.environ.pop(k) for k in SANITIZER_ENV if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)
