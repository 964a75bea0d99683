"""Zeek-format logs: conn.log, ssl.log, x509.log and ssh.log in Zeek's TSV.

The sink is fed the EVE events the EVE sink gets (one source of truth: the
values are EVE's, only renamed and re-spelled here) and writes each as a
row of the Zeek log that carries it, so that RITA, zat and other Zeek
tooling read the sensor's output. Field names, order and types are those
of Zeek 6 (base/protocols/conn, ssl, ssh and base/files/x509) with the
fields the usual packages append: ja3/ja3s (salesforce ja3), ja4/ja4s
(FoxIO ja4), the hassh fields (salesforce hassh) and vlan/inner_vlan
(policy/protocols/conn/vlan-logging).

Like Zeek, a log file is created when its first row comes; `#open` and
`#close` carry packet time (first row's, last event's), so that a replay
writes the same bytes every time. The uid of a flow is derived from its
EVE flow_id: conn, ssl and ssh rows of one flow share it.

What is approximated, because our flow records keep counters and the TCP
flags seen per direction, not Zeek's per-packet history:

* orig_ip_bytes / resp_ip_bytes are EVE's bytes_toserver / bytes_toclient,
  whole frames as captured (Zeek counts from the IP header: ours are larger
  by the link-layer header of each packet). orig_bytes / resp_bytes (TCP
  payload by sequence numbers) and missed_bytes are unknown: unset.
* history lists the letters the flags allow in the canonical order of a
  connection (S h A D d F f R r), not in the order they happened; D/d
  stand for a PSH seen from that side (data), since payload sizes are not
  kept. conn_state is derived from the same flags (see `conn_state`).
* ssh cipher/mac/compression/kex algorithms are negotiated from the HASSH
  strings (the client's lists against the server's, RFC 4253 7.1); the
  server's lists are its server-to-client ones. host_key, host_key_alg,
  auth_success and auth_attempts are unknown: unset.
* x509.log has every certificate of the servers' chains once a day, as
  Zeek logs them; subject/issuer are EVE's (Suricata's) spelling of the
  names, exponent is unset. sni_matches_cert follows RFC 6125 (as the
  certificate validation does). In ssl.log curve,
  last_alert, ssl_history and client_cert_chain_fps are unset.
* ssl.log validation_status (Zeek's policy/protocols/ssl/validate-certs)
  is engine.validation's verdict on the chain, spelled as Zeek writes it:
  "ok" or OpenSSL's X509_verify_cert_error_string (see `validation_status`;
  OpenSSL 1.1's spelling, as in Zeek's own test baselines: a Zeek linked
  with OpenSSL 3 hyphenates "self-signed" in the two strings that have it).
  Like Zeek, the sink validates every chain it logs with a validator of its
  own (the run's [validation] trust store, approved CAs and cache caps,
  rebuilt when a reload changes them), so the detection layer's caches are
  not touched; its verdicts can differ from the x509 records' only where an
  intermediate learnt from a session the detection layer does not validate
  (not between an internal and an external host) completes a later chain.
  Like Zeek's x509_verify it judges the chain, not the name (that is
  sni_matches_cert); where several problems apply, the first in
  engine.validation's order is named, which may differ from the one
  OpenSSL's chain building stops at (an expired leaf missing its
  intermediate is "certificate has expired" here). Unset when no
  validation ran: no certificate, a leaf that does not parse, or a sink
  given no [validation] table.
* QUIC handshakes are ssl.log rows (as Zeek's QUIC analyzer writes them)
  with the SNI and fingerprints; there is no quic.log. JA4SSH windows,
  interim flow records, alerts and stats have no Zeek log here.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from dpkt.ssl_ciphersuites import BY_CODE as CIPHER_SUITES

from ..baseline import DAY_US
from ..certs import CertCache
from ..netscope import NetScope
from ..validation import ChainValidator, ValidationConfig, ValidationResult, hostname_matches
from .eve_x509 import x509_event

__all__ = ["ZeekLogSink", "LOG_FIELDS", "zeek_uid", "escape", "format_value",
           "validation_status"]

def _columns(spec: str) -> tuple:
    """"name:type name:type ..." -> ((name, type), ...)"""
    return tuple(tuple(item.split(":", 1)) for item in spec.split())


# the columns every connection's log starts with
_CONNECTION = _columns("ts:time uid:string id.orig_h:addr id.orig_p:port id.resp_h:addr "
                       "id.resp_p:port")

# path -> ((field, Zeek type), ...), in Zeek's column order
LOG_FIELDS = {
    "conn": _CONNECTION + _columns(
        "proto:enum service:string duration:interval orig_bytes:count resp_bytes:count "
        "conn_state:string local_orig:bool local_resp:bool missed_bytes:count history:string "
        "orig_pkts:count orig_ip_bytes:count resp_pkts:count resp_ip_bytes:count "
        "tunnel_parents:set[string] vlan:int inner_vlan:int"),
    "ssl": _CONNECTION + _columns(
        "version:string cipher:string curve:string server_name:string resumed:bool "
        "last_alert:string next_protocol:string established:bool ssl_history:string "
        "cert_chain_fps:vector[string] client_cert_chain_fps:vector[string] subject:string "
        "issuer:string client_subject:string client_issuer:string sni_matches_cert:bool "
        "validation_status:string ja3:string ja3s:string ja4:string ja4s:string"),
    "x509": _columns(
        "ts:time fingerprint:string certificate.version:count certificate.serial:string "
        "certificate.subject:string certificate.issuer:string "
        "certificate.not_valid_before:time certificate.not_valid_after:time "
        "certificate.key_alg:string certificate.sig_alg:string certificate.key_type:string "
        "certificate.key_length:count certificate.exponent:string certificate.curve:string "
        "san.dns:vector[string] san.uri:vector[string] san.email:vector[string] "
        "san.ip:vector[addr] basic_constraints.ca:bool basic_constraints.path_len:count "
        "host_cert:bool client_cert:bool"),
    "ssh": _CONNECTION + _columns(
        "version:count auth_success:bool auth_attempts:count direction:enum client:string "
        "server:string cipher_alg:string mac_alg:string compression_alg:string kex_alg:string "
        "host_key_alg:string host_key:string hasshVersion:string hassh:string "
        "hasshServer:string cshka:string hasshAlgorithms:string sshka:string "
        "hasshServerAlgorithms:string"),
}

SEPARATOR = "\t"
SET_SEPARATOR = ","
EMPTY_FIELD = "(empty)"
UNSET_FIELD = "-"

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
MAX_X509_LOGGED = 100_000      # (certificate, day) pairs remembered; forgotten all at once past it
_FIN, _SYN, _RST, _PSH, _ACK = 0x01, 0x02, 0x04, 0x08, 0x10     # TCP flag bits
# anything outside printable ASCII, and the backslash
_NEEDS_ESCAPE = re.compile(r"[^\x20-\x5b\x5d-\x7e]")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# EVE (Suricata) tls.version -> Zeek's SSL::version_strings
_TLS_VERSIONS = {"SSLv2": "SSLv2", "SSLv3": "SSLv3", "TLSv1": "TLSv10", "TLS 1.1": "TLSv11",
                 "TLS 1.2": "TLSv12", "TLS 1.3": "TLSv13"}
# EVE app_proto -> Zeek's conn.log service; a TLS session after another
# protocol's upgrade (STARTTLS, proxies) is "<protocol>,ssl" as in Zeek
_SERVICES = {"tls": "ssl", "ssh": "ssh", "quic": "quic,ssl"}
_TRANSPORTS = {"TCP": "tcp", "UDP": "udp", "ICMP": "icmp", "IPv6-ICMP": "icmp"}
# engine.certs key types -> Zeek's key_alg (OpenSSL's long name) and key_type
_KEY_ALGS = {"RSA": ("rsaEncryption", "rsa"), "EC": ("id-ecPublicKey", "ecdsa"),
             "DSA": ("dsaEncryption", "dsa"), "Ed25519": ("ED25519", None),
             "Ed448": ("ED448", None)}
_CURVES = {"secp256r1": "prime256v1"}      # OpenSSL's short name where it differs
# engine.validation status -> the X509_verify_cert_error_string() of the error
# OpenSSL's verification (Zeek's x509_verify) reports for such a chain; a
# status missing here ("error": nothing could be validated) leaves it unset
_OPENSSL_VERIFY = {
    "valid": "ok", "no_sni": "ok",
    "name_mismatch": "ok",                  # x509_verify checks no name
    "self_signed": "self signed certificate",                               # 18
    "expired": "certificate has expired",                                   # 10
    "not_yet_valid": "certificate is not yet valid",                        # 9
    "incomplete_chain": "unable to get local issuer certificate",           # 20
}
_UNKNOWN_ISSUER = _OPENSSL_VERIFY["incomplete_chain"]
_SELF_SIGNED_IN_CHAIN = "self signed certificate in certificate chain"     # 19
_REJECTED = "certificate rejected"                                          # 28


def zeek_uid(flow_id: int, prefix: str = "C") -> str:
    """A Zeek-style uid ("C" + base62 of 96 bits) that depends only on the
    flow_id, so every log's row of one flow carries the same one."""
    n = int.from_bytes(hashlib.blake2b(flow_id.to_bytes(8, "big", signed=flow_id < 0),
                                       digest_size=12).digest(), "big")
    digits = []
    while n:
        n, d = divmod(n, 62)
        digits.append(_BASE62[d])
    return prefix + "".join(reversed(digits))


