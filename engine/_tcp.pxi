# Handshake capture: per-direction TCP reassembly of the first bytes of a
# flow (bounded), and the framing walk that says when the handshake is over
# (TLS records, SSH banner and packets, QUIC long-header datagrams). Nothing
# is parsed here beyond framing; the bytes are handed to the parsers once.

cdef enum:
    TLS_MAX_RECORD = 16384 + 2048   # RFC 8446 5.2: plaintext plus expansion
    SSH_MAX_PACKET = 35000          # RFC 4253 6.1
    SSH_MAX_BANNER_SEARCH = 1024    # identification line plus pre-banner lines
    HALF_FIRST_ALLOC = 2048


cdef inline bint looks_like_tls_handshake(const uint8_t *p, uint32_t n) noexcept nogil:
    return n >= 3 and p[0] == 22 and p[1] == 3 and p[2] <= 4


cdef inline bint looks_like_sslv2_client_hello(const uint8_t *p, uint32_t n) noexcept nogil:
    # 2-byte length with the high bit, CLIENT-HELLO, version 2 or 3.x
    return (n >= 5 and (p[0] & 0x80) and p[2] == 1
            and ((p[3] == 0 and p[4] == 2) or (p[3] == 3 and p[4] <= 4)))


cdef inline bint starts_with(const uint8_t *p, uint32_t n, const char *s, uint32_t k) noexcept nogil:
    return n >= k and memcmp(p, s, k) == 0


cdef inline bint has_substring(const uint8_t *p, uint32_t n, const char *s, uint32_t k) noexcept nogil:
    cdef uint32_t i
    if n < k:
        return False
    for i in range(n - k + 1):
        if memcmp(p + i, s, k) == 0:
            return True
    return False


cdef bint preamble_plausible(const uint8_t *p, uint32_t n) noexcept nogil:
    """First bytes of a plaintext exchange that can upgrade to TLS: STARTTLS
    (SMTP, IMAP, POP3, FTP, XMPP, LDAP, PostgreSQL) and proxies (SOCKS4/5,
    HTTP CONNECT). Anything else is not kept."""
    cdef uint32_t head = n if n < 64 else 64
    if (starts_with(p, n, b"220", 3) or starts_with(p, n, b"+OK", 3)
            or starts_with(p, n, b"* OK", 4) or starts_with(p, n, b"EHLO", 4)
            or starts_with(p, n, b"HELO", 4) or starts_with(p, n, b"LHLO", 4)
            or starts_with(p, n, b"CAPA", 4) or starts_with(p, n, b"STLS", 4)
            or starts_with(p, n, b"AUTH", 4) or starts_with(p, n, b"FEAT", 4)
            or starts_with(p, n, b"<?xml", 5) or starts_with(p, n, b"<stream", 7)
            or starts_with(p, n, b"CONNECT ", 8) or starts_with(p, n, b"HTTP/1.", 7)):
        return True
    if has_substring(p, head, b" STARTTLS", 9) or has_substring(p, head, b" CAPABILITY", 11) \
            or has_substring(p, head, b" starttls", 9) or has_substring(p, head, b" capability", 11):
        return True                                   # IMAP: "<tag> STARTTLS"
    if n >= 8 and memcmp(p, b"\x00\x00\x00\x08\x04\xd2\x16\x2f", 8) == 0:
        return True                                   # PostgreSQL SSLRequest
    if n >= 2 and p[0] == 4 and (p[1] == 1 or p[1] == 2):
        return True                                   # SOCKS4 CONNECT/BIND
    if n >= 3 and p[0] == 5 and 1 <= p[1] <= 16:
        return True                                   # SOCKS5 greeting
    if n >= 2 and p[0] == 0x05 and p[1] == 0x00:
        return True                                   # SOCKS5 server choice
    if n >= 2 and p[0] == 0 and (p[1] == 0x5A or p[1] == 0x5B):
        return True                                   # SOCKS4 reply
    if n >= 2 and p[0] == 0x30 and has_substring(p, head, b"1.3.6.1.4.1.1466.20037", 22):
        return True                                   # LDAP StartTLS extended request
    if n >= 2 and p[0] == 0x30 and n <= 64:
        return True                                   # LDAP response (short BER sequence)
    if n == 1 and (p[0] == ord('S') or p[0] == ord('N')):
        return True                                   # PostgreSQL SSLRequest answer
    return False


