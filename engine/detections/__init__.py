"""Exfiltration detections: one concern per module, each a pure function of
a channel's facts to an engine.alerts.Finding (or None).

A channel is (internal host, external IP, SNI or service, port, protocol);
engine/detect.py gathers its facts (aggregated volumes, the handshake of its
latest flow, baseline novelty, intel and geo hits) into a ChannelView and
asks every detection. Thresholds and points are tunables of DetectConfig,
the [detect] table of the configuration file.
"""
from dataclasses import dataclass, field

MB = 1_000_000


@dataclass(frozen=True, slots=True)
class DetectConfig:
    """Tunables of the detections (bytes, seconds of packet time, points)."""
    # (a) large upload: bytes out in the short window, and out/in at least this
    large_upload_bytes: int = 4 * MB
    large_upload_ratio: float = 2.0
    large_upload_points: int = 40
    # (b) sustained transfer: bytes out in the long window, spread over at least this
    # long (first to last packet of the channel): slow-and-low uploads included
    sustained_bytes: int = 5 * MB
    sustained_min_span_s: int = 7200
    sustained_points: int = 40
    # novelty means nothing while the baseline is empty: the new-destination
    # detections wait until it has learnt for this long (packet time)
    learning_s: int = 3600
    # (c) new destination: new to the organisation, with at least this much upload
    new_destination_min_bytes: int = 1 * MB
    new_destination_points: int = 25
    # (d) encrypted protocol found on a port that is not its usual one
    nonstandard_port_points: int = 15
    # (e) long or persistent connections
    long_connection_s: int = 3600
    long_connection_points: int = 20
    # (f) beaconing (interval and size regularity, RITA-style)
    beacon_min_connections: int = 20
    beacon_min_interval_s: float = 10.0
    beacon_score_threshold: float = 0.8
    beacon_points: int = 40
    # (g) several internal hosts reach one destination within this long of the
    # organisation's first sighting of it
    multi_host_min_hosts: int = 3
    multi_host_window_s: int = 600
    multi_host_points: int = 40
    # (h) threat intelligence and (i) high-risk country or ASN
    intel_points: int = 60
    high_risk_points: int = 40
    # (j) a host's daily upload far above its own baseline (robust z-score)
    host_deviation_z: float = 5.0
    host_deviation_min_bytes: int = 20 * MB
    host_deviation_points: int = 40     # alerts.min_score: a host far off its own norm alerts alone
    # the server's certificate scored this high (0-100) makes the channel untrusted
    untrusted_certificate_score: int = 40
    untrusted_certificate_points: int = 30
    # windows of the aggregator the detections read
    short_window: str = "1h"
    long_window: str = "24h"


@dataclass(slots=True)
class SessionFacts:
    """What the handshake of a flow told us, kept until its flow record."""
    kind: str                          # "tls", "ssh", "quic"
    sni: str | None = None
    app_proto: str | None = None
    unusual_port: bool = False
    certificate: dict | None = None    # leaf facts + validation + anomaly score, for evidence
    cert_score: int = 0
    fingerprints: dict = field(default_factory=dict)
    new_for_org: tuple = ()            # baseline kinds seen for the first time
    intel: tuple = ()                  # threat-intel match sentences
    geo: tuple = ()                    # high-risk location sentences
    allowlisted: str | None = None     # the allowlist's reason, when approved


@dataclass(slots=True)
class ChannelView:
    """Everything a detection may look at for one channel, now."""
    key: tuple                         # engine.aggregate.ChannelKey
    stats: object                      # engine.aggregate.ChannelStats
    flow: object                       # the FlowRecord that triggered the evaluation
    session: SessionFacts | None
    new_for_org: frozenset             # novelty of the channel's first handshake
    # internal hosts that first reached the external IP within multi_host_window_s
    # of the organisation's first sighting of it (empty when that was longer ago)
    early_hosts: tuple = ()
    upload: object = None              # engine.baseline.UploadStats of the host, today
