# The bounded flow table: a slot pool, an open-addressing index over it, and
# one LRU list per timeout class. Packet time drives every timeout.
from libc.stdlib cimport realloc

cdef enum:
    TH_FIN = 0x01
    TH_SYN = 0x02
    TH_RST = 0x04
    TH_ACK = 0x10
    SWEEP_INTERVAL_US = 1000000
    FLOW_ICMP_ERROR_MAPPED = 1
    FLOW_ID_MASK = 0x7FFFFFFFFFFFF     # 51 bits: exact in a JSON double, like Suricata's


cdef int flow_table_init(FlowTable *ft, uint32_t max_flows, int64_t *timeouts_us) except -1:
    cdef int c
    memset(ft, 0, sizeof(FlowTable))
    ft.max_flows = max_flows
    ft.free_head = -1
    for c in range(TC_COUNT):
        ft.lru_head[c] = -1
        ft.lru_tail[c] = -1
        ft.timeout_us[c] = timeouts_us[c]
    ft.interim_head = -1
    ft.interim_tail = -1
    ft.next_sweep_us = -1
    if flow_table_grow(ft) < 0:
        raise MemoryError("cannot allocate the flow table")
    return 0


cdef void flow_table_free(FlowTable *ft) noexcept nogil:
    cdef uint32_t i
    for i in range(ft.capacity):
        if ft.flows[i].in_use:
            session_free(ft, ft.flows[i].sess)
            free(ft.flows[i].ja4ssh)
    for i in range(ft.n_handshakes):
        session_free(ft, ft.handshakes[i].sess)
    free(ft.handshakes)
    ft.handshakes = NULL
    free(ft.ja4ssh_ends)
    ft.ja4ssh_ends = NULL
    free(ft.flows)
    free(ft.index)
    free(ft.ended)
    ft.flows = NULL
    ft.index = NULL
    ft.ended = NULL


cdef inline uint64_t mix64(uint64_t h, uint64_t w) noexcept nogil:
    h = (h ^ w) * <uint64_t>0x9E3779B97F4A7C15
    return h ^ (h >> 29)


# FlowKey is exactly FLOW_KEY_WORDS 64-bit words (checked at import), so
# hashing and comparing are six word operations the compiler keeps inline
cdef enum:
    FLOW_KEY_WORDS = 6


cdef inline uint64_t flow_key_hash(const FlowKey *k) noexcept nogil:
    cdef uint64_t w[FLOW_KEY_WORDS]
    memcpy(w, k, sizeof(w))
    cdef uint64_t h = 0x243F6A8885A308D3
    cdef int i
    for i in range(FLOW_KEY_WORDS):
        h = mix64(h, w[i])
    return h


cdef inline bint flow_key_equal(const FlowKey *a, const FlowKey *b) noexcept nogil:
    cdef uint64_t x[FLOW_KEY_WORDS]
    cdef uint64_t y[FLOW_KEY_WORDS]
    memcpy(x, a, sizeof(x))
    memcpy(y, b, sizeof(y))
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])
            | (x[4] ^ y[4]) | (x[5] ^ y[5])) == 0


cdef inline int addr_order(const uint8_t *a, const uint8_t *b) noexcept nogil:
    """A total order on 16-byte addresses (not lexicographic: any fixed order
    serves to put a flow's two endpoints in canonical order)."""
    cdef uint64_t x[2]
    cdef uint64_t y[2]
    memcpy(x, a, 16)
    memcpy(y, b, 16)
    if x[0] != y[0]:
        return -1 if x[0] < y[0] else 1
    if x[1] != y[1]:
        return -1 if x[1] < y[1] else 1
    return 0


cdef int flow_index_insert(FlowTable *ft, uint32_t slot) noexcept nogil:
    cdef uint32_t i = <uint32_t>ft.flows[slot].hash & ft.index_mask
    while ft.index[i] != 0:
        i = (i + 1) & ft.index_mask
    ft.index[i] = slot + 1
    return 0


