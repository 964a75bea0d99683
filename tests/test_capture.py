"""Capture file reader: engine.capture over hand-built pcap/pcapng bytes.

Expected values come from tests/capfiles.py (an independent writer) and,
where dpkt supports the variant, from dpkt's readers on the same bytes.
"""
from __future__ import annotations

import dataclasses
import gzip
import io
import logging
import os
import random
import struct

import dpkt
import numpy as np
import pytest

from engine.capture import Batch, open_capture
from engine.errors import CaptureError
try:                                   # run from the repository root
    from tests import capfiles as cf
except ImportError:                    # tests/ itself on sys.path (pytest rootdir-less)
    import capfiles as cf

Rec = cf.Rec


# -- helpers ----------------------------------------------------------------

def write(tmp_path, data: bytes, name: str = "cap.pcap") -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def read_all(path, batch_size=8192, backend="auto"):
    """(packets, reader) with packets as tuples (bytes, ts_us, caplen, wirelen, linktype)."""
    out = []
    with open_capture(path, batch_size=batch_size, backend=backend) as r:
        for b in r:
            assert b.count == len(b.offsets) == len(b.caplens) == len(b.wirelens) \
                == len(b.ts_us) == len(b.linktypes)
            for i in range(b.count):
                out.append((b.packet(i), int(b.ts_us[i]), int(b.caplens[i]),
                            int(b.wirelens[i]), int(b.linktypes[i])))
    return out, r


def recs(n=10, size=lambda i: 40 + i * 13, sec0=1_700_000_000, frac=lambda i: i * 111_111):
    return [Rec(sec0 + i, frac(i), cf.frame(i, size(i))) for i in range(n)]


