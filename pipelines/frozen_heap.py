"""Keeping what a process holds before a run out of Python's full garbage
collections during the run.

A full collection walks every container object the process tracks: with
Beam imported that is about 126,000 objects, and one collection took 57 ms
on these machines, a tenth of a run over 10,000 explorations in one
process. The modules, the job and the store that exist when a run starts
are not garbage and outlive it: frozen() moves them to the collector's
permanent generation (gc.freeze) for the run, so that its collections walk
only what the run makes, and gives them back after it, so that a process
that runs many jobs still collects the cycles they leave. Workers forked
for the run (pipelines.forked_workers) inherit the frozen heap, which also
keeps their collections from writing to the pages they share with the
launching process (see gc.freeze in Python's documentation).
"""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator


@contextlib.contextmanager
def frozen() -> Iterator[None]:
    """Freezes every object tracked now for the with-block. Does nothing
    in a process that froze objects itself (a pre-forking server, say),
    whose own unfreeze must decide when they are collected again."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def freeze_for_good() -> None:
    """Freezes every object tracked now, for a worker process, whose heap
    ends with its run."""
    gc.freeze()
