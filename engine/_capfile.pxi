# Capture file scanner: classic pcap and pcapng, zero copy.
#
# Included by the hub engine/_core.pyx.  Every C-level name here starts
# with ``_cf_`` / ``_CF_`` / ``CF_`` and the one Python-visible class is
# ``CapfileScanner``, so the hub and the other .pxi parts must not use
# those prefixes.
#
# The scanner walks a read-only buffer (the mmap of the file, or bytes)
# and, per call to ``fill``, writes up to ``len(offsets)`` packet
# descriptors into caller-owned numpy arrays.  The loop runs without the
# GIL and creates no Python object per packet.  Nothing in here raises
# on bad input (STYLE.md items 3 and 6): every call ends in one status,
#   CF_MORE       the arrays are full, call again
#   CF_EOF        the file ended cleanly on a record/block boundary
#   CF_TRUNCATED  the file ended inside a record/block (or its header)
#   CF_CORRUPT    a length or framing field is impossible; scanning stops
# with ``reason`` (a CF_R_* code) and ``stop_offset`` (the byte offset of
# the record/block that could not be read).  engine/capture.py turns them
# into log messages.

from libc.stdint cimport (uint8_t, uint16_t, uint32_t, uint64_t,
                          int64_t)
from libc.stdlib cimport malloc, realloc, free

# -- named caps (DESIGN.md "every attacker-controlled length has a cap") --
cdef enum:
    # Largest captured length of one packet we accept; libpcap's
    # MAXIMUM_SNAPLEN.  Larger is taken as corruption, not as a packet.
    _CF_MAX_CAPLEN = 262144
    # A classic pcap record may exceed the header's snaplen by this much
    # (old writers did) before it is taken as corruption.
    _CF_SNAPLEN_SLACK = 4096
    # Interfaces (IDBs) kept per pcapng section; more is corruption.
    _CF_MAX_INTERFACES = 65536

cdef extern from *:
    void __builtin_prefetch(const void *addr) nogil

cdef enum:
    _CF_PREFETCH_AHEAD = 4096       # bytes of file fetched ahead of the scan


cdef enum _cf_format:
    CF_FMT_NONE = 0
    CF_FMT_PCAP = 1
    CF_FMT_PCAPNG = 2

cdef enum _cf_status:
    CF_MORE = 0         # the arrays are full, call fill() again
    CF_EOF = 1          # the file ended cleanly on a record/block boundary
    CF_TRUNCATED = 2    # the file ended inside a record/block (or its header)
    CF_CORRUPT = 3      # a length or framing field is impossible; scan stops

# Why scanning stopped (or why a packet was skipped).  The names are what
# CapfileScanner.reason returns; engine/capture.py words them.
cdef enum _cf_reason:
    CF_R_NONE = 0
    CF_R_HEADER_CUT = 1          # file header / SHB cut short
    CF_R_RECORD_CUT = 2          # pcap record header or data cut short
    CF_R_BLOCK_CUT = 3           # pcapng block cut short
    CF_R_CAPLEN_TOO_BIG = 4      # captured length above the caps
    CF_R_BLOCK_LEN_BAD = 5       # pcapng block length < 12, not a multiple of 4, or too small for its type
    CF_R_BLOCK_TRAILER = 6       # pcapng trailing length differs from the leading one
    CF_R_BAD_BYTE_ORDER = 7      # pcapng SHB byte-order magic unknown
    CF_R_BAD_VERSION = 8         # pcapng SHB major version not 1
    CF_R_CAPLEN_PAST_BLOCK = 9   # pcapng packet data longer than its block
    CF_R_TOO_MANY_IFACES = 10    # more IDBs than _CF_MAX_INTERFACES in one section
    CF_R_NO_INTERFACE = 11       # packet names an interface with no IDB (skipped)
    CF_R_NOT_CAPTURE = 12        # no pcap/pcapng magic, or a pcapng file not starting with an SHB

