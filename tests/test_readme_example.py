"""The README's *Testing a job* example, as a job author would write it,
with the test kit (beam_jobs.testing): a shipped job run end to end on a
fresh SQLite store of the test's own, checked for invariance, and its map
called directly. The README shows the rest of this file verbatim
(tests/test_readme.py checks): change both together.
"""

from beam_jobs import testing
from beam_jobs import user_jobs_one_off
from models import user_models

pytest_plugins = ['beam_jobs.testing']

Job = user_jobs_one_off.EmailDomainCountOneOffJob
User = user_models.UserSettingsModel


def test_counts_active_users_by_email_domain(job_store):
    # run_job fails the test if the run fails or a model fails in map.
    assert testing.run_job(Job, [
        User(email='ann@Example.com'), User(email='bob@example.com'),
        User(email='cy@test.org'), User(email='dee@test.org', deleted=True),
    ]) == ['example.com: 2', 'test.org: 1']


def test_gives_the_same_output_however_it_runs():
    # 1 or 7 shards, combiner on or off, 1 or 2 processes, any order.
    testing.check_job_invariance(Job, [
        User(email='u%d@%s.org' % (n, 'abc'[n % 3])) for n in range(30)])


def test_map_skips_deleted_users():
    user = User(email='ann@example.com')
    assert list(Job.map(user)) == [('example.com', 1)]
    user.deleted = True
    assert list(Job.map(user)) == []
