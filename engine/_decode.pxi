# L2-L4 decode and tunnels. Pure functions of (bytes, ctx) -> PacketView;
# nothing here allocates except the fragment table, nothing raises.
from libc.string cimport memcpy, memset

cdef enum:
    LT_NULL = 0
    LT_ETHERNET = 1
    LT_PPP = 9
    LT_PPP_HDLC = 50
    LT_RAW_BSD = 12
    LT_RAW_OPENBSD = 14
    LT_RAW = 101
    LT_LOOP = 108
    LT_LINUX_SLL = 113
    LT_IPV4 = 228
    LT_IPV6 = 229
    LT_LINUX_SLL2 = 276

cdef enum:
    ETH_IPV4 = 0x0800
    ETH_IPV6 = 0x86DD
    ETH_VLAN = 0x8100
    ETH_QINQ = 0x88A8
    ETH_QINQ_OLD = 0x9100
    ETH_MPLS_UC = 0x8847
    ETH_MPLS_MC = 0x8848
    ETH_PPPOE_SESS = 0x8864
    ETH_BRIDGE = 0x6558      # transparent Ethernet bridging inside GRE/Geneve
    ETH_ERSPAN_II = 0x88BE   # also type I, told apart by the GRE sequence flag
    ETH_ERSPAN_III = 0x22EB
    ETH_PPP = 0x880B         # PPTP's enhanced GRE

cdef enum:
    UDP_PORT_VXLAN = 4789
    UDP_PORT_GENEVE = 6081
    UDP_PORT_TEREDO = 3544


cdef inline uint16_t rd16(const uint8_t *p) noexcept nogil:
    return (<uint16_t>p[0] << 8) | p[1]


