# cython: language_level=3
"""The exfilwatch core: batches of frames in, flow records out.

A thin hub: the bodies live in the included .pxi files, one per concern;
the declarations are in _core.pxd. No Python object is created per packet.
"""
from .records import (FlowRecord, HalfCapture, HandshakeRecord, Ja4sshRecord, HALF_KINDS,
                      HALF_FLAG_NAMES)

include "_capfile.pxi"
include "_afpacket.pxi"
include "_decode.pxi"
include "_frag.pxi"
include "_flows.pxi"
include "_loss.pxi"
include "_tcp.pxi"
include "_ja4ssh.pxi"
include "_ssh.pxi"
include "_tls.pxi"
include "_keep.pxi"

DECODE_STATUS_NAMES = (
    "ok", "not_flow", "fragment", "unknown_linktype", "l2_truncated", "ipv4_header",
    "ipv6_header", "ipv6_exthdr", "tcp_header", "udp_header", "icmp_header", "tunnel",
    "too_deep", "fragment_dropped",
)
EXTRA_COUNTER_NAMES = ("ipv4_truncated", "ipv6_truncated", "tunnelled", "icmp_error_mapped",
                       "vlan_extra_tags")
STATE_NAMES = ("new", "established", "closed")

cdef enum:
    FRAME_PREFETCH = 8      # packets ahead whose headers are fetched
REASON_NAMES = ("timeout", "shutdown", "memcap", "interim")


# the flow key is hashed and compared as whole 64-bit words
assert sizeof(FlowKey) == FLOW_KEY_WORDS * 8, "FlowKey must stay 48 bytes"


cdef int64_t _seconds_to_us(double seconds):
    # rounded, not truncated: 2.01 s must be 2,010,000 us, not 2,009,999
    return <int64_t>round(seconds * 1e6)


