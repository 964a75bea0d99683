"""The detection layer's policy swap (DetectionEngine.set_policy, as on SIGHUP)
reaches servers the engine has already met."""
from dataclasses import replace
from pathlib import Path

from engine.allowlist import AllowlistConfig
from engine.capture import open_capture
from engine.detect import DetectionEngine, DetectionSettings
from engine.handshake import TlsSession
from engine.pipeline import SensorPipeline

CAPTURE = Path(__file__).resolve().parent.parent / "pcaps" / "scenarios" / "exfil_selfsigned_oddport.pcap"


def handshakes() -> list:
    pipeline, out = SensorPipeline(), []
    with open_capture(str(CAPTURE)) as reader:
        for batch in reader:
            out += pipeline.feed(batch)
    out += pipeline.finish()
    return [r for r in out if isinstance(r, TlsSession)]


def test_an_allowlist_loaded_later_approves_a_server_met_before():
    sessions = handshakes()
    assert sessions
    server = sessions[0].record.dest_ip
    detection = DetectionEngine()
    detection.process(sessions)
    assert detection._sessions[sessions[0].record.flow_id].allowlisted is None
    detection.set_policy(replace(DetectionSettings(),
                                 allowlist=AllowlistConfig.from_table({"ips": [server]})))
    detection.process(sessions)                  # the same server, names and certificate
    assert server in detection._sessions[sessions[0].record.flow_id].allowlisted
