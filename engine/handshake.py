"""From the bytes the core captured to a handshake session.

The core hands over one HandshakeRecord per flow whose handshake it saw: the
first bytes of each direction and what framing it found (TLS, SSH, QUIC).
This module splits them into messages, runs the handshake parsers
(engine.parsers: the core's, or their pure-Python twin) and the QUIC module
on them, computes the fingerprints and names the application protocol. It
is mechanism: what the sessions mean is for the detection layer.
"""
from dataclasses import dataclass, field
from functools import lru_cache

from . import quic
from .parsers import (parse_certificate as parse_certificate_message, parse_client_hello,
                      parse_handshake_messages, parse_server_hello, parse_sslv2_client_hello,
                      parse_ssh_stream, split_tls_records)
from .certs import CertCache
from .fingerprints import ja3, ja4, ja4s
from .fingerprints.hassh import hassh
from .records import HandshakeRecord

# TLS handshake message types (RFC 8446 4, RFC 5246 7.4)
CLIENT_HELLO, SERVER_HELLO, CERTIFICATE, CERTIFICATE_REQUEST = 1, 2, 11, 13

MAX_CHAIN_CERTIFICATES = 10          # DESIGN.md caps: certificates kept per chain

# IANA's ports for TLS services (HTTPS, SMTPS, LDAPS, DoT, FTPS, telnets,
# IMAPS, POP3S, SIPS, AMQPS, MQTT over TLS, NNTPS); TLS found elsewhere is
# kept as a flag for detection. 8443 is not IANA's HTTPS port and is the
# usual choice of ad-hoc servers, so it counts as unusual.
USUAL_TLS_PORTS = frozenset({443, 465, 563, 636, 853, 989, 990, 992, 993, 994, 995, 5061,
                             5671, 8883})


TLS_VERSION_NAMES = {0x0200: "SSLv2", 0x0300: "SSLv3", 0x0301: "TLSv1", 0x0302: "TLS 1.1",
                     0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}


def tls_version_name(version: int | None) -> str:
    """Suricata's spelling of a TLS version (tls.version)."""
    if version is None:
        return "UNDETERMINED"
    if version in TLS_VERSION_NAMES:
        return TLS_VERSION_NAMES[version]
    if 0x7F00 <= version <= 0x7FFF:
        draft = version & 0xFF
        return f"TLS 1.3 draft-{draft}" if draft >= 16 else "TLS 1.3 draft-<16"
    return "UNDETERMINED"


# Capture flags that are states of a direction, not anomalies
_STATE_FLAGS = frozenset({"established", "change_cipher_spec"})


@lru_cache(maxsize=1024)
def _flag_anomalies(side: str, flags: tuple) -> tuple:
    """One direction's capture flags as anomaly names ("client_gap", ...).
    Cached: the core has 8 flags, so there are at most 2 x 256 distinct
    inputs, and almost every session repeats one of a handful."""
    return tuple(f"{side}_{flag}" for flag in flags if flag not in _STATE_FLAGS)


def _usable(server_hello) -> bool:
    """Parsed at least up to the cipher suite: enough for the fingerprints."""
    return server_hello is not None and server_hello.get("cipher_suite") is not None


