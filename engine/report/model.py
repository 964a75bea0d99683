"""Per internal host triage data from EVE records: the analyst's playbook
(DESIGN.md) answered host by host, with the evidence behind each answer.

Everything here is read from records other code wrote, possibly by a newer
or older exfilwatch: record types and fields this module does not know are
ignored, and every field that may be missing is read with a default.

Flows are seen from the organisation (engine.netscope: `home_net`): the
internal host is the one the bytes go *out* of. A flow with interim records
counts once, with its last counters (they are cumulative); its records give
its bytes out over time.

Records are read once, as a stream, in bounded memory (weeks of a sensor's
output are many GB): no flow is kept for its own sake. Per host and channel
the model keeps counters, byte totals and bytes out over time; flows are
remembered only while they are still open (interim records seen, final one
to come), for the RECENT_FLOWS flows after they end (a handshake record or
an alert written after the flow record still finds its flow; then the flow
counts into its host and channel: it is "settled"), or as an alert's
evidence. Every table has a bound in
ReportLimits; past it the entries that matter least are dropped and counted
(Triage.dropped), and the page says so.
"""
from array import array
from collections import OrderedDict, defaultdict
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

# The bounds of the report's memory (ReportLimits' defaults). A table is
# pruned back to its bound once it holds PRUNE_SLACK more, so it never holds
# more than bound * (1 + PRUNE_SLACK) entries.
MAX_HOSTS = 20_000            # internal hosts; past it: the hosts without alerts that sent least
MAX_CHANNELS = 50_000         # channels of all hosts; past it: the unalerted ones that sent least
MAX_ALERTS = 5_000            # alerts; past it: Tier 1 before Tier 2, lowest score first
MAX_CERTIFICATES = 20_000     # x509 certificates; past it: lowest anomaly score first
MAX_OPEN_FLOWS = 100_000      # flows with interim records whose final record is yet to come
MAX_HANDSHAKES = 100_000      # tls/quic/ssh records whose flow record is yet to come
RECENT_FLOWS = 20_000         # ended flows held back before they count (below)
SERIES_SPANS = 192            # bytes-out spans per channel before merging into SERIES_SPANS/2
                              # time buckets (2 per point of the chart, svg.BINS = 96)
CHANNEL_VALUES = 16           # fingerprint values per kind, certificates per channel
CONTAINMENT_ENTRIES = 10_000  # IPs, ports, domains each in the containment list
EVENT_TYPES = 64              # distinct event_type counted; others add up as "other"
PRUNE_SLACK = 0.25
# How long (packet time) after its last record a flow can still get one: the
# core writes an interim record every 300 s and times an established TCP flow
# out after 600 s; an hour is a safe margin for a longer configured interval.
OPEN_FLOW_IDLE_US = 3_600 * 1_000_000


@dataclass(frozen=True)
class ReportLimits:
    """Every bound of the model's memory, defaults above."""
    hosts: int = MAX_HOSTS
    channels: int = MAX_CHANNELS
    alerts: int = MAX_ALERTS
    certificates: int = MAX_CERTIFICATES
    open_flows: int = MAX_OPEN_FLOWS
    handshakes: int = MAX_HANDSHAKES
    recent_flows: int = RECENT_FLOWS
    series_spans: int = SERIES_SPANS
    channel_values: int = CHANNEL_VALUES
    containment: int = CONTAINMENT_ENTRIES


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


@dataclass(slots=True)
class Flow:
    key: FlowKey
    host: str                  # the internal side
    external: str
    port: int                  # the service (responder's) port
    proto: str
    start_us: int
    end_us: int
    bytes_out: int = 0         # from the internal host, whole frames, per its last record
    bytes_in: int = 0
    sni: str = ""              # from its handshake records
    app_proto: str = ""        # from its last flow record
    fingerprints: dict = field(default_factory=dict)
    cert_sha256: str = ""
    direction: str = OUTBOUND  # engine.netscope's: outbound, inbound, internal, external
    out_series: "OutSeries" = None   # bytes out over time, a span per record
    out_so_far: int = 0        # the most bytes out of its records so far
    last_us: int = 0           # where its last span ends

    @property
    def service(self) -> str:
        """SNI, else the application protocol."""
        return self.sni or self.app_proto

    @property
    def channel_key(self) -> tuple:
        return (self.host, self.external, self.port, self.proto, self.service)