def escape(text: str, in_container: bool = False) -> str:
    """Zeek's ASCII writer: every byte outside printable ASCII, the
    backslash, the separator and (inside a set or vector) the set separator
    become \\xNN; a value spelled like the unset or empty marker has its
    first character escaped. Non-ASCII text is escaped byte by byte as UTF-8
    (undecodable wire bytes kept as surrogates come back as those bytes)."""
    if text in (UNSET_FIELD, EMPTY_FIELD):
        return f"\\x{ord(text[0]):02x}{text[1:]}"
    if not _NEEDS_ESCAPE.search(text) and not (in_container and SET_SEPARATOR in text):
        return text
    out = []
    for ch in text:
        o = ord(ch)
        if 0x20 <= o < 0x7F and ch != "\\" and not (in_container and ch == SET_SEPARATOR):
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in _utf8(ch))
    return "".join(out)


def _utf8(ch: str) -> bytes:
    try:
        return ch.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:      # a surrogate that stands for no byte: never raise
        return ch.encode("utf-8", "surrogatepass")


def format_value(value, zeek_type: str) -> str:
    """One field as Zeek's ASCII writer spells it; None is unset. Times and
    intervals are given in integer microseconds (exact, as EVE has them)."""
    if value is None:
        return UNSET_FIELD
    if zeek_type in ("time", "interval"):
        seconds, micros = divmod(value, 1_000_000)
        return f"{seconds}.{micros:06d}"
    if zeek_type == "bool":
        return "T" if value else "F"
    if zeek_type in ("count", "int", "port"):
        return str(int(value))
    if zeek_type.startswith(("set[", "vector[")):
        if not value:
            return EMPTY_FIELD
        return SET_SEPARATOR.join(escape(str(v), in_container=True) for v in value)
    return escape(str(value)) if value != "" else EMPTY_FIELD


