# TLS handshake message parsers: ClientHello, ServerHello, Certificate,
# the SSLv2-compatible ClientHello record, and the splitter of a
# concatenated handshake byte stream into messages.
#
# Each parser is a pure function of bytes to a record (STYLE.md items 3-6):
# a C-level pass over `const uint8_t*` with every read checked against the
# end of the input (the release build has boundscheck off, and every length
# here is attacker-controlled), filling a C struct; Python objects are built
# only once, at the end. Nothing in here raises on traffic: a truncated or
# malformed message yields a record whose "status" names the first problem
# found ("ok" when there was none), with everything decoded up to it.
#
# Named caps (DESIGN.md, bounded state): lists of 16-bit values (cipher
# suites, extensions, groups, signature algorithms, versions, key shares)
# keep the first TLS_MAX_LIST entries, ALPN keeps TLS_MAX_ALPN protocols,
# a certificate chain keeps TLS_MAX_CERTS certificates; past a cap the rest
# is walked (bounded by the input length) but not kept, and "capped" (or
# "certificates_dropped") says so. No length field ever sizes an allocation.
from libc.stdint cimport uint8_t, uint16_t, uint32_t
from libc.string cimport memcpy, memset
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.number cimport PyNumber_Index
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.ref cimport PyObject, Py_INCREF


TLS_STATUS_NAMES = (
    "ok", "truncated_version", "truncated_random", "truncated_session_id",
    "bad_session_id_length", "truncated_cipher_suites", "bad_cipher_suites_length",
    "empty_cipher_suites", "truncated_compression_methods", "empty_compression_methods",
    "truncated_cipher_suite", "truncated_compression_method", "truncated_extensions",
    "bad_extension_length", "duplicate_extension", "bad_sni", "bad_alpn",
    "bad_supported_versions", "bad_supported_groups", "bad_ec_point_formats",
    "bad_signature_algorithms", "bad_key_share", "bad_psk_key_exchange_modes",
    "trailing_data", "truncated_request_context", "truncated_certificate_list",
    "bad_certificate_list_length", "truncated_certificate", "bad_certificate_length",
    "empty_certificate", "bad_certificate_extensions", "not_sslv2_record",
    "truncated_record", "not_client_hello", "truncated_header",
    "bad_cipher_specs_length", "truncated_cipher_specs", "truncated_challenge",
    "bad_challenge_length",
)
assert len(TLS_STATUS_NAMES) == TLS_STATUS_COUNT, "TLS_STATUS_NAMES out of step with TlsStatus"


# RFC 8446 4.1.3: a ServerHello with this random is a HelloRetryRequest
TLS_HRR_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


# ---------------------------------------------------------------- helpers

cdef inline bint _tls_is_grease(uint16_t v) noexcept nogil:
    # RFC 8701: 0x0a0a, 0x1a1a, ... 0xfafa
    return (v & 0x0f0f) == 0x0a0a and (v >> 8) == (v & 0xff)

cdef inline uint16_t _be16(const uint8_t *p) noexcept nogil:
    return (<uint16_t>p[0] << 8) | p[1]

cdef inline uint32_t _be24(const uint8_t *p) noexcept nogil:
    return (<uint32_t>p[0] << 16) | (<uint32_t>p[1] << 8) | p[2]

cdef inline void _tls_set(int *status, int code) noexcept nogil:
    # the first problem found is the one reported
    if status[0] == TLS_OK:
        status[0] = code

cdef inline void _push16(TlsU16List *l, uint16_t v, bint *capped) noexcept nogil:
    if l.n < TLS_MAX_LIST:
        l.v[l.n] = v
        l.n += 1
    else:
        capped[0] = True

cdef inline void _push8(TlsU8List *l, uint8_t v, bint *capped) noexcept nogil:
    if l.n < TLS_MAX_U8_LIST:
        l.v[l.n] = v
        l.n += 1
    else:
        capped[0] = True

cdef bint _read_u16_list(const uint8_t *p, size_t n, int len_bytes, TlsU16List *out,
                         bint *capped) noexcept nogil:
    """Decode `len<len_bytes> uint16 values[]` filling the whole of p[0:n].

    Keeps every complete value that lies inside the data; returns False when
    the length prefix disagrees with the data or is odd."""
    cdef size_t declared, avail, i
    if n < <size_t>len_bytes:
        return False
    declared = p[0] if len_bytes == 1 else _be16(p)
    avail = n - len_bytes
    if declared < avail:
        avail = declared
    i = 0
    while i + 2 <= avail:
        _push16(out, _be16(p + len_bytes + i), capped)
        i += 2
    return declared == n - len_bytes and (declared & 1) == 0 and declared != 0

