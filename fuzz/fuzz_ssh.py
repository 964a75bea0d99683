"""Fuzz engine._core.parse_ssh_stream (identification line + KEXINIT).

Input: one direction's SSH bytes, as is.
"""
from common import fuzzing_imports, main

with fuzzing_imports(__name__):
    from engine._core import parse_ssh_stream


def TestOneInput(data: bytes) -> None:
    out = parse_ssh_stream(data)
    assert isinstance(out, dict)


if __name__ == "__main__":
    main(TestOneInput)
