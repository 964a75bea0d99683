"""Fuzz the compiled handshake parsers against their pure-Python twin
(engine/parsers_py): both must give the same record for any input.

Input: [u8 selector][bytes]; selectors 0-7 are fuzz_tls's (so its seeds
serve here too), 8 is the SSH parser. "stream" (7) runs the record
splitter, the message splitter and every message's parser, as
engine.handshake does. A disagreement raises twin.Disagreement, naming the
parser and showing both records.
"""
from common import Reader, fuzzing_imports, main

with fuzzing_imports(__name__):
    from twin import Twin

SELECTORS = (
    ("parse_client_hello",),
    ("parse_server_hello",),
    ("parse_certificate", False),
    ("parse_certificate", True),
    ("parse_sslv2_client_hello",),
    ("parse_handshake_messages",),
    ("split_tls_records",),
    "stream",
    ("parse_ssh_stream",),
)
SSH_SELECTOR = 8


def TestOneInput(data: bytes) -> None:
    r = Reader(data)
    choice = SELECTORS[r.u8() % len(SELECTORS)]
    twin = Twin()
    if choice == "stream":
        twin.check_tls_stream(r.rest())
    else:
        name, *options = choice
        twin.agree(name, r.rest(), *options)


if __name__ == "__main__":
    main(TestOneInput)
