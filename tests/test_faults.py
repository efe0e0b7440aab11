"""Faults, with real processes and a real store: failing models, bad rows,
values that cannot travel, a killed process, a cancel from another process,
and several writers at once. Every model must be accounted for: processed,
or listed as an error with its id."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys

import pytest

import run_pipeline
from beam_jobs import exp_jobs_one_off
from beam_jobs import job_runs
from beam_jobs import jobs_registry
from beam_jobs import user_jobs_one_off
from models import exp_models
from models import sqlite_store
from models import storage
from models import user_models
from tests import sample_jobs
from tests import waiting

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Generous bounds on waiting for another process: they only fail a test
# that would otherwise hang, they never decide a result.
PROCESS_TIMEOUT = 180


def _explorations(ids):
    exp_models.ExplorationModel.put_multi([
        exp_models.ExplorationModel(
            id=i, init_state_name='A',
            states={'A': {'interaction': {'id': 'TextInput'}}})
        for i in ids])


def _start_driver(store_path, job_name, *params):
    proc = subprocess.Popen(
        [sys.executable, '-m', 'tests.job_driver', store_path, job_name,
         *params], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    job_id = proc.stdout.readline().strip()
    assert job_id.startswith(job_name), proc.stderr.read()
    return proc, job_id


def _wait_for_file(path, proc):
    def reached():
        assert proc.poll() is None, proc.stderr.read()
        return os.path.exists(path)
    waiting.wait_until(reached, 'the job to reach its gate', PROCESS_TIMEOUT)


def test_one_percent_of_models_failing_in_map(store):
    ids = ['exp-%04d' % i for i in range(1000)]
    _explorations(ids)
    job = sample_jobs.OnePercentFailingJob
    job_id = job.create_new()
    job.enqueue(job_id)
    run = job.get_run(job_id)
    failing = [i for i in ids if i.endswith('07')]
    assert len(failing) == 10
    assert run.state == 'completed'
    assert run.error_count == 10
    assert run.models_read == 1000
    assert job.get_output(job_id) == ["('ok', 990)", "('first', 'exp-0000')"]
    errors = job.get_errors(job_id)
    assert [e.entity for e in errors] == failing
    assert {(e.stage, e.kind, e.error_type) for e in errors} == {
        ('map', 'ExplorationModel', 'RuntimeError')}
    assert errors[0].message == 'unreadable exploration exp-0007'
    # The command line shows them with status and output.
    out = io.StringIO()
    assert run_pipeline.main(['status', job_id], out=out) == 0
    assert 'errors:           10 (no limit)' in out.getvalue()
    assert ('map ExplorationModel exp-0007: RuntimeError: unreadable '
            'exploration exp-0007') in out.getvalue()


def test_failing_reduce_is_recorded_per_key(store):
    _explorations(['e1', 'e2', 'e3', 'f3'])
    job = sample_jobs.FailingReduceJob
    job_id = job.create_new()
    job.enqueue(job_id)
    assert job.get_status_code(job_id) == 'completed'
    assert job.get_output(job_id) == ["('1', 1)", "('2', 1)"]
    [error] = job.get_errors(job_id)
    assert (error.stage, error.kind, error.entity, error.error_type) == (
        'reduce', 'FailingReduceJob', "'3'", 'KeyError')
    assert error.message == "'no total for 3'"


def test_values_that_cannot_travel_are_reported_per_model(store):
    _explorations(['bad-key', 'bad-tuple-key', 'bad-value', 'not-a-pair',
                   'ok-1', 'ok-2', 'tuple-key'])
    job = sample_jobs.UntravelableJob
    job_id = job.create_new()
    job.enqueue(job_id)
    assert job.get_status_code(job_id) == 'completed'
    assert job.get_output(job_id) == [
        "('fine', ['ok-1', 'ok-2'])", "(('fine', 1, None), ['tuple-key'])"]
    errors = {e.entity: e.message for e in job.get_errors(job_id)}
    assert errors['bad-key'].startswith(
        "UntravelableJob.map(ExplorationModel 'bad-key') yielded a key "
        "<object object at")
    assert 'a key needs a deterministic encoding for GroupByKey' in (
        errors['bad-key'])
    assert errors['bad-tuple-key'].startswith(
        "UntravelableJob.map(ExplorationModel 'bad-tuple-key') yielded a key "
        "('fine', <object object at")
    assert errors['bad-value'].startswith(
        "UntravelableJob.map(ExplorationModel 'bad-value') yielded a value "
        "<function")
    assert 'a value needs to be picklable' in errors['bad-value']
    assert errors['not-a-pair'] == (
        "UntravelableJob.map(ExplorationModel 'not-a-pair') yielded ('a', "
        "'b', 'c'); map must yield (key, value) pairs")


def test_bad_stored_rows_are_errors_and_stay_untouched(store, store_path):
    user_models.UserSettingsModel.put_multi([
        user_models.UserSettingsModel(id='u%d' % i, email='u%d@a.org' % i)
        for i in range(6)])
    bad_rows = {
        'u1': '{"email": "x@a.org"',                        # corrupt JSON
        'u2': '{"email": "y@a.org", "shoe_size": 44}',      # kept, read
        'u3': '{"username": "nobody"}',                     # missing email
        'u4': '{"email": ["not", "a", "string"]}',          # wrong type
    }
    with sqlite3.connect(store_path) as conn:
        for model_id, data in bad_rows.items():
            conn.execute('UPDATE models SET data = ? WHERE kind = ? AND '
                         'id = ?', (data, 'UserSettingsModel', model_id))
    job = user_jobs_one_off.EmailDomainCountOneOffJob
    job_id = job.create_new()
    job.enqueue(job_id)
    assert job.get_status_code(job_id) == 'completed'
    # A stored property the class does not declare is kept, not an error.
    assert job.get_output(job_id) == ['a.org: 3']
    errors = job.get_errors(job_id)
    assert [(e.stage, e.kind, e.entity) for e in errors] == [
        ('read', 'UserSettingsModel', i) for i in ('u1', 'u3', 'u4')]
    messages = [e.message for e in errors]
    assert 'stored data is not valid JSON' in messages[0]
    assert 'missing required properties: email' in messages[1]
    assert 'UserSettingsModel.email expects str, got list' in messages[2]
    with sqlite3.connect(store_path) as conn:
        for model_id, data in bad_rows.items():
            assert conn.execute(
                'SELECT data FROM models WHERE id = ?', (model_id,)
            ).fetchone()[0] == data


def test_killed_process_leaves_a_failed_run_and_a_clean_store(
        store, store_path, tmp_path):
    ids = ['exp-%03d' % i for i in range(200)]
    _explorations(ids)
    gate = str(tmp_path / 'gate')
    proc, job_id = _start_driver(store_path, 'GatedJob',
                                 'gate_model=exp-150', 'gate_path=' + gate)
    _wait_for_file(gate + '.reached', proc)
    assert job_runs.get(job_id).state == 'started'
    proc.send_signal(signal.SIGKILL)
    proc.wait(PROCESS_TIMEOUT)
    storage.close_all_stores()
    with sqlite3.connect(store_path) as conn:
        assert conn.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'
    run = job_runs.get(job_id)  # Reading the run notices its owner is gone.
    assert run.state == 'failed'
    assert run.error.startswith(
        'abandoned: the process running it (pid %d on ' % proc.pid)
    assert sample_jobs.GatedJob.get_output(job_id) == []
    assert storage.get_store().count_output(job_id) == 0
    # A rerun gives the full, correct output.
    open(gate, 'w').close()
    rerun = sample_jobs.GatedJob.create_new()
    sample_jobs.GatedJob.enqueue(rerun, {'gate_model': 'exp-150',
                                         'gate_path': gate})
    assert sample_jobs.GatedJob.get_output(rerun) == ["('all', 200)"]


def test_status_shows_how_far_a_running_job_has_read(
        store, store_path, tmp_path, monkeypatch):
    _explorations(['exp-%03d' % i for i in range(300)])
    gate = str(tmp_path / 'gate')
    proc, job_id = _start_driver(store_path, 'GatedJob',
                                 'gate_model=exp-250', 'gate_path=' + gate)
    _wait_for_file(gate + '.reached', proc)
    # The read reported what it had read when it last read the run: at
    # least its first batch, and not the models after the gate's batch.
    run = job_runs.get(job_id)
    assert run.state == 'started'
    assert 0 < run.models_read < 300
    monkeypatch.setattr(jobs_registry, 'ONE_OFF_JOB_MANAGERS',
                        [sample_jobs.GatedJob])
    out = io.StringIO()
    assert run_pipeline.main(['--store', store_path, 'status', job_id],
                             out=out) == 0
    assert 'models read:      %d so far of 300 (%d%%)\n' % (
        run.models_read, run.models_read // 3) in out.getvalue()
    open(gate, 'w').close()
    _, err = proc.communicate(timeout=PROCESS_TIMEOUT)
    assert proc.returncode == 0, err
    # At its end, the run's count is the pipeline's own.
    run = job_runs.get(job_id)
    assert (run.state, run.models_read) == ('completed', 300)


def test_cancel_from_another_process_stops_the_run(store, store_path,
                                                   tmp_path, capsys):
    _explorations(['exp-%03d' % i for i in range(300)])
    gate = str(tmp_path / 'gate')
    proc, job_id = _start_driver(store_path, 'GatedJob',
                                 'gate_model=exp-100', 'gate_path=' + gate)
    _wait_for_file(gate + '.reached', proc)
    assert run_pipeline.main(
        ['--store', store_path, 'cancel', job_id, '--user', 'ops@example.org'],
        out=io.StringIO()) == 0
    open(gate, 'w').close()  # Let the map go on: the pipeline must stop.
    out, err = proc.communicate(timeout=PROCESS_TIMEOUT)
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] == 'canceled'
    # The stop it asked for is no error: Beam logs nothing of it.
    assert err == ''
    storage.set_default_store(store_path)
    run = job_runs.get(job_id)
    assert run.state == 'canceled'
    assert run.canceled_by == 'ops@example.org'
    assert run.error == 'Canceled by ops@example.org'
    assert storage.get_store().count_output(job_id) == 0
    assert sample_jobs.GatedJob.get_output(job_id) == []
    # Canceling again is refused with a clear message.
    assert run_pipeline.main(['--store', store_path, 'cancel', job_id],
                             out=io.StringIO()) == 1
    assert 'is canceled; only queued or started jobs can be canceled' in (
        capsys.readouterr().err)


def test_stale_heartbeat_marks_a_run_failed(store):
    _explorations(['e1'])
    job_id = sample_jobs.ShardedJob.create_new()
    store.update_run(job_id, {
        'state': 'started', 'runner': 'FnApiRunner', 'owner_pid': 1,
        'owner_host': 'another-host',
        'heartbeat_msec': job_runs.now_msec() - job_runs.STALE_AFTER_MSEC
        - 5000})
    store.write_output(job_id, [('k', 0, 'partial line')])
    [listed] = job_runs.list_recent()
    assert listed.state == 'failed'
    assert listed.error.startswith(
        'abandoned: no heartbeat from the process running it (pid 1 on '
        'another-host) for ')
    assert store.count_output(job_id) == 0


def test_a_fresh_heartbeat_from_another_host_is_trusted(store):
    job_id = sample_jobs.ShardedJob.create_new()
    store.update_run(job_id, {
        'state': 'started', 'runner': 'FnApiRunner', 'owner_pid': 1,
        'owner_host': 'another-host', 'heartbeat_msec': job_runs.now_msec()})
    assert job_runs.get(job_id).state == 'started'


def _expected_domain_counts():
    counts = {}
    for user in user_models.UserSettingsModel.get_all():
        domain = user.email.rpartition('@')[2]
        counts[domain] = counts.get(domain, 0) + 1
    return ['%s: %d' % item for item in sorted(counts.items())]


def test_two_jobs_at_once_and_a_writer_beside_them(store, store_path):
    user_models.UserSettingsModel.put_multi([
        user_models.UserSettingsModel(
            id='u%04d' % i, email='User%d@%s.org' % (i, 'abc'[i % 3]))
        for i in range(600)])
    migrate, migrate_id = _start_driver(store_path, 'WritingJob')
    count, count_id = _start_driver(store_path, 'CountByKindJob')
    # A third process writes other models while both jobs run.
    writer = subprocess.Popen(
        [sys.executable, '-c', (
            'import sys\n'
            'from models import storage\n'
            'from tests import sample_jobs\n'
            'storage.set_default_store(sys.argv[1])\n'
            'for n in range(300):\n'
            '    sample_jobs.NoteModel(\n'
            '        id="note-%03d" % n, text=str(n)).put()\n'
        ), store_path], cwd=REPO, stderr=subprocess.PIPE, text=True)
    for proc in (migrate, count, writer):
        _, err = proc.communicate(timeout=PROCESS_TIMEOUT)
        assert proc.returncode == 0, err
    assert job_runs.get(migrate_id).state == 'completed'
    assert sample_jobs.WritingJob.get_output(migrate_id) == [
        "('migrated', 600)"]
    assert all(u.email == u.email.lower()
               for u in user_models.UserSettingsModel.get_all())
    notes = sample_jobs.NoteModel.get_all()
    assert [n.text for n in notes] == [str(n) for n in range(300)]
    [users_line] = [line for line in sample_jobs.CountByKindJob.get_output(
        count_id) if line.startswith('UserSettingsModel')]
    assert users_line == 'UserSettingsModel 600'
    with sqlite3.connect(store_path) as conn:
        assert conn.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'


def test_stored_data_is_never_unpickled(store, store_path):
    """The store keeps JSON text only: a pickle payload planted in a row is
    reported as corrupt data, never loaded."""
    import pickle
    _explorations(['e1'])
    with sqlite3.connect(store_path) as conn:
        conn.execute("UPDATE models SET data = ? WHERE id = 'e1'",
                     (pickle.dumps({'evil': True}),))
    job = exp_jobs_one_off.InteractionAuditOneOffJob
    job_id = job.create_new()
    job.enqueue(job_id)
    [error] = job.get_errors(job_id)
    assert (error.stage, error.entity, error.error_type) == (
        'read', 'e1', 'ModelDataError')
    assert json.dumps(error.message)  # A plain, readable message.


def test_map_reruns_on_a_fresh_copy_when_its_write_conflicts(store):
    user_models.UserSettingsModel.put_multi([
        user_models.UserSettingsModel(id='u%d' % i, email='A%d@B.org' % i)
        for i in range(3)])
    job = sample_jobs.InterferedJob
    job_id = job.create_new()
    job.enqueue(job_id)
    assert job.get_errors(job_id) == []
    # Only the retried attempt's values are kept: it saw the other write.
    assert job.get_output(job_id) == [
        "('done', ['set-by-other-writer', 'set-by-other-writer', "
        "'set-by-other-writer'])"]
    for user in user_models.UserSettingsModel.get_all():
        assert user.username == 'set-by-other-writer'  # Not lost...
        assert user.email == user.email.lower()        # ...nor this.


def test_no_write_is_lost_when_a_job_and_another_process_update_them(
        store, store_path):
    user_models.UserSettingsModel.put_multi([
        user_models.UserSettingsModel(id='u%04d' % i, email='%d@a.org' % i)
        for i in range(300)])
    job, job_id = _start_driver(store_path, 'TagUsersJob')
    other = subprocess.Popen(
        [sys.executable, '-c', (
            'import sys\n'
            'from models import storage, user_models\n'
            'storage.set_default_store(sys.argv[1])\n'
            'for n in reversed(range(300)):\n'
            '    while True:\n'
            '        user = user_models.UserSettingsModel.get_by_id(\n'
            '            "u%04d" % n)\n'
            '        user.preferred_language_codes += ["other"]\n'
            '        try:\n'
            '            user.put()\n'
            '            break\n'
            '        except storage.ConflictError:\n'
            '            pass\n'), store_path],
        cwd=REPO, stderr=subprocess.PIPE, text=True)
    for proc in (job, other):
        _, err = proc.communicate(timeout=PROCESS_TIMEOUT)
        assert proc.returncode == 0, err
    assert sample_jobs.TagUsersJob.get_output(job_id) == ["('tagged', 300)"]
    assert sample_jobs.TagUsersJob.get_errors(job_id) == []
    for user in user_models.UserSettingsModel.get_all():
        assert sorted(user.preferred_language_codes) == ['job', 'other'], (
            user.id)


# Keys and text that Python or a store treat differently from GroupByKey.
MULTI_PROCESSING = ['--direct_running_mode=multi_processing',
                    '--direct_num_workers=2']


def _completed_output(job, pipeline_args=()):
    job_id = job.create_new(pipeline_args=list(pipeline_args))
    job.enqueue(job_id, shard_count=4)
    assert job.get_status_code(job_id) == 'completed', job.get_error(job_id)
    return job.get_output(job_id), [
        (e.stage, e.entity, e.error_type) for e in job.get_errors(job_id)]


def test_keys_python_takes_for_equal_stay_apart_with_a_combiner(store):
    _explorations(['e%d' % n for n in range(21)] + ['list', 'dict'])
    job = sample_jobs.LookalikeKeysJob
    expected = sorted('(%r, %r, 3)' % (key, type(key).__name__)
                      for key in sample_jobs.LOOKALIKE_KEYS)
    expected.append("([1, 'a'], 'list', 1)")
    # A dict whose keys cannot be ordered has no deterministic encoding:
    # its model's error, whether the run combines or not.
    errors = [('map', 'dict', 'MapError')]
    for args in ([], ['--disable_combiner'], MULTI_PROCESSING):
        output, found_errors = _completed_output(job, args)
        assert sorted(output[:-1]) == expected[:-1], args
        assert output[-1] == expected[-1], args
        assert found_errors == errors, args


def test_nan_keys_of_each_sign_keep_their_own_lines(store):
    _explorations(['nan', '-nan', 'e1'])
    output, errors = _completed_output(sample_jobs.LookalikeKeysJob)
    assert output == ["(1, 'int', 1)", "(nan, 'float', 1)",
                      "(nan, 'float', 1)"]
    assert errors == []


@pytest.mark.parametrize('pipeline_args', [[], MULTI_PROCESSING],
                         ids=['one-process', '2-workers'])
def test_text_with_no_utf8_encoding_is_its_model_or_keys_error(
        store, pipeline_args):
    _explorations(['bad-key', 'bad-value', 'bad-line', 'fine'])
    output, errors = _completed_output(sample_jobs.SurrogateTextJob,
                                       pipeline_args)
    assert output == ["('fine', 1)"]
    assert errors == [('map', 'bad-key', 'MapError'),
                      ('map', 'bad-value', 'MapError'),
                      ('reduce', "'bad-line'", 'ReduceError')]


def test_a_run_declared_dead_while_stopped_does_no_more_work(
        store, store_path, tmp_path):
    _explorations(['e%02d' % n for n in range(8)])
    gate = str(tmp_path / 'gate')
    proc, job_id = _start_driver(store_path, 'GatedMigrationJob',
                                 'gate_model=e02', 'gate_path=' + gate)
    _wait_for_file(gate + '.reached', proc)
    os.kill(proc.pid, signal.SIGSTOP)  # A laptop asleep, say.
    try:
        # What any reader does once the stopped run's heartbeat is stale.
        assert store.update_run(job_id, {
            'state': 'failed', 'error': 'abandoned: no heartbeat'},
            from_states=['started'])
        open(gate, 'w').close()
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=PROCESS_TIMEOUT)
    assert out.split() == ['failed'], err
    run = job_runs.get(job_id)
    assert run.state == 'failed' and run.error == 'abandoned: no heartbeat'
    # The model in flight when it stopped is the last one it migrated.
    migrated = [i for i, _ in store.scan('NoteModel')]
    assert migrated == ['e00', 'e01', 'e02']
    assert store.count_output(job_id) == 0


def test_output_of_a_run_that_is_no_longer_running_is_refused(store):
    store.insert_run({'job_id': 'j1', 'job_type': 'T', 'state': 'started'})
    store.write_output('j1', [('3a', 0, 'kept')])
    store.update_run('j1', {'state': 'failed'})
    with pytest.raises(storage.RunNotRunningError,
                       match='job j1 is failed: its output is refused'):
        store.write_output('j1', [('3b', 0, 'late')])
    assert list(store.read_output('j1')) == ['kept']


def test_a_run_past_max_errors_says_so_in_one_line(store, store_path):
    _explorations(['e%02d' % n for n in range(10)])
    with sqlite3.connect(store_path) as conn:
        conn.executemany(
            "INSERT INTO models (kind, id, data) VALUES "
            "('ExplorationModel', ?, '{not json')",
            [('bad-%d' % n,) for n in range(8)])
    done = subprocess.run(
        [sys.executable, 'run_pipeline.py', '--store', store_path, 'run',
         'InteractionAuditOneOffJob', '--max_errors', '5'],
        cwd=REPO, capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert done.returncode == 1
    assert 'Traceback' not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    # The summary, the errors (at most ten), and why the run failed.
    assert len(lines) <= 13, done.stderr
    assert lines[-1].startswith(
        'InteractionAuditOneOffJob failed: TooManyErrorsError: 8 errors, '
        'more than max_errors=5; stopped. First: read ExplorationModel '
        'bad-0: ')


@pytest.mark.parametrize('shard_count', [1, 3])
def test_stored_bytes_that_are_not_utf8_are_one_models_read_error(
        store, store_path, shard_count, monkeypatch):
    # Pages of 5 rows: the second ends on the row whose id is not text.
    monkeypatch.setattr(sqlite_store, 'SCAN_PAGE_SIZE', 5)
    _explorations(['e%02d' % n for n in range(12)])
    bad_data = b'{"init_state_name": "A\xff\xfe"}'
    with sqlite3.connect(store_path) as conn:
        conn.executemany(
            'INSERT INTO models (kind, id, data) VALUES '
            "('ExplorationModel', CAST(? AS TEXT), CAST(? AS TEXT))",
            [(b'e05-bad-data', bad_data),
             (b'e07-bad-id-\xc3', b'{"init_state_name": "A"}')])
    job = exp_jobs_one_off.InteractionCountOneOffJob
    job_id = job.create_new()
    job.enqueue(job_id, shard_count=shard_count)
    assert job.get_status_code(job_id) == 'completed', job.get_error(job_id)
    assert job.get_output(job_id) == ['TextInput: 12']
    errors = [(e.stage, e.entity, e.message) for e in job.get_errors(job_id)]
    assert errors == [
        ('read', 'e05-bad-data', "ExplorationModel 'e05-bad-data': stored "
         'data is not valid UTF-8 (invalid start byte): {"init_state_name": '
         '"A\\xff\\xfe"}'),
        ('read', 'e07-bad-id-\\xc3', "ExplorationModel 'e07-bad-id-\\\\xc3': "
         'the stored id is not valid UTF-8: e07-bad-id-\\xc3')]
    # The rows are left as they were.
    with sqlite3.connect(store_path) as conn:
        assert conn.execute(
            "SELECT CAST(data AS BLOB) FROM models WHERE "
            "CAST(id AS BLOB) = ?", (b'e05-bad-data',)).fetchone() == (
                bad_data,)


@pytest.mark.parametrize('refused', [
    ['--shard_count', '0'], ['--runner', 'SparkRunner'],
    ['--runner', 'DataflowRunner', '--project', 'p', '--region', 'r',
     '--temp_location', 'gs://b/t']])
def test_a_run_refused_before_it_starts_leaves_no_record(
        store, store_path, capsys, refused):
    _explorations(['e1'])
    assert run_pipeline.main(
        ['--store', store_path, 'run', 'InteractionAuditOneOffJob',
         *refused], out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith('error: '), err
    assert store.list_runs() == []


def test_a_damaged_run_record_is_shown_unreadable_and_the_others_listed(
        store, store_path, capsys):
    for job_id in ('good-1', 'damaged', 'good-2'):
        store.insert_run({'job_id': job_id, 'job_type': 'T',
                          'state': 'completed', 'params': {'a': 1}})
    with sqlite3.connect(store_path) as conn:
        conn.execute("UPDATE job_runs SET details = '{not json', "
                     "params = '[1]' WHERE job_id = 'damaged'")
    out = io.StringIO()
    assert run_pipeline.main(['--store', store_path, 'jobs'], out=out) == 0
    listed = [line.split()[0] for line in out.getvalue().splitlines()[1:]]
    assert sorted(listed) == ['damaged', 'good-1', 'good-2']
    out = io.StringIO()
    assert run_pipeline.main(['--store', store_path, 'status', 'damaged'],
                             out=out) == 0
    assert ('unreadable run record: its details and params are not valid'
            in out.getvalue())
    assert capsys.readouterr().err == ''


def test_a_param_nested_too_deeply_is_refused_in_one_line(store_path,
                                                          capsys):
    with pytest.raises(SystemExit) as exited:
        run_pipeline.main(['--store', store_path, 'run',
                           'InteractionAuditOneOffJob', '--param',
                           'x=' + '[' * 100_000], out=io.StringIO())
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].endswith(
        'the value of x is nested too deeply')
    assert 'Traceback' not in err


def test_a_pickle_library_that_is_not_installed_is_refused_in_one_line(
        store, store_path, capsys):
    _explorations(['e1'])
    assert run_pipeline.main(
        ['--store', store_path, 'run', 'InteractionAuditOneOffJob',
         '--pickle_library=dill'], out=io.StringIO()) == 1
    assert capsys.readouterr().err == (
        'error: --pickle_library=dill needs the dill package, which is not '
        'installed (the default, cloudpickle, needs nothing)\n')
    assert store.list_runs() == []


def test_output_into_a_closed_pipe_ends_quietly(store, store_path):
    _explorations(['e%02d' % n for n in range(20)])
    proc = subprocess.Popen(
        [sys.executable, 'run_pipeline.py', '--store', store_path, 'run',
         'InteractionAuditOneOffJob'], cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # As `| head` does once it has what it wants.
    err = proc.stderr.read()
    assert proc.wait(timeout=PROCESS_TIMEOUT) == 128 + signal.SIGPIPE
    assert 'Traceback' not in err and 'BrokenPipeError' not in err, err


@pytest.mark.parametrize('given, message', [
    ('datastor://x', "no store for 'datastor://x': known schemes are "
     'datastore://, sqlite://'),
    ('file:/x', "'file:/x' is neither a SQLite file path nor a store URL"),
    ('', 'empty store path'),
    ('/dev/null', '/dev/null is not a SQLite store file (it is a special '
     'file)'),
    ('{tmp}/no/such/folder/x.sqlite3', 'no store at {tmp}/no/such/folder/'
     'x.sqlite3 (seed-demo fills a new one; --create makes an empty one)'),
    ('{tmp}/missing.sqlite3', 'no store at {tmp}/missing.sqlite3'),
])
def test_a_mistyped_or_missing_store_is_refused_and_nothing_created(
        tmp_path, monkeypatch, capsys, given, message):
    monkeypatch.chdir(tmp_path)
    given = given.format(tmp=tmp_path)
    before = sorted(os.listdir(tmp_path)), sorted(os.listdir('/dev'))
    for command in (['jobs'], ['run', 'InteractionAuditOneOffJob']):
        assert run_pipeline.main(['--store', given, *command],
                                 out=io.StringIO()) == 1
        err = capsys.readouterr().err
        assert err.startswith('error: ' + message.format(tmp=tmp_path))
        assert len(err.splitlines()) == 1, err
    assert (sorted(os.listdir(tmp_path)), sorted(os.listdir('/dev'))) == (
        before)


def test_seed_demo_and_create_make_a_store_where_asked(tmp_path):
    path = str(tmp_path / 'new' / 'store.sqlite3')
    assert run_pipeline.main(['--store', path, '--create', 'jobs'],
                             out=io.StringIO()) == 0
    assert os.path.isfile(path)
    other = str(tmp_path / 'seeded.sqlite3')
    assert run_pipeline.main(['--store', other, 'seed-demo',
                              '--explorations', '2', '--users', '1'],
                             out=io.StringIO()) == 0
    assert os.path.isfile(other)


def test_status_of_a_run_past_its_read_shows_every_model_read(
        store, store_path, tmp_path, monkeypatch):
    _explorations(['exp-%03d' % i for i in range(300)])
    gate = str(tmp_path / 'gate')
    proc, job_id = _start_driver(store_path, 'GatedReduceJob',
                                 'gate_path=' + gate)
    _wait_for_file(gate + '.reached', proc)
    monkeypatch.setattr(jobs_registry, 'ONE_OFF_JOB_MANAGERS',
                        [sample_jobs.GatedReduceJob])
    out = io.StringIO()
    try:
        assert run_pipeline.main(['--store', store_path, 'status', job_id],
                                 out=out) == 0
    finally:
        open(gate, 'w').close()
    assert ('models read:      300 of 300 (100%): all read; stage: reduce\n'
            in out.getvalue())
    _, err = proc.communicate(timeout=PROCESS_TIMEOUT)
    assert proc.returncode == 0, err


def test_a_killed_worker_process_fails_the_run_saying_so(
        store, store_path, tmp_path):
    _explorations(['e%02d' % n for n in range(8)])
    folder = tmp_path / 'mapping'
    folder.mkdir()
    gate = str(tmp_path / 'gate')
    proc, job_id = _start_driver(
        store_path, 'PidGatedJob', 'folder=%s' % folder,
        'gate_path=' + gate, *MULTI_PROCESSING)
    waiting.wait_until(lambda: len(os.listdir(folder)) == 2 or
                       proc.poll() is not None, 'both workers to map',
                       PROCESS_TIMEOUT)
    os.kill(int(sorted(os.listdir(folder))[0]), signal.SIGKILL)
    open(gate, 'w').close()
    out, err = proc.communicate(timeout=PROCESS_TIMEOUT)
    assert out.split() == ['failed'], err
    assert job_runs.get(job_id).error == (
        'PidGatedJob failed: WorkerEndedError: a worker process ended '
        'unexpectedly (signal 9); the run stopped with it')


# A store on a disk of its own: a tmpfs mounted for the test, to fill or
# to make read-only while a run goes on.
@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / 'small-disk'
    mount_point.mkdir()
    done = subprocess.run(
        ['mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', str(mount_point)],
        capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip('cannot mount a small tmpfs here (needs root): %s'
                    % done.stderr.strip())
    yield mount_point
    storage.close_all_stores()
    subprocess.run(['umount', '-l', str(mount_point)], check=False)


def _store_on(disk, monkeypatch, ids):
    path = str(disk / 'store.sqlite3')
    monkeypatch.setenv(storage.STORE_ENV_VAR, path)
    storage.set_default_store(path)
    _explorations(ids)
    storage.close_all_stores()
    return path


def test_a_full_disk_fails_the_run_with_its_cause_and_reads_still_work(
        small_disk, monkeypatch, capsys):
    path = _store_on(small_disk, monkeypatch,
                     ['e%02d' % n for n in range(40)])
    proc, job_id = _start_driver(path, 'BigOutputJob')
    out, err = proc.communicate(timeout=PROCESS_TIMEOUT)
    assert out.split() == ['failed'], err
    for command in (['status', job_id], ['jobs']):
        listing = io.StringIO()
        run_pipeline.main(['--store', path, *command], out=listing)
        assert job_id in listing.getvalue()
        assert 'Traceback' not in capsys.readouterr().err
    error = job_runs.get(job_id).error
    assert error.splitlines()[0] == (
        'BigOutputJob failed: OperationalError: database or disk is full')
    assert 'cannot rollback' not in error
    assert storage.get_store().count_output(job_id) == 0


def test_a_read_only_store_is_read_and_refuses_writes_in_one_line(
        small_disk, monkeypatch, capsys):
    path = _store_on(small_disk, monkeypatch, ['e1', 'e2'])
    job = exp_jobs_one_off.InteractionCountOneOffJob
    job_id = job.create_new()
    job.enqueue(job_id)
    storage.close_all_stores()
    # The disk cannot be made read-only under a process that has the store
    # open for writing (the kernel refuses), so between runs.
    subprocess.run(['mount', '-o', 'remount,ro', str(small_disk)],
                   check=True)
    listing = io.StringIO()
    assert run_pipeline.main(['--store', path, 'jobs'], out=listing) == 0
    assert job_id in listing.getvalue()
    output = io.StringIO()
    assert run_pipeline.main(['--store', path, 'output', job_id],
                             out=output) == 0
    assert output.getvalue() == 'TextInput: 2\n'
    capsys.readouterr()
    assert run_pipeline.main(['--store', path, 'run',
                              'InteractionCountOneOffJob'],
                             out=io.StringIO()) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        'error: the store %s cannot be written: attempt to write a readonly '
        'database' % path)
