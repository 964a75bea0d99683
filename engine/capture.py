"""Capture sources: pcap / pcapng files, zero copy, in batches.

    from engine.capture import open_capture
    with open_capture("x.pcapng", batch_size=8192) as reader:
        for batch in reader:            # valid until the next iteration
            engine.process(batch)
        reader.truncated                # the file ended early (a warning was logged)

Classic pcap (both byte orders, micro- and nanosecond magic) and pcapng
(any number of sections and interfaces, EPB/SPB/OPB) are read by our own
scanner (engine/_capfile.pxi) over a read-only mmap of the file: a batch
is the mmap plus numpy arrays of per-packet offsets, lengths, timestamps
and link types, filled in C with no Python object per packet.  A file
starting with the gzip magic is decompressed into memory first.  Any
other file is offered to libpcap through pcapy-ng (format "libpcap");
when libpcap refuses it too, it is not a capture file.

Malformed input never raises once the file is open: the scan stops, the
packets before the bad record are delivered, ``truncated`` is set and a
warning names the file and the byte offset.  Only inputs that cannot be
read at all raise ``engine.errors.CaptureError``.
"""
from __future__ import annotations

import gzip
import logging
import mmap
import os
import zlib
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np

from engine._core import CapfileScanner
from engine.errors import CaptureError

__all__ = ["Batch", "CaptureReader", "open_capture", "DEFAULT_BATCH_SIZE",
           "BACKENDS", "dlt_to_linktype", "batch_arrays", "libpcap_batch"]

log = logging.getLogger(__name__)

#: Packets per batch unless the caller asks otherwise.
DEFAULT_BATCH_SIZE = 8192
#: ``backend`` values of open_capture: "auto" reads pcap/pcapng natively
#: and anything else through libpcap; "native" never uses libpcap;
#: "libpcap" always does (differential tests, odd pcap variants).
BACKENDS = ("auto", "native", "libpcap")

_GZIP_MAGIC = b"\x1f\x8b"
# Bytes of consumed file mapping released at a time (one madvise call each).
_UNMAP_STEP = 32 << 20

# libpcap's datalink() returns DLT_* values; the core wants LINKTYPE_*.
# They are equal for the link types the core decodes, except raw IP.
_DLT_TO_LINKTYPE = {
    12: 101,   # DLT_RAW (most systems)      -> LINKTYPE_RAW
    14: 101,   # DLT_RAW (OpenBSD)           -> LINKTYPE_RAW
    11: 100,   # DLT_ATM_RFC1483             -> LINKTYPE_ATM_RFC1483
}

# Wording of the scanner's stop reasons (CapfileScanner.reason).
_REASON_TEXT = {
    "header_cut": "the file ended inside the file header",
    "record_cut": "the file ended inside a pcap record",
    "block_cut": "the file ended inside a pcapng block",
    "caplen_too_big": "a packet's captured length is larger than the snap length allows",
    "block_len_bad": "a pcapng block length is impossible (too small or not a multiple of 4)",
    "block_trailer": "a pcapng block's trailing length differs from its leading length",
    "bad_byte_order": "a pcapng section header has an unknown byte-order magic",
    "bad_version": "a pcapng section header has an unsupported major version",
    "caplen_past_block": "a pcapng packet's captured length runs past the end of its block",
    "too_many_interfaces": "a pcapng section declares too many interfaces",
    "not_capture": "a pcapng file does not start with a section header block",
}


def dlt_to_linktype(dlt: int) -> int:
    """LINKTYPE_* value for a libpcap DLT_* value."""
    return _DLT_TO_LINKTYPE.get(dlt, dlt)


@dataclass(frozen=True, slots=True)
class Batch:
    """A run of packets that share one buffer.

    Packet ``i`` is ``buf[offsets[i]:offsets[i] + caplens[i]]``.  The
    arrays are views of arrays the reader reuses, and ``buf`` may be the
    reader's mmap: a batch is valid until the next iteration or until the
    reader is closed (after close, reading an mmap-backed ``buf`` raises
    ValueError; it never touches unmapped memory).
    """
    buf: object                 # bytes-like: mmap, bytes or memoryview
    offsets: np.ndarray         # np.uint64, byte offset of each packet in buf
    caplens: np.ndarray         # np.uint32, captured length
    wirelens: np.ndarray        # np.uint32, original length on the wire
    ts_us: np.ndarray           # np.int64, microseconds since the epoch
    linktypes: np.ndarray       # np.uint16, LINKTYPE_* value
    count: int

    def packet(self, i: int) -> bytes:
        """A copy of packet ``i``'s captured bytes (tests and debugging)."""
        off = int(self.offsets[i])
        return bytes(memoryview(self.buf)[off:off + int(self.caplens[i])])


def batch_arrays(n: int) -> tuple:
    """Per-packet arrays for batches of up to ``n`` packets (offsets,
    caplens, wirelens, ts_us, linktypes), to be reused batch after batch."""
    return (np.empty(n, np.uint64), np.empty(n, np.uint32), np.empty(n, np.uint32),
            np.empty(n, np.int64), np.empty(n, np.uint16))


