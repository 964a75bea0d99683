"""Write small MaxMind DB (.mmdb) files for tests, so no database is downloaded.

The format is MaxMind DB 2.0 (https://maxmind.github.io/MaxMind-DB/):
a binary search tree over the address bits, 16 zero bytes, a data section
of typed values, then the metadata marker and a metadata map. This writer
keeps only what the tests need: record sizes 24 and 32, IPv6 trees with
IPv4 networks under ::/96 (where readers look IPv4 addresses up), IPv4-only
trees, no pointers (identical values are stored once and shared).

    write_mmdb(path, {"203.0.113.0/24": {"country": {"iso_code": "RU"}}},
               database_type="GeoLite2-Country")
"""
import ipaddress
import struct

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"

# type numbers of the data section (spec "Output Data Section")
_T_STRING, _T_DOUBLE, _T_BYTES, _T_UINT16, _T_UINT32, _T_MAP = 2, 3, 4, 5, 6, 7
_T_INT32, _T_UINT64, _T_UINT128, _T_ARRAY, _T_BOOL = 8, 9, 10, 11, 14


def _control(type_num, size):
    """Control byte(s): 3 type bits, 5 size bits, extended type, size bytes."""
    if size < 29:
        size_bits, extra = size, b""
    elif size < 29 + 256:
        size_bits, extra = 29, bytes([size - 29])
    elif size < 285 + 65536:
        size_bits, extra = 30, struct.pack(">H", size - 285)
    else:
        size_bits, extra = 31, struct.pack(">I", size - 65821)[1:]
    if type_num <= 7:
        return bytes([(type_num << 5) | size_bits]) + extra
    return bytes([size_bits, type_num - 7]) + extra


def _uint(type_num, value):
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
    return _control(type_num, len(raw)) + raw


class Typed:
    """An integer with its MaxMind DB type fixed (the metadata requires exact types)."""

    __slots__ = ("type_num", "value")

    def __init__(self, type_num, value):
        self.type_num, self.value = type_num, value


def uint16(value):
    return Typed(_T_UINT16, value)


def uint32(value):
    return Typed(_T_UINT32, value)


def uint64(value):
    return Typed(_T_UINT64, value)


def encode(value):
    """One value in the MaxMind DB data-section encoding."""
    if isinstance(value, Typed):
        return _uint(value.type_num, value.value)
    if isinstance(value, bool):
        return _control(_T_BOOL, int(value))
    if isinstance(value, int):
        if value < 0:
            if value < -(2**31):
                raise ValueError(f"{value} does not fit int32")
            return _control(_T_INT32, 4) + struct.pack(">i", value)
        if value < 2**16:
            return _uint(_T_UINT16, value)
        if value < 2**32:
            return _uint(_T_UINT32, value)
        if value < 2**64:
            return _uint(_T_UINT64, value)
        return _uint(_T_UINT128, value)
    if isinstance(value, float):
        return _control(_T_DOUBLE, 8) + struct.pack(">d", value)
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _control(_T_STRING, len(raw)) + raw
    if isinstance(value, bytes):
        return _control(_T_BYTES, len(value)) + value
    if isinstance(value, dict):
        out = [_control(_T_MAP, len(value))]
        for key, item in value.items():
            out.append(encode(str(key)))
            out.append(encode(item))
        return b"".join(out)
    if isinstance(value, (list, tuple)):
        return _control(_T_ARRAY, len(value)) + b"".join(encode(v) for v in value)
    raise TypeError(f"cannot encode {type(value).__name__} in a MaxMind DB")


class _Node:
    __slots__ = ("children",)

    def __init__(self, fill=None):
        # each child: None (no data), a _Node, or bytes (an encoded value)
        self.children = [fill, fill]


def _insert(root, bits, nbits, value_bytes):
    node = root
    for depth in range(nbits - 1):
        bit = (bits >> (nbits - 1 - depth)) & 1
        child = node.children[bit]
        if not isinstance(child, _Node):
            # a shorter network already holds data here: push it down
            child = _Node(child)
            node.children[bit] = child
        node = child
    node.children[bits & 1] = value_bytes


def write_mmdb(path, networks, *, database_type="GeoLite2-Country", ip_version=6,
               record_size=24, languages=("en",), description="exfilwatch test database",
               build_epoch=1_700_000_000):
    """Write `networks` ({"CIDR or address": value}) to `path` as a MaxMind DB.

    Networks are inserted shortest prefix first, so a longer prefix inside a
    shorter one overrides it for its own addresses only, as in real databases.
    """
    if record_size not in (24, 32):
        raise ValueError("this writer supports record sizes 24 and 32")
    parsed = []
    for cidr, value in networks.items():
        net = ipaddress.ip_network(cidr, strict=False)
        if net.version == 6 and ip_version == 4:
            raise ValueError(f"{cidr} does not fit an IPv4-only database")
        # IPv4 in an IPv6 tree lives under ::/96, where readers look it up
        offset = 96 if (net.version == 4 and ip_version == 6) else 0
        prefixlen = net.prefixlen + offset
        bits = int(net.network_address) >> (net.max_prefixlen - net.prefixlen)
        parsed.append((prefixlen, bits, value))
    parsed.sort(key=lambda item: item[0])

    data = bytearray()
    offsets = {}
    root = _Node()
    for prefixlen, bits, value in parsed:
        if prefixlen == 0:
            raise ValueError("a /0 network cannot be stored below the root node")
        encoded = encode(value)
        _insert(root, bits, prefixlen, encoded)
        if encoded not in offsets:
            offsets[encoded] = len(data)
            data += encoded

    # number the nodes breadth first; the root is node 0
    nodes = [root]
    index = {id(root): 0}
    i = 0
    while i < len(nodes):
        for child in nodes[i].children:
            if isinstance(child, _Node):
                index[id(child)] = len(nodes)
                nodes.append(child)
        i += 1
    node_count = len(nodes)

    def record(child):
        if child is None:
            return node_count
        if isinstance(child, _Node):
            return index[id(child)]
        return node_count + 16 + offsets[child]

    tree = bytearray()
    limit = 1 << record_size
    for node in nodes:
        left, right = (record(c) for c in node.children)
        if max(left, right) >= limit:
            raise ValueError(f"record value does not fit {record_size} bits")
        if record_size == 24:
            tree += left.to_bytes(3, "big") + right.to_bytes(3, "big")
        else:
            tree += struct.pack(">II", left, right)

    metadata = {
        "binary_format_major_version": uint16(2),
        "binary_format_minor_version": uint16(0),
        "build_epoch": uint64(build_epoch),
        "database_type": database_type,
        "description": {"en": description},
        "ip_version": uint16(ip_version),
        "languages": list(languages),
        "node_count": uint32(node_count),
        "record_size": uint16(record_size),
    }
    with open(path, "wb") as fh:
        fh.write(bytes(tree))
        fh.write(b"\x00" * 16)
        fh.write(bytes(data))
        fh.write(METADATA_MARKER)
        fh.write(encode(metadata))
    return path


def country_record(iso_code, *, registered=None, name=None):
    """A GeoLite2-Country record as MaxMind lays it out."""
    rec = {"country": {"iso_code": iso_code, "names": {"en": name or iso_code}}}
    if registered:
        rec["registered_country"] = {"iso_code": registered, "names": {"en": registered}}
    return rec


def asn_record(number, organization):
    """A GeoLite2-ASN record as MaxMind lays it out."""
    return {"autonomous_system_number": number, "autonomous_system_organization": organization}
