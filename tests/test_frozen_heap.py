"""A run keeps the heap it starts with out of Python's full collections,
and gives it back when it ends."""

from __future__ import annotations

import gc

from models import exp_models
from pipelines import frozen_heap
from tests import sample_jobs


def test_frozen_for_the_block_and_given_back_after():
    assert gc.get_freeze_count() == 0
    kept = [object() for _ in range(3)]  # Not tracked: not what is frozen.
    with frozen_heap.frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    assert len(kept) == 3


def test_a_heap_frozen_by_the_process_is_left_to_it():
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        with frozen_heap.frozen():
            pass
        # Not unfrozen by the block: the process decides.
        assert gc.get_freeze_count() == before
    finally:
        gc.unfreeze()


def test_a_run_maps_with_the_heap_frozen_and_unfreezes_it(store):
    exp_models.ExplorationModel.put_multi([
        exp_models.ExplorationModel(id='e%d' % n, init_state_name='A')
        for n in range(5)])
    job = sample_jobs.FrozenHeapJob
    job_id = job.create_new(pipeline_args=['--direct_num_workers=1'])
    job.enqueue(job_id)
    assert job.get_output(job_id) == ["('frozen', 5)"]
    assert gc.get_freeze_count() == 0
