"""Per internal host triage data from EVE records: the analyst's playbook
(DESIGN.md) answered host by host, with the evidence behind each answer.

Everything here is read from records other code wrote, possibly by a newer
or older exfilwatch: record types and fields this module does not know are
ignored, and every field that may be missing is read with a default.

Flows are seen from the organisation (engine.netscope: `home_net`): the
internal host is the one the bytes go *out* of. A flow with interim records
counts once, with its last counters (they are cumulative); its records give
its bytes out over time.
"""
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from ..netscope import INBOUND, OUTBOUND, NetScope
from ..validation import PIN_MISMATCH, TRUSTED_STATUSES
from .text import describe

# (key, question, the detections whose findings answer it "yes")
PLAYBOOK = (
    ("transfer", "Excessive transfer over a new or rarely used encrypted channel?",
     frozenset({"large_upload", "sustained_transfer"})),
    ("destination", "Handshakes to external IPs not usually associated with the business?",
     frozenset({"new_destination", "nonstandard_port", "beaconing", "long_connection"})),
    ("certificate", "Certificates or keys that do not match the approved ones?",
     frozenset({"untrusted_certificate"})),
    ("baseline", "Traffic deviating from the host's baseline?",
     frozenset({"host_baseline_deviation"})),
    ("shared", "The same destination reached by several hosts?",
     frozenset({"multi_host_new_destination"})),
    ("intel", "Threat-intelligence or high-risk geography matches?",
     frozenset({"threat_intel", "high_risk_location"})),
)



def parse_time_us(text) -> int | None:
    """Microseconds since the epoch of an RFC 3339 timestamp, None if absent
    or malformed."""
    if not isinstance(text, str):
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1_000_000)
    except ValueError:
        return None


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class FlowKey(NamedTuple):
    source: int        # index of the output directory it came from
    flow_id: int


class _Ends(NamedTuple):
    """The attributes engine.netscope.NetScope.orient reads."""
    src_ip: str
    dest_ip: str
    src_port: int
    dest_port: int
    bytes_toserver: int
    bytes_toclient: int
    pkts_toserver: int
    pkts_toclient: int


@dataclass
class Flow:
    key: FlowKey
    host: str                  # the internal side
    external: str
    port: int                  # the service (responder's) port
    proto: str
    start_us: int
    end_us: int
    bytes_out: int             # from the internal host, whole frames
    bytes_in: int
    # (from_us, to_us, bytes out in that span), one per record of the flow
    out_series: list = field(default_factory=list)
    service: str = ""          # SNI, else the application protocol
    fingerprints: dict = field(default_factory=dict)
    cert_sha256: str = ""
    direction: str = OUTBOUND  # engine.netscope's: outbound, inbound, internal, external


@dataclass
class Channel:
    """Who talks to whom: internal host, external IP, port, protocol, service."""
    host: str
    external: str
    port: int
    proto: str
    service: str
    flows: list = field(default_factory=list)
    bytes_out: int = 0
    bytes_in: int = 0
    first_us: int = 0
    last_us: int = 0
    fingerprints: dict = field(default_factory=dict)   # name -> set of values
    certificates: list = field(default_factory=list)   # sha256s, first seen first
    alerted: bool = False

    @property
    def label(self) -> str:
        name = f"{self.service} " if self.service and self.service != self.external else ""
        return f"{name}{self.external}:{self.port}/{self.proto}"


@dataclass
class Alert:
    ts_us: int
    alert_id: str
    host: str
    dest_ip: str
    dest_port: int
    proto: str
    signature: str
    severity: int
    score: int
    reasons: list
    escalate: bool
    escalation_reason: str
    tier: int
    containment: dict
    findings: dict              # detection -> its evidence
    certificate: dict
    fingerprints: dict
    flows: list                 # FlowKey of the evidence flows
    bytes_out: int
    bytes_in: int


