# SSH identification string and first KEXINIT of one direction (RFC 4253
# sections 4.2, 6 and 7.1). A pure function of the reassembled bytes of a
# TCP direction to a record: the C part works over const uint8_t* with every
# index checked against the length (the release build has no bounds
# checks), fills an SshRecord of offsets into the input, and never fails;
# Python objects are made once, at the end, by parse_ssh_stream.
#
# The structs and enums live here rather than in _core.pxd while the SSH
# parser is only reachable from Python; move them there when the flow
# state machine calls ssh_parse directly.
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport uint8_t, uint32_t
from libc.string cimport memset


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


cdef inline uint32_t _ssh_be32(const uint8_t *p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef size_t _ssh_find_lf(const uint8_t *p, size_t start, size_t end) noexcept nogil:
    """Offset of the first LF in p[start:end], or end when there is none."""
    cdef size_t i = start
    while i < end:
        if p[i] == 0x0a:
            return i
        i += 1
    return end


cdef void _ssh_split_banner(const uint8_t *p, SshRecord *r) noexcept nogil:
    # "SSH-" protoversion "-" softwareversion [SP comments], over the kept banner
    cdef size_t start = r.banner.off, end = r.banner.off + r.banner.len
    cdef size_t i = start + 4, dash, sp
    while i < end and p[i] != 0x2d:   # '-'
        i += 1
    if i >= end or i == start + 4:
        return
    dash = i
    r.proto.off = start + 4
    r.proto.len = dash - (start + 4)
    sp = dash + 1
    while sp < end and p[sp] != 0x20:  # ' '
        sp += 1
    r.software.off = dash + 1
    r.software.len = sp - (dash + 1)
    if sp < end:
        r.has_comments = True
        r.comments.off = sp + 1
        r.comments.len = end - (sp + 1)
    r.has_version = True


cdef bint _ssh_is_v1(const uint8_t *p, const SshRecord *r) noexcept nogil:
    # "1.99" announces SSH-2 with SSH-1 compatibility (RFC 4253 5.1); any other 1.x is SSH-1
    if r.proto.len < 2 or p[r.proto.off] != 0x31 or p[r.proto.off + 1] != 0x2e:
        return False
    return not (r.proto.len == 4 and p[r.proto.off + 2] == 0x39 and p[r.proto.off + 3] == 0x39)


cdef int _ssh_parse_kexinit(const uint8_t *p, size_t off, size_t end, SshRecord *r) noexcept nogil:
    """Fields of a KEXINIT payload p[off:end] (off is at the message number)."""
    cdef size_t pos = off + 1
    cdef uint32_t n
    cdef int k
    if end - pos < SSH_KEXINIT_COOKIE_LEN:
        return SSH_BAD_KEXINIT
    r.cookie.off = pos
    r.cookie.len = SSH_KEXINIT_COOKIE_LEN
    pos += SSH_KEXINIT_COOKIE_LEN
    for k in range(SSH_KEXINIT_NAMELISTS):
        if end - pos < 4:
            return SSH_BAD_KEXINIT
        n = _ssh_be32(p + pos)
        pos += 4
        if n > end - pos:
            return SSH_BAD_KEXINIT
        r.lists[k].off = pos
        r.lists[k].len = n
        pos += n
    # boolean first_kex_packet_follows, uint32 reserved
    if end - pos < 5:
        return SSH_BAD_KEXINIT
    r.first_kex_packet_follows = p[pos] != 0
    r.reserved = _ssh_be32(p + pos + 1)
    r.has_kexinit = True
    return SSH_OK


cdef int _ssh_parse_packets(const uint8_t *p, size_t pos, size_t n, SshRecord *r) noexcept nogil:
    """Walk the unencrypted binary packets from pos to the first KEXINIT."""
    cdef uint32_t packet_length
    cdef uint8_t padding_length, msg
    cdef size_t payload_end
    cdef uint32_t seen = 0
    while seen < SSH_MAX_PACKETS_BEFORE_KEXINIT:
        if pos >= n:
            return SSH_NO_KEXINIT
        if n - pos < 5:
            return SSH_TRUNCATED_PACKET
        packet_length = _ssh_be32(p + pos)
        # padding_length byte and message number at least; RFC 4253 6.1 size limit
        if packet_length < 2 or packet_length > SSH_MAX_PACKET_LEN:
            return SSH_BAD_PACKET_LENGTH
        padding_length = p[pos + 4]
        if <uint32_t>padding_length + 2 > packet_length:
            return SSH_BAD_PADDING_LENGTH
        if n - pos - 4 < packet_length:
            return SSH_TRUNCATED_PACKET
        payload_end = pos + 4 + packet_length - padding_length
        msg = p[pos + 5]
        if msg == SSH_MSG_KEXINIT:
            r.kexinit_off = pos
            r.packet_length = packet_length
            r.padding_length = padding_length
            return _ssh_parse_kexinit(p, pos + 5, payload_end, r)
        if msg == SSH_MSG_NEWKEYS:
            return SSH_NO_KEXINIT          # what follows is encrypted
        seen += 1
        r.packets_skipped = seen
        pos += 4 + packet_length
    return SSH_NO_KEXINIT


cdef int ssh_parse(const uint8_t *p, size_t n, SshRecord *r) noexcept nogil:
    """Parse one direction's first bytes into r; returns r.status, never fails."""
    cdef size_t pos = 0, lf, line_end, limit
    memset(r, 0, sizeof(SshRecord))
    # RFC 4253 4.2: the server may send other lines before the version line
    while True:
        if pos >= n:
            r.status = SSH_NO_BANNER
            return r.status
        if n - pos >= 4 and p[pos] == 0x53 and p[pos + 1] == 0x53 and p[pos + 2] == 0x48 \
                and p[pos + 3] == 0x2d:   # "SSH-"
            break
        if n - pos < 4 or r.pre_banner_lines >= SSH_MAX_PRE_BANNER_LINES:
            # a short tail that may still become "SSH-" is no banner yet either
            r.status = SSH_NO_BANNER
            return r.status
        limit = pos + SSH_MAX_LINE_LEN if n - pos > SSH_MAX_LINE_LEN else n
        lf = _ssh_find_lf(p, pos, limit)
        if lf >= limit:            # no LF within a line's length, or the data ends
            r.status = SSH_NO_BANNER
            return r.status
        r.pre_banner_lines += 1
        pos = lf + 1

    limit = pos + SSH_MAX_LINE_LEN if n - pos > SSH_MAX_LINE_LEN else n
    lf = _ssh_find_lf(p, pos, limit)
    line_end = lf                  # == limit when there is no LF
    if p[line_end - 1] == 0x0d:    # CR LF (line_end >= pos + 4: the line starts "SSH-")
        line_end -= 1
    r.has_banner = True
    r.banner.off = pos
    r.banner.len = line_end - pos
    if r.banner.len > SSH_MAX_BANNER_LEN:
        r.banner.len = SSH_MAX_BANNER_LEN
        r.banner_truncated = True
    _ssh_split_banner(p, r)
    if lf >= limit:
        # no LF: either the line is longer than any line may be, or the data stops
        r.status = SSH_BANNER_TOO_LONG if limit < n or n - pos >= SSH_MAX_LINE_LEN \
            else SSH_TRUNCATED_BANNER
        return r.status
    if not r.has_version:
        r.status = SSH_BAD_BANNER
        return r.status
    if _ssh_is_v1(p, r):
        r.status = SSH_V1
        return r.status
    r.status = _ssh_parse_packets(p, lf + 1, n, r)
    return r.status


cdef inline bytes _ssh_bytes(const uint8_t *p, SshSpan s):
    return PyBytes_FromStringAndSize(<const char *>(p + s.off), s.len)


cdef inline str _ssh_text(const uint8_t *p, SshSpan s):
    # display text of banner fields; the exact bytes stay in "banner"
    return _ssh_bytes(p, s).decode("utf-8", "backslashreplace")


def parse_ssh_stream(data):
    """Parse the first bytes of one SSH direction into a record dict.

    `data` is any C-contiguous bytes-like object (not copied). Never raises on
    its content: problems are reported in "status" (one of SSH_STATUS_NAMES).
    Keys: status, banner (bytes, no CR/LF, at most 255 bytes),
    banner_truncated, pre_banner_lines, proto_version, software_version,
    comments (None without a space after the software version),
    packets_skipped, kexinit (None, or a dict with packet_length,
    padding_length, cookie (bytes), the ten name-lists as str, and
    first_kex_packet_follows, reserved). Name-lists are decoded as UTF-8
    with surrogateescape, so ``s.encode("utf-8", "surrogateescape")``
    gives back the wire bytes.
    """
    cdef Py_buffer view
    cdef const uint8_t *p
    cdef size_t n
    cdef SshRecord r
    cdef int k
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        p = <const uint8_t*>view.buf
        n = <size_t>view.len
        with nogil:
            ssh_parse(p, n, &r)
        rec = {
            "status": SSH_STATUS_NAMES[r.status],
            "banner": _ssh_bytes(p, r.banner) if r.has_banner else None,
            "banner_truncated": bool(r.banner_truncated),
            "pre_banner_lines": r.pre_banner_lines,
            "proto_version": _ssh_text(p, r.proto) if r.has_version else None,
            "software_version": _ssh_text(p, r.software) if r.has_version else None,
            "comments": _ssh_text(p, r.comments) if r.has_comments else None,
            "packets_skipped": r.packets_skipped,
            "kexinit": None,
        }
        if r.has_kexinit:
            kex = {
                "packet_length": r.packet_length,
                "padding_length": r.padding_length,
                "cookie": _ssh_bytes(p, r.cookie),
            }
            for k in range(SSH_KEXINIT_NAMELISTS):
                kex[SSH_KEXINIT_LIST_NAMES[k]] = _ssh_bytes(p, r.lists[k]).decode(
                    "utf-8", "surrogateescape")
            kex["first_kex_packet_follows"] = bool(r.first_kex_packet_follows)
            kex["reserved"] = r.reserved
            rec["kexinit"] = kex
        return rec
    finally:
        PyBuffer_Release(&view)
