"""A test kit for job authors, as a pytest plugin: in a project's own
tests, ``pytest_plugins = ['beam_jobs.testing']`` gives

- the fixture ``job_store``: a fresh SQLite store for the test, made the
  store of models, runs and worker processes, and dropped after it;
- ``run_job(job_class, models=(), params=None, pipeline_args=())``: stores
  the models, runs the job and returns its output lines, raising
  JobRunFailed with the run's error or its failed models and keys (unless
  ``return_errors=True``, which returns the lines and the errors);
- ``JobStages(job_class)``: the job's compiled map, group (or combine) and
  reduce as one Beam transform from models to output lines, for Beam's own
  assertions in a ``TestPipeline``;
- ``check_job_invariance(job_class, models)``: runs the job as several
  runs that must agree and fails with a readable diff where one does not.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from typing import Any, Iterable, Iterator, Mapping, Sequence

import apache_beam as beam
import pytest
from apache_beam.options import pipeline_options as beam_options
from apache_beam.testing import test_pipeline
from apache_beam.testing import util

from beam_jobs import job_contract
from beam_jobs import jobs
from models import base_models
from models import storage
from pipelines import combiners
from pipelines import mapper_context
from pipelines import options as pipeline_options
from pipelines import stages

MULTI_PROCESSING = ['--direct_running_mode=multi_processing',
                    '--direct_num_workers=2']


class JobRunFailed(AssertionError):
    """A run of run_job did not complete, or some of its models or keys
    failed; the message says which and why."""


@contextlib.contextmanager
def fresh_store() -> Iterator[storage.ModelStore]:
    """A new SQLite store in a folder of its own, made the store of models,
    runs and worker processes while open; the previous store after."""
    with tempfile.TemporaryDirectory(prefix='beam-jobs-') as folder:
        path = os.path.join(folder, 'store.sqlite3')
        saved = os.environ.get(storage.STORE_ENV_VAR)
        os.environ[storage.STORE_ENV_VAR] = path
        storage.set_default_store(path)
        try:
            yield storage.get_store()
        finally:
            storage.close_all_stores()
            storage.set_default_store(None)
            if saved is None:
                os.environ.pop(storage.STORE_ENV_VAR, None)
            else:
                os.environ[storage.STORE_ENV_VAR] = saved


@pytest.fixture
def job_store() -> Iterator[storage.ModelStore]:
    """A fresh SQLite store for one test (see fresh_store)."""
    with fresh_store() as store:
        yield store


def run_job(job_class: type,
            models: Iterable[base_models.BaseModel] = (),
            params: Mapping[str, Any] | None = None,
            pipeline_args: Sequence[str] = (),
            shard_count: int | None = None,
            return_errors: bool = False) -> Any:
    """Stores models, runs job_class over the store to its end and returns
    its output lines; with return_errors, (lines, error records).

    Raises JobRunFailed, with the run's error, if it did not complete, or,
    unless return_errors, with its failed models and keys if it has any.
    """
    models = list(models)
    if models:
        base_models.BaseModel.put_multi(models)
    job_id = job_class.create_new(pipeline_args=list(pipeline_args))
    if shard_count is None:
        job_class.enqueue(job_id, additional_job_params=params)
    else:
        # The base's enqueue: a job's own override may not take a shard
        # count (it sets its own, as the old framework's jobs did).
        jobs.BaseMapReduceJobManager.enqueue.__func__(
            job_class, job_id, params, shard_count)
    state = job_class.get_status_code(job_id)
    if state != 'completed':
        raise JobRunFailed('%s %s: %s' % (
            job_class.__name__, state, job_class.get_error(job_id)))
    lines = job_class.get_output_lines(job_id)
    found_errors = job_class.get_errors(job_id)
    if return_errors:
        return lines, found_errors
    if found_errors:
        raise JobRunFailed('%s completed with %d failed models or keys:\n%s'
                           % (job_class.__name__, len(found_errors),
                              '\n'.join('  %s %s %s: %s: %s' % (
                                  e.stage, e.kind, e.entity, e.error_type,
                                  e.message) for e in found_errors)))
    return lines


class JobStages(beam.PTransform):
    """The job's map, group (or combine, unless combine=False) and reduce,
    as compiled for a run, from a PCollection of models to the job's
    output lines: for ``assert_that`` in a TestPipeline. A model or key
    that fails fails the pipeline, naming it."""

    def __init__(self, job_class: type,
                 params: Mapping[str, Any] | None = None,
                 combine: bool = True) -> None:
        super().__init__()
        self._spec = job_contract.spec_of(
            job_class, None, storage.default_store_url(), 1, params)
        self._combine = combine and self._spec.combine_fn is not None

    def expand(self, models: beam.PCollection) -> beam.PCollection:
        pairs, map_errors = models | 'Map' >> stages.MapModels(
            self._spec, keep_key=self._combine)
        if self._combine:
            groups = pairs | 'Combine' >> combiners.CombinePairs(
                self._spec, keyed_pairs=True)
        else:
            groups = pairs | 'GroupByKey' >> beam.GroupByKey()
        rows, reduce_errors = groups | 'Reduce' >> stages.ReduceGroups(
            self._spec)
        _ = ((map_errors, reduce_errors) | 'Errors' >> beam.Flatten()
             | 'RaiseErrors' >> beam.Map(_raise_error))
        return rows | 'Lines' >> beam.Map(lambda row: row[2])


def _raise_error(record: storage.JobErrorRecord) -> None:
    raise JobRunFailed('%s %s %s: %s: %s' % (
        record.stage, record.kind, record.entity, record.error_type,
        record.message))


def check_job_invariance(job_class: type,
                         models: Iterable[base_models.BaseModel],
                         params: Mapping[str, Any] | None = None) -> None:
    """Runs job_class over the same models, each time from a fresh store,
    as runs that must give the same output: one shard, several shards, the
    combiner off (for a job with one), on two worker processes, and the
    models handed to map in two other orders (in memory); and, for a job
    with a combine, reduce of each key's values against reduce of their
    halves combined. Raises AssertionError with a readable diff for the
    first that differs: an invalid combiner (a mean, a count of values) or
    a reduce that depends on the order of its values shows this way."""
    models = list(models)
    has_combiner = job_contract.spec_of(
        job_class, None, 'unused.sqlite3', 1).combine_fn is not None
    runs: list[tuple[str, Any]] = [
        ('with 1 shard in one process', dict(shard_count=1)),
        ('with 7 shards', dict(shard_count=7)),
        ('on 2 worker processes', dict(shard_count=4,
                                       pipeline_args=MULTI_PROCESSING)),
    ]
    if has_combiner:
        runs.insert(2, ('with the combiner off', dict(
            shard_count=4, pipeline_args=['--disable_combiner'])))
    first_name, first = None, None
    for name, how in runs:
        with fresh_store():
            lines = sorted(run_job(job_class, _copies(models), params,
                                   **how))
        if first is None:
            first_name, first = name, lines
        else:
            _require_same(job_class, first_name, first, name, lines)
    if has_combiner:
        with fresh_store():
            _check_combiner(job_class, _copies(models), params)
    shuffled = _copies(models)
    random.Random(0).shuffle(shuffled)
    for name, ordered in (('with the models in reverse order',
                           _copies(models)[::-1]),
                          ('with the models shuffled', shuffled)):
        with fresh_store():
            _check_in_memory(job_class, ordered, params, first_name, first,
                             name)


def _check_combiner(job_class: type, models: list[base_models.BaseModel],
                    params: Mapping[str, Any] | None) -> None:
    """Requires reduce to give the same lines for each key whether its
    values come as map yielded them or as combine yielded them for two
    halves of them, and for those again: what a runner may do with any
    split. Called directly, without Beam, so that no split is left to
    chance."""
    spec = job_contract.spec_of(
        job_class, None, storage.default_store_url(), 1, params)
    token = mapper_context.activate(spec.job_name, dict(spec.params))
    try:
        values_by_key: dict[Any, list[Any]] = {}
        for model in models:
            for key, value in spec.map_fn(model) or ():
                values_by_key.setdefault(key, []).append(value)
        for key, values in sorted(values_by_key.items(), key=repr):
            if len(values) < 2:
                continue
            half = len(values) // 2

            def combined(part: list[Any]) -> list[Any]:
                return list(spec.combine_fn(key, list(part)) or ())

            def lines(part: list[Any]) -> list[str]:
                return sorted(str(line) for line in
                              spec.reduce_fn(key, list(part)) or ())

            once = combined(values[:half]) + combined(values[half:])
            for name, part in (
                    ('combined in two halves', once),
                    ('combined in two halves, then again',
                     combined(once))):
                if lines(part) != lines(values):
                    _require_same(job_class, 'its values as map yielded '
                                  'them (key %r)' % (key,), lines(values),
                                  'with its values ' + name, lines(part))
    finally:
        mapper_context.deactivate(token)


def _copies(models: Sequence[base_models.BaseModel]
            ) -> list[base_models.BaseModel]:
    """Fresh copies of models: a run's put() changes the ones it stores."""
    return [type(m).from_stored(m.id, m.to_dict()) for m in models]


