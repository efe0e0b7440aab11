"""multi_processing runs spread the read's key ranges over the workers;
large local runs use them by default."""

from __future__ import annotations

import pytest

from models import exp_models
from pipelines import options as pipeline_options
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


def test_large_runs_use_a_worker_per_core_by_default(store, monkeypatch):
    # The threshold lowered so that a small store counts as large.
    monkeypatch.setattr(pipeline_options, 'PARALLEL_MIN_MODELS', 50)
    monkeypatch.setattr(pipeline_options, 'usable_cores', lambda: 2)
    _put_explorations(80)
    job_id = sample_jobs.WorkerPidJob.create_new()
    sample_jobs.WorkerPidJob.enqueue(job_id, shard_count=8)
    run = sample_jobs.WorkerPidJob.get_run(job_id)
    assert run.state == 'completed', run.error
    assert sample_jobs.WorkerPidJob.get_output(job_id) == ["('pid', 80, 2)"]
    assert run.details['local_workers'] == 2
    assert run.pipeline_args == []  # What the user asked for, unchanged.


def test_small_runs_and_runs_that_say_how_stay_as_asked(store, monkeypatch):
    monkeypatch.setattr(pipeline_options, 'PARALLEL_MIN_MODELS', 50)
    monkeypatch.setattr(pipeline_options, 'usable_cores', lambda: 2)
    _put_explorations(60)
    job_id = sample_jobs.WorkerPidJob.create_new(
        pipeline_args=['--direct_num_workers=1'])
    sample_jobs.WorkerPidJob.enqueue(job_id, shard_count=8)
    run = sample_jobs.WorkerPidJob.get_run(job_id)
    assert sample_jobs.WorkerPidJob.get_output(job_id) == ["('pid', 60, 1)"]
    assert run.details['local_workers'] == 1


def test_default_local_workers_policy():
    below = pipeline_options.PARALLEL_MIN_MODELS - 1
    at = pipeline_options.PARALLEL_MIN_MODELS
    assert pipeline_options.default_local_workers(below, 8, cores=4) == 1
    assert pipeline_options.default_local_workers(at, 8, cores=4) == 4
    # No more workers than shards: the shards are what they share.
    assert pipeline_options.default_local_workers(at, 2, cores=4) == 2
    assert pipeline_options.default_local_workers(at, 8, cores=1) == 1


@pytest.mark.parametrize('args, says', [
    ([], False),
    (['--disable_combiner'], False),
    (['--direct_num_workers=1'], True),
    (['--direct_running_mode', 'in_memory'], True),
])
def test_sets_local_parallelism(args, says):
    assert pipeline_options.sets_local_parallelism(args) is says


def test_with_local_workers_adds_multi_processing_options():
    args = pipeline_options.with_local_workers(['--disable_combiner'], 3)
    options = pipeline_options.parse(args)
    assert pipeline_options.local_workers(options) == 3
    assert pipeline_options.with_local_workers(['x'], 1) == ['x']
    assert pipeline_options.local_workers(pipeline_options.parse([])) == 1
