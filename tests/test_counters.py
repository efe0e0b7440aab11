"""Counters job code increments (jobs.increment_counter), added up over
every worker and shown beside the run's own."""

from __future__ import annotations

import io

import pytest

import run_pipeline
from beam_jobs import jobs_registry
from models import exp_models
from tests import sample_jobs

MULTI_PROCESSING = ['--direct_running_mode=multi_processing',
                    '--direct_num_workers=2']


@pytest.mark.parametrize('pipeline_args', [[], MULTI_PROCESSING],
                         ids=['one-process', '2-workers'])
def test_counters_add_up_over_map_combine_and_reduce(store, pipeline_args):
    exp_models.ExplorationModel.put_multi([
        exp_models.ExplorationModel(
            id='e%02d' % n, init_state_name='A', category='c%d' % (n % 3),
            deleted=n < 2)
        for n in range(20)])
    job = sample_jobs.CountingJob
    job_id = job.create_new(pipeline_args=pipeline_args)
    job.enqueue(job_id, shard_count=4)
    assert job.get_status_code(job_id) == 'completed', job.get_error(job_id)
    counters = job.get_counters(job_id)
    assert counters == {'combined': 0, 'mapped': 18, 'models in reduce': 18,
                        'reduced keys': 3, 'skipped deleted': 2}


def test_status_and_run_show_the_counters(store, store_path, monkeypatch,
                                          capsys):
    exp_models.ExplorationModel(id='e1', init_state_name='A').put()
    monkeypatch.setattr(jobs_registry, 'ONE_OFF_JOB_MANAGERS',
                        [sample_jobs.CountingJob])
    assert run_pipeline.main(['--store', store_path, 'run', 'CountingJob'],
                             out=io.StringIO()) == 0
    err = capsys.readouterr().err
    # One model: its one value is never combined.
    assert (': counters: mapped=1, models in reduce=1, reduced keys=1\n'
            in err), err
    job_id = err.split(':')[0]
    out = io.StringIO()
    assert run_pipeline.main(['--store', store_path, 'status', job_id],
                             out=out) == 0
    assert ('counters:         mapped=1, models in reduce=1, reduced keys=1'
            '\n') in out.getvalue()


def test_a_counter_name_or_delta_that_is_wrong_is_refused():
    with pytest.raises(ValueError, match='a counter name is a non-empty'):
        sample_jobs.jobs.increment_counter('')
    with pytest.raises(ValueError, match='takes whole numbers'):
        sample_jobs.jobs.increment_counter('x', 1.5)
