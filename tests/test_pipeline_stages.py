"""Each pipeline stage on its own, with TestPipeline and assert_that."""

from __future__ import annotations

import weakref

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.typehints import batch as beam_batch
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to

from beam_jobs import exp_jobs_one_off
from beam_jobs import job_contract
from models import exp_models
from models import storage
from pipelines import compiler
from pipelines import model_batches
from pipelines import options as pipeline_options
from pipelines import run_control
from pipelines import sqlite_io
from pipelines import stages
from tests import sample_jobs


def _pipeline() -> test_pipeline.TestPipeline:
    return test_pipeline.TestPipeline(runner=pipeline_options.local_runner())


def _spec(job_class: type, store_url: str, params: dict | None = None,
          job_id: str | None = None) -> compiler.JobSpec:
    return job_contract.spec_of(job_class, job_id, store_url, 1, params)


def _put_explorations(count: int, deleted: frozenset[int] = frozenset()
                      ) -> list[str]:
    ids = ['exp-%03d' % i for i in range(count)]
    exp_models.ExplorationModel.put_multi([
        exp_models.ExplorationModel(
            id=i, init_state_name='Intro', deleted=n in deleted,
            states={'Intro': {'interaction': {'id': 'TextInput'}},
                    'End': {'interaction': {'id': 'EndExploration'}}})
        for n, i in enumerate(ids)])
    return ids


@pytest.mark.parametrize('count, splits', [(0, 4), (3, 8), (250, 7)])
def test_split_key_ranges_gives_exactly_num_splits_covering_ranges(
        store, count, splits):
    ids = _put_explorations(count)
    ranges = sqlite_io.split_key_ranges(store, 'ExplorationModel', splits)
    assert len(ranges) == splits
    covered = [i for r in ranges if not (r.start == r.end and r.start)
               for i, _ in store.scan(r.kind, r.start, r.end)]
    assert covered == ids  # Every model once, none twice.


@pytest.mark.parametrize('splits', [1, 3, 16])
def test_read_models_reads_every_model_once(store, splits):
    ids = _put_explorations(40, deleted=frozenset({3}))
    with _pipeline() as p:
        models, errors = p | sqlite_io.ReadModels(
            exp_models.ExplorationModel, store.url, splits)
        read = models | beam.Map(lambda m: (m.id, m.deleted))
        assert_that(read, equal_to([(i, i == 'exp-003') for i in ids]))
        assert_that(errors, equal_to([]), label='NoErrors')


def test_read_models_sends_bad_rows_to_errors_and_reads_the_rest(store):
    ids = _put_explorations(6)
    store.put('ExplorationModel', [('exp-002', {'title': 7,
                                                'init_state_name': 'A'})])
    with store._write() as conn:  # A row corrupted outside the framework.
        conn.execute("UPDATE models SET data = '{broken' WHERE id = ?",
                     ('exp-004',))
    with _pipeline() as p:
        models, errors = p | sqlite_io.ReadModels(
            exp_models.ExplorationModel, store.url, 2)
        assert_that(models | beam.Map(lambda m: m.id), equal_to(
            [i for i in ids if i not in ('exp-002', 'exp-004')]))
        assert_that(errors | beam.Map(lambda e: (
            e.stage, e.kind, e.entity, e.error_type)), equal_to([
                ('read', 'ExplorationModel', 'exp-002', 'ModelDataError'),
                ('read', 'ExplorationModel', 'exp-004', 'ModelDataError')]),
            label='Errors')


class _BatchSizesFn(beam.DoFn):
    """Gives the size of each batch of models it is handed."""

    def get_input_batch_type(self, input_element_type):
        return model_batches.ModelBatch

    @beam.DoFn.yields_elements
    def process_batch(self, models):
        return [len(models)]


def test_read_hands_models_on_in_batches(store, monkeypatch):
    monkeypatch.setattr(sqlite_io, 'MODEL_BATCH_SIZE', 4)
    _put_explorations(11)
    with _pipeline() as p:
        models, _ = p | sqlite_io.ReadModels(
            exp_models.ExplorationModel, store.url, 1)
        sizes = models | beam.ParDo(_BatchSizesFn())
        assert_that(sizes, equal_to([4, 4, 3]))


def test_a_batch_of_models_ends_at_its_stored_size_limit(store, monkeypatch):
    # Large models are handed on a few at a time (see MODEL_BATCH_BYTES).
    _put_explorations(5)
    size = len(next(store.scan('ExplorationModel'))[1])
    monkeypatch.setattr(sqlite_io, 'MODEL_BATCH_BYTES', 2 * size)
    with _pipeline() as p:
        models, _ = p | sqlite_io.ReadModels(
            exp_models.ExplorationModel, store.url, 1)
        sizes = models | beam.ParDo(_BatchSizesFn())
        assert_that(sizes, equal_to([2, 2, 1]))


