"""Jobs run on the Cloud Datastore emulator: the same job classes, unchanged,
give the same output as on SQLite, and leave the right entities behind."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.io.gcp.datastore.v1new import datastoreio
from apache_beam.io.gcp.datastore.v1new import helper
from apache_beam.io.gcp.datastore.v1new import query_splitter

from beam_jobs import demo_data
from beam_jobs import exp_jobs_one_off
from beam_jobs import job_contract
from beam_jobs import jobs
from beam_jobs import user_jobs_one_off
from models import datastore_store
from models import storage
from models import user_models
from pipelines import compiler
from pipelines import datastore_io
from tests import sample_jobs

EXPLORATIONS, USERS, SEED = 120, 150, 11

# (job class, params): every shipped job.
SHIPPED_JOBS = [
    (exp_jobs_one_off.InteractionAuditOneOffJob, None),
    (exp_jobs_one_off.ExplorationStatesAuditOneOffJob, None),
    (user_jobs_one_off.UsernameLengthDistributionOneOffJob, None),
    (user_jobs_one_off.EmailDomainCountOneOffJob, None),
    (user_jobs_one_off.InactiveUsersOneOffJob, {'cutoff_date': '2022-01-01'}),
]


def _run(job_class, params=None, shard_count=None):
    job_id = job_class.create_new()
    if shard_count is not None:
        jobs.BaseMapReduceOneOffJobManager.enqueue.__func__(
            job_class, job_id, params, shard_count)
    elif params is None:
        job_class.enqueue(job_id)
    else:
        job_class.enqueue(job_id, additional_job_params=params)
    assert job_class.get_status_code(job_id) == 'completed', (
        job_class.get_error(job_id))
    return job_id, job_class.get_output(job_id)


def _normalized(job_class, output):
    """InteractionAuditOneOffJob's value lists come in no particular order
    (reduce gets values unordered); every other shipped job's output is
    fully determined."""
    if job_class is exp_jobs_one_off.InteractionAuditOneOffJob:
        return [(key, sorted(values)) for key, values in map(eval, output)]
    return output


def _outputs_on(url, monkeypatch):
    monkeypatch.setenv(storage.STORE_ENV_VAR, url)
    storage.set_default_store(url)
    demo_data.seed(EXPLORATIONS, USERS, seed=SEED)
    outputs = {}
    for job_class, params in SHIPPED_JOBS:
        _, output = _run(job_class, params)
        outputs[job_class.__name__] = _normalized(job_class, output)
    return outputs


def test_shipped_jobs_give_the_same_output_as_on_sqlite(
        datastore_url, tmp_path, monkeypatch):
    on_datastore = _outputs_on(datastore_url, monkeypatch)
    on_sqlite = _outputs_on(str(tmp_path / 'same.sqlite3'), monkeypatch)
    storage.set_default_store(datastore_url)
    assert on_datastore == on_sqlite
    assert all(on_datastore.values())  # Every job produced output.


def test_a_job_over_several_kinds(datastore_url, datastore_client):
    users = [user_models.UserSettingsModel(
        id='u%d' % i, email='u%d@x.org' % i, deleted=i == 0)
        for i in range(7)]
    notes = [sample_jobs.NoteModel(id='n%d' % i, text='t') for i in range(4)]
    user_models.UserSettingsModel.put_multi(users + notes)
    job_id, output = _run(sample_jobs.CountByKindJob)
    assert output == ['NoteModel 4', 'UserSettingsModel 6']
    run = sample_jobs.CountByKindJob.get_run(job_id)
    assert run.models_read == 11 and run.output_lines == 2
    # The run record is an entity of the store too.
    entity = datastore_client.get(
        datastore_client.key(datastore_store.RUN_KIND, job_id))
    assert entity['state'] == 'completed' and entity['output_lines'] == 2


def test_shard_count_reaches_the_datastore_read(datastore_url):
    demo_data.seed(0, 200, seed=SEED)
    job_class = user_jobs_one_off.EmailDomainCountOneOffJob
    pipeline = beam.Pipeline()
    compiler.compile_job(pipeline, job_contract.spec_of(
        job_class, 'graph-only', datastore_url, 7))
    reads = []

    class Visitor(beam.pipeline.PipelineVisitor):
        def enter_composite_transform(self, node):
            if isinstance(node.transform, datastoreio.ReadFromDatastore):
                reads.append(node)

    pipeline.visit(Visitor())
    assert len(reads) == 1
    assert reads[0].full_label == (
        'EmailDomainCountOneOffJob/ReadUserSettingsModel/ReadFromDatastore')
    assert reads[0].transform._num_splits == 7
    assert reads[0].transform._query.kind == 'UserSettingsModel'
    assert reads[0].transform._query.namespace == (
        datastore_store.parse_url(datastore_url)[1])
    # The emulator does split the query that many ways...
    project, namespace = datastore_store.parse_url(datastore_url)
    splits = query_splitter.get_splits(
        helper.get_client(project, namespace),
        datastore_io.kind_query('UserSettingsModel', datastore_url), 7)
    assert len(splits) == 7
    # ...and a run with that shard count reads every model exactly once.
    job_id, output = _run(job_class, shard_count=7)
    run = job_class.get_run(job_id)
    assert run.shard_count == 7 and run.models_read == 200
    live = [u for u in user_models.UserSettingsModel.get_all()]
    assert sum(int(line.rpartition(' ')[2]) for line in output) == len(live)


class HugeOutputJob(jobs.BaseMapReduceOneOffJobManager):
    """Yields one line far larger than a Datastore entity may be."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [user_models.UserSettingsModel]

    @staticmethod
    def map(item):
        yield ('all', item.id)

    @staticmethod
    def reduce(key, values):
        yield 'ids:' + ','.join(sorted(values)) * 3000
        yield 'count:%d' % len(values)


