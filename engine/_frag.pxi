# Bounded IP fragment reassembly (IPv4 and IPv6). A datagram is rebuilt in
# one tracker buffer as [IP header][payload] and decoded like any packet;
# the tracker is released before the next packet is decoded.
from libc.stdlib cimport malloc, free
from libc.string cimport memcmp

cdef enum:
    FRAG_HDR_ROOM = 60          # payload starts here; the header is placed just before
    FRAG_MAX_PAYLOAD = 65535
    FRAG_UNITS = (FRAG_MAX_PAYLOAD + 7) // 8
    FRAG_PROBES = 8             # slots looked at before evicting the oldest


cdef int frag_table_init(FragTable *ft, uint32_t max_trackers, int64_t timeout_us) except -1:
    cdef uint32_t size = 1
    while size < max_trackers:
        size <<= 1
    ft.size = size if max_trackers else 0
    ft.timeout_us = timeout_us
    ft.release_slot = -1
    ft.evicted = 0
    ft.reassembled = 0
    ft.slots = NULL
    if ft.size:
        ft.slots = <FragTracker *>malloc(ft.size * sizeof(FragTracker))
        if ft.slots == NULL:
            raise MemoryError("cannot allocate the fragment table")
        memset(ft.slots, 0, ft.size * sizeof(FragTracker))
    return 0


cdef void frag_table_free(FragTable *ft) noexcept nogil:
    cdef uint32_t i
    if ft.slots == NULL:
        return
    for i in range(ft.size):
        free(ft.slots[i].data)
        free(ft.slots[i].bitmap)
    free(ft.slots)
    ft.slots = NULL


cdef inline void frag_release_pending(FragTable *ft) noexcept nogil:
    if ft.release_slot >= 0:
        ft.slots[ft.release_slot].in_use = 0
        ft.release_slot = -1


cdef inline bint frag_key_matches(FragTracker *t, PacketView *pv, uint32_t ident,
                                  uint8_t proto) noexcept nogil:
    return (t.ident == ident and t.proto == proto and t.family == pv.family
            and memcmp(t.src, pv.src, 16) == 0 and memcmp(t.dst, pv.dst, 16) == 0)


cdef int frag_add(DecodeCtx *ctx, PacketView *pv, const uint8_t *ip, uint32_t keep_hdr_len,
                  uint32_t counted_hdr_len, uint8_t proto, uint32_t ident, uint32_t offset,
                  bint more, const uint8_t *payload, uint32_t plen) noexcept nogil:
    cdef FragTable *ft = ctx.frags
    cdef FragTracker *t
    cdef uint64_t h
    cdef uint32_t i, slot, pick, unit, end, last_unit, n
    cdef int64_t oldest
    cdef int rc
    cdef uint8_t *hdr
    if ft.size == 0 or offset + plen > FRAG_MAX_PAYLOAD or (more and (plen & 7)):
        return DEC_ERR_FRAGMENT
    h = ident * <uint64_t>0x9E3779B97F4A7C15
    for i in range(16):
        h = (h ^ pv.src[i] ^ (<uint64_t>pv.dst[i] << 8)) * <uint64_t>0x100000001B3
    pick = ft.size
    oldest = 0
    t = NULL
    for i in range(FRAG_PROBES):
        slot = <uint32_t>(h + i) & (ft.size - 1)
        if <int32_t>slot == ft.release_slot:
            continue
        t = &ft.slots[slot]
        if t.in_use and t.first_us + ft.timeout_us < ctx.ts_us:
            t.in_use = 0                   # expired: its slot is free again
        if t.in_use and frag_key_matches(t, pv, ident, proto):
            pick = slot
            break
        if not t.in_use:
            if pick == ft.size or ft.slots[pick].in_use:
                pick = slot
        elif pick == ft.size or (ft.slots[pick].in_use and t.first_us < oldest):
            pick = slot
            oldest = t.first_us
    if pick == ft.size:
        return DEC_ERR_FRAGMENT
    t = &ft.slots[pick]
    if not (t.in_use and frag_key_matches(t, pv, ident, proto)):
        if t.in_use:
            ft.evicted += 1
        if t.data == NULL:
            t.data = <uint8_t *>malloc(FRAG_HDR_ROOM + FRAG_MAX_PAYLOAD)
            t.bitmap = <uint8_t *>malloc(FRAG_UNITS // 8 + 1)
            if t.data == NULL or t.bitmap == NULL:
                return DEC_ERR_FRAGMENT
        memset(t.bitmap, 0, FRAG_UNITS // 8 + 1)
        memcpy(t.src, pv.src, 16)
        memcpy(t.dst, pv.dst, 16)
        t.ident = ident
        t.proto = proto
        t.family = pv.family
        t.in_use = 1
        t.have_last = 0
        t.hdr_len = 0
        t.payload_total = 0
        t.units_seen = 0
        t.first_us = ctx.ts_us
    if offset == 0 and t.hdr_len == 0:      # first copy wins for the header too
        hdr = t.data + FRAG_HDR_ROOM - keep_hdr_len
        memcpy(hdr, ip, keep_hdr_len)
        t.hdr_len = keep_hdr_len
        t.counted_hdr_len = counted_hdr_len
        t.prefix_len = <uint32_t>(ip - pv.pkt_start)
    if not more:
        t.have_last = 1
        t.payload_total = offset + plen
    # first copy wins where fragments overlap
    end = offset + plen
    unit = offset // 8
    while unit * 8 < end:
        if not (t.bitmap[unit >> 3] & (1 << (unit & 7))):
            n = end - unit * 8
            if n > 8:
                n = 8
            memcpy(t.data + FRAG_HDR_ROOM + unit * 8, payload + (unit * 8 - offset), n)
            t.bitmap[unit >> 3] |= <uint8_t>(1 << (unit & 7))
            t.units_seen += 1
        unit += 1
    last_unit = (t.payload_total + 7) // 8
    if not (t.have_last and t.hdr_len and t.units_seen >= last_unit):
        return DEC_FRAGMENT
    # units past the end count in units_seen too: check there is no hole
    for unit in range(last_unit):
        if not (t.bitmap[unit >> 3] & (1 << (unit & 7))):
            return DEC_FRAGMENT
    # whole datagram present: patch the header to describe it, then decode
    hdr = t.data + FRAG_HDR_ROOM - t.hdr_len
    if t.family == 4:
        hdr[2] = <uint8_t>((t.hdr_len + t.payload_total) >> 8)
        hdr[3] = <uint8_t>(t.hdr_len + t.payload_total)
        hdr[6] = 0
        hdr[7] = 0
    else:
        hdr[4] = <uint8_t>(t.payload_total >> 8)
        hdr[5] = <uint8_t>t.payload_total
        hdr[6] = t.proto
    ft.release_slot = <int32_t>pick
    ft.reassembled += 1
    # Suricata's reassembled packet is the first fragment's leading bytes
    # plus the whole payload. Set before decoding: a UDP tunnel inside copies
    # it for its outer flow, a tunnel inside replaces it for the inner packet.
    pv.flow_len = t.prefix_len + t.counted_hdr_len + t.payload_total
    if t.family == 4:
        rc = decode_ipv4(ctx, hdr, t.hdr_len + t.payload_total, pv)
    else:
        rc = decode_ipv6(ctx, hdr, t.hdr_len + t.payload_total, pv)
    return rc
