# Everything a fresh machine needs is created here: the venv, the Python
# dependencies from PyPI, the compiled core. `make demo` and `make test` are
# the two entry points the README promises.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEPS_STAMP := $(VENV)/.deps-installed
CORE_SOURCES := $(wildcard engine/*.pyx engine/*.pxi engine/*.pxd) setup.py
CORE_STAMP := $(VENV)/.core-built
DEMO_OUT := out/demo

.PHONY: all demo test bench clean env

all: env

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(DEPS_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "Cython>=3.0" "setuptools>=65" wheel \
	    "numpy>=1.24" "dpkt>=1.9.8" "pcapy-ng>=2.1" "cryptography>=45" "orjson>=3.9" "tomli-w>=1.0" \
	    "maxminddb>=2.2" certifi "tldextract>=5.1" \
	    "pytest>=7" "pytest-benchmark>=4"
	touch $@

$(CORE_STAMP): $(DEPS_STAMP) $(CORE_SOURCES)
	$(BIN)/python -m pip install -q --no-build-isolation --no-deps -e .
	touch $@

env: $(CORE_STAMP)

demo: env
	$(BIN)/exfilwatch replay pcaps/*.pcap pcaps/*.pcapng -o $(DEMO_OUT) --summary

test: env
	$(BIN)/python -m pytest -q tests

bench: env
	$(BIN)/python benchmarks/compare.py --make-if-missing

clean:
	rm -rf $(VENV) build *.egg-info engine/_core.c engine/*.so out
