"""pytest-benchmark benchmarks of what a replay does above the pipeline;
timings are reported (records_per_s), never asserted.

The pipeline runs once over the 200k-packet corpus and its record batches
are kept; each round then feeds them to a fresh detection layer and EVE
sink, the way engine.replay does, so a change to the detections, the
baseline, the aggregation or the EVE encoding shows here without the noise
of the core. The JA3/JA4 strings are computed in the warm-up round and
cached on the sessions (they belong to the handshake layer).

    pytest benchmarks/test_bench_replay_layers.py --benchmark-columns=median,ops
"""
import tempfile

import pytest

import peers

needs_engine = pytest.mark.skipif(peers.available("exfilwatch") is not None,
                                  reason=f"exfilwatch core: {peers.available('exfilwatch')}")


@pytest.fixture(scope="module")
def record_batches(bench_capture):
    from engine.capture import open_capture
    from engine.pipeline import SensorPipeline

    pipeline, batches = SensorPipeline(), []
    with open_capture(str(bench_capture)) as reader:
        for batch in reader:
            batches.append(pipeline.feed(batch))
    batches.append(pipeline.finish())
    return batches


def _write_all(batches, detect: bool, eve: bool) -> None:
    from engine.detect import DetectionEngine
    from engine.gcpolicy import batch_collections
    from engine.records import CaptureLossSample
    from engine.sinks.eve import to_eve
    from engine.sinks.fanout import open_outputs
    from engine.settings import Settings

    settings = Settings()
    detection = DetectionEngine(settings.detection(), None, source="bench")
    with tempfile.TemporaryDirectory(prefix="exw-layers-") as out, batch_collections(), \
            open_outputs(settings["outputs"], out, scope=detection.scope) as sink:
        for records in batches:
            if eve:
                for rec in records:
                    if not isinstance(rec, CaptureLossSample):
                        sink.write(to_eve(rec))
            if detect:
                for event in detection.process(records):
                    sink.write(event)
    detection.close()


@needs_engine
@pytest.mark.parametrize("detect, eve", [(True, True), (True, False), (False, True)],
                         ids=["detections_and_eve", "detections_only", "eve_only"])
def test_replay_layers_records_per_second(benchmark, record_batches, detect, eve):
    benchmark.pedantic(_write_all, args=(record_batches, detect, eve), rounds=3,
                       warmup_rounds=1)
    records = sum(len(b) for b in record_batches)
    benchmark.extra_info["records"] = records
    if benchmark.stats is not None:   # None under --benchmark-disable
        benchmark.extra_info["records_per_s"] = round(records / benchmark.stats.stats.median)
