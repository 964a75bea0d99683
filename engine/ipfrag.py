"""IP fragments for `exfilwatch extract`: which datagram a captured frame is
a fragment of, and the fragments held until their datagram is complete.

The core charges a fragmented datagram to its flow when the fragment that
completes it arrives; the other fragments carry no transport header and are
charged to no flow. To write every fragment of a flow's datagrams, extract
holds each uncharged fragment under its datagram's key (addresses,
protocol, IP identification) and writes the held ones when the completing
fragment turns out to belong to a wanted flow. Held fragments are bounded
like the core's reassembly: by datagram count, by age and by bytes.

Not recognised, because dpkt does not decode the layers around them:
fragments inside a UDP tunnel (VXLAN, Geneve, Teredo) or inside PPTP's GRE
(compressed PPP); of those datagrams only the completing fragment is written.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import dpkt

# The link layers dpkt decodes, by LINKTYPE_* value (the core's link types)
_LINK_DECODERS = {
    0: dpkt.loopback.Loopback,          # BSD null/loopback
    108: dpkt.loopback.Loopback,        # OpenBSD loopback
    1: dpkt.ethernet.Ethernet,
    113: dpkt.sll.SLL,
    276: dpkt.sll2.SLL2,
}
_RAW_IP = {101, 12, 14, 228, 229}       # LINKTYPE_RAW, DLT_RAW (BSD, OpenBSD), _IPV4, _IPV6
_PPP = {9, 50}                          # LINKTYPE_PPP, _PPP_HDLC
_PPP_IP = {0x21: dpkt.ip.IP, 0x57: dpkt.ip6.IP6}
_IP6_FRAGMENT = 44
# held fragment bytes, all datagrams together, before the oldest is dropped
HOLD_MAX_BYTES = 64 << 20


def _raw_ip(data: bytes):
    if not data:
        return None
    return (dpkt.ip.IP if data[0] >> 4 == 4 else dpkt.ip6.IP6)(data)


def _ppp_payload(frame: bytes):
    """dpkt.ppp.PPP wants the HDLC address and control bytes, which
    LINKTYPE_PPP frames may leave out; the protocol field may be one byte."""
    if frame[:2] == b"\xff\x03":
        frame = frame[2:]
    width = 1 if frame and frame[0] & 1 else 2
    decoder = _PPP_IP.get(int.from_bytes(frame[:width], "big"))
    return decoder(frame[width:]) if decoder else None


def _link_payload(frame: bytes, linktype: int):
    if linktype in _RAW_IP:
        return _raw_ip(frame)
    if linktype in _PPP:
        return _ppp_payload(frame)
    decoder = _LINK_DECODERS.get(linktype)
    return decoder(frame) if decoder else None


def _ip_fragment_key(layer) -> tuple | None:
    if isinstance(layer, dpkt.ip.IP):
        if layer.mf or layer.offset:
            return (layer.src, layer.dst, layer.p, layer.id)
    elif isinstance(layer, dpkt.ip6.IP6):
        frag = layer.extension_hdrs.get(_IP6_FRAGMENT)
        # an atomic fragment (offset 0, no more) is a whole datagram
        if frag is not None and (frag.frag_off or frag.m_flag):
            return (layer.src, layer.dst, frag.nxt, frag.id)
    return None


def fragment_key(frame: bytes, linktype: int) -> tuple | None:
    """(src, dst, protocol, identification) of the datagram this frame is a
    fragment of, for the outermost fragmented IPv4/IPv6 header down the
    layers dpkt decodes (VLAN, MPLS, PPP, PPPoE, GRE carrying IP,
    IP-in-IP); None when the frame is no fragment or cannot be decoded."""
    try:
        layer = _link_payload(bytes(frame), linktype)
    except (dpkt.UnpackError, ValueError, IndexError, KeyError):
        return None
    while isinstance(layer, dpkt.Packet):
        key = _ip_fragment_key(layer)
        if key is not None:
            return key
        layer = layer.data
    return None


@dataclass
class _HeldDatagram:
    first_us: int
    fragments: list = field(default_factory=list)   # (ts_us, frame bytes, wirelen, linktype)


class FragmentHold:
    """Fragments not yet charged to a flow, per datagram key, in capture
    order. At most ``max_datagrams`` datagrams and ``max_bytes`` bytes are
    held; the oldest datagram goes first, and a datagram older than
    ``timeout_us`` (the core's fragment timeout) is dropped as the core
    drops its tracker."""

    def __init__(self, max_datagrams: int, timeout_us: int, max_bytes: int = HOLD_MAX_BYTES):
        self.max_datagrams = max_datagrams
        self.timeout_us = timeout_us
        self.max_bytes = max_bytes
        self.bytes = 0
        self._held: OrderedDict[tuple, _HeldDatagram] = OrderedDict()

    def __bool__(self) -> bool:
        return bool(self._held)

    def hold(self, key: tuple, ts_us: int, frame, wirelen: int, linktype: int) -> None:
        self._expire(ts_us)
        held = self._held.get(key)
        if held is None:
            if self.max_datagrams <= 0:
                return
            while len(self._held) >= self.max_datagrams:
                self._drop_oldest()
            held = self._held[key] = _HeldDatagram(ts_us)
        data = bytes(frame)
        held.fragments.append((ts_us, data, wirelen, linktype))
        self.bytes += len(data)
        while self.bytes > self.max_bytes and self._held:
            self._drop_oldest()

    def take(self, key: tuple) -> list:
        """The fragments held for this datagram, removed from the hold."""
        held = self._held.pop(key, None)
        if held is None:
            return []
        self.bytes -= sum(len(f[1]) for f in held.fragments)
        return held.fragments

    def _expire(self, now_us: int) -> None:
        while self._held:
            oldest = next(iter(self._held.values()))
            if oldest.first_us + self.timeout_us >= now_us:
                return
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        self.take(next(iter(self._held)))