cdef bint _read_u8_list(const uint8_t *p, size_t n, TlsU8List *out,
                        bint *capped) noexcept nogil:
    """Decode `len<1> uint8 values[]` filling the whole of p[0:n]."""
    cdef size_t declared, avail, i
    if n < 1:
        return False
    declared = p[0]
    avail = n - 1
    if declared < avail:
        avail = declared
    for i in range(avail):
        _push8(out, p[1 + i], capped)
    return declared == n - 1 and declared != 0


# ---------------------------------------------------------------- ClientHello

cdef bint _ch_sni(const uint8_t *p, size_t base, size_t n, TlsClientHello *h) noexcept nogil:
    # ServerNameList: len<2> { name_type<1>, HostName len<2> bytes }+
    cdef size_t pos = 2, name_len
    cdef uint8_t name_type
    cdef bint ok
    if n < 2:
        return False
    ok = <size_t>_be16(p) == n - 2 and n > 2
    while pos < n:
        if n - pos < 3:
            return False
        name_type = p[pos]
        name_len = _be16(p + pos + 1)
        if name_len > n - pos - 3:
            return False
        if name_type == 0 and not h.has_sni:
            h.has_sni = True
            h.sni.off = base + pos + 3
            h.sni.len = name_len
        pos += 3 + name_len
    return ok

cdef bint _ch_alpn(const uint8_t *p, size_t base, size_t n, TlsSpan *alpn, uint32_t *n_alpn,
                   uint32_t max_alpn, bint *capped) noexcept nogil:
    # ProtocolNameList: len<2> { ProtocolName len<1> bytes (non-empty) }*
    cdef size_t pos = 2, plen
    cdef bint ok
    if n < 2:
        return False
    ok = <size_t>_be16(p) == n - 2 and n > 2
    while pos < n:
        plen = p[pos]
        if plen > n - pos - 1:
            return False
        if plen == 0:
            ok = False
        if n_alpn[0] < max_alpn:
            alpn[n_alpn[0]].off = base + pos + 1
            alpn[n_alpn[0]].len = plen
            n_alpn[0] += 1
        else:
            capped[0] = True
        pos += 1 + plen
    return ok

cdef bint _ch_key_share(const uint8_t *p, size_t n, TlsClientHello *h) noexcept nogil:
    # client_shares: len<2> { group<2>, key_exchange len<2> bytes }*
    cdef size_t pos = 2, klen
    cdef bint ok
    if n < 2:
        return False
    ok = <size_t>_be16(p) == n - 2
    while pos < n:
        if n - pos < 4:
            return False
        klen = _be16(p + pos + 2)
        if klen > n - pos - 4:
            return False
        _push16(&h.key_share_groups, _be16(p + pos), &h.capped)
        pos += 4 + klen
    return ok

cdef void _ch_extension(const uint8_t *buf, uint16_t etype, size_t off, size_t n,
                        TlsClientHello *h, int *status) noexcept nogil:
    """Decode the data of one ClientHello extension, buf[off:off+n]."""
    cdef const uint8_t *p = buf + off
    if etype == TLS_EXT_SERVER_NAME:
        if not _ch_sni(p, off, n, h):
            _tls_set(status, TLS_BAD_SNI)
    elif etype == TLS_EXT_ALPN:
        if not _ch_alpn(p, off, n, h.alpn, &h.n_alpn, TLS_MAX_ALPN, &h.capped):
            _tls_set(status, TLS_BAD_ALPN)
    elif etype == TLS_EXT_SUPPORTED_VERSIONS:
        if not _read_u16_list(p, n, 1, &h.supported_versions, &h.capped):
            _tls_set(status, TLS_BAD_SUPPORTED_VERSIONS)
    elif etype == TLS_EXT_SUPPORTED_GROUPS:
        if not _read_u16_list(p, n, 2, &h.supported_groups, &h.capped):
            _tls_set(status, TLS_BAD_SUPPORTED_GROUPS)
    elif etype == TLS_EXT_EC_POINT_FORMATS:
        if not _read_u8_list(p, n, &h.ec_point_formats, &h.capped):
            _tls_set(status, TLS_BAD_EC_POINT_FORMATS)
    elif etype == TLS_EXT_SIGNATURE_ALGORITHMS:
        if not _read_u16_list(p, n, 2, &h.signature_algorithms, &h.capped):
            _tls_set(status, TLS_BAD_SIGNATURE_ALGORITHMS)
    elif etype == TLS_EXT_KEY_SHARE:
        if not _ch_key_share(p, n, h):
            _tls_set(status, TLS_BAD_KEY_SHARE)
    elif etype == TLS_EXT_PSK_KEY_EXCHANGE_MODES:
        if not _read_u8_list(p, n, &h.psk_key_exchange_modes, &h.capped):
            _tls_set(status, TLS_BAD_PSK_KEY_EXCHANGE_MODES)
    elif etype == TLS_EXT_PRE_SHARED_KEY:
        h.has_pre_shared_key = True
    elif etype == TLS_EXT_EARLY_DATA:
        h.has_early_data = True
    elif etype == TLS_EXT_ECH:
        h.has_ech = True