cdef int flow_table_grow(FlowTable *ft) noexcept nogil:
    """Double the pool (up to max_flows) and rebuild the index at <= 50 % load."""
    cdef uint32_t new_cap, i, index_size
    cdef Flow *flows
    cdef uint32_t *index
    if ft.capacity >= ft.max_flows:
        return -1
    new_cap = 1024 if ft.capacity == 0 else ft.capacity * 2
    if new_cap > ft.max_flows:
        new_cap = ft.max_flows
    flows = <Flow *>realloc(ft.flows, new_cap * sizeof(Flow))
    if flows == NULL:
        return -1
    ft.flows = flows
    index_size = 2
    while index_size < new_cap * 2:
        index_size <<= 1
    index = <uint32_t *>malloc(index_size * sizeof(uint32_t))
    if index == NULL:
        return -1
    memset(index, 0, index_size * sizeof(uint32_t))
    free(ft.index)
    ft.index = index
    ft.index_mask = index_size - 1
    for i in range(ft.capacity):
        if ft.flows[i].in_use:
            flow_index_insert(ft, i)
    # new slots go on the free list in ascending order
    i = new_cap
    while i > ft.capacity:
        i -= 1
        ft.flows[i].in_use = 0
        ft.flows[i].lru_next = ft.free_head
        ft.free_head = <int32_t>i
    ft.capacity = new_cap
    return 0


cdef void flow_index_remove(FlowTable *ft, uint32_t slot) noexcept nogil:
    """Backward-shift deletion keeps linear probing free of tombstones."""
    cdef uint32_t i = <uint32_t>ft.flows[slot].hash & ft.index_mask
    cdef uint32_t j, k
    while ft.index[i] != slot + 1:
        i = (i + 1) & ft.index_mask
    j = i
    while True:
        j = (j + 1) & ft.index_mask
        if ft.index[j] == 0:
            break
        k = <uint32_t>ft.flows[ft.index[j] - 1].hash & ft.index_mask
        if (i <= j and i < k <= j) or (i > j and (i < k or k <= j)):
            continue
        ft.index[i] = ft.index[j]
        i = j
    ft.index[i] = 0


cdef inline void lru_unlink(FlowTable *ft, int32_t slot) noexcept nogil:
    cdef Flow *f = &ft.flows[slot]
    if f.lru_prev >= 0:
        ft.flows[f.lru_prev].lru_next = f.lru_next
    else:
        ft.lru_head[f.lru_class] = f.lru_next
    if f.lru_next >= 0:
        ft.flows[f.lru_next].lru_prev = f.lru_prev
    else:
        ft.lru_tail[f.lru_class] = f.lru_prev


cdef inline void lru_append(FlowTable *ft, int32_t slot, uint8_t cls) noexcept nogil:
    cdef Flow *f = &ft.flows[slot]
    f.lru_class = cls
    f.lru_next = -1
    f.lru_prev = ft.lru_tail[cls]
    if f.lru_prev >= 0:
        ft.flows[f.lru_prev].lru_next = slot
    else:
        ft.lru_head[cls] = slot
    ft.lru_tail[cls] = slot


cdef inline void interim_unlink(FlowTable *ft, int32_t slot) noexcept nogil:
    cdef Flow *f = &ft.flows[slot]
    if f.interim_prev >= 0:
        ft.flows[f.interim_prev].interim_next = f.interim_next
    else:
        ft.interim_head = f.interim_next
    if f.interim_next >= 0:
        ft.flows[f.interim_next].interim_prev = f.interim_prev
    else:
        ft.interim_tail = f.interim_prev


cdef inline void interim_append(FlowTable *ft, int32_t slot) noexcept nogil:
    cdef Flow *f = &ft.flows[slot]
    f.interim_next = -1
    f.interim_prev = ft.interim_tail
    if f.interim_prev >= 0:
        ft.flows[f.interim_prev].interim_next = slot
    else:
        ft.interim_head = slot
    ft.interim_tail = slot


cdef inline uint8_t flow_timeout_class(Flow *f) noexcept nogil:
    if f.key.proto == 6:
        if f.st.state == FS_CLOSED:
            return TC_TCP_CLOSED
        return TC_TCP_ESTABLISHED if f.st.state == FS_ESTABLISHED else TC_TCP_NEW
    return TC_OTHER_ESTABLISHED if f.st.state == FS_ESTABLISHED else TC_OTHER_NEW


cdef void flow_tuple(Flow *f, FlowTuple *t) noexcept nogil:
    """The flow's identity as records carry it: initiator first."""
    t.flow_id = f.flow_id
    if f.init_is_a:
        memcpy(t.src, f.key.addr_a, 16)
        memcpy(t.dst, f.key.addr_b, 16)
        t.sport = f.key.port_a
        t.dport = f.key.port_b
    else:
        memcpy(t.src, f.key.addr_b, 16)
        memcpy(t.dst, f.key.addr_a, 16)
        t.sport = f.key.port_b
        t.dport = f.key.port_a
    memcpy(t.vlan, f.key.vlan, sizeof(t.vlan))
    t.family = f.key.family
    t.proto = f.key.proto
    t.depth = f.key.depth