cdef Session *session_new(FlowTable *ft) noexcept nogil:
    cdef Session *s
    if ft.hs_mem_used + sizeof(Session) > ft.hs_mem_cap:
        ft.hs_memcap_hits += 1
        return NULL
    s = <Session *>malloc(sizeof(Session))
    if s == NULL:
        return NULL
    memset(s, 0, sizeof(Session))
    s.mem = sizeof(Session)
    ft.hs_mem_used += s.mem
    return s


cdef void session_free(FlowTable *ft, Session *s) noexcept nogil:
    cdef int d, i
    if s == NULL:
        return
    for d in range(2):
        free(s.half[d].buf)
        if s.half[d].ooo != NULL:
            for i in range(s.half[d].n_ooo):
                free(s.half[d].ooo[i].data)
            free(s.half[d].ooo)
    ft.hs_mem_used -= s.mem
    free(s)


cdef bint half_reserve(FlowTable *ft, Session *s, HalfStream *h, uint32_t need) noexcept nogil:
    """Room for `need` bytes in h.buf, within the caps; False if refused."""
    cdef uint32_t new_alloc
    cdef uint8_t *grown
    if need <= h.alloc:
        return True
    new_alloc = HALF_FIRST_ALLOC if h.alloc == 0 else h.alloc
    while new_alloc < need:
        new_alloc *= 2
    if new_alloc > ft.hs_bytes_cap:
        new_alloc = ft.hs_bytes_cap
    if ft.hs_mem_used + (new_alloc - h.alloc) > ft.hs_mem_cap:
        ft.hs_memcap_hits += 1
        h.flags |= HF_MEMCAP
        return False
    grown = <uint8_t *>realloc(h.buf, new_alloc)
    if grown == NULL:
        h.flags |= HF_MEMCAP
        return False
    ft.hs_mem_used += new_alloc - h.alloc
    s.mem += new_alloc - h.alloc
    h.buf = grown
    h.alloc = new_alloc
    return True


cdef enum:  # what a probe at a segment start found
    PROBE_FOUND = 0
    PROBE_WAIT            # too few bytes yet, and they could begin TLS/SSH
    PROBE_NO


cdef int half_probe(HalfStream *h, uint32_t off) noexcept nogil:
    """Does a TLS or SSH conversation begin at `off`?"""
    cdef const uint8_t *p = h.buf + off
    cdef uint32_t n = h.len - off
    if looks_like_tls_handshake(p, n):
        h.mode = HM_TLS
        h.kind = HK_TLS
    elif looks_like_sslv2_client_hello(p, n):
        h.mode = HM_TLS
        h.kind = HK_SSLV2
    elif starts_with(p, n, b"SSH-", 4):
        h.mode = HM_SSH
        h.kind = HK_SSH
    elif n < 5 and ((p[0] == 22 and (n < 2 or p[1] == 3))
                    or memcmp(p, b"SSH-", n if n < 4 else 4) == 0
                    or ((p[0] & 0x80) and (n < 3 or p[2] == 1))):
        return PROBE_WAIT
    else:
        return PROBE_NO
    h.start = off
    h.scan = off
    return PROBE_FOUND


cdef void half_detect(HalfStream *h) noexcept nogil:
    """Judge the pending segment start (and the latest one, when a short
    plaintext message such as PostgreSQL's 'S' came before it)."""
    cdef int r = half_probe(h, h.probe)
    if r == PROBE_WAIT:
        return
    h.probe_pending = 0
    if r == PROBE_FOUND:
        return
    if h.last_segment > h.probe:
        r = half_probe(h, h.last_segment)
        if r == PROBE_FOUND:
            return
        if r == PROBE_WAIT:
            h.probe = h.last_segment
            h.probe_pending = 1
            return
    if h.mode == HM_START:
        h.mode = HM_PREAMBLE if preamble_plausible(h.buf, h.len) else HM_DONE


