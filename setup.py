"""Build of the Cython core ``engine._core``.

EXFILWATCH_DEBUG=1 builds with Cython bounds/wraparound checks and C
assertions on (the debug build of STYLE.md item 8); the default is the
release build, -O3 with no checks in the packet path.

EXFILWATCH_SANITIZE=1 builds with AddressSanitizer and UndefinedBehaviorSanitizer
(-O1 -g, frame pointers kept) plus the same Cython checks as the debug build;
it is what `make test-sanitize` and the fuzz runs use. Python must then be
started with the sanitizer runtime preloaded, e.g.
    LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0
(CPython leaks by design at exit, so leak detection stays off).
EXFILWATCH_SANITIZE=fuzz adds -fsanitize=fuzzer-no-link (clang only: CC=clang)
so that atheris sees coverage of the C code; run it with atheris's own
runtime preloaded instead, LD_PRELOAD=<atheris.path()>/asan_with_fuzzer.so.
"""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup


def _switch(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


SANITIZE = _switch("EXFILWATCH_SANITIZE")
FUZZ_COVERAGE = os.environ.get("EXFILWATCH_SANITIZE") == "fuzz"
DEBUG = _switch("EXFILWATCH_DEBUG") or SANITIZE

SANITIZER_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                   "-fno-sanitize-recover=undefined"]
if FUZZ_COVERAGE:
    SANITIZER_FLAGS[0] += ",fuzzer-no-link"
if SANITIZE:
    compile_args = ["-O1", "-g"] + SANITIZER_FLAGS
    link_args = SANITIZER_FLAGS
elif DEBUG:
    compile_args, link_args = ["-O0", "-g"], []
else:
    compile_args, link_args = ["-O3", "-DNDEBUG"], []
directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

extensions = [
    Extension(
        "engine._core",
        sources=["engine/_core.pyx"],
        extra_compile_args=compile_args + ["-Wno-unused-function"],
        extra_link_args=link_args,
    )
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives,
                            compile_time_env={"EXFILWATCH_DEBUG": DEBUG}))
