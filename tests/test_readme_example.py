"""The README's *Testing a job* example, as a job author would write it: a
shipped job run end to end on a fresh SQLite store of the test's own, and
its map called directly. The README shows the rest of this file verbatim
(tests/test_readme.py checks): change both together.
"""

import pytest

from beam_jobs import user_jobs_one_off
from models import storage
from models import user_models

Job = user_jobs_one_off.EmailDomainCountOneOffJob


@pytest.fixture
def store(tmp_path, monkeypatch):
    # Models, runs and output go to a fresh file; the environment variable
    # (not set_default_store) also reaches worker processes.
    monkeypatch.setenv(storage.STORE_ENV_VAR, str(tmp_path / 'store.sqlite3'))
    yield
    storage.close_all_stores()


def run(job_class, pipeline_args=()):
    # max_errors=0: a model that map fails on fails the run; by default the
    # run would complete, with that model recorded as an error.
    job_id = job_class.create_new(
        pipeline_args=list(pipeline_args), max_errors=0)
    job_class.enqueue(job_id)
    assert job_class.get_status_code(job_id) == 'completed', (
        job_class.get_error(job_id))
    return job_class.get_output(job_id)


def test_counts_active_users_by_email_domain(store):
    user_models.UserSettingsModel.put_multi([
        user_models.UserSettingsModel(id='u1', email='ann@Example.com'),
        user_models.UserSettingsModel(id='u2', email='bob@example.com'),
        user_models.UserSettingsModel(id='u3', email='cy@test.org'),
        user_models.UserSettingsModel(
            id='u4', email='dee@test.org', deleted=True),
    ])
    assert run(Job) == ['example.com: 2', 'test.org: 1']
    # The same output without the combiner, and on two worker processes.
    assert run(Job, ['--disable_combiner']) == run(Job, [
        '--direct_running_mode=multi_processing', '--direct_num_workers=2'])


def test_map_skips_deleted_users():
    user = user_models.UserSettingsModel(email='ann@example.com')
    assert list(Job.map(user)) == [('example.com', 1)]
    user.deleted = True
    assert list(Job.map(user)) == []