def libpcap_batch(data: bytes, meta: bytes, linktype: int, arrays: tuple) -> Batch:
    """The Batch of one pcapy-ng ``next_batch`` result (a savefile's or a
    live handle's), written into ``arrays`` from batch_arrays(); ``meta``
    holds at most as many packets as the arrays. libpcap's batch metadata
    has no original length: wirelens are the caplens."""
    offsets, caplens, wirelens, ts_us, linktypes = arrays
    m = np.frombuffer(meta, dtype=np.uint32).reshape(-1, 4)  # sec, usec, offset, caplen
    n = m.shape[0]
    np.multiply(m[:, 0], 1_000_000, out=ts_us[:n], dtype=np.int64)
    ts_us[:n] += m[:, 1]
    offsets[:n] = m[:, 2]
    caplens[:n] = m[:, 3]
    wirelens[:n] = m[:, 3]
    linktypes[:n] = linktype
    return Batch(data, offsets[:n], caplens[:n], wirelens[:n], ts_us[:n], linktypes[:n], n)


class CaptureReader:
    """An open capture file; iterate it for batches. Use open_capture()."""

    def __init__(self, path: str, batch_size: int, backend: str) -> None:
        self.path = path
        self.batch_size = batch_size
        #: "pcap", "pcapng" or "libpcap"
        self.format: str = ""
        #: True when reading stopped early: the file ended inside a
        #: record/block, or a record was corrupt.  Packets before are delivered.
        self.truncated = False
        #: Why reading stopped early (a short sentence), or None.
        self.stop_reason: Optional[str] = None
        #: Byte offset in the file where reading stopped early, or None
        #: (None also for libpcap, which does not report offsets).
        self.stop_offset: Optional[int] = None
        #: Packets delivered so far.
        self.packets_read = 0
        #: Captured bytes delivered so far (the sum of caplens).
        self.bytes_read = 0
        #: pcapng packets dropped because they name an interface with no IDB.
        self.packets_skipped = 0
        self._mmap: Optional[mmap.mmap] = None
        self._unmapped_upto = 0
        self._buf = None
        self._scanner: Optional[CapfileScanner] = None
        self._pcap = None
        self._closed = False
        self._iter: Optional[Iterator[Batch]] = None
        self._arrays = None
        self._open(backend)

    # -- opening ---------------------------------------------------------
    def _open(self, backend: str) -> None:
        path = self.path
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        if not os.path.exists(path):
            raise CaptureError(f"Capture file {path} does not exist.")
        if os.path.isdir(path):
            raise CaptureError(f"Capture file {path} is a directory, not a file.")
        if backend == "libpcap":
            self._open_libpcap(None)
            return
        try:
            with open(path, "rb") as f:
                head = f.read(4)
                if not head:
                    raise CaptureError(f"Capture file {path} is empty.")
                if head[:2] == _GZIP_MAGIC:
                    f.seek(0)
                    buf = self._gunzip(f)
                else:
                    buf = self._mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                    buf.madvise(mmap.MADV_SEQUENTIAL)
        except OSError as e:
            raise CaptureError(f"Cannot read capture file {path}: {e.strerror or e}.") from e
        self._buf = buf
        scanner = CapfileScanner(buf)
        if scanner.format:
            self._scanner = scanner
            self.format = scanner.format
            return
        scanner.release()
        magic = bytes(memoryview(buf)[:4]).hex()
        self._release_buffer()
        if backend == "auto" and head[:2] != _GZIP_MAGIC:
            self._open_libpcap(magic)
            return
        raise CaptureError(f"{path} is not a pcap or pcapng capture (magic 0x{magic}).")

    def _gunzip(self, f) -> bytes:
        try:
            data = gzip.decompress(f.read())
        except (OSError, EOFError, zlib.error) as e:
            raise CaptureError(
                f"Capture file {self.path} looks gzip-compressed but cannot be "
                f"decompressed: {e}.") from e
        if not data:
            raise CaptureError(f"Capture file {self.path} is empty once decompressed.")
        return data

    def _open_libpcap(self, magic: Optional[str]) -> None:
        import pcapy
        try:
            self._pcap = pcapy.open_offline(self.path)
        except pcapy.PcapError as e:
            if magic is not None:
                raise CaptureError(
                    f"{self.path} is not a pcap or pcapng capture (magic 0x{magic}).") from e
            raise CaptureError(f"libpcap cannot read capture file {self.path}: {e}.") from e
        self.format = "libpcap"

    # -- iteration -------------------------------------------------------
    def __iter__(self) -> Iterator[Batch]:
        if self._iter is None:
            if self._closed:
                return iter(())
            self._iter = self._iter_native() if self._scanner is not None else self._iter_libpcap()
        return self._iter

    def _alloc(self):
        if self._arrays is None:
            self._arrays = batch_arrays(self.batch_size)
        return self._arrays

    def _iter_native(self) -> Iterator[Batch]:
        offsets, caplens, wirelens, ts_us, linktypes = self._alloc()
        scanner = self._scanner
        while not self._closed and scanner.status == "more":
            n = scanner.fill(offsets, caplens, wirelens, ts_us, linktypes)
            if n == 0:
                continue
            self.packets_read += n
            self.bytes_read += int(caplens[:n].sum(dtype=np.uint64))
            yield Batch(self._buf, offsets[:n], caplens[:n], wirelens[:n],
                        ts_us[:n], linktypes[:n], n)
            self._unmap_consumed(int(offsets[n - 1]))
        if self._closed:
            return
        self.packets_skipped = int(scanner.packets_skipped)
        if self.packets_skipped:
            log.warning("%d packets in capture file %s name a pcapng interface that "
                        "has no interface description block and were skipped.",
                        self.packets_skipped, self.path)
        if scanner.status in ("truncated", "corrupt"):
            self._stopped_early(scanner.stop_offset,
                                _REASON_TEXT.get(scanner.reason, scanner.reason))

    def _unmap_consumed(self, below: int) -> None:
        """Drop the mapped pages of batches already processed, so that peak
        RSS is a window of the file rather than the whole file (the pages
        stay in the page cache)."""
        if self._mmap is None or self._closed:
            return
        end = below // mmap.PAGESIZE * mmap.PAGESIZE
        if end - self._unmapped_upto >= _UNMAP_STEP:
            self._mmap.madvise(mmap.MADV_DONTNEED, self._unmapped_upto,
                               end - self._unmapped_upto)
            self._unmapped_upto = end

    def _stopped_early(self, offset: Optional[int], why: str) -> None:
        self.truncated = True
        self.stop_offset = offset
        self.stop_reason = why
        where = f"at byte offset {offset}" if offset is not None else "early"
        log.warning("Capture file %s stops %s: %s; the %d packets before it were read.",
                    self.path, where, why, self.packets_read)

    def _iter_libpcap(self) -> Iterator[Batch]:
        import pcapy
        offsets, caplens, wirelens, ts_us, linktypes = self._alloc()
        # libpcap keeps bits above 16 of a pcap header's link type field (it
        # masks only the FCS bits), which overflow the uint16 linktypes array;
        # keep the low 16 bits, as the native scanner does (_cf_linktype)
        linktype = dlt_to_linktype(self._pcap.datalink()) & 0xFFFF
        while not self._closed:
            try:
                data, meta = self._pcap.next_batch(self.batch_size)
            except pcapy.PcapError as e:
                # next_batch drops the whole batch on an error: re-read the
                # packets of that batch one at a time (error path only).
                data, meta = self._salvage_libpcap()
                if meta:
                    yield self._libpcap_batch(data, meta, linktype)
                self._stopped_early(None, f"libpcap reports {e}")
                return
            if not meta:
                return
            yield self._libpcap_batch(data, meta, linktype)

    def _libpcap_batch(self, data: bytes, meta: bytes, linktype: int) -> Batch:
        batch = libpcap_batch(data, meta, linktype, self._alloc())
        self.packets_read += batch.count
        self.bytes_read += int(batch.caplens.sum(dtype=np.uint64))
        return batch

    def _salvage_libpcap(self):
        import pcapy
        pc = pcapy.open_offline(self.path)
        skip = self.packets_read
        while skip:
            _, meta = pc.next_batch(min(skip, 65536))
            skip -= len(meta) // 16
        chunks, metas, base = [], [], 0
        while True:
            try:
                data, meta = pc.next_batch(1)
            except pcapy.PcapError:
                break
            if not meta:
                break
            rec = np.frombuffer(meta, dtype=np.uint32).copy()
            rec[2] += base
            chunks.append(data)
            metas.append(rec.tobytes())
            base += len(data)
        return b"".join(chunks), b"".join(metas)

    # -- closing ---------------------------------------------------------
    def _release_buffer(self) -> None:
        if self._scanner is not None:
            self._scanner.release()
        mm, self._mmap, self._buf = self._mmap, None, None
        if mm is not None:
            try:
                mm.close()
            except BufferError:
                # Someone still holds a view of the mapping (a memoryview of
                # a batch's buf): it is unmapped when the last view goes.
                log.debug("capture file %s: mmap still exported, unmapped later", self.path)

    def close(self) -> None:
        """Release the file. Batches handed out must not be used afterwards."""
        if self._closed:
            return
        self._closed = True
        self._release_buffer()
        self._scanner = None
        pc, self._pcap = self._pcap, None
        if pc is not None and hasattr(pc, "close"):
            try:
                pc.close()
            except Exception:       # pcapy raises if already closed; nothing to release
                pass
        self._iter = None

    def __enter__(self) -> "CaptureReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (f"<CaptureReader {self.path!r} format={self.format!r} "
                f"packets_read={self.packets_read} truncated={self.truncated}>")


def open_capture(path, batch_size: int = DEFAULT_BATCH_SIZE, *,
                 backend: str = "auto") -> CaptureReader:
    """Open a capture file for batch reading.

    Raises CaptureError (the message names the file) when the file is
    missing, a directory, unreadable, empty, or not a capture file.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, not {batch_size!r}")
    return CaptureReader(os.fspath(path), batch_size, backend)