@dataclass
class Answer:
    """One playbook question for one host."""
    key: str
    question: str
    verdict: str = "clear"      # "alert": a detection fired; "context": worth a look; "clear"
    evidence: list = field(default_factory=list)   # sentences


@dataclass
class Host:
    ip: str
    flows: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    channels: list = field(default_factory=list)
    alerts: list = field(default_factory=list)
    answers: list = field(default_factory=list)

    @property
    def escalated(self) -> bool:
        return any(a.escalate for a in self.alerts)

    @property
    def score(self) -> int:
        return max((a.score for a in self.alerts), default=0)


@dataclass
class Triage:
    hosts: list                 # flagged hosts first (escalated, then score), then the others
    alerts: list                # every alert, in time order
    flows: dict                 # FlowKey -> Flow
    channels: list              # every channel, most bytes out first
    certificates: dict          # sha256 -> x509 record body
    shared_destinations: dict   # external IP -> sorted internal hosts (more than one)
    containment: dict           # block_ips / block_ports / block_domains of escalated alerts
    first_us: int
    last_us: int
    counts: dict                # event_type -> records read
    packets: int                # packets decoded, from each source's last `stats` record

    @property
    def flagged(self) -> list:
        return [h for h in self.hosts if h.alerts]


def build_triage(records, scope: NetScope | None = None) -> Triage:
    """Triage data from (source, record) pairs (engine.report.evefiles)."""
    scope = scope or NetScope()
    by_type = defaultdict(list)
    for source, rec in records:
        by_type[rec.get("event_type")].append((source, rec))

    certificates = {}
    for _, rec in by_type["x509"]:
        body = _dict(rec.get("x509"))
        if body.get("sha256"):
            certificates.setdefault(body["sha256"], body)
    sessions = _sessions(by_type)
    flows = _flows(by_type["flow"], scope, sessions)
    alerts = sorted((_alert(s, r) for s, r in by_type["alert"]), key=lambda a: a.ts_us)

    channels = _channels(flows.values(), alerts)
    hosts = _hosts(channels, alerts)
    shared = _shared_destinations(channels)
    for host in hosts.values():
        host.answers = _answers(host, certificates, shared)
    ordered = sorted(hosts.values(), key=lambda h: (not h.alerts, not h.escalated, -h.score,
                                                    -h.bytes_out, h.ip))
    times = [t for f in flows.values() for t in (f.start_us, f.end_us) if t] + \
            [a.ts_us for a in alerts if a.ts_us]
    return Triage(
        hosts=ordered, alerts=alerts, flows=flows,
        channels=sorted(channels.values(), key=lambda c: (-c.bytes_out, c.label)),
        certificates=certificates, shared_destinations=shared,
        containment=_blocklist(a.containment for a in alerts if a.escalate),
        first_us=min(times, default=0), last_us=max(times, default=0),
        counts={t: len(v) for t, v in by_type.items() if isinstance(t, str)},
        packets=sum(_int(_dict(_dict(r.get("stats")).get("decoder")).get("pkts"))
                    for r in {s: r for s, r in by_type["stats"]}.values()),
    )


def _sessions(by_type) -> dict:
    """FlowKey -> (service name, fingerprints, leaf certificate sha256) of
    the flow's handshake records."""
    out = {}
    for kind in ("tls", "quic", "ssh"):
        for source, rec in by_type[kind]:
            body = _dict(rec.get(kind))
            key = FlowKey(source, _int(rec.get("flow_id")))
            fps = _fingerprints(kind, body)
            service = body.get("sni") if isinstance(body.get("sni"), str) else ""
            prev = out.get(key, ("", {}, ""))
            out[key] = (prev[0] or service, {**prev[1], **fps},
                        prev[2] or str(body.get("cert_sha256") or ""))
    return out


