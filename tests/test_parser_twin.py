"""The pure-Python twin of the handshake parsers (engine/parsers_py) gives
the same records as the compiled core (engine/_tls.pxi, engine/_ssh.pxi):
on every TLS, SSH and QUIC handshake of the shared corpus and of pcaps/,
on mutations of them (truncation at every offset, length fields set to
their extremes at every offset, seeded random byte flips), and on
handshakes built field by field with lengths sometimes wrong (hypothesis,
derandomized so that a run is reproducible)."""
import array
import functools
import importlib
import inspect
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wire_strategies as wire

from engine import parsers, parsers_py
from engine.handshake import SshSession, TlsSession

from corpus import pipeline_records, reference_cases
from twin import CORE, PURE, Twin, extremes, flips, truncations

REPO = Path(__file__).resolve().parent.parent
DEMO_CAPTURES = sorted((REPO / "pcaps").glob("*.pcap*")) + \
    sorted((REPO / "pcaps" / "scenarios").glob("*.pcap"))


def _handshakes(captures):
    for capture in captures:
        for rec in pipeline_records(capture):
            if isinstance(rec, (TlsSession, SshSession)):
                yield rec.record


@functools.lru_cache(maxsize=None)
def corpus_twin() -> Twin:
    """Both implementations over every handshake of the shared corpus."""
    twin = Twin()
    for record in _handshakes(capture for capture, _ in reference_cases()):
        twin.check_handshake(record)
    return twin


def test_twin_agrees_on_every_handshake_of_the_corpus():
    calls = corpus_twin().calls
    # every parser met real traffic: TLS (hellos, both certificate forms),
    # SSLv2 hellos, SSH and the hellos inside QUIC Initials
    for name in ("split_tls_records", "parse_handshake_messages", "parse_client_hello",
                 "parse_server_hello", "parse_certificate", "parse_sslv2_client_hello",
                 "parse_ssh_stream", "quic_client_hello", "quic_server_hello"):
        assert calls[name] > 0, name
    assert calls["parse_client_hello"] >= 250 and calls["parse_ssh_stream"] >= 50


def test_twin_agrees_on_the_demo_and_scenario_captures():
    twin = Twin()
    for record in _handshakes(DEMO_CAPTURES):
        twin.check_handshake(record)
    assert len(DEMO_CAPTURES) >= 14
    assert twin.calls["parse_client_hello"] >= 20 and twin.calls["parse_ssh_stream"] >= 2
    assert twin.calls["quic_client_hello"] >= 1


def _samples(per_parser: int):
    """(parser, options, input): the first distinct corpus inputs of each parser."""
    for (name, *options), inputs in sorted(corpus_twin().inputs.items(), key=str):
        for data in list(inputs)[:per_parser]:
            yield name, tuple(options), data


@pytest.mark.parametrize("mutate", ["truncations", "extremes"])
def test_twin_agrees_on_corpus_inputs_cut_at_every_offset_and_with_extreme_lengths(mutate):
    twin = Twin()
    for name, options, sample in _samples(per_parser=2):
        sample = sample[:2048]              # the headers and first entries are what vary
        for data in (truncations if mutate == "truncations" else extremes)(sample):
            twin.agree(name, data, *options)
    assert sum(twin.calls.values()) > 5000


def test_twin_agrees_on_seeded_random_mutations_fed_to_every_parser():
    rng = random.Random(0x7c8)
    twin = Twin()
    names = sorted({(name, options) for name, options, _ in _samples(1)})
    for _, _, sample in _samples(per_parser=6):
        for data in flips(sample[:4096], rng, 60):
            # any parser may be handed anything: feed each mutant to all of them
            for name, options in names:
                twin.agree(name, data, *options)
    assert sum(twin.calls.values()) > 20000


# derandomized, no example database: the same examples every run (CI
# reproducible); no deadline, the machine is shared
STRUCTURED = settings(max_examples=200, derandomize=True, database=None, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])


def _agree(name, *options):
    return lambda twin, data: twin.agree(name, data, *options)


