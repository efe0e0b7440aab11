"""The Dataflow path, offline: options and job names, the mapping of
Dataflow states onto runs, status refresh and cancel with the two service
calls replaced, and the graph of dry-run Dataflow jobs (Beam's
--dry_run=True builds the job without network)."""

from __future__ import annotations

import io
import tarfile

import pytest

import run_pipeline
from beam_jobs import exp_jobs_one_off
from beam_jobs import job_runs
from beam_jobs import launcher
from models import storage
from pipelines import dataflow
from tests import sample_jobs

DATAFLOW_ARGS = ['--runner', 'DataflowRunner', '--project', 'my-project',
                 '--region', 'europe-west1',
                 '--temp_location', 'gs://my-bucket/tmp']
STORE = 'datastore://my-project/ns'


@pytest.mark.parametrize('job_type, job_id, expected', [
    ('InteractionAuditOneOffJob', 'InteractionAuditOneOffJob-1764-0042',
     'interaction-audit-one-off-job-1764-0042'),
    ('ABCJob', 'custom_id', 'abcjob-custom-id'),
    ('X', '9-run', 'x-9-run'),
])
def test_job_names_are_valid_dataflow_names(job_type, job_id, expected):
    name = dataflow.job_name(job_type, job_id)
    assert name == expected
    assert dataflow.JOB_NAME_PATTERN.match(name)


def test_long_job_names_are_shortened_keeping_the_run_id():
    name = dataflow.job_name('A' * 300 + 'Job', 'A' * 300 + 'Job-17-0001')
    assert len(name) <= dataflow.MAX_JOB_NAME_LENGTH
    assert name.endswith('-17-0001')
    assert dataflow.JOB_NAME_PATTERN.match(name)


def test_dataflow_args_add_setup_file_and_job_name():
    args = dataflow.dataflow_args('MyJob', 'MyJob-1-2', DATAFLOW_ARGS, STORE)
    assert args[:len(DATAFLOW_ARGS)] == DATAFLOW_ARGS
    assert '--setup_file=%s' % dataflow.SETUP_FILE in args
    assert '--job_name=my-job-1-2' in args
    assert '--no_save_main_session' in args
    kept = dataflow.dataflow_args(
        'MyJob', 'MyJob-1-2', DATAFLOW_ARGS + ['--job_name=mine'], STORE)
    assert not any(a.startswith('--job_name=my-job') for a in kept)


@pytest.mark.parametrize('args, store, message', [
    (DATAFLOW_ARGS, '/tmp/x.sqlite3', 'the store must be Cloud Datastore'),
    (DATAFLOW_ARGS[:2] + DATAFLOW_ARGS[4:], STORE, '--project is required'),
    (DATAFLOW_ARGS[:4] + DATAFLOW_ARGS[6:], STORE, '--region is required'),
    (DATAFLOW_ARGS[:6], STORE, '--temp_location=gs://'),
    (DATAFLOW_ARGS[:6] + ['--temp_location=/local/tmp'], STORE,
     '--temp_location=gs://'),
    (DATAFLOW_ARGS + ['--setup_file=./other.py'], STORE,
     '--setup_file is set by the launcher'),
])
def test_dataflow_args_refuse_what_cannot_work(args, store, message):
    with pytest.raises(dataflow.DataflowSetupError) as raised:
        dataflow.dataflow_args('MyJob', 'MyJob-1-2', args, store)
    assert message in str(raised.value)
    assert str(raised.value).startswith('MyJob on Dataflow: ')


@pytest.mark.parametrize('state, run_state', [
    ('JOB_STATE_PENDING', 'queued'), ('STOPPED', 'queued'),
    ('JOB_STATE_QUEUED', 'queued'), ('RUNNING', 'started'),
    ('JOB_STATE_CANCELLING', 'started'), ('DONE', 'completed'),
    ('JOB_STATE_DONE', 'completed'), ('FAILED', 'failed'),
    ('CANCELLED', 'canceled'), ('DRAINED', 'canceled'),
    ('UPDATED', 'failed'), ('UNRECOGNIZED', None), ('UNKNOWN', 'queued'),
])
def test_dataflow_states_map_onto_run_states(state, run_state):
    assert dataflow.run_state_for(state) == run_state


@pytest.mark.parametrize('current, target, moves', [
    ('queued', 'started', ['started']),
    ('queued', 'completed', ['started', 'completed']),
    ('queued', 'failed', ['failed']),
    ('queued', 'canceled', ['canceled']),
    ('started', 'completed', ['completed']),
    ('started', 'queued', []),
    ('started', 'started', []),
    ('completed', 'failed', []),
    ('new', 'canceled', ['queued', 'canceled']),
])
def test_transitions_follow_the_run_state_machine(current, target, moves):
    assert job_runs.transitions_to(current, target) == moves
    state = current
    for move in moves:
        assert move in job_runs.VALID_TRANSITIONS[state]
        state = move