@dataclass(slots=True)
class TlsSession:
    """One TLS (or QUIC) handshake as parsed from both directions."""
    record: HandshakeRecord
    transport: str                       # "tcp" or "quic"
    preamble: str | None = None          # "smtp", "imap", ... when TLS followed a plaintext upgrade
    client_hellos: list = field(default_factory=list)
    server_hellos: list = field(default_factory=list)   # a HelloRetryRequest first, if any
    certificates: tuple = ()             # CertInfo of the server's chain, leaf first
    chain: tuple = ()                    # the DER blobs behind them
    client_certificates: tuple = ()
    certificate_requested: bool = False
    alerts: list = field(default_factory=list)   # (level, description) in the clear
    anomalies: list = field(default_factory=list)
    quic: dict | None = None             # engine.quic.decode_initials result for QUIC
    _memo: dict | None = field(default=None, repr=False)   # fingerprints, computed once

    def _once(self, name, compute):
        # the dict is made on first use: most sessions of a benchmark or a
        # flood never have a fingerprint asked for
        if self._memo is None:
            self._memo = {}
        if name not in self._memo:
            self._memo[name] = compute()
        return self._memo[name]

    @property
    def client_hello(self) -> dict | None:
        return self.client_hellos[0] if self.client_hellos else None

    @property
    def server_hello(self) -> dict | None:
        """The ServerHello that settled the handshake (after a HelloRetryRequest, the second)."""
        return self.server_hellos[-1] if self.server_hellos else None

    @property
    def first_server_hello(self) -> dict | None:
        return self.server_hellos[0] if self.server_hellos else None

    @property
    def negotiated_version(self) -> int | None:
        sh = self.server_hello
        if sh is None or sh["legacy_version"] is None:
            return None
        return sh["selected_version"] or sh["legacy_version"]

    @property
    def version(self) -> str:
        return tls_version_name(self.negotiated_version)

    @property
    def sni(self) -> str | None:
        ch = self.client_hello
        return ch.get("sni") if ch else None

    @property
    def established(self) -> bool:
        return ("established" in self.record.client.flags
                and "established" in self.record.server.flags)

    @property
    def resumed(self) -> bool:
        """An abbreviated handshake: the server took the client's session id
        or ticket (TLS 1.2, no Certificate), or accepted a PSK (TLS 1.3)."""
        ch, sh = self.client_hello, self.server_hello
        if not ch or not _usable(sh):
            return False
        if sh["selected_version"] == 0x0304:
            return 41 in sh["extensions"]            # pre_shared_key
        return bool(ch["session_id"]) and ch["session_id"] == sh["session_id"] \
            and not self.certificates

    @property
    def transport_letter(self) -> str:
        return "q" if self.transport == "quic" else "t"

    def ja3(self):
        ch = self.client_hello
        return self._once("ja3", lambda: ja3.ja3(ch) if ch else None)

    def ja3s(self):
        sh = self.server_hello
        return self._once("ja3s", lambda: ja3.ja3s(sh) if _usable(sh) else None)

    def ja4(self) -> str | None:
        ch = self.client_hello
        return self._once("ja4", lambda: ja4.ja4(ch, self.transport_letter) if ch else None)

    def ja4_r(self) -> str | None:
        ch = self.client_hello
        return self._once("ja4_r", lambda: ja4.ja4_r(ch, self.transport_letter) if ch else None)

    def ja4s(self) -> str | None:
        # FoxIO fingerprints the first ServerHello, a HelloRetryRequest included
        sh = self.first_server_hello
        return self._once("ja4s", lambda: ja4s.ja4s(sh, self.transport_letter)
                          if _usable(sh) else None)

    @property
    def unusual_port(self) -> bool:
        return self.transport == "tcp" and self.preamble is None \
            and self.record.dest_port not in USUAL_TLS_PORTS


@dataclass(slots=True)
class SshSession:
    record: HandshakeRecord
    client: dict | None                  # parse_ssh_stream of the initiator's bytes
    server: dict | None

    def hassh(self):
        return hassh(self.client["kexinit"], client=True) if self.client else None

    def hassh_server(self):
        return hassh(self.server["kexinit"], client=False) if self.server else None


def name_preamble(client: bytes, server: bytes) -> str | None:
    """The plaintext protocol that upgraded to TLS, from its first bytes."""
    if not client and not server:
        return None
    if client.startswith(b"\x00\x00\x00\x08\x04\xd2\x16\x2f"):
        return "postgresql"
    if client[:1] == b"\x04":
        return "socks4"
    if client[:1] == b"\x05":
        return "socks5"
    if client.startswith(b"CONNECT "):
        return "http"
    if client[:1] == b"\x30":
        return "ldap"
    if server.startswith(b"+OK"):
        return "pop3"
    if server.startswith(b"* OK") or (b" STARTTLS" in client.upper()[:64]
                                      and not server.startswith(b"2")):
        return "imap"
    if server.startswith((b"<?xml", b"<stream")) or client.startswith((b"<?xml", b"<stream")):
        return "xmpp"
    if server.startswith(b"220"):
        return "ftp" if client.upper().startswith((b"AUTH", b"FEAT")) else "smtp"
    return "unknown"


