"""Build capture-file bytes by hand, for the reader tests.

Everything here is struct-packed from the format specifications
(libpcap's savefile format; draft-ietf-opsawg-pcapng), independent of
engine/capture.py, so the tests compare the reader with a second
implementation rather than with itself.

Classic pcap:
    pcap([Rec(sec, frac, data, wirelen)], endian="<"|">", nano=False,
         linktype=1, snaplen=65535)
pcapng (concatenate blocks):
    shb(e) + idb(e, linktype, snaplen, tsresol=..., tsoffset=...)
    + epb(e, ifid, ticks, data, wirelen) + spb(e, data, wirelen)
    + opb(e, ifid, ticks, data, wirelen) + block(e, type, body)
Each builder returns bytes; ``e`` is "<" (little) or ">" (big endian).
"""
from __future__ import annotations

import struct
from typing import Iterable, NamedTuple, Optional

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAP_MAGIC_KUZNETZOV = 0xA1B2CD34   # "modified" pcap: only libpcap reads it

BT_IDB = 0x00000001
BT_OPB = 0x00000002
BT_SPB = 0x00000003
BT_NRB = 0x00000004
BT_ISB = 0x00000005
BT_EPB = 0x00000006
BT_SHB = 0x0A0D0D0A

OPT_ENDOFOPT = 0
OPT_COMMENT = 1
IF_TSRESOL = 9
IF_TSOFFSET = 14

# Link types used in the tests (LINKTYPE_* values)
LT_NULL = 0
LT_ETHERNET = 1
LT_RAW = 101
LT_LINUX_SLL = 113
LT_IPV4 = 228


class Rec(NamedTuple):
    """One classic pcap record: time as (seconds, fraction in file units)."""
    sec: int
    frac: int
    data: bytes
    wirelen: Optional[int] = None

    @property
    def orig(self) -> int:
        return len(self.data) if self.wirelen is None else self.wirelen


def frame(i: int, size: int = 60) -> bytes:
    """A distinct, recognisable payload of ``size`` bytes (not a valid frame)."""
    head = struct.pack(">I", 0xF00D0000 + i)
    body = bytes((i * 7 + k) & 0xFF for k in range(max(0, size - 4)))
    return (head + body)[:size]


# -- classic pcap -----------------------------------------------------------

def pcap_header(endian: str = "<", nano: bool = False, linktype: int = LT_ETHERNET,
                snaplen: int = 65535, magic: Optional[int] = None) -> bytes:
    if magic is None:
        magic = PCAP_MAGIC_NS if nano else PCAP_MAGIC_US
    return struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(rec: Rec, endian: str = "<") -> bytes:
    return struct.pack(endian + "IIII", rec.sec, rec.frac, len(rec.data), rec.orig) + rec.data


def pcap(records: Iterable[Rec], endian: str = "<", nano: bool = False,
         linktype: int = LT_ETHERNET, snaplen: int = 65535) -> bytes:
    return pcap_header(endian, nano, linktype, snaplen) + b"".join(
        pcap_record(r, endian) for r in records)


def pcap_kuznetzov(records: Iterable[Rec], endian: str = "<",
                   linktype: int = LT_ETHERNET, snaplen: int = 65535) -> bytes:
    """Alexey Kuznetzov's modified pcap: 24-byte record headers
    (ifindex u32, protocol u16, pkt_type u8, pad u8 after the usual four)."""
    out = [pcap_header(endian, linktype=linktype, snaplen=snaplen,
                       magic=PCAP_MAGIC_KUZNETZOV)]
    for r in records:
        out.append(struct.pack(endian + "IIIIIHBB", r.sec, r.frac, len(r.data), r.orig,
                               2, 0x0800, 0, 0) + r.data)
    return b"".join(out)


def pcap_record_offsets(records: Iterable[Rec]) -> list:
    """File offsets at which each record of pcap(records) starts, plus the end."""
    offs, pos = [], 24
    for r in records:
        offs.append(pos)
        pos += 16 + len(r.data)
    offs.append(pos)
    return offs


# -- pcapng -----------------------------------------------------------------

def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def option(endian: str, code: int, value: bytes) -> bytes:
    return struct.pack(endian + "HH", code, len(value)) + _pad4(value)