cdef int _walk_extensions(const uint8_t *p, size_t n, size_t pos, TlsU16List *types,
                          bint *truncated, bint *capped, bint client,
                          void *hello, int *status) noexcept nogil:
    """Walk `extensions len<2> { type<2>, data len<2> }*` starting at p[pos].

    Records every complete extension's type (GREASE kept) and hands its data
    to the client or server decoder. Only the first extension of a type is
    decoded; a repeat sets duplicate_extension (RFC 8446 4.2)."""
    cdef size_t end, elen
    cdef uint16_t etype
    cdef bint block_cut = False
    cdef uint8_t seen[8192]          # one bit per extension type
    if pos == n:
        return 0                     # no extensions block at all: allowed
    if n - pos < 2:
        truncated[0] = True
        _tls_set(status, TLS_TRUNCATED_EXTENSIONS)
        return 0
    end = _be16(p + pos)
    pos += 2
    if end > n - pos:
        block_cut = True
        end = n
    else:
        end = pos + end
    memset(seen, 0, sizeof(seen))
    while pos < end:
        if end - pos < 4:
            truncated[0] = True
            _tls_set(status, TLS_TRUNCATED_EXTENSIONS if block_cut else TLS_BAD_EXTENSION_LENGTH)
            break
        etype = _be16(p + pos)
        elen = _be16(p + pos + 2)
        if elen > end - pos - 4:
            truncated[0] = True
            _tls_set(status, TLS_TRUNCATED_EXTENSIONS if block_cut else TLS_BAD_EXTENSION_LENGTH)
            break
        _push16(types, etype, capped)
        if seen[etype >> 3] & (1 << (etype & 7)):
            if not _tls_is_grease(etype):
                _tls_set(status, TLS_DUPLICATE_EXTENSION)
        else:
            seen[etype >> 3] |= <uint8_t>(1 << (etype & 7))
            if client:
                _ch_extension(p, etype, pos + 4, elen, <TlsClientHello*>hello, status)
            else:
                _sh_extension(p, etype, pos + 4, elen, <TlsServerHello*>hello, status)
        pos += 4 + elen
    if block_cut:
        truncated[0] = True
        _tls_set(status, TLS_TRUNCATED_EXTENSIONS)
    elif end < n:
        _tls_set(status, TLS_TRAILING_DATA)
    return 0


cdef int _parse_ch(const uint8_t *p, size_t n, TlsClientHello *h) noexcept nogil:
    cdef int status = TLS_OK
    cdef size_t pos = 0, ln, i, avail
    if n < 2:
        return TLS_TRUNCATED_VERSION
    h.legacy_version = _be16(p)
    h.reached = 1
    pos = 2
    if n - pos < 32:
        return TLS_TRUNCATED_RANDOM
    h.random.off = pos
    h.random.len = 32
    h.reached = 2
    pos += 32
    if n - pos < 1:
        return TLS_TRUNCATED_SESSION_ID
    ln = p[pos]
    pos += 1
    if ln > 32:
        return TLS_BAD_SESSION_ID_LENGTH
    if n - pos < ln:
        return TLS_TRUNCATED_SESSION_ID
    h.session_id.off = pos
    h.session_id.len = ln
    h.reached = 3
    pos += ln
    # cipher_suites len<2..2^16-2>
    if n - pos < 2:
        return TLS_TRUNCATED_CIPHER_SUITES
    ln = _be16(p + pos)
    pos += 2
    avail = ln if ln <= n - pos else n - pos
    i = 0
    while i + 2 <= avail:
        _push16(&h.cipher_suites, _be16(p + pos + i), &h.capped)
        i += 2
    if ln > n - pos:
        return TLS_TRUNCATED_CIPHER_SUITES
    if ln & 1:
        _tls_set(&status, TLS_BAD_CIPHER_SUITES_LENGTH)
    elif ln == 0:
        _tls_set(&status, TLS_EMPTY_CIPHER_SUITES)
    h.reached = 4
    pos += ln
    # compression_methods len<1..2^8-1>
    if n - pos < 1:
        return TLS_TRUNCATED_COMPRESSION_METHODS if status == TLS_OK else status
    ln = p[pos]
    pos += 1
    avail = ln if ln <= n - pos else n - pos
    for i in range(avail):
        _push8(&h.compression_methods, p[pos + i], &h.capped)
    if ln > n - pos:
        return TLS_TRUNCATED_COMPRESSION_METHODS if status == TLS_OK else status
    if ln == 0:
        _tls_set(&status, TLS_EMPTY_COMPRESSION_METHODS)
    h.reached = 5
    pos += ln
    _walk_extensions(p, n, pos, &h.extensions, &h.extensions_truncated, &h.capped,
                     True, h, &status)
    return status