def _micros(timestamp: str | None) -> int | None:
    """EVE's RFC 3339 timestamp -> microseconds since the epoch."""
    if timestamp is None:
        return None
    dt = datetime.fromisoformat(timestamp)
    if dt.tzinfo is None:           # x509 notbefore/notafter: UTC without an offset
        dt = dt.replace(tzinfo=timezone.utc)
    return (dt - _EPOCH) // _MICROSECOND


def _conn_id(event: dict) -> dict:
    """uid and id.* of an EVE event's flow; ICMP type and code take the
    ports' places, as in Zeek."""
    return {
        "uid": zeek_uid(event["flow_id"]),
        "id.orig_h": event["src_ip"],
        "id.orig_p": event.get("src_port", event.get("icmp_type", 0)),
        "id.resp_h": event["dest_ip"],
        "id.resp_p": event.get("dest_port", event.get("icmp_code", 0)),
    }


def conn_state(proto: str, flags_ts: int, flags_tc: int, pkts_toclient: int) -> str:
    """Zeek's conn_state from the TCP flags each side sent (no ordering):
    S0 no reply, REJ reset instead of SYN-ACK, SH/RSTOS0 originator closed
    or reset before a reply, S1 established and open, SF both closed, S2/S3
    only the originator/responder closed, RSTO/RSTR a reset (the
    originator's wins when both sent one), OTH no SYN seen (mid-stream).
    UDP/ICMP: SF with a reply, S0 without."""
    if proto != "tcp":
        return "SF" if pkts_toclient else "S0"
    syn, fin, rst = _SYN, _FIN, _RST
    if not flags_ts & syn:
        return "OTH"
    if not pkts_toclient:
        return "RSTOS0" if flags_ts & rst else "SH" if flags_ts & fin else "S0"
    if not flags_tc & syn:
        return "REJ" if flags_tc & rst else "OTH"
    if flags_ts & rst:
        return "RSTO"
    if flags_tc & rst:
        return "RSTR"
    if flags_ts & fin and flags_tc & fin:
        return "SF"
    return "S2" if flags_ts & fin else "S3" if flags_tc & fin else "S1"


