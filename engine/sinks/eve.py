"""EVE JSON lines: Suricata-compatible `flow` and `stats` events.

Field names and meanings follow Suricata's EVE so existing consumers read
them unchanged; timestamps are RFC 3339 with microseconds and offset.
"""
import json
from functools import lru_cache

import orjson
from datetime import datetime, timezone

from ..certs import chain_base64
from ..handshake import SshSession, TlsSession, tls_version_name
from ..records import PROTO_NAMES, FlowRecord, HandshakeRecord, Ja4sshRecord

_TCP_FLAG_NAMES = (
    (0x01, "fin"), (0x02, "syn"), (0x04, "rst"), (0x08, "psh"),
    (0x10, "ack"), (0x20, "urg"), (0x40, "ecn"), (0x80, "cwr"),
)


def format_timestamp(us: int) -> str:
    """Packet time in microseconds -> '2024-01-02T03:04:05.123456+00:00'."""
    seconds, micros = divmod(us, 1_000_000)
    return f"{_second(seconds)}.{micros:06d}+00:00"


@lru_cache(maxsize=4096)
def _second(seconds: int) -> str:
    # records of one batch share few seconds: format each second once
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _header(rec, event_type: str, timestamp_us: int) -> dict:
    """The keys every EVE event of a flow starts with."""
    event = {
        "timestamp": format_timestamp(timestamp_us),
        "flow_id": rec.flow_id,
        "event_type": event_type,
    }
    if rec.vlan:
        event["vlan"] = list(rec.vlan)
    event["src_ip"] = rec.src_ip
    if rec.proto in (6, 17):
        event["src_port"] = rec.src_port
    event["dest_ip"] = rec.dest_ip
    if rec.proto in (6, 17):
        event["dest_port"] = rec.dest_port
    event["proto"] = PROTO_NAMES.get(rec.proto, str(rec.proto))
    return event


def flow_event(rec: FlowRecord) -> dict:
    event = _header(rec, "flow", rec.emitted_us)
    if rec.app_proto:
        event["app_proto"] = rec.app_proto
    if rec.icmp_type is not None:
        event["icmp_type"] = rec.icmp_type
        event["icmp_code"] = rec.icmp_code
        if rec.response_icmp_type is not None:
            event["response_icmp_type"] = rec.response_icmp_type
            event["response_icmp_code"] = rec.response_icmp_code
    event["flow"] = {
        "pkts_toserver": rec.pkts_toserver,
        "pkts_toclient": rec.pkts_toclient,
        "bytes_toserver": rec.bytes_toserver,
        "bytes_toclient": rec.bytes_toclient,
        "start": format_timestamp(rec.start_us),
        "end": format_timestamp(rec.end_us),
        "age": rec.end_us // 1_000_000 - rec.start_us // 1_000_000,
        "state": rec.state,
        "reason": rec.reason,
        "alerted": False,
        "interim": rec.interim,
    }
    if rec.tunnel_depth:
        event["flow"]["tunnel_depth"] = rec.tunnel_depth
    if rec.proto == 6:
        event["tcp"] = tcp_section(rec)
    return event


def tcp_section(rec: FlowRecord) -> dict:
    flags = rec.tcp_flags_ts | rec.tcp_flags_tc
    section = {
        "tcp_flags": f"{flags:02x}",
        "tcp_flags_ts": f"{rec.tcp_flags_ts:02x}",
        "tcp_flags_tc": f"{rec.tcp_flags_tc:02x}",
    }
    for bit, name in _TCP_FLAG_NAMES:
        if flags & bit:
            section[name] = True
    section["state"] = rec.state
    section["missed_bytes"] = rec.missed_bytes
    return section


def _fingerprint(pair):
    return {"hash": pair[1], "string": pair[0]} if pair else None


def tls_event(session: TlsSession) -> dict:
    """Suricata's tls.* fields, then ours (client_version, cipher_suite, ...)."""
    rec: HandshakeRecord = session.record
    event = _header(rec, "tls", rec.at_us)
    tls = {}
    if session.certificates:
        leaf = session.certificates[0]
        for key in ("subject", "issuerdn", "serial"):
            if getattr(leaf, key) is not None:
                tls[key] = getattr(leaf, key)
        tls["fingerprint"] = leaf.sha1_fingerprint
    if session.sni is not None:
        tls["sni"] = session.sni
    tls["version"] = session.version
    if session.certificates:
        leaf = session.certificates[0]
        if leaf.notbefore is not None:
            tls["notbefore"] = leaf.notbefore
            tls["notafter"] = leaf.notafter
    for key, value in (("ja3", _fingerprint(session.ja3())), ("ja3s", _fingerprint(session.ja3s())),
                       ("ja4", session.ja4())):
        if value:
            tls[key] = value
    if session.chain:
        tls["chain"] = chain_base64(session.chain)
    if session.preamble:
        tls["from_proto"] = session.preamble
    ch, sh = session.client_hello, session.server_hello
    if ch:
        tls["client_version"] = tls_version_name(ch.get("legacy_version"))
        tls["supported_versions"] = [tls_version_name(v) for v in ch.get("supported_versions", [])
                                     if (v & 0x0F0F) != 0x0A0A]
        tls["alpn"] = [a.decode("latin-1") for a in ch.get("alpn", [])]
    if sh and sh.get("cipher_suite") is not None:
        tls["cipher_suite"] = f"0x{sh['cipher_suite']:04x}"
        if sh.get("alpn") is not None:
            tls["alpn_selected"] = sh["alpn"].decode("latin-1")
        tls["ja4s"] = session.ja4s()
    if session.certificates:
        tls["cert_sha256"] = session.certificates[0].sha256
    tls["established"] = session.established
    tls["resumed"] = session.resumed
    tls["client_cert"] = bool(session.client_certificates)
    if session.unusual_port:
        tls["unusual_port"] = True
    if session.anomalies:
        tls["anomalies"] = list(session.anomalies)
    event["tls"] = tls
    return event


