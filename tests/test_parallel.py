"""multi_processing runs spread the read's key ranges over the workers."""

from __future__ import annotations

from models import exp_models
from tests import sample_jobs

MULTI_PROCESSING = ['--direct_running_mode=multi_processing',
                    '--direct_num_workers=2']


def _run(job_class, pipeline_args, shard_count):
    job_id = job_class.create_new(pipeline_args=pipeline_args)
    job_class.enqueue(job_id, shard_count=shard_count)
    assert job_class.get_status_code(job_id) == 'completed', (
        job_class.get_error(job_id))
    return job_class.get_output(job_id)


def _put_explorations(count):
    exp_models.ExplorationModel.put_multi([
        exp_models.ExplorationModel(id='e%03d' % n, init_state_name='A')
        for n in range(count)])


def test_two_workers_both_map_models(store):
    # Only the range descriptors are reshuffled; the runner hands each
    # worker a share of them, so both worker processes read and map.
    _put_explorations(80)
    output = _run(sample_jobs.WorkerPidJob, MULTI_PROCESSING, 8)
    assert output == ["('pid', 80, 2)"]


def test_in_memory_maps_every_model_in_this_process(store):
    _put_explorations(20)
    output = _run(sample_jobs.WorkerPidJob, [], 4)
    assert output == ["('pid', 20, 1)"]