# ---------------------------------------------------------------- ServerHello

cdef void _sh_extension(const uint8_t *buf, uint16_t etype, size_t off, size_t n,
                        TlsServerHello *h, int *status) noexcept nogil:
    cdef const uint8_t *p = buf + off
    cdef uint32_t n_alpn = 0
    cdef bint ignored = False
    if etype == TLS_EXT_SUPPORTED_VERSIONS:
        # ServerHello: the one selected version
        if n == 2:
            h.has_selected_version = True
            h.selected_version = _be16(p)
        else:
            _tls_set(status, TLS_BAD_SUPPORTED_VERSIONS)
    elif etype == TLS_EXT_KEY_SHARE:
        # ServerHello: group<2> key_exchange len<2>; HelloRetryRequest: group<2>
        if n >= 2:
            h.has_key_share_group = True
            h.key_share_group = _be16(p)
        if not (n == 2 or (n >= 4 and <size_t>_be16(p + 2) == n - 4)):
            _tls_set(status, TLS_BAD_KEY_SHARE)
    elif etype == TLS_EXT_ALPN:
        # exactly one protocol name (RFC 7301 3.1)
        if not _ch_alpn(p, off, n, &h.alpn, &n_alpn, 1, &ignored) or ignored:
            _tls_set(status, TLS_BAD_ALPN)
        if n_alpn:
            h.has_alpn = True


cdef inline bint _tls13_draft_layout(uint16_t version) noexcept nogil:
    # a ServerHello.version of 0x0304 (early drafts put the final number
    # there), 0x7fNN with NN < 22 (draft-NN) or Facebook's 0xfb1a (draft-26
    # based, final layout: excluded) names the old draft layout
    return version == 0x0304 or ((version >> 8) == 0x7f and (version & 0xff) < 22)


cdef int _parse_sh(const uint8_t *p, size_t n, TlsServerHello *h) noexcept nogil:
    cdef int status = TLS_OK
    cdef size_t pos, ln
    if n < 2:
        return TLS_TRUNCATED_VERSION
    h.legacy_version = _be16(p)
    h.reached = 1
    pos = 2
    if n - pos < 32:
        return TLS_TRUNCATED_RANDOM
    h.random.off = pos
    h.random.len = 32
    h.reached = 2
    pos += 32
    if _tls13_draft_layout(h.legacy_version):
        # TLS 1.3 drafts before -22: version, random, cipher_suite, extensions
        # (no session id echo, no compression method)
        h.reached = 3
        if n - pos < 2:
            return TLS_TRUNCATED_CIPHER_SUITE
        h.cipher_suite = _be16(p + pos)
        h.reached = 4             # compression_method stays None: there is none
        pos += 2
        _walk_extensions(p, n, pos, &h.extensions, &h.extensions_truncated, &h.capped,
                         False, h, &status)
        return status
    if n - pos < 1:
        return TLS_TRUNCATED_SESSION_ID
    ln = p[pos]
    pos += 1
    if ln > 32:
        return TLS_BAD_SESSION_ID_LENGTH
    if n - pos < ln:
        return TLS_TRUNCATED_SESSION_ID
    h.session_id.off = pos
    h.session_id.len = ln
    h.reached = 3
    pos += ln
    if n - pos < 2:
        return TLS_TRUNCATED_CIPHER_SUITE
    h.cipher_suite = _be16(p + pos)
    h.reached = 4
    pos += 2
    if n - pos < 1:
        return TLS_TRUNCATED_COMPRESSION_METHOD
    h.compression_method = p[pos]
    h.reached = 5
    pos += 1
    _walk_extensions(p, n, pos, &h.extensions, &h.extensions_truncated, &h.capped,
                     False, h, &status)
    return status