def quic_event(session: TlsSession) -> dict:
    rec = session.record
    event = _header(rec, "quic", rec.at_us)
    q = {"version": (session.quic or {}).get("version_eve", "unknown")}
    if session.sni is not None:
        q["sni"] = session.sni
    if session.client_hello:
        q["ja3"] = _fingerprint(session.ja3())
        q["ja4"] = session.ja4()
        q["alpn"] = [a.decode("latin-1") for a in session.client_hello.get("alpn", [])]
    if session.server_hello:
        q["ja4s"] = session.ja4s()
    if session.anomalies:
        q["anomalies"] = list(session.anomalies)
    event["quic"] = q
    return event


def ssh_event(session: SshSession) -> dict:
    rec = session.record
    event = _header(rec, "ssh", rec.at_us)
    ssh = {}
    for side, parsed, fp in (("client", session.client, session.hassh()),
                             ("server", session.server, session.hassh_server())):
        if not parsed or parsed.get("proto_version") is None:
            continue
        entry = {"proto_version": parsed["proto_version"],
                 "software_version": parsed["software_version"]}
        if fp:
            entry["hassh"] = _fingerprint(fp)
        ssh[side] = entry
    event["ssh"] = ssh
    return event


def ja4ssh_event(window) -> dict:
    """One JA4SSH window of an SSH flow, as an ssh event of that flow."""
    from ..fingerprints.ja4ssh import ja4ssh

    event = _header(window, "ssh", window.at_us)
    event["ssh"] = {"ja4ssh": {"fingerprint": ja4ssh(window), "window": window.index}}
    return event


def session_event(session) -> dict:
    """The EVE event of an interpreted handshake."""
    if isinstance(session, SshSession):
        return ssh_event(session)
    return quic_event(session) if session.transport == "quic" else tls_event(session)


def to_eve(rec) -> dict:
    """The EVE event of any record the pipeline produces."""
    if isinstance(rec, FlowRecord):
        return flow_event(rec)
    if isinstance(rec, Ja4sshRecord):
        return ja4ssh_event(rec)
    return session_event(rec)


def stats_event(timestamp_us: int, counters: dict, capture: dict,
                outputs: dict | None = None) -> dict:
    """The closing `stats` record: decoder, flow, defrag and capture counters,
    and the outputs' (engine.sinks.fanout.FanoutSink.counters) when given."""
    decoder = {"pkts": counters["packets"], "bytes": counters["bytes"]}
    errors = {k[len("decode."):]: v for k, v in counters.items()
              if k.startswith("decode.") and k not in ("decode.ok",)}
    decoder["invalid"] = sum(v for k, v in errors.items()
                             if k not in ("not_flow", "fragment", "tunnelled",
                                          "ipv4_truncated", "ipv6_truncated",
                                          "icmp_error_mapped", "vlan_extra_tags"))
    decoder["events"] = errors
    event = {
        "timestamp": format_timestamp(timestamp_us),
        "event_type": "stats",
        "stats": {
            "decoder": decoder,
            "flow": {
                "total": counters["flows_created"],
                "active": counters["flows_active"],
                "timed_out": counters["flows_timed_out"],
                "evicted_memcap": counters["flow.evicted_memcap"],
            },
            "defrag": {
                "reassembled": counters["frag.reassembled"],
                "evicted": counters["frag.evicted"],
            },
            "tcp": {
                "ooo_dropped": counters["tcp.ooo_dropped"],
                "overlap_differs": counters["tcp.overlap_differs"],
                # Zeek's capture_loss.log: ACKs for data the capture never saw
                "ack_events": counters["tcp.ack_events"],
                "gap_events": counters["tcp.gap_events"],
                "gap_bytes": counters["tcp.gap_bytes"],
                "capture_loss_pct": round(100 * counters["tcp.gap_events"]
                                          / counters["tcp.ack_events"], 3)
                                    if counters["tcp.ack_events"] else 0.0,
            },
            "handshake": {
                "truncated": counters["handshake.truncated"],
                "memcap": counters["handshake.memcap"],
            },
            "keep": {
                "packets": counters["keep.packets"],
                "evicted": counters["keep.evicted"],
            },
            "capture": capture,
        },
    }
    if outputs is not None:
        event["stats"]["outputs"] = outputs
    return event


def encode_event(event: dict) -> bytes:
    """One EVE line. orjson is 15x faster than json here; a string holding
    undecodable wire bytes (kept as surrogates) falls back to json, which
    escapes them."""
    try:
        return orjson.dumps(event)
    except orjson.JSONEncodeError:
        return json.dumps(event, separators=(",", ":")).encode("ascii")

