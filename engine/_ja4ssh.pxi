# JA4SSH (FoxIO, FoxIO License 1.1): per window of 200 SSH packets (packets
# with payload) of a flow, the most common payload length per direction, the
# packets with payload and the bare ACKs per direction. Counted in the core because it
# needs every packet of the session, long after the handshake is handed over.

cdef void ja4ssh_start(FlowTable *ft, Flow *f) noexcept nogil:
    """SSH was just recognised: open the first window, counting the bare
    ACKs the flow has had so far (before this packet, the first with SSH)."""
    cdef Ja4ssh *j
    cdef int d
    if f.ja4ssh != NULL or f.ja4ssh_done:
        return
    if ft.hs_mem_used + sizeof(Ja4ssh) > ft.hs_mem_cap:
        ft.hs_memcap_hits += 1
        f.ja4ssh_done = 1
        return
    j = <Ja4ssh *>malloc(sizeof(Ja4ssh))
    if j == NULL:
        f.ja4ssh_done = 1
        return
    memset(j, 0, sizeof(Ja4ssh))
    ft.hs_mem_used += sizeof(Ja4ssh)
    j.index = 1
    j.acks[0] = <uint32_t>(f.st.pkts_ts - f.not_bare_ack[0])
    j.acks[1] = <uint32_t>(f.st.pkts_tc - f.not_bare_ack[1])
    f.ja4ssh = j


cdef void ja4ssh_stop(FlowTable *ft, Flow *f) noexcept nogil:
    if f.ja4ssh != NULL:
        free(f.ja4ssh)
        ft.hs_mem_used -= sizeof(Ja4ssh)
        f.ja4ssh = NULL
    f.ja4ssh_done = 1


cdef uint16_t ja4ssh_mode(const uint16_t *lens, uint16_t n) noexcept nogil:
    """The most frequent value; on a tie the one seen first (as FoxIO's
    reference does). n <= 200, so counting pairwise is cheap enough."""
    cdef uint16_t i, k, best = 0, best_count = 0, c
    for i in range(n):
        c = 0
        for k in range(n):
            if lens[k] == lens[i]:
                c += 1
        if c > best_count:
            best = lens[i]
            best_count = c
    return best


cdef void ja4ssh_emit(FlowTable *ft, Flow *f, int64_t now_us) noexcept nogil:
    """Queue the current window's fingerprint if it saw SSH payload."""
    cdef Ja4ssh *j = f.ja4ssh
    cdef Ja4sshEnd *e
    cdef Ja4sshEnd *grown
    cdef uint32_t new_cap
    cdef int d
    if j.pkts[0] + j.pkts[1] == 0:
        return
    if ft.n_ja4ssh == ft.cap_ja4ssh:
        new_cap = 64 if ft.cap_ja4ssh == 0 else ft.cap_ja4ssh * 2
        grown = <Ja4sshEnd *>realloc(ft.ja4ssh_ends, new_cap * sizeof(Ja4sshEnd))
        if grown == NULL:
            return
        ft.ja4ssh_ends = grown
        ft.cap_ja4ssh = new_cap
    e = &ft.ja4ssh_ends[ft.n_ja4ssh]
    ft.n_ja4ssh += 1
    flow_tuple(f, &e.t)
    e.index = j.index
    for d in range(2):
        e.mode[d] = ja4ssh_mode(j.lens[d], j.n_lens[d])
        e.pkts[d] = j.pkts[d]
        e.acks[d] = j.acks[d]
    e.at_us = now_us


cdef void ja4ssh_packet(FlowTable *ft, Flow *f, PacketView *pv, bint toserver,
                        int64_t now_us) noexcept nogil:
    cdef Ja4ssh *j = f.ja4ssh
    cdef int d = 0 if toserver else 1
    cdef uint32_t index
    if pv.payload_len:
        j.count += 1
        if j.n_lens[d] < JA4SSH_WINDOW:
            j.lens[d][j.n_lens[d]] = <uint16_t>(pv.payload_len if pv.payload_len < 65535 else 65535)
            j.n_lens[d] += 1
        j.pkts[d] += 1
    elif pv.tcp_flags == TH_ACK:
        # a bare ACK: the ACK flag alone (a FIN-ACK or PSH-ACK is not one)
        j.acks[d] += 1
    # the last window runs to the end of the flow, teardown ACKs included, as
    # FoxIO's Rust implementation counts it (its Python one stops at the first FIN)
    if j.count >= JA4SSH_WINDOW:
        ja4ssh_emit(ft, f, now_us)
        index = j.index
        memset(j, 0, sizeof(Ja4ssh))
        j.index = index + 1