STRUCTURED_CASES = {
    "client_hello": (wire.client_hellos(), _agree("parse_client_hello")),
    "server_hello": (wire.server_hellos(), _agree("parse_server_hello")),
    "certificate_tls12": (wire.certificates(tls13=False), _agree("parse_certificate", False)),
    "certificate_tls13": (wire.certificates(tls13=True), _agree("parse_certificate", True)),
    # each form read as the other too: the negotiated version decides which is used
    "certificate_tls12_as_tls13": (wire.certificates(tls13=False),
                                   _agree("parse_certificate", True)),
    "certificate_tls13_as_tls12": (wire.certificates(tls13=True),
                                   _agree("parse_certificate", False)),
    "sslv2_hello": (wire.sslv2_hellos(), _agree("parse_sslv2_client_hello")),
    "tls_records": (wire.tls_records(), Twin.check_tls_stream),
    "ssh_stream": (wire.ssh_streams(), _agree("parse_ssh_stream")),
}


@pytest.mark.parametrize("case", sorted(STRUCTURED_CASES))
@STRUCTURED
@given(data=st.data())
def test_twin_agrees_on_structured_inputs(case, data):
    strategy, check = STRUCTURED_CASES[case]
    check(Twin(), data.draw(strategy))


def test_twin_has_the_same_names_and_constants():
    for name in ("TLS_STATUS_NAMES", "TLS_HRR_RANDOM", "SSH_STATUS_NAMES",
                 "SSH_KEXINIT_LIST_NAMES"):
        assert getattr(CORE, name) == getattr(PURE, name), name
    # every name of the twin is one of the core's, of the same kind, and the
    # facade exports it from the implementation it chose
    chosen = parsers.IMPLEMENTATIONS[parsers.IMPLEMENTATION]
    for name in parsers_py.__all__:
        assert callable(getattr(CORE, name)) == callable(getattr(PURE, name)), name
        assert getattr(parsers, name) is getattr(chosen, name), name
        if callable(getattr(PURE, name)):     # same parameters, so keywords work on both
            core, pure = (inspect.signature(getattr(m, name)).parameters for m in (CORE, PURE))
            assert [(p.name, p.default) for p in core.values()] == \
                [(p.name, p.default) for p in pure.values()], name


def _outcome(module, name, arg):
    try:
        return getattr(module, name)(arg)
    except Exception as exc:            # the exception's type is the outcome compared
        return type(exc)


def test_twin_takes_the_same_buffers_and_refuses_the_same_objects():
    data = bytes.fromhex("16030300040e000000") + b"SSH-2.0-X\r\n"
    arguments = [data, bytearray(data), memoryview(data), memoryview(b"xx" + data)[2:],
                 array.array("b", data), array.array("H", data), b"",
                 memoryview(data)[::2], None, "text", 12]
    for name in parsers_py.__all__:
        if name.islower() and name != "is_grease":
            for arg in arguments:
                assert _outcome(CORE, name, arg) == _outcome(PURE, name, arg), (name, arg)


def test_twin_agrees_on_grease_for_every_16_bit_value_and_refuses_the_same_values():
    assert [CORE.is_grease(v) for v in range(-1, 0x10001)] == \
        [PURE.is_grease(v) for v in range(-1, 0x10001)]
    for value in (2570.5, -1.5, 1e20, None, "a", True, 2 ** 70, -2 ** 70):
        assert _outcome(CORE, "is_grease", value) == _outcome(PURE, "is_grease", value), value


def test_facade_exports_one_implementation_chosen_by_the_environment(monkeypatch):
    try:
        for value, name in (("1", "pure"), ("yes", "pure"), ("", "core"), ("0", "core")):
            monkeypatch.setenv("EXFILWATCH_PURE_PARSERS", value)
            facade = importlib.reload(parsers)
            expected = PURE if name == "pure" else CORE
            assert facade.IMPLEMENTATION == name
            assert facade.parse_client_hello is expected.parse_client_hello
            assert facade.parse_ssh_stream is expected.parse_ssh_stream
    finally:
        monkeypatch.undo()
        importlib.reload(parsers)


def _replay(out: Path, pure: bool) -> bytes:
    env = {k: v for k, v in os.environ.items() if k != "EXFILWATCH_PURE_PARSERS"}
    if pure:
        env["EXFILWATCH_PURE_PARSERS"] = "1"
    # a process of its own: the facade reads the variable once, at import
    subprocess.run([sys.executable, "-m", "engine.cli", "replay", "-q", "-o", str(out),
                    *map(str, DEMO_CAPTURES)], env=env, check=True, capture_output=True)
    return (out / "eve.json").read_bytes()


def test_replay_with_the_pure_parsers_writes_the_same_eve_records(tmp_path):
    core = _replay(tmp_path / "core", pure=False)
    pure = _replay(tmp_path / "pure", pure=True)
    assert core.count(b'"event_type":"tls"') >= 20 and b'"event_type":"ssh"' in core
    assert pure == core
