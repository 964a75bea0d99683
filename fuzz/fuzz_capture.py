"""Fuzz the capture reader: open_capture on arbitrary file bytes, every
batch read and fed to a FlowEngine (so the link types and lengths are the
ones the reader produced).

Input: [u8 mode][file bytes]; mode bit 0 picks a batch size of 1 instead of
64 (batch boundaries), bit 1 the libpcap backend instead of "auto".
CaptureError is the documented answer to a file that is not a capture.
"""
import atexit
import os
import tempfile

from common import Reader, fuzzing_imports, main

with fuzzing_imports(__name__):
    from engine._core import FlowEngine
    from engine.capture import open_capture
    from engine.errors import CaptureError

_FD, PATH = tempfile.mkstemp(prefix="exfilwatch-fuzz-", suffix=".cap")
os.close(_FD)
atexit.register(lambda: os.path.exists(PATH) and os.unlink(PATH))


def TestOneInput(data: bytes) -> None:
    r = Reader(data)
    mode = r.u8()
    with open(PATH, "wb") as fh:
        fh.write(r.rest())
    engine = FlowEngine()
    try:
        reader = open_capture(PATH, 1 if mode & 1 else 64,
                              backend="libpcap" if mode & 2 else "auto")
    except CaptureError:
        return
    with reader:
        for batch in reader:
            assert 0 < batch.count <= reader.batch_size
            engine.process(batch)
            engine.take_flows()
            engine.take_handshakes()
    engine.flush()
    engine.take_flows()


if __name__ == "__main__":
    main(TestOneInput)
