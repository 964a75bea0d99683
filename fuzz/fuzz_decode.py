"""Fuzz engine._core.decode_packet on one frame of any link type.

Input: [u8 linktype index][frame bytes].
"""
from common import LINKTYPES, Reader, fuzzing_imports, main

with fuzzing_imports(__name__):
    from engine._core import decode_packet


def TestOneInput(data: bytes) -> None:
    r = Reader(data)
    linktype = LINKTYPES[r.u8() % len(LINKTYPES)]
    decoded = decode_packet(r.rest(), linktype)
    assert isinstance(decoded, dict)


if __name__ == "__main__":
    main(TestOneInput)
