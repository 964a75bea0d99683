"""Which side of a flow is ours: `home_net` and the orientation of a flow.

The detection layer reasons per internal host about what it sends out, so a
flow record (initiator -> responder) is turned into (internal host, external
host, bytes out, bytes in) here, once. `home_net` uses Suricata's HOME_NET
spelling: a list of CIDRs, IPv4 and IPv6, where an entry starting with "!"
carves a range out of the others ("!10.9.0.0/16": the DMZ is not ours).

Speed: `ipaddress` costs a few microseconds per call, too much at 100k
flows/s, so the networks are kept as sorted integer intervals searched with
bisect, and every address's answer is cached (the cache is bounded; it is
cleared when full). Addresses that do not parse are external: traffic never
raises.
"""
from bisect import bisect_right
import ipaddress
import socket
from typing import NamedTuple, Sequence

import numpy as np

from .errors import ConfigError

# RFC 1918, RFC 4193 unique local, link-local (RFC 3927, RFC 4291)
DEFAULT_HOME_NET = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                    "169.254.0.0/16", "fc00::/7", "fe80::/10")

# Orientation.direction
OUTBOUND = "outbound"      # an internal host opened it to an external one
INBOUND = "inbound"        # an external host opened it to an internal one
INTERNAL = "internal"      # both ends internal (lateral, not exfiltration)
EXTERNAL = "external"      # neither end internal (transit, mirror of someone else's traffic)

MAX_CACHED_ADDRESSES = 1 << 18

_V4_MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"


class Orientation(NamedTuple):
    """A flow seen from the organisation. For `internal` and `external`
    flows the initiator takes the place of the internal host."""
    direction: str
    internal_host: str
    external_host: str
    internal_port: int
    external_port: int
    service_port: int        # the responder's port, whoever initiated
    bytes_out: int           # sent by the internal host (whole frames)
    bytes_in: int
    pkts_out: int
    pkts_in: int


def _address_int(ip: str):
    """(version, integer) of an address string, IPv4-mapped IPv6 as IPv4;
    None when it does not parse."""
    try:
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big")
    except (OSError, TypeError, ValueError):
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, ip.split("%", 1)[0])
    except (OSError, TypeError, ValueError, AttributeError):
        return None
    if packed[:12] == _V4_MAPPED_PREFIX:
        return 4, int.from_bytes(packed[12:], "big")
    return 6, int.from_bytes(packed, "big")


def _merge(intervals):
    merged = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [m[0] for m in merged], [m[1] for m in merged]


class _Ranges:
    """Disjoint sorted integer intervals of one address family."""
    __slots__ = ("starts", "ends")

    def __init__(self, intervals):
        self.starts, self.ends = _merge(intervals)

    def __contains__(self, n: int) -> bool:
        i = bisect_right(self.starts, n) - 1
        return i >= 0 and n <= self.ends[i]


class NetScope:
    """The organisation's address space (`home_net`)."""

    def __init__(self, home_net: Sequence[str] | None = None, where: str = "home_net"):
        if home_net is None:
            home_net = DEFAULT_HOME_NET
        if isinstance(home_net, str) or not isinstance(home_net, (list, tuple)):
            raise ConfigError(f"Configuration key '{where}' must be a list of CIDR strings "
                              f"such as [\"10.0.0.0/8\", \"fd00::/8\"], not {home_net!r}.")
        include = {4: [], 6: []}
        exclude = {4: [], 6: []}
        for entry in home_net:
            if not isinstance(entry, str):
                raise ConfigError(f"Configuration key '{where}' must list CIDR strings; "
                                  f"{entry!r} is not a string.")
            text = entry.strip()
            target = include
            if text.startswith("!"):
                target, text = exclude, text[1:].strip()
            try:
                net = ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ConfigError(f"Configuration key '{where}' lists {entry!r}, which is not "
                                  f"an IPv4 or IPv6 network in CIDR notation.") from None
            target[net.version].append((int(net.network_address), int(net.broadcast_address)))
        self.home_net = tuple(home_net)
        self._include = {v: _Ranges(include[v]) for v in (4, 6)}
        self._exclude = {v: _Ranges(exclude[v]) for v in (4, 6)}
        self._cache: dict = {}

    def _lookup(self, ip: str) -> bool:
        parsed = _address_int(ip)
        if parsed is None:
            return False
        version, n = parsed
        return n in self._include[version] and n not in self._exclude[version]

    def is_internal(self, ip: str) -> bool:
        cache = self._cache
        answer = cache.get(ip)
        if answer is None:
            answer = self._lookup(ip)
            if len(cache) >= MAX_CACHED_ADDRESSES:
                cache.clear()
            cache[ip] = answer
        return answer

    def internal_mask(self, ips) -> np.ndarray:
        """is_internal of every address of a sequence, as a boolean array."""
        is_internal = self.is_internal
        return np.fromiter((is_internal(ip) for ip in ips), dtype=bool, count=len(ips))

    def orient(self, flow) -> Orientation:
        """The flow from the organisation's side (see Orientation.direction)."""
        src_in = self.is_internal(flow.src_ip)
        if src_in == self.is_internal(flow.dest_ip):
            direction = INTERNAL if src_in else EXTERNAL
        elif src_in:
            direction = OUTBOUND
        else:
            return Orientation(INBOUND, flow.dest_ip, flow.src_ip, flow.dest_port,
                               flow.src_port, flow.dest_port,
                               flow.bytes_toclient, flow.bytes_toserver,
                               flow.pkts_toclient, flow.pkts_toserver)
        return Orientation(direction, flow.src_ip, flow.dest_ip, flow.src_port,
                           flow.dest_port, flow.dest_port,
                           flow.bytes_toserver, flow.bytes_toclient,
                           flow.pkts_toserver, flow.pkts_toclient)
