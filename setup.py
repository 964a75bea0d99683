"""Build of the Cython core ``engine._core``.

EXFILWATCH_DEBUG=1 builds with Cython bounds/wraparound checks and C
assertions on (the debug build of STYLE.md item 8); the default is the
release build, -O3 with no checks in the packet path.
"""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("EXFILWATCH_DEBUG", "") not in ("", "0")

compile_args = ["-O0", "-g"] if DEBUG else ["-O3", "-DNDEBUG"]
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
    )
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives,
                            compile_time_env={"EXFILWATCH_DEBUG": DEBUG}))
