"""The detection layer: pipeline records in, EVE x509 and alert events out.

For every handshake it validates and scores the server certificate, asks the
baseline what is new, matches threat intelligence, geography and the
allowlist, and keeps those facts for the flow. For every flow record (final
or interim) it adds the flow to its channel and runs the detections of
engine/detections on that channel; their findings go to the alert policy.
Everything runs on packet time, so a replay is reproducible.
"""
import logging
from dataclasses import dataclass

from .aggregate import AggregateConfig, ChannelAggregator
from .alerts import AlertConfig, AlertManager, Candidate, Channel
from .allowlist import Allowlist, AllowlistConfig
from .baseline import BaselineConfig, SqliteBaseline, open_state, session_observations
from .capture_loss import CaptureLossMeter
from .detections import ChannelView, DetectConfig, SessionFacts
from .detections import beaconing, channel, novelty, reputation, volume
from .fingerprints.ja4x import ja4x
from .geo import GeoConfig, GeoLookup, HighRiskPolicy
from .handshake import SshSession, TlsSession
from .intel import IntelConfig, IntelSet
from .netscope import OUTBOUND
from .pipeline import app_proto_of
from .records import CaptureLossSample, FlowRecord, PROTO_NAMES
from .scoring import CertContext, CertScoringConfig, score_certificate
from .sinks.eve_x509 import x509_event
from .validation import ChainValidator, ValidationConfig

log = logging.getLogger(__name__)

DETECTIONS = (
    volume.large_upload, volume.sustained_transfer, volume.host_baseline_deviation,
    novelty.new_destination, novelty.multi_host_new_destination,
    channel.nonstandard_port, channel.long_connection,
    beaconing.beaconing,
    reputation.threat_intel, reputation.high_risk_location, reputation.untrusted_certificate,
)
DAY_US = 86_400 * 1_000_000
MAX_PENDING_SESSIONS = 200_000      # handshakes whose flow record has not come yet
MAX_CHANNEL_NOVELTY = 200_000       # channels whose first-handshake novelty is remembered
MAX_X509_SEEN = 100_000             # (certificate, day) pairs already written
MAX_RECENT_DESTINATIONS = 100_000   # destinations new to the organisation being watched
MAX_CERT_SCORES = 50_000            # certificate scores cached
MAX_HOSTS_TODAY = 1_000_000         # internal hosts whose upload today is tracked
MAX_SERVER_VERDICTS = 100_000       # servers whose allowlist, intel and geo answers are cached


@dataclass(frozen=True)
class DetectionSettings:
    """The configuration tables the detection layer reads."""
    detect: DetectConfig = DetectConfig()
    aggregate: AggregateConfig = AggregateConfig()
    baseline: BaselineConfig = BaselineConfig()
    alerts: AlertConfig = AlertConfig()
    allowlist: AllowlistConfig = AllowlistConfig()
    intel: IntelConfig = IntelConfig()
    geo: GeoConfig = GeoConfig()
    validation: ValidationConfig = ValidationConfig()
    cert_scoring: CertScoringConfig = CertScoringConfig()