_CF_STATUS_NAMES = ("more", "eof", "truncated", "corrupt")
_CF_REASON_NAMES = ("none", "header_cut", "record_cut", "block_cut",
                    "caplen_too_big", "block_len_bad", "block_trailer",
                    "bad_byte_order", "bad_version", "caplen_past_block",
                    "too_many_interfaces", "no_interface", "not_capture")
_CF_FORMAT_NAMES = ("", "pcap", "pcapng")

cdef enum:
    _CF_BT_IDB = 0x00000001
    _CF_BT_OPB = 0x00000002
    _CF_BT_SPB = 0x00000003
    _CF_BT_EPB = 0x00000006
    _CF_BT_SHB = 0x0A0D0D0A

ctypedef struct _cf_iface:
    uint16_t linktype
    uint32_t snaplen
    int64_t tsoffset_us      # if_tsoffset, in microseconds
    uint64_t resol_div       # power of 10: ticks per second (10**n)
    int resol_pow2           # >= 0: power-of-two resolution 2**-n; -1 when power of 10
    int resol_exp10          # n for power of 10


cdef inline uint16_t _cf_u16(const uint8_t* p, bint be) noexcept nogil:
    if be:
        return <uint16_t>((<uint16_t>p[0] << 8) | p[1])
    return <uint16_t>(p[0] | (<uint16_t>p[1] << 8))


cdef inline uint32_t _cf_u32(const uint8_t* p, bint be) noexcept nogil:
    if be:
        return ((<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16)
                | (<uint32_t>p[2] << 8) | <uint32_t>p[3])
    return ((<uint32_t>p[3] << 24) | (<uint32_t>p[2] << 16)
            | (<uint32_t>p[1] << 8) | <uint32_t>p[0])


cdef inline uint64_t _cf_u64(const uint8_t* p, bint be) noexcept nogil:
    if be:
        return (<uint64_t>_cf_u32(p, be) << 32) | _cf_u32(p + 4, be)
    return (<uint64_t>_cf_u32(p + 4, be) << 32) | _cf_u32(p, be)


cdef inline uint16_t _cf_linktype(uint32_t v) noexcept nogil:
    """LINKTYPE_* value of a file's link type field: the low 16 bits (the
    upper bits of a pcap header carry FCS flags), with the raw-IP values
    12 and 14 that old writers stored (DLT_RAW) mapped to LINKTYPE_RAW 101,
    as libpcap does."""
    cdef uint16_t lt = <uint16_t>(v & 0xFFFF)
    if lt == 12 or lt == 14:
        return 101
    return lt