class OutSeries:
    """Bytes out over time of one channel: a (from_us, to_us, bytes) span per
    flow record, in a flat array. Past `limit` spans they are merged into
    limit/2 equal time buckets over the channel's span, each span's bytes
    spread evenly over its time (as the chart draws them): the chart has
    svg.BINS points, so a limit of twice that loses nothing it shows."""
    __slots__ = ("_flat", "_limit")

    def __init__(self, limit: int = SERIES_SPANS):
        self._flat = array("d")
        self._limit = limit

    def add(self, from_us: int, to_us: int, n: int) -> None:
        self._flat.extend((from_us, to_us, n))
        if len(self._flat) > 3 * self._limit:
            self._merge()

    def extend(self, other: "OutSeries") -> None:
        for span in other.spans():
            self.add(*span)

    def spans(self) -> list:
        f = self._flat
        return [(f[i], f[i + 1], f[i + 2]) for i in range(0, len(f), 3)]

    def _merge(self) -> None:
        spans = self.spans()
        lo = min(a for a, _, _ in spans)
        hi = max(b for _, b, _ in spans)
        count = max(self._limit // 2, 1)
        width = max((hi - lo) / count, 1.0)
        sums = [0.0] * count
        for a, b, n in spans:
            first, last = min(int((a - lo) // width), count - 1), min(int((b - lo) // width),
                                                                       count - 1)
            if last == first:
                sums[first] += n
                continue
            for i in range(first, last + 1):
                overlap = min(b, lo + (i + 1) * width) - max(a, lo + i * width)
                sums[i] += n * max(overlap, 0.0) / (b - a)
        self._flat = array("d")
        for i, n in enumerate(sums):
            if n:
                self._flat.extend((lo + i * width, lo + (i + 1) * width, n))


@dataclass(slots=True)
class Channel:
    """Who talks to whom: internal host, external IP, port, protocol, service."""
    host: str
    external: str
    port: int
    proto: str
    service: str
    flows: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    first_us: int = 0
    last_us: int = 0
    fingerprints: dict = field(default_factory=dict)   # name -> set of values
    certificates: list = field(default_factory=list)   # sha256s, first seen first
    values_dropped: int = 0    # fingerprints and certificates past CHANNEL_VALUES
    alerted: bool = False
    direction: str = OUTBOUND  # of its flows (engine.netscope)
    out_series: OutSeries = field(default_factory=OutSeries)

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
    first_us: int = 0           # earliest flow start
    last_us: int = 0            # latest flow end
    channels: list = field(default_factory=list)
    alerts: list = field(default_factory=list)
    answers: list = field(default_factory=list)
    channels_dropped: int = 0   # channels left out at the channel bound (bytes still counted)
    alerts_dropped: int = 0     # alerts left out at the alert bound

    @property
    def escalated(self) -> bool:
        return any(a.escalate for a in self.alerts)

    @property
    def score(self) -> int:
        return max((a.score for a in self.alerts), default=0)


@dataclass
class Dropped:
    """What the bounds left out, by table (0: nothing)."""
    hosts: int = 0
    channels: int = 0
    alerts: int = 0
    certificates: int = 0
    open_flows: int = 0         # open flows forgotten: a later record counts them again
    handshakes: int = 0         # handshakes forgotten: their flow shows the app_proto
    containment: int = 0


@dataclass
class Triage:
    hosts: list                 # flagged hosts first (escalated, then score), then the others
    alerts: list                # every alert kept, in time order
    flows: dict                 # FlowKey -> Flow: the alerts' evidence flows
    channels: list              # every channel kept, most bytes out first
    certificates: dict          # sha256 -> x509 record body (the fields the report shows)
    shared_destinations: dict   # external IP -> sorted internal hosts (more than one)
    containment: dict           # block_ips / block_ports / block_domains of escalated alerts
    first_us: int
    last_us: int
    counts: dict                # event_type -> records read
    packets: int                # packets decoded, from each source's last `stats` record
    dropped: Dropped = field(default_factory=Dropped)

    @property
    def flagged(self) -> list:
        return [h for h in self.hosts if h.alerts]


# the x509 fields the report shows: the rest of a record is not kept
CERTIFICATE_FIELDS = ("sha256", "subject", "issuerdn", "validation", "score", "reasons", "sni")


def build_triage(records, scope: NetScope | None = None,
                 limits: ReportLimits | None = None) -> Triage:
    """Triage data from (source, record) pairs (engine.report.evefiles),
    read once."""
    model = TriageBuilder(scope or NetScope(), limits or ReportLimits())
    for source, rec in records:
        model.add(source, rec)
    return model.triage()


def _full(table, bound: int) -> bool:
    """Whether a table is due for pruning: PRUNE_SLACK past its bound."""
    return len(table) > bound * (1 + PRUNE_SLACK)


def _prune(table: dict, bound: int, weight, protected=lambda value: False) -> list:
    """Cut `table` back to `bound` entries, dropping the lightest unprotected
    values first; returns those dropped."""
    candidates = sorted((k for k, v in table.items() if not protected(v)),
                        key=lambda k: weight(table[k]))
    return [table.pop(k) for k in candidates[:len(table) - bound]]


class TriageBuilder:
    """The streaming model: `add` each record once, then `triage()`."""

    def __init__(self, scope: NetScope, limits: ReportLimits):
        self.scope, self.limits = scope, limits
        self.hosts = {}             # ip -> Host
        self.channels = {}          # Flow.channel_key -> Channel
        self.certificates = {}      # sha256 -> x509 body (CERTIFICATE_FIELDS)
        self.alerts = []
        # FIFO tables: an OrderedDict pops its oldest entry in O(1), a dict does not
        self.handshakes = OrderedDict()   # FlowKey -> (sni, fingerprints, cert sha256)
        self.open_flows = OrderedDict()   # FlowKey -> Flow with interim records, by last record
        self.ended = OrderedDict()        # FlowKey -> Flow ended, not settled yet
        self.evidence = {}          # FlowKey -> Flow named by an alert kept
        self.wanted = set()         # FlowKey named by an alert before its flow record
        self.alert_targets = set()  # (host, dest_ip, dest_port) of alerts kept
        self.containment = {"block_ips": set(), "block_ports": set(), "block_domains": set()}
        self.counts = dict.fromkeys(("flow", "tls", "quic", "ssh", "x509", "alert", "stats"), 0)
        self.packets = {}           # source -> packets of its last stats record
        self.newest_us = {}         # source -> latest flow end read from it
        self.dropped = Dropped()

    def add(self, source: int, rec: dict) -> None:
        kind = rec.get("event_type")
        if isinstance(kind, str):
            if kind not in self.counts and len(self.counts) >= EVENT_TYPES:
                kind = "other"
            self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind == "flow":
            self._flow(source, rec)
        elif kind in ("tls", "quic", "ssh"):
            self._handshake(source, kind, rec)
        elif kind == "x509":
            self._certificate(rec)
        elif kind == "alert":
            self._alert(source, rec)
        elif kind == "stats":
            self.packets[source] = _int(_dict(_dict(rec.get("stats")).get("decoder")).get("pkts"))

    # -- records ---------------------------------------------------------

    def _handshake(self, source: int, kind: str, rec: dict) -> None:
        body = _dict(rec.get(kind))
        key = FlowKey(source, _int(rec.get("flow_id")))
        sni = body.get("sni") if isinstance(body.get("sni"), str) else ""
        fps, cert = _fingerprints(kind, body), str(body.get("cert_sha256") or "")
        f = self.open_flows.get(key) or self.ended.get(key)
        if f is not None:        # written after a record of its flow, not settled yet
            f.sni, f.cert_sha256 = f.sni or sni, f.cert_sha256 or cert
            f.fingerprints = {**f.fingerprints, **fps}
            return
        prev = self.handshakes.pop(key, ("", {}, ""))
        self.handshakes[key] = (prev[0] or sni, {**prev[1], **fps}, prev[2] or cert)
        if len(self.handshakes) > self.limits.handshakes:
            self.handshakes.popitem(last=False)
            self.dropped.handshakes += 1

    def _certificate(self, rec: dict) -> None:
        body = _dict(rec.get("x509"))
        sha = body.get("sha256")
        if sha and isinstance(sha, str) and sha not in self.certificates:
            self.certificates[sha] = {k: body[k] for k in CERTIFICATE_FIELDS if k in body}
            if _full(self.certificates, self.limits.certificates):
                self.dropped.certificates += len(_prune(
                    self.certificates, self.limits.certificates,
                    lambda x: _int(x.get("score"))))

    def _flow(self, source: int, rec: dict) -> None:
        body = _dict(rec.get("flow"))
        key = FlowKey(source, _int(rec.get("flow_id")))
        end = parse_time_us(body.get("end")) or parse_time_us(rec.get("timestamp")) or 0
        o = self.scope.orient(_Ends(str(rec.get("src_ip", "")), str(rec.get("dest_ip", "")),
                                    _int(rec.get("src_port")), _int(rec.get("dest_port")),
                                    _int(body.get("bytes_toserver")),
                                    _int(body.get("bytes_toclient")),
                                    _int(body.get("pkts_toserver")),
                                    _int(body.get("pkts_toclient"))))
        start = parse_time_us(body.get("start")) or end
        f = self.open_flows.pop(key, None) or self.ended.pop(key, None)
        if f is None:
            sni, fps, cert = self.handshakes.pop(key, ("", {}, ""))
            f = Flow(key, o.internal_host, o.external_host, o.service_port,
                     str(rec.get("proto", "")), start, end, sni=sni, fingerprints=fps,
                     cert_sha256=cert, direction=o.direction,
                     out_series=OutSeries(self.limits.series_spans), last_us=start)
        # bytes out over time: what this record added, in its span
        t = max(end, f.last_us)
        f.out_series.add(f.last_us, t, max(o.bytes_out - f.out_so_far, 0))
        f.out_so_far, f.last_us = max(o.bytes_out, f.out_so_far), t
        # the flow counts with its last record's counters
        f.bytes_out, f.bytes_in, f.start_us, f.end_us = o.bytes_out, o.bytes_in, start, end
        f.app_proto = str(rec.get("app_proto") or "")
        if key in self.wanted:
            self.wanted.discard(key)
            self.evidence[key] = f
        self.newest_us[source] = max(self.newest_us.get(source, 0), end)
        if body.get("interim") is True:
            self.open_flows[key] = f
        else:
            self.ended[key] = f
            if len(self.ended) > self.limits.recent_flows:
                self._settle(self.ended.popitem(last=False)[1])
        self._settle_idle_open_flows()

    def _alert(self, source: int, rec: dict) -> None:
        a = _alert(source, rec)
        if a.escalate:
            self._contain(a.containment)
        self.alerts.append(a)
        self._host(a.host).alerts.append(a)
        self._drop_hosts()
        self.alert_targets.add((a.host, a.dest_ip, a.dest_port))
        for k in a.flows:
            f = self.evidence.get(k) or self.ended.get(k) or self.open_flows.get(k)
            if f is None:
                self.wanted.add(k)
            else:
                self.evidence[k] = f
        if _full(self.alerts, self.limits.alerts):
            self._drop_alerts()

    # -- flows into hosts and channels -----------------------------------

    def _settle(self, f: Flow) -> None:
        """Count a flow that ended (or went idle) into its host and channel."""
        host = self._host(f.host)
        if not host.flows:       # a host made by an alert has no times yet
            host.first_us, host.last_us = f.start_us, f.end_us
        ch = self.channels.get(f.channel_key)
        if ch is None:
            ch = self.channels[f.channel_key] = Channel(
                *f.channel_key, first_us=f.start_us, last_us=f.end_us, direction=f.direction,
                out_series=OutSeries(self.limits.series_spans))
        for total in (host, ch):
            total.flows += 1
            total.bytes_out += f.bytes_out
            total.bytes_in += f.bytes_in
            total.first_us = min(total.first_us, f.start_us)
            total.last_us = max(total.last_us, f.end_us)
        ch.out_series.extend(f.out_series)
        for name, value in f.fingerprints.items():
            values = ch.fingerprints.setdefault(name, set())
            if value not in values:
                if len(values) < self.limits.channel_values:
                    values.add(value)
                else:
                    ch.values_dropped += 1
        if f.cert_sha256 and f.cert_sha256 not in ch.certificates:
            if len(ch.certificates) < self.limits.channel_values:
                ch.certificates.append(f.cert_sha256)
            else:
                ch.values_dropped += 1
        self._drop_channels()
        self._drop_hosts()

    def _host(self, ip: str) -> Host:
        host = self.hosts.get(ip)
        if host is None:
            host = self.hosts[ip] = Host(ip)
        return host

    def _settle_idle_open_flows(self) -> None:
        """Open flows whose last record is too old to be followed by another
        are over: their last record stands. Past the bound the oldest are
        settled too, and counted: a later record of theirs counts them again."""
        flows = self.open_flows
        while flows:
            key = next(iter(flows))
            over = len(flows) > self.limits.open_flows
            if not over and self.newest_us[key.source] - flows[key].last_us <= OPEN_FLOW_IDLE_US:
                break
            self.dropped.open_flows += over
            self._settle(flows.pop(key))

    def _drop_hosts(self) -> None:
        if not _full(self.hosts, self.limits.hosts):
            return
        gone = _prune(self.hosts, self.limits.hosts, lambda h: h.bytes_out,
                      protected=lambda h: bool(h.alerts))
        self.dropped.hosts += len(gone)
        if gone:
            ips = {h.ip for h in gone}
            for key in [k for k in self.channels if k[0] in ips]:
                del self.channels[key]

    def _drop_channels(self) -> None:
        if not _full(self.channels, self.limits.channels):
            return
        targets = self.alert_targets
        evidence = {f.channel_key for f in self.evidence.values()}
        gone = _prune(self.channels, self.limits.channels, lambda c: c.bytes_out,
                      protected=lambda c: (c.host, c.external, c.port) in targets or
                      (c.host, c.external, c.port, c.proto, c.service) in evidence)
        self.dropped.channels += len(gone)
        for ch in gone:
            host = self.hosts.get(ch.host)
            if host is not None:
                host.channels_dropped += 1

    def _drop_alerts(self) -> None:
        self.alerts.sort(key=lambda a: (a.escalate, a.score, a.ts_us), reverse=True)
        gone, self.alerts = self.alerts[self.limits.alerts:], self.alerts[:self.limits.alerts]
        self.dropped.alerts += len(gone)
        for a in gone:
            host = self.hosts[a.host]
            host.alerts.remove(a)
            host.alerts_dropped += 1
        self.alert_targets = {(a.host, a.dest_ip, a.dest_port) for a in self.alerts}
        named = {k for a in self.alerts for k in a.flows}
        self.evidence = {k: f for k, f in self.evidence.items() if k in named}
        self.wanted &= named

    def _contain(self, containment: dict) -> None:
        for name, values in containment.items():
            kept = self.containment[name]
            for v in values:
                if v in kept:
                    continue
                if len(kept) < self.limits.containment:
                    kept.add(v)
                else:
                    self.dropped.containment += 1

    # -- the result ------------------------------------------------------

    def triage(self) -> Triage:
        for unsettled in (self.open_flows, self.ended):
            while unsettled:
                self._settle(unsettled.popitem(last=False)[1])
        alerts = sorted(self.alerts, key=lambda a: a.ts_us)
        flagged_channels = {f.channel_key for f in self.evidence.values()}
        for key, ch in self.channels.items():
            ch.alerted = (ch.host, ch.external, ch.port) in self.alert_targets or \
                key in flagged_channels
            self.hosts[ch.host].channels.append(ch)
        for h in self.hosts.values():
            h.channels.sort(key=lambda c: (not c.alerted, -c.bytes_out, c.label))
        shared = _shared_destinations(self.channels.values())
        for host in self.hosts.values():
            host.answers = _answers(host, self.certificates, shared)
        ordered = sorted(self.hosts.values(), key=lambda h: (not h.alerts, not h.escalated,
                                                             -h.score, -h.bytes_out, h.ip))
        times = [t for h in self.hosts.values() for t in (h.first_us, h.last_us) if t] + \
                [a.ts_us for a in alerts if a.ts_us]
        return Triage(
            hosts=ordered, alerts=alerts, flows=self.evidence,
            channels=sorted(self.channels.values(), key=lambda c: (-c.bytes_out, c.label)),
            certificates=self.certificates, shared_destinations=shared,
            containment={name: sorted(values) for name, values in self.containment.items()},
            first_us=min(times, default=0), last_us=max(times, default=0),
            counts=dict(self.counts), packets=sum(self.packets.values()), dropped=self.dropped)


def _shared_destinations(channels) -> dict:
    """External IPs reached by more than one internal host."""
    hosts_of = defaultdict(set)
    for ch in channels:
        if ch.direction in (OUTBOUND, INBOUND):
            hosts_of[ch.external].add(ch.host)
    return {ip: sorted(hosts) for ip, hosts in sorted(hosts_of.items()) if len(hosts) > 1}


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