def _submitted_run(job_class, state='started'):
    """A run as the launcher leaves it once Dataflow accepted the job."""
    job_id = job_class.create_new(pipeline_args=DATAFLOW_ARGS)
    job_runs.transition(job_id, 'queued', runner=dataflow.RUNNER)
    if state == 'started':
        job_runs.transition(job_id, 'started', external_job_id='2026-df-17')
    else:
        job_runs.update(job_id, external_job_id='2026-df-17')
    return job_runs.get(job_id)


def test_refresh_moves_a_queued_run_to_completed_with_its_output(
        store, monkeypatch):
    asked = []

    def fake_state(pipeline_args, dataflow_job_id):
        asked.append((list(pipeline_args), dataflow_job_id))
        return 'DONE'

    monkeypatch.setattr(dataflow, 'fetch_pipeline_state', fake_state)
    run = _submitted_run(exp_jobs_one_off.InteractionAuditOneOffJob,
                         state='queued')
    store.write_output(run.job_id, [("'k'", 0, 'line')])
    refreshed = launcher.refresh(run)
    assert asked == [(DATAFLOW_ARGS, '2026-df-17')]
    assert refreshed.state == 'completed' and refreshed.output_lines == 1
    assert refreshed.time_started_msec and refreshed.time_finished_msec
    # A finished run is never asked about again.
    assert launcher.refresh(refreshed).state == 'completed'
    assert len(asked) == 1


def test_refresh_of_a_failed_dataflow_job_keeps_no_output(store, monkeypatch):
    monkeypatch.setattr(dataflow, 'fetch_pipeline_state',
                        lambda args, job_id: 'FAILED')
    run = _submitted_run(exp_jobs_one_off.InteractionAuditOneOffJob)
    store.write_output(run.job_id, [("'k'", 0, 'partial')])
    refreshed = launcher.refresh(run)
    assert refreshed.state == 'failed'
    assert '2026-df-17' in refreshed.error and 'FAILED' in refreshed.error
    assert store.count_output(run.job_id) == 0


def test_status_command_refreshes_from_dataflow(store_path, store,
                                                monkeypatch, capsys):
    monkeypatch.setattr(dataflow, 'fetch_pipeline_state',
                        lambda args, job_id: 'RUNNING')
    run = _submitted_run(exp_jobs_one_off.InteractionAuditOneOffJob,
                         state='queued')
    out = io.StringIO()
    assert run_pipeline.main(['--store', store_path, 'status', run.job_id],
                             out=out) == 0
    assert 'state:            started' in out.getvalue()
    assert 'dataflow job id:  2026-df-17' in out.getvalue()


def test_status_without_network_says_so_and_shows_the_record(
        store_path, store, monkeypatch, capsys):
    def offline(args, job_id):
        raise ConnectionError('no route to dataflow.googleapis.com')

    monkeypatch.setattr(dataflow, 'fetch_pipeline_state', offline)
    run = _submitted_run(exp_jobs_one_off.InteractionAuditOneOffJob)
    out = io.StringIO()
    assert run_pipeline.main(['--store', store_path, 'status', run.job_id],
                             out=out) == 0
    assert 'state:            started' in out.getvalue()
    assert 'cannot refresh from Dataflow' in capsys.readouterr().err


def test_cancel_asks_dataflow_to_cancel_first(store, monkeypatch):
    canceled = []
    monkeypatch.setattr(dataflow, 'request_cancel',
                        lambda args, job_id: canceled.append(job_id))
    job_class = exp_jobs_one_off.InteractionAuditOneOffJob
    run = _submitted_run(job_class)
    job_class.cancel(run.job_id, 'ops')
    assert canceled == ['2026-df-17']
    assert job_class.get_status_code(run.job_id) == 'canceled'


def test_cancel_that_cannot_reach_dataflow_leaves_the_run(store, monkeypatch):
    def offline(args, job_id):
        raise ConnectionError('offline')

    monkeypatch.setattr(dataflow, 'request_cancel', offline)
    job_class = exp_jobs_one_off.InteractionAuditOneOffJob
    run = _submitted_run(job_class)
    with pytest.raises(job_runs.JobRunError,
                       match='cannot ask Dataflow to cancel job %s '
                       r'\(Dataflow job 2026-df-17\); the run is left started'
                       % run.job_id):
        job_class.cancel(run.job_id, 'ops')
    assert job_class.get_status_code(run.job_id) == 'started'


