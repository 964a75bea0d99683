#!/usr/bin/env python3
"""Generate exfilwatch's demo captures, with real TLS handshakes, and their ground truth.

    python pcaps/make_pcaps.py [--out DIR] [--seed N]     # regenerate, then self-check
    python pcaps/make_pcaps.py --check [--out DIR]        # only re-verify existing files

TLS bytes come from Python's ``ssl`` module (OpenSSL) talking to itself over
``ssl.MemoryBIO`` pairs; nothing touches a socket. The byte streams are then
framed into TCP/IP packets with dpkt. Keys are fresh each run, so file
contents differ between runs, but timestamps, addresses, ports, packet
sizes and the packet layout come from a seeded ``random.Random`` and do not.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import ipaddress
import json
import logging
import random
import ssl
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import dpkt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOG = logging.getLogger("make_pcaps")

DEFAULT_SEED = 20260310
# Packet time, not wall time: certificates are valid at this instant and are
# verified against it, so the script keeps working after they "expire".
CAPTURE_EPOCH = dt.datetime(2026, 3, 10, 14, 0, 0, tzinfo=dt.timezone.utc)
EPOCH_US = int(CAPTURE_EPOCH.timestamp()) * 1_000_000
SNAPLEN = 262144
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
MAX_TOTAL_BYTES = 12 * 1024 * 1024
MTU = 1500
C2S, S2C = "toserver", "toclient"
GATEWAY_MAC = bytes.fromhex("00005e000101")  # the site router every external flow goes through
ETH_IPV4, ETH_IPV6, ETH_8021Q, ETH_8021AD = 0x0800, 0x86DD, 0x8100, 0x88A8
TH_FIN, TH_SYN, TH_RST, TH_PSH, TH_ACK = 0x01, 0x02, 0x04, 0x08, 0x10
DELAYED_ACK_US = 40_000  # Linux delayed-ACK timer: an odd last segment is ACKed alone after this
ECDSA_P256_MAX_SIG = 72  # DER length when both r and s need a leading zero byte
BYTE_CONVENTION = (
    "Suricata flow counters: for a non-tunnelled packet, the whole captured frame "
    "(link-layer header included, VLAN tags included; LINKTYPE_RAW frames start at IP); "
    "for a tunnelled packet, the inner packet only, from the inner IP header (GRE, 6in4, "
    "and VXLAN, whose inner Ethernet header Suricata skips). Outer headers are not counted."
)


def _rng(seed: int, *labels: object) -> random.Random:
    """An independent, reproducible stream per label, so editing one session shifts no other."""
    return random.Random(":".join(str(x) for x in (seed, *labels)))


# --------------------------------------------------------------------------- PKI

@dataclass(frozen=True)
class ServerCert:
    """A server's certificate chain and key, as files ``ssl`` can load."""
    name: str
    chain: tuple[x509.Certificate, ...]  # leaf first, as sent in the handshake
    chain_path: str
    key_path: str
    key_desc: str  # "RSA 2048" / "EC P-256"
    self_signed: bool

    @property
    def is_ec(self) -> bool:
        return self.key_desc.startswith("EC")


def _name(**attrs: str) -> x509.Name:
    oids = {"C": NameOID.COUNTRY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME,
            "O": NameOID.ORGANIZATION_NAME, "CN": NameOID.COMMON_NAME}
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in attrs.items()])


def _key_usage(**set_bits: bool) -> x509.KeyUsage:
    bits = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment",
                          "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
                          "encipher_only", "decipher_only"), False)
    bits.update(set_bits)
    return x509.KeyUsage(**bits)