cdef inline int64_t _cf_ticks_to_us(uint64_t ticks, const _cf_iface* ifc) noexcept nogil:
    """pcapng timestamp ticks -> microseconds since the epoch (floor)."""
    cdef uint64_t sec, frac
    cdef int n
    cdef int64_t us
    if ifc.resol_pow2 >= 0:
        n = ifc.resol_pow2
        if n == 0:
            us = <int64_t>(ticks * 1000000ULL)
        elif n >= 64:
            us = 0
        else:
            sec = ticks >> n
            frac = ticks & ((1ULL << n) - 1)
            if n > 44:                  # keep frac * 10**6 inside 64 bits
                frac >>= (n - 44)
                n = 44
            us = <int64_t>(sec * 1000000ULL + ((frac * 1000000ULL) >> n))
    else:
        n = ifc.resol_exp10
        if n == 6:
            us = <int64_t>ticks
        elif n < 6:
            us = <int64_t>(ticks * ifc.resol_div)      # resol_div = 10**(6-n)
        elif n - 6 > 19:
            us = 0
        else:
            us = <int64_t>(ticks // ifc.resol_div)     # resol_div = 10**(n-6)
    # unsigned arithmetic: wraps instead of signed-overflow UB on hostile values
    return <int64_t>(<uint64_t>us + <uint64_t>ifc.tsoffset_us)


cdef inline uint64_t _cf_pow10(int n) noexcept nogil:
    cdef uint64_t r = 1
    cdef int i
    for i in range(n):
        r *= 10
    return r


cdef class CapfileScanner:
    """Walks one pcap or pcapng image and fills packet descriptor arrays.

    ``CapfileScanner(buf)`` accepts any read-only bytes-like object (an
    mmap, bytes); ``format`` is CF_FMT_PCAP or CF_FMT_PCAPNG, or 0 when
    the first four bytes are no capture magic (then ``magic`` holds them,
    big-endian, for the error message).  Call ``release()`` before closing
    the mmap so this object holds no buffer export.
    """
    cdef const uint8_t[::1] _view
    cdef const uint8_t* _p
    cdef Py_ssize_t _size
    cdef Py_ssize_t _pos
    cdef int _format
    cdef readonly uint32_t magic
    cdef int _status
    cdef int _reason
    cdef readonly Py_ssize_t stop_offset
    cdef readonly uint64_t packets_skipped
    # classic pcap
    cdef bint _be
    cdef bint _nano
    cdef uint32_t _snaplen
    cdef uint32_t _caplen_limit
    cdef uint16_t _linktype
    # pcapng section state
    cdef _cf_iface* _ifaces
    cdef Py_ssize_t _n_ifaces
    cdef Py_ssize_t _cap_ifaces
    cdef bint _in_section
    cdef int64_t _last_ts_us

    def __cinit__(self, buf):
        self._view = buf
        self._size = self._view.shape[0]
        self._p = &self._view[0] if self._size > 0 else NULL
        self._pos = 0
        self._status = CF_MORE
        self._reason = CF_R_NONE
        self.stop_offset = -1
        self._ifaces = NULL
        self._n_ifaces = 0
        self._cap_ifaces = 0
        self._in_section = False
        self._last_ts_us = 0
        self._format = 0
        self.magic = 0
        if self._size >= 4:
            self.magic = _cf_u32(self._p, True)
        self._sniff()

    def __dealloc__(self):
        if self._ifaces != NULL:
            free(self._ifaces)
            self._ifaces = NULL

    @property
    def format(self):
        """"pcap", "pcapng", or "" when the magic is no capture magic."""
        return _CF_FORMAT_NAMES[self._format]

    @property
    def status(self):
        """"more", "eof", "truncated" or "corrupt"."""
        return _CF_STATUS_NAMES[self._status]

    @property
    def reason(self):
        """Why the scan stopped (or the last packet was skipped), a CF_R_* name."""
        return _CF_REASON_NAMES[self._reason]

    @property
    def offset(self):
        """Byte offset of the next record/block to read."""
        return self._pos

    def release(self):
        """Drop the buffer export; the scanner reports EOF afterwards."""
        self._view = None
        self._p = NULL
        self._size = 0
        if self._status == CF_MORE:
            self._status = CF_EOF

    cdef int _stop(self, int status, int reason) noexcept nogil:
        self._status = status
        self._reason = reason
        self.stop_offset = self._pos
        return status

    cdef void _sniff(self):
        """Recognise the magic; read the classic pcap file header."""
        cdef const uint8_t* p = self._p
        cdef uint32_t m
        if self._size < 4:
            self._status = CF_EOF
            self._reason = CF_R_NOT_CAPTURE
            return
        m = self.magic
        if m == 0xA1B2C3D4 or m == 0xD4C3B2A1 or m == 0xA1B23C4D or m == 0x4D3CB2A1:
            self._format = CF_FMT_PCAP
            self._be = (m == 0xA1B2C3D4 or m == 0xA1B23C4D)
            self._nano = (m == 0xA1B23C4D or m == 0x4D3CB2A1)
            if self._size < 24:
                self._stop(CF_TRUNCATED, CF_R_HEADER_CUT)
                return
            self._snaplen = _cf_u32(p + 16, self._be)
            self._linktype = _cf_linktype(_cf_u32(p + 20, self._be))
            if self._snaplen == 0 or self._snaplen > _CF_MAX_CAPLEN:
                self._caplen_limit = _CF_MAX_CAPLEN
            else:
                self._caplen_limit = self._snaplen + _CF_SNAPLEN_SLACK
                if self._caplen_limit > _CF_MAX_CAPLEN:
                    self._caplen_limit = _CF_MAX_CAPLEN
            self._pos = 24
        elif m == 0x0A0D0D0A:
            self._format = CF_FMT_PCAPNG
        else:
            self._status = CF_EOF
            self._reason = CF_R_NOT_CAPTURE

    @property
    def linktype(self):
        """Classic pcap: the file header's link type (pcapng: first IDB, or -1)."""
        if self._format == CF_FMT_PCAP:
            return self._linktype
        return self._ifaces[0].linktype if self._n_ifaces > 0 else -1

    @property
    def snaplen(self):
        return self._snaplen

    def fill(self, uint64_t[::1] offsets, uint32_t[::1] caplens,
             uint32_t[::1] wirelens, int64_t[::1] ts_us,
             uint16_t[::1] linktypes):
        """Fill up to len(offsets) packets; return how many were written.

        ``status`` tells whether more may follow (CF_MORE) or why the
        scan ended.  All five arrays must be at least len(offsets) long.
        """
        cdef Py_ssize_t cap = offsets.shape[0]
        cdef Py_ssize_t n = 0
        if (caplens.shape[0] < cap or wirelens.shape[0] < cap
                or ts_us.shape[0] < cap or linktypes.shape[0] < cap):
            raise ValueError("every descriptor array must be as long as offsets")
        if self._status != CF_MORE or cap == 0:
            return 0
        with nogil:
            if self._format == CF_FMT_PCAP:
                n = self._fill_pcap(&offsets[0], &caplens[0], &wirelens[0],
                                    &ts_us[0], &linktypes[0], cap)
            else:
                n = self._fill_pcapng(&offsets[0], &caplens[0], &wirelens[0],
                                      &ts_us[0], &linktypes[0], cap)
        if n < 0:
            raise MemoryError("out of memory for pcapng interface table")
        return n

    cdef Py_ssize_t _fill_pcap(self, uint64_t* offsets, uint32_t* caplens,
                               uint32_t* wirelens, int64_t* ts_us,
                               uint16_t* linktypes, Py_ssize_t cap) noexcept nogil:
        cdef const uint8_t* p = self._p
        cdef Py_ssize_t size = self._size
        cdef Py_ssize_t pos = self._pos
        cdef Py_ssize_t n = 0
        cdef bint be = self._be
        cdef uint32_t caplen, limit = self._caplen_limit
        cdef uint32_t sec, frac
        cdef uint16_t lt = self._linktype
        cdef int64_t usec
        cdef Py_ssize_t prefetched = pos
        while n < cap:
            if pos == size:
                self._pos = pos
                self._status = CF_EOF
                return n
            # the next record header is found only by reading this one, and
            # the hardware prefetcher does not follow 1 KB strides: fetch every
            # cache line up to a fixed distance ahead so the headers are there
            while prefetched < pos + _CF_PREFETCH_AHEAD and prefetched < size:
                __builtin_prefetch(p + prefetched)
                prefetched += 64
            if size - pos < 16:
                self._pos = pos
                self._stop(CF_TRUNCATED, CF_R_RECORD_CUT)
                return n
            caplen = _cf_u32(p + pos + 8, be)
            if caplen > limit:
                self._pos = pos
                self._stop(CF_CORRUPT, CF_R_CAPLEN_TOO_BIG)
                return n
            if <Py_ssize_t>caplen > size - pos - 16:
                self._pos = pos
                self._stop(CF_TRUNCATED, CF_R_RECORD_CUT)
                return n
            sec = _cf_u32(p + pos, be)
            frac = _cf_u32(p + pos + 4, be)
            if self._nano:
                usec = frac // 1000
            else:
                usec = frac
            ts_us[n] = <int64_t>sec * 1000000 + usec
            offsets[n] = <uint64_t>(pos + 16)
            caplens[n] = caplen
            wirelens[n] = _cf_u32(p + pos + 12, be)
            linktypes[n] = lt
            n += 1
            pos += 16 + <Py_ssize_t>caplen
        self._pos = pos
        return n

    cdef int _add_iface(self, const uint8_t* body, Py_ssize_t blen, bint be) noexcept nogil:
        """Parse an IDB body; 0 ok, 1 too many, -1 out of memory."""
        cdef _cf_iface* ifc
        cdef _cf_iface* grown
        cdef Py_ssize_t newcap, o
        cdef uint16_t code, olen
        cdef uint8_t r
        cdef int64_t off
        if self._n_ifaces >= _CF_MAX_INTERFACES:
            return 1
        if self._n_ifaces == self._cap_ifaces:
            newcap = 8 if self._cap_ifaces == 0 else self._cap_ifaces * 2
            grown = <_cf_iface*>realloc(self._ifaces, newcap * sizeof(_cf_iface))
            if grown == NULL:
                return -1
            self._ifaces = grown
            self._cap_ifaces = newcap
        ifc = &self._ifaces[self._n_ifaces]
        ifc.linktype = _cf_linktype(_cf_u16(body, be))
        ifc.snaplen = _cf_u32(body + 4, be)
        ifc.tsoffset_us = 0
        ifc.resol_pow2 = -1
        ifc.resol_exp10 = 6
        ifc.resol_div = 1
        # options: code u16, length u16, value padded to 4; a malformed
        # option list ends the options, not the file.
        o = 8
        while o + 4 <= blen:
            code = _cf_u16(body + o, be)
            olen = _cf_u16(body + o + 2, be)
            if code == 0:
                break
            if o + 4 + olen > blen:
                break
            if code == 9 and olen >= 1:            # if_tsresol
                r = body[o + 4]
                if r & 0x80:
                    ifc.resol_pow2 = r & 0x7F
                else:
                    ifc.resol_exp10 = r
            elif code == 14 and olen >= 8:         # if_tsoffset, seconds
                off = <int64_t>_cf_u64(body + o + 4, be)
                ifc.tsoffset_us = <int64_t>(<uint64_t>off * 1000000ULL)
            o += 4 + ((olen + 3) & ~3)
        if ifc.resol_pow2 < 0:
            if ifc.resol_exp10 <= 6:
                ifc.resol_div = _cf_pow10(6 - ifc.resol_exp10)
            elif ifc.resol_exp10 - 6 <= 19:
                ifc.resol_div = _cf_pow10(ifc.resol_exp10 - 6)
        self._n_ifaces += 1
        return 0

    cdef Py_ssize_t _fill_pcapng(self, uint64_t* offsets, uint32_t* caplens,
                                 uint32_t* wirelens, int64_t* ts_us,
                                 uint16_t* linktypes, Py_ssize_t cap) noexcept nogil:
        cdef const uint8_t* p = self._p
        cdef Py_ssize_t size = self._size
        cdef Py_ssize_t pos = self._pos
        cdef Py_ssize_t n = 0
        cdef Py_ssize_t room
        cdef bint be = self._be
        cdef uint32_t btype, blen, bom, caplen, origlen, ifid
        cdef uint32_t data_off
        cdef uint64_t ticks
        cdef _cf_iface* ifc
        cdef int rc
        while n < cap:
            self._pos = pos
            if pos == size:
                self._status = CF_EOF
                return n
            if size - pos < 12:
                self._stop(CF_TRUNCATED, CF_R_HEADER_CUT if not self._in_section
                           else CF_R_BLOCK_CUT)
                return n
            btype = _cf_u32(p + pos, be)
            if btype == _CF_BT_SHB:        # same bytes in both orders
                bom = _cf_u32(p + pos + 8, False)
                if bom == 0x1A2B3C4D:
                    be = False
                elif bom == 0x4D3C2B1A:
                    be = True
                else:
                    self._stop(CF_CORRUPT, CF_R_BAD_BYTE_ORDER)
                    return n
            blen = _cf_u32(p + pos + 4, be)
            if blen < 12 or (blen & 3) != 0:
                self._stop(CF_CORRUPT, CF_R_BLOCK_LEN_BAD)
                return n
            if <Py_ssize_t>blen > size - pos:
                self._stop(CF_TRUNCATED, CF_R_HEADER_CUT if not self._in_section
                           else CF_R_BLOCK_CUT)
                return n
            if _cf_u32(p + pos + blen - 4, be) != blen:
                self._stop(CF_CORRUPT, CF_R_BLOCK_TRAILER)
                return n
            room = blen - 12                # body bytes
            if btype == _CF_BT_SHB:
                if room < 16:
                    self._stop(CF_CORRUPT, CF_R_BLOCK_LEN_BAD)
                    return n
                if _cf_u16(p + pos + 12, be) != 1:
                    self._stop(CF_CORRUPT, CF_R_BAD_VERSION)
                    return n
                self._be = be
                self._n_ifaces = 0
                self._in_section = True
            elif not self._in_section:
                # a pcapng file must begin with an SHB
                self._stop(CF_CORRUPT, CF_R_NOT_CAPTURE)
                return n
            elif btype == _CF_BT_IDB:
                if room < 8:
                    self._stop(CF_CORRUPT, CF_R_BLOCK_LEN_BAD)
                    return n
                rc = self._add_iface(p + pos + 8, room, be)
                if rc < 0:
                    return -1
                if rc > 0:
                    self._stop(CF_CORRUPT, CF_R_TOO_MANY_IFACES)
                    return n
            elif btype == _CF_BT_EPB or btype == _CF_BT_OPB:
                if room < 20:
                    self._stop(CF_CORRUPT, CF_R_BLOCK_LEN_BAD)
                    return n
                if btype == _CF_BT_EPB:
                    ifid = _cf_u32(p + pos + 8, be)
                else:
                    ifid = _cf_u16(p + pos + 8, be)
                caplen = _cf_u32(p + pos + 20, be)
                origlen = _cf_u32(p + pos + 24, be)
                if caplen > _CF_MAX_CAPLEN:
                    self._stop(CF_CORRUPT, CF_R_CAPLEN_TOO_BIG)
                    return n
                if <Py_ssize_t>caplen > room - 20:
                    self._stop(CF_CORRUPT, CF_R_CAPLEN_PAST_BLOCK)
                    return n
                if ifid >= self._n_ifaces:
                    self.packets_skipped += 1
                    self._reason = CF_R_NO_INTERFACE
                else:
                    ifc = &self._ifaces[ifid]
                    ticks = ((<uint64_t>_cf_u32(p + pos + 12, be) << 32)
                             | _cf_u32(p + pos + 16, be))
                    self._last_ts_us = _cf_ticks_to_us(ticks, ifc)
                    ts_us[n] = self._last_ts_us
                    offsets[n] = <uint64_t>(pos + 28)
                    caplens[n] = caplen
                    wirelens[n] = origlen
                    linktypes[n] = ifc.linktype
                    n += 1
            elif btype == _CF_BT_SPB:
                if room < 4:
                    self._stop(CF_CORRUPT, CF_R_BLOCK_LEN_BAD)
                    return n
                if self._n_ifaces == 0:
                    self.packets_skipped += 1
                    self._reason = CF_R_NO_INTERFACE
                else:
                    ifc = &self._ifaces[0]
                    origlen = _cf_u32(p + pos + 8, be)
                    caplen = origlen
                    if ifc.snaplen != 0 and caplen > ifc.snaplen:
                        caplen = ifc.snaplen
                    if <Py_ssize_t>caplen > room - 4:
                        caplen = <uint32_t>(room - 4)
                    if caplen > _CF_MAX_CAPLEN:
                        self._stop(CF_CORRUPT, CF_R_CAPLEN_TOO_BIG)
                        return n
                    # an SPB carries no time: it takes the previous packet's
                    ts_us[n] = self._last_ts_us
                    offsets[n] = <uint64_t>(pos + 12)
                    caplens[n] = caplen
                    wirelens[n] = origlen
                    linktypes[n] = ifc.linktype
                    n += 1
            # every other block type (NRB, ISB, DSB, custom, ...) is skipped
            pos += blen
        self._pos = pos
        return n