cdef class FlowEngine:
    """Decodes batches of captured frames and keeps the bounded flow table."""

    cdef FlowTable table
    cdef FragTable frags
    cdef KeepRing keep
    cdef DecodeCtx ctx
    cdef uint64_t counters_[CNT_DECODE_COUNTERS]
    cdef uint64_t packets
    cdef uint64_t bytes
    cdef uint64_t out_of_bounds
    cdef int64_t last_ts_us
    cdef readonly object config

    def __cinit__(self, config=None):
        from .config import CoreConfig
        if config is None:
            config = CoreConfig()
        self.config = config
        cdef int64_t timeouts[5]
        timeouts[TC_TCP_NEW] = _seconds_to_us(config.tcp_timeout_new_s)
        timeouts[TC_TCP_ESTABLISHED] = _seconds_to_us(config.tcp_timeout_established_s)
        timeouts[TC_TCP_CLOSED] = _seconds_to_us(config.tcp_timeout_closed_s)
        timeouts[TC_OTHER_NEW] = _seconds_to_us(config.other_timeout_new_s)
        timeouts[TC_OTHER_ESTABLISHED] = _seconds_to_us(config.other_timeout_established_s)
        memset(self.counters_, 0, sizeof(self.counters_))
        flow_table_init(&self.table, config.max_flows, timeouts)
        frag_table_init(&self.frags, config.max_fragment_sets,
                        _seconds_to_us(config.fragment_timeout_s))
        self.table.interim_us = _seconds_to_us(config.interim_interval_s)
        self.table.capture_handshakes = config.capture_handshakes
        self.table.hs_bytes_cap = config.handshake_bytes_per_direction
        self.table.hs_preamble_cap = config.handshake_preamble_bytes
        self.table.ooo_max = config.max_ooo_segments
        self.table.quic_datagrams_max = config.quic_max_datagrams
        self.table.hs_mem_cap = <uint64_t>config.handshake_memory_mb << 20
        keep_ring_init(&self.keep, <uint32_t>config.keep_kib_per_flow << 10,
                       <uint64_t>config.keep_memory_mb << 20)
        self.ctx.frags = &self.frags
        self.ctx.counters = self.counters_
        self.last_ts_us = 0

    def __dealloc__(self):
        flow_table_free(&self.table)
        frag_table_free(&self.frags)
        keep_ring_free(&self.keep)

    def process(self, batch):
        """Decode and account every packet of a capture batch."""
        self._process(batch, None, None)

    def tag_flows(self, batch, uint64_t[::1] flow_ids not None,
                  uint64_t[::1] outer_flow_ids not None):
        """Process a batch as process() does and write each packet's flow_id,
        exactly as the flow records carry it, into flow_ids (0: the packet
        was charged to no flow) and, for a UDP tunnel's packet (VXLAN,
        Geneve, Teredo), the outer flow's flow_id into outer_flow_ids (else
        0). The flow table decides, so timeouts, initiator orientation,
        ICMP errors joining the flow they quote and memcap evictions give
        the same flows as the run that wrote the records."""
        if flow_ids.shape[0] < batch.count or outer_flow_ids.shape[0] < batch.count:
            raise ValueError("flow id arrays are shorter than batch.count")
        self._process(batch, flow_ids, outer_flow_ids)

    cdef _process(self, batch, uint64_t[::1] flow_ids, uint64_t[::1] outer_flow_ids):
        cdef const uint8_t[::1] buf = batch.buf
        cdef const uint64_t[::1] offsets = batch.offsets
        cdef const uint32_t[::1] caplens = batch.caplens
        cdef const uint32_t[::1] wirelens = batch.wirelens
        cdef const int64_t[::1] ts_us = batch.ts_us
        cdef const uint16_t[::1] linktypes = batch.linktypes
        cdef Py_ssize_t n = batch.count, i
        cdef size_t buflen = buf.shape[0]
        cdef const uint8_t *base
        cdef uint64_t *tags = NULL
        cdef uint64_t *outer_tags = NULL
        if n == 0:
            return
        # a batch of zero-length frames has an empty buffer: &buf[0] would
        # index past its end (IndexError in the bounds-checked builds)
        base = &buf[0] if buflen > 0 else <const uint8_t *> b""
        if offsets.shape[0] < n or caplens.shape[0] < n or wirelens.shape[0] < n \
                or ts_us.shape[0] < n or linktypes.shape[0] < n:
            raise ValueError("batch arrays are shorter than batch.count")
        if flow_ids is not None:
            tags = &flow_ids[0]
            outer_tags = &outer_flow_ids[0]
        with nogil:
            for i in range(n):
                # frames were scanned a whole batch ago and have left the
                # cache: fetch the headers of a frame a few packets ahead
                if i + FRAME_PREFETCH < n and offsets[i + FRAME_PREFETCH] < buflen:
                    __builtin_prefetch(base + offsets[i + FRAME_PREFETCH])
                    __builtin_prefetch(base + offsets[i + FRAME_PREFETCH] + 64)
                if tags != NULL:
                    tags[i] = 0
                    outer_tags[i] = 0
                if offsets[i] + caplens[i] > buflen:
                    self.out_of_bounds += 1
                    continue
                if tags != NULL:
                    self._packet(base + offsets[i], caplens[i], wirelens[i], linktypes[i],
                                 ts_us[i], tags + i, outer_tags + i)
                else:
                    self._packet(base + offsets[i], caplens[i], wirelens[i], linktypes[i],
                                 ts_us[i], NULL, NULL)

    cdef inline void _packet(self, const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
                             uint16_t linktype, int64_t ts_us, uint64_t *tag,
                             uint64_t *outer_tag) noexcept nogil:
        """Account one frame; when tag is not NULL, store the flow_id of the
        flow it was charged to (and of its UDP tunnel's outer flow)."""
        cdef PacketView pv
        cdef int rc
        cdef uint64_t flow_id
        self.packets += 1
        self.bytes += caplen
        if ts_us > self.last_ts_us:
            self.last_ts_us = ts_us
        frag_release_pending(&self.frags)
        self.ctx.ts_us = ts_us
        rc = decode_frame(&self.ctx, frame, caplen, linktype, &pv)
        self.counters_[rc] += 1
        if self.ctx.has_outer:
            self.table.charged_slot = -1
            flow_packet(&self.table, &self.ctx.outer, ts_us)
            flow_id = self._charged(frame, caplen, wirelen, linktype, ts_us)
            if outer_tag != NULL:
                outer_tag[0] = flow_id
        if rc == DEC_OK:
            self.table.charged_slot = -1
            if flow_packet(&self.table, &pv, ts_us) == FLOW_ICMP_ERROR_MAPPED:
                self.counters_[CNT_ICMP_ERROR_MAPPED] += 1
            flow_id = self._charged(frame, caplen, wirelen, linktype, ts_us)
            if tag != NULL:
                tag[0] = flow_id

    cdef inline uint64_t _charged(self, const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
                                  uint16_t linktype, int64_t ts_us) noexcept nogil:
        """The flow_id of the flow the frame was just charged to (0: none);
        the frame is kept while that flow is within its keep budget."""
        cdef Flow *f
        if self.table.charged_slot < 0:
            return 0
        f = &self.table.flows[self.table.charged_slot]
        if f.kept_bytes < self.keep.per_flow:
            keep_frame(&self.keep, f.flow_id, frame, caplen, wirelen, linktype, ts_us)
            # saturates at the budget: only "below it" matters
            f.kept_bytes = <uint32_t>min(<uint64_t>f.kept_bytes + caplen, self.keep.per_flow)
        return f.flow_id

    def flush(self):
        """End every open flow with reason "shutdown" (end of input)."""
        flow_flush(&self.table, self.last_ts_us)

    def expire(self, int64_t now_us):
        """Time out idle flows up to packet time `now_us` (idle live capture)."""
        flow_sweep(&self.table, now_us)

    @property
    def active_flows(self):
        return self.table.active

    @property
    def packets_seen(self):
        return self.packets

    @property
    def last_packet_us(self):
        """Latest packet time seen, microseconds since the epoch (0 before any)."""
        return self.last_ts_us

    @property
    def ack_gap_events(self):
        """(ACK events, gap events) so far: the capture-loss counters, cheaply."""
        return self.table.ack_events, self.table.gap_events

    def take_flows(self, dict app_protos=None):
        """The records of flows ended since the last call, oldest first.

        With `app_protos` (flow_id -> app_proto, as the handshake layer named
        the flows) each record carries its flow's name, and a flow's entry
        leaves the dict with its final record (an interim record keeps it)."""
        cdef uint32_t i
        out = []
        for i in range(self.table.n_ended):
            out.append(_flow_record(&self.table.ended[i], app_protos))
        self.table.n_ended = 0
        return out

    def take_handshakes(self):
        """Handshakes handed over since the last call (take them before
        take_flows: a flow's handshake is queued before its flow record)."""
        cdef uint32_t i
        cdef HandshakeEnd *e
        out = []
        for i in range(self.table.n_handshakes):
            e = &self.table.handshakes[i]
            out.append(_handshake_record(e))
            session_free(&self.table, e.sess)
            e.sess = NULL
        self.table.n_handshakes = 0
        return out

    def take_ja4ssh(self):
        """JA4SSH windows completed since the last call."""
        cdef uint32_t i
        cdef Ja4sshEnd *e
        out = []
        for i in range(self.table.n_ja4ssh):
            e = &self.table.ja4ssh_ends[i]
            out.append(_record(Ja4sshRecord, _tuple_fields(&e.t), (
                e.index, e.mode[0], e.mode[1], e.pkts[0], e.pkts[1],
                e.acks[0], e.acks[1], e.at_us)))
        self.table.n_ja4ssh = 0
        return out

    def memory_bytes(self):
        """What the core holds in C memory now, and the most its caps allow
        (flow slots and index at max_flows, handshake buffers at their
        memcap): the bound a flood must stay within."""
        cdef uint64_t index_at_cap = 2
        while index_at_cap < <uint64_t>self.table.max_flows * 2:
            index_at_cap <<= 1
        return {
            "flow_table": self.table.capacity * sizeof(Flow)
                          + ((self.table.index_mask + 1) if self.table.index != NULL else 0) * 4,
            "flow_table_cap": self.table.max_flows * sizeof(Flow) + index_at_cap * 4,
            "handshakes": self.table.hs_mem_used,
            "handshakes_cap": self.table.hs_mem_cap,
            "fragments_cap": self.frags.size * sizeof(FragTracker),
        }

    def kept_packets(self, flow_ids):
        """The kept frames of these flows, oldest first, as (flow_id, ts_us,
        linktype, wirelen, frame bytes); they stay in the ring."""
        cdef set wanted = {int(x) for x in flow_ids}
        cdef uint64_t off = self.keep.tail, i
        cdef KeptHeader *h
        out = []
        for i in range(self.keep.count):
            h = keep_at(&self.keep, off)
            if h.flow_id in wanted:
                out.append((h.flow_id, h.ts_us, h.linktype, h.wirelen,
                            (<const char *>self.keep.buf)[off + sizeof(KeptHeader):
                                                          off + sizeof(KeptHeader) + h.caplen]))
            off = keep_next(&self.keep, off)
        return out

    def counters(self):
        c = {
            "packets": self.packets,
            "bytes": self.bytes,
            "batch_out_of_bounds": self.out_of_bounds,
            "flows_created": self.table.created,
            "flows_active": self.table.active,
            "flows_timed_out": self.table.timed_out,
            "flow.interim_records": self.table.interims,
            "flow.evicted_memcap": self.table.evicted_memcap,
            "frag.reassembled": self.frags.reassembled,
            "frag.evicted": self.frags.evicted,
            "tcp.ooo_dropped": self.table.ooo_dropped,
            "tcp.overlap_differs": self.table.overlap_differs,
            "tcp.ack_events": self.table.ack_events,
            "tcp.gap_events": self.table.gap_events,
            "tcp.gap_bytes": self.table.gap_bytes,
            "handshake.truncated": self.table.hs_truncated,
            "handshake.memcap": self.table.hs_memcap_hits,
            "handshake.memory_bytes": self.table.hs_mem_used,
            "keep.packets": self.keep.kept,
            "keep.evicted": self.keep.evicted,
            "keep.packets_held": self.keep.count,
        }
        for i, name in enumerate(DECODE_STATUS_NAMES):
            c["decode." + name] = self.counters_[i]
        for i, name in enumerate(EXTRA_COUNTER_NAMES):
            c["decode." + name] = self.counters_[DEC_STATUS_COUNT + i]
        return c