cdef void tls_walk(HalfStream *h, int64_t now_us) noexcept nogil:
    """Follow record headers; the handshake is over at application data, at
    a handshake record after ChangeCipherSpec (the encrypted Finished), or at
    an alert. A whole ClientHello after ChangeCipherSpec is the second hello
    of a HelloRetryRequest exchange (middlebox-compatibility mode) and is kept."""
    cdef uint8_t ctype
    cdef uint32_t rlen
    cdef const uint8_t *body
    if h.kind == HK_SSLV2:
        # one SSLv2 record carries the whole ClientHello
        if h.len - h.scan >= 2 and h.len - h.scan >= 2 + (((h.buf[h.scan] & 0x7F) << 8) | h.buf[h.scan + 1]):
            h.mode = HM_DONE
        return
    while h.len - h.scan >= 5:
        ctype = h.buf[h.scan]
        rlen = rd16(h.buf + h.scan + 3)
        if h.buf[h.scan + 1] != 3 or ctype < 20 or ctype > 24 or rlen > TLS_MAX_RECORD:
            h.flags |= HF_MALFORMED
            h.mode = HM_DONE
            return
        if ctype == 23:
            h.flags |= HF_ESTABLISHED
            h.established_us = now_us
            h.mode = HM_DONE
            return
        if h.len - h.scan < 5 + rlen:
            return
        body = h.buf + h.scan + 5
        h.scan += 5 + rlen
        if ctype == 20:
            h.flags |= HF_CCS
        elif ctype == 21:
            h.flags |= HF_ALERT
            h.mode = HM_DONE
            return
        elif ctype == 22 and (h.flags & HF_CCS) and not (
                rlen >= 4 and body[0] == 1 and rd24(body + 1) + 4 == rlen):
            h.flags |= HF_ESTABLISHED
            h.established_us = now_us
            h.mode = HM_DONE
            return


cdef void ssh_walk(HalfStream *h) noexcept nogil:
    """Identification line, then binary packets up to and including KEXINIT."""
    cdef uint32_t i, plen
    if not h.banner_done:
        i = h.scan
        while i < h.len and h.buf[i] != 10:
            i += 1
        if i == h.len:
            if h.len - h.start > SSH_MAX_BANNER_SEARCH:
                h.flags |= HF_MALFORMED
                h.mode = HM_DONE
            return
        h.banner_done = 1
        h.scan = i + 1
        # SSH-1 (not 1.99) has no KEXINIT to wait for
        if h.len - h.start >= 6 and h.buf[h.start + 4] == ord('1') and h.buf[h.start + 5] == ord('.') \
                and not (h.len - h.start >= 8 and h.buf[h.start + 6] == ord('9')
                         and h.buf[h.start + 7] == ord('9')):
            h.mode = HM_DONE
            return
    while h.len - h.scan >= 6:
        plen = rd32(h.buf + h.scan)
        if plen < 2 or plen > SSH_MAX_PACKET:
            h.flags |= HF_MALFORMED
            h.mode = HM_DONE
            return
        if h.len - h.scan - 4 < plen:
            return
        if h.buf[h.scan + 5] == 20:       # SSH_MSG_KEXINIT complete
            h.scan += 4 + plen
            h.mode = HM_DONE
            return
        h.scan += 4 + plen


cdef void half_append(FlowTable *ft, Session *s, HalfStream *h, const uint8_t *data, uint32_t n,
                      bint segment_start, int64_t now_us) noexcept nogil:
    """In-order new bytes of this direction."""
    cdef uint32_t off = h.len, take = n
    cdef uint32_t cap = ft.hs_bytes_cap
    if h.mode == HM_DONE or n == 0:
        return
    if h.len + take > cap:
        take = cap - h.len
        h.flags |= HF_TRUNCATED
    if not half_reserve(ft, s, h, h.len + take):
        h.mode = HM_DONE
        return
    memcpy(h.buf + h.len, data, take)
    h.len += take
    if segment_start:
        h.last_segment = off
        if not h.probe_pending:
            h.probe = off
            h.probe_pending = 1
    if (h.mode == HM_START or h.mode == HM_PREAMBLE) and h.probe_pending:
        half_detect(h)
    if h.mode == HM_PREAMBLE and h.len >= ft.hs_preamble_cap:
        h.mode = HM_DONE
    elif h.mode == HM_TLS:
        tls_walk(h, now_us)
    elif h.mode == HM_SSH:
        ssh_walk(h)
    if h.flags & HF_TRUNCATED:
        if h.mode != HM_DONE:
            ft.hs_truncated += 1
        h.mode = HM_DONE


cdef void half_check_overlap(FlowTable *ft, HalfStream *h, uint32_t seq, const uint8_t *data,
                             uint32_t n) noexcept nogil:
    """A retransmission over bytes already kept: the first copy wins, a
    different second copy is an anomaly (an evasion attempt or corruption)."""
    cdef uint32_t rel = seq - h.base_seq, k
    if h.len == 0 or rel >= h.len:
        return
    k = h.len - rel
    if k > n:
        k = n
    if memcmp(h.buf + rel, data, k) != 0 and not (h.flags & HF_OVERLAP_DIFFERS):
        h.flags |= HF_OVERLAP_DIFFERS
        ft.overlap_differs += 1


