"""Kept packets (Tier 2 in live capture): the first KiB of each flow's
frames in one bounded ring in the core, saved for each alert's flows."""
import dataclasses
import json
from collections import defaultdict
from pathlib import Path

import pytest
from flowtags import charged_frames

from engine._core import FlowEngine
from engine.alert_packets import kept_path
from engine.capture import open_capture
from engine.config import CoreConfig
from engine.errors import RunDirError
from engine.extract import extract
from engine.replay import replay
from engine.settings import Settings

PCAPS = Path(__file__).resolve().parent.parent / "pcaps"
EXFIL = PCAPS / "scenarios" / "exfil_selfsigned_oddport.pcap"
KEPT_HEADER = 32          # sizeof(KeptHeader): what a frame costs in the ring beyond its bytes


def test_each_flow_keeps_its_frames_up_to_the_first_kib_crossed():
    engine = FlowEngine(CoreConfig(keep_kib_per_flow=2, capture_handshakes=False))
    frames = charged_frames(engine, *sorted(PCAPS.glob("*.pcap")))
    expected, used = [], defaultdict(int)
    for frame in frames:
        if used[frame[0]] < 2048:
            expected.append(frame)
            used[frame[0]] += len(frame[4])
    kept = engine.kept_packets({f[0] for f in frames})
    assert kept == expected
    assert engine.counters()["keep.packets"] == len(expected)
    assert engine.counters()["keep.evicted"] == 0
    one = frames[0][0]
    assert engine.kept_packets([one]) == [f for f in expected if f[0] == one]


def test_a_full_ring_overwrites_the_oldest_frames_and_stays_within_its_memory():
    engine = FlowEngine(CoreConfig(keep_kib_per_flow=1 << 20, keep_memory_mb=1,
                                   capture_handshakes=False))
    frames = charged_frames(engine, EXFIL)
    assert sum(len(f[4]) for f in frames) > 4 << 20       # the ring wrapped several times
    kept = engine.kept_packets({f[0] for f in frames})
    c = engine.counters()
    assert kept == frames[len(frames) - len(kept):]
    assert c["keep.packets"] == len(frames)
    assert c["keep.evicted"] == len(frames) - len(kept) == len(frames) - c["keep.packets_held"]
    assert sum(KEPT_HEADER + (len(f[4]) + 7) // 8 * 8 for f in kept) <= 1 << 20
    assert sum(KEPT_HEADER + (len(f[4]) + 7) // 8 * 8 for f in kept) > (1 << 20) - 2 * 1600


def test_keeping_is_off_by_default():
    engine = FlowEngine(CoreConfig(capture_handshakes=False))
    frames = charged_frames(engine, EXFIL)
    assert engine.kept_packets({f[0] for f in frames}) == []
    assert engine.counters()["keep.packets"] == 0


def keep_settings(kib, mb=64):
    s = Settings()
    return Settings({**s.sections, "core": dataclasses.replace(s.core, keep_kib_per_flow=kib,
                                                               keep_memory_mb=mb)})


@pytest.fixture(scope="module")
def kept_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("kept") / "out"
    result = replay([str(EXFIL)], str(out), keep_settings(64))
    assert result.alerts
    return out, result.alerts


def test_each_alert_saves_the_first_kib_of_its_flows(kept_run, tmp_path):
    out, alerts = kept_run
    for alert in alerts:
        aid = alert["exfil"]["alert_id"]
        path = kept_path(str(out), aid)
        assert path == str(out / "extract" / f"{aid}.pcap")
        # the whole flows, read again from the capture, cut as the ring does
        extract(str(out), str(tmp_path / "all.pcap"), alert_id=aid)
        engine = FlowEngine(CoreConfig(capture_handshakes=False))
        full = charged_frames(engine, tmp_path / "all.pcap")
        expected, used = [], defaultdict(int)
        for fid, ts, lt, wl, frame in full:
            if used[fid] < 64 * 1024:
                expected.append((ts, frame))
                used[fid] += len(frame)
        with open_capture(path) as reader:
            saved = [(int(b.ts_us[i]), b.packet(i)) for b in reader for i in range(b.count)]
        assert saved == expected
        assert 64 * 1024 <= sum(len(f) for _, f in saved) < 64 * 1024 + 2000


def as_live(out):
    manifest = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**manifest, "mode": "live", "captures": []}))


def test_extract_on_a_live_directory_copies_the_kept_packets(kept_run, tmp_path):
    import shutil

    live = tmp_path / "live"
    shutil.copytree(kept_run[0], live)
    as_live(live)
    aid = kept_run[1][0]["exfil"]["alert_id"]
    result = extract(str(live), str(tmp_path / "x.pcap"), alert_id=aid)
    assert (tmp_path / "x.pcap").read_bytes() == Path(kept_path(str(live), aid)).read_bytes()
    assert result.packets_written > 0
    with pytest.raises(RunDirError, match="packets are kept there for alerts only"):
        extract(str(live), str(tmp_path / "y.pcap"), flow_id=1)
    (live / "extract" / f"{aid}.pcap").unlink()
    with pytest.raises(RunDirError, match=f"The packets of alert {aid} were not kept"):
        extract(str(live), str(tmp_path / "z.pcap"), alert_id=aid)


def test_the_stats_record_counts_kept_and_overwritten_frames(tmp_path):
    replay([str(EXFIL)], str(tmp_path / "out"), keep_settings(1 << 20, mb=1))
    stats = json.loads((tmp_path / "out" / "eve.json").read_text().splitlines()[-1])["stats"]
    with open_capture(EXFIL) as reader:
        packets = sum(b.count for b in reader)
    assert stats["keep"]["packets"] == packets           # no tunnels: one flow per frame
    assert 0 < stats["keep"]["evicted"] < packets


def test_keep_caps_out_of_range_name_the_field():
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="'keep_memory_mb' is 0; it must be a number from 1"):
        CoreConfig(keep_memory_mb=0)
    with pytest.raises(ConfigError, match="'keep_kib_per_flow' is -1"):
        CoreConfig(keep_kib_per_flow=-1)
