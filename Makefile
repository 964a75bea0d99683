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

.PHONY: all demo test bench floods clean env

all: env

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# One package per line, so that adding one is a one-line change.
PIP_PACKAGES := \
    "Cython>=3.0" \
    "setuptools>=65" \
    wheel \
    "numpy>=1.24" \
    "dpkt>=1.9.8" \
    "pcapy-ng>=2.1" \
    "cryptography>=45" \
    "orjson>=3.9" \
    "tomli-w>=1.0" \
    "maxminddb>=2.2" \
    certifi \
    "tldextract>=5.1" \
    "redis>=5.0" \
    "pytest>=7" \
    "pytest-benchmark>=4" \
    "zat>=0.4.9" \
    "playwright>=1.40" \
    "hypothesis>=6.100"

# Debian packages the tests drive as real peers, installed with apt-get when
# missing (needs root, as CI and the sensor hosts have). One per line.
SYSTEM_PACKAGES := \
    iproute2 \
    rsyslog \
    redis-server \
    nftables \
    iptables \
    chromium

SYSTEM_STAMP := $(VENV)/.system-deps-installed

$(DEPS_STAMP): pyproject.toml Makefile | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(PIP_PACKAGES)
	touch $@

$(SYSTEM_STAMP): Makefile | $(BIN)/python
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "Installing Debian packages for the tests: $$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	touch $@

$(CORE_STAMP): $(DEPS_STAMP) $(CORE_SOURCES)
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install -q --no-build-isolation --no-deps -e .
	touch $@

env: $(CORE_STAMP)