cdef void half_store_ooo(FlowTable *ft, Session *s, HalfStream *h, uint32_t seq,
                         const uint8_t *data, uint32_t n) noexcept nogil:
    cdef uint8_t *copy
    cdef int i
    for i in range(h.n_ooo):
        if h.ooo[i].seq == seq and h.ooo[i].len >= n:
            return                              # a retransmission of a held segment
    if h.ooo == NULL:
        if ft.hs_mem_used + ft.ooo_max * sizeof(OooSegment) > ft.hs_mem_cap:
            ft.hs_memcap_hits += 1
            h.flags |= HF_MEMCAP
            h.mode = HM_DONE
            return
        h.ooo = <OooSegment *>malloc(ft.ooo_max * sizeof(OooSegment))
        if h.ooo == NULL:
            h.mode = HM_DONE
            return
        ft.hs_mem_used += ft.ooo_max * sizeof(OooSegment)
        s.mem += ft.ooo_max * sizeof(OooSegment)
    if h.n_ooo >= ft.ooo_max or ft.hs_mem_used + n > ft.hs_mem_cap:
        # drop the newest, and the bytes it held are a gap we cannot fill
        ft.ooo_dropped += 1
        h.flags |= HF_GAP
        h.mode = HM_DONE
        return
    copy = <uint8_t *>malloc(n)
    if copy == NULL:
        h.mode = HM_DONE
        return
    memcpy(copy, data, n)
    ft.hs_mem_used += n
    s.mem += n
    h.ooo[h.n_ooo].seq = seq
    h.ooo[h.n_ooo].len = n
    h.ooo[h.n_ooo].data = copy
    h.n_ooo += 1


cdef void half_segment(FlowTable *ft, Session *s, HalfStream *h, uint32_t *next_seq,
                       uint32_t seq, const uint8_t *data, uint32_t n, int64_t now_us) noexcept nogil:
    """One TCP segment's payload for this direction, in any order."""
    cdef int32_t rel = <int32_t>(seq - next_seq[0])
    cdef uint32_t skip
    cdef int i
    cdef bint progressed
    if rel > 0:
        if <uint32_t>rel < ft.hs_bytes_cap:   # beyond the cap it could never be used
            half_store_ooo(ft, s, h, seq, data, n)
        return
    if rel < 0:
        skip = <uint32_t>(-rel)
        half_check_overlap(ft, h, seq, data, n)
        if skip >= n:
            return
        data += skip
        n -= skip
    if h.len == 0:
        h.base_seq = next_seq[0]
    half_append(ft, s, h, data, n, rel == 0, now_us)
    next_seq[0] += n
    # held segments that now fit, in any order
    progressed = True
    while progressed and h.n_ooo and h.mode != HM_DONE:
        progressed = False
        for i in range(h.n_ooo):
            rel = <int32_t>(h.ooo[i].seq - next_seq[0])
            if rel <= 0:
                skip = <uint32_t>(-rel)
                if skip < h.ooo[i].len:
                    half_check_overlap(ft, h, h.ooo[i].seq, h.ooo[i].data, h.ooo[i].len)
                    half_append(ft, s, h, h.ooo[i].data + skip, h.ooo[i].len - skip,
                                rel == 0, now_us)
                    next_seq[0] += h.ooo[i].len - skip
                free(h.ooo[i].data)
                ft.hs_mem_used -= h.ooo[i].len
                s.mem -= h.ooo[i].len
                h.n_ooo -= 1
                h.ooo[i] = h.ooo[h.n_ooo]
                progressed = True
                break


cdef void half_datagram(FlowTable *ft, Session *s, HalfStream *h, const uint8_t *data,
                        uint32_t n) noexcept nogil:
    """QUIC: keep long-header datagrams ([u16 length][bytes] each) until a
    short-header (1-RTT) packet shows the handshake is over."""
    if h.mode == HM_DONE:
        return
    if n == 0 or not (data[0] & 0x80):
        h.mode = HM_DONE
        return
    h.kind = HK_QUIC
    h.mode = HM_QUIC
    if h.len + 2 + n > ft.hs_bytes_cap:
        h.flags |= HF_TRUNCATED
        h.mode = HM_DONE
        return
    if not half_reserve(ft, s, h, h.len + 2 + n):
        h.mode = HM_DONE
        return
    h.buf[h.len] = <uint8_t>(n >> 8)
    h.buf[h.len + 1] = <uint8_t>n
    memcpy(h.buf + h.len + 2, data, n)
    h.len += 2 + n
    h.n_datagrams += 1
    if h.n_datagrams >= ft.quic_datagrams_max:
        h.mode = HM_DONE