def test_output_larger_than_one_entity(datastore_url, datastore_client):
    user_models.UserSettingsModel.put_multi(
        user_models.UserSettingsModel(id='user-%03d' % i, email='e')
        for i in range(40))
    job_id, output = _run(HugeOutputJob)
    ids = ','.join('user-%03d' % i for i in range(40))
    assert output == ['ids:' + ids * 3000, 'count:40']
    assert len(output[0]) > 1024 * 1024
    query = datastore_client.query(kind=datastore_store.OUTPUT_KIND)
    entities = [e for e in query.fetch() if e['job_id'] == job_id]
    assert len(entities) > 2  # The long line is split over entities.
    assert max(len(e['line']) for e in entities) <= (
        datastore_store.OUTPUT_PART_CHARS)


def test_map_that_puts_models_leaves_the_right_entities(
        datastore_url, datastore_client):
    emails = ['Ann@X.org', 'bob@y.org', 'CAROL@Z.ORG']
    user_models.UserSettingsModel.put_multi(
        user_models.UserSettingsModel(id='u%d' % i, email=email)
        for i, email in enumerate(emails))
    _, output = _run(sample_jobs.WritingJob)
    assert output == [str(('migrated', 2)), str(('unchanged', 1))]
    query = datastore_client.query(kind='UserSettingsModel')
    stored = {e.key.name: e['email'] for e in query.fetch()}
    assert stored == {'u0': 'ann@x.org', 'u1': 'bob@y.org',
                      'u2': 'carol@z.org'}


def test_map_errors_on_datastore_are_recorded_and_max_errors_fails(
        datastore_url):
    from models import exp_models
    exp_models.ExplorationModel.put_multi([
        exp_models.ExplorationModel(id='exp-ok', init_state_name='A'),
        exp_models.ExplorationModel(id='exp-bad', init_state_name='A')])
    job_class = sample_jobs.FailingMapJob
    job_id = job_class.create_new()
    job_class.enqueue(job_id)
    assert job_class.get_status_code(job_id) == 'completed'
    assert job_class.get_output(job_id) == ["('ok', 1)"]
    [error] = job_class.get_errors(job_id)
    assert (error.stage, error.kind, error.entity, error.message) == (
        'map', 'ExplorationModel', 'exp-bad', 'cannot audit exp-bad')
    assert job_class.get_run(job_id).error_count == 1
    strict_id = job_class.create_new(max_errors=0)
    job_class.enqueue(strict_id)
    assert job_class.get_status_code(strict_id) == 'failed'
    assert 'more than max_errors=0' in job_class.get_error(strict_id)
    assert storage.get_store().count_output(strict_id) == 0


def test_bad_entities_on_datastore_are_read_errors(datastore_url,
                                                   datastore_client):
    from google.cloud import datastore

    from models import exp_models
    exp_models.ExplorationModel(id='exp-ok', init_state_name='A').put()
    bad = datastore.Entity(datastore_client.key('ExplorationModel', 'exp-bad'))
    bad.update({'init_state_name': 44})
    datastore_client.put(bad)
    job_class = sample_jobs.FailingMapJob
    job_id = job_class.create_new()
    job_class.enqueue(job_id)
    assert job_class.get_output(job_id) == ["('ok', 1)"]
    [error] = job_class.get_errors(job_id)
    assert (error.stage, error.kind, error.entity) == (
        'read', 'ExplorationModel', 'exp-bad')
    assert 'ExplorationModel.init_state_name expects str, got int' in (
        error.message)


def test_stale_copies_conflict_on_datastore(datastore_url):
    from models import user_models
    user_models.UserSettingsModel(id='u1', email='a@b.c').put()
    first = user_models.UserSettingsModel.get_by_id('u1')
    second = user_models.UserSettingsModel.get_by_id('u1')
    first.username = 'first'
    first.put()
    second.username = 'second'
    with pytest.raises(storage.ConflictError):
        second.put()
    assert user_models.UserSettingsModel.get_by_id('u1').username == 'first'


def test_command_line_on_a_datastore_store(datastore_url, capsys):
    import io

    import run_pipeline

    def cli(*args):
        out = io.StringIO()
        code = run_pipeline.main(['--store', datastore_url, *args], out=out)
        storage.set_default_store(datastore_url)
        return code, out.getvalue()

    code, text = cli('seed-demo', '--explorations', '30', '--users', '40')
    assert code == 0 and datastore_url in text
    code, printed = cli('run', 'EmailDomainCountOneOffJob', '--shard_count',
                        '3')
    assert code == 0 and printed
    code, _ = cli('run', 'UsernameLengthDistributionOneOffJob')
    assert code == 0
    code, listing = cli('jobs', '--job', 'EmailDomainCountOneOffJob')
    [run_line] = [l for l in listing.splitlines()[1:] if l.strip()]
    job_id = run_line.split()[0]
    assert job_id.startswith('EmailDomainCountOneOffJob-')
    code, status = cli('status', job_id)
    assert code == 0 and 'completed' in status and 'shard count:      3' in (
        status)
    code, again = cli('output', job_id)
    assert code == 0 and again == printed
    code, _ = cli('cancel', job_id)
    assert code == 1
    assert 'only queued or started jobs can be canceled' in (
        capsys.readouterr().err)