cdef inline uint32_t rd32(const uint8_t *p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline uint32_t rd24(const uint8_t *p) noexcept nogil:
    return (<uint32_t>p[0] << 16) | (<uint32_t>p[1] << 8) | p[2]


cdef inline uint32_t rd32le(const uint8_t *p) noexcept nogil:
    return (<uint32_t>p[3] << 24) | (<uint32_t>p[2] << 16) | (<uint32_t>p[1] << 8) | p[0]


cdef int decode_frame(DecodeCtx *ctx, const uint8_t *p, uint32_t caplen, uint16_t linktype,
                      PacketView *pv) noexcept nogil:
    """Decode one captured frame down to its innermost flow-bearing layer."""
    cdef uint32_t fam
    memset(pv, 0, sizeof(PacketView))
    ctx.has_outer = False
    pv.pkt_start = p
    pv.flow_len = caplen
    if linktype == LT_ETHERNET:
        return decode_ethernet(ctx, p, caplen, pv)
    if linktype == LT_RAW or linktype == LT_RAW_BSD or linktype == LT_RAW_OPENBSD \
            or linktype == LT_IPV4 or linktype == LT_IPV6:
        return decode_ip_by_version(ctx, p, caplen, pv)
    if linktype == LT_PPP or linktype == LT_PPP_HDLC:
        return decode_ppp(ctx, p, caplen, pv)
    if linktype == LT_LINUX_SLL:
        if caplen < 16:
            return DEC_ERR_L2_TRUNCATED
        return decode_ethertype(ctx, rd16(p + 14), p + 16, caplen - 16, pv)
    if linktype == LT_LINUX_SLL2:
        if caplen < 20:
            return DEC_ERR_L2_TRUNCATED
        return decode_ethertype(ctx, rd16(p), p + 20, caplen - 20, pv)
    if linktype == LT_NULL or linktype == LT_LOOP:
        if caplen < 4:
            return DEC_ERR_L2_TRUNCATED
        # NULL is in the capturing host's byte order, LOOP in network order;
        # address families fit in 16 bits, so the non-zero half tells which.
        fam = rd32(p) if (linktype == LT_LOOP or rd32le(p) > 0xFFFF) else rd32le(p)
        if fam == 2:
            return decode_ipv4(ctx, p + 4, caplen - 4, pv)
        if fam == 10 or fam == 24 or fam == 28 or fam == 30:
            return decode_ipv6(ctx, p + 4, caplen - 4, pv)
        return DEC_NOT_FLOW
    return DEC_ERR_LINKTYPE


cdef int decode_ethernet(DecodeCtx *ctx, const uint8_t *p, uint32_t length,
                         PacketView *pv) noexcept nogil:
    if length < 14:
        return DEC_ERR_L2_TRUNCATED
    return decode_ethertype(ctx, rd16(p + 12), p + 14, length - 14, pv)


cdef int decode_ip_by_version(DecodeCtx *ctx, const uint8_t *p, uint32_t length,
                              PacketView *pv) noexcept nogil:
    if length < 1:
        return DEC_ERR_L2_TRUNCATED
    if (p[0] >> 4) == 4:
        return decode_ipv4(ctx, p, length, pv)
    if (p[0] >> 4) == 6:
        return decode_ipv6(ctx, p, length, pv)
    return DEC_NOT_FLOW


cdef int decode_ethertype(DecodeCtx *ctx, uint16_t etype, const uint8_t *p, uint32_t length,
                          PacketView *pv) noexcept nogil:
    """VLAN, MPLS and PPPoE shims in front of IP, then IP."""
    cdef uint32_t label
    while True:
        if etype == ETH_IPV4:
            return decode_ipv4(ctx, p, length, pv)
        if etype == ETH_IPV6:
            return decode_ipv6(ctx, p, length, pv)
        if etype == ETH_VLAN or etype == ETH_QINQ or etype == ETH_QINQ_OLD:
            if length < 4:
                return DEC_ERR_L2_TRUNCATED
            if pv.nvlan < MAX_VLANS:
                pv.vlan[pv.nvlan] = rd16(p) & 0x0FFF
                pv.nvlan += 1
            else:
                ctx.counters[CNT_VLAN_DROPPED_TAG] += 1
            etype = rd16(p + 2)
            p += 4
            length -= 4
        elif etype == ETH_MPLS_UC or etype == ETH_MPLS_MC:
            while True:
                if length < 4:
                    return DEC_ERR_L2_TRUNCATED
                label = rd32(p)
                p += 4
                length -= 4
                if label & 0x100:          # bottom of stack
                    break
            label >>= 12
            if label == 0:                 # IPv4 explicit null
                return decode_ipv4(ctx, p, length, pv)
            if label == 2:                 # IPv6 explicit null
                return decode_ipv6(ctx, p, length, pv)
            if length < 1:
                return DEC_ERR_L2_TRUNCATED
            if (p[0] >> 4) == 4 or (p[0] >> 4) == 6:
                return decode_ip_by_version(ctx, p, length, pv)
            if (p[0] >> 4) == 0:           # Ethernet pseudowire behind a control word
                if length < 4:
                    return DEC_ERR_L2_TRUNCATED
                return decode_ethernet(ctx, p + 4, length - 4, pv)
            return DEC_NOT_FLOW
        elif etype == ETH_PPPOE_SESS:
            if length < 6:
                return DEC_ERR_L2_TRUNCATED
            return decode_ppp(ctx, p + 6, length - 6, pv)
        else:
            return DEC_NOT_FLOW


cdef inline int enter_tunnel(PacketView *pv, const uint8_t *inner, uint32_t inner_len) noexcept nogil:
    """Start a tunnel pseudo-packet: the flow is charged from here on."""
    if pv.depth >= MAX_DEPTH:
        return DEC_ERR_TOO_DEEP
    pv.depth += 1
    pv.pkt_start = inner
    pv.flow_len = inner_len
    return DEC_OK


cdef int decode_ipv4(DecodeCtx *ctx, const uint8_t *p, uint32_t length,
                     PacketView *pv) noexcept nogil:
    cdef uint32_t ihl, total, frag_off
    cdef bint more_frags
    if length < 20 or (p[0] >> 4) != 4:
        return DEC_ERR_IPV4_HEADER
    ihl = (p[0] & 0x0F) * 4
    total = rd16(p + 2)
    if ihl < 20 or ihl > length or total < ihl:
        return DEC_ERR_IPV4_HEADER
    if total > length:
        # snaplen cut: decode what was captured, the frame still counts
        ctx.counters[CNT_IPV4_TRUNCATED] += 1
        total = length
    pv.family = 4
    memset(pv.src, 0, 32)
    memcpy(pv.src, p + 12, 4)
    memcpy(pv.dst, p + 16, 4)
    frag_off = rd16(p + 6)
    more_frags = (frag_off & 0x2000) != 0
    frag_off = (frag_off & 0x1FFF) * 8
    if more_frags or frag_off:
        return frag_add(ctx, pv, p, ihl, ihl, p[9], rd16(p + 4), frag_off, more_frags,
                        p + ihl, total - ihl)
    return decode_l4(ctx, p[9], p + ihl, total - ihl, pv)


cdef int decode_ipv6(DecodeCtx *ctx, const uint8_t *p, uint32_t length,
                     PacketView *pv) noexcept nogil:
    cdef uint32_t total, off, hlen, frag_off
    cdef uint8_t nh
    if length < 40 or (p[0] >> 4) != 6:
        return DEC_ERR_IPV6_HEADER
    total = 40 + <uint32_t>rd16(p + 4)
    if total == 40 and length > 40 and p[6] == 0:
        total = length                     # jumbogram: length is in hop-by-hop
    if total > length:
        ctx.counters[CNT_IPV6_TRUNCATED] += 1
        total = length
    pv.family = 6
    memcpy(pv.src, p + 8, 16)
    memcpy(pv.dst, p + 24, 16)
    nh = p[6]
    off = 40
    while True:
        if nh == 0 or nh == 43 or nh == 60 or nh == 135 or nh == 139 or nh == 140:
            if off + 8 > total:
                return DEC_ERR_IPV6_EXTHDR
            hlen = (<uint32_t>p[off + 1] + 1) * 8
        elif nh == 51:                     # AH counts 4-byte words, minus 2
            if off + 8 > total:
                return DEC_ERR_IPV6_EXTHDR
            hlen = (<uint32_t>p[off + 1] + 2) * 4
        elif nh == 44:
            if off + 8 > total:
                return DEC_ERR_IPV6_EXTHDR
            frag_off = rd16(p + off + 2)
            if (frag_off & 0xFFF8) or (frag_off & 1):
                # the datagram keeps a bare 40-byte header; the extension
                # headers before the fragment header are still counted
                return frag_add(ctx, pv, p, 40, off, p[off], rd32(p + off + 4),
                                frag_off & 0xFFF8, (frag_off & 1) != 0,
                                p + off + 8, total - off - 8)
            hlen = 8                       # atomic fragment: just a header
        else:
            break
        if off + hlen > total:
            return DEC_ERR_IPV6_EXTHDR
        nh = p[off]
        off += hlen
    if nh == 59 or nh == 50:              # no next header, ESP: nothing to key on
        return DEC_NOT_FLOW
    return decode_l4(ctx, nh, p + off, total - off, pv)


cdef int decode_l4(DecodeCtx *ctx, uint8_t proto, const uint8_t *p, uint32_t length,
                   PacketView *pv) noexcept nogil:
    cdef uint32_t doff, ulen
    cdef int rc
    if proto == 6:
        if length < 20:
            return DEC_ERR_TCP_HEADER
        doff = (p[12] >> 4) * 4
        if doff < 20 or doff > length:
            return DEC_ERR_TCP_HEADER
        pv.proto = 6
        pv.sport = rd16(p)
        pv.dport = rd16(p + 2)
        pv.seq = rd32(p + 4)
        pv.ack = rd32(p + 8)
        pv.tcp_flags = p[13]
        pv.payload = p + doff
        pv.payload_len = length - doff
        return DEC_OK
    if proto == 17:
        if length < 8:
            return DEC_ERR_UDP_HEADER
        pv.proto = 17
        pv.sport = rd16(p)
        pv.dport = rd16(p + 2)
        ulen = rd16(p + 4)
        if ulen < 8 or ulen > length:
            ulen = length                  # snaplen cut or lying length: use what is there
        rc = decode_udp_tunnel(ctx, p + 8, ulen - 8, pv)
        if rc != DEC_NOT_FLOW:
            return rc
        pv.payload = p + 8
        pv.payload_len = ulen - 8
        return DEC_OK
    if proto == 1 or proto == 58:
        if length < 4:
            return DEC_ERR_ICMP_HEADER
        pv.proto = proto
        pv.icmp_type = p[0]
        pv.icmp_code = p[1]
        # Suricata keys ICMP flows on (type, counterpart type): an echo and
        # its reply share a flow, a neighbour solicitation is another flow
        pv.sport = p[0]
        pv.dport = icmp_counterpart(proto, p[0])
        if proto == 1 and p[0] == 3 and length >= 8 + 20 + 8:
            map_icmp_error(p + 8, length - 8, pv)
        pv.payload = p
        pv.payload_len = length
        return DEC_OK
    if proto == 4:
        rc = enter_tunnel(pv, p, length)
        if rc != DEC_OK:
            return rc
        ctx.counters[CNT_TUNNELLED] += 1
        return decode_ipv4(ctx, p, length, pv)
    if proto == 41:
        rc = enter_tunnel(pv, p, length)
        if rc != DEC_OK:
            return rc
        ctx.counters[CNT_TUNNELLED] += 1
        return decode_ipv6(ctx, p, length, pv)
    if proto == 47:
        return decode_gre(ctx, p, length, pv)
    return DEC_NOT_FLOW


cdef inline uint8_t icmp_counterpart(uint8_t proto, uint8_t icmp_type) noexcept nogil:
    """The reply type of a request (and back); 255 when the type has none."""
    if proto == 1:
        if icmp_type == 8 or icmp_type == 0:
            return 8 - icmp_type                       # echo
        if 13 <= icmp_type <= 18:                      # timestamp, info, address mask
            return icmp_type + 1 if (icmp_type & 1) else icmp_type - 1
        if icmp_type == 9 or icmp_type == 10:          # router advert / solicit
            return 19 - icmp_type
        return 255
    if icmp_type == 128 or icmp_type == 129:           # echo
        return 257 - icmp_type
    if 133 <= icmp_type <= 136:                        # router and neighbour discovery
        return icmp_type + 1 if (icmp_type & 1) else icmp_type - 1
    if icmp_type == 139 or icmp_type == 140:           # node information
        return 279 - icmp_type
    if 144 <= icmp_type <= 147:                        # mobile IPv6 discovery
        return icmp_type + 1 if not (icmp_type & 1) else icmp_type - 1
    return 255


cdef void map_icmp_error(const uint8_t *emb, uint32_t length, PacketView *pv) noexcept nogil:
    """Remember the TCP/UDP packet a destination-unreachable quotes: the
    error belongs to that packet's flow (as in Suricata)."""
    cdef uint32_t ihl
    if (emb[0] >> 4) != 4:
        return
    ihl = (emb[0] & 0x0F) * 4
    if ihl < 20 or ihl + 8 > length or (emb[9] != 6 and emb[9] != 17):
        return
    pv.emb_proto = emb[9]
    memcpy(pv.emb_src, emb + 12, 4)
    memcpy(pv.emb_dst, emb + 16, 4)
    pv.emb_sport = rd16(emb + ihl)
    pv.emb_dport = rd16(emb + ihl + 2)


cdef int decode_udp_tunnel(DecodeCtx *ctx, const uint8_t *p, uint32_t length,
                           PacketView *pv) noexcept nogil:
    """VXLAN, Geneve and Teredo on their ports; DEC_NOT_FLOW means plain UDP.

    The inner packet is charged from the first inner header Suricata keeps
    (VXLAN: the inner IP header; Geneve: the inner Ethernet header); the
    outer UDP packet is kept in ctx.outer so its own flow is charged too."""
    cdef uint32_t hlen
    cdef uint16_t ptype
    # either port selects the decoder, as in Suricata
    if pv.dport == UDP_PORT_VXLAN or pv.sport == UDP_PORT_VXLAN:
        if length < 8 + 14 or not (p[0] & 0x08):          # the VNI-valid flag
            return DEC_NOT_FLOW
        return decode_udp_tunnel_inner(ctx, rd16(p + 8 + 12), p + 8 + 14, length - 8 - 14, pv)
    if pv.dport == UDP_PORT_GENEVE or pv.sport == UDP_PORT_GENEVE:
        if length < 8 or (p[0] >> 6) != 0:
            return DEC_NOT_FLOW
        hlen = 8 + (p[0] & 0x3F) * 4
        ptype = rd16(p + 2)
        if hlen > length or (ptype != ETH_BRIDGE and ptype != ETH_IPV4 and ptype != ETH_IPV6):
            return DEC_NOT_FLOW
        return decode_udp_tunnel_inner(ctx, ptype, p + hlen, length - hlen, pv)
    if pv.dport == UDP_PORT_TEREDO or pv.sport == UDP_PORT_TEREDO:
        hlen = 0
        if length >= 8 and p[0] == 0 and p[1] == 0:
            hlen = 8                       # origin indication
        # only a well-formed IPv6 packet filling the datagram exactly counts
        # as Teredo, so ordinary traffic on port 3544 stays UDP
        if length < hlen + 40 or (p[hlen] >> 4) != 6 \
                or 40 + <uint32_t>rd16(p + hlen + 4) != length - hlen:
            return DEC_NOT_FLOW
        return decode_udp_tunnel_inner(ctx, ETH_IPV6, p + hlen, length - hlen, pv)
    return DEC_NOT_FLOW


cdef int decode_udp_tunnel_inner(DecodeCtx *ctx, uint16_t etype, const uint8_t *inner,
                                 uint32_t length, PacketView *pv) noexcept nogil:
    cdef int rc
    memcpy(&ctx.outer, pv, sizeof(PacketView))
    ctx.outer.payload_len = 0
    ctx.has_outer = True
    rc = enter_tunnel(pv, inner, length)
    if rc != DEC_OK:
        return rc
    ctx.counters[CNT_TUNNELLED] += 1
    if etype == ETH_BRIDGE:
        return decode_ethernet(ctx, inner, length, pv)
    return decode_ethertype(ctx, etype, inner, length, pv)


cdef int decode_gre(DecodeCtx *ctx, const uint8_t *p, uint32_t length,
                    PacketView *pv) noexcept nogil:
    cdef uint16_t flags, ptype
    cdef uint32_t hlen = 4, ehlen
    cdef int rc
    if length < 4:
        return DEC_ERR_TUNNEL
    flags = rd16(p)
    ptype = rd16(p + 2)
    if (flags & 0x7) == 0:
        if flags & 0xC000:                 # checksum and/or routing present
            hlen += 4
        if flags & 0x2000:
            hlen += 4
        if flags & 0x1000:
            hlen += 4
    elif (flags & 0x7) == 1:               # PPTP enhanced GRE: key always present
        if ptype != ETH_PPP or not (flags & 0x2000):
            return DEC_ERR_TUNNEL
        hlen += 4
        if flags & 0x1000:
            hlen += 4
        if flags & 0x0080:                 # acknowledgment number
            hlen += 4
    else:
        return DEC_ERR_TUNNEL
    if hlen > length:
        return DEC_ERR_TUNNEL
    p += hlen
    length -= hlen
    rc = enter_tunnel(pv, p, length)
    if rc != DEC_OK:
        return rc
    ctx.counters[CNT_TUNNELLED] += 1
    if ptype == ETH_IPV4:
        return decode_ipv4(ctx, p, length, pv)
    if ptype == ETH_IPV6:
        return decode_ipv6(ctx, p, length, pv)
    if ptype == ETH_BRIDGE:
        return decode_ethernet(ctx, p, length, pv)
    if ptype == ETH_ERSPAN_II:
        if not (flags & 0x1000):           # type I has no sequence number and no header
            return decode_ethernet(ctx, p, length, pv)
        if length < 8:
            return DEC_ERR_TUNNEL
        add_vlan(pv, rd16(p) & 0x0FFF)
        return decode_ethernet(ctx, p + 8, length - 8, pv)
    if ptype == ETH_ERSPAN_III:
        if length < 12:
            return DEC_ERR_TUNNEL
        ehlen = 20 if (p[11] & 0x01) else 12   # optional platform sub-header
        if length < ehlen:
            return DEC_ERR_TUNNEL
        add_vlan(pv, rd16(p) & 0x0FFF)
        return decode_ethernet(ctx, p + ehlen, length - ehlen, pv)
    if ptype == ETH_PPP:
        return decode_ppp(ctx, p, length, pv)
    if ptype == ETH_MPLS_UC or ptype == ETH_MPLS_MC:
        return decode_ethertype(ctx, ptype, p, length, pv)
    return DEC_NOT_FLOW


cdef inline void add_vlan(PacketView *pv, uint16_t vid) noexcept nogil:
    # ERSPAN carries the mirrored port's VLAN; Suricata keys on it
    if vid and pv.nvlan < MAX_VLANS:
        pv.vlan[pv.nvlan] = vid
        pv.nvlan += 1


cdef int decode_ppp(DecodeCtx *ctx, const uint8_t *p, uint32_t length,
                    PacketView *pv) noexcept nogil:
    cdef uint16_t proto
    if length >= 2 and p[0] == 0xFF and p[1] == 0x03:   # address/control
        p += 2
        length -= 2
    if length < 1:
        return DEC_ERR_TUNNEL
    if p[0] & 1:                            # protocol field compressed to one byte
        proto = p[0]
        p += 1
        length -= 1
    else:
        if length < 2:
            return DEC_ERR_TUNNEL
        proto = rd16(p)
        p += 2
        length -= 2
    if proto == 0x21:
        return decode_ipv4(ctx, p, length, pv)
    if proto == 0x57:
        return decode_ipv6(ctx, p, length, pv)
    return DEC_NOT_FLOW