cdef inline bint looks_like_quic_long_header(const uint8_t *p, uint32_t n) noexcept nogil:
    """A client's first QUIC datagram: a long header with the fixed bit, a
    version QUIC defines (v1, v2, the late drafts), a DCID length QUIC
    allows, and the 1200-byte minimum of a client Initial (RFC 9000 14.1),
    so that other UDP (a DNS id >= 0xC000, say) is not taken for QUIC."""
    cdef uint32_t version
    if n < 1200 or (p[0] & 0xC0) != 0xC0 or p[5] > 20:
        return False
    version = rd32(p + 1)
    return version == 1 or version == <uint32_t>0x6B3343CF or (version & <uint32_t>0xFFFFFF00) == <uint32_t>0xFF000000


# ------------------------------------------------------------ flow glue

cdef void capture_packet(FlowTable *ft, int32_t slot, PacketView *pv, bint toserver,
                         int64_t now_us) noexcept nogil:
    """Feed one packet of a flow still capturing its handshake."""
    cdef Flow *f = &ft.flows[slot]
    cdef int d = 0 if toserver else 1
    cdef Session *s
    if f.key.proto == 6:
        if pv.tcp_flags & TH_SYN:
            f.next_seq[d] = pv.seq + 1
            f.isn_known |= <uint8_t>(1 << d)
            return
        if pv.payload_len == 0:
            return
        if not (f.isn_known & (1 << d)):
            f.next_seq[d] = pv.seq            # picked up midstream
            f.isn_known |= <uint8_t>(1 << d)
    elif f.key.proto == 17:
        if pv.payload_len == 0:
            return
        if f.hs_state == HS_NONE and not looks_like_quic_long_header(pv.payload, pv.payload_len):
            f.hs_state = HS_BYPASS
            return
    else:
        f.hs_state = HS_BYPASS
        return
    if f.hs_state == HS_NONE:
        f.sess = session_new(ft)
        if f.sess == NULL:
            f.hs_state = HS_BYPASS
            return
        f.hs_state = HS_CAPTURING
    s = f.sess
    if f.key.proto == 6:
        half_segment(ft, s, &s.half[d], &f.next_seq[d], pv.seq, pv.payload, pv.payload_len,
                     now_us)
        if s.half[d].kind == HK_SSH and f.ja4ssh == NULL:
            ja4ssh_start(ft, f)
    else:
        half_datagram(ft, s, &s.half[d], pv.payload, pv.payload_len)
    if s.half[0].mode == HM_DONE and s.half[1].mode == HM_DONE:
        handshake_handover(ft, slot, now_us)


cdef int handshake_handover(FlowTable *ft, int32_t slot, int64_t now_us) noexcept nogil:
    """The flow's handshake is over (or the flow ends): queue what was
    captured for Python and bypass the flow from now on."""
    cdef Flow *f = &ft.flows[slot]
    cdef Session *s = f.sess
    cdef HandshakeEnd *e
    cdef HandshakeEnd *grown
    cdef uint32_t new_cap
    cdef int d
    f.sess = NULL
    f.hs_state = HS_BYPASS
    if s == NULL:
        return 0
    for d in range(2):
        # segments still held for an unfinished direction were never joined
        if s.half[d].n_ooo and s.half[d].mode != HM_DONE:
            s.half[d].flags |= HF_GAP
    f.st.app_kind = s.half[0].kind if s.half[0].kind != HK_NONE else s.half[1].kind
    if f.st.app_kind == HK_NONE:
        session_free(ft, s)
        return 0
    if ft.n_handshakes == ft.cap_handshakes:
        new_cap = 64 if ft.cap_handshakes == 0 else ft.cap_handshakes * 2
        grown = <HandshakeEnd *>realloc(ft.handshakes, new_cap * sizeof(HandshakeEnd))
        if grown == NULL:
            session_free(ft, s)
            return -1
        ft.handshakes = grown
        ft.cap_handshakes = new_cap
    e = &ft.handshakes[ft.n_handshakes]
    ft.n_handshakes += 1
    flow_tuple(f, &e.t)
    e.first_us = f.st.first_us
    e.at_us = now_us
    e.sess = s
    return 0
