"""Hypothesis strategies for TLS and SSH handshake bytes that are *almost*
right: every structure is built field by field from its RFC layout, and
every length prefix is usually the true length but sometimes off by one or
two, zero, or the largest value its width holds. Random bytes rarely get
two nested lengths to agree; these reach the branches behind them (an
extension whose list is empty but well framed, a name list one byte short,
a certificate entry running past its list)."""
import struct

from hypothesis import strategies as st

GREASE = [0x0a0a + 0x1010 * i for i in range(16)]
# extension types the parsers decode, GREASE, and a few they only record
EXTENSION_TYPES = [0x0000, 0x000a, 0x000b, 0x000d, 0x0010, 0x0029, 0x002a, 0x002b, 0x002d,
                   0x0033, 0xfe0d, 0x0017, 0xff01, 0x0023, 0x0028]
U16_VALUES = st.one_of(st.sampled_from(GREASE + [0x1301, 0x1302, 0xc02b, 0x0303, 0x0304,
                                                  0x001d, 0x0017, 0x0403, 0x7f12]),
                       st.integers(0, 0xffff))
U16 = U16_VALUES.map(lambda v: struct.pack(">H", v))


def prefixed(width: int, payload):
    """payload's bytes behind a big-endian length of `width` bytes: the true
    length most of the time, else a wrong one."""
    wrong = st.sampled_from(["-2", "-1", "+1", "+2", "zero", "max"])
    return st.tuples(payload, st.one_of(st.just("true"), st.just("true"), st.just("true"),
                                        wrong)).map(lambda t: _with_length(width, *t))


def _with_length(width: int, data: bytes, how: str) -> bytes:
    top = (1 << (8 * width)) - 1
    length = {"true": len(data), "zero": 0, "max": top}.get(how)
    if length is None:
        length = len(data) + int(how)
    return (min(max(length, 0), top)).to_bytes(width, "big") + data


def joined(items, max_size=6):
    return st.lists(items, max_size=max_size).map(b"".join)


def u16s(max_size=12):
    """Packed 16-bit values, sometimes with an odd byte left over."""
    values = st.lists(U16_VALUES, max_size=max_size)
    return st.tuples(values, st.sampled_from([b"", b"", b"\x13"])) \
        .map(lambda t: struct.pack(f">{len(t[0])}H", *t[0]) + t[1])


def small_bytes(max_size=12):
    return st.binary(max_size=max_size)


# ClientHello extension data by type (RFC 6066 3, 7301 3.1, 8446 4.2)
_SNI_ENTRY = st.tuples(st.sampled_from([b"\x00", b"\x00", b"\x01"]),
                       prefixed(2, st.sampled_from([b"example.com", b"", b"a\xff\x00"])))
CLIENT_EXTENSION_DATA = {
    0x0000: prefixed(2, joined(_SNI_ENTRY.map(b"".join), 3)),
    0x0010: prefixed(2, joined(prefixed(1, st.sampled_from([b"h2", b"http/1.1", b""])), 4)),
    0x002b: prefixed(1, u16s(6)),
    0x000a: prefixed(2, u16s()),
    0x000d: prefixed(2, u16s()),
    0x000b: prefixed(1, small_bytes(4)),
    0x002d: prefixed(1, small_bytes(3)),
    0x0033: prefixed(2, joined(st.tuples(U16,
                                         prefixed(2, small_bytes(8))).map(b"".join), 3)),
}
# ServerHello extension data by type (RFC 8446 4.2.1, 4.2.8)
SERVER_EXTENSION_DATA = {
    0x002b: st.one_of(U16, small_bytes(4)),
    0x0033: st.one_of(U16,
                      st.tuples(U16,
                                prefixed(2, small_bytes(8))).map(b"".join)),
    0x0010: CLIENT_EXTENSION_DATA[0x0010],
}


def extensions(data_by_type):
    """An extensions block, absent, or followed by stray bytes."""
    def entry(etype):
        data = data_by_type.get(etype, small_bytes(6))
        return prefixed(2, data).map(lambda d: struct.pack(">H", etype) + d)
    one = st.one_of(st.sampled_from(EXTENSION_TYPES + GREASE[:2]), st.integers(0, 0xffff)) \
        .flatmap(entry)
    block = prefixed(2, joined(one, 8))
    return st.one_of(st.just(b""), block, block,
                     st.tuples(block, small_bytes(3)).map(b"".join))


def _hello_start(versions):
    """legacy_version, random (sometimes short), legacy_session_id<0..32> (sometimes longer)."""
    return st.tuples(st.sampled_from(versions).map(lambda v: struct.pack(">H", v)),
                     st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=31)),
                     prefixed(1, st.binary(max_size=34))).map(b"".join)


def client_hellos():
    return st.tuples(_hello_start([0x0303, 0x0301, 0x0300]), prefixed(2, u16s(20)),
                     prefixed(1, st.sampled_from([b"\x00", b"", b"\x01\x00"])),
                     extensions(CLIENT_EXTENSION_DATA)).map(b"".join)


HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


def server_hellos():
    """Final-layout ServerHellos (some HelloRetryRequests) and TLS 1.3 draft ones
    (no session id echo, no compression method)."""
    final = st.tuples(st.sampled_from([0x0303, 0x0302]).map(lambda v: struct.pack(">H", v)),
                      st.sampled_from([HRR_RANDOM, bytes(32)]), prefixed(1, st.binary(max_size=33)),
                      U16, st.sampled_from([b"\x00", b""]),
                      extensions(SERVER_EXTENSION_DATA)).map(b"".join)
    draft = st.tuples(st.sampled_from([0x7f12, 0x0304, 0x7f16]).map(lambda v: struct.pack(">H", v)),
                      st.binary(min_size=32, max_size=32),
                      U16,
                      extensions(SERVER_EXTENSION_DATA)).map(b"".join)
    return st.one_of(final, draft)


def certificates(tls13: bool):
    der = st.one_of(st.just(b""), st.binary(min_size=1, max_size=12))
    entry = prefixed(3, der)
    if tls13:
        entry = st.tuples(entry, prefixed(2, small_bytes(4))).map(b"".join)
    chain = prefixed(3, joined(entry, 13))
    if tls13:
        chain = st.tuples(prefixed(1, small_bytes(4)), chain).map(b"".join)
    return st.tuples(chain, st.sampled_from([b"", b"", b"\x00"])).map(b"".join)


def sslv2_hellos():
    """SSL 2.0 CLIENT-HELLO records: header, three lengths, then the fields they size."""
    def record(parts):
        msg_type, specs, sid, challenge, how = parts
        body = bytes([msg_type]) + b"\x00\x02" + struct.pack(
            ">HHH", len(specs), len(sid), len(challenge)) + specs + sid + challenge
        length = min(max(len(body) + {"true": 0, "-1": -1, "+1": 1}[how], 0), 0x7fff)
        return (0x8000 | length).to_bytes(2, "big") + body
    return st.tuples(st.sampled_from([1, 1, 4]), st.binary(max_size=16),
                     st.sampled_from([b"", bytes(16), bytes(5)]),
                     st.sampled_from([bytes(16), bytes(32), bytes(8), bytes(40)]),
                     st.sampled_from(["true", "true", "-1", "+1"])).map(record)


def handshake_messages():
    return st.tuples(st.sampled_from([1, 2, 11, 13, 20]).map(lambda t: bytes([t])),
                     prefixed(3, small_bytes(10))).map(b"".join)


def tls_records():
    """A direction's TLS bytes: records of every content type (and a bad one)."""
    record = st.tuples(st.sampled_from([20, 21, 22, 22, 22, 23, 24, 25]),
                       st.sampled_from([b"\x03\x03", b"\x03\x01", b"\x02\x00"]),
                       prefixed(2, st.one_of(joined(handshake_messages(), 3), small_bytes(4))))
    return joined(record.map(lambda t: bytes([t[0]]) + t[1] + t[2]), 5)


KEXINIT_LISTS = 10


def ssh_streams():
    """Optional pre-banner lines, an identification line, binary packets
    (KEXINIT with its ten name-lists, IGNORE, NEWKEYS, junk)."""
    banner = st.sampled_from([b"SSH-2.0-OpenSSH_9.6 Ubuntu\r\n", b"SSH-1.99-Cisco\n",
                              b"SSH-1.5-old\n", b"SSH-2.0\r\n", b"SSH--x\r\n", b"SSH-2.0-X",
                              b"SSH-2.0-" + b"A" * 300 + b"\r\n"])
    pre = st.lists(st.sampled_from([b"hello\r\n", b"\n", b"SSH\n"]), max_size=3).map(b"".join)
    kexinit = st.tuples(st.binary(min_size=16, max_size=16),
                        st.lists(prefixed(4, st.sampled_from([b"none", b"", b"a,b"])),
                                 min_size=KEXINIT_LISTS - 1, max_size=KEXINIT_LISTS + 1)
                        .map(b"".join),
                        st.sampled_from([bytes(5), b"\x01" + bytes(4), b"\x00"])) \
        .map(lambda t: b"\x14" + b"".join(t))
    payload = st.one_of(kexinit, kexinit, st.just(b"\x15"), st.binary(min_size=1, max_size=8)
                        .map(lambda b: b"\x02" + b))

    def packet(parts):
        body, padding, how = parts
        return _with_length(4, bytes([padding]) + body + bytes(padding), how)
    packets = joined(st.tuples(payload, st.sampled_from([4, 0, 9]),
                               st.sampled_from(["true", "true", "true", "-1", "+1", "max", "zero"]))
                     .map(packet), 3)
    return st.tuples(pre, banner, packets).map(b"".join)
