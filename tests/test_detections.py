"""Each detection on its own, with channel facts built by hand: it fires at
its threshold and not below, with its points and evidence."""
from types import SimpleNamespace

import numpy as np
import pytest

from engine.aggregate import ChannelKey, ChannelStats, WindowStats
from engine.baseline import UploadStats
from engine.detections import MB, ChannelView, DetectConfig, SessionFacts
from engine.detections import beaconing, channel, novelty, reputation, volume

CFG = DetectConfig()
KEY = ChannelKey("10.20.0.5", "203.0.113.9", "files.example", 443, 6)
HOUR_US = 3_600_000_000


def window(out=0, inn=1, conns=1, dur_total_s=1, dur_max_s=1):
    return WindowStats(out, inn, out / max(inn, 1), conns, dur_total_s * 1_000_000,
                       dur_max_s * 1_000_000)


def view(short=None, long=None, starts=(), sizes=(), span_s=60, session=None, new=(),
         early_hosts=(), upload=None, flow_duration_s=10):
    stats = ChannelStats(KEY, 0, span_s * 1_000_000, len(starts),
                         {"1h": short or window(), "24h": long or short or window()},
                         np.array(starts, dtype=np.int64), np.array(sizes, dtype=np.int64))
    flow = SimpleNamespace(flow_id=7, start_us=0, end_us=flow_duration_s * 1_000_000,
                           interim=False)
    return ChannelView(KEY, stats, flow, session, frozenset(new), tuple(early_hosts), upload)


def test_large_upload_fires_at_its_threshold_and_ratio():
    hit = volume.large_upload(view(window(out=CFG.large_upload_bytes, inn=1000)), CFG)
    assert hit.detection == "large_upload" and hit.points == CFG.large_upload_points
    assert hit.evidence["bytes_out"] == CFG.large_upload_bytes
    assert volume.large_upload(view(window(out=CFG.large_upload_bytes - 1)), CFG) is None
    # as much coming back as going out is a sync, not an upload
    assert volume.large_upload(view(window(out=20 * MB, inn=20 * MB)), CFG) is None


def test_sustained_transfer_needs_volume_spread_over_time():
    big_long = window(out=CFG.sustained_bytes)
    assert volume.sustained_transfer(view(long=big_long, span_s=CFG.sustained_min_span_s),
                                      CFG).points == CFG.sustained_points
    assert volume.sustained_transfer(view(long=big_long, span_s=60), CFG) is None
    assert volume.sustained_transfer(view(long=window(out=MB), span_s=10 * 3600), CFG) is None


def test_host_baseline_deviation_compares_today_with_the_hosts_history():
    normal = UploadStats(days=10, mean=2 * MB, std=MB, median=2 * MB, mad=0.5 * MB,
                         current=40 * MB)
    assert volume.host_baseline_deviation(view(upload=normal), CFG).detection == \
        "host_baseline_deviation"
    usual = normal._replace(current=2.5 * MB)
    assert volume.host_baseline_deviation(view(upload=usual), CFG) is None
    no_history = normal._replace(days=0)
    assert volume.host_baseline_deviation(view(upload=no_history), CFG) is None


def test_new_destination_needs_novelty_and_an_upload():
    upload = window(out=CFG.new_destination_min_bytes)
    assert novelty.new_destination(view(upload, new=("dest_ip", "sni")), CFG).points == \
        CFG.new_destination_points
    assert novelty.new_destination(view(upload), CFG) is None
    assert novelty.new_destination(view(window(out=1000), new=("dest_ip",)), CFG) is None


def test_several_hosts_soon_after_the_first_sighting():
    hosts = ("10.20.0.1", "10.20.0.2", "10.20.0.3")
    assert novelty.multi_host_new_destination(view(early_hosts=hosts), CFG).evidence == \
        {"hosts": list(hosts)}
    assert novelty.multi_host_new_destination(view(early_hosts=hosts[:2]), CFG) is None


def test_nonstandard_port_and_long_connection():
    odd = SessionFacts(kind="tls", unusual_port=True)
    assert channel.nonstandard_port(view(session=odd), CFG).reason == "TLS found by content on port 443"
    assert channel.nonstandard_port(view(session=SessionFacts(kind="tls")), CFG) is None
    assert channel.long_connection(view(flow_duration_s=CFG.long_connection_s), CFG).points == \
        CFG.long_connection_points
    assert channel.long_connection(view(flow_duration_s=60), CFG) is None


def test_beaconing_scores_regular_intervals_and_sizes():
    rng = np.random.default_rng(1)
    n = CFG.beacon_min_connections + 10
    regular = np.cumsum(np.full(n, 60_000_000) + rng.integers(-1_000_000, 1_000_000, n))
    hit = beaconing.beaconing(view(starts=regular, sizes=np.full(n, 900)), CFG)
    assert hit.detection == "beaconing" and 55 < hit.evidence["interval_s"] < 65
    erratic = np.cumsum(rng.integers(1_000_000, 600_000_000, n))
    assert beaconing.beaconing(view(starts=erratic, sizes=rng.integers(100, 90_000, n)), CFG) is None
    too_few = regular[:CFG.beacon_min_connections - 1]
    assert beaconing.beaconing(view(starts=too_few, sizes=np.full(len(too_few), 900)), CFG) is None


def test_beacon_score_is_one_for_a_perfect_beacon():
    starts = np.arange(0, 40) * 30_000_000
    assert beaconing.beacon_score(starts, np.full(40, 500))[0] == pytest.approx(1.0)


def test_reputation_findings_carry_their_matches():
    s = SessionFacts(kind="tls", intel=("ip 203.0.113.9 listed in bad.txt:3",),
                     geo=("destination 203.0.113.9 is in high-risk AS64500",))
    assert reputation.threat_intel(view(session=s), CFG).points == CFG.intel_points
    assert reputation.high_risk_location(view(session=s), CFG).evidence["reasons"] == list(s.geo)
    assert reputation.threat_intel(view(session=SessionFacts(kind="tls")), CFG) is None


def test_untrusted_certificate_follows_the_certificate_score():
    reasons = [{"reason_id": "self_signed", "points": 40, "detail": "self-signed"}]
    s = SessionFacts(kind="tls", cert_score=CFG.untrusted_certificate_score,
                     certificate={"anomaly": {"score": 40, "reasons": reasons}})
    hit = reputation.untrusted_certificate(view(session=s), CFG)
    assert hit.points == CFG.untrusted_certificate_points and "self_signed" in hit.reason
    s.cert_score = CFG.untrusted_certificate_score - 1
    assert reputation.untrusted_certificate(view(session=s), CFG) is None
