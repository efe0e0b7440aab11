"""The test kit job authors import (beam_jobs.testing), used as they would
use it: as a pytest plugin, from a test module of their own."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to

from beam_jobs import demo_data
from beam_jobs import exp_jobs_one_off
from beam_jobs import jobs
from beam_jobs import testing
from beam_jobs import user_jobs_one_off
from models import user_models
from pipelines import options as pipeline_options

pytest_plugins = ['beam_jobs.testing']

User = user_models.UserSettingsModel
Domains = user_jobs_one_off.EmailDomainCountOneOffJob


# Two tests in a row, each on the plugin's store: the second sees only
# its own models.
def test_job_store_first(job_store):
    assert testing.run_job(Domains, [User(email='a@x.org'),
                                     User(email='b@x.org')]) == ['x.org: 2']


def test_job_store_second(job_store):
    assert testing.run_job(Domains, [User(email='c@y.org')]) == ['y.org: 1']


def test_run_job_raises_with_the_failed_models_unless_asked(job_store):
    class BadUsersJob(jobs.BaseMapReduceOneOffJobManager):
        @classmethod
        def entity_classes_to_map_over(cls):
            return [User]

        @staticmethod
        def map(item):
            if item.email.startswith('bad'):
                raise ValueError('cannot read %s' % item.email)
            yield ('good', 1)

        @staticmethod
        def reduce(key, values):
            yield (key, len(values))

    models = [User(id='u1', email='ok@x.org'), User(id='u2', email='bad@x')]
    with pytest.raises(testing.JobRunFailed,
                       match=r"BadUsersJob completed with 1 failed models or "
                       r"keys:\n  map UserSettingsModel u2: ValueError: "
                       r"cannot read bad@x"):
        testing.run_job(BadUsersJob, models)
    lines, errors = testing.run_job(BadUsersJob, return_errors=True)
    assert lines == ["('good', 1)"]
    assert [(e.stage, e.entity) for e in errors] == [('map', 'u2')]


def test_job_stages_take_beams_own_assertions():
    users = [User(email='a@x.org'), User(email='b@x.org'),
             User(email='c@y.org')]
    with beam.Pipeline(runner=pipeline_options.local_runner()) as p:
        lines = p | beam.Create(users) | testing.JobStages(Domains)
        assert_that(lines, equal_to(['x.org: 2', 'y.org: 1']))


@pytest.mark.parametrize('job_class, models, params', [
    (exp_jobs_one_off.InteractionAuditOneOffJob, 'explorations', None),
    (exp_jobs_one_off.ExplorationStatesAuditOneOffJob, 'explorations', None),
    (exp_jobs_one_off.InteractionCountOneOffJob, 'explorations', None),
    (user_jobs_one_off.UsernameLengthDistributionOneOffJob, 'users', None),
    (user_jobs_one_off.EmailDomainCountOneOffJob, 'users', None),
    (user_jobs_one_off.InactiveUsersOneOffJob, 'users',
     {'cutoff_date': '2023-06-01'}),
], ids=lambda value: getattr(value, '__name__', None))
def test_every_shipped_job_is_invariant(job_class, models, params):
    made = ([demo_data.make_exploration(i) for i in range(30)]
            if models == 'explorations'
            else [demo_data.make_user(i) for i in range(60)])
    testing.check_job_invariance(job_class, made, params)


class MeanCombinerJob(jobs.BaseMapReduceOneOffJobManager):
    """A mean in its combiner: right in one bundle only."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [User]

    @staticmethod
    def map(item):
        yield (item.email.rpartition('@')[2], len(item.email))

    @staticmethod
    def combine(key, values):
        yield sum(values) / len(values)

    @staticmethod
    def reduce(key, values):
        yield (key, round(sum(values) / len(values), 6))


class CountOfValuesJob(jobs.BaseMapReduceOneOffJobManager):
    """Counts values in reduce while its combiner sums them."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [User]

    @staticmethod
    def map(item):
        yield (item.email.rpartition('@')[2], 1)

    @staticmethod
    def combine(key, values):
        yield sum(values)

    @staticmethod
    def reduce(key, values):
        yield (key, len(values))


class FirstValueJob(jobs.BaseMapReduceOneOffJobManager):
    """Keeps the first value reduce gets: depends on the values' order."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [User]

    @staticmethod
    def map(item):
        yield (item.email.rpartition('@')[2], item.email)

    @staticmethod
    def reduce(key, values):
        yield (key, values[0])


def _users_of_three_domains():
    return [User(id='u%02d' % n, email='%s@%s.org' % ('x' * (1 + n % 5),
                                                    'abc'[n % 3]))
            for n in range(40)]


@pytest.mark.parametrize('job_class', [
    MeanCombinerJob, CountOfValuesJob, FirstValueJob,
], ids=['mean-in-combiner', 'count-of-values', 'order-dependent-reduce'])
def test_invariance_check_catches_each_kind_of_mistake(job_class):
    # Which run differs first can vary (how the values fall into bundles);
    # one always does: the reversed order, if no other.
    with pytest.raises(AssertionError) as raised:
        testing.check_job_invariance(job_class, _users_of_three_domains())
    assert str(raised.value).startswith(
        '%s gives other output ' % job_class.__name__), str(raised.value)
    assert 'than with 1 shard in one process:' in str(raised.value)
    assert '\n  - ' in str(raised.value) and '\n  + ' in str(raised.value)