cdef extern from "<arpa/inet.h>" nogil:
    const char *inet_ntop(int af, const void *src, char *dst, unsigned int size)

from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_SET_ITEM
from cpython.type cimport PyType_GenericAlloc

cdef extern from "Python.h":
    object PyUnicode_FromString(const char *u)
    object PyUnicode_FromStringAndSize(const char *u, Py_ssize_t size)


cdef extern from "<sys/socket.h>":
    int AF_INET6


cdef str _ip_text(const uint8_t *addr, uint8_t family):
    cdef char text[48]
    cdef int n = 0, i
    cdef uint8_t b
    if family == 4:
        # dotted decimal written here: glibc's inet_ntop formats IPv4 with
        # sprintf, which was the largest cost of taking records out of the
        # core (two addresses per flow record and per handshake record)
        for i in range(4):
            b = addr[i]
            if b >= 100:
                text[n] = c'0' + b // 100
                n += 1
            if b >= 10:
                text[n] = c'0' + b // 10 % 10
                n += 1
            text[n] = c'0' + b % 10
            text[n + 1] = c'.'
            n += 2
        return PyUnicode_FromStringAndSize(text, n - 1)
    inet_ntop(AF_INET6, addr, text, sizeof(text))
    return PyUnicode_FromString(text)


cdef tuple _tuple_fields(FlowTuple *t):
    """flow_id, src_ip, src_port, dest_ip, dest_port, proto, vlan: the
    leading fields of every record type."""
    # most flows have no VLAN tag: skip building and filtering a list for them
    vlan = tuple([v for v in t.vlan[:3] if v]) if t.vlan[0] or t.vlan[1] or t.vlan[2] else ()
    return (t.flow_id, _ip_text(t.src, t.family), t.sport, _ip_text(t.dst, t.family), t.dport,
            t.proto, vlan)


