"""Packets written back out as they were captured: pcap for one link type,
pcapng (one interface per link type) when they come from several.

    with PacketFileWriter("flows.pcap") as out:      # or "flows.pcapng"
        out.write(ts_us, frame, wirelen, linktype)   # OutputError on a second
                                                     # link type in a pcap
    out.packets                                      # written

The file appears only when complete: it is written under a temporary name
beside the target and renamed on a clean close (removed on an error). It
is readable by its owner only, as packets with their payloads should be.
dpkt supplies the file and block structures; records are packed here from
integer microseconds and with their original wire length, which
dpkt.pcap.Writer.writepkt cannot do (it takes float seconds, whose
microseconds round at epoch scale, and writes the captured length as the
wire length, hiding a snaplen cut).
"""
from __future__ import annotations

import os
import struct
import tempfile

import dpkt

from .errors import OutputError

# the snap length a pcap header announces unless a packet is longer (libpcap's maximum)
_DEFAULT_SNAPLEN = 262144
_PCAP_RECORD = struct.Struct("<IIII")     # seconds, microseconds, caplen, wirelen


class PacketFileWriter:
    def __init__(self, path: str):
        self.path = path
        self.pcapng = path.endswith(".pcapng")
        self.packets = 0
        self.linktypes: dict[int, int] = {}      # link type -> pcapng interface id
        self._snaplen = _DEFAULT_SNAPLEN
        directory = os.path.dirname(os.path.abspath(path))
        try:
            fd, self._tmp = tempfile.mkstemp(prefix=".extract.", dir=directory)
        except OSError as exc:
            raise OutputError(f"Cannot write {path}: {exc.strerror}.") from None
        self._file = os.fdopen(fd, "wb", buffering=1 << 20)
        if self.pcapng:
            self._file.write(bytes(dpkt.pcapng.SectionHeaderBlockLE()))
        else:
            # the header names the link type: written on close, once it is known
            self._file.write(bytes(24))

    def write(self, ts_us: int, data, wirelen: int, linktype: int) -> None:
        iface = self.linktypes.get(linktype)
        if iface is None:
            iface = self._new_linktype(linktype)
        caplen = len(data)
        if self.pcapng:
            self._file.write(bytes(dpkt.pcapng.EnhancedPacketBlockLE(
                iface_id=iface, ts_high=ts_us >> 32, ts_low=ts_us & 0xFFFFFFFF,
                caplen=caplen, pkt_len=wirelen, pkt_data=bytes(data))))
        else:
            seconds, micros = divmod(ts_us, 1_000_000)
            self._file.write(_PCAP_RECORD.pack(seconds, micros, caplen, wirelen))
            self._file.write(data)
            self._snaplen = max(self._snaplen, caplen)
        self.packets += 1

    def _new_linktype(self, linktype: int) -> int:
        if self.linktypes and not self.pcapng:
            raise OutputError(
                f"The packets to write have link types {next(iter(self.linktypes))} and "
                f"{linktype}, and a pcap file holds one link type: name the output "
                f"{os.path.splitext(self.path)[0]}.pcapng to get a pcapng file with an "
                "interface per link type.")
        iface = self.linktypes[linktype] = len(self.linktypes)
        if self.pcapng:
            self._file.write(bytes(dpkt.pcapng.InterfaceDescriptionBlockLE(
                snaplen=0, linktype=linktype)))
        return iface

    def close(self) -> None:
        """Finish the file and move it to its name."""
        if not self.pcapng:
            linktype = next(iter(self.linktypes), dpkt.pcap.DLT_EN10MB)
            self._file.seek(0)
            self._file.write(bytes(dpkt.pcap.LEFileHdr(snaplen=self._snaplen, linktype=linktype)))
        self._file.close()
        try:
            os.replace(self._tmp, self.path)
        except OSError as exc:
            os.unlink(self._tmp)
            raise OutputError(f"Cannot write {self.path}: {exc.strerror}.") from None

    def discard(self) -> None:
        self._file.close()
        os.unlink(self._tmp)

    def __enter__(self) -> "PacketFileWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()