# ---------------------------------------------------------------- Certificate

cdef int _parse_cert(const uint8_t *p, size_t n, bint tls13, TlsCertificate *c) noexcept nogil:
    """TLS 1.2: certificate_list len<3> { cert_data len<3> }*
    TLS 1.3: request_context len<1>, certificate_list len<3>
             { cert_data len<3>, extensions len<2> }*"""
    cdef int status = TLS_OK
    cdef size_t pos = 0, end, clen, elen
    cdef bint list_cut = False
    if tls13:
        if n < 1 or p[0] > n - 1:
            return TLS_TRUNCATED_REQUEST_CONTEXT
        c.request_context.off = 1
        c.request_context.len = p[0]
        pos = 1 + p[0]
    if n - pos < 3:
        return TLS_TRUNCATED_CERTIFICATE_LIST
    end = _be24(p + pos)
    pos += 3
    if end > n - pos:
        list_cut = True
        end = n
    else:
        end = pos + end
    while pos < end:
        if end - pos < 3:
            _tls_set(&status, TLS_TRUNCATED_CERTIFICATE if list_cut else TLS_BAD_CERTIFICATE_LENGTH)
            break
        clen = _be24(p + pos)
        if clen > end - pos - 3:
            _tls_set(&status, TLS_TRUNCATED_CERTIFICATE if list_cut else TLS_BAD_CERTIFICATE_LENGTH)
            break
        if clen == 0:
            _tls_set(&status, TLS_EMPTY_CERTIFICATE)
        elif c.n_certs < TLS_MAX_CERTS:
            c.certs[c.n_certs].off = pos + 3
            c.certs[c.n_certs].len = clen
            c.n_certs += 1
        else:
            c.dropped += 1
        pos += 3 + clen
        if tls13:
            if end - pos < 2:
                _tls_set(&status, TLS_TRUNCATED_CERTIFICATE if list_cut else TLS_BAD_CERTIFICATE_EXTENSIONS)
                break
            elen = _be16(p + pos)
            if elen > end - pos - 2:
                _tls_set(&status, TLS_TRUNCATED_CERTIFICATE if list_cut else TLS_BAD_CERTIFICATE_EXTENSIONS)
                break
            pos += 2 + elen
    if list_cut:
        _tls_set(&status, TLS_TRUNCATED_CERTIFICATE_LIST)
    elif end < n:
        _tls_set(&status, TLS_TRAILING_DATA)
    return status


# ---------------------------------------------------------------- SSLv2 ClientHello

cdef int _parse_v2(const uint8_t *p, size_t n, TlsSslv2Hello *h) noexcept nogil:
    """SSL 2.0 CLIENT-HELLO in a 2-byte-header record (draft-hickman-netscape-ssl-00;
    RFC 6101 appendix E.2 for the TLS-compatible form):
        length<2> with the high bit set | msg_type<1> = 1 | version<2> |
        cipher_spec_length<2> | session_id_length<2> | challenge_length<2> |
        cipher_specs<3>* | session_id | challenge"""
    cdef int status = TLS_OK
    cdef size_t rec_len, pos, cs_len, sid_len, ch_len, i, avail
    if n < 2:
        return TLS_TRUNCATED_HEADER
    if not (p[0] & 0x80):
        return TLS_NOT_SSLV2_RECORD
    rec_len = ((<size_t>p[0] & 0x7f) << 8) | p[1]
    if rec_len > n - 2:
        _tls_set(&status, TLS_TRUNCATED_RECORD)
    else:
        n = 2 + rec_len              # ignore whatever follows the record
    if n - 2 < 9:
        return TLS_TRUNCATED_HEADER if status == TLS_OK else status
    if p[2] != 1:
        return TLS_NOT_CLIENT_HELLO
    h.legacy_version = _be16(p + 3)
    cs_len = _be16(p + 5)
    sid_len = _be16(p + 7)
    ch_len = _be16(p + 9)
    h.reached = 1
    pos = 11
    if cs_len % 3:
        _tls_set(&status, TLS_BAD_CIPHER_SPECS_LENGTH)
    avail = cs_len if cs_len <= n - pos else n - pos
    i = 0
    while i + 3 <= avail:
        if h.n_specs < TLS_MAX_LIST:
            h.specs[h.n_specs] = _be24(p + pos + i)
            h.n_specs += 1
        else:
            h.capped = True
        i += 3
    if cs_len > n - pos:
        _tls_set(&status, TLS_TRUNCATED_CIPHER_SPECS)
        return status
    pos += cs_len
    if sid_len > n - pos:
        _tls_set(&status, TLS_TRUNCATED_SESSION_ID)
        return status
    if sid_len != 0 and sid_len != 16:
        _tls_set(&status, TLS_BAD_SESSION_ID_LENGTH)
    h.session_id.off = pos
    h.session_id.len = sid_len
    pos += sid_len
    if ch_len < 16 or ch_len > 32:
        _tls_set(&status, TLS_BAD_CHALLENGE_LENGTH)
    if ch_len > n - pos:
        _tls_set(&status, TLS_TRUNCATED_CHALLENGE)
        return status
    h.challenge.off = pos
    h.challenge.len = ch_len
    pos += ch_len
    if pos < n:
        _tls_set(&status, TLS_TRAILING_DATA)
    return status


