# Kept packets: the first KiB of each flow's frames in one bounded ring, so
# that the flows behind a live alert can be written out (Tier 2). No Python
# object per packet: frames are copied into a byte arena of records; taking
# a flow set's frames out happens once per alert.

cdef int keep_ring_init(KeepRing *r, uint32_t per_flow, uint64_t cap) except -1:
    memset(r, 0, sizeof(KeepRing))
    if per_flow == 0:
        return 0
    r.buf = <uint8_t *>malloc(cap)        # pages are touched only as the ring fills
    if r.buf == NULL:
        raise MemoryError(f"cannot allocate {cap} bytes for kept packets")
    r.cap = cap
    r.per_flow = per_flow
    return 0


cdef void keep_ring_free(KeepRing *r) noexcept nogil:
    free(r.buf)
    r.buf = NULL


cdef inline KeptHeader *keep_at(KeepRing *r, uint64_t off) noexcept nogil:
    return <KeptHeader *>(r.buf + off)


cdef void keep_evict_oldest(KeepRing *r) noexcept nogil:
    r.tail += keep_at(r, r.tail).size
    r.count -= 1
    r.evicted += 1
    if r.wrapped and r.tail == r.end:
        r.tail = 0
        r.wrapped = False


cdef void keep_frame(KeepRing *r, uint64_t flow_id, const uint8_t *frame, uint32_t caplen,
                     uint32_t wirelen, uint16_t linktype, int64_t ts_us) noexcept nogil:
    """Append a frame, overwriting the oldest records until it fits."""
    cdef uint64_t size = (sizeof(KeptHeader) + caplen + 7) & ~(<uint64_t>7)
    cdef KeptHeader *h
    if size > r.cap:
        return
    while True:
        if r.count == 0:
            r.head = r.tail = 0
            r.wrapped = False
        if not r.wrapped:                  # records: tail..head
            if r.head + size <= r.cap:
                break
            r.end = r.head                 # no room at the end: go on at 0
            r.head = 0
            r.wrapped = True
        elif r.head + size <= r.tail:      # records: tail..end, 0..head
            break
        else:
            keep_evict_oldest(r)
    h = keep_at(r, r.head)
    h.flow_id = flow_id
    h.ts_us = ts_us
    h.caplen = caplen
    h.wirelen = wirelen
    h.size = <uint32_t>size
    h.linktype = linktype
    memcpy(r.buf + r.head + sizeof(KeptHeader), frame, caplen)
    r.head += size
    r.count += 1
    r.kept += 1


cdef inline uint64_t keep_next(KeepRing *r, uint64_t off) noexcept nogil:
    off += keep_at(r, off).size
    if r.wrapped and off == r.end:
        return 0
    return off