demo: env
	$(BIN)/exfilwatch replay pcaps/*.pcap pcaps/*.pcapng -o $(DEMO_OUT) --summary
	$(BIN)/exfilwatch report $(DEMO_OUT) -o $(DEMO_OUT)/report.html
	@echo "Triage report: $(DEMO_OUT)/report.html"

test: env $(SYSTEM_STAMP)
	$(BIN)/python -m pytest -q tests

# the same suite with the Python layers on the pure-Python parser twin
# (engine/parsers_py), as msgpack runs its tests against fallback.py too
.PHONY: test-pure
test-pure: env $(SYSTEM_STAMP)
	EXFILWATCH_PURE_PARSERS=1 $(BIN)/python -m pytest -q tests

bench: env
	$(BIN)/python benchmarks/compare.py --make-if-missing

# hostile-traffic floods: throughput, peak RSS and counters, each within its bound
floods: env
	$(BIN)/python benchmarks/floods.py

clean:
	rm -rf $(VENV) build *.egg-info engine/_core.c engine/*.so out

# --- Robustness: sanitizer build and fuzzing (issue 7) ----------------------
# `make test-sanitize` copies the tree into build/sanitize/, builds the core
# there with EXFILWATCH_SANITIZE=1 (ASan + UBSan + Cython bounds checks, gcc)
# and runs the unit and conformance tests against that copy (~1 min); the
# in-place engine/_core*.so that `make test` uses is never touched. By hand:
#   EXFILWATCH_SANITIZE=1 python setup.py build_ext --inplace      (in a copy)
#   LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 python -m pytest tests
# `make fuzz FUZZ_SECONDS=600` runs every fuzz/fuzz_*.py target that long
# (default 60 s) against the release build, where atheris sees the Python
# layers' coverage only. FUZZ_BUILD=sanitize runs them against a clang build
# in build/sanitize-fuzz/ (EXFILWATCH_SANITIZE=fuzz: ASan + UBSan + libFuzzer
# coverage of the C code, atheris's asan_with_fuzzer.so preloaded); that is
# the one that finds memory bugs, and needs clang (apt-get install clang).
# `make fuzz-smoke` runs each target for 30 s (9 targets: ~5 min).
# Seeds come from pcaps/ and ../shared/corpus (fuzz/make_seeds.py ->
# build/fuzz-seeds/); the growing corpus is kept in build/fuzz-corpus/,
# crashes land in build/fuzz-crashes/<target>/: copy each into
# tests/regressions/<target>/, where tests/test_regressions.py replays it.
EXFILWATCH_CORPUS ?= $(abspath ..)/shared/corpus
FUZZ_SECONDS ?= 60
FUZZ_BUILD ?= release
FUZZ_TARGETS := $(sort $(wildcard fuzz/fuzz_*.py))
FUZZ_STAMP := $(VENV)/.fuzz-deps-installed
SEEDS_DIR := build/fuzz-seeds
SEEDS_STAMP := $(SEEDS_DIR)/.built
TREE_FILES = git ls-files -co --exclude-standard -z -- engine tests fuzz setup.py pyproject.toml README.md
SANITIZE_DEPS := $(DEPS_STAMP) $(CORE_SOURCES) $(wildcard fuzz/*.py tests/*.py)
ASAN_OPTIONS_ := detect_leaks=0:abort_on_error=1:allocator_may_return_null=1
UBSAN_OPTIONS_ := print_stacktrace=1:halt_on_error=1
CLANG = $$(command -v clang || command -v clang-14)

.PHONY: test-sanitize fuzz fuzz-smoke fuzz-seeds

# $(call sanitized_copy,DIR,EXFILWATCH_SANITIZE value,compiler environment)
define sanitized_copy
	rm -rf $(1) && mkdir -p $(1)
	$(TREE_FILES) | xargs -0 tar cf - | tar xf - -C $(1)
	ln -s $(abspath pcaps) $(1)/pcaps
	ln -s $(abspath benchmarks) $(1)/benchmarks
	rm -f $(1)/engine/_core.c $(1)/engine/*.so
	cd $(1) && $(3) EXFILWATCH_SANITIZE=$(2) $(abspath $(BIN))/python setup.py -q build_ext --inplace
	touch $(1)/.core-built
endef

build/sanitize/.core-built: $(SANITIZE_DEPS)
	$(call sanitized_copy,build/sanitize,1,)

# the fuzz build needs clang and its runtimes (Debian's clang-14): installed when missing
build/sanitize-fuzz/.core-built: $(SANITIZE_DEPS) $(FUZZ_STAMP)
	command -v clang >/dev/null || command -v clang-14 >/dev/null || { apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang-14 libclang-rt-14-dev; }
	$(call sanitized_copy,build/sanitize-fuzz,fuzz,CC=$(CLANG) LDSHARED="$(CLANG) -shared")

test-sanitize: build/sanitize/.core-built $(SYSTEM_STAMP)
	cd build/sanitize && EXFILWATCH_CORPUS=$(EXFILWATCH_CORPUS) \
	    LD_PRELOAD=$$($${CC:-gcc} -print-file-name=libasan.so) \
	    ASAN_OPTIONS=$(ASAN_OPTIONS_) UBSAN_OPTIONS=$(UBSAN_OPTIONS_) \
	    $(abspath $(BIN))/python -m pytest -q -p no:cacheprovider tests

$(FUZZ_STAMP): $(DEPS_STAMP)
	$(BIN)/python -m pip install -q "atheris>=2.3"
	touch $@

$(SEEDS_STAMP): fuzz/make_seeds.py fuzz/common.py | $(CORE_STAMP)
	EXFILWATCH_CORPUS=$(EXFILWATCH_CORPUS) $(BIN)/python fuzz/make_seeds.py $(SEEDS_DIR)
	touch $@

fuzz-seeds: $(SEEDS_STAMP)

ifeq ($(FUZZ_BUILD),sanitize)
FUZZ_DIR := build/sanitize-fuzz
FUZZ_DEPS := build/sanitize-fuzz/.core-built
FUZZ_ENV = LD_PRELOAD=$$($(abspath $(BIN))/python -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so \
    ASAN_OPTIONS=$(ASAN_OPTIONS_) UBSAN_OPTIONS=$(UBSAN_OPTIONS_)
else
FUZZ_DIR := .
FUZZ_DEPS := $(CORE_STAMP)
FUZZ_ENV :=
endif

fuzz: $(FUZZ_DEPS) $(FUZZ_STAMP) $(SEEDS_STAMP)
	@for t in $(FUZZ_TARGETS); do \
	    name=$$(basename $$t .py); \
	    corpus=$(abspath build/fuzz-corpus)/$$name; crashes=$(abspath build/fuzz-crashes)/$$name; \
	    mkdir -p $$corpus $$crashes; \
	    echo "== $$name: $(FUZZ_SECONDS) s against the $(FUZZ_BUILD) build"; \
	    ( cd $(FUZZ_DIR) && $(FUZZ_ENV) $(abspath $(BIN))/python $$t \
	        -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -rss_limit_mb=4096 -timeout=20 \
	        -artifact_prefix=$$crashes/ $$corpus $(abspath $(SEEDS_DIR))/$$name \
	        2>&1 | grep -v '^INFO: Instrumenting' ) ; \
	    test -z "$$(ls -A $$crashes)" || { echo "$$name: crashes in $$crashes"; exit 1; }; \
	done

fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=30