def test_dataflow_on_a_sqlite_store_is_refused_and_the_run_stays_new(store):
    job_class = exp_jobs_one_off.InteractionAuditOneOffJob
    job_id = job_class.create_new(pipeline_args=DATAFLOW_ARGS)
    with pytest.raises(launcher.JobLaunchError,
                       match='InteractionAuditOneOffJob on Dataflow: the '
                       'store must be Cloud Datastore'):
        job_class.enqueue(job_id)
    assert job_class.get_status_code(job_id) == 'new'


# Dry runs: the job is built for Dataflow, offline. The run record lives in
# the Datastore store, so these use the emulator.
def _staged_sdist(summary):
    [package] = [s for s in summary['staged']
                 if s['staged_name'] == 'workflow.tar.gz']
    return package


def test_dry_run_command_prints_the_job_that_would_be_submitted(
        datastore_url, capsys):
    out = io.StringIO()
    code = run_pipeline.main(
        ['--store', datastore_url, 'run', 'InteractionAuditOneOffJob',
         *DATAFLOW_ARGS, '--dry_run=True'], out=out)
    assert code == 0, capsys.readouterr().err
    storage.set_default_store(datastore_url)
    text = out.getvalue()
    run = job_runs.list_recent(1)[0]
    assert run.state == 'canceled' and run.canceled_by == 'dry_run'
    assert run.external_job_id is None  # Nothing was submitted.
    summary = run.details['dry_run']
    assert summary['job_name'] == dataflow.job_name(
        'InteractionAuditOneOffJob', run.job_id)
    assert summary['shard_count'] == 64 == run.shard_count
    namespace = datastore_url.rsplit('/', 1)[1]
    assert summary['reads'] == [{
        'step': 'InteractionAuditOneOffJob/ReadExplorationModel',
        'kind': 'ExplorationModel', 'namespace': namespace,
        'num_splits': 64}]
    assert summary['steps'] == [
        'InteractionAuditOneOffJob/ReadExplorationModel',
        'InteractionAuditOneOffJob/Map',
        'InteractionAuditOneOffJob/GroupByKey',
        'InteractionAuditOneOffJob/Reduce',
        'InteractionAuditOneOffJob/WriteOutput',
        'InteractionAuditOneOffJob/FlattenErrors',
        'InteractionAuditOneOffJob/WriteErrors']
    assert summary['options']['setup_file'] == dataflow.SETUP_FILE
    assert summary['options']['region'] == 'europe-west1'
    assert summary['options']['save_main_session'] is False
    assert 'pickled_main_session' not in [
        s['staged_name'] for s in summary['staged']]
    sdist = _staged_sdist(summary)
    assert sdist['file'] == 'beam-jobs-0.1.0.tar.gz'
    assert {'beam_jobs', 'models', 'pipelines'} <= set(sdist['packages'])
    assert 'run_pipeline.py' in sdist['modules']
    assert 'num_splits=64' in text and 'kind=ExplorationModel' in text
    assert text.startswith('Dataflow job %s (dry run' % summary['job_name'])


def test_dry_run_graph_of_a_job_over_two_kinds(datastore_url, monkeypatch):
    captured = {}
    real_summarize = dataflow.summarize

    def keep_job(job, *args):
        captured['job'] = job
        return real_summarize(job, *args)

    monkeypatch.setattr(dataflow, 'summarize', keep_job)
    job_class = sample_jobs.CountByKindJob
    job_id = job_class.create_new(
        pipeline_args=DATAFLOW_ARGS + ['--dry_run=True', '--num_workers=3',
                                       '--machine_type=n2-standard-4'])
    job_class.enqueue(job_id)
    run = job_class.get_run(job_id)
    summary = run.details['dry_run']
    assert [(r['kind'], r['num_splits']) for r in summary['reads']] == [
        ('UserSettingsModel', 8), ('NoteModel', 8)]
    assert summary['steps'] == sample_jobs.COUNT_BY_KIND_STEPS
    # Worker sizing passes through to the job untouched.
    assert summary['options']['num_workers'] == 3
    assert summary['options']['machine_type'] == 'n2-standard-4'
    # The submitted graph: Beam's Datastore read and write, and the job's
    # map and reduce DoFns between them.
    names = {t.unique_name for t in
             captured['job'].proto_pipeline.components.transforms.values()}
    for name in ['CountByKindJob/ReadNoteModel/ReadFromDatastore/SplitQuery',
                 'CountByKindJob/ReadNoteModel/ToModels',
                 'CountByKindJob/Map/CallMap',
                 'CountByKindJob/Reduce/CallReduce',
                 'CountByKindJob/WriteOutput/WriteToDatastore']:
        assert name in names
    # The staged package holds the job's own code.
    path = next(
        dep for env in
        captured['job'].proto_pipeline.components.environments.values()
        for dep in env.dependencies
        if b'workflow.tar.gz' in dep.role_payload)
    from apache_beam.portability.api import beam_runner_api_pb2
    sdist = beam_runner_api_pb2.ArtifactFilePayload.FromString(
        path.type_payload).path
    with tarfile.open(sdist) as tar:
        members = tar.getnames()
    assert 'beam-jobs-0.1.0/beam_jobs/exp_jobs_one_off.py' in members
    assert 'beam-jobs-0.1.0/pipelines/datastore_io.py' in members