def options(endian: str, opts) -> bytes:
    """opts: list of (code, value bytes); adds opt_endofopt when non-empty."""
    if not opts:
        return b""
    return b"".join(option(endian, c, v) for c, v in opts) + option(endian, OPT_ENDOFOPT, b"")


def block(endian: str, btype: int, body: bytes, total_len: Optional[int] = None,
          trailer_len: Optional[int] = None) -> bytes:
    """A pcapng block; ``body`` is padded to 4. The lengths can be forced
    (to build corrupt blocks)."""
    body = _pad4(body)
    n = 12 + len(body) if total_len is None else total_len
    t = n if trailer_len is None else trailer_len
    return struct.pack(endian + "II", btype, n) + body + struct.pack(endian + "I", t)


def shb(endian: str = "<", major: int = 1, minor: int = 0, opts=()) -> bytes:
    body = struct.pack(endian + "IHHq", 0x1A2B3C4D, major, minor, -1) + options(endian, list(opts))
    return block(endian, BT_SHB, body)


def idb(endian: str = "<", linktype: int = LT_ETHERNET, snaplen: int = 0,
        tsresol: Optional[int] = None, tsoffset: Optional[int] = None, opts=()) -> bytes:
    """tsresol is the raw if_tsresol byte: n for 10**-n, 0x80 | n for 2**-n."""
    o = list(opts)
    if tsresol is not None:
        o.append((IF_TSRESOL, bytes([tsresol])))
    if tsoffset is not None:
        o.append((IF_TSOFFSET, struct.pack(endian + "q", tsoffset)))
    body = struct.pack(endian + "HHI", linktype, 0, snaplen) + options(endian, o)
    return block(endian, BT_IDB, body)


def epb(endian: str, ifid: int, ticks: int, data: bytes, wirelen: Optional[int] = None,
        caplen: Optional[int] = None, opts=()) -> bytes:
    body = struct.pack(endian + "IIIII", ifid, ticks >> 32, ticks & 0xFFFFFFFF,
                       len(data) if caplen is None else caplen,
                       len(data) if wirelen is None else wirelen)
    return block(endian, BT_EPB, body + _pad4(data) + options(endian, list(opts)))


def opb(endian: str, ifid: int, ticks: int, data: bytes,
        wirelen: Optional[int] = None, drops: int = 0) -> bytes:
    body = struct.pack(endian + "HHIIII", ifid, drops, ticks >> 32, ticks & 0xFFFFFFFF,
                       len(data), len(data) if wirelen is None else wirelen)
    return block(endian, BT_OPB, body + data)


def spb(endian: str, data: bytes, wirelen: Optional[int] = None) -> bytes:
    """Simple packet block: original length, then the (possibly snapped) data."""
    body = struct.pack(endian + "I", len(data) if wirelen is None else wirelen)
    return block(endian, BT_SPB, body + data)


def nrb(endian: str = "<") -> bytes:
    """A name resolution block with one IPv4 record (skipped by the reader)."""
    rec = struct.pack(endian + "HH", 1, 4 + 8) + _pad4(bytes([10, 0, 0, 1]) + b"host.ex\0")
    return block(endian, BT_NRB, rec + struct.pack(endian + "HH", 0, 0))


def isb(endian: str = "<", ifid: int = 0, ticks: int = 0) -> bytes:
    """An interface statistics block (skipped by the reader)."""
    return block(endian, BT_ISB, struct.pack(endian + "III", ifid, ticks >> 32,
                                             ticks & 0xFFFFFFFF))


def ticks_for_us(ts_us: int, tsresol: Optional[int]) -> int:
    """Ticks of an interface with if_tsresol ``tsresol`` for a time in
    microseconds (exact for the resolutions the tests use)."""
    if tsresol is None:
        tsresol = 6
    if tsresol & 0x80:
        return (ts_us << (tsresol & 0x7F)) // 1_000_000
    n = tsresol
    return ts_us * 10 ** (n - 6) if n >= 6 else ts_us // 10 ** (6 - n)


def expected_us(ticks: int, tsresol: Optional[int] = None, tsoffset: int = 0) -> int:
    """Microseconds since the epoch for pcapng ticks, floored, exact (Python ints)."""
    if tsresol is None:
        tsresol = 6
    if tsresol & 0x80:
        per_second = 2 ** (tsresol & 0x7F)
    else:
        per_second = 10 ** tsresol
    return ticks * 1_000_000 // per_second + tsoffset * 1_000_000
