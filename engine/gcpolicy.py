"""Garbage-collector thresholds for a run that builds records in batches.

A replay or a capture allocates tens of thousands of short-lived containers
per batch (records, EVE dicts, window statistics) while its long-lived state
(flows awaiting their record, channels, baseline batches) keeps growing.
With CPython's default thresholds (700, 10, 10) the young generation is
collected every 700 allocations and, as the state grows, full collections
scan all of it again: about a tenth of a replay of the benchmark capture.
A young-generation threshold of BATCH_GEN0_THRESHOLD lets a batch's
garbage die by reference counting before a collection looks at it; cycles
are still collected, only less often.
"""
from contextlib import contextmanager
import gc

BATCH_GEN0_THRESHOLD = 50_000


@contextmanager
def batch_collections():
    """Run the block with the batch thresholds; the previous ones come back after."""
    previous = gc.get_threshold()
    gc.set_threshold(max(previous[0], BATCH_GEN0_THRESHOLD), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
