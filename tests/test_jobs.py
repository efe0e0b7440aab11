"""Jobs end to end through the lifecycle API: create_new, enqueue,
get_status_code, get_output, on a real store."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

from beam_jobs import exp_jobs_one_off
from beam_jobs import job_runs
from beam_jobs import jobs
from beam_jobs import launcher
from beam_jobs import user_jobs_one_off
from models import exp_models
from models import storage
from models import user_models
from pipelines import compiler
from pipelines import errors
from pipelines import options as pipeline_options
from tests import sample_jobs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _exploration(model_id, states, deleted=False):
    return exp_models.ExplorationModel(
        id=model_id, init_state_name=next(iter(states), 'Intro'),
        deleted=deleted, states={
            name: {'content': {'html': ''}, 'interaction': {'id': i}}
            for name, i in states.items()})


def _run(job_class, params=None, pipeline_args=None, **kwargs):
    job_id = job_class.create_new(pipeline_args=pipeline_args)
    if params is not None:
        kwargs['additional_job_params'] = params
    job_class.enqueue(job_id, **kwargs)
    return job_id


@pytest.fixture
def audit_fixture(store):
    exp_models.ExplorationModel.put_multi([
        _exploration('exp1', {'Intro': 'TextInput', 'End': 'EndExploration'}),
        _exploration('exp2', {'Start': 'MultipleChoiceInput',
                              'Middle': 'TextInput'}),
        _exploration('exp3', {'Intro': 'TextInput'}, deleted=True),
    ])


def test_seed_example_gives_exact_output_and_skips_deleted(audit_fixture):
    job = exp_jobs_one_off.InteractionAuditOneOffJob
    job_id = _run(job)
    assert job.get_status_code(job_id) == job_runs.STATUS_CODE_COMPLETED
    output = job.get_output(job_id)
    # Values arrive in no particular order, as in the old framework.
    parsed = {key: sorted(values) for key, values in map(eval, output)}
    assert parsed == {
        'EndExploration': ['exp1 End'],
        'MultipleChoiceInput': ['exp2 Start'],
        'TextInput': ['exp1 Intro', 'exp2 Middle'],
    }
    assert output[0] == "('EndExploration', ['exp1 End'])"
    assert output[1] == "('MultipleChoiceInput', ['exp2 Start'])"
    run = job.get_run(job_id)
    assert run.models_read == 3  # map saw the deleted one and skipped it.
    assert run.values_emitted == 4
    assert run.output_lines == 3
    assert job.get_error(job_id) is None


def test_seed_enqueue_override_sets_shard_count_of_run_and_read(
        audit_fixture):
    job = exp_jobs_one_off.InteractionAuditOneOffJob
    job_id = _run(job)
    run = job.get_run(job_id)
    assert run.shard_count == 64
    assert run.details['key_ranges'] == 64


def test_shard_count_of_another_override_reaches_the_read(store):
    exp_models.ExplorationModel.put_multi(
        [_exploration('e%02d' % i, {'A': 'TextInput'}) for i in range(10)])
    job_id = _run(sample_jobs.ShardedJob)
    run = sample_jobs.ShardedJob.get_run(job_id)
    assert run.shard_count == 3
    assert run.details['key_ranges'] == 3
    assert sample_jobs.ShardedJob.get_output(job_id) == ["('all', 10)"]


def test_default_shard_count_is_eight(store):
    user_models.UserSettingsModel(id='u1', email='a@b.c').put()
    job_id = _run(sample_jobs.CountByKindJob)
    run = sample_jobs.CountByKindJob.get_run(job_id)
    assert run.shard_count == jobs.DEFAULT_SHARD_COUNT == 8
    assert run.details['key_ranges'] == 16  # Two kinds, eight ranges each.


def test_job_over_several_model_classes(store):
    user_models.UserSettingsModel.put_multi([
        user_models.UserSettingsModel(id='u%d' % i, email='%d@x.org' % i,
                                      deleted=i == 0) for i in range(5)])
    sample_jobs.NoteModel.put_multi(
        [sample_jobs.NoteModel(id='n%d' % i) for i in range(7)])
    job_id = _run(sample_jobs.CountByKindJob)
    assert sample_jobs.CountByKindJob.get_output(job_id) == [
        'NoteModel 7', 'UserSettingsModel 4']
    assert sample_jobs.CountByKindJob.get_run(job_id).models_read == 12


def test_additional_job_params_reach_map_and_reduce(store):
    exp_models.ExplorationModel.put_multi(
        [_exploration('e1', {'A': 'TextInput'}),
         _exploration('e2', {'A': 'TextInput'})])
    job_id = _run(sample_jobs.ParamJob,
                  params={'label': 'audit', 'suffix': '!'})
    assert sample_jobs.ParamJob.get_output(job_id) == ["audit! ['e1', 'e2']"]
    assert sample_jobs.ParamJob.get_run(job_id).params == {
        'label': 'audit', 'suffix': '!'}


def test_missing_param_is_each_models_error_naming_job_and_param(store):
    exp_models.ExplorationModel.put_multi([_exploration('e1', {'A': 'X'})])
    job_id = _run(sample_jobs.ParamJob, params={'suffix': '!'})
    [error] = sample_jobs.ParamJob.get_errors(job_id)
    assert (error.stage, error.kind, error.entity, error.error_type) == (
        'map', 'ExplorationModel', 'e1', 'MapperParamError')
    assert error.message == (
        "ParamJob has no mapper parameter 'label' (given: suffix)")


def test_get_mapper_param_outside_a_run_says_so():
    with pytest.raises(jobs.MapperParamError, match='outside map or reduce'):
        sample_jobs.ParamJob.get_mapper_param('label')


def test_empty_store_completes_with_empty_output(store):
    job = exp_jobs_one_off.InteractionAuditOneOffJob
    job_id = _run(job)
    assert job.get_status_code(job_id) == 'completed'
    assert job.get_output(job_id) == []
    assert job.get_run(job_id).models_read == 0


def test_times_are_recorded_in_order(audit_fixture):
    job = exp_jobs_one_off.InteractionAuditOneOffJob
    job_id = _run(job)
    queued = job.get_time_queued_msec(job_id)
    started = job.get_time_started_msec(job_id)
    finished = job.get_time_finished_msec(job_id)
    assert 0 < queued <= started <= finished


def test_failing_map_is_recorded_and_the_rest_processed(store):
    exp_models.ExplorationModel.put_multi(
        [_exploration('exp-ok', {'A': 'X'}),
         _exploration('exp-bad', {'A': 'X'})])
    job = sample_jobs.FailingMapJob
    job_id = _run(job)
    assert job.get_status_code(job_id) == 'completed'
    assert job.get_output(job_id) == ["('ok', 1)"]
    run = job.get_run(job_id)
    assert run.error_count == 1
    [error] = job.get_errors(job_id)
    assert (error.stage, error.kind, error.entity, error.error_type,
            error.message) == ('map', 'ExplorationModel', 'exp-bad',
                               'ValueError', 'cannot audit exp-bad')
    assert "raise ValueError('cannot audit %s' % item.id)" in error.traceback


def test_max_errors_fails_the_run_past_the_threshold(store):
    exp_models.ExplorationModel.put_multi(
        [_exploration('exp-ok', {'A': 'X'}),
         _exploration('exp-bad', {'A': 'X'})])
    job = sample_jobs.FailingMapJob
    job_id = job.create_new(max_errors=0)
    job.enqueue(job_id)
    assert job.get_status_code(job_id) == 'failed'
    assert '1 error, more than max_errors=0' in job.get_error(job_id)
    assert job.get_output(job_id) == []
    assert [e.entity for e in job.get_errors(job_id)] == ['exp-bad']
    assert job.get_time_finished_msec(job_id) is not None
    # At the threshold, the run completes.
    job_id = job.create_new(max_errors=1)
    job.enqueue(job_id)
    assert job.get_status_code(job_id) == 'completed'


@pytest.mark.parametrize('total, max_errors, expected', [
    (1, 0, '1 error, more than max_errors=0'),
    (3, 2, '3 errors, more than max_errors=2'),
])
def test_a_run_past_max_errors_counts_its_errors_in_words(
        total, max_errors, expected):
    assert errors.too_many_errors(total, max_errors) == expected


def test_max_errors_class_attribute(store):
    exp_models.ExplorationModel.put_multi(
        [_exploration('exp-bad', {'A': 'X'})])
    strict = type('StrictFailingMapJob', (sample_jobs.FailingMapJob,),
                  {'max_errors': 0})
    job_id = _run(strict)
    assert strict.get_status_code(job_id) == 'failed'
    assert strict.get_run(job_id).max_errors == 0


def test_map_that_writes_models_back(store):
    user_models.UserSettingsModel.put_multi([
        user_models.UserSettingsModel(id='u1', email='Ann@Example.org'),
        user_models.UserSettingsModel(id='u2', email='bob@example.org')])
    job_id = _run(sample_jobs.WritingJob)
    assert sample_jobs.WritingJob.get_output(job_id) == [
        "('migrated', 1)", "('unchanged', 1)"]
    assert user_models.UserSettingsModel.get_by_id('u1').email == (
        'ann@example.org')


def test_a_run_is_enqueued_once(audit_fixture):
    job = exp_jobs_one_off.InteractionAuditOneOffJob
    job_id = _run(job)
    with pytest.raises(job_runs.InvalidTransitionError,
                       match='cannot go from completed to queued'):
        job.enqueue(job_id)


def test_cancel_only_queued_or_started_runs(audit_fixture):
    job = exp_jobs_one_off.InteractionAuditOneOffJob
    job_id = _run(job)
    with pytest.raises(job_runs.InvalidTransitionError,
                       match='cannot go from completed to canceled'):
        job.cancel(job_id, 'admin')
    new_id = job.create_new()
    with pytest.raises(job_runs.InvalidTransitionError,
                       match='cannot go from new to canceled'):
        job.cancel(new_id, 'admin')


def test_cancel_a_queued_run_records_who(store):
    job = exp_jobs_one_off.InteractionAuditOneOffJob
    job_id = job.create_new()
    job_runs.transition(job_id, job_runs.STATUS_CODE_QUEUED)
    job.cancel(job_id, 'admin@example.org')
    assert job.get_status_code(job_id) == 'canceled'
    assert job.get_run(job_id).canceled_by == 'admin@example.org'
    assert job.get_error(job_id) == 'Canceled by admin@example.org'


def test_run_of_another_job_is_refused(audit_fixture):
    job_id = sample_jobs.ShardedJob.create_new()
    with pytest.raises(launcher.JobLaunchError,
                       match='is a run of ShardedJob, not of ParamJob'):
        sample_jobs.ParamJob.enqueue(job_id)


@pytest.mark.parametrize('shard_count', [0, -1, 2.5, True, 5000])
def test_bad_shard_count_is_refused_before_queueing(store, shard_count):
    job_id = sample_jobs.CountByKindJob.create_new()
    with pytest.raises(launcher.JobLaunchError,
                       match='CountByKindJob: shard_count must be'):
        sample_jobs.CountByKindJob.enqueue(job_id, shard_count=shard_count)
    assert sample_jobs.CountByKindJob.get_status_code(job_id) == 'new'


def test_params_that_are_not_data_are_refused(store):
    job_id = sample_jobs.ParamJob.create_new()
    with pytest.raises(launcher.JobLaunchError,
                       match="parameter 'label' is not JSON-like data"):
        sample_jobs.ParamJob.enqueue(job_id, {'label': object()})


def test_multi_threading_is_refused_with_a_reason(store):
    job_id = sample_jobs.CountByKindJob.create_new(
        ['--direct_running_mode=multi_threading'])
    with pytest.raises(launcher.JobLaunchError,
                       match='multi_threading is not supported: it lost '
                       'elements at GroupByKey'):
        sample_jobs.CountByKindJob.enqueue(job_id)


def test_unknown_pipeline_option_is_refused_with_a_suggestion():
    with pytest.raises(pipeline_options.PipelineOptionsError,
                       match='unknown pipeline option --direct_num_worker; '
                       'did you mean --direct_num_workers'):
        pipeline_options.parse(['--direct_num_worker=2'])


@pytest.mark.parametrize('name', ['DirectRunner', 'FnApiRunner', None])
def test_local_runner_names_all_mean_fn_api_runner(name):
    args = [] if name is None else ['--runner=%s' % name]
    assert pipeline_options.runner_name(pipeline_options.parse(args)) == (
        'FnApiRunner')


def test_multi_processing_gives_the_same_output(store):
    user_models.UserSettingsModel.put_multi([
        user_models.UserSettingsModel(id='u%03d' % i, email='%d@x.org' % i)
        for i in range(60)])
    sample_jobs.NoteModel.put_multi(
        [sample_jobs.NoteModel(id='n%d' % i) for i in range(7)])
    job_id = _run(sample_jobs.CountByKindJob, pipeline_args=[
        '--direct_running_mode=multi_processing', '--direct_num_workers=2'])
    run = sample_jobs.CountByKindJob.get_run(job_id)
    assert run.state == 'completed', run.error
    assert sample_jobs.CountByKindJob.get_output(job_id) == [
        'NoteModel 7', 'UserSettingsModel 60']
    assert run.pipeline_args == [
        '--direct_running_mode=multi_processing', '--direct_num_workers=2']


def test_multi_processing_workers_see_params_and_store(store):
    user_models.UserSettingsModel.put_multi([
        user_models.UserSettingsModel(id='u%d' % i, email='A%d@X.org' % i)
        for i in range(20)])
    job_id = _run(sample_jobs.WritingJob, pipeline_args=[
        '--direct_running_mode=multi_processing', '--direct_num_workers=2'])
    assert sample_jobs.WritingJob.get_output(job_id) == ["('migrated', 20)"]
    assert all(m.email.islower()
               for m in user_models.UserSettingsModel.get_all())


# A script of a user's that imports a job and enqueues it, in an install
# without the gcp extra, where importing Beam logs "apitools not found":
# apitools cannot be imported there.
_SCRIPT_WITHOUT_APITOOLS = '''
import logging, sys
sys.modules['apitools'] = None
from models import storage
storage.set_default_store(sys.argv[1])
from beam_jobs import exp_jobs_one_off
job = exp_jobs_one_off.InteractionAuditOneOffJob
job_id = job.create_new()
job.enqueue(job_id)
print(job.get_status_code(job_id))
logging.warning('a warning of its own')
'''


def _run_script(script: str, tmp_path) -> subprocess.CompletedProcess:
    """Runs script as `python -c` in the repository, with a store file of
    its own as its argument; fails the test if it fails."""
    done = subprocess.run(
        [sys.executable, '-c', script, str(tmp_path / 'script.sqlite3')],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_a_script_that_runs_a_job_shows_no_false_beam_warning(tmp_path):
    done = _run_script(_SCRIPT_WITHOUT_APITOOLS, tmp_path)
    assert done.stdout.split() == ['completed']
    assert 'apitools not found' not in done.stderr
    # Other warnings still show.
    assert 'a warning of its own' in done.stderr


# A user's script that defines its model and its job itself, in
# __main__: Beam pickles both by value, properties and decoder included.
_SCRIPT_WITH_ITS_OWN_MODEL = '''
import sys
from beam_jobs import jobs
from models import base_models, storage
from models import properties as props

class PetModel(base_models.BaseModel):
    name = props.StringProperty(required=True)
    age = props.IntegerProperty(default=0)

class PetAgesJob(jobs.BaseMapReduceOneOffJobManager):
    @classmethod
    def entity_classes_to_map_over(cls):
        return [PetModel]

    @staticmethod
    def map(item):
        yield (item.name, item.age)

    @staticmethod
    def reduce(key, values):
        yield '%s %d' % (key, sum(values))

storage.set_default_store(sys.argv[1])
PetModel.put_multi([PetModel(id='p%d' % i, name='cat' if i % 2 else 'dog',
                             age=i) for i in range(10)])
job_id = PetAgesJob.create_new()
PetAgesJob.enqueue(job_id)
print(PetAgesJob.get_status_code(job_id), PetAgesJob.get_error(job_id))
print(*PetAgesJob.get_output(job_id), sep='\\n')
'''


def test_a_script_may_define_its_own_model_and_job(tmp_path):
    done = _run_script(_SCRIPT_WITH_ITS_OWN_MODEL, tmp_path)
    assert done.stdout.splitlines() == ['completed None', 'cat 25', 'dog 20']


def test_a_pipeline_that_fails_to_compile_leaves_no_temp_folder(
        store, tmp_path, monkeypatch):
    temp = tmp_path / 'temp'
    temp.mkdir()
    monkeypatch.setattr(tempfile, 'tempdir', str(temp))

    def broken_expand(self, pbegin):
        raise TypeError('a step that cannot be built')

    monkeypatch.setattr(compiler.CompiledJob, 'expand', broken_expand)
    job = exp_jobs_one_off.InteractionAuditOneOffJob
    job_id = _run(job)
    assert job.get_status_code(job_id) == 'failed'
    assert 'TypeError: a step that cannot be built' in job.get_error(job_id)
    assert os.listdir(temp) == []


def test_two_tests_in_a_row_each_see_only_their_own_store(tmp_path,
                                                          monkeypatch):
    # As the README's fixture does it: each test names its store by the
    # environment variable alone. A run must not leave its store as the
    # process's default for the next.
    outputs = []
    for name, emails in (('first', ['a@x.org', 'b@x.org']),
                         ('second', ['c@y.org'])):
        monkeypatch.setenv(storage.STORE_ENV_VAR,
                           str(tmp_path / ('%s.sqlite3' % name)))
        user_models.UserSettingsModel.put_multi([
            user_models.UserSettingsModel(email=email) for email in emails])
        job = user_jobs_one_off.EmailDomainCountOneOffJob
        job_id = job.create_new()
        job.enqueue(job_id)
        outputs.append(job.get_output(job_id))
        storage.close_all_stores()
    assert outputs == [['x.org: 2'], ['y.org: 1']]