def test_cancel_command_without_network_is_one_line(store_path, store,
                                                    monkeypatch, capsys):
    def offline(args, job_id):
        raise ConnectionError('offline')

    monkeypatch.setattr(dataflow, 'request_cancel', offline)
    run = _submitted_run(exp_jobs_one_off.InteractionAuditOneOffJob)
    code = run_pipeline.main(['--store', store_path, 'cancel', run.job_id],
                             out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 1
    assert 'error: cannot ask Dataflow to cancel job %s' % run.job_id in err
    assert 'Traceback' not in err


def test_submission_records_the_dataflow_job_id(datastore_url, monkeypatch,
                                                capsys):
    """The submit path up to the service: Beam's DataflowRunner is given
    the built pipeline, and what it returns is recorded. (Submitting for
    real needs Google Cloud.)"""
    from apache_beam.runners.dataflow import dataflow_runner
    submitted = {}

    class FakeResult:
        def job_id(self):
            return '2026-11-28_01_02_03-123'

    def fake_run_pipeline(self, pipeline, options):
        submitted['options'] = options.get_all_options(drop_default=True)
        submitted['labels'] = [t.full_label for t in
                               pipeline.transforms_stack[0].parts]
        return FakeResult()

    monkeypatch.setattr(dataflow_runner.DataflowRunner, 'run_pipeline',
                        fake_run_pipeline)
    # Outside a dry run, Beam's option validation asks GCS about the temp
    # bucket's soft-delete policy: no network here.
    from apache_beam.options import pipeline_options as beam_options
    monkeypatch.setattr(
        beam_options.GoogleCloudOptions,
        '_warn_if_soft_delete_policy_enabled', lambda self, arg_name: None)
    out = io.StringIO()
    code = run_pipeline.main(
        ['--store', datastore_url, 'run', 'EmailDomainCountOneOffJob',
         *DATAFLOW_ARGS], out=out)
    assert code == 0, capsys.readouterr().err
    storage.set_default_store(datastore_url)
    run = job_runs.list_recent(1)[0]
    assert run.state == 'started' and run.runner == 'DataflowRunner'
    assert run.external_job_id == '2026-11-28_01_02_03-123'
    assert 'submitted as Dataflow job 2026-11-28_01_02_03-123' in (
        out.getvalue())
    assert submitted['labels'] == ['EmailDomainCountOneOffJob']
    assert submitted['options']['setup_file'] == dataflow.SETUP_FILE
    assert submitted['options']['job_name'] == dataflow.job_name(
        'EmailDomainCountOneOffJob', run.job_id)


def test_the_service_calls_use_the_public_dataflow_client(monkeypatch):
    """The two service calls, with the Dataflow client replaced by a fake
    that records what it is asked."""
    from google.cloud import dataflow as api
    calls = []

    class FakeClient:
        def get_job(self, request):
            calls.append(('get_job', request))
            return api.Job(current_state=api.JobState.JOB_STATE_CANCELLING)

        def update_job(self, request):
            calls.append(('update_job', request))
            return api.Job()

    given = []
    monkeypatch.setattr(dataflow, '_client',
                        lambda args: given.append(list(args)) or FakeClient())
    state = dataflow.fetch_pipeline_state(DATAFLOW_ARGS, 'df-1')
    assert state == 'CANCELLING'
    assert dataflow.run_state_for(state) == 'started'
    dataflow.request_cancel(DATAFLOW_ARGS, 'df-1')
    where = {'project_id': 'my-project', 'location': 'europe-west1',
             'job_id': 'df-1'}
    assert calls == [
        ('get_job', where),
        ('update_job', {**where,
                        'job': {'requested_state': 'JOB_STATE_CANCELLED'}})]
    assert given == [DATAFLOW_ARGS, DATAFLOW_ARGS]
