"""pytest-benchmark: the handshake parsers of the compiled core against their
pure-Python twin (engine/parsers_py), on the literal OpenSSL vectors of the
tests; timings are reported (extra_info rates), never asserted. What
EXFILWATCH_PURE_PARSERS=1 costs the handshake layer.

    pytest benchmarks/test_bench_parsers.py --benchmark-columns=median,ops
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import ssh_vectors  # noqa: E402  (test vectors live with the tests)
import tls_vectors  # noqa: E402
from engine.parsers import IMPLEMENTATIONS  # noqa: E402

V = tls_vectors
CALLS = {
    "client_hello": ("parse_client_hello", V.body(V.OPENSSL_TLS13_CLIENT_HELLO)),
    "server_hello": ("parse_server_hello", V.body(V.OPENSSL_TLS12_SERVER_HELLO)),
    "certificate": ("parse_certificate", V.body(V.OPENSSL_TLS12_CERTIFICATE)),
    "ssh_stream": ("parse_ssh_stream", ssh_vectors.OPENSSH_CLIENT_STREAM),
}
ROUNDS = 1000


@pytest.mark.parametrize("implementation", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("call", sorted(CALLS))
def test_parse_messages_per_second(benchmark, implementation, call):
    name, data = CALLS[call]
    parse = getattr(IMPLEMENTATIONS[implementation], name)

    def run():
        for _ in range(ROUNDS):
            parse(data)
    benchmark(run)
    if benchmark.stats is not None:
        benchmark.extra_info["messages_per_s"] = round(ROUNDS / benchmark.stats.stats.median)