def _check_in_memory(job_class: type, models: list[base_models.BaseModel],
                     params: Mapping[str, Any] | None, first_name: str,
                     first: list[str], name: str) -> None:
    """Runs the job over models handed to map in the order given, in one
    bundle (so that GroupByKey keeps that order in each key's values), and
    requires the output first, as _require_same does."""
    pipeline = test_pipeline.TestPipeline(
        runner=pipeline_options.local_runner(),
        options=beam_options.PipelineOptions([]))
    lines = (pipeline
             | beam.Create(models, reshuffle=False)
             | JobStages(job_class, params, combine=False))

    def same_as_first(found: list[str]) -> None:
        _require_same(job_class, first_name, first, name, sorted(found))

    util.assert_that(lines, same_as_first)
    try:
        pipeline.run().wait_until_finish()
    except Exception as e:  # Beam wraps what the check raised.
        message = str(e)
        start = message.find(job_class.__name__ + ' gives other output')
        if start < 0:
            raise
        raise AssertionError(
            message[start:].split(" [while running")[0]) from None


def _require_same(job_class: type, first_name: str, first: list[str],
                  name: str, lines: list[str]) -> None:
    if lines == first:
        return
    only_first = [line for line in first if line not in lines]
    only_here = [line for line in lines if line not in first]
    raise AssertionError(
        '%s gives other output %s than %s:\n%s\n%s' % (
            job_class.__name__, name, first_name,
            '\n'.join('  - %s' % line for line in only_first[:20]) or
            '  (the same lines, a different number of times)',
            '\n'.join('  + %s' % line for line in only_here[:20])))
