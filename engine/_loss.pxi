# Capture-loss inference from TCP acknowledgements (included by _core.pyx).
#
# A receiver only acknowledges bytes it got, so an ACK that covers bytes
# the capture never saw proves the capture lost them (Zeek's capture-loss
# script, "gap events": ACKs for a sequence number above a gap). Per flow
# and direction we keep the highest sequence end seen and one unfilled
# range below it (later holes are not tracked while one is pending: the
# estimate errs low, never high). An ACK that advances is an "ack event";
# if the bytes it newly covers include unseen ones, a "gap event" and the
# unseen bytes are added to the flow's missed_bytes.

cdef enum:
    # a jump this large between what was seen and what is acknowledged is
    # a broken or desynchronised packet, not loss: resynchronise silently
    LOSS_MAX_JUMP = 1 << 28


cdef inline bint seq_after(uint32_t a, uint32_t b) noexcept nogil:
    """a comes after b in sequence space (RFC 1982 serial arithmetic)."""
    return <int32_t>(a - b) > 0


cdef inline void loss_data(LossTrack *t, PacketView *pv, int d) noexcept nogil:
    """Direction d sent the sequence range of this segment."""
    cdef uint32_t seq = pv.seq
    cdef uint32_t end = seq + pv.payload_len
    cdef uint8_t bit = <uint8_t>(1 << d)
    if pv.tcp_flags & TH_SYN:
        t.seq_end[d] = seq + 1
        t.known |= bit
        t.hole &= <uint8_t>~bit
        return
    if pv.tcp_flags & TH_FIN:
        end += 1
    if end == seq:
        return
    if not (t.known & bit):
        t.seq_end[d] = end            # picked up midstream: nothing before counts
        t.known |= bit
        return
    if seq_after(seq, t.seq_end[d]):
        if <uint32_t>(seq - t.seq_end[d]) >= LOSS_MAX_JUMP:
            t.seq_end[d] = end
            t.hole &= <uint8_t>~bit
            return
        if not (t.hole & bit):
            t.hole_lo[d] = t.seq_end[d]
            t.hole_hi[d] = seq
            t.hole |= bit
    elif t.hole & bit:
        # a retransmission or late segment fills the hole from either end
        if not seq_after(seq, t.hole_lo[d]) and seq_after(end, t.hole_lo[d]):
            t.hole_lo[d] = end
        elif seq_after(t.hole_hi[d], seq) and not seq_after(t.hole_hi[d], end):
            t.hole_hi[d] = seq
        if not seq_after(t.hole_hi[d], t.hole_lo[d]):
            t.hole &= <uint8_t>~bit
    if seq_after(end, t.seq_end[d]):
        t.seq_end[d] = end


cdef inline void loss_ack(FlowTable *ft, Flow *f, uint32_t ack, int d) noexcept nogil:
    """Direction d acknowledged the peer's bytes up to ``ack``."""
    cdef LossTrack *t = &f.loss
    cdef int p = 1 - d
    cdef uint8_t abit = <uint8_t>(4 << d)
    cdef uint8_t pbit = <uint8_t>(1 << p)
    cdef uint64_t missing = 0
    if not (t.known & abit) or not seq_after(ack, t.acked[d]) \
            or <uint32_t>(ack - t.acked[d]) >= LOSS_MAX_JUMP:
        t.acked[d] = ack
        t.known |= abit
        return
    t.acked[d] = ack
    if not (t.known & pbit):
        return
    ft.ack_events += 1
    if t.hole & pbit and seq_after(ack, t.hole_lo[p]):
        if seq_after(t.hole_hi[p], ack):       # the ACK covers the hole's start only
            missing += ack - t.hole_lo[p]
            t.hole_lo[p] = ack
        else:
            missing += t.hole_hi[p] - t.hole_lo[p]
            t.hole &= <uint8_t>~pbit
    if seq_after(ack, t.seq_end[p]):
        if <uint32_t>(ack - t.seq_end[p]) < LOSS_MAX_JUMP:
            missing += ack - t.seq_end[p]
        t.seq_end[p] = ack
    if missing:
        ft.gap_events += 1
        ft.gap_bytes += missing
        f.st.missed_bytes += missing


cdef inline void loss_packet(FlowTable *ft, Flow *f, PacketView *pv, int d) noexcept nogil:
    """Account one TCP packet of the flow, sent by direction d."""
    cdef LossTrack *t = &f.loss
    cdef int p = 1 - d
    cdef uint32_t ack
    # fast paths (most packets of a healthy capture): the next in-order
    # segment, and an ACK that moves within the data already seen
    if pv.payload_len and pv.seq == t.seq_end[d] and (t.known & (1 << d)) \
            and not (t.hole & (1 << d)) and not (pv.tcp_flags & (TH_SYN | TH_FIN)):
        t.seq_end[d] = pv.seq + pv.payload_len
    else:
        loss_data(t, pv, d)
    if not (pv.tcp_flags & TH_ACK):
        return
    ack = pv.ack
    if ack == t.acked[d] and (t.known & (4 << d)):
        return
    if (t.known & ((4 << d) | (1 << p))) == ((4 << d) | (1 << p)) and not (t.hole & (1 << p)) \
            and seq_after(ack, t.acked[d]) and not seq_after(ack, t.seq_end[p]):
        t.acked[d] = ack
        ft.ack_events += 1
        return
    loss_ack(ft, f, ack, d)
