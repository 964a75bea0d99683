"""Plans TLS-over-TCP sessions: endpoints, timing, and every packet's TCP fields.

A plan holds no frame bytes. Each packet is a tuple
``(ts_us, sid, k, direction, flags, seq_rel, ack_rel, payload_len)`` where
``seq_rel``/``ack_rel`` count from the ISNs (the SYN takes number 0) and a
data segment's payload is ``stream[direction][seq_rel - 1:][:payload_len]``.
Streams are kept as recipes (real handshake flights plus application_data
record lengths) and materialised by the writer only while a session is open.

Timestamps are as a sensor next to the clients sees them: a client packet
at send time, a server packet one RTT after the client packet it answers.
"""
from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

from handshakes import CLIENT, SERVER, Transcript

FIN, SYN, PSH, ACK = 0x01, 0x02, 0x08, 0x10

CAPTURE_SECONDS = 600
BULK_SHARE = 0.025
IPV6_SHARE = 0.15
VLAN_SHARE = 0.08
MSS_V4, MSS_V6 = 1448, 1428      # 1500-byte MTU with the 12-byte timestamp option
TLS_MAX_PLAINTEXT = 16384
N_CLIENTS, N_SERVERS = 2500, 1500
_SERVER_PORTS = (443,) * 18 + (8443, 993, 465, 4443)
# AEAD expansion per application_data record: TLS 1.3 adds the inner content
# type and a 16-byte tag; TLS 1.2 AES-GCM an 8-byte explicit nonce and the tag.
_RECORD_OVERHEAD = {"TLSv1.3": 17, "TLSv1.2": 24}
_QUICK_ACK_US = 40            # client-side ACK delay as seen at the sensor
_DELAYED_ACK_US = 40_000      # Linux delayed-ACK timer: beyond this the tail is ACKed alone
MAX_IDLE_US = 240_000_000     # below Suricata's 300 s default established-flow timeout
# Server documentation/benchmark ranges (RFC 5737, RFC 2544, RFC 3849).
_V4_SERVER_NETS = ((192, 0, 2), (198, 51, 100), (203, 0, 113), (198, 18), (198, 19))


@dataclass(slots=True)
class Host:
    ip: bytes                 # 4 or 16 bytes
    mac: bytes
    vlan: int | None = None
    ttl: int = 64
    rtt_us: int = 0           # servers only: round trip seen from the sensor


@dataclass(slots=True)
class Session:
    sid: int
    client: Host
    server: Host
    cport: int
    sport: int
    transcript: Transcript
    bulk: bool
    isn: tuple[int, int]
    # Per direction: list of bytes (real flights) or int (application_data record body length).
    recipe: tuple[list, list] = field(default_factory=lambda: ([], []))
    start_us: int = 0
    end_us: int = 0
    npackets: int = 0