cdef object _record(type cls, tuple lead, tuple rest):
    """The NamedTuple `cls` holding lead's items, then rest's: what
    tuple.__new__(cls, (*lead, *rest)) gives, without the list, the
    intermediate tuples and the Python-level call it costs. Runs once per
    record leaving the core."""
    cdef Py_ssize_t n = len(lead), i
    rec = PyType_GenericAlloc(cls, n + len(rest))     # a tuple subclass's own allocator
    for i in range(n):
        item = lead[i]
        Py_INCREF(item)                               # PyTuple_SET_ITEM steals a reference
        PyTuple_SET_ITEM(rec, i, item)
    for i in range(len(rest)):
        item = rest[i]
        Py_INCREF(item)
        PyTuple_SET_ITEM(rec, n + i, item)
    return rec


cdef object _flow_record(FlowEnd *e, dict app_protos):
    cdef FlowStats *s = &e.st
    cdef bint icmp = e.t.proto == 1 or e.t.proto == 58
    cdef bint resp = icmp and s.has_resp_icmp
    cdef bint interim = e.reason == END_INTERIM
    app_proto = None
    if app_protos:
        # named here rather than by a copy of the record made afterwards
        app_proto = (app_protos.get(e.t.flow_id) if interim
                     else app_protos.pop(e.t.flow_id, None))
    # built as the tuple itself, in FlowRecord's field order: this runs once
    # per flow and NamedTuple's Python-level __new__ doubled its cost
    return _record(FlowRecord, _tuple_fields(&e.t), (
        e.t.depth,
        s.pkts_ts, s.pkts_tc, s.bytes_ts, s.bytes_tc,
        s.first_us, s.last_us, e.end_us,
        STATE_NAMES[s.state], REASON_NAMES[e.reason],
        s.flags_ts, s.flags_tc,
        s.icmp_type if icmp else None,
        s.icmp_code if icmp else None,
        s.resp_icmp_type if resp else None,
        s.resp_icmp_code if resp else None,
        interim,
        app_proto,
        s.missed_bytes,
    ))


