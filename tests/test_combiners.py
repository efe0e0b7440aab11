"""Combiners: a job's optional combine(key, values) runs as a lifted
CombinePerKey and never changes the job's output or counters."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to

from beam_jobs import demo_data
from beam_jobs import exp_jobs_one_off
from beam_jobs import job_contract
from beam_jobs import jobs
from beam_jobs import user_jobs_one_off
from models import exp_models
from pipelines import combiners
from pipelines import compiler
from pipelines import options as pipeline_options
from pipelines import stages
from tests import sample_jobs

SHIPPED_JOBS_WITH_COMBINERS = [
    user_jobs_one_off.UsernameLengthDistributionOneOffJob,
    user_jobs_one_off.EmailDomainCountOneOffJob,
    exp_jobs_one_off.InteractionCountOneOffJob,
]


def _pipeline(args=()) -> test_pipeline.TestPipeline:
    return test_pipeline.TestPipeline(
        runner=pipeline_options.local_runner(),
        options=pipeline_options.parse(list(args)))


def _spec(job_class, store_url, params=None):
    return job_contract.spec_of(job_class, None, store_url, 1, params)


def _run(job_class, shard_count, pipeline_args=(), params=None):
    job_id = job_class.create_new(pipeline_args=list(pipeline_args))
    job_class.enqueue(job_id, additional_job_params=params,
                      shard_count=shard_count)
    assert job_class.get_status_code(job_id) == 'completed', (
        job_class.get_error(job_id))
    run = job_class.get_run(job_id)
    return job_class.get_output(job_id), (
        run.models_read, run.values_emitted, run.output_lines)


@pytest.fixture
def demo_store(store):
    demo_data.seed(explorations=150, users=600, seed=3)
    return store


def test_shipped_count_jobs_declare_a_combiner():
    for job_class in SHIPPED_JOBS_WITH_COMBINERS:
        job_contract.check_job_class(job_class)
        assert _spec(job_class, 'unused.sqlite3').combine_fn is not None, (
            job_class.__name__)


@pytest.mark.parametrize('job_class', SHIPPED_JOBS_WITH_COMBINERS,
                         ids=lambda c: c.__name__)
def test_combiner_on_and_off_and_shards_give_identical_output(
        demo_store, job_class):
    baseline, counts = _run(job_class, 1, ['--disable_combiner'])
    assert baseline and counts[0] > 0 and counts[2] == len(baseline)
    for shard_count in (1, 7):
        for args in ([], ['--disable_combiner']):
            assert _run(job_class, shard_count, args) == (baseline, counts), (
                shard_count, args)


def test_combiner_matches_a_direct_count(demo_store):
    output, _ = _run(exp_jobs_one_off.InteractionCountOneOffJob, 4)
    expected: dict = {}
    for model in exp_models.ExplorationModel.get_all():
        for state in model.states.values():
            key = state['interaction']['id']
            expected[key] = expected.get(key, 0) + 1
    assert sorted(output) == sorted(
        '%s: %d' % item for item in expected.items())


def test_combiner_with_multi_processing_gives_the_same_output(demo_store):
    job_class = user_jobs_one_off.EmailDomainCountOneOffJob
    expected = _run(job_class, 1, ['--disable_combiner'])
    assert _run(job_class, 4, [
        '--direct_running_mode=multi_processing',
        '--direct_num_workers=2']) == expected


def test_the_compiled_pipeline_combines_only_when_asked(store):
    def labels(args):
        pipeline = beam.Pipeline(
            runner=pipeline_options.local_runner(),
            options=pipeline_options.parse(args))
        compiler.compile_job(pipeline, job_contract.spec_of(
            user_jobs_one_off.EmailDomainCountOneOffJob, 'j1', store.url, 2))
        return [t.full_label.split('/', 1)[1] for t in
                pipeline.transforms_stack[0].parts[0].parts]

    def without_error_sinks(steps):
        return [s for s in steps if not s.endswith('Errors')]

    assert without_error_sinks(labels([])) == [
        'ReadUserSettingsModel', 'Map', 'Combine', 'Reduce', 'WriteOutput']
    assert without_error_sinks(labels(['--disable_combiner'])) == [
        'ReadUserSettingsModel', 'Map', 'GroupByKey', 'Reduce',
        'WriteOutput']


def test_job_without_combiner_ignores_the_option(store):
    plain = _spec(sample_jobs.ShardedJob, store.url)
    counting = _spec(user_jobs_one_off.EmailDomainCountOneOffJob, store.url)
    assert plain.combine_fn is None
    assert not compiler.uses_combiner(plain, pipeline_options.parse([]))
    assert compiler.uses_combiner(counting, pipeline_options.parse([]))
    assert not compiler.uses_combiner(
        counting, pipeline_options.parse(['--disable_combiner']))


def test_combine_pairs_gives_each_key_its_combined_values(store):
    pairs = [('a', 1)] * 700 + [('b', 2)] * 3 + [('c', 5)]
    with _pipeline() as p:
        combined = (p | beam.Create(pairs) | combiners.CombinePairs(_spec(
            user_jobs_one_off.EmailDomainCountOneOffJob, store.url))
            | beam.MapTuple(lambda key, values: (key, sum(values))))
        assert_that(combined, equal_to([('a', 700), ('b', 6), ('c', 5)]))


def test_combine_that_keeps_every_value_still_gives_reduce_all_of_them(
        store):
    # 1000 values for one key pass the buffer size several times over: a
    # combine that does not shrink its input must lose nothing.
    pairs = [('k', 'v%04d' % n) for n in range(1000)]
    with _pipeline() as p:
        combined = (p | beam.Create(pairs) | combiners.CombinePairs(_spec(
            sample_jobs.KeepAllCombineJob, store.url, {'label': 'L'}))
            | beam.MapTuple(lambda key, values: (key, sorted(values))))
        assert_that(combined, equal_to(
            [('k', sorted('L' + v for _, v in pairs))]))


def test_combine_reads_job_params_and_output_matches_no_combiner(store):
    exp_models.ExplorationModel.put_multi([
        exp_models.ExplorationModel(id='e%03d' % n, init_state_name='A')
        for n in range(40)])
    job_class = sample_jobs.KeepAllCombineJob
    with_combiner = _run(job_class, 3, [], {'label': 'L'})
    without = _run(job_class, 3, ['--disable_combiner'], {'label': 'L'})
    assert with_combiner[0] == ["('all', 40)"]
    assert without[0] == ["('all', 40)"]


def test_a_key_whose_combine_raises_is_an_error_and_gets_no_reduce(store):
    # 300 values for '3' pass the buffer size: combine raises before the
    # last value arrives, and the values after it must not revive the key.
    pairs = ([('1', ('1', 1))] * 5 + [('3', ('3', 1))] * 300
             + [('7', ('7', 1))])
    job_class = sample_jobs.FailingCombineJob
    with _pipeline() as p:
        groups = (p | beam.Create(pairs) | combiners.CombinePairs(
            _spec(job_class, store.url), keyed_pairs=True))
        rows, errors = groups | stages.ReduceGroups(
            _spec(job_class, store.url))
        assert_that(rows, equal_to([
            ('31', 0, "('1', 5)"), ('37', 0, "('7', 1)")]))
        assert_that(errors | beam.Map(lambda e: e[:5]), equal_to([(
            'combine', 'FailingCombineJob', "'3'", 'ArithmeticError',
            'cannot add up 3')]), label='Errors')


@pytest.mark.parametrize('pipeline_args', [
    [], ['--direct_running_mode=multi_processing', '--direct_num_workers=2']],
    ids=['1', '2-workers'])
def test_a_run_whose_combine_raises_completes_with_the_keys_error(
        store, pipeline_args):
    exp_models.ExplorationModel.put_multi([
        exp_models.ExplorationModel(id='e%03d' % n, init_state_name='A')
        for n in range(40)])
    job_class = sample_jobs.FailingCombineJob
    job_id = job_class.create_new(pipeline_args=pipeline_args)
    job_class.enqueue(job_id, shard_count=3)
    assert job_class.get_status_code(job_id) == 'completed', (
        job_class.get_error(job_id))
    assert sorted(job_class.get_output(job_id)) == [
        "('%d', 4)" % n for n in range(10) if n != 3]
    [error] = job_class.get_errors(job_id)
    assert error[:5] == ('combine', 'FailingCombineJob', "'3'",
                         'ArithmeticError', 'cannot add up 3')
    # The traceback ends in the job's own combine.
    assert 'in combine' in error.traceback
    # With max_errors, the key's error fails the run, as a reduce's does.
    job_id = job_class.create_new(pipeline_args=pipeline_args, max_errors=0)
    job_class.enqueue(job_id, shard_count=3)
    assert job_class.get_status_code(job_id) == 'failed'
    assert 'more than max_errors=0' in job_class.get_error(job_id)


def test_combine_must_be_static():
    class NotStaticCombineJob(jobs.BaseMapReduceOneOffJobManager):
        @classmethod
        def entity_classes_to_map_over(cls):
            return [exp_models.ExplorationModel]

        @staticmethod
        def map(item):
            yield ('k', 1)

        def combine(self, key, values):
            yield sum(values)

        @staticmethod
        def reduce(key, values):
            yield key

    with pytest.raises(job_contract.JobContractError,
                       match='NotStaticCombineJob.combine must be a '
                       '@staticmethod'):
        job_contract.check_job_class(NotStaticCombineJob)
