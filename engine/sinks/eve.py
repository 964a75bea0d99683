"""EVE JSON lines: Suricata-compatible `flow` and `stats` events.

Field names and meanings follow Suricata's EVE so existing consumers read
them unchanged; timestamps are RFC 3339 with microseconds and offset.
"""
import json
import os
from datetime import datetime, timezone

from ..records import FlowRecord

_TCP_FLAG_NAMES = (
    (0x01, "fin"), (0x02, "syn"), (0x04, "rst"), (0x08, "psh"),
    (0x10, "ack"), (0x20, "urg"), (0x40, "ecn"), (0x80, "cwr"),
)


def format_timestamp(us: int) -> str:
    """Packet time in microseconds -> '2024-01-02T03:04:05.123456+00:00'."""
    seconds, micros = divmod(us, 1_000_000)
    dt = datetime.fromtimestamp(seconds, tz=timezone.utc).replace(microsecond=micros)
    return dt.isoformat(timespec="microseconds")


def flow_event(rec: FlowRecord) -> dict:
    event = {
        "timestamp": format_timestamp(rec.emitted_us),
        "flow_id": rec.flow_id,
        "event_type": "flow",
    }
    if rec.vlan:
        event["vlan"] = list(rec.vlan)
    event["src_ip"] = rec.src_ip
    if rec.proto in (6, 17):
        event["src_port"] = rec.src_port
    event["dest_ip"] = rec.dest_ip
    if rec.proto in (6, 17):
        event["dest_port"] = rec.dest_port
    event["proto"] = rec.proto_name
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
    return section


def stats_event(timestamp_us: int, counters: dict, capture: dict) -> dict:
    """The closing `stats` record: decoder, flow, defrag and capture counters."""
    decoder = {"pkts": counters["packets"], "bytes": counters["bytes"]}
    errors = {k[len("decode."):]: v for k, v in counters.items()
              if k.startswith("decode.") and k not in ("decode.ok",)}
    decoder["invalid"] = sum(v for k, v in errors.items()
                             if k not in ("not_flow", "fragment", "tunnelled",
                                          "ipv4_truncated", "ipv6_truncated",
                                          "icmp_error_mapped", "vlan_extra_tags"))
    decoder["events"] = errors
    return {
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
            "capture": capture,
        },
    }


class EveFileSink:
    """Appends EVE events to DIR/eve.json, one JSON object per line."""

    def __init__(self, out_dir: str):
        os.makedirs(out_dir, exist_ok=True)
        self.path = os.path.join(out_dir, "eve.json")
        self._file = open(self.path, "w", encoding="utf-8", buffering=1 << 20)
        self.events_written = 0

    def write(self, event: dict) -> None:
        self._file.write(json.dumps(event, separators=(",", ":")))
        self._file.write("\n")
        self.events_written += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
