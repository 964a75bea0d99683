"""The cyclic garbage collector's setting for a capture run.

Nearly everything the sensor allocates per record (handshake dicts and
lists, sessions, flow records) dies by reference counting; almost none of it
forms cycles. CPython's collector still runs a young-generation pass every
700 net container allocations and, when enough has survived, a full pass
over every object alive, the tens of thousands the imports made included.
On the benchmark corpus that was 6-8% of the full pipeline's time
(benchmarks/README.md). A young generation of 10,000 keeps the collector for
the rare cycles at a tenth of the passes; a cycle waits at most 10,000 more
allocations (a few MiB) to be freed.
"""
import gc

GEN0_THRESHOLD = 10_000      # CPython's default is 700


def tune_for_capture() -> None:
    """Set the collector for a replay or live run (process-wide; the fan-out
    workers inherit it). Generations 1 and 2 keep their thresholds."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