def test_the_read_lets_go_of_a_batch_before_it_reads_the_next(
        store, monkeypatch):
    # Beam holds the batch a DoFn yielded until the DoFn yields its next
    # one: the read empties each batch once it has been handed on, so that
    # its models are freed while they are still in the CPU's caches, and a
    # run holds one batch of models at a time, not two.
    monkeypatch.setattr(sqlite_io, 'MODEL_BATCH_SIZE', 3)
    _put_explorations(9)
    built: list[weakref.ref] = []
    alive_when_built: list[int] = []
    from_stored = exp_models.ExplorationModel.from_stored.__func__

    def counting_from_stored(cls, model_id, payload):
        alive_when_built.append(sum(1 for ref in built if ref() is not None))
        model = from_stored(cls, model_id, payload)
        built.append(weakref.ref(model))
        return model

    monkeypatch.setattr(exp_models.ExplorationModel, 'from_stored',
                        classmethod(counting_from_stored))
    with _pipeline() as p:
        models, _ = p | sqlite_io.ReadModels(
            exp_models.ExplorationModel, store.url, 1)
        sizes = models | beam.ParDo(_BatchSizesFn())
        assert_that(sizes, equal_to([3, 3, 3]))
    assert alive_when_built == [0, 1, 2, 0, 1, 2, 0, 1, 2]


def test_model_batches_report_their_stored_size_to_beam():
    converter = beam_batch.BatchConverter.from_typehints(
        element_type=exp_models.ExplorationModel,
        batch_type=model_batches.ModelBatch)
    first = model_batches.ModelBatch(['a', 'b'], stored_bytes=300)
    second = model_batches.ModelBatch(['c'], stored_bytes=100)
    combined = converter.combine_batches([first, second])
    assert (list(combined), converter.estimate_byte_size(combined)) == (
        ['a', 'b', 'c'], 400)
    assert converter.get_length(combined) == 3
    # A batch Beam builds from elements (or a plain list of the read's
    # errors) has no stored size: it is estimated from one element.
    assert converter.estimate_byte_size(
        converter.produce_batch(['xyz', 'xyz'])) > 0


def test_a_canceled_read_stops_in_a_range_of_bad_rows(store):
    # No model of the range is valid, so no batch is ever handed on: the
    # read itself must notice the cancel.
    _put_explorations(3)
    with store._write() as conn:
        conn.execute("UPDATE models SET data = '{broken'")
    store.insert_run({'job_id': 'j1', 'job_type': 'T', 'state': 'canceled'})
    with pytest.raises(Exception, match='job j1 was canceled'):
        with _pipeline() as p:
            _ = p | sqlite_io.ReadModels(
                exp_models.ExplorationModel, store.url, 1, job_id='j1')


def test_the_read_adds_the_models_it_read_to_a_started_runs_progress(
        store, monkeypatch):
    # Every check reads the run (no interval), so each batch is reported.
    monkeypatch.setattr(run_control, 'CHECK_INTERVAL_SECONDS', 0)
    monkeypatch.setattr(sqlite_io, 'MODEL_BATCH_SIZE', 2)
    _put_explorations(5)
    store.insert_run({'job_id': 'j1', 'job_type': 'T', 'state': 'started',
                      'models_read': None})
    with _pipeline() as p:
        _ = p | sqlite_io.ReadModels(
            exp_models.ExplorationModel, store.url, 1, job_id='j1')
    assert store.get_run('j1')['models_read'] == 5


def test_a_run_watch_reports_progress_only_when_it_reads_the_run(store):
    store.insert_run({'job_id': 'j1', 'job_type': 'T', 'state': 'started'})
    watch = run_control.RunWatch(store.url, 'j1', interval=3600)
    watch.check(models_read=10)  # The first check reads the run.
    watch.check(models_read=5)  # Within the interval: nothing written.
    assert store.get_run('j1')['models_read'] == 10


def test_map_stage_yields_the_jobs_pairs(store):
    models = [exp_models.ExplorationModel.from_stored(
        'e1', {'init_state_name': 'A', 'states': {
            'A': {'interaction': {'id': 'TextInput'}},
            'B': {'interaction': {'id': 'Continue'}}}})]
    with _pipeline() as p:
        pairs, _ = (p | beam.Create(models) | stages.MapModels(_spec(
            exp_jobs_one_off.InteractionAuditOneOffJob, store.url)))
        assert_that(pairs, equal_to(
            [('TextInput', 'e1 A'), ('Continue', 'e1 B')]))


def test_map_stage_makes_params_readable_in_map(store):
    models = [exp_models.ExplorationModel(id='e1', init_state_name='A')]
    with _pipeline() as p:
        pairs, _ = (p | beam.Create(models) | stages.MapModels(_spec(
            sample_jobs.ParamJob, store.url, {'label': 'L'})))
        assert_that(pairs, equal_to([('L', 'e1')]))