cdef FlowEnd *flow_record_out(FlowTable *ft, Flow *f, uint8_t reason,
                              int64_t now_us) noexcept nogil:
    """Queue a copy of the flow's record (at its end, or an interim one)."""
    cdef FlowEnd *e
    cdef FlowEnd *grown
    cdef uint32_t new_cap
    if ft.n_ended == ft.cap_ended:
        new_cap = 256 if ft.cap_ended == 0 else ft.cap_ended * 2
        grown = <FlowEnd *>realloc(ft.ended, new_cap * sizeof(FlowEnd))
        if grown == NULL:
            return NULL
        ft.ended = grown
        ft.cap_ended = new_cap
    e = &ft.ended[ft.n_ended]
    ft.n_ended += 1
    flow_tuple(f, &e.t)
    e.reason = reason
    e.st = f.st
    e.end_us = now_us
    return e


cdef int flow_emit(FlowTable *ft, int32_t slot, uint8_t reason, int64_t now_us) noexcept nogil:
    """Copy a flow's record out, then free its slot."""
    cdef Flow *f = &ft.flows[slot]
    if f.sess != NULL:
        handshake_handover(ft, slot, now_us)     # before the flow record: Python
                                                 # names the flow's app_proto from it
    if f.ja4ssh != NULL:
        ja4ssh_emit(ft, f, now_us)               # the last, partial window
        ja4ssh_stop(ft, f)
    if flow_record_out(ft, f, reason, now_us) == NULL:
        return -1
    lru_unlink(ft, slot)
    interim_unlink(ft, slot)
    flow_index_remove(ft, <uint32_t>slot)
    f.in_use = 0
    f.lru_next = ft.free_head
    ft.free_head = slot
    ft.active -= 1
    return 0


cdef inline bint flow_timed_out(FlowTable *ft, Flow *f, int64_t now_us) noexcept nogil:
    return f.st.last_us + ft.timeout_us[f.lru_class] < now_us


cdef void flow_interim(FlowTable *ft, int32_t slot, int64_t now_us) noexcept nogil:
    """A long flow is seen before it ends: its counters so far (not deltas)."""
    ft.flows[slot].interim_mark_us = now_us
    interim_unlink(ft, slot)
    interim_append(ft, slot)
    if flow_record_out(ft, &ft.flows[slot], END_INTERIM, now_us) != NULL:
        ft.interims += 1


cdef void flow_timeouts(FlowTable *ft, int64_t now_us) noexcept nogil:
    """End every flow idle past its class's timeout (heads are the oldest)."""
    cdef int c
    cdef int32_t slot
    for c in range(TC_COUNT):
        slot = ft.lru_head[c]
        while slot >= 0 and ft.flows[slot].st.last_us + ft.timeout_us[c] < now_us:
            flow_emit(ft, slot, END_TIMEOUT, now_us)
            ft.timed_out += 1
            slot = ft.lru_head[c]


cdef void flow_interims(FlowTable *ft, int64_t now_us) noexcept nogil:
    """An interim record for every open flow whose record is due, also when
    it has been idle since: a quiet persistent connection is seen too (the
    list is oldest mark first, so only the due flows are visited)."""
    cdef int32_t slot
    if not ft.interim_us:
        return
    slot = ft.interim_head
    while slot >= 0 and now_us - ft.flows[slot].interim_mark_us >= ft.interim_us:
        flow_interim(ft, slot, now_us)
        slot = ft.interim_head


cdef void flow_sweep(FlowTable *ft, int64_t now_us) noexcept nogil:
    flow_timeouts(ft, now_us)
    flow_interims(ft, now_us)


cdef void flow_flush(FlowTable *ft, int64_t now_us) noexcept nogil:
    cdef int c
    for c in range(TC_COUNT):
        while ft.lru_head[c] >= 0:
            flow_emit(ft, ft.lru_head[c], END_SHUTDOWN, now_us)


cdef int32_t flow_evict_oldest(FlowTable *ft, int64_t now_us) noexcept nogil:
    cdef int c, best = -1
    for c in range(TC_COUNT):
        if ft.lru_head[c] >= 0 and (best < 0 or ft.flows[ft.lru_head[c]].st.last_us
                                    < ft.flows[ft.lru_head[best]].st.last_us):
            best = c
    if best < 0:
        return -1
    flow_emit(ft, ft.lru_head[best], END_MEMCAP, now_us)
    ft.evicted_memcap += 1
    return 0


