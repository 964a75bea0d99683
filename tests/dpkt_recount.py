"""An independent flow recount with dpkt, for plain Ethernet/IP captures.

Deliberately simple and separate from the engine: bidirectional 5-tuple,
initiator = SYN sender else first packet, whole frame lengths.
"""
import socket

import dpkt

PROTO_NAMES = {6: "TCP", 17: "UDP"}


def recount_flows(path):
    flows = {}
    with open(path, "rb") as fh:
        for _ts, frame in dpkt.pcap.Reader(fh):
            ip = dpkt.ethernet.Ethernet(frame).data
            if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) or ip.p not in PROTO_NAMES:
                continue
            family = socket.AF_INET if isinstance(ip, dpkt.ip.IP) else socket.AF_INET6
            l4 = ip.data
            src = (socket.inet_ntop(family, ip.src), l4.sport)
            dst = (socket.inet_ntop(family, ip.dst), l4.dport)
            fwd = (src, dst, ip.p)
            rev = (dst, src, ip.p)
            if rev in flows:
                key, toserver = rev, False
            else:
                if fwd not in flows:
                    syn_ack = ip.p == 6 and (l4.flags & 0x12) == 0x12
                    if syn_ack:           # we missed the SYN: the receiver initiated
                        flows[rev] = [0, 0, 0, 0]
                        key, toserver = rev, False
                    else:
                        flows[fwd] = [0, 0, 0, 0]
                        key, toserver = fwd, True
                else:
                    key, toserver = fwd, True
            counts = flows[key]
            counts[0 if toserver else 1] += 1
            counts[2 if toserver else 3] += len(frame)
    return {(s[0], s[1], d[0], d[1], PROTO_NAMES[p]): tuple(c) for (s, d, p), c in flows.items()}
