"""Hand-made EVE records for the report tests, shaped like the ones
engine/sinks/eve.py and engine/alerts.py write."""
import json
from pathlib import Path

HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


def flow(flow_id, src, dst, dport, up, down, start="2026-03-10T14:00:00+00:00",
         end="2026-03-10T14:00:30+00:00", interim=False, proto="TCP", app_proto="tls"):
    return {"timestamp": end, "flow_id": flow_id, "event_type": "flow", "src_ip": src,
            "src_port": 40000 + flow_id % 1000, "dest_ip": dst, "dest_port": dport,
            "proto": proto, "app_proto": app_proto,
            "flow": {"pkts_toserver": 10, "pkts_toclient": 10, "bytes_toserver": up,
                     "bytes_toclient": down, "start": start, "end": end, "age": 30,
                     "state": "closed", "reason": "timeout", "interim": interim}}


def tls(flow_id, src, dst, dport, sni, cert_sha256="", ja4="t13d1812h2_aaaa_bbbb"):
    return {"timestamp": "2026-03-10T14:00:00.5+00:00", "flow_id": flow_id, "event_type": "tls",
            "src_ip": src, "dest_ip": dst, "dest_port": dport, "proto": "TCP",
            "tls": {"sni": sni, "ja3": {"hash": "0" * 32, "string": "771,..."},
                    "ja3s": {"hash": "1" * 32}, "ja4": ja4, "ja4s": "t130200_1302_cccc",
                    "cert_sha256": cert_sha256}}


def x509(flow_id, sha256, subject, status="self_signed", score=80):
    return {"timestamp": "2026-03-10T14:00:00.5+00:00", "flow_id": flow_id,
            "event_type": "x509",
            "x509": {"sha256": sha256, "subject": subject, "issuerdn": subject,
                     "validation": {"status": status, "approved_ca": False},
                     "score": score, "reasons": [{"id": "self_signed", "points": 30,
                                                  "detail": f"self-signed ({subject})"}]}}


def alert(flow_id, src, dst, dport, detections, escalate=True, score=90, sni="",
          reasons=("6.6 MB uploaded in 1h",), ts="2026-03-10T14:00:31+00:00", **exfil):
    body = {"score": score, "reasons": list(reasons),
            "evidence": {"flows": [flow_id], "bytes": {"toserver": 6_600_000, "toclient": 1000},
                         "window_s": 3600,
                         "findings": {d: {"bytes_out": 6_600_000} for d in detections},
                         "fingerprints": {"ja4": "t13d1812h2_aaaa_bbbb"}},
            "escalate": escalate,
            "escalation_reason": "sustained transfer over an unknown or untrusted encrypted "
                                 "channel" if escalate else "no escalation rule met",
            "tier": 2 if escalate else 1,
            "containment": {"block_ips": [dst], "block_ports": [dport],
                            "block_domains": [sni] if sni else []}, **exfil}
    return {"timestamp": ts, "flow_id": flow_id, "event_type": "alert", "src_ip": src,
            "dest_ip": dst, "dest_port": dport, "proto": "TCP",
            "alert": {"signature_id": 9480001, "signature": "EXFIL large upload over an "
                      "encrypted channel", "severity": 1}, "exfil": body}


def write_eve(directory: Path, records, name="eve.json") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path