class DetectionEngine:
    def __init__(self, settings: DetectionSettings = DetectionSettings(),
                 state_dir: str | None = None, source: str = "replay"):
        self.aggregator = ChannelAggregator(settings.aggregate)
        self.scope = self.aggregator.scope
        self.baseline = (open_state(state_dir, settings.baseline, source) if state_dir
                         else SqliteBaseline(":memory:", settings.baseline, source=source))
        self.alerts = AlertManager(settings.alerts)
        self.set_policy(settings)
        self._sessions = {}           # flow_id -> SessionFacts
        self._channel_new = {}        # ChannelKey -> kinds new to the organisation
        self._x509_seen = set()
        self._recent_dests = {}       # external IP -> (first sighting, {host: first_us})
        self._learning_since = None   # packet time of the baseline's oldest observation
        self._host_today = {}         # internal host -> (day, bytes uploaded that day)
        self._loss = CaptureLossMeter(span_s=max(settings.aggregate.windows))

    def set_policy(self, settings: DetectionSettings) -> None:
        """The thresholds, lists and lookups the detections consult. A running
        sensor calls it again on SIGHUP: the baseline, the channel windows,
        the alert suppression state and the pending handshakes are kept (the
        aggregation and baseline tables apply at the next start). Everything
        is built before anything is replaced, so that a file that fails to
        load (IntelError, ConfigError) changes nothing."""
        validator = ChainValidator.from_config(settings.validation)
        allowlist = Allowlist(settings.allowlist)
        intel = IntelSet.from_config(settings.intel)
        geo = GeoLookup.from_config(settings.geo)
        high_risk = HighRiskPolicy.from_config(settings.geo)
        self.cfg = settings.detect
        self.validator, self.allowlist, self.intel = validator, allowlist, intel
        self.geo, self.high_risk = geo, high_risk
        self.cert_scoring = settings.cert_scoring
        self.alerts.config = settings.alerts
        self._scores = {}             # (cert sha256, sni, validation status, day) -> CertScore
        self._verdicts = {}           # what _server_verdict() answered, by its inputs

    def process(self, records) -> list:
        """EVE events (x509, alert) caused by a batch of pipeline records.

        Handshakes first (a flow's handshake always precedes its flow
        record), then the flows; the channels the flows touched are
        evaluated once per batch, with their window statistics fetched
        together."""
        events = []
        for rec in records:
            if isinstance(rec, CaptureLossSample):
                self._loss.observe(rec.ts_us, rec.ack_events, rec.gap_events)
        sessions = [rec for rec in records if isinstance(rec, (TlsSession, SshSession))]
        if sessions:
            events += self._sessions_batch(sessions)
        touched = {}
        for rec in records:
            if isinstance(rec, FlowRecord):
                hit = self._flow(rec)
                if hit is not None:
                    touched[hit[0]] = hit[1:]
        if touched:
            stats = self.aggregator.channels(touched)
            for key, (flow, facts) in touched.items():
                # a record older than the longest window finds its channel evicted
                # as idle: no window counts it, but the flow's own facts still do
                channel = stats.get(key) or self.aggregator.no_traffic(key)
                event = self._evaluate(key, channel, flow, facts)
                if event:
                    events.append(event)
        return events

    def close(self):
        self.baseline.close()

    # ---------------------------------------------------------- handshakes
    def _sessions_batch(self, sessions) -> list:
        """Facts of a batch of handshakes; the baseline is asked once for all."""
        started, observations = [], []
        for s in sessions:
            begun = self._session_facts(s)
            if begun is not None:
                obs = session_observations(begun[1], s.record.at_us, dest_ip=begun[2],
                                           sni=begun[0].sni, ja4=begun[0].fingerprints.get("ja4"),
                                           cert_sha256=begun[3].sha256 if begun[3] else None)
                started.append((s, begun, len(observations), len(obs)))
                observations += obs
        novelty = self.baseline.observe_many(observations) if observations else []
        events = []
        for s, (facts, internal, external, cert), first, count in started:
            facts.new_for_org = tuple(sorted({o[0] for o, n in zip(
                observations[first:first + count], novelty[first:first + count]) if n.new_for_org}))
            self._note_destination(external, internal, s.record.at_us,
                                   "dest_ip" in facts.new_for_org)
            if cert is not None and cert.parse_error is None:
                events += self._certificate(s, cert, facts)
        return events

    def _session_facts(self, s):
        """(facts, internal host, external host, leaf certificate) of a
        handshake between an internal and an external host, else None."""
        r = s.record
        internal, external = self._ends(r.src_ip, r.dest_ip)
        if internal is None:
            return None
        facts = SessionFacts(kind="ssh" if isinstance(s, SshSession) else
                             ("quic" if s.transport == "quic" else "tls"))
        facts.app_proto = app_proto_of(s)
        cert = None
        if isinstance(s, TlsSession):
            facts.sni = s.sni
            facts.unusual_port = s.unusual_port or (facts.kind == "quic" and r.dest_port != 443)
            facts.fingerprints = {k: v for k, v in (
                ("ja3", (s.ja3() or (None, None))[1]), ("ja4", s.ja4()),
                ("ja3s", (s.ja3s() or (None, None))[1]), ("ja4s", s.ja4s())) if v}
            cert = s.certificates[0] if s.certificates else None
        else:
            facts.unusual_port = r.dest_port != 22
            hassh = s.hassh()
            if hassh:
                facts.fingerprints = {"hassh": hassh[1]}
        facts.allowlisted, facts.intel, facts.geo = self._server_verdict(external, facts, cert)
        self._sessions[r.flow_id] = facts
        if len(self._sessions) > MAX_PENDING_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        return facts, internal, external, cert

    def _server_verdict(self, external, facts, cert) -> tuple:
        """(allowlist reason, intel sentences, high-risk location sentences)
        of the server side of a handshake. Cached by every input the three
        read: most sessions meet a server already met with the same name,
        fingerprints and certificate, and the policy changes only in
        set_policy(), which starts a new cache."""
        fp = facts.fingerprints
        key = (external, facts.sni, fp.get("ja3"), fp.get("ja4"),
               *((cert.sha256, cert.sha1_fingerprint, cert.issuerdn) if cert else ()))
        verdict = self._verdicts.get(key)
        if verdict is None:
            allowlisted = self.allowlist.allows(
                flow_ip=external, sni=facts.sni, ja4=fp.get("ja4"),
                cert_sha256=cert.sha256 if cert else None,
                cert_sha1=cert.sha1_fingerprint if cert else None,
                issuer=cert.issuerdn if cert else None)
            geo = tuple(str(g) for g in self.high_risk.reasons(self.geo.lookup(external),
                                                               ip=external))
            verdict = (allowlisted, self._intel(external, facts, cert), geo)
            if len(self._verdicts) >= MAX_SERVER_VERDICTS:
                self._verdicts.clear()
            self._verdicts[key] = verdict
        return verdict

    def _intel(self, external, facts, cert) -> tuple:
        hits = list(self.intel.match_ip(external))
        if facts.sni:
            hits += self.intel.match_domain(facts.sni)
        if cert is not None:
            hits += self.intel.match_cert(sha1=cert.sha1_fingerprint, sha256=cert.sha256)
        if facts.fingerprints.get("ja3"):
            hits += self.intel.match_ja3(facts.fingerprints["ja3"])
        if facts.fingerprints.get("ja4"):
            hits += self.intel.match_ja4(facts.fingerprints["ja4"])
        return tuple(f"{h.kind} {h.value} listed in {h.source}:{h.line}"
                     + (f" ({h.description})" if h.description else "") for h in hits)

    def _certificate(self, s: TlsSession, cert, facts) -> list:
        validation = self.validator.validate_session(s)
        first_seen = "cert_sha256" in facts.new_for_org
        key = (cert.sha256, s.sni, validation.status, first_seen, s.record.at_us // DAY_US)
        score = self._scores.get(key)
        if score is None:
            context = CertContext(sni=s.sni, at_us=s.record.at_us, first_seen_in_org=first_seen)
            score = score_certificate(cert, validation, context, self.cert_scoring)
            if len(self._scores) >= MAX_CERT_SCORES:
                self._scores.clear()
            self._scores[key] = score
        facts.cert_score = score.score
        facts.certificate = {
            "subject": cert.subject, "issuerdn": cert.issuerdn, "sha256": cert.sha256,
            "validation": validation.status, "validation_reason": validation.reason,
            "anomaly": {"score": score.score,
                        "reasons": [{"reason_id": r.reason_id, "points": r.points,
                                     "detail": r.detail} for r in score.reasons]},
        }
        day = (cert.sha256, s.record.at_us // DAY_US)
        if day in self._x509_seen:
            return []
        if len(self._x509_seen) >= MAX_X509_SEEN:
            self._x509_seen.clear()
        self._x509_seen.add(day)
        seen = self.baseline.lookup("cert_sha256", cert.sha256)
        return [x509_event(cert, validation, score, seen.first_seen_us if seen else None, s.record,
                           ja4x=ja4x(cert))]

    # --------------------------------------------------------------- flows
    def _flow(self, flow: FlowRecord):
        """Account a flow record; (channel key, flow, facts) when its
        channel should be evaluated, else None."""
        facts = (self._sessions.get if flow.interim else self._sessions.pop)(flow.flow_id, None)
        delta = self.aggregator.add_flow(flow, sni=facts.sni if facts else None,
                                         service=facts.app_proto if facts else None)
        if delta is None:
            return None
        key = delta.key
        if delta.bytes_out:
            self.baseline.add_upload(delta.internal_host, delta.at_us, delta.bytes_out)
            day = delta.at_us // DAY_US
            if len(self._host_today) >= MAX_HOSTS_TODAY:
                self._host_today.clear()     # only gates a query; starting over is safe
            last_day, total = self._host_today.get(delta.internal_host, (day, 0))
            self._host_today[delta.internal_host] = (
                day, (total if last_day == day else 0) + delta.bytes_out)
        if facts is not None and key not in self._channel_new:
            if len(self._channel_new) >= MAX_CHANNEL_NOVELTY:
                del self._channel_new[next(iter(self._channel_new))]
            self._channel_new[key] = frozenset(facts.new_for_org)
        if delta.direction is not OUTBOUND:
            return None
        if facts is not None and facts.allowlisted:
            return None
        return key, flow, facts

    def _evaluate(self, key, stats, flow, facts) -> dict | None:
        external = key.external_ip
        learnt = self._learnt(flow.end_us)
        view = ChannelView(
            key=key, stats=stats, flow=flow, session=facts,
            new_for_org=self._channel_new.get(key, frozenset()) if learnt else frozenset(),
            early_hosts=self._early_hosts(external) if learnt else (),
            upload=self._upload_stats(key.internal_host, flow.end_us))
        findings = tuple(f for f in (d(view, self.cfg) for d in DETECTIONS) if f is not None)
        if not findings:
            return None
        w = stats.windows[self.cfg.short_window]
        candidate = Candidate(
            channel=Channel(key.internal_host, external, key.dest_port,
                            PROTO_NAMES.get(key.proto, str(key.proto)), key.service),
            ts_us=flow.emitted_us, findings=findings, flow_ids=(flow.flow_id,),
            bytes_out=w.bytes_out, bytes_in=w.bytes_in,
            window_s=self._short_window_us() // 1_000_000,
            certificate=facts.certificate if facts else None,
            fingerprints=facts.fingerprints if facts else None,
            capture_loss=self._loss.fraction(flow.emitted_us, self._short_window_us() // 1_000_000))
        return self.alerts.decide(candidate)

    def _upload_stats(self, host: str, now_us: int):
        """The host's upload history, asked of the store only when today's
        volume could matter (the store query is the costly part)."""
        day, today = self._host_today.get(host, (None, 0))
        if day != now_us // DAY_US or today < self.cfg.host_deviation_min_bytes:
            return None
        return self.baseline.upload_stats(host, now_us)

    def _learnt(self, now_us: int) -> bool:
        """Has the baseline learnt long enough for novelty to mean something?"""
        if self._learning_since is None:
            self._learning_since = self.baseline.earliest_us()
        return self._learning_since is not None and \
            now_us - self._learning_since >= self.cfg.learning_s * 1_000_000

    def _note_destination(self, external: str, host: str, at_us: int, new_for_org: bool):
        """Remember which hosts reach a destination the organisation has just
        met, and when each first did (for the several-hosts detection)."""
        if new_for_org:
            if len(self._recent_dests) >= MAX_RECENT_DESTINATIONS:
                del self._recent_dests[next(iter(self._recent_dests))]
            self._recent_dests[external] = (at_us, {host: at_us})
        elif external in self._recent_dests:
            first, hosts = self._recent_dests[external]
            if at_us - first > self.cfg.multi_host_window_s * 1_000_000:
                del self._recent_dests[external]
            else:
                hosts.setdefault(host, at_us)

    def _early_hosts(self, external: str) -> tuple:
        """Internal hosts that reached `external` within the multi-host window
        of the organisation's first sighting of it."""
        entry = self._recent_dests.get(external)
        return tuple(sorted(entry[1])) if entry else ()

    def _short_window_us(self) -> int:
        return self.aggregator.window(self.cfg.short_window).seconds * 1_000_000

    def _ends(self, a: str, b: str):
        """(internal host, external host) of a handshake, or (None, None)."""
        a_in, b_in = self.scope.is_internal(a), self.scope.is_internal(b)
        if a_in and not b_in:
            return a, b
        if b_in and not a_in:
            return b, a
        return None, None