def _fingerprints(kind: str, body: dict) -> dict:
    if kind == "ssh":
        fps = {"hassh": _dict(_dict(body.get("client")).get("hassh")).get("hash"),
               "hassh_server": _dict(_dict(body.get("server")).get("hassh")).get("hash"),
               "ja4ssh": body.get("ja4ssh")}
    else:
        fps = {"ja3": _dict(body.get("ja3")).get("hash"),
               "ja3s": _dict(body.get("ja3s")).get("hash"),
               "ja4": body.get("ja4"), "ja4s": body.get("ja4s")}
    return {k: v for k, v in fps.items() if isinstance(v, str) and v}


def _flows(flow_records, scope: NetScope, sessions: dict) -> dict:
    """FlowKey -> Flow, one per flow however many records it has."""
    per_flow = defaultdict(list)
    for source, rec in flow_records:
        body = _dict(rec.get("flow"))
        end = parse_time_us(body.get("end")) or parse_time_us(rec.get("timestamp")) or 0
        per_flow[FlowKey(source, _int(rec.get("flow_id")))].append((end, rec, body))
    flows = {}
    for key, recs in per_flow.items():
        recs.sort(key=lambda r: (r[0], not r[2].get("interim", False)))
        end, rec, body = recs[-1]
        o = scope.orient(_Ends(str(rec.get("src_ip", "")), str(rec.get("dest_ip", "")),
                               _int(rec.get("src_port")), _int(rec.get("dest_port")),
                               _int(body.get("bytes_toserver")), _int(body.get("bytes_toclient")),
                               _int(body.get("pkts_toserver")), _int(body.get("pkts_toclient"))))
        start = parse_time_us(body.get("start")) or end
        out_key = "bytes_toclient" if o.direction == INBOUND else "bytes_toserver"
        series, prev_t, prev_out = [], start, 0
        for t, _, b in recs:
            total = _int(b.get(out_key))
            series.append((prev_t, max(t, prev_t), max(total - prev_out, 0)))
            prev_t, prev_out = max(t, prev_t), max(total, prev_out)
        service, fps, cert = sessions.get(key, ("", {}, ""))
        flows[key] = Flow(key, o.internal_host, o.external_host, o.service_port,
                          str(rec.get("proto", "")), start, end, o.bytes_out, o.bytes_in, series,
                          service or str(rec.get("app_proto") or ""), fps, cert,
                          o.direction)
    return flows


def _alert(source: int, rec: dict) -> Alert:
    a, x = _dict(rec.get("alert")), _dict(rec.get("exfil"))
    evidence = _dict(x.get("evidence"))
    return Alert(
        ts_us=parse_time_us(rec.get("timestamp")) or 0,
        alert_id=str(x.get("alert_id") or ""),
        host=str(rec.get("src_ip", "")), dest_ip=str(rec.get("dest_ip", "")),
        dest_port=_int(rec.get("dest_port")), proto=str(rec.get("proto", "")),
        signature=str(a.get("signature", "")), severity=_int(a.get("severity")) or 3,
        score=_int(x.get("score")), reasons=[str(r) for r in _list(x.get("reasons"))],
        escalate=x.get("escalate") is True,
        escalation_reason=str(x.get("escalation_reason") or ""),
        tier=_int(x.get("tier")) or (2 if x.get("escalate") is True else 1),
        containment=_blocklist([_dict(x.get("containment"))]),
        findings=_dict(evidence.get("findings")),
        certificate=_dict(evidence.get("certificate")),
        fingerprints={k: v for k, v in _dict(evidence.get("fingerprints")).items()
                      if isinstance(v, str)},
        flows=[FlowKey(source, f) for f in _list(evidence.get("flows")) if isinstance(f, int)],
        bytes_out=_int(_dict(evidence.get("bytes")).get("toserver")),
        bytes_in=_int(_dict(evidence.get("bytes")).get("toclient")),
    )