class Pki:
    """Demo Root CA -> Demo Intermediate CA -> server leaves, plus a self-signed exfil cert.

    CA keys are RSA so that certificate signatures have a fixed size; serials
    are drawn from the seeded rng with the top bit fixed, so every DER length,
    and therefore every handshake length, is the same from run to run.
    """

    def __init__(self, rng: random.Random, workdir: Path):
        self._rng = rng
        self._dir = workdir
        now = CAPTURE_EPOCH
        self.root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        root_name = _name(C="US", O="Exfilwatch Demo", CN="Demo Root CA")
        self.root = self._sign(root_name, root_name, self.root_key.public_key(), self.root_key,
                               now - dt.timedelta(days=3 * 365), now + dt.timedelta(days=7 * 365),
                               [(x509.BasicConstraints(ca=True, path_length=None), True),
                                (_key_usage(key_cert_sign=True, crl_sign=True), True)],
                               issuer_key=self.root_key.public_key())
        self.inter_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.inter = self._sign(_name(C="US", O="Exfilwatch Demo", CN="Demo Intermediate CA"),
                                root_name, self.inter_key.public_key(), self.root_key,
                                now - dt.timedelta(days=365), now + dt.timedelta(days=4 * 365),
                                [(x509.BasicConstraints(ca=True, path_length=0), True),
                                 (_key_usage(digital_signature=True, key_cert_sign=True,
                                             crl_sign=True), True)],
                                issuer_key=self.root_key.public_key())
        self._leaves: dict[str, ServerCert] = {}

    def _serial(self) -> int:
        return self._rng.getrandbits(159) | (1 << 158)  # always 20 DER octets

    def _sign(self, subject, issuer, pub, signer, not_before, not_after, exts, issuer_key):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(pub).serial_number(self._serial())
                   .not_valid_before(not_before).not_valid_after(not_after)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key),
                                  False))
        for ext, critical in exts:
            builder = builder.add_extension(ext, critical)
        return builder.sign(signer, hashes.SHA256())

    def _write(self, name: str, chain: list[x509.Certificate], key) -> tuple[str, str]:
        chain_path = self._dir / f"{name}.chain.pem"
        key_path = self._dir / f"{name}.key.pem"
        chain_path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return str(chain_path), str(key_path)

    def leaf(self, dns_name: str, key_kind: str, not_before: dt.datetime | None = None,
             days: int = 90) -> ServerCert:
        """A CA-signed server certificate for ``dns_name`` (cached: one key per server).

        Valid for ``days`` from ``not_before`` (default: 30 days before capture time).
        """
        if dns_name in self._leaves:
            return self._leaves[dns_name]
        if key_kind == "ec":
            key, desc = ec.generate_private_key(ec.SECP256R1()), "EC P-256"
            usage = _key_usage(digital_signature=True)
        else:
            key, desc = rsa.generate_private_key(public_exponent=65537, key_size=2048), "RSA 2048"
            usage = _key_usage(digital_signature=True, key_encipherment=True)
        not_before = not_before or CAPTURE_EPOCH - dt.timedelta(days=30)
        cert = self._sign(_name(CN=dns_name), self.inter.subject, key.public_key(), self.inter_key,
                          not_before, not_before + dt.timedelta(days=days),
                          [(x509.BasicConstraints(ca=False, path_length=None), True),
                           (usage, True),
                           (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
                           (x509.SubjectAlternativeName([x509.DNSName(dns_name)]), False)],
                          issuer_key=self.inter_key.public_key())
        # Prove the chain is one a browser would accept at capture time (or once issued).
        verifier = (verification.PolicyBuilder().store(verification.Store([self.root]))
                    .time(max(CAPTURE_EPOCH, not_before))
                    .build_server_verifier(x509.DNSName(dns_name)))
        verifier.verify(cert, [self.inter])
        chain_path, key_path = self._write(dns_name, [cert, self.inter], key)
        self._leaves[dns_name] = ServerCert(dns_name, (cert, self.inter), chain_path, key_path,
                                            desc, False)
        return self._leaves[dns_name]

    def self_signed(self, cn: str) -> ServerCert:
        """What ``openssl req -x509 -newkey rsa:2048 -nodes`` gives when every prompt is skipped."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = _name(C="AU", ST="Some-State", O="Internet Widgits Pty Ltd", CN=cn)
        cert = self._sign(subject, subject, key.public_key(), key,
                          CAPTURE_EPOCH - dt.timedelta(days=2), CAPTURE_EPOCH + dt.timedelta(days=28),
                          [(x509.BasicConstraints(ca=True, path_length=None), True)],
                          issuer_key=key.public_key())
        chain_path, key_path = self._write(f"selfsigned-{cn}", [cert], key)
        return ServerCert(cn, (cert,), chain_path, key_path, "RSA 2048", True)


# --------------------------------------------------------------------------- TLS

@dataclass(frozen=True)
class Transcript:
    """What each side of one TLS connection wrote, in order: (direction, bytes, phase)."""
    chunks: tuple[tuple[str, bytes, str], ...]
    version: str  # "TLS 1.2" / "TLS 1.3"
    alpn: str | None
    cipher: str

    def stream(self, direction: str) -> bytes:
        return b"".join(data for d, data, _ in self.chunks if d == direction)


def tls_records(stream: bytes) -> list[tuple[int, bytes]]:
    """Split a TLS byte stream into (content type, body); raise ValueError if it does not split exactly."""
    records, off = [], 0
    while off < len(stream):
        if off + 5 > len(stream):
            raise ValueError(f"TLS record header cut at offset {off}")
        ctype, _ver, length = struct.unpack_from("!BHH", stream, off)
        if ctype not in (20, 21, 22, 23) or off + 5 + length > len(stream):
            raise ValueError(f"bad TLS record (type {ctype}, length {length}) at offset {off}")
        records.append((ctype, stream[off + 5:off + 5 + length]))
        off += 5 + length
    return records


def plaintext_handshake(stream: bytes) -> list[tuple[int, bytes]]:
    """Handshake messages sent before this side's ChangeCipherSpec, i.e. the readable ones."""
    buf = b""
    for ctype, body in tls_records(stream):
        if ctype != 22:
            break
        buf += body
    msgs, off = [], 0
    while off + 4 <= len(buf):
        mtype, length = buf[off], int.from_bytes(buf[off + 1:off + 4], "big")
        msgs.append((mtype, buf[off + 4:off + 4 + length]))
        off += 4 + length
    return msgs


def _hello_extensions(body: bytes, is_client: bool) -> dict[int, bytes]:
    off = 2 + 32
    off += 1 + body[off]  # session id
    if is_client:
        off += 2 + int.from_bytes(body[off:off + 2], "big")  # cipher suites
        off += 1 + body[off]  # compression methods
    else:
        off += 3  # chosen cipher suite and compression method
    end = off + 2 + int.from_bytes(body[off:off + 2], "big")
    off += 2
    exts = {}
    while off + 4 <= end:
        etype, elen = struct.unpack_from("!HH", body, off)
        exts[etype] = body[off + 4:off + 4 + elen]
        off += 4 + elen
    return exts


def hello_summary(c2s: bytes, s2c: bytes) -> tuple[str | None, str]:
    """(SNI from the ClientHello, version chosen by the ServerHello) read off the wire bytes."""
    (ctype, chello), = plaintext_handshake(c2s)[:1]
    (stype, shello), = plaintext_handshake(s2c)[:1]
    if (ctype, stype) != (1, 2):
        raise ValueError("streams do not start with ClientHello / ServerHello")
    sni_ext = _hello_extensions(chello, True).get(0)
    sni = sni_ext[5:5 + int.from_bytes(sni_ext[3:5], "big")].decode() if sni_ext else None
    chosen = _hello_extensions(shello, False).get(43)  # supported_versions
    version = int.from_bytes(chosen, "big") if chosen else int.from_bytes(shello[:2], "big")
    return sni, {0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}.get(version, hex(version))


def _ecdsa_sig_lengths(chunks: list[tuple[str, bytes, str]], version: str) -> list[int]:
    """Lengths of the server's handshake signatures, read from record sizes or the clear SKE."""
    if version == "TLS 1.2":
        server = b"".join(d for direction, d, _ in chunks if direction == S2C)
        lengths = []
        for mtype, body in plaintext_handshake(server):
            if mtype == 12:  # ServerKeyExchange: curve type, curve, point, sig alg, sig
                off = 4 + body[3]
                lengths.append(int.from_bytes(body[off + 2:off + 4], "big"))
        return lengths
    # TLS 1.3: OpenSSL sends EncryptedExtensions, Certificate, CertificateVerify and
    # Finished as one encrypted record each; CertificateVerify is the one before last.
    first_flight = next(d for direction, d, _ in chunks if direction == S2C)
    encrypted = [body for ctype, body in tls_records(first_flight) if ctype == 23]
    # inner = 4 (handshake header) + 2 (sig alg) + 2 (length) + sig, plus 1 type byte and a 16-byte tag
    return [len(encrypted[-2]) - 25]


@dataclass(frozen=True)
class TlsOptions:
    """How one session's client and server are configured."""
    sni: str
    client_max: ssl.TLSVersion | None = None
    server_max: ssl.TLSVersion | None = None
    client_alpn: tuple[str, ...] = ()
    server_alpn: tuple[str, ...] = ()


def _read_exactly(conn: ssl.SSLObject, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        buf += conn.read(n - len(buf))  # SSLWantReadError here means the peer's bytes went missing
    return bytes(buf)


def _tls_once(cert: ServerCert, opts: TlsOptions, exchanges: list[tuple[bytes, bytes]]) -> Transcript:
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert.chain_path, cert.key_path)
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # The chain is verified at capture time by Pki (OpenSSL would use today's clock);
    # the verify mode does not change a single byte the client sends.
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    for ctx, max_version, alpn in ((cctx, opts.client_max, opts.client_alpn),
                                   (sctx, opts.server_max, opts.server_alpn)):
        if max_version:
            ctx.maximum_version = max_version
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = cctx.wrap_bio(c_in, c_out, server_side=False, server_hostname=opts.sni)
    server = sctx.wrap_bio(s_in, s_out, server_side=True)
    chunks: list[tuple[str, bytes, str]] = []

    def flush(phase: str) -> None:
        for out, peer_in, direction in ((c_out, s_in, C2S), (s_out, c_in, S2C)):
            data = out.read()
            if data:
                chunks.append((direction, data, phase))
                peer_in.write(data)

    def step(fn: Callable[[], object]) -> bool:
        try:
            fn()
            return True
        except ssl.SSLWantReadError:
            return False

    # Stop as soon as the client is done: in TLS 1.3 it sends its request right
    # behind its Finished, and the server's tickets ride with the response.
    for _ in range(10):
        if step(client.do_handshake):
            break
        flush("handshake")
        step(server.do_handshake)
        flush("handshake")
    else:
        raise RuntimeError(f"TLS handshake with {opts.sni} did not finish")
    flush("handshake")
    for request, response in exchanges:
        client.write(request)
        flush("app")
        if _read_exactly(server, len(request)) != request:
            raise RuntimeError("request corrupted in transit")
        server.write(response)
        flush("app")
        if _read_exactly(client, len(response)) != response:
            raise RuntimeError("response corrupted in transit")
    # Orderly close: each side sends close_notify before TCP FIN.
    step(client.unwrap)
    flush("close")
    server.unwrap()
    flush("close")
    client.unwrap()
    flush("close")
    version = {"TLSv1.2": "TLS 1.2", "TLSv1.3": "TLS 1.3"}[client.version()]
    return Transcript(tuple(chunks), version, client.selected_alpn_protocol(), client.cipher()[0])


def make_tls_transcript(cert: ServerCert, opts: TlsOptions,
                        exchanges: list[tuple[bytes, bytes]]) -> Transcript:
    """Run one real TLS connection in memory and return what each side put on the wire.

    An ECDSA signature's DER length varies with its random nonce; the session
    is re-run until it has the maximal length, so packet sizes are stable.
    """
    for _ in range(200):
        tr = _tls_once(cert, opts, exchanges)
        if not cert.is_ec or all(n == ECDSA_P256_MAX_SIG
                                 for n in _ecdsa_sig_lengths(list(tr.chunks), tr.version)):
            return tr
    raise RuntimeError(f"no maximal-length ECDSA signature for {opts.sni} in 200 tries")


# --------------------------------------------------------------------------- encapsulation

@dataclass(frozen=True)
class Encap:
    """How an inner IP packet becomes a captured frame, and which of its bytes a flow counts."""
    wrap: Callable[[bytes, bool], tuple[bytes, int]]  # (inner ip, to_server) -> (frame, counted)
    tunnel: str = "none"
    vlan: tuple[int, ...] = ()
    overhead: int = 0  # bytes the encapsulation takes from the 1500-byte MTU (clamps the MSS)
    iface: int = 0
    linktype: int = LINKTYPE_ETHERNET


def mac_for(ip: str) -> bytes:
    """A stable, locally administered MAC per address."""
    return b"\x02" + hashlib.sha256(ip.encode()).digest()[:5]


def eth_frame(src: bytes, dst: bytes, ethertype: int, payload: bytes,
              vlans: tuple[tuple[int, int], ...] = ()) -> bytes:
    tags = b"".join(struct.pack("!HH", tpid, vid & 0x0FFF) for tpid, vid in vlans)
    return dst + src + tags + struct.pack("!H", ethertype) + payload


def _ethertype(ip: bytes) -> int:
    return ETH_IPV4 if ip[0] >> 4 == 4 else ETH_IPV6


def ip_packet(src: str, dst: str, proto: int, payload: dpkt.Packet | bytes, ttl: int, ident: int) -> bytes:
    """An IPv4 or IPv6 packet; dpkt fills in lengths and the IP/TCP/UDP checksums."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        return bytes(dpkt.ip.IP(src=s.packed, dst=d.packed, p=proto, ttl=ttl, id=ident & 0xFFFF,
                                df=1, data=payload))
    return bytes(dpkt.ip6.IP6(src=s.packed, dst=d.packed, nxt=proto, hlim=ttl,
                              plen=len(payload), data=payload))


def plain_ethernet(client_ip: str, vlans: tuple[tuple[int, int], ...] = ()) -> Encap:
    """The client's frames to/from the gateway, optionally 802.1Q / QinQ tagged."""
    cmac = mac_for(client_ip)

    def wrap(ip: bytes, to_server: bool) -> tuple[bytes, int]:
        src, dst = (cmac, GATEWAY_MAC) if to_server else (GATEWAY_MAC, cmac)
        frame = eth_frame(src, dst, _ethertype(ip), ip, vlans)
        return frame, len(frame)
    return Encap(wrap, vlan=tuple(v for _, v in vlans))


def raw_ip(iface: int) -> Encap:
    """LINKTYPE_RAW: the frame is the IP packet."""
    return Encap(lambda ip, to_server: (ip, len(ip)), iface=iface, linktype=LINKTYPE_RAW)


def _outer(outer_client: str, outer_server: str, proto: int, ids: list[int]):
    """Build outer IPv4 packets between two fixed endpoints, with their own IP-ID counters."""
    macs = (mac_for(outer_client), GATEWAY_MAC)

    def build(payload: bytes | dpkt.Packet, to_server: bool) -> bytes:
        src, dst = (outer_client, outer_server) if to_server else (outer_server, outer_client)
        ids[not to_server] += 1
        ip = ip_packet(src, dst, proto, payload, 64 if to_server else 60, ids[not to_server])
        return eth_frame(macs[not to_server], macs[to_server], ETH_IPV4, ip)
    return build


def gre(outer_client: str, outer_server: str) -> Encap:
    """Plain GRE (RFC 2784, no key/sequence) carrying IPv4."""
    build = _outer(outer_client, outer_server, dpkt.ip.IP_PROTO_GRE, [0x1000, 0x7000])

    def wrap(ip: bytes, to_server: bool) -> tuple[bytes, int]:
        return build(struct.pack("!HH", 0, _ethertype(ip)) + ip, to_server), len(ip)
    return Encap(wrap, tunnel="gre", overhead=20 + 4)


def six_in_four(outer_client: str, outer_server: str) -> Encap:
    """IPv6 in IPv4, protocol 41 (a 6in4 tunnel broker)."""
    build = _outer(outer_client, outer_server, 41, [0x2000, 0x8000])

    def wrap(ip: bytes, to_server: bool) -> tuple[bytes, int]:
        return build(ip, to_server), len(ip)
    return Encap(wrap, tunnel="6in4", overhead=20)


def vxlan(outer_client: str, outer_server: str, vni: int, client_ip: str, src_port: int) -> Encap:
    """VXLAN (UDP 4789) carrying the client's Ethernet frames between two VTEPs."""
    build = _outer(outer_client, outer_server, dpkt.ip.IP_PROTO_UDP, [0x3000, 0x9000])
    inner_eth = plain_ethernet(client_ip)

    def wrap(ip: bytes, to_server: bool) -> tuple[bytes, int]:
        inner, _ = inner_eth.wrap(ip, to_server)
        header = struct.pack("!BxxxI", 0x08, vni << 8)  # flags: VNI valid
        udp = dpkt.udp.UDP(sport=src_port, dport=4789, data=header + inner)
        udp.ulen = len(udp)
        return build(udp, to_server), len(ip)
    return Encap(wrap, tunnel="vxlan", overhead=20 + 8 + 8 + 14)


# --------------------------------------------------------------------------- TCP framing

@dataclass(frozen=True)
class FlowSpec:
    """Addresses and timing of one connection; the client is the initiator."""
    client_ip: str
    client_port: int
    server_ip: str
    server_port: int
    encap: Encap
    rtt_us: int
    rate_toserver: float = 2_000_000.0  # bytes/s at which a flight leaves the client
    rate_toclient: float = 6_000_000.0  # bytes/s at which a flight reaches the capture point
    server_think_us: tuple[int, int] = (2_000, 30_000)   # request -> response
    client_think_us: tuple[int, int] = (5_000, 60_000)   # response -> next request
    idle_before_close_us: tuple[int, int] = (200_000, 3_000_000)
    scenario: str = "benign"


@dataclass
class FlowResult:
    """Packets of one flow as (ts_us, frame, iface) and its ground-truth record."""
    packets: list[tuple[int, bytes, int]]
    truth: dict
    transcript: Transcript | None = None


def _merge_flights(chunks) -> list[tuple[str, bytes, str]]:
    flights: list[list] = []
    for direction, data, phase in chunks:
        if flights and flights[-1][0] == direction:
            flights[-1][1] += data
        else:
            flights.append([direction, bytearray(data), phase])
    return [(d, bytes(b), p) for d, b, p in flights]


def _think_us(rng: random.Random, spec: FlowSpec, direction: str, phase: str, first: bool) -> int:
    """Delay between receiving the peer's last flight and sending this one."""
    if direction == C2S:
        lo, hi = {"handshake": (30, 150) if first else (100, 800),
                  "app": (100, 600) if first else spec.client_think_us,
                  "close": spec.idle_before_close_us}[phase]
    else:
        lo, hi = {"handshake": (200, 1500), "app": spec.server_think_us, "close": (100, 500)}[phase]
    return rng.randint(lo, hi)


def _new_truth(spec: FlowSpec, proto: str) -> dict:
    return {"proto": proto, "src_ip": spec.client_ip, "src_port": spec.client_port,
            "dest_ip": spec.server_ip, "dest_port": spec.server_port,
            "vlan": list(spec.encap.vlan), "tunnel": spec.encap.tunnel,
            "interface": spec.encap.iface, "linktype": spec.encap.linktype,
            "pkts_toserver": 0, "pkts_toclient": 0, "bytes_toserver": 0, "bytes_toclient": 0,
            "start": None, "end": None, "scenario": spec.scenario}


def _finish(packets: list, truth: dict) -> list:
    packets.sort(key=lambda p: p[0])  # stable: same-time packets keep causal order
    truth["start"], truth["end"] = packets[0][0], packets[-1][0]
    return packets


def frame_tcp(tr: Transcript, spec: FlowSpec, start_us: int, rng: random.Random) -> FlowResult:
    """Turn a TLS transcript into a TCP connection's packets: handshake, data, ACKs, FIN close."""
    v4 = ipaddress.ip_address(spec.client_ip).version == 4
    mss = MTU - spec.encap.overhead - (20 if v4 else 40) - 20
    seg_size = mss - 12  # every segment carries the 12-byte timestamp option
    truth = _new_truth(spec, "TCP")
    packets: list[tuple[int, bytes, int]] = []
    isn = {C2S: rng.getrandbits(32), S2C: rng.getrandbits(32)}
    nxt = dict(isn)  # next sequence number each side will send
    ip_id = {C2S: rng.getrandbits(16), S2C: rng.getrandbits(16)}
    ts_base = {C2S: rng.getrandbits(32), S2C: rng.getrandbits(32)}
    last_tsval = {C2S: 0, S2C: 0}
    ttl = {C2S: 64, S2C: rng.choice((50, 52, 54, 56, 116, 118))}
    half_rtt = spec.rtt_us // 2

    def send(ts: int, direction: str, flags: int, payload: bytes = b"") -> None:
        peer = S2C if direction == C2S else C2S
        # TSval ticks in ms on the sender's clock; server packets left it half an RTT earlier.
        tsval = (ts_base[direction] + (ts - (half_rtt if direction == S2C else 0)) // 1000) & 0xFFFFFFFF
        if flags & TH_SYN:
            opts = (struct.pack("!BBH", 2, 4, mss) + b"\x04\x02"
                    + struct.pack("!BBII", 8, 10, tsval, last_tsval[peer]) + b"\x01\x03\x03\x07")
            win = 64240 if direction == C2S else 65160
        else:
            opts = b"\x01\x01" + struct.pack("!BBII", 8, 10, tsval, last_tsval[peer])
            win = 502 if direction == C2S else 509
        last_tsval[direction] = tsval
        seg = dpkt.tcp.TCP(sport=spec.client_port if direction == C2S else spec.server_port,
                           dport=spec.server_port if direction == C2S else spec.client_port,
                           seq=nxt[direction], ack=nxt[peer] if flags & TH_ACK else 0,
                           flags=flags, win=win, opts=opts, data=payload)
        seg.off = (20 + len(opts)) >> 2
        seq_used = len(payload) + (1 if flags & (TH_SYN | TH_FIN) else 0)
        nxt[direction] = (nxt[direction] + seq_used) & 0xFFFFFFFF
        ip_id[direction] += 1
        src, dst = (spec.client_ip, spec.server_ip) if direction == C2S else (spec.server_ip, spec.client_ip)
        frame, counted = spec.encap.wrap(ip_packet(src, dst, 6, seg, ttl[direction], ip_id[direction]),
                                         direction == C2S)
        packets.append((ts, frame, spec.encap.iface))
        truth[f"pkts_{direction}"] += 1
        truth[f"bytes_{direction}"] += counted

    # The capture point sits next to the client: a client packet is seen when sent,
    # a server packet when it arrives, so every server reply lags one RTT.
    t = start_us
    send(t, C2S, TH_SYN)
    t += spec.rtt_us + rng.randint(20, 200)
    send(t, S2C, TH_SYN | TH_ACK)
    t += rng.randint(20, 80)
    send(t, C2S, TH_ACK)
    flights = _merge_flights(tr.chunks)
    seen: set[tuple[str, str]] = set()
    thinks = []
    for d, _, phase in flights:
        thinks.append(_think_us(rng, spec, d, phase, (d, phase) not in seen))
        seen.add((d, phase))
    for i, (direction, data, _phase) in enumerate(flights):
        to_server = direction == C2S
        receiver = S2C if to_server else C2S
        t += thinks[i] + (0 if to_server else spec.rtt_us)
        rate = spec.rate_toserver if to_server else spec.rate_toclient
        pieces = [data[k:k + seg_size] for k in range(0, len(data), seg_size)]
        sent = 0
        pending: list[tuple[int, int]] = []  # (capture time of a receiver ACK, seq it acknowledges)
        for k, piece in enumerate(pieces):
            ts = t + int(sent * 1_000_000 / rate)
            last = k == len(pieces) - 1
            send(ts, direction, TH_ACK | (TH_PSH if last else 0), piece)
            sent += len(piece)
            if k % 2 == 1:  # ACK every second segment
                pending.append((ts + (spec.rtt_us if to_server else 0) + rng.randint(20, 90), nxt[direction]))
            elif last:
                # An odd last segment: ACKed by the receiver's next data if that comes before
                # the delayed-ACK timer fires, otherwise by a lone ACK when it fires.
                next_gap = thinks[i + 1] if i + 1 < len(flights) else 0
                if next_gap >= DELAYED_ACK_US:
                    pending.append((ts + (spec.rtt_us if to_server else 0) + DELAYED_ACK_US, nxt[direction]))
        t = ts  # the next flight answers this one's last segment
        # ACK fields carry the seq in force when they were sent, so build them after the flight.
        end_seq = nxt[direction]
        for ack_ts, ack_seq in pending:
            nxt[direction] = ack_seq
            send(ack_ts, receiver, TH_ACK)
        nxt[direction] = end_seq
    # Client closes first: FIN, the server's FIN after one RTT, the last ACK.
    t += rng.randint(50, 300)
    send(t, C2S, TH_FIN | TH_ACK)
    t += spec.rtt_us + rng.randint(50, 300)
    send(t, S2C, TH_FIN | TH_ACK)
    t += rng.randint(20, 80)
    send(t, C2S, TH_ACK)
    truth.update(sni=None, tls_version=tr.version, alpn=tr.alpn, cipher=tr.cipher)
    return FlowResult(_finish(packets, truth), truth, tr)


def frame_udp(spec: FlowSpec, payloads: list[tuple[str, bytes, int]], start_us: int) -> FlowResult:
    """A UDP exchange: (direction, payload, delay after the previous packet in us)."""
    truth = _new_truth(spec, "UDP")
    packets, t = [], start_us
    for n, (direction, payload, delay) in enumerate(payloads):
        t += delay
        to_server = direction == C2S
        udp = dpkt.udp.UDP(sport=spec.client_port if to_server else spec.server_port,
                           dport=spec.server_port if to_server else spec.client_port, data=payload)
        udp.ulen = len(udp)
        src, dst = (spec.client_ip, spec.server_ip) if to_server else (spec.server_ip, spec.client_ip)
        frame, counted = spec.encap.wrap(ip_packet(src, dst, 17, udp, 64, 0x4000 + n), to_server)
        packets.append((t, frame, spec.encap.iface))
        truth[f"pkts_{direction}"] += 1
        truth[f"bytes_{direction}"] += counted
    truth.update(sni=None, tls_version=None, alpn=None, cipher=None)
    return FlowResult(_finish(packets, truth), truth)


def dns_lookup(client_ip: str, resolver: str, name: str, answer: str, start_us: int,
               rng: random.Random) -> FlowResult:
    """One A/AAAA query and its answer, so the demo can map server IPs to names."""
    qtype = dpkt.dns.DNS_A if ipaddress.ip_address(answer).version == 4 else dpkt.dns.DNS_AAAA
    qid = rng.getrandbits(16)
    question = dpkt.dns.DNS.Q(name=name, type=qtype, cls=dpkt.dns.DNS_IN)
    query = dpkt.dns.DNS(id=qid, op=dpkt.dns.DNS_RD, qd=[question])
    reply = dpkt.dns.DNS(id=qid, op=dpkt.dns.DNS_RD | dpkt.dns.DNS_RA, qd=[question],
                         an=[dpkt.dns.DNS.RR(name=name, type=qtype, cls=dpkt.dns.DNS_IN, ttl=300,
                                             rdata=ipaddress.ip_address(answer).packed)])
    reply.qr = dpkt.dns.DNS_R
    spec = FlowSpec(client_ip, rng.randint(32768, 60999), resolver, 53, plain_ethernet(client_ip), 0)
    return frame_udp(spec, [(C2S, bytes(query), 0), (S2C, bytes(reply), rng.randint(300, 2500))], start_us)


# --------------------------------------------------------------------------- sessions and captures

@dataclass(frozen=True)
class Server:
    name: str
    ip: str
    key: str = "rsa"  # "rsa" | "ec"
    port: int = 443
    max_version: ssl.TLSVersion | None = None  # an older server that stops at TLS 1.2
    alpn: tuple[str, ...] = ("h2", "http/1.1")


SERVERS = {s.name: s for s in (
    Server("www.news.example", "198.51.100.10"),
    Server("cdn.example.net", "198.51.100.20", key="ec"),
    Server("mail.example.org", "203.0.113.25", max_version=ssl.TLSVersion.TLSv1_2, alpn=("http/1.1",)),
    Server("api.example.com", "198.51.100.30", key="ec", alpn=()),
    Server("docs.example.org", "203.0.113.40", alpn=("http/1.1",)),
    Server("static.example.net", "203.0.113.41", key="ec", max_version=ssl.TLSVersion.TLSv1_2),
    Server("updates.example.com", "198.51.100.50", max_version=ssl.TLSVersion.TLSv1_2, alpn=()),
    Server("www6.example.net", "2001:db8:0:1::10", key="ec"),
    Server("cdn6.example.net", "2001:db8:0:2::20"),
)}
BROWSER_ALPN = ("h2", "http/1.1")


def http_exchange(rng: random.Random, host: str, path: str, download: int,
                  upload: int = 0, method: str = "GET") -> tuple[bytes, bytes]:
    """An HTTP/1.1-style request and response (encrypted on the wire, never parsed)."""
    if upload:
        method = "POST" if method == "GET" else method
    head = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
            "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0\r\n"
            "Accept: */*\r\nConnection: keep-alive\r\n")
    if upload:
        head += f"Content-Type: application/octet-stream\r\nContent-Length: {upload}\r\n"
    request = (head + "\r\n").encode() + rng.randbytes(upload)
    status = "201 Created" if method == "PUT" else "200 OK"
    response = (f"HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {download}\r\nCache-Control: max-age=3600\r\n\r\n").encode()
    return request, response + rng.randbytes(download)


class Builder:
    """Holds the PKI and seed; turns session descriptions into FlowResults."""

    def __init__(self, seed: int, workdir: Path):
        self.seed = seed
        self.pki = Pki(_rng(seed, "pki"), workdir)

    def tls_flow(self, capture: str, index: int, client_ip: str, server: Server, start_us: int, *,
                 encap: Encap | None = None, sni: str | None = None, cert: ServerCert | None = None,
                 client_max: ssl.TLSVersion | None = None, client_alpn: tuple[str, ...] = BROWSER_ALPN,
                 downloads: tuple[int, ...] = (40_000,), uploads: tuple[int, ...] = (),
                 method: str = "GET", client_port: int | None = None, **timing) -> FlowResult:
        """One TLS connection: real handshake, HTTP-ish exchanges, framed as TCP."""
        rng = _rng(self.seed, capture, index)
        sni = sni or server.name
        cert = cert or self.pki.leaf(server.name, server.key)
        uploads = uploads or (0,) * len(downloads)
        exchanges = [http_exchange(rng, sni, f"/{capture.split('.')[0]}/{index}/{n}", down, up, method)
                     for n, (down, up) in enumerate(zip(downloads, uploads))]
        opts = TlsOptions(sni, client_max=client_max, server_max=server.max_version,
                          client_alpn=client_alpn, server_alpn=server.alpn)
        tr = make_tls_transcript(cert, opts, exchanges)
        port = rng.randint(32768, 60999)  # drawn even when overridden: later draws stay put
        spec = FlowSpec(client_ip, client_port or port, server.ip, server.port,
                        encap or plain_ethernet(client_ip), rtt_us=rng.randint(4_000, 40_000),
                        rate_toclient=rng.choice((3e6, 6e6, 11e6)), **timing)
        flow = frame_tcp(tr, spec, start_us, rng)
        leaf = cert.chain[0]
        flow.truth.update(sni=sni, cert_subject=leaf.subject.rfc4514_string(),
                          cert_issuer=leaf.issuer.rfc4514_string(), cert_self_signed=cert.self_signed,
                          cert_key=cert.key_desc, cert_chain_len=len(cert.chain),
                          cert_sha1=":".join(f"{b:02x}" for b in leaf.fingerprint(hashes.SHA1())))
        LOG.info("%s #%d %s %s -> %s:%d %s %s, %d pkts", capture, index, flow.truth["tunnel"],
                 client_ip, server.ip, server.port, sni, tr.version, len(flow.packets))
        return flow


def benign_browsing(b: Builder) -> list[FlowResult]:
    """Twelve browser sessions from five IPv4 hosts and one IPv6 host, plus DNS."""
    name, s = "benign_browsing.pcap", SERVERS
    plan = [  # (client, server, downloads, uploads, client capped at TLS 1.2)
        ("10.1.0.10", s["www.news.example"], (60_000, 110_000), (), False),
        ("10.1.0.10", s["cdn.example.net"], (240_000,), (), False),
        ("10.1.0.11", s["mail.example.org"], (35_000, 20_000), (3_500, 0), False),
        ("10.1.0.11", s["www.news.example"], (90_000,), (), False),
        ("10.1.0.12", s["api.example.com"], (12_000,), (1_200,), False),
        ("10.1.0.12", s["cdn.example.net"], (180_000,), (), True),
        ("10.1.0.13", s["docs.example.org"], (70_000, 45_000), (8_000, 2_000), False),
        ("10.1.0.13", s["static.example.net"], (40_000,), (), False),
        ("10.1.0.14", s["www.news.example"], (150_000,), (), False),
        ("10.1.0.14", s["updates.example.com"], (320_000,), (), False),
        ("fd00:1::10", s["www6.example.net"], (160_000,), (), False),
        ("fd00:1::10", s["cdn6.example.net"], (90_000,), (), False),
    ]
    rng = _rng(b.seed, name, "schedule")
    base = EPOCH_US  # 14:00, business hours
    flows = [dns_lookup("10.1.0.10", "10.1.0.2", "www.news.example", s["www.news.example"].ip, base, rng),
             dns_lookup("10.1.0.12", "10.1.0.2", "api.example.com", s["api.example.com"].ip,
                        base + 7_100_000, rng),
             dns_lookup("fd00:1::10", "fd00:1::2", "www6.example.net", s["www6.example.net"].ip,
                        base + 31_000_000, rng)]
    for i, (client, server, downs, ups, capped) in enumerate(plan):
        start = base + 5_000 + i * 5_000_000 + rng.randint(0, 3_000_000)
        flows.append(b.tls_flow(name, i, client, server, start, downloads=downs, uploads=ups,
                                client_max=ssl.TLSVersion.TLSv1_2 if capped else None))
    return flows


def exfil_tls_selfsigned(b: Builder) -> list[FlowResult]:
    """~6 MB uploaded in one TLS 1.2 connection to a self-signed server on 8443, among benign sessions."""
    name, s = "exfil_tls_selfsigned.pcap", SERVERS
    base = EPOCH_US + (9 * 60 + 17) * 60_000_000  # 23:17, after hours
    exfil_server = Server("backup-sync.example", "203.0.113.66", port=8443,
                          max_version=ssl.TLSVersion.TLSv1_2, alpn=())
    chunk = 1024 * 1024
    flows = [
        b.tls_flow(name, 0, "10.1.0.23", s["www.news.example"], base, downloads=(45_000,)),
        # Throttled to ~32 KB/s, six 1 MiB PUTs: a few minutes of one long, upload-heavy
        # connection to a never-seen IP, with a certificate no CA vouches for.
        b.tls_flow(name, 1, "10.1.0.23", exfil_server, base + 4_200_000,
                   cert=b.pki.self_signed("203.0.113.66"), client_alpn=(),
                   downloads=(0,) * 6, uploads=(chunk,) * 6, method="PUT",
                   rate_toserver=32_000.0, server_think_us=(3_000, 15_000),
                   client_think_us=(150_000, 900_000), idle_before_close_us=(50_000, 200_000),
                   scenario="exfil"),
        b.tls_flow(name, 2, "10.1.0.24", s["mail.example.org"], base + 61_000_000,
                   downloads=(28_000,), uploads=(2_500,)),
        b.tls_flow(name, 3, "10.1.0.23", s["cdn.example.net"], base + 150_000_000, downloads=(120_000,)),
    ]
    return flows


def tunnels_vlan(b: Builder) -> list[FlowResult]:
    """The same kind of TLS sessions behind VLAN, QinQ, GRE, VXLAN, 6in4, and plain IPv6."""
    name, s = "tunnels_vlan.pcap", SERVERS
    base = EPOCH_US + 3_600_000_000  # 15:00
    ipv6_client = "2001:db8:100::14"  # the 6in4 broker's prefix delegated to the site
    return [
        b.tls_flow(name, 0, "10.1.0.10", s["www.news.example"], base,
                   encap=plain_ethernet("10.1.0.10", ((ETH_8021Q, 100),)), downloads=(30_000,)),
        b.tls_flow(name, 1, "10.1.0.11", s["mail.example.org"], base + 2_000_000,
                   encap=plain_ethernet("10.1.0.11", ((ETH_8021AD, 200), (ETH_8021Q, 300))),
                   downloads=(25_000,), uploads=(1_500,)),
        b.tls_flow(name, 2, "10.1.0.12", s["cdn.example.net"], base + 4_000_000,
                   encap=gre("10.255.0.1", "10.255.0.2"), downloads=(40_000,)),
        b.tls_flow(name, 3, "10.1.0.13", s["docs.example.org"], base + 6_000_000,
                   encap=vxlan("10.255.1.1", "10.255.1.2", 42, "10.1.0.13", 49877), downloads=(35_000,)),
        b.tls_flow(name, 4, ipv6_client, s["www6.example.net"], base + 8_000_000,
                   encap=six_in_four("10.255.2.1", "192.0.2.1"), downloads=(30_000,)),
        b.tls_flow(name, 5, "fd00:1::10", s["cdn6.example.net"], base + 10_000_000, downloads=(30_000,)),
    ]


def two_interfaces(b: Builder) -> list[FlowResult]:
    """One TLS session on an Ethernet interface, one on a raw-IP (tun) interface."""
    name, s = "two_interfaces.pcapng", SERVERS
    base = EPOCH_US + 2 * 3_600_000_000  # 16:00
    return [
        b.tls_flow(name, 0, "10.1.0.10", s["www.news.example"], base, downloads=(50_000,)),
        b.tls_flow(name, 1, "10.8.0.6", s["updates.example.com"], base + 1_500_000,
                   encap=raw_ip(iface=1), downloads=(60_000,)),
    ]


CAPTURES: dict[str, Callable[[Builder], list[FlowResult]]] = {
    "benign_browsing.pcap": benign_browsing,
    "exfil_tls_selfsigned.pcap": exfil_tls_selfsigned,
    "tunnels_vlan.pcap": tunnels_vlan,
    "two_interfaces.pcapng": two_interfaces,
}
PCAPNG_INTERFACES = ((LINKTYPE_ETHERNET, "eth0"), (LINKTYPE_RAW, "tun0"))


def write_capture(path: Path, flows: list[FlowResult]) -> list[tuple[int, bytes, int]]:
    """Merge the flows' packets in time order and write them as pcap or pcapng."""
    packets = sorted((p for f in flows for p in f.packets), key=lambda p: p[0])
    with path.open("wb") as fh:
        if path.suffix == ".pcapng":
            idbs = [dpkt.pcapng.InterfaceDescriptionBlockLE(
                linktype=lt, snaplen=SNAPLEN,
                opts=[dpkt.pcapng.PcapngOptionLE(code=dpkt.pcapng.PCAPNG_OPT_IF_NAME, data=n.encode()),
                      dpkt.pcapng.PcapngOptionLE(code=dpkt.pcapng.PCAPNG_OPT_IF_TSRESOL, data=b"\x06"),
                      dpkt.pcapng.PcapngOptionLE(code=dpkt.pcapng.PCAPNG_OPT_ENDOFOPT)])
                for lt, n in PCAPNG_INTERFACES]
            writer = dpkt.pcapng.Writer(fh, idb=idbs)
            for ts, frame, iface in packets:
                # Integer microseconds straight into the block: no float rounding.
                writer.writepkt(dpkt.pcapng.EnhancedPacketBlockLE(
                    iface_id=iface, ts_high=ts >> 32, ts_low=ts & 0xFFFFFFFF,
                    caplen=len(frame), pkt_len=len(frame), pkt_data=frame))
        else:
            writer = dpkt.pcap.Writer(fh, snaplen=SNAPLEN, linktype=LINKTYPE_ETHERNET)
            for ts, frame, _ in packets:
                writer.writepkt(frame, ts / 1_000_000)
    return packets


# --------------------------------------------------------------------------- verification

def _cksum_ok(data: bytes) -> bool:
    return dpkt.in_cksum(data) == 0


def decode(frame: bytes, linktype: int) -> dict:
    """Decode one frame down to TCP/UDP, independently of the writer. Raises ValueError."""
    info = {"vlan": [], "tunnel": "none", "count_from": 0}
    off = 0
    if linktype == LINKTYPE_ETHERNET:
        ethertype, off = struct.unpack_from("!H", frame, 12)[0], 14
        while ethertype in (ETH_8021Q, ETH_8021AD):
            tci, ethertype = struct.unpack_from("!HH", frame, off)
            info["vlan"].append(tci & 0x0FFF)
            off += 4
    while True:
        version = frame[off] >> 4
        if version == 4:
            ihl = (frame[off] & 0x0F) * 4
            total, proto = struct.unpack_from("!H", frame, off + 2)[0], frame[off + 9]
            if not _cksum_ok(frame[off:off + ihl]) or off + total != len(frame):
                raise ValueError("bad IPv4 header checksum or length")
            src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
            l4, l4_len = off + ihl, total - ihl
            pseudo = src + dst + struct.pack("!xBH", proto, l4_len)
        elif version == 6:
            l4_len, proto = struct.unpack_from("!HB", frame, off + 4)
            src, dst = frame[off + 8:off + 24], frame[off + 24:off + 40]
            l4 = off + 40
            if l4 + l4_len != len(frame):
                raise ValueError("bad IPv6 payload length")
            pseudo = src + dst + struct.pack("!IxxxB", l4_len, proto)
        else:
            raise ValueError(f"not IP at offset {off}")
        if proto == 47:  # GRE
            flags, inner_type = struct.unpack_from("!HH", frame, l4)
            if flags or inner_type not in (ETH_IPV4, ETH_IPV6):
                raise ValueError("unexpected GRE header")
            info.update(tunnel="gre", count_from=l4 + 4)
            off = l4 + 4
            continue
        if proto == 41:
            info.update(tunnel="6in4", count_from=l4)
            off = l4
            continue
        l4_bytes = frame[l4:l4 + l4_len]
        if not _cksum_ok(pseudo + l4_bytes):
            raise ValueError(f"bad TCP/UDP checksum (IP protocol {proto})")
        sport, dport = struct.unpack_from("!HH", l4_bytes)
        if proto == 17 and dport == 4789:  # VXLAN: counted from the inner IP header
            inner = l4 + 8 + 8
            info.update(tunnel="vxlan", count_from=inner + 14)
            off = inner + 14  # the inner frames are untagged
            continue
        ip_family = 4 if version == 4 else 6
        info.update(src=str(ipaddress.ip_address(src)), dst=str(ipaddress.ip_address(dst)),
                    sport=sport, dport=dport, family=ip_family,
                    counted=len(frame) - info["count_from"])
        if proto == 6:
            seq, ack, off_flags = struct.unpack_from("!IIH", l4_bytes, 4)
            info.update(proto="TCP", seq=seq, ack=ack, flags=off_flags & 0x3F,
                        payload=l4_bytes[(off_flags >> 12) * 4:])
        elif proto == 17:
            info.update(proto="UDP", payload=l4_bytes[8:])
        else:
            raise ValueError(f"unexpected IP protocol {proto}")
        return info


def read_capture(path: Path) -> list[tuple[int, bytes, int, int]]:
    """(ts_us, frame, linktype, interface) per packet, through dpkt's readers."""
    if path.suffix != ".pcapng":
        with path.open("rb") as fh:
            reader = dpkt.pcap.Reader(fh)
            if reader.datalink() != LINKTYPE_ETHERNET:
                raise ValueError(f"{path.name}: linktype {reader.datalink()}, expected Ethernet")
            return [(round(ts * 1_000_000), bytes(buf), LINKTYPE_ETHERNET, 0) for ts, buf in reader]
    with path.open("rb") as fh:
        dpkt_pkts = [(round(ts * 1_000_000), bytes(buf)) for ts, buf in dpkt.pcapng.Reader(fh)]
    # dpkt's pcapng reader drops the interface id; walk the blocks for it.
    data, off, linktypes, iface_of = path.read_bytes(), 0, [], []
    while off < len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        if btype == 1:
            linktypes.append(struct.unpack_from("<H", data, off + 8)[0])
        elif btype == 6:
            iface_of.append(struct.unpack_from("<I", data, off + 8)[0])
        off += blen
    if [lt for lt, _ in PCAPNG_INTERFACES] != linktypes or len(iface_of) != len(dpkt_pkts):
        raise ValueError(f"{path.name}: interfaces {linktypes}, {len(iface_of)} EPBs")
    return [(ts, buf, linktypes[i], i) for (ts, buf), i in zip(dpkt_pkts, iface_of)]


def recount(packets: list[tuple[int, bytes, int, int]]) -> tuple[list[dict], dict]:
    """Rebuild flow records and reassembled TCP streams from packets alone."""
    flows: dict[tuple, dict] = {}
    streams: dict[tuple, dict] = {}
    last_ts = 0
    for n, (ts, frame, linktype, iface) in enumerate(packets, 1):
        if ts < last_ts:
            raise ValueError(f"packet {n}: timestamp goes backwards")
        last_ts = ts
        try:
            if linktype == LINKTYPE_ETHERNET:
                dpkt.ethernet.Ethernet(frame)  # dpkt itself must be able to decode every frame
            p = decode(frame, linktype)
        except (ValueError, struct.error, IndexError, dpkt.UnpackError) as exc:
            raise ValueError(f"packet {n} does not decode: {exc}") from exc
        key = (p["proto"],) + tuple(sorted([(p["src"], p["sport"]), (p["dst"], p["dport"])]))
        if key not in flows:
            if p["proto"] == "TCP" and p["flags"] != TH_SYN:
                raise ValueError(f"TCP flow {key} does not start with a SYN")
            flows[key] = {"proto": p["proto"], "src_ip": p["src"], "src_port": p["sport"],
                          "dest_ip": p["dst"], "dest_port": p["dport"], "vlan": p["vlan"],
                          "tunnel": p["tunnel"], "interface": iface, "linktype": linktype,
                          "pkts_toserver": 0, "pkts_toclient": 0,
                          "bytes_toserver": 0, "bytes_toclient": 0, "start": ts, "end": ts}
            streams[key] = {C2S: bytearray(), S2C: bytearray(), "next": {}, "fin": set()}
        f = flows[key]
        direction = C2S if (p["src"], p["sport"]) == (f["src_ip"], f["src_port"]) else S2C
        if (p["vlan"], p["tunnel"], iface) != (f["vlan"], f["tunnel"], f["interface"]):
            raise ValueError(f"encapsulation changes inside flow {key}")
        f[f"pkts_{direction}"] += 1
        f[f"bytes_{direction}"] += p["counted"]
        f["end"] = ts
        if p["proto"] != "TCP":
            continue
        st = streams[key]
        peer = S2C if direction == C2S else C2S
        if p["flags"] & TH_SYN:
            st["next"][direction] = (p["seq"] + 1) & 0xFFFFFFFF
        elif p["seq"] != st["next"][direction]:
            raise ValueError(f"{key} {direction}: seq {p['seq']} where {st['next'][direction]} was due")
        else:
            st[direction] += p["payload"]
            st["next"][direction] = (p["seq"] + len(p["payload"]) + (p["flags"] & TH_FIN)) & 0xFFFFFFFF
            if p["flags"] & TH_FIN:
                st["fin"].add(direction)
        # Causality: nobody acknowledges bytes the capture has not yet shown the peer send.
        if p["flags"] & TH_ACK and p["ack"] != st["next"].get(peer) and \
                (st["next"][peer] - p["ack"]) & 0xFFFFFFFF > 1 << 31:
            raise ValueError(f"{key} {direction}: ACK {p['ack']} ahead of the data seen")
    for key, st in streams.items():
        if key[0] == "TCP" and st["fin"] != {C2S, S2C}:
            raise ValueError(f"{key}: not closed by both sides")
    return list(flows.values()), streams


COUNT_FIELDS = ("proto", "src_ip", "src_port", "dest_ip", "dest_port", "vlan", "tunnel", "interface", "linktype",
                "pkts_toserver", "pkts_toclient", "bytes_toserver", "bytes_toclient", "start", "end")


def recount_capture(path: Path, cap: dict) -> list[dict | None]:
    """Re-read one capture and prove its ground-truth counts from the packets alone.

    Returns, per ground-truth flow, its reassembled TCP streams ({C2S, S2C}) or None
    for UDP. Raises ValueError on any mismatch.
    """
    name = path.name
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != cap["sha256"]:
        raise ValueError(f"{name}: sha256 differs from ground_truth.json; regenerate both together")
    packets = read_capture(path)
    if len(packets) != cap["packets"]:
        raise ValueError(f"{name}: {len(packets)} packets, ground truth says {cap['packets']}")
    try:
        found, streams = recount(packets)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc
    found_by_key = {(f["proto"], f["src_ip"], f["src_port"], f["dest_ip"], f["dest_port"]): f
                    for f in found}
    if len(found_by_key) != len(cap["flows"]):
        raise ValueError(f"{name}: {len(found)} flows in the packets, {len(cap['flows'])} in truth")
    out = []
    for want in cap["flows"]:
        key = (want["proto"], want["src_ip"], want["src_port"], want["dest_ip"], want["dest_port"])
        got = found_by_key.get(key)
        if got is None or any(got[k] != want[k] for k in COUNT_FIELDS):
            raise ValueError(f"{name}: flow {key} recounts as {got}, ground truth {want}")
        out.append(streams[(key[0],) + tuple(sorted([key[1:3], key[3:5]]))]
                   if want["proto"] == "TCP" else None)
    LOG.info("checked %s: %d packets, %d flows", name, len(packets), len(found))
    return out


def check(out_dir: Path, truth: dict, transcripts: dict[str, list[Transcript | None]] | None = None) -> None:
    """Re-read every capture and prove the ground truth from the packets. Raises on any mismatch."""
    total = 0
    for name, cap in truth["captures"].items():
        path = out_dir / name
        total += path.stat().st_size
        for i, (want, st) in enumerate(zip(cap["flows"], recount_capture(path, cap))):
            if st is None:
                continue
            key = (want["proto"], want["src_ip"], want["src_port"], want["dest_ip"], want["dest_port"])
            for direction in (C2S, S2C):
                tls_records(bytes(st[direction]))  # whole records, nothing left over
                tr = transcripts[name][i] if transcripts else None
                if tr is not None and bytes(st[direction]) != tr.stream(direction):
                    raise ValueError(f"{name}: {key} {direction} does not reassemble to the TLS bytes")
            sni, version = hello_summary(bytes(st[C2S]), bytes(st[S2C]))
            if (sni, version) != (want["sni"], want["tls_version"]):
                raise ValueError(f"{name}: {key} hello says {(sni, version)}, truth {want['sni']}")
    if total > MAX_TOTAL_BYTES:
        raise ValueError(f"captures total {total} bytes, over the {MAX_TOTAL_BYTES}-byte budget")


# --------------------------------------------------------------------------- main

def generate(out_dir: Path, seed: int) -> dict:
    """Write every capture and ground_truth.json into out_dir; return the ground truth."""
    out_dir.mkdir(parents=True, exist_ok=True)
    truth = {"generator": "pcaps/make_pcaps.py", "seed": seed,
             # Handshake bytes (and so sizes) depend on the OpenSSL build as much as on the seed.
             "openssl": ssl.OPENSSL_VERSION, "python": sys.version.split()[0],
             "byte_count_convention": BYTE_CONVENTION,
             "timestamps": "microseconds since the Unix epoch (packet time)", "captures": {}}
    transcripts = {}
    with tempfile.TemporaryDirectory(prefix="make_pcaps-") as tmp:
        builder = Builder(seed, Path(tmp))
        for name, make in CAPTURES.items():
            flows = make(builder)
            flows.sort(key=lambda f: f.truth["start"])
            packets = write_capture(out_dir / name, flows)
            raw = (out_dir / name).read_bytes()
            truth["captures"][name] = {
                "format": "pcapng" if name.endswith(".pcapng") else "pcap",
                "linktypes": ([lt for lt, _ in PCAPNG_INTERFACES] if name.endswith(".pcapng")
                              else [LINKTYPE_ETHERNET]),
                "packets": len(packets), "size": len(raw), "sha256": hashlib.sha256(raw).hexdigest(),
                # Same seed, same layout: this digest must not change between regenerations.
                "layout_sha256": hashlib.sha256(b"".join(struct.pack("!qI", ts, len(fr))
                                                         for ts, fr, _ in packets)).hexdigest(),
                "flows": [f.truth for f in flows]}
            transcripts[name] = [f.transcript for f in flows]
    (out_dir / "ground_truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    check(out_dir, truth, transcripts)
    return truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="output directory (default: the directory of this script, pcaps/)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--check", action="store_true",
                        help="do not regenerate; verify the captures against ground_truth.json")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.check:
            truth = json.loads((args.out / "ground_truth.json").read_text())
            check(args.out, truth)
        else:
            truth = generate(args.out, args.seed)
    except ValueError as exc:  # a failed self-check: say which file and why, no traceback
        LOG.error("self-check failed: %s", exc)
        return 1
    caps = truth["captures"]
    print(f"{'checked' if args.check else 'wrote'} {len(caps)} captures in {args.out}: "
          + ", ".join(f"{n} ({len(c['flows'])} flows, {c['size']} B)" for n, c in caps.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
