"""Every capture of the shared corpus, malformed ones included, goes through
the whole sensor (core, handshake layer, certificates, detections, EVE)
without an exception, and ends with a stats record."""
import json

from engine.replay import replay

from corpus import reference_cases


def test_every_corpus_capture_replays_through_the_whole_sensor(tmp_path):
    for i, (capture, _) in enumerate(reference_cases()):
        out = tmp_path / str(i)
        result = replay([str(capture)], str(out))
        assert result.files_read == [str(capture)], capture.name
        with open(result.eve_path, encoding="utf-8") as fh:
            last = json.loads(fh.readlines()[-1])
        assert last["event_type"] == "stats", capture.name