# the flag names of each of the 256 values of HalfStream.flags, made once
_HALF_FLAG_TUPLES = tuple(tuple([name for i, name in enumerate(HALF_FLAG_NAMES) if bits >> i & 1])
                          for bits in range(256))


cdef object _half_capture(HalfStream *h):
    data = (<const char *>h.buf)[:h.len] if h.len else b""
    return _record(HalfCapture, (
        HALF_KINDS[h.kind], data, h.start, _HALF_FLAG_TUPLES[h.flags],
        h.established_us if h.flags & HF_ESTABLISHED else None), ())


cdef object _handshake_record(HandshakeEnd *e):
    return _record(HandshakeRecord, _tuple_fields(&e.t), (
        e.first_us, e.at_us,
        _half_capture(&e.sess.half[0]),
        _half_capture(&e.sess.half[1]),
    ))


def decode_packet(frame, int linktype):
    """Test entry point: decode one frame and return its fields as a dict."""
    cdef const uint8_t[::1] data = frame
    cdef PacketView pv
    cdef FragTable frags
    cdef KeepRing keep
    cdef DecodeCtx ctx
    cdef uint64_t counters[CNT_DECODE_COUNTERS]
    cdef int rc
    memset(counters, 0, sizeof(counters))
    frag_table_init(&frags, 0, 0)
    ctx.frags = &frags
    ctx.counters = counters
    ctx.ts_us = 0
    if data.shape[0] == 0:
        rc = decode_frame(&ctx, NULL, 0, <uint16_t>linktype, &pv)
    else:
        rc = decode_frame(&ctx, &data[0], <uint32_t>data.shape[0], <uint16_t>linktype, &pv)
    out = {"status": DECODE_STATUS_NAMES[rc]}
    if rc != DEC_OK:
        return out
    out.update(
        family=pv.family,
        src_ip=_ip_text(pv.src, pv.family),
        dst_ip=_ip_text(pv.dst, pv.family),
        proto=pv.proto,
        sport=pv.sport,
        dport=pv.dport,
        vlan=tuple(pv.vlan[i] for i in range(pv.nvlan)),
        depth=pv.depth,
        tcp_flags=pv.tcp_flags,
        icmp_type=pv.icmp_type,
        icmp_code=pv.icmp_code,
        payload=(<const char *>pv.payload)[:pv.payload_len] if pv.payload_len else b"",
        flow_len=pv.flow_len,
    )
    return out
