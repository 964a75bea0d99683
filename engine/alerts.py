"""From detection findings to alerts an analyst can act on.

Detections (engine/detect.py) say what they saw on a channel as Findings;
this module is policy: it scores them, decides whether to alert and whether
to escalate to Tier 2 (the playbook's rule, DESIGN.md), suppresses repeats
of the same alert, and writes the EVE `alert` record with the evidence and
the containment data.
"""
import hashlib
from dataclasses import dataclass, field

from .sinks.eve import format_timestamp

# Suricata-style signature ids of our detections (a private range) and
# their names; the category names the technique.
SIGNATURES = {
    "large_upload": (9_480_001, "EXFIL large upload over an encrypted channel"),
    "sustained_transfer": (9_480_002, "EXFIL sustained transfer over an encrypted channel"),
    "new_destination": (9_480_003, "EXFIL upload to a destination new to the organisation"),
    "untrusted_certificate": (9_480_004, "EXFIL upload to a server with an untrusted certificate"),
    "nonstandard_port": (9_480_005, "EXFIL encrypted protocol on a non-standard port"),
    "long_connection": (9_480_006, "EXFIL long-lived encrypted connection"),
    "beaconing": (9_480_007, "EXFIL beaconing to an external destination"),
    "multi_host_new_destination": (9_480_008, "EXFIL several hosts reach one new destination"),
    "threat_intel": (9_480_009, "EXFIL connection matches threat intelligence"),
    "high_risk_location": (9_480_010, "EXFIL upload to a high-risk country or network"),
    "host_baseline_deviation": (9_480_011, "EXFIL host uploads far above its own baseline"),
}
CATEGORY = "Exfiltration Over Asymmetric Encrypted Non-C2 Protocol (T1048.002)"

# the playbook's escalation rule, as sets of detections
VOLUME = frozenset({"large_upload", "sustained_transfer", "host_baseline_deviation"})
UNKNOWN_CHANNEL = frozenset({"new_destination", "untrusted_certificate", "nonstandard_port",
                             "multi_host_new_destination"})
BLOCKLISTED = frozenset({"threat_intel", "high_risk_location"})
KNOWN_EXFIL_PATTERNS = frozenset({"beaconing", "long_connection"})
DESTINATION_SCOPED = frozenset({"multi_host_new_destination"})


@dataclass(frozen=True, slots=True)
class Finding:
    """One detection's verdict on a channel."""
    detection: str           # a key of SIGNATURES
    points: int              # its share of the exfiltration score (0-100)
    reason: str              # a sentence for the analyst
    evidence: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Channel:
    """Who talks to whom: the unit alerts are about."""
    internal_host: str
    external_ip: str
    dest_port: int
    proto: str               # "TCP" / "UDP"
    service: str             # SNI, or the application protocol when there is none


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the detection layer hands over for one channel at one moment."""
    channel: Channel
    ts_us: int               # packet time
    findings: tuple          # Finding, ...
    flow_ids: tuple = ()
    bytes_out: int = 0
    bytes_in: int = 0
    window_s: int = 0
    certificate: dict | None = None    # leaf facts, validation and anomaly score
    fingerprints: dict | None = None   # ja3 / ja4 / ja4s / hassh ...
    capture_loss: float | None = None  # fraction, when the capture lost packets


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Tunables of alerting; seconds are packet time."""
    min_score: int = 40                 # below it findings are kept as context, not alerted
    suppress_s: int = 3600              # one alert per channel and signature per window...
    rescore_points: int = 20            # ...unless the score grew by this much
    high_severity_score: int = 70       # Suricata severity 1 at or above this score
    medium_severity_score: int = 40     # severity 2 at or above, else 3