def history(proto: str, flags_ts: int, flags_tc: int, pkts_toserver: int,
            pkts_toclient: int) -> str:
    """Zeek's history letters that the flags allow, in a connection's
    canonical order (originator upper case, responder lower case)."""
    if proto != "tcp":
        return ("D" if pkts_toserver else "") + ("d" if pkts_toclient else "")
    syn, ack, psh, fin, rst = _SYN, _ACK, _PSH, _FIN, _RST
    letters = [
        ("S", flags_ts & syn), ("h", flags_tc & syn and flags_tc & ack),
        ("A", flags_ts & ack), ("D", flags_ts & psh), ("d", flags_tc & psh),
        ("F", flags_ts & fin), ("f", flags_tc & fin), ("R", flags_ts & rst), ("r", flags_tc & rst),
    ]
    return "".join(letter for letter, seen in letters if seen)


def validation_status(result: ValidationResult, chain_self_signed: list) -> str | None:
    """Zeek's ssl.log validation_status for a validation result;
    ``chain_self_signed``: is_self_signed of each certificate of the chain
    as presented, leaf first. An untrusted chain is one OpenSSL cannot
    complete to its store ("unable to get local issuer certificate"), one
    that ends at a self-signed root the server sent, or else one it rejects
    for a signature, constraint or algorithm ("certificate rejected")."""
    if result.status != "untrusted":
        return _OPENSSL_VERIFY.get(result.status)
    if result.missing_issuer is not None:
        return _UNKNOWN_ISSUER
    if any(chain_self_signed[1:]):
        return _SELF_SIGNED_IN_CHAIN
    return _REJECTED


def _service(app_proto: str | None) -> str | None:
    if app_proto is None:
        return None
    return _SERVICES.get(app_proto, f"{app_proto},ssl")


def _negotiated(client_list: str, server_list: str) -> str | None:
    """RFC 4253 7.1: the first of the client's algorithms the server has."""
    offered = set(server_list.split(","))
    return next((alg for alg in client_list.split(",") if alg in offered), None)


def _ssh_banner(side: dict | None) -> str | None:
    if not side:
        return None
    return f"SSH-{side['proto_version']}-{side['software_version']}"


def _ssh_version(client: dict | None, server: dict | None) -> int | None:
    """Zeek's version: 2 for SSH-2.0 (and the 1.99 compatibility banner), 1 for 1.x."""
    for side in (server, client):
        if side and side.get("proto_version"):
            return 2 if side["proto_version"] in ("2.0", "1.99") else 1
    return None