cdef inline bint packet_from_a(PacketView *pv, FlowKey *k) noexcept nogil:
    """Fill the canonical key (lower endpoint first); True if the packet's
    source is that lower endpoint."""
    cdef int c = addr_order(pv.src, pv.dst)
    memset(k, 0, sizeof(FlowKey))
    k.proto = pv.proto
    k.family = pv.family
    k.depth = pv.depth
    memcpy(k.vlan, pv.vlan, sizeof(k.vlan))
    if c < 0 or (c == 0 and pv.sport <= pv.dport):
        memcpy(k.addr_a, pv.src, 16)
        memcpy(k.addr_b, pv.dst, 16)
        k.port_a = pv.sport
        k.port_b = pv.dport
        return True
    memcpy(k.addr_a, pv.dst, 16)
    memcpy(k.addr_b, pv.src, 16)
    k.port_a = pv.dport
    k.port_b = pv.sport
    return False


cdef int32_t flow_find(FlowTable *ft, FlowKey *k, uint64_t h) noexcept nogil:
    cdef uint32_t i = <uint32_t>h & ft.index_mask
    cdef uint32_t s
    while True:
        s = ft.index[i]
        if s == 0:
            return -1
        if ft.flows[s - 1].hash == h and flow_key_equal(&ft.flows[s - 1].key, k):
            return <int32_t>(s - 1)
        i = (i + 1) & ft.index_mask


cdef int32_t flow_create(FlowTable *ft, FlowKey *k, uint64_t h, int64_t now_us) noexcept nogil:
    cdef int32_t slot
    cdef Flow *f
    if ft.free_head < 0 and flow_table_grow(ft) < 0:
        if flow_evict_oldest(ft, now_us) < 0:
            return -1
    slot = ft.free_head
    f = &ft.flows[slot]
    ft.free_head = f.lru_next
    memset(f, 0, sizeof(Flow))
    memcpy(&f.key, k, sizeof(FlowKey))
    f.hash = h
    f.flow_id = (h ^ (<uint64_t>now_us * <uint64_t>0xC2B2AE3D27D4EB4F)) & FLOW_ID_MASK
    if f.flow_id == 0:
        f.flow_id = 1
    f.in_use = 1
    f.st.first_us = now_us
    f.interim_mark_us = now_us
    interim_append(ft, slot)
    f.st.state = FS_NEW
    if not ft.capture_handshakes:
        f.hs_state = HS_BYPASS
    flow_index_insert(ft, <uint32_t>slot)
    lru_append(ft, slot, flow_timeout_class(f))
    ft.active += 1
    ft.created += 1
    return slot


cdef void flow_update_state(Flow *f, PacketView *pv, bint toserver) noexcept nogil:
    cdef uint8_t fl = pv.tcp_flags
    if f.key.proto != 6:
        if f.st.pkts_ts and f.st.pkts_tc:
            f.st.state = FS_ESTABLISHED
        return
    if fl & TH_RST:
        f.st.state = FS_CLOSED
    elif fl & TH_FIN:
        f.fin_seen |= 1 if toserver else 2
        if f.fin_seen == 3:
            f.st.state = FS_CLOSED
    elif f.st.state == FS_NEW and f.st.pkts_ts and f.st.pkts_tc:
        # a three-way handshake completed, or a midstream pickup saw both sides
        if (f.st.flags_ts & TH_SYN) == 0 or ((f.st.flags_tc & TH_SYN) and toserver and (fl & TH_ACK)):
            f.st.state = FS_ESTABLISHED


cdef int flow_packet(FlowTable *ft, PacketView *pv, int64_t now_us) noexcept nogil:
    """Account one decoded packet to its flow, creating the flow if needed.
    Returns 0, FLOW_ICMP_ERROR_MAPPED when an ICMP error joined the flow it
    quotes, or -1 when no flow could be allocated. Once per sweep interval,
    idle flows time out before the packet and interim records are written
    after it (a packet arriving when its flow's record is due is in it)."""
    cdef bint sweep = now_us >= ft.next_sweep_us
    cdef int rc
    if sweep:
        flow_timeouts(ft, now_us)
        ft.next_sweep_us = now_us + SWEEP_INTERVAL_US
    rc = flow_packet_account(ft, pv, now_us)
    if sweep:
        flow_interims(ft, now_us)
    return rc