def test_map_stage_sends_values_that_are_not_pairs_to_errors(store):
    models = [exp_models.ExplorationModel(id='e1', init_state_name='A')]
    with _pipeline() as p:
        pairs, errors = (p | beam.Create(models) | stages.MapModels(_spec(
            sample_jobs.NotAPairJob, store.url)))
        assert_that(pairs, equal_to([]))
        assert_that(errors | beam.Map(lambda e: e[:5]), equal_to([(
            'map', 'ExplorationModel', 'e1', 'MapError',
            "NotAPairJob.map(ExplorationModel 'e1') yielded 'e1'; map must "
            "yield (key, value) pairs")]), label='Errors')


def test_map_stage_sends_none_of_a_models_pairs_if_one_is_bad(store):
    _put_explorations(3)
    with _pipeline() as p:
        models, _ = p | sqlite_io.ReadModels(
            exp_models.ExplorationModel, store.url, 1)
        pairs, errors = models | stages.MapModels(_spec(
            sample_jobs.PairThenNotAPairJob, store.url))
        assert_that(pairs, equal_to([('exp-000', 1), ('exp-002', 1)]))
        assert_that(errors | beam.Map(lambda e: (e.entity, e.error_type)),
                    equal_to([('exp-001', 'MapError')]), label='Errors')


class _CancelsAtE1Job(sample_jobs.ParamJob):
    """Cancels run j1 from inside its map, at model e1."""

    mapped: list[str] = []

    @staticmethod
    def map(item):
        _CancelsAtE1Job.mapped.append(item.id)
        if item.id == 'e1':
            storage.get_store().update_run('j1', {'state': 'canceled'})
        yield ('k', item.id)


def test_map_checks_for_a_cancel_before_each_model_of_a_first_batch(store):
    # Until a batch shows that maps are fast, a cancel must not wait for
    # the rest of the batch: a slow map would make that wait long.
    store.insert_run({'job_id': 'j1', 'job_type': 'T', 'state': 'started'})
    models = [exp_models.ExplorationModel(id='e%d' % i, init_state_name='A')
              for i in range(4)]
    fn = stages._MapFn(_spec(_CancelsAtE1Job, store.url, job_id='j1'))
    fn._watch = run_control.RunWatch(store.url, 'j1', interval=0)
    fn.setup()
    fn.start_bundle()
    _CancelsAtE1Job.mapped = []
    with pytest.raises(run_control.RunCanceledError):
        fn.process_batch(model_batches.ModelBatch(models))
    assert _CancelsAtE1Job.mapped == ['e0', 'e1']


def test_reduce_stage_gives_values_as_a_list_and_stringifies_output(store):
    groups = [('TextInput', iter(['e1 A', 'e2 A'])), ('Continue', ['e1 B'])]
    with _pipeline() as p:
        rows, _ = (p | beam.Create(groups, reshuffle=False)
                   | stages.ReduceGroups(_spec(
            exp_jobs_one_off.InteractionAuditOneOffJob, store.url)))
        assert_that(rows, equal_to([
            ('3TextInput', 0, "('TextInput', ['e1 A', 'e2 A'])"),
            ('3Continue', 0, "('Continue', ['e1 B'])")]))


def test_reduce_stage_sends_a_failing_keys_lines_to_errors_not_output(
        store):
    groups = [('1', ['e1']), ('3', ['e3', 'f3'])]
    with _pipeline() as p:
        rows, errors = (p | beam.Create(groups, reshuffle=False)
                        | stages.ReduceGroups(_spec(
            sample_jobs.FailingReduceJob, store.url)))
        assert_that(rows, equal_to([('31', 0, "('1', 1)")]))
        assert_that(errors | beam.Map(lambda e: e[:5]), equal_to([(
            'reduce', 'FailingReduceJob', "'3'", 'KeyError',
            "'no total for 3'")]), label='Errors')


def test_a_canceled_reduce_stops_the_pipeline_instead_of_erring(store):
    store.insert_run({'job_id': 'j1', 'job_type': 'T', 'state': 'canceled'})
    with pytest.raises(Exception, match='job j1 was canceled'):
        with _pipeline() as p:
            _ = (p | beam.Create([('k', [1])], reshuffle=False)
                 | stages.ReduceGroups(_spec(
            exp_jobs_one_off.InteractionAuditOneOffJob, store.url, job_id='j1')))


def test_write_job_output_stores_rows(store):
    rows = [("'k%d'" % (n % 3), n, 'line %d' % n) for n in range(1200)]
    with _pipeline() as p:
        _ = p | beam.Create(rows) | sqlite_io.WriteJobOutput(store.url, 'j1')
    assert store.count_output('j1') == 1200
    assert sorted(store.read_output('j1')) == sorted(r[2] for r in rows)


def test_compiled_job_step_labels_carry_the_job_name(store):
    pipeline = beam.Pipeline(runner=pipeline_options.local_runner())
    compiler.compile_job(pipeline, job_contract.spec_of(
        sample_jobs.CountByKindJob, 'j1', store.url, 2))
    labels = [t.full_label for t in
              pipeline.transforms_stack[0].parts[0].parts]
    assert labels == sample_jobs.COUNT_BY_KIND_STEPS