def _channels(flows, alerts) -> dict:
    channels = {}
    for f in sorted(flows, key=lambda f: f.start_us):
        key = (f.host, f.external, f.port, f.proto, f.service)
        ch = channels.get(key)
        if ch is None:
            ch = channels[key] = Channel(*key, first_us=f.start_us)
        ch.flows.append(f)
        ch.bytes_out += f.bytes_out
        ch.bytes_in += f.bytes_in
        ch.last_us = max(ch.last_us, f.end_us)
        for name, value in f.fingerprints.items():
            ch.fingerprints.setdefault(name, set()).add(value)
        if f.cert_sha256 and f.cert_sha256 not in ch.certificates:
            ch.certificates.append(f.cert_sha256)
    flagged = {(a.host, a.dest_ip, a.dest_port) for a in alerts}
    flagged_flows = {k for a in alerts for k in a.flows}
    for ch in channels.values():
        ch.alerted = (ch.host, ch.external, ch.port) in flagged or \
            any(f.key in flagged_flows for f in ch.flows)
    return channels


def _hosts(channels: dict, alerts) -> dict:
    hosts = {}
    for ch in channels.values():
        h = hosts.setdefault(ch.host, Host(ch.host))
        h.channels.append(ch)
        h.flows += len(ch.flows)
        h.bytes_out += ch.bytes_out
        h.bytes_in += ch.bytes_in
    for a in alerts:
        hosts.setdefault(a.host, Host(a.host)).alerts.append(a)
    for h in hosts.values():
        h.channels.sort(key=lambda c: (not c.alerted, -c.bytes_out, c.label))
    return hosts


def _shared_destinations(channels: dict) -> dict:
    """External IPs reached by more than one internal host."""
    hosts_of = defaultdict(set)
    for ch in channels.values():
        if ch.flows[0].direction in (OUTBOUND, INBOUND):
            hosts_of[ch.external].add(ch.host)
    return {ip: sorted(hosts) for ip, hosts in sorted(hosts_of.items()) if len(hosts) > 1}


def _answers(host: Host, certificates: dict, shared: dict) -> list:
    answers = {key: Answer(key, question) for key, question, _ in PLAYBOOK}
    detection_question = {d: key for key, _, ds in PLAYBOOK for d in ds}
    for a in host.alerts:
        for detection, evidence in a.findings.items():
            key = detection_question.get(detection)
            if key:
                answers[key].verdict = "alert"
                answers[key].evidence.append(
                    f"{detection} on {a.dest_ip}:{a.dest_port}: {describe(evidence)}")
    # what the records show even where no detection fired
    for ch in host.channels:
        for sha in ch.certificates:
            concern = certificate_concern(certificates.get(sha, {}))
            if concern:
                _context(answers["certificate"], f"{ch.label}: certificate {sha[:16]}… {concern}")
        # who else reached a flagged destination: the scope of containment
        if ch.alerted and ch.external in shared:
            others = [h for h in shared[ch.external] if h != host.ip]
            _context(answers["shared"], f"{ch.external} is also reached by {', '.join(others)}")
    return [answers[key] for key, _, _ in PLAYBOOK]


def certificate_concern(x509: dict) -> str:
    """Why a certificate (an x509 record's body) does not match what the
    organisation approves, or "" when it does or was not validated."""
    validation = _dict(x509.get("validation"))
    if validation.get("pin") == PIN_MISMATCH:
        return "does not match the pinned certificate"
    status = validation.get("status")
    if status and status not in TRUSTED_STATUSES:
        return f"is {status}"
    return ""


def _context(answer: Answer, sentence: str) -> None:
    if answer.verdict == "clear":
        answer.verdict = "context"
    if sentence not in answer.evidence:
        answer.evidence.append(sentence)


def _blocklist(containments) -> dict:
    """block_ips / block_ports / block_domains of containment dicts merged,
    deduplicated and sorted; values of the wrong type are left out."""
    merged = {"block_ips": set(), "block_ports": set(), "block_domains": set()}
    for c in containments:
        for name, values in merged.items():
            kind = int if name == "block_ports" else str
            values.update(v for v in _list(c.get(name))
                          if isinstance(v, kind) and not isinstance(v, bool))
    return {name: sorted(values) for name, values in merged.items()}
