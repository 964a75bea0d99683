#!/usr/bin/env python3
"""Generate exfilwatch's detection scenario captures and their ground truth.

    python pcaps/make_scenarios.py [--out DIR] [--seed N] [--scale X]   # regenerate, then self-check
    python pcaps/make_scenarios.py --check [--out DIR]                  # only re-verify existing files
    python pcaps/make_scenarios.py --only NAME [--out DIR]              # (re)generate one capture

One capture per scenario of issue 4 item 8 (benign browsing, exfiltration over
TLS / SSH / QUIC / SMTP STARTTLS, slow-and-low, beaconing, several hosts to a
new destination, an allowlisted backup) and one for a host far above its own
upload baseline, written to ``pcaps/scenarios/`` with ``ground_truth.json``
(flows, handshake facts, expected verdict and detections, the configuration the
detection layer needs) and ``demo_root_ca.pem`` (the demo CA that signs the
"trusted" servers; a capture generated alone with ``--only`` has its own).

Everything is made in memory; nothing is sent on any network:
* TLS: Python ``ssl`` over ``ssl.MemoryBIO`` pairs and the TCP framing, PKI and
  HTTP exchanges of ``make_pcaps.py`` (imported, not copied);
* SSH: paramiko client and server, each on one end of a ``socket.socketpair()``
  (local pipes inside this process), with this script relaying between them in
  rounds so the byte stream of each direction is recorded;
* QUIC: aioquic's sans-IO ``QuicConnection`` objects exchanging datagrams
  through a small simulated link driven by packet time.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import ipaddress
import json
import logging
import random
import select
import socket
import ssl
import struct
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import verification

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_pcaps as mp  # noqa: E402  (the demo generator's building blocks)
from make_pcaps import C2S, S2C, FlowResult, Server, Transcript  # noqa: E402

LOG = logging.getLogger("make_scenarios")

DEFAULT_SEED = 20260316
DEFAULT_OUT = Path(__file__).resolve().parent / "scenarios"
MAX_TOTAL_BYTES = 60_000_000          # all scenario captures together, at --scale 1
HOME_NET = ["10.20.0.0/16"]
RESOLVER = "10.20.0.2"
CA_PEM = "demo_root_ca.pem"
UTC = dt.timezone.utc
MiB = 1024 * 1024


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> int:
    """Packet time (microseconds) of a wall-clock instant in March 2026, UTC."""
    return int(dt.datetime(2026, 3, day, hour, minute, second, tzinfo=UTC).timestamp()) * 1_000_000


def _iso(us: int) -> str:
    return dt.datetime.fromtimestamp(us // 1_000_000, tz=UTC).isoformat()


# --------------------------------------------------------------------------- certificate facts

def cert_facts(pki: mp.Pki, cert: mp.ServerCert, name: str | None, version: str | None,
               when_us: int) -> dict:
    """What the ground truth says about a server's certificate, incl. whether a passive
    sensor can see it (only TLS <= 1.2 sends it in the clear) and whether it chains to
    the demo root for ``name`` at packet time."""
    leaf = cert.chain[0]
    when = dt.datetime.fromtimestamp(when_us / 1_000_000, tz=UTC)
    try:
        subject = (x509.IPAddress(ipaddress.ip_address(name)) if name and _is_ip(name)
                   else x509.DNSName(name or "unnamed.invalid"))
        (verification.PolicyBuilder().store(verification.Store([pki.root])).time(when)
         .build_server_verifier(subject).verify(leaf, list(cert.chain[1:])))
        trusted = True
    except verification.VerificationError:
        trusted = False
    return {"cert_subject": leaf.subject.rfc4514_string(),
            "cert_issuer": leaf.issuer.rfc4514_string(),
            "cert_self_signed": cert.self_signed, "cert_key": cert.key_desc,
            "cert_chain_len": len(cert.chain),
            "cert_sha1": ":".join(f"{b:02x}" for b in leaf.fingerprint(hashes.SHA1())),
            "cert_sha256": leaf.fingerprint(hashes.SHA256()).hex(),
            "cert_not_before": leaf.not_valid_before_utc.isoformat(),
            "cert_not_after": leaf.not_valid_after_utc.isoformat(),
            "cert_trusted": trusted,
            "cert_in_clear": version in ("TLS 1.2",)}


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def _wire_sni(tr: Transcript, skip_c2s: int = 0, skip_s2c: int = 0) -> str | None:
    """SNI as the ClientHello on the wire carries it (a client naming an IP sends none)."""
    return mp.hello_summary(tr.stream(C2S)[skip_c2s:], tr.stream(S2C)[skip_s2c:])[0]


def _payload_totals(tr: Transcript) -> dict:
    return {"payload_toserver": len(tr.stream(C2S)), "payload_toclient": len(tr.stream(S2C))}


# --------------------------------------------------------------------------- SSH (paramiko)

def _ssh_server_interface():
    """A paramiko ServerInterface that accepts one password login and one ``scp -t``.

    Built on demand: paramiko is a dependency of generating, not of ``--check``."""
    import paramiko

    class ScpOnly(paramiko.ServerInterface):
        def check_channel_request(self, kind, chanid):
            return (paramiko.OPEN_SUCCEEDED if kind == "session"
                    else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED)

        def get_allowed_auths(self, username):
            return "publickey,password"

        def check_auth_password(self, username, password):
            return paramiko.AUTH_SUCCESSFUL

        def check_channel_exec_request(self, channel, command):
            return command.startswith(b"scp -t ")
    return ScpOnly()


def _scp_sink(transport, size: int, errors: list) -> None:
    """Server side of ``scp -t``: acknowledge the header, swallow the file, acknowledge it."""
    try:
        transport.start_server(server=_ssh_server_interface())
        chan = transport.accept(timeout=30)
        chan.sendall(b"\0")
        header = b""
        while not header.endswith(b"\n"):
            header += chan.recv(1)
        if not header.startswith(b"C0644 %d " % size):
            raise RuntimeError(f"unexpected scp header {header!r}")
        chan.sendall(b"\0")
        got = 0
        while got < size + 1:                    # the file, then scp's trailing NUL
            data = chan.recv(1 << 16)
            if not data:
                raise RuntimeError("scp data cut short")
            got += len(data)
        chan.sendall(b"\0")
        chan.send_exit_status(0)
        chan.shutdown_write()
        while chan.recv(1 << 16):
            pass
        chan.close()
    except Exception as exc:  # surfaced by the caller; threads must not die silently
        errors.append(exc)


def _scp_source(sock, host_key, user: str, remote_name: str, data: bytes, client_version: str,
                errors: list) -> None:
    import paramiko
    try:
        t = paramiko.Transport(sock)
        t.local_version = client_version
        t.connect(hostkey=host_key, username=user, password="correct horse battery staple")
        chan = t.open_session()
        chan.exec_command(f"scp -t /srv/incoming/{remote_name}")
        if chan.recv(1) != b"\0":
            raise RuntimeError("scp sink refused")
        chan.sendall(b"C0644 %d %s\n" % (len(data), remote_name.encode()))
        if chan.recv(1) != b"\0":
            raise RuntimeError("scp sink refused the header")
        chan.sendall(data)
        chan.sendall(b"\0")
        if chan.recv(1) != b"\0":
            raise RuntimeError("scp sink did not confirm the file")
        chan.shutdown_write()
        while chan.recv(1 << 16):
            pass
        chan.recv_exit_status()
        chan.close()
        t.close()
    except Exception as exc:
        errors.append(exc)


def ssh_scp_transcript(rng: random.Random, size: int, remote_name: str,
                       client_version: str) -> tuple[Transcript, dict]:
    """A real SSH-2 session (paramiko on both ends) uploading ``size`` bytes with scp.

    Client and server each get one end of a socketpair; this thread relays between
    the other ends in rounds (everything one side sends until it goes quiet for a
    moment, then the other side's answer), which records each direction's bytes in
    causal order and makes the flight structure independent of thread scheduling.
    """
    import paramiko
    host_key = paramiko.RSAKey.generate(2048)  # RSA: fixed signature size, stable lengths
    c_sock, c_relay = socket.socketpair()
    s_sock, s_relay = socket.socketpair()
    errors: list = []
    # The server advertises a channel window larger than the file (as HPN-SSH does), so the
    # upload streams without window adjusts: how many adjusts paramiko sends depends on how
    # its reader thread happens to chunk the data, which would make the layout vary by run.
    server_t = paramiko.Transport(s_sock, default_window_size=1 << 30)
    server_t.add_server_key(host_key)
    sink = threading.Thread(target=_scp_sink, args=(server_t, size, errors), daemon=True)
    sink.start()
    data = rng.randbytes(size)
    source = threading.Thread(target=_scp_source, daemon=True,
                              args=(c_sock, host_key, "svc-build", remote_name, data,
                                    client_version, errors))
    source.start()
    chunks: list[tuple[str, bytes, str]] = []
    idle = 0.25
    open_ends = {C2S: True, S2C: True}
    turn, quiet_rounds = C2S, 0
    while quiet_rounds < 2 and any(open_ends.values()):
        src, dst = (c_relay, s_relay) if turn == C2S else (s_relay, c_relay)
        buf = bytearray()
        while open_ends[turn]:
            ready, _, _ = select.select([src], [], [], idle)
            if not ready:
                break
            piece = src.recv(1 << 20)
            if not piece:
                open_ends[turn] = False
                dst.shutdown(socket.SHUT_WR)
                break
            buf += piece
        if buf:
            try:
                dst.sendall(buf)
            except BrokenPipeError:  # the peer already hung up: these bytes never left
                open_ends[turn] = False
                continue
            chunks.append((turn, bytes(buf), "handshake" if len(chunks) < 6 else "app"))
            quiet_rounds = 0
        else:
            quiet_rounds += 1
        turn = S2C if turn == C2S else C2S
    source.join(30)
    sink.join(30)
    for s in (c_sock, c_relay, s_sock, s_relay):
        s.close()
    if errors:
        raise RuntimeError(f"SSH session failed: {errors[0]!r}") from errors[0]
    info = {"cipher": server_t.remote_cipher, "mac": server_t.remote_mac,
            "server_version": server_t.local_version, "client_version": client_version}
    server_t.close()
    tr = Transcript(tuple(chunks), "SSH-2.0", None, info["cipher"])
    return tr, info


# --------------------------------------------------------------------------- QUIC (aioquic)

def quic_h3_upload(cert: mp.ServerCert, sni: str, body: bytes, start_us: int, rtt_us: int,
                   uplink_bps: float) -> tuple[list[tuple[str, bytes, int]], dict]:
    """A QUIC v1 connection (aioquic on both ends) carrying one HTTP/3 POST of ``body``.

    Returns [(direction, datagram, capture time us)] and facts. The two
    QuicConnection objects exchange datagrams through a simulated path: the
    client's datagrams leave over a ``uplink_bps`` bottleneck and are captured
    as they leave; the server's arrive ``rtt_us/2`` after they are sent and are
    captured on arrival (the sensor sits next to the client).
    """
    from aioquic.buffer import Buffer
    from aioquic.h3.connection import H3Connection
    from aioquic.h3.events import DataReceived, HeadersReceived
    from aioquic.quic.configuration import QuicConfiguration
    from aioquic.quic.connection import QuicConnection
    from aioquic.quic.events import HandshakeCompleted
    from aioquic.quic.packet import QuicProtocolVersion, pull_quic_header

    v1 = [QuicProtocolVersion.VERSION_1]
    ccfg = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name=sni,
                             verify_mode=ssl.CERT_NONE, supported_versions=v1,
                             max_datagram_size=1350)
    scfg = QuicConfiguration(is_client=False, alpn_protocols=["h3"], supported_versions=v1,
                             max_datagram_size=1350, max_data=8 * MiB, max_stream_data=8 * MiB)
    scfg.load_cert_chain(cert.chain_path, cert.key_path)
    owd = rtt_us / 2 / 1e6
    client_addr, server_addr = ("10.0.0.1", 50000), ("192.0.2.1", 443)
    client = QuicConnection(configuration=ccfg)
    client_h3 = H3Connection(client)
    server = server_h3 = None
    now = start_us / 1e6
    client.connect(server_addr, now=now)
    in_flight: list[tuple[float, str, bytes]] = []     # (arrival time, receiver, datagram)
    captured: list[tuple[str, bytes, int]] = []
    link_free = now
    request_id = None
    done = False
    facts = {"alpn": None, "version": None}
    for _ in range(200_000):
        # 1. each side sends what it may send now
        for data, _addr in client.datagrams_to_send(now=now):
            leave = max(now, link_free)
            link_free = leave + len(data) * 8 / uplink_bps
            captured.append((C2S, data, round(leave * 1e6)))
            in_flight.append((leave + owd, "server", data))
        if server is not None:
            for data, _addr in server.datagrams_to_send(now=now):
                captured.append((S2C, data, round((now + owd) * 1e6)))
                in_flight.append((now + owd, "client", data))
        if done and not in_flight:
            break
        # 2. advance packet time to the next arrival or timer
        timers = [t for t in (client.get_timer(), server.get_timer() if server else None) if t]
        candidates = [a for a, _, _ in in_flight] + timers
        if not candidates:
            break
        now = max(now, min(candidates))
        in_flight.sort(key=lambda x: x[0])
        while in_flight and in_flight[0][0] <= now:
            _, receiver, data = in_flight.pop(0)
            if receiver == "server":
                if server is None:
                    header = pull_quic_header(Buffer(data=data), host_cid_length=8)
                    server = QuicConnection(configuration=scfg,
                                            original_destination_connection_id=header.destination_cid)
                    server_h3 = H3Connection(server)
                server.receive_datagram(data, client_addr, now=now)
            else:
                client.receive_datagram(data, server_addr, now=now)
        for conn in (client, server):
            if conn is not None and conn.get_timer() is not None and conn.get_timer() <= now:
                conn.handle_timer(now=now)
        # 3. application events
        while server is not None and (ev := server.next_event()) is not None:
            for h3ev in server_h3.handle_event(ev):
                if isinstance(h3ev, DataReceived) and h3ev.stream_ended:
                    server_h3.send_headers(h3ev.stream_id, [(b":status", b"201"),
                                                           (b"server", b"nginx"),
                                                           (b"content-length", b"0")],
                                           end_stream=True)
        while (ev := client.next_event()) is not None:
            if isinstance(ev, HandshakeCompleted) and request_id is None:
                facts["alpn"] = ev.alpn_protocol
                request_id = client.get_next_available_stream_id()
                client_h3.send_headers(request_id, [
                    (b":method", b"POST"), (b":scheme", b"https"), (b":authority", sni.encode()),
                    (b":path", b"/api/v2/upload"),
                    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) Chrome/122.0 Safari/537.36"),
                    (b"content-type", b"application/octet-stream"),
                    (b"content-length", str(len(body)).encode())])
                client_h3.send_data(request_id, body, end_stream=True)
            for h3ev in client_h3.handle_event(ev):
                if isinstance(h3ev, HeadersReceived) and h3ev.stream_ended and not done:
                    client.close(error_code=0x100)  # H3_NO_ERROR
                    done = True
    else:
        raise RuntimeError("QUIC upload did not finish")
    facts["version"] = 1
    captured.sort(key=lambda c: c[2])
    return captured, facts


# --------------------------------------------------------------------------- scenario building

@dataclass
class Flow:
    """A generated flow; its transcript is what the self-check reassembles it against."""
    result: FlowResult


class Scenarios:
    """Holds the PKI and the seed; each method returns one scenario's flows."""

    def __init__(self, seed: int, scale: float, workdir: Path):
        self.seed, self.scale = seed, scale
        self.b = mp.Builder(seed, workdir)
        self.pki = self.b.pki
        self.ports: dict[str, int] = {}

    def size(self, n: int) -> int:
        return int(n * self.scale)

    def port(self, client_ip: str, rng: random.Random) -> int:
        """Ephemeral ports the way Linux hands them out to one host: increasing, small steps."""
        if client_ip not in self.ports:
            self.ports[client_ip] = rng.randint(33000, 52000)
        self.ports[client_ip] += rng.randint(1, 7)
        return self.ports[client_ip]

    # ------------------------------------------------------------------ flow kinds

    def tls(self, cap: str, idx: int, client: str, server: Server, start: int, *,
            cert: mp.ServerCert | None = None, role: str = "benign", **kw) -> Flow:
        rng = mp._rng(self.seed, cap, idx, "port")
        cert = cert or self.pki.leaf(server.name, server.key)
        flow = self.b.tls_flow(cap, idx, client, server, start, cert=cert, scenario=role,
                               client_port=self.port(client, rng), **kw)
        tr = flow.transcript
        sni = _wire_sni(tr)
        flow.truth.update(sni=sni, app_proto="tls", **_payload_totals(tr),
                          **cert_facts(self.pki, cert, sni or server.ip, tr.version, start))
        return Flow(flow)

    def dns(self, cap: str, idx: int, client: str, name: str, answer: str, start: int) -> Flow:
        flow = mp.dns_lookup(client, RESOLVER, name, answer, start, mp._rng(self.seed, cap, idx))
        flow.truth.update(app_proto=None, dns_query=name)
        return Flow(flow)

    def smtp_starttls(self, cap: str, idx: int, client: str, server: Server, start: int,
                      messages: list[int], role: str) -> Flow:
        """Mail submission on 587: plaintext EHLO / STARTTLS, then TLS carrying AUTH and
        messages with base64 attachments of the given raw sizes."""
        rng = mp._rng(self.seed, cap, idx)
        host = server.name
        preamble = [
            (S2C, f"220 {host} ESMTP Postfix (Debian/GNU)\r\n".encode(), "app"),
            (C2S, f"EHLO [{client}]\r\n".encode(), "app"),
            (S2C, (f"250-{host}\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-VRFY\r\n"
                   "250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
                   "250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n").encode(), "app"),
            (C2S, b"STARTTLS\r\n", "app"),
            (S2C, b"220 2.0.0 Ready to start TLS\r\n", "app"),
        ]
        sender, rcpt = "j.doe@corp.example", "archive.drop@mailbox-relay.example"
        login = base64.b64encode(f"\0{sender}\0Winter2026!".encode()).decode()
        exchanges = [
            (f"EHLO [{client}]\r\n".encode(),
             (f"250-{host}\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-AUTH PLAIN LOGIN\r\n"
              "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 CHUNKING\r\n").encode()),
            (f"AUTH PLAIN {login}\r\n".encode(), b"235 2.7.0 Authentication successful\r\n"),
        ]
        for n, raw in enumerate(messages):
            attachment = base64.encodebytes(rng.randbytes(raw)).replace(b"\n", b"\r\n")
            boundary = f"------------{rng.getrandbits(64):016x}"
            body = (f"From: J. Doe <{sender}>\r\nTo: <{rcpt}>\r\nSubject: Q1 files part {n + 1}\r\n"
                    f"Date: {_iso(start)}\r\nMessage-ID: <{rng.getrandbits(64):x}@corp.example>\r\n"
                    "MIME-Version: 1.0\r\nUser-Agent: Mozilla Thunderbird\r\n"
                    f"Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
                    f"--{boundary}\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nsee attached\r\n"
                    f"--{boundary}\r\nContent-Type: application/zip; name=\"q1-{n + 1}.zip\"\r\n"
                    "Content-Transfer-Encoding: base64\r\n"
                    f"Content-Disposition: attachment; filename=\"q1-{n + 1}.zip\"\r\n\r\n").encode()
            body += attachment + f"\r\n--{boundary}--\r\n.\r\n".encode()
            queue_id = f"{rng.getrandbits(40):010X}"
            exchanges += [(f"MAIL FROM:<{sender}> SIZE={len(body)}\r\n".encode(), b"250 2.1.0 Ok\r\n"),
                          (f"RCPT TO:<{rcpt}>\r\n".encode(), b"250 2.1.5 Ok\r\n"),
                          (b"DATA\r\n", b"354 End data with <CR><LF>.<CR><LF>\r\n"),
                          (body, f"250 2.0.0 Ok: queued as {queue_id}\r\n".encode())]
        exchanges.append((b"QUIT\r\n", b"221 2.0.0 Bye\r\n"))
        cert = self.pki.leaf(server.name, server.key)
        opts = mp.TlsOptions(host, server_max=server.max_version)
        tls_tr = mp.make_tls_transcript(cert, opts, exchanges)
        tr = Transcript(tuple(preamble) + tls_tr.chunks, tls_tr.version, tls_tr.alpn, tls_tr.cipher)
        pre = (sum(len(d) for di, d, _ in preamble if di == C2S),
               sum(len(d) for di, d, _ in preamble if di == S2C))
        spec = mp.FlowSpec(client, self.port(client, rng), server.ip, server.port,
                           mp.plain_ethernet(client), rtt_us=rng.randint(8_000, 30_000),
                           rate_toserver=1_500_000.0, server_think_us=(1_000, 20_000),
                           client_think_us=(300, 3_000), idle_before_close_us=(20_000, 100_000),
                           scenario=role)
        flow = mp.frame_tcp(tr, spec, start, rng)
        sni = _wire_sni(tr, *pre)
        flow.truth.update(sni=sni, app_proto="smtp", **_payload_totals(tr),
                          **cert_facts(self.pki, cert, sni, tr.version, start))
        return Flow(flow)

    def scp(self, cap: str, idx: int, client: str, server_ip: str, start: int, size: int,
            role: str) -> Flow:
        rng = mp._rng(self.seed, cap, idx)
        tr, info = ssh_scp_transcript(rng, size, "q1-archive.tar.zst",
                                      "SSH-2.0-paramiko_" + _version("paramiko"))
        spec = mp.FlowSpec(client, self.port(client, rng), server_ip, 22, mp.plain_ethernet(client),
                           rtt_us=rng.randint(15_000, 35_000), rate_toserver=2_500_000.0,
                           rate_toclient=2_000_000.0, server_think_us=(200, 1_500),
                           client_think_us=(100, 600), idle_before_close_us=(5_000, 30_000),
                           scenario=role)
        flow = mp.frame_tcp(tr, spec, start, rng)
        flow.truth.update(sni=None, tls_version=None, alpn=None, cipher=info["cipher"],
                          app_proto="ssh", ssh_client_software=info["client_version"][8:],
                          ssh_server_software=info["server_version"][8:], ssh_proto_version="2.0",
                          **_payload_totals(tr))
        return Flow(flow)

    def quic(self, cap: str, idx: int, client: str, server: Server, start: int, size: int,
             role: str) -> Flow:
        rng = mp._rng(self.seed, cap, idx)
        cert = self.pki.leaf(server.name, "rsa")
        rtt = rng.randint(10_000, 30_000)
        datagrams, facts = quic_h3_upload(cert, server.name, rng.randbytes(size), start, rtt,
                                          uplink_bps=20e6)
        spec = mp.FlowSpec(client, self.port(client, rng), server.ip, 443,
                           mp.plain_ethernet(client), rtt, scenario=role)
        first = datagrams[0][2]
        payloads, last = [], first
        for direction, data, ts in datagrams:
            payloads.append((direction, data, ts - last))
            last = ts
        flow = mp.frame_udp(spec, payloads, first)
        flow.truth.update(sni=server.name, tls_version="TLS 1.3", alpn=facts["alpn"], app_proto="quic",
                          quic_version=facts["version"],
                          payload_toserver=sum(len(d) for di, d, _ in datagrams if di == C2S),
                          payload_toclient=sum(len(d) for di, d, _ in datagrams if di == S2C),
                          **cert_facts(self.pki, cert, server.name, "TLS 1.3", start))
        return Flow(flow)


def _version(dist: str) -> str:
    from importlib.metadata import version
    return version(dist)


# --------------------------------------------------------------------------- the scenarios

S = mp.SERVERS  # the demo's benign, CA-signed sites (IPv4 ones used here)
BENIGN_SITES = ("www.news.example", "cdn.example.net", "mail.example.org", "api.example.com",
                "docs.example.org", "static.example.net", "updates.example.com")


@dataclass(frozen=True)
class Expect:
    """What the detection layer must conclude about one capture."""
    verdict: str                                   # "alert" | "silent"
    detections: tuple[str, ...] = ()               # must fire (alert scenarios)
    may_fire: tuple[str, ...] = ()                 # acceptable extras on an alert scenario
    without_allowlist: tuple[str, ...] = ()        # what the allowlist must be silencing
    allowlist: dict | None = None
    detect: dict | None = None                     # [detect] tunables this scenario overrides
    description: str = ""


def _browse(sc: Scenarios, cap: str, idx: int, client: str, site: str, start: int,
            downloads=(60_000,), uploads=()) -> Flow:
    return sc.tls(cap, idx, client, S[site], start, downloads=downloads, uploads=uploads)


def benign_browsing(sc: Scenarios, cap: str) -> list[Flow]:
    """Six hosts browse CA-signed sites for 20 minutes; downloads dwarf uploads."""
    base = at(16, 9, 0)
    plan = [  # (seconds after 09:00, host, site, downloads, uploads)
        (2, "10.20.1.10", "www.news.example", (80_000, 140_000), ()),
        (31, "10.20.1.11", "mail.example.org", (40_000, 25_000), (4_000, 0)),
        (75, "10.20.1.12", "docs.example.org", (90_000,), (6_000,)),
        (118, "10.20.1.10", "cdn.example.net", (300_000,), ()),
        (160, "10.20.1.13", "updates.example.com", (450_000,), ()),
        (212, "10.20.1.14", "api.example.com", (15_000, 12_000), (1_500, 1_200)),
        (265, "10.20.1.15", "static.example.net", (70_000,), ()),
        (330, "10.20.1.11", "www.news.example", (120_000,), ()),
        (395, "10.20.1.12", "cdn.example.net", (200_000,), ()),
        (470, "10.20.1.13", "docs.example.org", (60_000, 30_000), (2_500, 800)),
        (540, "10.20.1.14", "mail.example.org", (35_000,), (3_000,)),
        (640, "10.20.1.15", "www.news.example", (95_000,), ()),
        (700, "10.20.1.10", "api.example.com", (9_000,), (900,)),
        (760, "10.20.1.13", "static.example.net", (50_000,), ()),
        (845, "10.20.1.14", "updates.example.com", (380_000,), ()),
        (960, "10.20.1.12", "www.news.example", (110_000,), ()),
        (1_000, "10.20.1.10", "docs.example.org", (45_000,), (1_200,)),
        (1_090, "10.20.1.11", "cdn.example.net", (160_000,), ()),
        (1_150, "10.20.1.15", "api.example.com", (11_000,), (1_000,)),
    ]
    flows = [sc.dns(cap, 100, "10.20.1.10", "www.news.example", S["www.news.example"].ip, base),
             sc.dns(cap, 101, "10.20.1.13", "updates.example.com", S["updates.example.com"].ip,
                    base + 159_000_000),
             sc.dns(cap, 102, "10.20.1.14", "api.example.com", S["api.example.com"].ip,
                    base + 211_500_000)]
    rng = mp._rng(sc.seed, cap, "schedule")
    for i, (sec, host, site, downs, ups) in enumerate(plan):
        flows.append(_browse(sc, cap, i, host, site, base + sec * 1_000_000 + rng.randint(0, 900_000),
                             downs, ups))
    return flows


def exfil_selfsigned_oddport(sc: Scenarios, cap: str) -> list[Flow]:
    """~10 MiB PUT over TLS 1.2 to a bare IP on 8443 with an OpenSSL-default self-signed cert."""
    base = at(16, 22, 40)
    server = Server("203.0.113.80", "203.0.113.80", port=8443, max_version=ssl.TLSVersion.TLSv1_2,
                    alpn=())
    chunk = MiB
    return [
        _browse(sc, cap, 0, "10.20.1.23", "www.news.example", base, (70_000,)),
        # curl -k https://203.0.113.80:8443/up/...: no SNI (the URL names an IP), no ALPN
        sc.tls(cap, 1, "10.20.1.23", server, base + 5_300_000,
               cert=sc.pki.self_signed("203.0.113.80"), client_alpn=(), role="exfil",
               downloads=(0,) * 10, uploads=(sc.size(chunk),) * 10, method="PUT",
               rate_toserver=400_000.0, server_think_us=(3_000, 15_000),
               client_think_us=(20_000, 150_000), idle_before_close_us=(50_000, 200_000)),
        _browse(sc, cap, 2, "10.20.1.24", "mail.example.org", base + 12_000_000, (30_000,), (2_000,)),
        _browse(sc, cap, 3, "10.20.1.23", "cdn.example.net", base + 70_000_000, (150_000,)),
    ]


def exfil_new_cert_443(sc: Scenarios, cap: str) -> list[Flow]:
    """~7 MiB POST over 443 to a CA-signed, name-valid site never seen before, whose
    certificate was issued the day before."""
    base = at(17, 10, 15)
    name = "share.quickfiles.example"
    server = Server(name, "198.51.100.180", max_version=ssl.TLSVersion.TLSv1_2,
                    alpn=("h2", "http/1.1"))
    cert = sc.pki.leaf(name, "rsa", not_before=dt.datetime(2026, 3, 16, 9, 12, tzinfo=UTC), days=90)
    return [
        _browse(sc, cap, 0, "10.20.1.31", "docs.example.org", base, (80_000,), (3_000,)),
        sc.dns(cap, 1, "10.20.1.31", name, server.ip, base + 9_000_000),
        sc.tls(cap, 2, "10.20.1.31", server, base + 9_030_000, cert=cert, role="exfil",
               downloads=(25_000, 4_000), uploads=(0, sc.size(7 * MiB)),
               rate_toserver=2_500_000.0),
        _browse(sc, cap, 3, "10.20.1.32", "www.news.example", base + 15_000_000, (90_000,)),
        _browse(sc, cap, 4, "10.20.1.31", "cdn.example.net", base + 40_000_000, (120_000,)),
    ]


def scp_upload(sc: Scenarios, cap: str) -> list[Flow]:
    """scp of a ~5 MiB archive to an external SSH server (real paramiko SSH-2 session)."""
    base = at(17, 13, 5)
    return [
        _browse(sc, cap, 0, "10.20.1.40", "www.news.example", base, (60_000,)),
        sc.scp(cap, 1, "10.20.1.40", "198.51.100.77", base + 20_000_000, sc.size(5 * MiB), "exfil"),
        _browse(sc, cap, 2, "10.20.1.41", "api.example.com", base + 31_000_000, (14_000,), (1_100,)),
    ]


def quic_upload(sc: Scenarios, cap: str) -> list[Flow]:
    """HTTP/3 POST of ~4 MiB over QUIC v1 (aioquic both ends) to a new site."""
    base = at(17, 15, 20)
    server = Server("drop.h3files.example", "203.0.113.90")
    return [
        _browse(sc, cap, 0, "10.20.1.42", "cdn.example.net", base, (110_000,)),
        sc.dns(cap, 1, "10.20.1.42", server.name, server.ip, base + 6_000_000),
        sc.quic(cap, 2, "10.20.1.42", server, base + 6_025_000, sc.size(4 * MiB), "exfil"),
        _browse(sc, cap, 3, "10.20.1.43", "docs.example.org", base + 9_000_000, (50_000,)),
    ]


def slow_and_low(sc: Scenarios, cap: str) -> list[Flow]:
    """200 KB POSTed every 10 minutes (+-20 s) for 6 hours to one site: 36 short sessions."""
    base = at(18, 9, 0)
    server = Server("notes-sync.example", "198.51.100.140", alpn=("h2", "http/1.1"))
    rng = mp._rng(sc.seed, cap, "schedule")
    flows = [_browse(sc, cap, 0, "10.20.1.50", "www.news.example", base, (90_000,)),
             sc.dns(cap, 1, "10.20.1.50", server.name, server.ip, base + 58_000_000)]
    for k in range(36):
        start = base + 60_000_000 + k * 600_000_000 + rng.randint(-20_000_000, 20_000_000)
        flows.append(sc.tls(cap, 2 + k, "10.20.1.50", server, start, role="exfil",
                            downloads=(600,), uploads=(sc.size(200_000),), method="POST",
                            rate_toserver=1_000_000.0))
    flows.append(_browse(sc, cap, 40, "10.20.1.51", "mail.example.org", base + 7_200_000_000,
                         (40_000,), (3_000,)))
    return flows


def beaconing(sc: Scenarios, cap: str) -> list[Flow]:
    """One host checks in every 60 s (+-2 s) for two hours: small, regular TLS sessions."""
    base = at(18, 10, 0)
    server = Server("telemetry.cdn-metrics.example", "203.0.113.150", alpn=("http/1.1",))
    rng = mp._rng(sc.seed, cap, "schedule")
    flows = [sc.dns(cap, 0, "10.20.1.60", server.name, server.ip, base)]
    for k in range(120):
        start = base + 30_000 + k * 60_000_000 + rng.randint(-2_000_000, 2_000_000)
        # a check-in (GET, 'no tasks'); every 17th one returns a result (POST of a few KB)
        up = 2_600 + rng.randint(0, 300) if k % 17 == 16 else 0
        flows.append(sc.tls(cap, 1 + k, "10.20.1.60", server, start, role="beacon",
                            client_alpn=("http/1.1",), downloads=(180 + rng.randint(0, 40),),
                            uploads=(up,), idle_before_close_us=(30_000, 80_000)))
    flows.append(_browse(sc, cap, 200, "10.20.1.61", "www.news.example", base + 1_800_000_000,
                         (80_000,)))
    return flows


def many_hosts_new_dest(sc: Scenarios, cap: str) -> list[Flow]:
    """Five hosts reach the same never-seen site within 10 minutes (and upload to it)."""
    base = at(18, 14, 0)
    server = Server("cdn.newshare.example", "203.0.113.200", alpn=("h2", "http/1.1"))
    flows = [_browse(sc, cap, 0, "10.20.1.70", "www.news.example", base, (70_000,))]
    for k, (host, sec) in enumerate([("10.20.1.70", 40), ("10.20.1.71", 130), ("10.20.1.72", 262),
                                     ("10.20.1.73", 395), ("10.20.1.74", 548)]):
        flows.append(sc.dns(cap, 10 + k, host, server.name, server.ip, base + sec * 1_000_000))
        flows.append(sc.tls(cap, 20 + k, host, server, base + sec * 1_000_000 + 25_000, role="exfil",
                            downloads=(18_000, 1_000), uploads=(0, sc.size(300_000) + 1_000 * k)))
    flows.append(_browse(sc, cap, 30, "10.20.1.72", "docs.example.org", base + 300_000_000, (40_000,)))
    return flows


def starttls_smtp_attachments(sc: Scenarios, cap: str) -> list[Flow]:
    """Mail submission on 587 with STARTTLS: three messages with ~4.5 MiB of attachments."""
    base = at(18, 16, 30)
    server = Server("smtp.mailbox-relay.example", "198.51.100.160", port=587,
                    max_version=ssl.TLSVersion.TLSv1_2, alpn=())
    return [
        _browse(sc, cap, 0, "10.20.1.80", "mail.example.org", base, (30_000,)),
        sc.dns(cap, 1, "10.20.1.80", server.name, server.ip, base + 4_000_000),
        sc.smtp_starttls(cap, 2, "10.20.1.80", server, base + 4_020_000,
                         [sc.size(n) for n in (1_200_000, 1_000_000, 1_150_000)], "exfil"),
        _browse(sc, cap, 3, "10.20.1.81", "www.news.example", base + 10_000_000, (60_000,)),
    ]


def allowlisted_backup(sc: Scenarios, cap: str) -> list[Flow]:
    """The nightly backup: ~7 MiB PUT to backup.corp.example (CA-signed), allowlisted."""
    base = at(19, 1, 30)
    server = Server("backup.corp.example", "198.51.100.200", alpn=())
    return [
        sc.dns(cap, 0, "10.20.5.10", server.name, server.ip, base),
        sc.tls(cap, 1, "10.20.5.10", server, base + 15_000, role="allowlisted", client_alpn=(),
               downloads=(300,) * 7, uploads=(sc.size(MiB),) * 7, method="PUT",
               rate_toserver=3_000_000.0, client_think_us=(2_000, 10_000)),
    ]


def host_upload_jump(sc: Scenarios, cap: str) -> list[Flow]:
    """A host's routine: ~45 KB a day to two known sites for eight days; on the ninth, a
    1.2 MB POST to one of them."""
    host, docs, api = "10.20.1.90", "docs.example.org", "api.example.com"
    rng = mp._rng(sc.seed, cap, "schedule")
    flows = []
    for d, day in enumerate(range(20, 29)):     # 20-28 March: the routine every day, the last too
        morning = at(day, 9) + rng.randint(0, 2_400) * 1_000_000
        flows.append(_browse(sc, cap, 10 * d, host, docs, morning, (6_000,),
                             (30_000 + rng.randint(-4_000, 4_000),)))
        afternoon = at(day, 14) + rng.randint(0, 3_600) * 1_000_000
        flows.append(_browse(sc, cap, 10 * d + 1, host, api, afternoon, (3_000,),
                             (15_000 + rng.randint(-3_000, 3_000),)))
    flows.append(sc.tls(cap, 100, host, S[docs], at(28, 16, 10), role="exfil",
                        downloads=(900,), uploads=(sc.size(1_200_000),), method="POST",
                        rate_toserver=1_500_000.0))
    return flows


SCENARIOS: dict[str, tuple] = {
    "benign_browsing.pcap": (benign_browsing, Expect(
        "silent", description="Six hosts browse the demo's CA-signed sites for 20 minutes; "
        "downloads dwarf uploads; no destination is reached by more than two hosts in any "
        "10-minute window.")),
    "exfil_selfsigned_oddport.pcap": (exfil_selfsigned_oddport, Expect(
        "alert", ("large_upload", "untrusted_certificate", "nonstandard_port"),
        ("new_destination", "sustained_transfer", "host_baseline_deviation"),
        description="10.20.1.23 PUTs 10 MiB over TLS 1.2 to 203.0.113.80:8443 (no SNI) whose "
        "certificate is OpenSSL-default self-signed, CA:TRUE, CN = the IP.")),
    "exfil_new_cert_443.pcap": (exfil_new_cert_443, Expect(
        "alert", ("large_upload", "new_destination"), ("host_baseline_deviation",),
        description="10.20.1.31 POSTs 7 MiB over TLS 1.2 on 443 to share.quickfiles.example, "
        "never seen before; its chain is valid (demo CA) but the leaf was issued the day before.")),
    "scp_upload.pcap": (scp_upload, Expect(
        "alert", ("large_upload",), ("new_destination", "host_baseline_deviation"),
        description="10.20.1.40 uploads a 5 MiB archive with scp over SSH-2 (paramiko both "
        "ends) to 198.51.100.77:22.")),
    "quic_upload.pcap": (quic_upload, Expect(
        "alert", ("large_upload",), ("new_destination", "host_baseline_deviation"),
        description="10.20.1.42 POSTs 4 MiB over HTTP/3 (QUIC v1) to drop.h3files.example.")),
    "slow_and_low.pcap": (slow_and_low, Expect(
        # the host has no upload history and sends ~7.6 MB: its own baseline cannot flag it;
        # 36 sessions ~600 s apart are regular enough to look like beaconing too
        "alert", ("sustained_transfer",), ("new_destination", "beaconing", "host_baseline_deviation"),
        description="10.20.1.50 POSTs 200 KB to notes-sync.example every 10 minutes for 6 "
        "hours (36 short TLS 1.3 sessions); no single session is large.")),
    "beaconing.pcap": (beaconing, Expect(
        "alert", ("beaconing",), ("new_destination",),
        description="10.20.1.60 checks in with telemetry.cdn-metrics.example every 60 s "
        "(+-2 s) for two hours: 120 small TLS 1.3 sessions of near-constant size.")),
    "many_hosts_new_dest.pcap": (many_hosts_new_dest, Expect(
        "alert", ("multi_host_new_destination",), ("new_destination",),
        description="Five hosts (10.20.1.70-74) reach the never-seen cdn.newshare.example "
        "within 10 minutes, each uploading ~300 KB.")),
    "starttls_smtp_attachments.pcap": (starttls_smtp_attachments, Expect(
        "alert", ("large_upload",), ("new_destination", "host_baseline_deviation"),
        description="10.20.1.80 submits three mails with ~4.5 MiB of base64 attachments to "
        "smtp.mailbox-relay.example:587 after EHLO/STARTTLS in the clear.")),
    "allowlisted_backup.pcap": (allowlisted_backup, Expect(
        "silent", without_allowlist=("large_upload", "new_destination"),
        allowlist={"domains": ["backup.corp.example"], "ips": ["198.51.100.200"]},
        description="The nightly backup agent 10.20.5.10 PUTs 7 MiB to backup.corp.example "
        "(CA-signed, TLS 1.3) at 01:30; the organisation allowlists it.")),
    # the 60 MB budget keeps the jump at 1.2 MB, far under the 20 MB default floor
    "host_upload_jump.pcap": (host_upload_jump, Expect(
        "alert", ("host_baseline_deviation",), detect={"host_deviation_min_bytes": 1_000_000},
        description="10.20.1.90 POSTs ~45 KB a day to docs.example.org and api.example.com "
        "(known, CA-signed, TLS 1.3) from 20 to 27 March, then 1.2 MB to docs.example.org on "
        "28 March, ~25 times its daily median; host_deviation_min_bytes is lowered to 1 MB.")),
}
BASELINE_CAPTURE = "benign_browsing.pcap"


# --------------------------------------------------------------------------- ground truth

def _scenario_facts(flows: list[dict]) -> dict:
    """Facts computed from the flows: what the suspect traffic amounts to."""
    suspect = [f for f in flows if f["scenario"] != "benign"]
    external = [f for f in flows if not any(ipaddress.ip_address(f["dest_ip"]) in
                                            ipaddress.ip_network(n) for n in HOME_NET)]
    window = 600_000_000
    most_hosts = 0
    for f in external:
        hosts = {g["src_ip"] for g in external
                 if g["dest_ip"] == f["dest_ip"] and f["start"] <= g["start"] < f["start"] + window}
        most_hosts = max(most_hosts, len(hosts))
    facts = {"max_internal_hosts_per_destination_10min": most_hosts}
    if suspect:
        starts = sorted(f["start"] for f in suspect)
        gaps = [(b - a) / 1e6 for a, b in zip(starts, starts[1:])]
        facts.update(
            suspect_bytes_toserver=sum(f["bytes_toserver"] for f in suspect),
            suspect_bytes_toclient=sum(f["bytes_toclient"] for f in suspect),
            suspect_connections=len(suspect),
            suspect_internal_hosts=sorted({f["src_ip"] for f in suspect}),
            suspect_destinations=sorted({f"{f['dest_ip']}:{f['dest_port']}/{f['proto']}"
                                         for f in suspect}),
            suspect_first=_iso(starts[0]), suspect_span_s=round((max(f["end"] for f in suspect)
                                                                 - starts[0]) / 1e6, 3))
        if gaps:
            mean = sum(gaps) / len(gaps)
            facts.update(suspect_interval_mean_s=round(mean, 3),
                         suspect_interval_stdev_s=round((sum((g - mean) ** 2 for g in gaps)
                                                         / len(gaps)) ** 0.5, 3))
    return facts


def _layout_sha256(packets) -> str:
    return hashlib.sha256(b"".join(struct.pack("!qI", ts, len(fr)) for ts, fr, _ in packets)).hexdigest()


def _expectation(name: str, expect: Expect, ca_pem: str) -> dict:
    """The ground-truth fields a scenario's Expect decides (not its packets)."""
    config = {"home_net": HOME_NET, "trusted_ca_pem": ca_pem, "allowlist": expect.allowlist or {}}
    if expect.detect:
        config["detect"] = expect.detect
    config["baseline_learn_from"] = [] if name == BASELINE_CAPTURE else [BASELINE_CAPTURE]
    return {"description": expect.description, "expect": expect.verdict,
            "detections": list(expect.detections),
            "detections_may_fire": list(expect.may_fire),
            "detections_silenced_by_allowlist": list(expect.without_allowlist),
            "config": config}


def _capture_truth(name: str, expect: Expect, flows: list[Flow], packets, raw: bytes,
                   ca_pem: str, ca_sha256: str) -> dict:
    flow_truth = [f.result.truth for f in flows]
    e = _expectation(name, expect, ca_pem)
    return {"description": e["description"],
            "format": "pcap", "linktypes": [mp.LINKTYPE_ETHERNET],
            "packets": len(packets), "size": len(raw), "sha256": hashlib.sha256(raw).hexdigest(),
            "layout_sha256": _layout_sha256(packets),
            "expect": e["expect"], "detections": e["detections"],
            "detections_may_fire": e["detections_may_fire"],
            "detections_silenced_by_allowlist": e["detections_silenced_by_allowlist"],
            "suspect_flows": [i for i, f in enumerate(flow_truth) if f["scenario"] != "benign"],
            "config": e["config"], "trusted_ca_sha256": ca_sha256,
            "facts": _scenario_facts(flow_truth),
            "flows": flow_truth}


def _write_scenario(sc: Scenarios, out_dir: Path, name: str) -> tuple[list[Flow], list, bytes]:
    make, _ = SCENARIOS[name]
    flows = make(sc, name)
    flows.sort(key=lambda f: f.result.truth["start"])
    keys = [(f.result.truth["proto"], f.result.truth["src_ip"], f.result.truth["src_port"],
             f.result.truth["dest_ip"], f.result.truth["dest_port"]) for f in flows]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{name}: two flows share a 5-tuple")
    packets = mp.write_capture(out_dir / name, [f.result for f in flows])
    raw = (out_dir / name).read_bytes()
    LOG.info("wrote %s: %d packets, %d flows, %d bytes", name, len(packets), len(flows), len(raw))
    return flows, packets, raw


def generate(out_dir: Path, seed: int, scale: float, only: str | None = None) -> dict:
    """Write every scenario capture, the demo root CA and ground_truth.json; self-check them.

    With ``only``, write that one capture and its entry in the existing
    ground_truth.json, leaving the other captures alone. The demo PKI's keys
    come from the OS, not the seed, so that capture's certificates chain to a
    root of their own, written as ``<capture stem>.root_ca.pem`` and named in
    its config. Each entry records the sha256 of the root its certificates
    chain to (entries made before it was recorded: the top-level one)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if only:
        if not (out_dir / "ground_truth.json").is_file():
            raise ValueError(f"--only {only} adds to {out_dir / 'ground_truth.json'}, which does "
                             "not exist; generate the whole set first")
        truth = json.loads((out_dir / "ground_truth.json").read_text())
        if (truth["seed"], truth["scale"]) != (seed, scale):
            raise ValueError(f"ground_truth.json was made with seed {truth['seed']} and scale "
                             f"{truth['scale']}; --only {only} must use the same")
        names = [only]
    else:
        truth = {"generator": "pcaps/make_scenarios.py", "seed": seed, "scale": scale,
                 "openssl": ssl.OPENSSL_VERSION, "python": sys.version.split()[0],
                 "paramiko": _version("paramiko"), "aioquic": _version("aioquic"),
                 "byte_count_convention": mp.BYTE_CONVENTION,
                 "timestamps": "microseconds since the Unix epoch (packet time)",
                 "home_net": HOME_NET, "trusted_ca_pem": CA_PEM, "captures": {}}
        names = list(SCENARIOS)
        for stale in out_dir.glob("*.root_ca.pem"):   # roots of earlier --only runs
            stale.unlink()
    ca_pem = f"{Path(only).stem}.root_ca.pem" if only else CA_PEM
    written: dict[str, dict] = {}
    transcripts: dict[str, list[Flow]] = {}
    with tempfile.TemporaryDirectory(prefix="make_scenarios-") as tmp:
        sc = Scenarios(seed, scale, Path(tmp))
        pem = sc.pki.root.public_bytes(serialization.Encoding.PEM)
        ca_sha256 = hashlib.sha256(pem).hexdigest()
        for name in names:
            flows, packets, raw = _write_scenario(sc, out_dir, name)
            written[name] = _capture_truth(name, SCENARIOS[name][1], flows, packets, raw,
                                           ca_pem, ca_sha256)
            transcripts[name] = flows
    (out_dir / ca_pem).write_bytes(pem)
    if not only:
        truth["trusted_ca_sha256"] = ca_sha256
    old = truth["captures"]
    truth["captures"] = {n: written.get(n) or old[n] for n in SCENARIOS if n in written or n in old}
    (out_dir / "ground_truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    check(out_dir, truth, transcripts)
    return truth


# --------------------------------------------------------------------------- self-check

def _check_flow(name: str, want: dict, st: dict | None, flow: Flow | None) -> None:
    """Protocol facts of one flow, read back from its reassembled streams."""
    key = (want["src_ip"], want["src_port"], want["dest_ip"], want["dest_port"])
    if st is None:
        return
    c2s, s2c = bytes(st[C2S]), bytes(st[S2C])
    if flow is not None:
        tr = flow.result.transcript
        if (c2s, s2c) != (tr.stream(C2S), tr.stream(S2C)):
            raise ValueError(f"{name}: {key} does not reassemble to the generated byte streams")
    proto = want["app_proto"]
    if proto == "ssh":
        for data, side in ((c2s, "client"), (s2c, "server")):
            banner = data.split(b"\r\n", 1)[0].decode()
            if banner != f"SSH-2.0-{want[f'ssh_{side}_software']}":
                raise ValueError(f"{name}: {key} {side} banner {banner!r}")
        return
    skip_c = skip_s = 0
    if proto == "smtp":
        skip_c = c2s.index(b"STARTTLS\r\n") + len(b"STARTTLS\r\n")
        skip_s = s2c.index(b"220 2.0.0 ") + s2c[s2c.index(b"220 2.0.0 "):].index(b"\r\n") + 2
    mp.tls_records(c2s[skip_c:])
    mp.tls_records(s2c[skip_s:])
    sni, version = mp.hello_summary(c2s[skip_c:], s2c[skip_s:])
    if (sni, version) != (want["sni"], want["tls_version"]):
        raise ValueError(f"{name}: {key} hello says {(sni, version)}, truth "
                         f"{(want['sni'], want['tls_version'])}")


def _check_quic(name: str, path: Path, cap: dict) -> None:
    """The first client datagram of each QUIC flow is a v1 long-header Initial."""
    wanted = {(f["src_ip"], f["src_port"]) for f in cap["flows"] if f["app_proto"] == "quic"}
    for _ts, frame, linktype, _ in mp.read_capture(path):
        if not wanted:
            return
        p = mp.decode(frame, linktype)
        if (p["src"], p["sport"]) in wanted:
            payload = p["payload"]
            if payload[0] & 0xF0 != 0xC0 or struct.unpack_from("!I", payload, 1)[0] != 1:
                raise ValueError(f"{name}: QUIC flow from {p['src']} does not open with a v1 Initial")
            wanted.discard((p["src"], p["sport"]))
    if wanted:
        raise ValueError(f"{name}: QUIC flows {wanted} not found")


def check(out_dir: Path, truth: dict, transcripts: dict[str, list[Flow]] | None = None) -> None:
    """Re-read every capture and prove its ground truth from the packets; raise on a mismatch."""
    total = 0
    for name, cap in truth["captures"].items():
        if name not in SCENARIOS:
            raise ValueError(f"{name} in ground_truth.json is not a scenario of make_scenarios.py")
        ca_pem = cap["config"]["trusted_ca_pem"]
        expected = _expectation(name, SCENARIOS[name][1], ca_pem)
        if {k: cap[k] for k in expected} != expected:
            raise ValueError(f"{name}: ground_truth.json's expectations differ from SCENARIOS; "
                             f"regenerate it (--only {name})")
        pem = (out_dir / ca_pem).read_bytes()
        if hashlib.sha256(pem).hexdigest() != cap.get("trusted_ca_sha256", truth["trusted_ca_sha256"]):
            raise ValueError(f"{ca_pem} differs from ground_truth.json; regenerate both together")
        path = out_dir / name
        total += path.stat().st_size
        streams = mp.recount_capture(path, cap)
        flows = (transcripts or {}).get(name) or [None] * len(streams)
        for want, st, flow in zip(cap["flows"], streams, flows):
            _check_flow(name, want, st, flow)
        _check_quic(name, path, cap)
    budget = MAX_TOTAL_BYTES * max(1.0, truth["scale"])
    if total > budget:
        raise ValueError(f"scenario captures total {total} bytes, over the {budget:.0f}-byte budget")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output directory (default: pcaps/scenarios/)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the suspect upload sizes (the committed set uses 1; "
                             "over 1 the 60 MB budget grows with it: for benchmarks, not the repo)")
    parser.add_argument("--check", action="store_true",
                        help="do not regenerate; verify the captures against ground_truth.json")
    parser.add_argument("--only", metavar="NAME", choices=list(SCENARIOS),
                        help="generate this one capture (e.g. host_upload_jump.pcap) and its "
                             "ground_truth.json entry; the other captures are left as they are, "
                             "and this one's certificates chain to NAME's own .root_ca.pem")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    try:
        if args.check:
            truth = json.loads((args.out / "ground_truth.json").read_text())
            check(args.out, truth)
        else:
            truth = generate(args.out, args.seed, args.scale, args.only)
    except ValueError as exc:
        LOG.error("%s", exc)
        return 1
    caps = truth["captures"]
    print(f"{'checked' if args.check else 'wrote'} {len(caps)} scenario captures in {args.out} "
          f"({sum(c['size'] for c in caps.values())} B): "
          + ", ".join(f"{n} ({len(c['flows'])} flows, {c['size']} B, {c['expect']})"
                      for n, c in caps.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