@dataclass
class AlertManager:
    config: AlertConfig = field(default_factory=AlertConfig)
    _last: dict = field(default_factory=dict)    # (channel, signature) -> (ts_us, score)
    _ids: set = field(default_factory=set)       # alert_ids issued in this run
    suppressed: int = 0

    def decide(self, c: Candidate) -> dict | None:
        """The EVE alert for a candidate, or None (too weak, or a repeat)."""
        if not c.findings:
            return None
        score = min(100, sum(f.points for f in c.findings))
        if score < self.config.min_score:
            return None
        lead = max(c.findings, key=lambda f: f.points)
        # some findings are about the destination, whichever host: one alert for all
        key = ((c.channel.external_ip, lead.detection) if lead.detection in DESTINATION_SCOPED
               else (c.channel, lead.detection))
        last = self._last.get(key)
        if last and c.ts_us - last[0] < self.config.suppress_s * 1_000_000 \
                and score < last[1] + self.config.rescore_points:
            self.suppressed += 1
            return None
        self._last[key] = (c.ts_us, score)
        return self._event(c, score, lead)

    def _unique_id(self, base: str) -> str:
        """Two alerts of identical content (possible with suppress_s = 0) get
        "-2", "-3"... in the order they were raised, which a replay keeps."""
        aid, n = base, 1
        while aid in self._ids:
            n += 1
            aid = f"{base}-{n}"
        self._ids.add(aid)
        return aid

    def _event(self, c: Candidate, score: int, lead: Finding) -> dict:
        kinds = {f.detection for f in c.findings}
        escalate, why = escalation(kinds)
        sid, signature = SIGNATURES[lead.detection]
        severity = 1 if score >= self.config.high_severity_score else \
            2 if score >= self.config.medium_severity_score else 3
        reasons = [f.reason for f in sorted(c.findings, key=lambda f: -f.points)]
        if c.capture_loss:
            reasons.append(f"capture loss {c.capture_loss:.0%} in this window: volumes are "
                           "lower bounds")
        evidence = {
            "flows": list(c.flow_ids),
            "bytes": {"toserver": c.bytes_out, "toclient": c.bytes_in},
            "window_s": c.window_s,
            "findings": {f.detection: f.evidence for f in c.findings},
        }
        if c.certificate:
            evidence["certificate"] = c.certificate
        if c.fingerprints:
            evidence["fingerprints"] = c.fingerprints
        if c.capture_loss:
            evidence["capture_loss"] = round(c.capture_loss, 4)
        ch = c.channel
        return {
            "timestamp": format_timestamp(c.ts_us),
            "flow_id": c.flow_ids[-1] if c.flow_ids else 0,
            "event_type": "alert",
            "src_ip": ch.internal_host,
            "dest_ip": ch.external_ip,
            "dest_port": ch.dest_port,
            "proto": ch.proto,
            "alert": {"action": "allowed", "gid": 1, "signature_id": sid, "rev": 1,
                      "signature": signature, "category": CATEGORY, "severity": severity},
            "exfil": {
                "alert_id": self._unique_id(alert_id(sid, c, score)),
                "score": score,
                "reasons": reasons,
                "evidence": evidence,
                "escalate": escalate,
                "escalation_reason": why,
                "tier": 2 if escalate else 1,
                "containment": {
                    "block_ips": [ch.external_ip],
                    "block_ports": [ch.dest_port],
                    "block_domains": [ch.service] if "." in ch.service else [],
                },
            },
        }


def alert_id(signature_id: int, c: Candidate, score: int) -> str:
    """A short, copy-pasteable id derived from what the alert is about (its
    signature, channel, flows, packet time and score): a replay of the same
    capture gives every alert the same id again."""
    ch = c.channel
    content = (f"{signature_id}|{ch.internal_host}|{ch.external_ip}|{ch.dest_port}|{ch.proto}|"
               f"{','.join(map(str, sorted(c.flow_ids)))}|{c.ts_us}|{score}")
    return hashlib.blake2b(content.encode(), digest_size=8).hexdigest()


def escalation(kinds: set) -> tuple[bool, str]:
    """The playbook's rule: escalate to Tier 2 on sustained transfer over an
    unknown or untrusted encrypted channel, on host anomalies matching known
    exfiltration patterns, or on links to blocklisted or high-risk places."""
    if kinds & BLOCKLISTED:
        return True, "linked to a blocklisted or high-risk destination"
    if kinds & VOLUME and kinds & UNKNOWN_CHANNEL:
        return True, "sustained transfer over an unknown or untrusted encrypted channel"
    if kinds & VOLUME and kinds & KNOWN_EXFIL_PATTERNS:
        return True, "host anomaly matching a known exfiltration pattern"
    return False, "no escalation rule met: review at Tier 1"