def expect_pcap(records, nano=False, linktype=cf.LT_ETHERNET):
    return [(r.data, r.sec * 1_000_000 + (r.frac // 1000 if nano else r.frac),
             len(r.data), r.orig, linktype) for r in records]


def dpkt_pcap(data: bytes):
    return [(bytes(buf), ts) for ts, buf in dpkt.pcap.Reader(io.BytesIO(data))]


def dpkt_pcapng(data: bytes):
    return [(bytes(buf), ts) for ts, buf in dpkt.pcapng.Reader(io.BytesIO(data))]


def assert_matches_dpkt(packets, dpkt_packets):
    assert [p[0] for p in packets] == [d[0] for d in dpkt_packets]
    for p, (_, ts) in zip(packets, dpkt_packets):
        assert abs(p[1] - float(ts) * 1e6) <= 1.0


# -- classic pcap ---------------------------------------------------------

@pytest.mark.parametrize("endian", ["<", ">"], ids=["little_endian", "big_endian"])
@pytest.mark.parametrize("nano", [False, True], ids=["microsecond", "nanosecond"])
def test_pcap_every_byte_order_and_resolution_reads_exactly(tmp_path, endian, nano):
    frac = (lambda i: i * 111_111_111) if nano else (lambda i: i * 111_111)
    records = recs(frac=frac)
    data = cf.pcap(records, endian=endian, nano=nano)
    packets, r = read_all(write(tmp_path, data))
    assert packets == expect_pcap(records, nano)
    assert (r.format, r.truncated, r.packets_read) == ("pcap", False, 10)
    assert r.bytes_read == sum(len(x.data) for x in records)
    assert_matches_dpkt(packets, dpkt_pcap(data))


def test_pcap_big_endian_nanosecond_timestamps_become_microseconds(tmp_path):
    records = [Rec(1_600_000_000, 123_456_789, b"\x01" * 20),
               Rec(1_600_000_001, 999_999_999, b"\x02" * 20),
               Rec(0xFFFFFFFF, 999, b"\x03" * 20)]      # 2106, and < 1 us
    packets, _ = read_all(write(tmp_path, cf.pcap(records, ">", nano=True)))
    assert [p[1] for p in packets] == [1_600_000_000_123_456, 1_600_000_001_999_999,
                                       0xFFFFFFFF * 1_000_000]


def test_pcap_snaplen_truncated_packet_keeps_caplen_and_wirelen(tmp_path):
    records = [Rec(10, 0, cf.frame(0, 64), wirelen=1514), Rec(11, 5, cf.frame(1, 64))]
    packets, _ = read_all(write(tmp_path, cf.pcap(records, snaplen=64)))
    assert [(p[2], p[3]) for p in packets] == [(64, 1514), (64, 64)]
    assert packets[0][0] == cf.frame(0, 64)


def test_pcap_linktype_comes_from_the_file_header(tmp_path):
    records = recs(3)
    packets, _ = read_all(write(tmp_path, cf.pcap(records, ">", linktype=cf.LT_RAW)))
    assert [p[4] for p in packets] == [101] * 3


@pytest.mark.parametrize("raw", [12, 14, 101])
def test_raw_ip_linktype_written_as_dlt_value_reads_as_linktype_raw(tmp_path, raw):
    packets, _ = read_all(write(tmp_path, cf.pcap(recs(1), linktype=raw)))
    e = "<"
    ng, _ = read_all(write(tmp_path, cf.shb(e) + cf.idb(e, raw) + cf.epb(e, 0, 1, b"x"), "r.pcapng"))
    assert packets[0][4] == ng[0][4] == 101


def test_pcap_with_only_a_header_has_no_packets_and_is_not_truncated(tmp_path):
    packets, r = read_all(write(tmp_path, cf.pcap([])))
    assert (packets, r.truncated, r.packets_read, r.format) == ([], False, 0, "pcap")


def test_pcap_zero_length_packet_is_delivered(tmp_path):
    records = [Rec(1, 0, b""), Rec(2, 0, b"xy")]
    packets, _ = read_all(write(tmp_path, cf.pcap(records)))
    assert packets == expect_pcap(records)


def test_truncated_pcap_delivers_packets_before_the_cut_and_flags_truncated(tmp_path, caplog):
    records = recs(5)
    data = cf.pcap(records)
    offs = cf.pcap_record_offsets(records)
    path = write(tmp_path, data[:offs[3] + 20], "cut.pcap")
    with caplog.at_level(logging.WARNING, logger="engine.capture"):
        packets, r = read_all(path)
    assert packets == expect_pcap(records[:3])
    assert r.truncated and r.stop_offset == offs[3]
    assert "cut.pcap" in caplog.text and str(offs[3]) in caplog.text


def test_pcap_cut_inside_a_record_header_is_truncated(tmp_path):
    records = recs(2)
    data = cf.pcap(records)
    packets, r = read_all(write(tmp_path, data + b"\0" * 7))
    assert packets == expect_pcap(records) and r.truncated


def test_pcap_absurd_caplen_stops_with_a_warning(tmp_path, caplog):
    records = recs(3)
    bogus = struct.pack("<IIII", 5, 0, 0x7FFFFFF0, 60) + b"\0" * 64
    data = cf.pcap(records) + bogus + cf.pcap_record(records[0])
    with caplog.at_level(logging.WARNING, logger="engine.capture"):
        packets, r = read_all(write(tmp_path, data, "bad.pcap"))
    assert packets == expect_pcap(records)
    assert r.truncated and r.stop_offset == cf.pcap_record_offsets(records)[-1]
    assert "bad.pcap" in caplog.text and "snap length" in caplog.text


def test_pcap_caplen_far_above_snaplen_is_corrupt(tmp_path):
    # snaplen 100: a 60000-byte record cannot be genuine
    big = Rec(1, 0, b"\0" * 60000)
    packets, r = read_all(write(tmp_path, cf.pcap([Rec(0, 0, b"ok"), big], snaplen=100)))
    assert [p[0] for p in packets] == [b"ok"] and r.truncated


def test_pcap_caplen_slightly_above_snaplen_is_accepted(tmp_path):
    # some old writers stored records a little longer than the snaplen
    records = [Rec(1, 0, b"\xaa" * 120)]
    packets, r = read_all(write(tmp_path, cf.pcap(records, snaplen=100)))
    assert packets == expect_pcap(records) and not r.truncated


# -- pcapng -----------------------------------------------------------------

@pytest.mark.parametrize("e", ["<", ">"], ids=["little_endian", "big_endian"])
def test_pcapng_section_in_either_byte_order_reads_exactly(tmp_path, e):
    frames = [cf.frame(i, 30 + i * 7) for i in range(10)]
    ticks = [1_700_000_000_000_000 + i * 1_234_567 for i in range(10)]
    data = cf.shb(e) + cf.idb(e, cf.LT_ETHERNET, 65535) + b"".join(
        cf.epb(e, 0, t, f, wirelen=len(f) + 100 * (i % 2)) for i, (t, f) in enumerate(zip(ticks, frames)))
    packets, r = read_all(write(tmp_path, data, "x.pcapng"))
    assert packets == [(f, t, len(f), len(f) + 100 * (i % 2), 1)
                       for i, (t, f) in enumerate(zip(ticks, frames))]
    assert (r.format, r.truncated, r.packets_read) == ("pcapng", False, 10)
    assert_matches_dpkt(packets, dpkt_pcapng(data))


def test_pcapng_multiple_interfaces_keep_their_linktype_and_resolution(tmp_path):
    e = "<"
    ifaces = [(cf.LT_ETHERNET, None, None),     # default 10**-6
              (cf.LT_RAW, 9, None),              # nanoseconds
              (cf.LT_LINUX_SLL, 0x80 | 10, None),  # 2**-10 s
              (cf.LT_IPV4, 3, 1000),             # milliseconds, offset 1000 s
              (cf.LT_NULL, 6, -3600)]            # negative offset
    data = cf.shb(e) + b"".join(cf.idb(e, lt, 0, tsresol=res, tsoffset=off)
                                for lt, res, off in ifaces)
    ticks = {0: 1_700_000_000_123_456, 1: 1_700_000_000_123_456_789,
             2: 1_700_000_000 * 1024 + 1023, 3: 1_700_000_000_123, 4: 1_700_000_000_000_001}
    expected = []
    for k in range(10):
        ifid = k % len(ifaces)
        lt, res, off = ifaces[ifid]
        f = cf.frame(k)
        data += cf.epb(e, ifid, ticks[ifid] + k, f)
        expected.append((f, cf.expected_us(ticks[ifid] + k, res, off or 0), len(f), len(f), lt))
    packets, r = read_all(write(tmp_path, data, "multi.pcapng"))
    assert packets == expected
    assert expected[2][1] == 1_700_000_001_000_976      # 2**-10: +1025/1024 s, floored to us


def test_pcapng_power_of_two_and_extreme_resolutions_do_not_overflow(tmp_path):
    e = ">"
    cases = [(0x80 | 0, 1_700_000_000), (0x80 | 20, 1_700_000_000 << 20 | 12345),
             (0x80 | 30, (1_700_000_000 << 30) | (1 << 29)), (0x80 | 32, 1_700_000_000 << 32),
             (12, 1_700_000_000_123_456_789_012 % 2**64), (0, 1_700_000_000)]
    data = cf.shb(e)
    for res, _ in cases:
        data += cf.idb(e, 1, tsresol=res)
    for i, (res, t) in enumerate(cases):
        data += cf.epb(e, i, t, b"p")
    packets, _ = read_all(write(tmp_path, data, "res.pcapng"))
    assert [p[1] for p in packets] == [cf.expected_us(t, res) for res, t in cases]


def test_pcapng_spb_takes_linktype_of_first_interface(tmp_path):
    e = "<"
    data = (cf.shb(e) + cf.idb(e, cf.LT_RAW, snaplen=50) + cf.idb(e, cf.LT_ETHERNET)
            + cf.epb(e, 1, 5_000_000, b"E" * 10)
            + cf.spb(e, b"S" * 40)                       # whole packet
            + cf.spb(e, b"T" * 50, wirelen=1500)         # snapped to the IDB's snaplen
            + cf.spb(e, b"U" * 20, wirelen=30))          # block room < snaplen, < origlen
    packets, r = read_all(write(tmp_path, data, "spb.pcapng"))
    assert packets == [(b"E" * 10, 5_000_000, 10, 10, 1),
                       (b"S" * 40, 5_000_000, 40, 40, 101),
                       (b"T" * 50, 5_000_000, 50, 1500, 101),
                       (b"U" * 20, 5_000_000, 20, 30, 101)]
    assert not r.truncated


def test_pcapng_spb_caplen_is_the_smallest_of_origlen_snaplen_and_block(tmp_path):
    e = ">"
    # origlen 3 in a block padded to 4 bytes of data: caplen 3, not 4
    data = cf.shb(e) + cf.idb(e, cf.LT_ETHERNET, snaplen=0) + cf.spb(e, b"abc")
    packets, _ = read_all(write(tmp_path, data, "spb3.pcapng"))
    assert packets == [(b"abc", 0, 3, 3, 1)]


def test_pcapng_obsolete_packet_block_is_read(tmp_path):
    e = "<"
    data = (cf.shb(e) + cf.idb(e, cf.LT_ETHERNET) + cf.opb(e, 0, 1_700_000_000_000_007, b"old" * 9,
                                                           wirelen=99, drops=3))
    packets, _ = read_all(write(tmp_path, data, "opb.pcapng"))
    assert packets == [(b"old" * 9, 1_700_000_000_000_007, 27, 99, 1)]
    assert_matches_dpkt(packets, dpkt_pcapng(data))


def test_pcapng_unknown_and_non_packet_blocks_are_skipped(tmp_path):
    e = "<"
    data = (cf.shb(e) + cf.nrb(e) + cf.idb(e, cf.LT_ETHERNET)
            + cf.block(e, 0x00000BAD, b"custom block body!") + cf.epb(e, 0, 1, b"a")
            + cf.isb(e) + cf.block(e, 0x40000BAD, b"") + cf.block(e, 0x12345678, b"z" * 33)
            + cf.epb(e, 0, 2, b"b", opts=[(cf.OPT_COMMENT, b"a comment")]))
    packets, r = read_all(write(tmp_path, data, "unk.pcapng"))
    assert [(p[0], p[1]) for p in packets] == [(b"a", 1), (b"b", 2)] and not r.truncated


def test_pcapng_second_section_resets_interfaces_and_byte_order(tmp_path):
    data = (cf.shb("<") + cf.idb("<", cf.LT_ETHERNET) + cf.idb("<", cf.LT_RAW, tsresol=9)
            + cf.epb("<", 1, 7_000, b"first")
            + cf.shb(">") + cf.idb(">", cf.LT_LINUX_SLL, tsresol=3)
            + cf.epb(">", 0, 7_000, b"second")
            + cf.epb(">", 1, 7_000, b"no such interface in this section"))
    packets, r = read_all(write(tmp_path, data, "two.pcapng"))
    assert packets == [(b"first", 7, 5, 5, 101), (b"second", 7_000_000, 6, 6, 113)]
    assert r.packets_skipped == 1 and not r.truncated


def test_pcapng_packet_naming_a_missing_interface_is_skipped_and_counted(tmp_path, caplog):
    e = "<"
    data = cf.shb(e) + cf.epb(e, 0, 1, b"orphan") + cf.idb(e) + cf.epb(e, 0, 2, b"ok") + cf.spb(e, b"x")
    with caplog.at_level(logging.WARNING, logger="engine.capture"):
        packets, r = read_all(write(tmp_path, data, "orph.pcapng"))
    assert [p[0] for p in packets] == [b"ok", b"x"]
    assert r.packets_skipped == 1 and "orph.pcapng" in caplog.text


def test_pcapng_with_only_headers_has_no_packets(tmp_path):
    e = ">"
    packets, r = read_all(write(tmp_path, cf.shb(e) + cf.idb(e), "empty.pcapng"))
    assert (packets, r.truncated, r.format) == ([], False, "pcapng")
    packets, r = read_all(write(tmp_path, cf.shb(e), "shb.pcapng"))
    assert (packets, r.truncated) == ([], False)


def _ng_three(e="<"):
    return cf.shb(e) + cf.idb(e) + b"".join(cf.epb(e, 0, i, cf.frame(i, 21)) for i in range(3))


def test_pcapng_block_trailer_mismatch_is_corrupt(tmp_path, caplog):
    e = "<"
    bad = cf.block(e, cf.BT_EPB, b"\0" * 20, trailer_len=36)
    data = _ng_three(e) + bad + cf.epb(e, 0, 9, b"after")
    with caplog.at_level(logging.WARNING, logger="engine.capture"):
        packets, r = read_all(write(tmp_path, data, "trl.pcapng"))
    assert len(packets) == 3 and r.truncated and r.stop_offset == len(_ng_three(e))
    assert "trailing length" in caplog.text and "trl.pcapng" in caplog.text


@pytest.mark.parametrize("total_len", [0, 8, 13, 30])
def test_pcapng_misaligned_or_short_block_length_is_corrupt(tmp_path, total_len):
    e = ">"
    bad = struct.pack(e + "II", cf.BT_EPB, total_len) + b"\0" * 40
    packets, r = read_all(write(tmp_path, _ng_three(e) + bad, "len.pcapng"))
    assert len(packets) == 3 and r.truncated and r.stop_offset == len(_ng_three(e))


def test_pcapng_packet_longer_than_its_block_is_corrupt(tmp_path):
    e = "<"
    data = _ng_three(e) + cf.epb(e, 0, 1, b"abcd", caplen=400)
    packets, r = read_all(write(tmp_path, data, "cl.pcapng"))
    assert len(packets) == 3 and r.truncated


def test_pcapng_block_cut_by_end_of_file_is_truncated(tmp_path):
    data = _ng_three() + cf.epb("<", 0, 1, b"x" * 40)
    packets, r = read_all(write(tmp_path, data[:-10], "cut.pcapng"))
    assert len(packets) == 3 and r.truncated and r.stop_offset == len(_ng_three())


def test_pcapng_shb_with_unknown_major_version_is_corrupt(tmp_path):
    packets, r = read_all(write(tmp_path, cf.shb("<", major=2) + cf.idb("<"), "v2.pcapng"))
    assert packets == [] and r.truncated


def test_pcapng_not_starting_with_a_section_header_is_rejected(tmp_path):
    # SHB magic but a bad byte-order magic
    data = struct.pack("<II", cf.BT_SHB, 28) + b"\x11\x22\x33\x44" + b"\0" * 16
    packets, r = read_all(write(tmp_path, data, "bom.pcapng"))
    assert packets == [] and r.truncated


# -- every cut, batches, fuzz ----------------------------------------------

def _boundaries_pcap(records):
    return cf.pcap_record_offsets(records)


def test_file_truncated_at_every_byte_never_raises(tmp_path):
    records = recs(4, size=lambda i: 5 + i)
    pc = cf.pcap(records, ">", nano=True)
    pc_bounds = set(cf.pcap_record_offsets(records))
    e = "<"
    blocks = [cf.shb(e), cf.idb(e, 1, tsresol=9), cf.epb(e, 0, 10**18, b"abc"),
              cf.nrb(e), cf.spb(e, b"defgh"), cf.opb(e, 0, 10**18 + 1000, b"ij")]
    ng = b"".join(blocks)
    ng_bounds, pos = set(), 0
    for b in blocks:
        pos += len(b)
        ng_bounds.add(pos)
    for data, bounds, full_count in ((pc, pc_bounds, 4), (ng, ng_bounds, 3)):
        full, _ = read_all(write(tmp_path, data, "full"))
        assert len(full) == full_count
        for cut in range(len(data) + 1):
            path = write(tmp_path, data[:cut], "cut")
            if cut < 4:
                with pytest.raises(CaptureError):
                    read_all(path)
                continue
            packets, r = read_all(path)
            assert packets == full[:len(packets)], cut
            assert r.truncated == (cut not in bounds), cut


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_batch_size_three_over_ten_packets_gives_the_same_packets(tmp_path, fmt):
    if fmt == "pcap":
        data = cf.pcap(recs(10))
    else:
        e = ">"
        data = cf.shb(e) + cf.idb(e, 1) + cf.idb(e, 101, tsresol=9)
        for i in range(10):
            data += cf.epb(e, i % 2, 10**15 + i, cf.frame(i)) + (cf.isb(e) if i % 3 == 0 else b"")
    path = write(tmp_path, data)
    whole, _ = read_all(path)
    counts = []
    with open_capture(path, batch_size=3) as r:
        got = []
        for b in r:
            counts.append(b.count)
            got += [(b.packet(i), int(b.ts_us[i]), int(b.caplens[i]), int(b.wirelens[i]),
                     int(b.linktypes[i])) for i in range(b.count)]
    assert counts == [3, 3, 3, 1] and got == whole and len(whole) == 10
    assert r.packets_read == 10


def test_random_corruption_never_raises_and_keeps_a_prefix(tmp_path):
    rng = random.Random(48)
    e = "<"
    ng = cf.shb(e) + cf.idb(e) + cf.idb(e, 101, tsresol=0x8A) + b"".join(
        cf.epb(e, i % 2, i, cf.frame(i, 10 + i)) for i in range(8)) + cf.spb(e, b"qq")
    pc = cf.pcap(recs(8))
    for data in (ng, pc):
        for _ in range(300):
            buf = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                buf[rng.randrange(4, len(buf))] = rng.randrange(256)
            path = write(tmp_path, bytes(buf), "fuzz")
            packets, r = read_all(path, batch_size=rng.choice([1, 2, 8192]))
            for p in packets:
                assert 0 <= p[2] <= 262144


# -- the batch itself -------------------------------------------------------

def test_batch_is_a_frozen_slotted_dataclass_with_typed_arrays(tmp_path):
    path = write(tmp_path, cf.pcap(recs(2)))
    with open_capture(path) as r:
        b = next(iter(r))
        assert isinstance(b, Batch) and not hasattr(b, "__dict__")
        with pytest.raises(dataclasses.FrozenInstanceError):
            b.count = 5
        assert (b.offsets.dtype, b.caplens.dtype, b.wirelens.dtype, b.ts_us.dtype,
                b.linktypes.dtype) == (np.uint64, np.uint32, np.uint32, np.int64, np.uint16)
        o, c = int(b.offsets[1]), int(b.caplens[1])
        assert b.buf[o:o + c] == cf.frame(1, 53)


def test_close_while_a_view_of_the_batch_is_held_does_not_raise(tmp_path):
    path = write(tmp_path, cf.pcap(recs(3)))
    r = open_capture(path)
    b = next(iter(r))
    view = memoryview(b.buf)
    r.close()                              # no BufferError
    assert bytes(view[int(b.offsets[0]):int(b.offsets[0]) + 4]) == cf.frame(0)[:4]
    view.release()
    r.close()                              # idempotent
    assert list(r) == []


def test_batch_of_a_closed_reader_raises_instead_of_reading_freed_memory(tmp_path):
    path = write(tmp_path, cf.pcap(recs(3)))
    with open_capture(path) as r:
        b = next(iter(r))
    with pytest.raises(ValueError):
        b.packet(0)


# -- gzip -------------------------------------------------------------------

def test_gzipped_capture_is_read_transparently(tmp_path):
    records = recs(5)
    packets, r = read_all(write(tmp_path, gzip.compress(cf.pcap(records, ">")), "x.pcap.gz"))
    assert packets == expect_pcap(records) and r.format == "pcap"
    data = _ng_three()
    packets, r = read_all(write(tmp_path, gzip.compress(data), "x.pcapng.gz"))
    assert len(packets) == 3 and r.format == "pcapng"


def test_broken_gzip_file_is_a_capture_error_naming_the_file(tmp_path):
    path = write(tmp_path, gzip.compress(cf.pcap(recs(5)))[:30], "broken.pcap.gz")
    with pytest.raises(CaptureError, match="broken.pcap.gz"):
        read_all(path)


# -- libpcap fallback -------------------------------------------------------

def test_libpcap_backend_reads_a_dpkt_written_pcap_like_the_native_reader(tmp_path):
    buf = io.BytesIO()
    w = dpkt.pcap.Writer(buf, linktype=dpkt.pcap.DLT_RAW)
    for i in range(10):
        w.writepkt(cf.frame(i, 20 + i), ts=1_700_000_000 + i / 8)
    path = write(tmp_path, buf.getvalue())
    native, _ = read_all(path)
    fallback, r = read_all(path, batch_size=3, backend="libpcap")
    assert r.format == "libpcap" and not r.truncated
    assert fallback == native and len(native) == 10
    assert {p[4] for p in fallback} == {101}   # DLT_RAW 12/14 mapped to LINKTYPE_RAW


def test_format_only_libpcap_reads_falls_back_to_pcapy(tmp_path):
    records = recs(4)
    path = write(tmp_path, cf.pcap_kuznetzov(records), "kuz.pcap")
    packets, r = read_all(path)
    assert r.format == "libpcap"
    assert [(p[0], p[1], p[2], p[4]) for p in packets] == \
        [(x.data, x.sec * 1_000_000 + x.frac, len(x.data), 1) for x in records]


def test_libpcap_truncated_file_delivers_the_packets_before_the_cut(tmp_path, caplog):
    records = recs(7)
    data = cf.pcap(records)
    path = write(tmp_path, data[:cf.pcap_record_offsets(records)[5] + 9], "lcut.pcap")
    with caplog.at_level(logging.WARNING, logger="engine.capture"):
        packets, r = read_all(path, batch_size=4, backend="libpcap")
    assert packets == [(p[0], p[1], p[2], p[2], p[4]) for p in expect_pcap(records[:5])]
    assert r.truncated and "lcut.pcap" in caplog.text


# -- errors -----------------------------------------------------------------

def test_missing_file_is_a_capture_error_naming_it(tmp_path):
    with pytest.raises(CaptureError, match="nope.pcap does not exist"):
        open_capture(str(tmp_path / "nope.pcap"))


def test_directory_is_a_capture_error_naming_it(tmp_path):
    d = tmp_path / "adir"
    d.mkdir()
    with pytest.raises(CaptureError, match="adir is a directory"):
        open_capture(str(d))


def test_empty_file_is_a_capture_error_naming_it(tmp_path):
    with pytest.raises(CaptureError, match="nil.pcap is empty"):
        open_capture(write(tmp_path, b"", "nil.pcap"))


@pytest.mark.parametrize("backend", ["auto", "native"])
def test_text_file_is_not_a_capture_and_the_error_names_it_and_its_magic(tmp_path, backend):
    path = write(tmp_path, b"hello, this is text\n", "x.txt")
    with pytest.raises(CaptureError) as ei:
        open_capture(path, backend=backend)
    assert str(ei.value) == f"{path} is not a pcap or pcapng capture (magic 0x68656c6c)."


def test_unreadable_file_is_a_capture_error_naming_it(tmp_path, monkeypatch):
    import engine.capture as capture
    path = write(tmp_path, cf.pcap([]), "locked.pcap")

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied", path)
    monkeypatch.setattr(capture, "open", denied, raising=False)   # works as root too
    with pytest.raises(CaptureError, match="Cannot read capture file .*locked.pcap: Permission denied"):
        open_capture(path)


def test_bad_batch_size_is_refused():
    with pytest.raises(ValueError):
        open_capture("whatever", batch_size=0)


# -- the shared corpus: differential against libpcap ------------------------

CORPUS = os.environ.get("EXFILWATCH_CORPUS") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "corpus")


def _corpus_captures():
    if not os.path.isdir(CORPUS):
        return []
    out = []
    for root, _, names in os.walk(CORPUS):
        out += [os.path.join(root, n) for n in names if n.endswith((".pcap", ".pcapng", ".cap"))]
    return sorted(out)


def test_every_corpus_capture_reads_exactly_like_libpcap():
    import pcapy
    files = _corpus_captures()
    if not files:
        pytest.skip(f"no captures under {CORPUS} (set EXFILWATCH_CORPUS)")
    for path in files:
        native, r = read_all(path)
        ref, error = [], None
        pc = pcapy.open_offline(path)
        try:
            while True:
                hdr, data = pc.next()
                if hdr is None:
                    break
                sec, usec = hdr.getts()
                ref.append((bytes(data), sec * 1_000_000 + usec, hdr.getcaplen(), hdr.getlen()))
        except pcapy.PcapError as e:
            error = e
        assert [p[:4] for p in native] == ref, path
        assert r.truncated == (error is not None), path