class ZeekRows:
    """EVE events -> (path, row) pairs, a row being {field: value}.
    ``validation``: returns the [validation] table in force (a reload may
    change it); None leaves validation_status unset."""

    def __init__(self, scope: NetScope | None = None,
                 validation: Callable[[], ValidationConfig] | None = None):
        self.scope = scope or NetScope()
        self._validation = validation
        self._validator_config = None   # the table self._validator was built from
        self._validator = None
        self._x509_logged = set()       # (sha256, day): Zeek logs a certificate once a day
        self._certs = CertCache()       # bounded: parsed certificates by SHA-256

    def rows(self, event: dict):
        kind = event.get("event_type")
        if kind == "flow" and not event["flow"].get("interim"):
            yield "conn", self.conn(event)
        elif kind == "tls":
            chain = [base64.b64decode(der) for der in event["tls"].get("chain") or ()]
            yield "ssl", self.ssl(event, chain)
            yield from self.chain_x509(event, chain)
        elif kind == "quic":
            yield "ssl", self.quic_ssl(event)
        elif kind == "x509" and self._first_today(event["x509"]["sha256"], event["timestamp"]):
            yield "x509", self.x509(event)
        elif kind == "ssh" and ("client" in event["ssh"] or "server" in event["ssh"]):
            yield "ssh", self.ssh(event)

    def _first_today(self, sha256: str, timestamp: str) -> bool:
        key = (sha256, _micros(timestamp) // DAY_US)
        if key in self._x509_logged:
            return False
        if len(self._x509_logged) >= MAX_X509_LOGGED:
            self._x509_logged.clear()
        self._x509_logged.add(key)
        return True

    def chain_x509(self, event: dict, chain: list):
        """x509.log rows for every certificate of the server's chain, as
        Zeek writes them (the detection layer's EVE x509 records cover the
        leaf only): parsed and shaped by the code that makes EVE x509."""
        for der in chain:
            if self._first_today(hashlib.sha256(der).hexdigest(), event["timestamp"]):
                cert = x509_event(self._certs.get(der), None, None, None,
                                  {"at_us": _micros(event["timestamp"])})
                yield "x509", self.x509(cert)

    def conn(self, event: dict) -> dict:
        f = event["flow"]
        proto = _TRANSPORTS.get(event["proto"], "unknown_transport")
        tcp = event.get("tcp", {})
        flags_ts, flags_tc = int(tcp.get("tcp_flags_ts", "0"), 16), int(tcp.get("tcp_flags_tc", "0"), 16)
        start, end = _micros(f["start"]), _micros(f["end"])
        vlan = event.get("vlan") or []
        return {
            "ts": start, **_conn_id(event), "proto": proto,
            "service": _service(event.get("app_proto")),
            "duration": (end - start) if end > start else None,
            "conn_state": conn_state(proto, flags_ts, flags_tc, f["pkts_toclient"]),
            "local_orig": self.scope.is_internal(event["src_ip"]),
            "local_resp": self.scope.is_internal(event["dest_ip"]),
            "history": history(proto, flags_ts, flags_tc, f["pkts_toserver"], f["pkts_toclient"]),
            "orig_pkts": f["pkts_toserver"], "orig_ip_bytes": f["bytes_toserver"],
            "resp_pkts": f["pkts_toclient"], "resp_ip_bytes": f["bytes_toclient"],
            "vlan": vlan[0] if vlan else None,
            "inner_vlan": vlan[1] if len(vlan) > 1 else None,
        }

    def ssl(self, event: dict, chain: list) -> dict:
        """``chain``: the server's certificates (DER), leaf first."""
        t = event["tls"]
        cipher = t.get("cipher_suite")
        if cipher is not None:
            code = int(cipher, 16)
            suite = CIPHER_SUITES.get(code)
            cipher = suite.name if suite else f"unknown-{code}"
        sni_matches_cert = None
        if chain and t.get("sni"):
            leaf = self._certs.get(chain[0])
            sni_matches_cert = hostname_matches(leaf.san_dns, leaf.san_ip, leaf.common_name,
                                                t["sni"])
        ts = _micros(event["timestamp"])
        return {
            "ts": ts, **_conn_id(event),
            "version": _TLS_VERSIONS.get(t.get("version")), "cipher": cipher,
            "server_name": t.get("sni"), "resumed": t.get("resumed"),
            "next_protocol": t.get("alpn_selected"), "established": t.get("established"),
            # Zeek's certificate fingerprint is the SHA-256 of the DER (X509::hash_function)
            "cert_chain_fps": [hashlib.sha256(der).hexdigest() for der in chain] or None,
            "subject": t.get("subject"), "issuer": t.get("issuerdn"),
            "sni_matches_cert": sni_matches_cert,
            "validation_status": self._validation_status(chain, t.get("sni"), ts),
            "ja3": (t.get("ja3") or {}).get("hash"), "ja3s": (t.get("ja3s") or {}).get("hash"),
            "ja4": t.get("ja4"), "ja4s": t.get("ja4s"),
        }

    def _validation_status(self, chain: list, sni: str | None, at_us: int) -> str | None:
        if self._validation is None or not chain:
            return None
        config = self._validation()
        if config is not self._validator_config:
            # built at the first chain: a run without TLS loads no trust store
            self._validator = ChainValidator.from_config(config)
            self._validator_config = config
        result = self._validator.validate(chain, sni, at_us)
        return validation_status(result, [self._certs.get(der).is_self_signed for der in chain])

    def quic_ssl(self, event: dict) -> dict:
        """The ssl.log row of a QUIC handshake, as Zeek's QUIC analyzer
        writes one: QUIC carries TLS 1.3 only (RFC 9001 4.2), so a server
        hello (its JA4S) means TLSv13."""
        q = event["quic"]
        return {
            "ts": _micros(event["timestamp"]), **_conn_id(event),
            "version": "TLSv13" if q.get("ja4s") else None, "server_name": q.get("sni"),
            "ja3": (q.get("ja3") or {}).get("hash"), "ja4": q.get("ja4"), "ja4s": q.get("ja4s"),
        }

    def x509(self, event: dict) -> dict:
        x = event["x509"]
        key = x.get("key", {})
        key_alg, key_type = _KEY_ALGS.get(key.get("type"), (key.get("type"), None))
        san = x.get("san", {})
        constraints = x.get("basic_constraints", {})
        serial = x.get("serial")
        return {
            "ts": _micros(event["timestamp"]), "fingerprint": x["sha256"],
            "certificate.version": x.get("version"),
            "certificate.serial": serial.replace(":", "") if serial else None,
            "certificate.subject": x.get("subject"), "certificate.issuer": x.get("issuerdn"),
            "certificate.not_valid_before": _micros(x.get("notbefore")),
            "certificate.not_valid_after": _micros(x.get("notafter")),
            "certificate.key_alg": key_alg, "certificate.sig_alg": x.get("signature_algorithm"),
            "certificate.key_type": key_type, "certificate.key_length": key.get("bits"),
            "certificate.curve": _CURVES.get(key.get("curve"), key.get("curve")),
            "san.dns": san.get("dns"), "san.uri": san.get("uri"),
            "san.email": san.get("email"), "san.ip": san.get("ip"),
            "basic_constraints.ca": constraints.get("ca"),
            "basic_constraints.path_len": constraints.get("path_length"),
            # EVE x509 records and the chains are the servers' certificates
            "host_cert": True, "client_cert": False,
        }

    def _direction(self, event: dict) -> str | None:
        """Zeek's ssh direction: set when exactly one end is ours."""
        orig_local = self.scope.is_internal(event["src_ip"])
        if orig_local == self.scope.is_internal(event["dest_ip"]):
            return None
        return "OUTBOUND" if orig_local else "INBOUND"

    def ssh(self, event: dict) -> dict:
        s = event["ssh"]
        client, server = s.get("client"), s.get("server")
        c_fp = (client or {}).get("hassh") or {}
        s_fp = (server or {}).get("hassh") or {}
        row = {
            "ts": _micros(event["timestamp"]), **_conn_id(event),
            "version": _ssh_version(client, server),
            "direction": self._direction(event),
            "client": _ssh_banner(client), "server": _ssh_banner(server),
            "hasshVersion": "1.1" if c_fp or s_fp else None,
            "hassh": c_fp.get("hash"), "hasshServer": s_fp.get("hash"),
            "hasshAlgorithms": c_fp.get("string"), "hasshServerAlgorithms": s_fp.get("string"),
        }
        if c_fp.get("string") and s_fp.get("string"):
            # HASSH strings: kex;encryption;mac;compression
            offered, accepted = c_fp["string"].split(";"), s_fp["string"].split(";")
            for name, i in (("kex_alg", 0), ("cipher_alg", 1), ("mac_alg", 2),
                            ("compression_alg", 3)):
                if i < len(offered) and i < len(accepted):
                    row[name] = _negotiated(offered[i], accepted[i])
        return row


class _ZeekLogFile:
    """One Zeek log, opened at its first row."""

    def __init__(self, out_dir: str, path: str):
        self.path = path
        self.fields = LOG_FIELDS[path]
        self.file_path = os.path.join(out_dir, f"{path}.log")
        self._file = None
        self.rows_written = 0

    def write(self, row: dict, now: int) -> None:
        if self._file is None:
            self._open(now)
        self._file.write(SEPARATOR.join(format_value(row.get(name), zeek_type)
                                        for name, zeek_type in self.fields) + "\n")
        self.rows_written += 1

    def _open(self, now: int) -> None:
        self._file = open(self.file_path, "w", encoding="ascii", newline="\n",
                          buffering=1 << 16)
        self._file.write("\n".join((
            "#separator \\x09",
            f"#set_separator{SEPARATOR}{SET_SEPARATOR}",
            f"#empty_field{SEPARATOR}{EMPTY_FIELD}",
            f"#unset_field{SEPARATOR}{UNSET_FIELD}",
            f"#path{SEPARATOR}{self.path}",
            f"#open{SEPARATOR}{_header_time(now)}",
            SEPARATOR.join(["#fields"] + [name for name, _ in self.fields]),
            SEPARATOR.join(["#types"] + [zeek_type for _, zeek_type in self.fields]),
        )) + "\n")

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self, now: int) -> None:
        if self._file is not None:
            self._file.write(f"#close{SEPARATOR}{_header_time(now)}\n")
            self._file.close()
            self._file = None


