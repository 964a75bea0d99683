"""Fuzz the capture reader: open_capture on arbitrary file bytes, every
batch read and fed to a FlowEngine (so the link types and lengths are the
ones the reader produced).

Input: [u8 mode][file bytes]; mode bit 0 picks a batch size of 1 instead of
64 (batch boundaries), bit 1 the libpcap backend instead of "auto".
CaptureError is the documented answer to a file that is not a capture.
"""
import os
import tempfile

from common import Reader, fuzzing_imports, main

with fuzzing_imports(__name__):
    from engine._core import FlowEngine
    from engine.capture import open_capture
    from engine.errors import CaptureError

# one path per process, written and removed by every input (libFuzzer ends
# the process with exit(), which skips Python's atexit handlers)
PATH = os.path.join(tempfile.gettempdir(), f"exfilwatch-fuzz-{os.getpid()}.cap")


def TestOneInput(data: bytes) -> None:
    r = Reader(data)
    mode = r.u8()
    with open(PATH, "wb") as fh:
        fh.write(r.rest())
    try:
        _read(PATH, 1 if mode & 1 else 64, "libpcap" if mode & 2 else "auto")
    finally:
        os.unlink(PATH)


def _read(path: str, batch_size: int, backend: str) -> None:
    engine = FlowEngine()
    try:
        reader = open_capture(path, batch_size, backend=backend)
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
