"""How the twin takes its input: like the core (PyBUF_SIMPLE), any
C-contiguous object with the buffer protocol, as its raw bytes."""


def byte_view(data) -> memoryview:
    """data's bytes, not copied. TypeError for an object without the buffer
    protocol (None, str), BufferError for a non-contiguous buffer."""
    view = memoryview(data)
    if not view.c_contiguous:
        raise BufferError("the parsers take C-contiguous buffers only")
    return view.cast("B")