def _header_time(micros: int) -> str:
    return datetime.fromtimestamp(micros // 1_000_000, tz=timezone.utc).strftime("%Y-%m-%d-%H-%M-%S")


class ZeekLogSink:
    """Writes the EVE events it is given as rows of DIR/conn.log, ssl.log,
    x509.log and ssh.log; the same write/flush/close interface as
    engine.sinks.eve.EveFileSink. ``scope`` (the organisation's home_net)
    fills local_orig, local_resp and the ssh direction; ``validation``
    (returning the [validation] table in force) the ssl.log
    validation_status."""

    def __init__(self, out_dir: str, scope: NetScope | None = None,
                 validation: Callable[[], ValidationConfig] | None = None):
        os.makedirs(out_dir, exist_ok=True)
        self.out_dir = out_dir
        self._rows = ZeekRows(scope, validation)
        self.logs = {path: _ZeekLogFile(out_dir, path) for path in LOG_FIELDS}
        self._last_ts = 0

    def write(self, event: dict) -> None:
        ts = _micros(event.get("timestamp"))
        if ts is not None:
            self._last_ts = max(self._last_ts, ts)
        for path, row in self._rows.rows(event):
            self.logs[path].write(row, row["ts"] if row.get("ts") is not None else self._last_ts)

    def flush(self) -> None:
        for log in self.logs.values():
            log.flush()

    def close(self) -> None:
        for log in self.logs.values():
            log.close(self._last_ts)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
