"""Fuzz the TLS parsers of the core (engine/_tls.pxi), each a pure
function of bytes that must never raise.

Input: [u8 selector][bytes]; the selector picks the parser, and "stream"
runs the record splitter and then every message it yields through its
parser, the way engine.handshake does.
"""
from common import Reader, fuzzing_imports, main

with fuzzing_imports(__name__):
    from engine._core import (parse_certificate, parse_client_hello, parse_handshake_messages,
                              parse_server_hello, parse_sslv2_client_hello, split_tls_records)


def _stream(body: bytes) -> None:
    stream, alerts, malformed = split_tls_records(body)
    messages, _, _ = parse_handshake_messages(stream)
    for msg_type, msg in messages:
        if msg_type == 1:
            parse_client_hello(msg)
        elif msg_type == 2:
            parse_server_hello(msg)
        elif msg_type == 11:
            parse_certificate(msg, False)
            parse_certificate(msg, True)


PARSERS = (
    lambda b: parse_client_hello(b),
    lambda b: parse_server_hello(b),
    lambda b: parse_certificate(b, False),
    lambda b: parse_certificate(b, True),
    lambda b: parse_sslv2_client_hello(b),
    lambda b: parse_handshake_messages(b),
    lambda b: split_tls_records(b),
    _stream,
    lambda b: parse_client_hello(memoryview(b)),   # buffer protocol, not bytes
)


def TestOneInput(data: bytes) -> None:
    r = Reader(data)
    PARSERS[r.u8() % len(PARSERS)](r.rest())


if __name__ == "__main__":
    main(TestOneInput)