class HandshakeInterpreter:
    """Turns HandshakeRecords into TlsSession / SshSession objects; keeps the
    certificate cache shared by all of them."""

    def __init__(self, cert_cache: CertCache | None = None):
        self.certs = cert_cache or CertCache()

    def interpret(self, rec: HandshakeRecord):
        kinds = (rec.client.kind, rec.server.kind)
        if "quic" in kinds:
            return self._quic(rec)
        if "ssh" in kinds:
            return self._ssh(rec)
        if "tls" in kinds or "sslv2" in kinds:
            return self._tls(rec)
        return None

    def _ssh(self, rec):
        def side(half):
            return parse_ssh_stream(half.data[half.start:]) if half.kind == "ssh" else None
        return SshSession(rec, side(rec.client), side(rec.server))

    def _tls(self, rec):
        session = TlsSession(rec, "tcp")
        c, s = rec.client, rec.server
        if c.start or s.start:
            session.preamble = name_preamble(c.data[:c.start], s.data[:s.start])
        session.anomalies += _flag_anomalies("client", c.flags)
        session.anomalies += _flag_anomalies("server", s.flags)
        if c.kind == "sslv2":
            hello = parse_sslv2_client_hello(c.data[c.start:])
            session.client_hellos.append(hello)
        elif c.kind == "tls":
            self._client_messages(session, c.data[c.start:])
        if s.kind == "tls":
            self._server_messages(session, s.data[s.start:])
        return session

    @staticmethod
    def _messages(session, data, side):
        """The handshake messages in the clear of one direction's TLS bytes."""
        stream, alerts, malformed = split_tls_records(data)
        session.alerts += alerts
        if malformed:
            session.anomalies.append(f"{side}_record_malformed")
        return parse_handshake_messages(stream)[0]

    def _client_messages(self, session, data):
        for msg_type, body in self._messages(session, data, "client"):
            if msg_type == CLIENT_HELLO:
                hello = parse_client_hello(body)
                session.client_hellos.append(hello)
                if hello["status"] != "ok":
                    session.anomalies.append(f"client_hello_{hello['status']}")
            elif msg_type == CERTIFICATE:
                certs = parse_certificate_message(body, tls13=False)["certificates"]
                session.client_certificates = tuple(certs[:MAX_CHAIN_CERTIFICATES])

    def _server_messages(self, session, data):
        for msg_type, body in self._messages(session, data, "server"):
            if msg_type == SERVER_HELLO:
                hello = parse_server_hello(body)
                if hello["status"] != "ok":
                    session.anomalies.append(f"server_hello_{hello['status']}")
                session.server_hellos.append(hello)
            elif msg_type == CERTIFICATE and not session.certificates:
                tls13 = session.negotiated_version == 0x0304
                parsed = parse_certificate_message(body, tls13=tls13)
                ders = parsed["certificates"][:MAX_CHAIN_CERTIFICATES]
                if len(parsed["certificates"]) > MAX_CHAIN_CERTIFICATES or \
                        parsed.get("certificates_dropped"):
                    session.anomalies.append("certificate_chain_capped")
                session.chain = tuple(ders)
                session.certificates = tuple(map(self.certs.get, ders))
            elif msg_type == CERTIFICATE_REQUEST:
                session.certificate_requested = True

    def _quic(self, rec):
        session = TlsSession(rec, "quic")
        decoded = quic.decode_initials(split_datagrams(rec.client.data),
                                       split_datagrams(rec.server.data))
        session.quic = decoded
        if decoded.get("client_hello") is not None:
            hello = parse_client_hello(decoded["client_hello"])
            session.client_hellos.append(hello)
        if decoded.get("server_hello") is not None:
            session.server_hellos.append(parse_server_hello(decoded["server_hello"]))
        if decoded.get("status") != "ok":
            session.anomalies.append(f"quic_{decoded.get('status')}")
        return session


def split_datagrams(data: bytes) -> list:
    """The core keeps QUIC datagrams as [u16 length][bytes] each."""
    out, pos = [], 0
    while pos + 2 <= len(data):
        n = int.from_bytes(data[pos:pos + 2], "big")
        out.append(data[pos + 2:pos + 2 + n])
        pos += 2 + n
    return out
