"""SSH identification string and first KEXINIT of one direction (RFC 4253
sections 4.2, 6 and 7.1) in pure Python: the twin of engine/_ssh.pxi.

Same record dict, status names and caps as the core's parse_ssh_stream;
never raises on the content of the input.
"""
import struct

from .buffer import byte_view

SSH_STATUS_NAMES = (
    "ok", "no_banner", "banner_too_long", "truncated_banner", "bad_banner", "ssh1",
    "no_kexinit", "truncated_packet", "bad_packet_length", "bad_padding_length", "bad_kexinit",
)

SSH_KEXINIT_LIST_NAMES = (
    "kex_algorithms", "server_host_key_algorithms",
    "encryption_algorithms_client_to_server", "encryption_algorithms_server_to_client",
    "mac_algorithms_client_to_server", "mac_algorithms_server_to_client",
    "compression_algorithms_client_to_server", "compression_algorithms_server_to_client",
    "languages_client_to_server", "languages_server_to_client",
)

# Named caps (DESIGN.md, bounded state), the same as engine/_core.pxd's
MAX_BANNER_LEN = 255               # the kept banner, without CR/LF
MAX_LINE_LEN = 8192                # a line (banner or pre-banner) must end within this (OpenSSH)
MAX_PRE_BANNER_LINES = 1024        # lines skipped before "SSH-" (OpenSSH's limit)
MAX_PACKET_LEN = 35000             # RFC 4253 6.1: packets up to this size must be handled
MAX_PACKETS_BEFORE_KEXINIT = 16    # plaintext packets (IGNORE, DEBUG...) skipped
MSG_KEXINIT, MSG_NEWKEYS = 20, 21
COOKIE_LEN = 16

_PACKET_HEADER = struct.Struct(">IB")      # packet_length, padding_length
_U32 = struct.Struct(">I").unpack_from


def _text(raw: bytes) -> str:
    # display text of banner fields; the exact bytes stay in "banner"
    return raw.decode("utf-8", "backslashreplace")


def _find_banner(data: bytes, record: dict):
    """Offset of the "SSH-" line, skipping the lines a server may send before
    it (RFC 4253 4.2); None when there is none (yet)."""
    pos, n = 0, len(data)
    while pos < n:
        if data.startswith(b"SSH-", pos):
            return pos
        if n - pos < 4 or record["pre_banner_lines"] >= MAX_PRE_BANNER_LINES:
            return None             # a short tail that may still become "SSH-" is no banner yet
        lf = data.find(b"\n", pos, pos + MAX_LINE_LEN)
        if lf < 0:
            return None             # no LF within a line's length, or the data ends
        record["pre_banner_lines"] += 1
        pos = lf + 1
    return None


def _split_banner(banner: bytes, record: dict):
    """"SSH-" protoversion "-" softwareversion [SP comments], over the kept
    banner; returns the protoversion's bytes, or None when no non-empty
    protoversion is ended by "-"."""
    dash = banner.find(b"-", 4)
    if dash <= 4:
        return None
    proto = banner[4:dash]
    record["proto_version"] = _text(proto)
    software, space, comments = banner[dash + 1:].partition(b" ")
    record["software_version"] = _text(software)
    if space:
        record["comments"] = _text(comments)
    return proto


def _is_ssh1(proto: bytes) -> bool:
    # "1.99" announces SSH-2 with SSH-1 compatibility (RFC 4253 5.1); any other 1.x is SSH-1
    return proto.startswith(b"1.") and proto != b"1.99"


def _kexinit(payload: bytes, packet_length: int, padding_length: int):
    """The fields of a KEXINIT payload (message number first), or None when
    it is shorter than its fields say."""
    pos = 1
    if len(payload) - pos < COOKIE_LEN:
        return None
    kex = {"packet_length": packet_length, "padding_length": padding_length,
           "cookie": payload[pos:pos + COOKIE_LEN]}
    pos += COOKIE_LEN
    for name in SSH_KEXINIT_LIST_NAMES:         # name-list: string len<4>
        if len(payload) - pos < 4:
            return None
        size = _U32(payload, pos)[0]
        if size > len(payload) - pos - 4:
            return None
        kex[name] = payload[pos + 4:pos + 4 + size].decode("utf-8", "surrogateescape")
        pos += 4 + size
    # boolean first_kex_packet_follows, uint32 reserved
    if len(payload) - pos < 5:
        return None
    kex["first_kex_packet_follows"] = payload[pos] != 0
    kex["reserved"] = _U32(payload, pos + 1)[0]
    return kex


def _packets(data: bytes, pos: int, record: dict) -> str:
    """Walk the unencrypted binary packets from pos to the first KEXINIT."""
    n = len(data)
    for skipped in range(MAX_PACKETS_BEFORE_KEXINIT):
        if pos >= n:
            return "no_kexinit"
        if n - pos < 5:
            return "truncated_packet"
        packet_length, padding_length = _PACKET_HEADER.unpack_from(data, pos)
        # padding_length byte and message number at least; RFC 4253 6.1 size limit
        if not 2 <= packet_length <= MAX_PACKET_LEN:
            return "bad_packet_length"
        if padding_length + 2 > packet_length:
            return "bad_padding_length"
        if n - pos - 4 < packet_length:
            return "truncated_packet"
        msg = data[pos + 5]
        if msg == MSG_KEXINIT:
            payload = data[pos + 5:pos + 4 + packet_length - padding_length]
            record["kexinit"] = _kexinit(payload, packet_length, padding_length)
            return "bad_kexinit" if record["kexinit"] is None else "ok"
        if msg == MSG_NEWKEYS:
            return "no_kexinit"         # what follows is encrypted
        record["packets_skipped"] = skipped + 1
        pos += 4 + packet_length
    return "no_kexinit"


def _parse(data: bytes, record: dict) -> str:
    start = _find_banner(data, record)
    if start is None:
        return "no_banner"
    limit = min(len(data), start + MAX_LINE_LEN)
    lf = data.find(b"\n", start, limit)
    line_end = limit if lf < 0 else lf
    if data[line_end - 1] == 0x0d:      # CR LF (the line is at least "SSH-" long)
        line_end -= 1
    banner = data[start:line_end]
    record["banner"] = banner[:MAX_BANNER_LEN]
    record["banner_truncated"] = len(banner) > MAX_BANNER_LEN
    proto = _split_banner(record["banner"], record)
    if lf < 0:
        # no LF: either the line is longer than any line may be, or the data stops
        return "banner_too_long" if len(data) - start >= MAX_LINE_LEN else "truncated_banner"
    if proto is None:
        return "bad_banner"
    if _is_ssh1(proto):
        return "ssh1"
    return _packets(data, lf + 1, record)


def parse_ssh_stream(data) -> dict:
    """Parse the first bytes of one SSH direction into a record dict.

    Same record as the core's parse_ssh_stream: status, banner (bytes, no
    CR/LF, at most 255 bytes), banner_truncated, pre_banner_lines,
    proto_version, software_version, comments, packets_skipped, kexinit
    (None, or packet_length, padding_length, cookie, the ten name-lists as
    str with surrogateescape, first_kex_packet_follows, reserved)."""
    record = {
        "status": "ok", "banner": None, "banner_truncated": False, "pre_banner_lines": 0,
        "proto_version": None, "software_version": None, "comments": None,
        "packets_skipped": 0, "kexinit": None,
    }
    record["status"] = _parse(bytes(byte_view(data)), record)
    return record