# ---------------------------------------------------------------- Python API

cdef inline bytes _span_bytes(const uint8_t *p, TlsSpan s):
    return (<const char*>p)[s.off:s.off + s.len]

# The Python int of each 16-bit code point, made on first use and kept. A
# ClientHello carries some 50 values above CPython's small-int cache (cipher
# suites, signature algorithms, versions), and allocating then freeing one
# int each was a third of what building its dict cost. Bounded: at most
# 65,536 ints (about 2 MiB) for the life of the process.
cdef PyObject *_u16_ints[65536]

cdef inline object _u16_int(uint16_t v):
    cdef object o
    if _u16_ints[v] == NULL:
        o = v
        Py_INCREF(o)                      # the table's reference, never dropped
        _u16_ints[v] = <PyObject *>o
        return o
    return <object>_u16_ints[v]

# Lists are made at their final size and filled in place: appending grew
# each one by reallocation.
cdef list _u16_list(TlsU16List *l):
    cdef list out = PyList_New(l.n)
    cdef uint32_t i
    cdef object v
    for i in range(l.n):
        v = _u16_int(l.v[i])
        Py_INCREF(v)                      # PyList_SET_ITEM steals a reference
        PyList_SET_ITEM(out, i, v)
    return out

cdef list _u8_list(TlsU8List *l):
    cdef list out = PyList_New(l.n)
    cdef uint32_t i
    cdef object v
    for i in range(l.n):
        v = l.v[i]                        # CPython's small ints: no allocation
        Py_INCREF(v)
        PyList_SET_ITEM(out, i, v)
    return out


def parse_client_hello(body):
    """Decode a ClientHello body (the bytes after the 4-byte handshake header).

    Takes any C-contiguous bytes-like object; never raises on its content.
    Returns a dict: status ("ok" or the first problem found), legacy_version,
    random, session_id (None when not reached), cipher_suites,
    compression_methods, extensions (types in order, GREASE kept), sni (first
    host_name, latin-1, or None), alpn (list of bytes), supported_versions,
    supported_groups, ec_point_formats, signature_algorithms,
    key_share_groups, psk_key_exchange_modes, has_pre_shared_key,
    has_early_data, has_ech, extensions_truncated, capped (a list hit its
    cap: the first entries are kept)."""
    cdef Py_buffer view
    cdef TlsClientHello *h
    cdef TlsClientHello hello
    cdef const uint8_t *p
    cdef int status
    PyObject_GetBuffer(body, &view, PyBUF_SIMPLE)
    try:
        p = <const uint8_t*>view.buf
        h = &hello
        memset(h, 0, sizeof(TlsClientHello))
        with nogil:
            status = _parse_ch(p, <size_t>view.len, h)
        return {
            "status": TLS_STATUS_NAMES[status],
            "legacy_version": _u16_int(h.legacy_version) if h.reached >= 1 else None,
            "random": _span_bytes(p, h.random) if h.reached >= 2 else None,
            "session_id": _span_bytes(p, h.session_id) if h.reached >= 3 else None,
            "cipher_suites": _u16_list(&h.cipher_suites),
            "compression_methods": _u8_list(&h.compression_methods),
            "extensions": _u16_list(&h.extensions),
            "sni": _span_bytes(p, h.sni).decode("latin-1") if h.has_sni else None,
            "alpn": [_span_bytes(p, h.alpn[i]) for i in range(h.n_alpn)],
            "supported_versions": _u16_list(&h.supported_versions),
            "supported_groups": _u16_list(&h.supported_groups),
            "ec_point_formats": _u8_list(&h.ec_point_formats),
            "signature_algorithms": _u16_list(&h.signature_algorithms),
            "key_share_groups": _u16_list(&h.key_share_groups),
            "psk_key_exchange_modes": _u8_list(&h.psk_key_exchange_modes),
            "has_pre_shared_key": bool(h.has_pre_shared_key),
            "has_early_data": bool(h.has_early_data),
            "has_ech": bool(h.has_ech),
            "extensions_truncated": bool(h.extensions_truncated),
            "capped": bool(h.capped),
        }
    finally:
        PyBuffer_Release(&view)


