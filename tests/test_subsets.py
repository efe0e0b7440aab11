"""Runs on a subset of the models (--limit, --ids, --sample), on both
stores, alone and with --dry_run=True."""

from __future__ import annotations

import pytest

from models import exp_models
from models import user_models
from pipelines import options as pipeline_options
from pipelines import subsets
from tests import sample_jobs



def _two_kinds():
    user_models.UserSettingsModel.put_multi([
        user_models.UserSettingsModel(id='u%02d' % n, email='%d@x.org' % n)
        for n in range(25)])
    sample_jobs.NoteModel.put_multi([
        sample_jobs.NoteModel(id='n%02d' % n, text='t') for n in range(15)])


def _run(job, args):
    job_id = job.create_new(pipeline_args=args)
    job.enqueue(job_id)
    run = job.get_run(job_id)
    assert run.state == 'completed', run.error
    return run, job.get_output(job_id)


def test_limit_reads_at_most_n_models_of_each_kind(any_store):
    _two_kinds()
    run, output = _run(sample_jobs.CountByKindJob, ['--limit', '10'])
    assert run.models_read == 20
    assert run.details['subset'] == {'limit': 10}
    assert output == ['NoteModel 10', 'UserSettingsModel 10']


def test_ids_read_only_those_models(any_store):
    _two_kinds()
    run, output = _run(sample_jobs.CountByKindJob,
                       ['--ids', 'u03, n07,u11,missing'])
    assert run.models_read == 3
    assert output == ['NoteModel 1', 'UserSettingsModel 2']


def test_a_sample_is_the_same_for_the_same_seed(any_store):
    exp_models.ExplorationModel.put_multi([
        exp_models.ExplorationModel(id='e%03d' % n, init_state_name='A')
        for n in range(200)])
    job = sample_jobs.ShardedJob
    first, _ = _run(job, ['--sample', '0.25'])
    again, _ = _run(job, ['--sample', '0.25'])
    other, _ = _run(job, ['--sample', '0.25', '--sample_seed', '7'])
    chosen = [i for i in ('e%03d' % n for n in range(200))
              if subsets.in_sample(i, 0.25, 0)]
    assert first.models_read == again.models_read == len(chosen)
    assert 30 < len(chosen) < 70
    assert first.details['subset'] == {'sample': 0.25, 'sample_seed': 0}
    assert other.details['subset'] == {'sample': 0.25, 'sample_seed': 7}


def test_a_dry_run_on_a_subset_writes_nothing_and_counts_the_subset(
        any_store):
    user_models.UserSettingsModel.put_multi([
        user_models.UserSettingsModel(id='u%02d' % n, email='%d@new.org' % n)
        for n in range(30)])
    before = list(any_store.scan('UserSettingsModel'))
    job = sample_jobs.UsernameMigrationJob
    run, output = _run(job, ['--dry_run=True', '--limit', '10'])
    assert output == ["('migrated', 10)"]
    assert list(any_store.scan('UserSettingsModel')) == before
    assert job.get_dry_run_report(run.job_id)['counts'][
        'UserSettingsModel'] == {'created': 0, 'written': 10, 'deleted': 0}


@pytest.mark.parametrize('args, message', [
    (['--limit', '0'], '--limit must be 1 or more, got 0'),
    (['--sample', '1.5'], '--sample must be a fraction above 0 and at most '
     '1, got 1.5'),
    (['--ids', ' , '], '--ids names no id'),
])
def test_a_subset_that_makes_no_sense_is_refused(args, message):
    with pytest.raises(pipeline_options.PipelineOptionsError, match=message):
        pipeline_options.parse(args)