class Plan:
    """Deterministic session plans drawn from one seed."""

    def __init__(self, seed: int, pool: list[Transcript]):
        self.rng = random.Random(seed)
        self.pool = pool
        self._clients4 = [self._client(i, v6=False) for i in range(N_CLIENTS)]
        self._clients6 = [self._client(i, v6=True) for i in range(N_CLIENTS)]
        self._servers4 = [self._server(i, v6=False) for i in range(N_SERVERS)]
        self._servers6 = [self._server(i, v6=True) for i in range(N_SERVERS)]
        self._tuples: set = set()
        # Zipf popularity: a few servers (CDNs, SaaS) see many hosts, most are rare.
        self._server_weights = list(itertools.accumulate(1 / r for r in range(1, N_SERVERS + 1)))

    def _client(self, i: int, v6: bool) -> Host:
        if v6:
            ip = bytes.fromhex("fd0a000000000000") + i.to_bytes(8, "big")   # internal ULA
        else:
            ip = bytes((10, 1 + i // 65536 % 250, i // 256 % 256, 1 + i % 254))
        vlan = 20 if i % int(1 / VLAN_SHARE) == 0 else None
        return Host(ip, bytes((0x02, 0, 0)) + i.to_bytes(3, "big"), vlan, 64)

    def _server(self, i: int, v6: bool) -> Host:
        rng = self.rng
        if v6:
            ip = bytes.fromhex("20010db8") + rng.getrandbits(96).to_bytes(12, "big")
        else:
            net = rng.choice(_V4_SERVER_NETS)
            ip = bytes(net) + rng.getrandbits(8 * (4 - len(net))).to_bytes(4 - len(net), "big")
        rtt = int(math.exp(rng.uniform(math.log(2_000), math.log(150_000))))
        return Host(ip, bytes.fromhex("00005e000101"), None, rng.randrange(44, 60), rtt)

    def session(self, sid: int) -> tuple[Session, list[tuple]]:
        """Draw session ``sid`` and return it with its packets in time order."""
        rng = self.rng
        v6 = rng.random() < IPV6_SHARE
        client = rng.choice(self._clients6 if v6 else self._clients4)
        server_idx = rng.choices(range(N_SERVERS), cum_weights=self._server_weights)[0]
        server = (self._servers6 if v6 else self._servers4)[server_idx]
        if client.vlan is not None:
            server = Host(server.ip, server.mac, client.vlan, server.ttl, server.rtt_us)
        sport = _SERVER_PORTS[server_idx % len(_SERVER_PORTS)]
        while True:   # unique 5-tuples: the flow counts must not merge two sessions
            cport = rng.randrange(32768, 61000)
            key = (client.ip, cport, server.ip, sport)
            if key not in self._tuples:
                self._tuples.add(key)
                break
        sess = Session(sid, client, server, cport, sport, self.pool[server_idx % len(self.pool)],
                       rng.random() < BULK_SHARE, (rng.getrandbits(32), rng.getrandbits(32)))
        pkts = _Timeline(sess, rng, MSS_V6 if v6 else MSS_V4).run()
        pkts.sort()
        sess.start_us, sess.end_us, sess.npackets = pkts[0][0], pkts[-1][0], len(pkts)
        return sess, pkts


class _Timeline:
    """Turns one session's application behaviour into TCP packets."""

    def __init__(self, sess: Session, rng: random.Random, mss: int):
        self.s, self.rng, self.mss = sess, rng, mss
        self.rtt = sess.server.rtt_us
        self.sent = [0, 0]        # stream bytes sent per direction
        # Some receivers (quick-ACK mode, GRO off) ACK every segment, most every second one.
        self.ack_every = 1 if rng.random() < 0.1 else 2
        self.pkts: list[tuple] = []

    def add(self, ts, d, flags, seq, ack, plen=0):
        self.pkts.append((int(ts), self.s.sid, len(self.pkts), d, flags, seq, ack, plen))

    def run(self) -> list[tuple]:
        rng, s = self.rng, self.s
        overhead = _RECORD_OVERHEAD[s.transcript.tls_version]
        flights = [(d, [data]) for d, data in s.transcript.flights]
        if s.bulk:
            size = int(math.exp(rng.uniform(math.log(0.8e6), math.log(5e6))))
            upload = rng.random() < 0.5
            req = size if upload else rng.randrange(80, 1400)
            resp = rng.randrange(100, 800) if upload else size
            flights += [(CLIENT, _records(req, overhead)), (SERVER, _records(resp, overhead))]
            duration = 0
            rate_bps = math.exp(rng.uniform(math.log(5e6), math.log(200e6)))
        else:
            long_lived = rng.random() < 0.55   # keep-alive connections: most of the concurrency
            duration = rng.uniform(30e6, 580e6) if long_lived else rng.uniform(5e4, 5e6)
            for _ in range(rng.randrange(1, 7) if long_lived else rng.randrange(1, 4)):
                req = rng.randrange(60, 1400)
                resp = int(math.exp(rng.uniform(math.log(200), math.log(64_000))))
                flights += [(CLIENT, _records(req, overhead)), (SERVER, _records(resp, overhead))]
            rate_bps = math.exp(rng.uniform(math.log(20e6), math.log(1e9)))
        # close_notify: a 2-byte alert, type 21 in TLS 1.2, disguised as 23 in TLS 1.3.
        alert_type = 21 if s.transcript.tls_version == "TLSv1.2" else 23
        flights.append((CLIENT, [bytes((alert_type, 3, 3)) + (2 + overhead).to_bytes(2, "big")
                                 + _ciphertext(rng, 2 + overhead)]))
        t0 = rng.uniform(0, CAPTURE_SECONDS * 1e6 - duration - 20e6)
        self._run_flights(t0, flights, duration, rate_bps)
        return self.pkts

    def _run_flights(self, t, flights, duration, rate_bps):
        rtt, rng = self.rtt, self.rng
        self.add(t, CLIENT, SYN, 0, 0)
        self.add(t + rtt, SERVER, SYN | ACK, 0, 1)
        t += rtt + _QUICK_ACK_US
        self.add(t, CLIENT, ACK, 1, 1)
        first_request = len(self.s.transcript.flights)
        # Wait before each flight: a server thinks after an RTT, a client answers the
        # handshake at once; its later requests and the close share the session's
        # life, each idle gap below every tool's established-flow timeout.
        spread = [i for i, (d, _) in enumerate(flights) if d == CLIENT and i > first_request]
        jitter = [rng.uniform(0.5, 1.5) for _ in spread]
        idle = {i: min(duration * j / sum(jitter), MAX_IDLE_US) for i, j in zip(spread, jitter)}
        waits = [0.0] + [rtt + rng.uniform(100, 3000) if d == SERVER
                         else idle.get(i) or rng.uniform(50, 800)
                         for i, (d, _) in enumerate(flights) if i > 0]
        for i, (d, items) in enumerate(flights):
            t += waits[i]
            # The receiver's next flight carries the ACK unless it comes after the
            # delayed-ACK timer; the close_notify's ACK rides on the server's FIN.
            if i + 1 < len(flights):
                nxt, wait = flights[i + 1][0], waits[i + 1]
                ack_tail = nxt == d or (nxt == CLIENT and wait >= _DELAYED_ACK_US)
            else:
                ack_tail = False
            t = self._flight(t, d, items, rate_bps, ack_tail)
        self._close(t)

    def _flight(self, t, d, items, rate_bps, ack_tail):
        """Send ``items`` as MSS segments from side ``d``; the receiver ACKs every ``ack_every``."""
        recipe = self.s.recipe[d]
        nbytes = 0
        for item in items:
            recipe.append(item)
            nbytes += len(item) if isinstance(item, bytes) else 5 + item
        off, peer = self.sent[d], 1 + self.sent[1 - d]
        gap = (self.mss + 66) * 8 / rate_bps * 1e6
        # A server's segments reach the sensor one RTT after the client's ACKs leave it.
        ack_delay = _QUICK_ACK_US if d == SERVER else self.rtt
        nseg = -(-nbytes // self.mss)
        for i in range(nseg):
            ts = t + i * gap
            plen = min(self.mss, nbytes - i * self.mss)
            last = i == nseg - 1
            self.add(ts, d, ACK | PSH if last else ACK, 1 + off + i * self.mss, peer, plen)
            due = (i + 1) % self.ack_every == 0
            if due or (last and ack_tail):
                tail_wait = 0 if due else _DELAYED_ACK_US
                self.add(ts + ack_delay + tail_wait, 1 - d, ACK, peer,
                         1 + off + i * self.mss + plen)
        self.sent[d] += nbytes
        return t + (nseg - 1) * gap

    def _close(self, t):
        """Client FIN, server FIN+ACK one RTT later, client's last ACK."""
        c, s = 1 + self.sent[CLIENT], 1 + self.sent[SERVER]
        t += 60
        self.add(t, CLIENT, FIN | ACK, c, s)
        t += self.rtt + self.rng.uniform(50, 500)
        self.add(t, SERVER, FIN | ACK, s, c + 1)
        self.add(t + _QUICK_ACK_US, CLIENT, ACK, c + 1, s + 1)


def _records(plaintext: int, overhead: int) -> list[int]:
    """Body lengths of the application_data records carrying ``plaintext`` bytes."""
    full, rest = divmod(plaintext, TLS_MAX_PLAINTEXT)
    return [TLS_MAX_PLAINTEXT + overhead] * full + ([rest + overhead] if rest else [])


def _ciphertext(rng: random.Random, n: int) -> bytes:
    return rng.getrandbits(8 * n).to_bytes(n, "big")
