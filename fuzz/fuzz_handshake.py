"""Fuzz the whole handshake layer: engine.handshake.HandshakeInterpreter on
a HandshakeRecord whose two halves are fuzzed bytes (kind, preamble offset
and flags fuzzed too), then every public property of the session it makes
(JA3/JA4/JA4S, HASSH, SNI, version, ...).

Input: [u8 kinds][u8 client flags][u8 server flags][u16 client start]
[u16 server start][u16 server port][client chunk][server chunk].
QUIC halves use the core's own layout, [u16 length][datagram] repeated.
"""
from common import Reader, fuzzing_imports, main

with fuzzing_imports(__name__):
    from engine.handshake import HandshakeInterpreter
    from engine.certs import CertCache
    from engine.records import HALF_FLAG_NAMES, HALF_KINDS, HalfCapture, HandshakeRecord

INTERPRETER = HandshakeInterpreter(CertCache(max_entries=8))


def half(kind: int, flags: int, start: int, data: bytes) -> HalfCapture:
    names = tuple(n for i, n in enumerate(HALF_FLAG_NAMES) if flags >> i & 1)
    return HalfCapture(HALF_KINDS[kind % len(HALF_KINDS)], data, min(start, len(data)),
                       names, 1_700_000_000_000_000 if "established" in names else None)


def TestOneInput(data: bytes) -> None:
    r = Reader(data)
    kinds, cflags, sflags = r.u8(), r.u8(), r.u8()
    cstart, sstart, port = r.u16(), r.u16(), r.u16()
    chunks = r.chunks(2)
    cdata = chunks[0] if chunks else b""
    sdata = chunks[1] if len(chunks) > 1 else b""
    proto = 17 if kinds % len(HALF_KINDS) == HALF_KINDS.index("quic") else 6
    rec = HandshakeRecord(1, "192.0.2.1", 50000, "198.51.100.2", port, proto, (),
                          1_700_000_000_000_000, 1_700_000_001_000_000,
                          half(kinds, cflags, cstart, cdata),
                          half(kinds >> 4, sflags, sstart, sdata))
    session = INTERPRETER.interpret(rec)
    if session is None:
        return
    for name in dir(session):
        if not name.startswith("_"):
            getattr(session, name)


if __name__ == "__main__":
    main(TestOneInput)