cdef int flow_packet_account(FlowTable *ft, PacketView *pv, int64_t now_us) noexcept nogil:
    cdef FlowKey k
    cdef uint64_t h
    cdef int32_t slot
    cdef Flow *f
    cdef bint from_a, toserver
    cdef uint8_t cls
    if pv.emb_proto:
        # destination unreachable: charge the quoted flow if it is known
        slot = flow_find_quoted(ft, pv, &k, &h, &from_a)
        if slot >= 0 and flow_timed_out(ft, &ft.flows[slot], now_us):
            # idle past its timeout: the flow ends, the error gets its own flow
            flow_emit(ft, slot, END_TIMEOUT, now_us)
            ft.timed_out += 1
            slot = -1
        if slot >= 0:
            flow_account(ft, slot, pv, from_a, now_us)
            return FLOW_ICMP_ERROR_MAPPED
    from_a = packet_from_a(pv, &k)
    h = flow_key_hash(&k)
    slot = flow_find(ft, &k, h)
    if slot >= 0 and flow_timed_out(ft, &ft.flows[slot], now_us):
        flow_emit(ft, slot, END_TIMEOUT, now_us)
        ft.timed_out += 1
        slot = -1
    if slot < 0:
        slot = flow_create(ft, &k, h, now_us)
        if slot < 0:
            return -1
        f = &ft.flows[slot]
        # a SYN-ACK seen first means we missed the SYN: its receiver initiated
        if pv.proto == 6 and (pv.tcp_flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK):
            f.init_is_a = not from_a
        else:
            f.init_is_a = from_a
    return flow_account(ft, slot, pv, from_a, now_us)


cdef int32_t flow_find_quoted(FlowTable *ft, PacketView *pv, FlowKey *k, uint64_t *h,
                              bint *from_a) noexcept nogil:
    """Look up the flow of the packet an ICMP error quotes, in its reply direction."""
    cdef PacketView q
    memcpy(&q, pv, sizeof(PacketView))
    memset(q.src, 0, 32)
    memcpy(q.src, pv.emb_dst, 4)
    memcpy(q.dst, pv.emb_src, 4)
    q.sport = pv.emb_dport
    q.dport = pv.emb_sport
    q.proto = pv.emb_proto
    q.family = 4
    from_a[0] = packet_from_a(&q, k)
    h[0] = flow_key_hash(k)
    return flow_find(ft, k, h[0])


cdef int flow_account(FlowTable *ft, int32_t slot, PacketView *pv, bint from_a,
                      int64_t now_us) noexcept nogil:
    cdef Flow *f = &ft.flows[slot]
    cdef bint toserver = from_a == f.init_is_a
    cdef uint8_t cls
    cdef int d = 0 if toserver else 1
    ft.charged_slot = slot
    # before the counters: JA4SSH, started here, counts the packets before this one
    if f.hs_state != HS_BYPASS and pv.proto == f.key.proto:
        capture_packet(ft, slot, pv, toserver, now_us)
    if toserver:
        f.st.pkts_ts += 1
        f.st.bytes_ts += pv.flow_len
        f.st.flags_ts |= pv.tcp_flags
        if f.st.pkts_ts == 1 and (pv.proto == 1 or pv.proto == 58):
            f.st.icmp_type = pv.icmp_type
            f.st.icmp_code = pv.icmp_code
    else:
        f.st.pkts_tc += 1
        f.st.bytes_tc += pv.flow_len
        f.st.flags_tc |= pv.tcp_flags
        if not f.st.has_resp_icmp and (pv.proto == 1 or pv.proto == 58):
            f.st.resp_icmp_type = pv.icmp_type
            f.st.resp_icmp_code = pv.icmp_code
            f.st.has_resp_icmp = 1
    if pv.proto == 6 and pv.tcp_flags != TH_ACK and f.not_bare_ack[d] < 255:
        f.not_bare_ack[d] += 1
    if now_us > f.st.last_us:
        f.st.last_us = now_us
    flow_update_state(f, pv, toserver)
    if pv.proto == 6 and f.key.proto == 6:
        loss_packet(ft, f, pv, d)
    if f.ja4ssh != NULL and pv.proto == 6:
        ja4ssh_packet(ft, f, pv, toserver, now_us)
    if ft.interim_us and now_us - f.interim_mark_us >= ft.interim_us:
        flow_interim(ft, slot, now_us)
    # move to the tail of its (possibly new) class: lists stay time-ordered
    cls = flow_timeout_class(f)
    lru_unlink(ft, slot)
    lru_append(ft, slot, cls)
    return 0