def parse_server_hello(body):
    """Decode a ServerHello body (HelloRetryRequest included).

    Returns a dict: status, legacy_version, random, session_id, cipher_suite,
    compression_method (None when not reached), extensions (types in order),
    selected_version (supported_versions extension, else None), alpn (bytes
    or None), key_share_group (int or None), is_hello_retry_request,
    extensions_truncated, capped."""
    cdef Py_buffer view
    cdef TlsServerHello hello
    cdef const uint8_t *p
    cdef int status
    cdef object random
    PyObject_GetBuffer(body, &view, PyBUF_SIMPLE)
    try:
        p = <const uint8_t*>view.buf
        memset(&hello, 0, sizeof(TlsServerHello))
        with nogil:
            status = _parse_sh(p, <size_t>view.len, &hello)
        random = _span_bytes(p, hello.random) if hello.reached >= 2 else None
        return {
            "status": TLS_STATUS_NAMES[status],
            "legacy_version": _u16_int(hello.legacy_version) if hello.reached >= 1 else None,
            "random": random,
            "session_id": _span_bytes(p, hello.session_id) if hello.reached >= 3 else None,
            "cipher_suite": _u16_int(hello.cipher_suite) if hello.reached >= 4 else None,
            "compression_method": hello.compression_method if hello.reached >= 5 else None,
            "extensions": _u16_list(&hello.extensions),
            "selected_version": (_u16_int(hello.selected_version)
                                 if hello.has_selected_version else None),
            "alpn": _span_bytes(p, hello.alpn) if hello.has_alpn else None,
            "key_share_group": (_u16_int(hello.key_share_group)
                                if hello.has_key_share_group else None),
            "is_hello_retry_request": random == TLS_HRR_RANDOM,
            "extensions_truncated": bool(hello.extensions_truncated),
            "capped": bool(hello.capped),
        }
    finally:
        PyBuffer_Release(&view)


def parse_certificate(body, tls13=False):
    """Decode a Certificate body: the TLS 1.2 form, or with tls13=True the
    TLS 1.3 form (request context, per-entry extensions).

    Returns a dict: status, request_context (bytes; b"" for TLS 1.2),
    certificates (DER bytes in order, at most TLS_MAX_CERTS = 10),
    certificates_dropped (well-formed entries past the cap). Zero-length
    entries are skipped with status "empty_certificate"."""
    cdef Py_buffer view
    cdef TlsCertificate cert
    cdef const uint8_t *p
    cdef int status
    cdef bint t13 = bool(tls13)
    PyObject_GetBuffer(body, &view, PyBUF_SIMPLE)
    try:
        p = <const uint8_t*>view.buf
        memset(&cert, 0, sizeof(TlsCertificate))
        with nogil:
            status = _parse_cert(p, <size_t>view.len, t13, &cert)
        return {
            "status": TLS_STATUS_NAMES[status],
            "request_context": _span_bytes(p, cert.request_context),
            "certificates": [_span_bytes(p, cert.certs[i]) for i in range(cert.n_certs)],
            "certificates_dropped": cert.dropped,
        }
    finally:
        PyBuffer_Release(&view)


def parse_sslv2_client_hello(record):
    """Decode an SSLv2-compatible ClientHello *record* (2-byte header included).

    Returns a dict: status, legacy_version (None when the header was not
    reached), cipher_specs (3-byte kinds as ints, in order), cipher_suites
    (the specs whose first byte is 0, as 16-bit TLS suites: what JA3
    implementations fingerprint), session_id, challenge, capped.
    Only the 2-byte record header form is accepted (a CLIENT-HELLO carries no
    padding); a record with the high bit clear is "not_sslv2_record"."""
    cdef Py_buffer view
    cdef TlsSslv2Hello hello
    cdef TlsSslv2Hello *h = &hello
    cdef const uint8_t *p
    cdef int status
    cdef list specs
    PyObject_GetBuffer(record, &view, PyBUF_SIMPLE)
    try:
        p = <const uint8_t*>view.buf
        memset(h, 0, sizeof(TlsSslv2Hello))
        with nogil:
            status = _parse_v2(p, <size_t>view.len, h)
        specs = [h.specs[i] for i in range(h.n_specs)]
        return {
            "status": TLS_STATUS_NAMES[status],
            "legacy_version": _u16_int(h.legacy_version) if h.reached >= 1 else None,
            "cipher_specs": specs,
            "cipher_suites": [s for s in specs if s <= 0xffff],
            "session_id": _span_bytes(p, h.session_id),
            "challenge": _span_bytes(p, h.challenge),
            "capped": bool(h.capped),
        }
    finally:
        PyBuffer_Release(&view)


