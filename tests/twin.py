"""The compiled handshake parsers against their pure-Python twin, call by call.

`Twin.agree(name, *args)` runs engine._core.<name> and engine.parsers_py.<name>
on the same input and raises `Disagreement` (an AssertionError) when the
records differ; the check_* methods make the calls engine.handshake makes on
a captured handshake, on both. Shared by tests/test_parser_twin.py and
fuzz/fuzz_parser_twin.py.
"""
import random
from collections import Counter, defaultdict

from engine import quic
from engine.handshake import CERTIFICATE, CLIENT_HELLO, SERVER_HELLO, split_datagrams
from engine.parsers import IMPLEMENTATIONS

CORE, PURE = IMPLEMENTATIONS["core"], IMPLEMENTATIONS["pure"]

# what a message of each handshake type is parsed with (the certificate in both forms)
MESSAGE_PARSERS = {
    CLIENT_HELLO: (("parse_client_hello",),),
    SERVER_HELLO: (("parse_server_hello",),),
    CERTIFICATE: (("parse_certificate", False), ("parse_certificate", True)),
}


class Disagreement(AssertionError):
    pass


def _show(data, limit=96) -> str:
    raw = bytes(data)
    return raw[:limit].hex() + ("..." if len(raw) > limit else "") + f" ({len(raw)} bytes)"


class Twin:
    """Counts the calls made and keeps each parser's distinct inputs (the
    samples the mutation tests start from)."""

    def __init__(self):
        self.calls = Counter()
        self.inputs = defaultdict(dict)          # parser name -> {input: None}, in order

    def agree(self, name, data, *options):
        core = getattr(CORE, name)(data, *options)
        pure = getattr(PURE, name)(data, *options)
        if core != pure:
            raise Disagreement(f"{name}{options or ''} on {_show(data)}:\n"
                               f"  core: {core!r}\n  pure: {pure!r}")
        self.calls[name] += 1
        self.inputs[(name,) + options].setdefault(bytes(data))
        return core

    def check_message(self, msg_type: int, body) -> None:
        for name, *options in MESSAGE_PARSERS.get(msg_type, ()):
            self.agree(name, body, *options)

    def check_tls_stream(self, data) -> None:
        """One direction's TLS bytes: records, then messages, then each message."""
        stream = self.agree("split_tls_records", data)[0]
        for msg_type, body in self.agree("parse_handshake_messages", stream)[0]:
            self.check_message(msg_type, body)

    def check_handshake(self, record) -> None:
        """Every parser call engine.handshake makes on a HandshakeRecord."""
        for half in (record.client, record.server):
            data = half.data[half.start:]
            if half.kind == "tls":
                self.check_tls_stream(data)
            elif half.kind == "sslv2":
                self.agree("parse_sslv2_client_hello", data)
            elif half.kind == "ssh":
                self.agree("parse_ssh_stream", data)
        if "quic" in (record.client.kind, record.server.kind):
            decoded = quic.decode_initials(split_datagrams(record.client.data),
                                           split_datagrams(record.server.data))
            for key, msg_type in (("client_hello", CLIENT_HELLO), ("server_hello", SERVER_HELLO)):
                if decoded.get(key) is not None:
                    self.calls["quic_" + key] += 1
                    self.check_message(msg_type, decoded[key])


# length-field extremes written over every offset of a sample: a 16 MiB
# 24-bit length, 64 KiB and zero 16-bit lengths, 32-bit SSH packet lengths
EXTREMES = (b"\xff\xff\xff", b"\xff\xff", b"\x00\x00", b"\xff", b"\x00",
            b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x00\x88\xb8")


def truncations(sample: bytes):
    return (sample[:cut] for cut in range(len(sample)))


def extremes(sample: bytes):
    for pos in range(len(sample)):
        for value in EXTREMES:
            yield sample[:pos] + value + sample[pos + len(value):]


def flips(sample: bytes, rng: random.Random, count: int):
    """count copies of sample with 1-8 random bytes replaced, some also cut short."""
    for _ in range(count if sample else 0):
        data = bytearray(sample)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        yield bytes(data[:rng.randrange(len(data) + 1)]) if rng.random() < 0.3 else bytes(data)