def parse_handshake_messages(stream):
    """Split concatenated handshake bytes into (msg_type, body) pairs.

    Returns (messages, truncated, consumed): the complete messages in order,
    whether bytes are left that start a message not yet complete (a header
    cut short, or a 24-bit length running past the end; a 16 MiB length is
    just that, never an allocation), and how many bytes the complete
    messages took (the caller keeps stream[consumed:] for later)."""
    cdef Py_buffer view
    cdef const uint8_t *p
    cdef size_t n, pos = 0
    cdef uint32_t mlen
    cdef list out = []
    PyObject_GetBuffer(stream, &view, PyBUF_SIMPLE)
    try:
        p = <const uint8_t*>view.buf
        n = <size_t>view.len
        while n - pos >= 4:
            mlen = _be24(p + pos + 1)
            if mlen > n - pos - 4:
                break
            out.append((p[pos], (<const char*>p)[pos + 4:pos + 4 + mlen]))
            pos += 4 + mlen
        return out, pos < n, pos
    finally:
        PyBuffer_Release(&view)


def is_grease(value):
    """True for the RFC 8701 GREASE values 0x0a0a, 0x1a1a, ... 0xfafa.

    `value` is an integer (anything with __index__); TypeError otherwise: a
    float is no TLS code point, and casting it would truncate it."""
    value = PyNumber_Index(value)
    return 0 <= value <= 0xffff and _tls_is_grease(<uint16_t>value)


cdef Py_ssize_t _walk_tls_records(const uint8_t *p, size_t n, uint8_t *out, list alerts,
                                  bint *malformed) except -1:
    """The record walk of split_tls_records: how many handshake bytes in the
    clear p[:n] carries. With `out` it also copies them there and appends
    the alerts in the clear to `alerts`; without, it only counts, so that
    the result is allocated once at its size."""
    cdef size_t pos = 0, rlen, total = 0
    cdef uint8_t ctype
    cdef bint after_ccs = False
    while pos + 5 <= n:
        ctype = p[pos]
        rlen = _be16(p + pos + 3)
        if p[pos + 1] != 3 or ctype < 20 or ctype > 24:
            malformed[0] = True
            break
        if ctype == 23:
            break
        if rlen > n - pos - 5:
            rlen = n - pos - 5               # the capture ends inside this record
        if ctype == 20:
            after_ccs = True
        elif ctype == 21 and rlen >= 2 and not after_ccs:
            if out != NULL:
                alerts.append((p[pos + 5], p[pos + 6]))
        elif ctype == 22:
            if after_ccs and not (rlen >= 4 and p[pos + 5] == 1
                                  and _be24(p + pos + 6) + 4 == rlen):
                break
            if out != NULL:
                memcpy(out + total, p + pos + 5, rlen)
            total += rlen
        pos += 5 + rlen
    return total


def split_tls_records(data):
    """A direction's TLS bytes -> (handshake bytes in the clear, alerts in the
    clear as (level, description) pairs, whether the record framing broke).

    Takes any C-contiguous bytes-like object, as the parsers above do.
    After ChangeCipherSpec handshake records are encrypted (the Finished),
    except a whole ClientHello: the second hello after a HelloRetryRequest in
    middlebox-compatibility mode. Application data ends the handshake."""
    cdef Py_buffer view
    cdef const uint8_t *p
    cdef bint malformed = False
    cdef Py_ssize_t total
    cdef bytes handshake
    cdef list alerts = []
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        p = <const uint8_t*>view.buf
        total = _walk_tls_records(p, <size_t>view.len, NULL, None, &malformed)
        handshake = PyBytes_FromStringAndSize(NULL, total)
        _walk_tls_records(p, <size_t>view.len, <uint8_t *>PyBytes_AS_STRING(handshake), alerts,
                          &malformed)
        return handshake, alerts, malformed
    finally:
        PyBuffer_Release(&view)
