"""The stages that wrap a job's own code: map over models, reduce per key,
and turning what reduce yields into output rows.

A model whose map raises (or yields something that cannot cross the
shuffle), or a key whose reduce raises, becomes an error record and the rest
of the job goes on. Each stage returns (results, error records); both make
their error records themselves, as Beam's with_exception_handling() would
make its dead letters (see _MapFn._error).
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterable

import apache_beam as beam
from apache_beam import coders

from models import base_models
from models import dry_run
from models import storage
from pipelines import combiners
from pipelines import errors
from pipelines import job_spec
from pipelines import mapper_context
from pipelines import metrics
from pipelines import model_batches
from pipelines import output_order
from pipelines import run_control

# How often map is re-run, on a fresh copy of its model, when a put() in it
# finds the model changed by another writer since it was read.
MAX_CONFLICT_RETRIES = 5

# Values of these types always have a deterministic encoding and pickle,
# as do ASCII strings (any other string is checked: one with a lone
# surrogate has no UTF-8 encoding); anything else is checked before it is
# handed to the shuffle.
_SIMPLE_TYPES = frozenset({int, float, bool, type(None), bytes})


def _is_simple(value: Any) -> bool:
    """Whether value surely crosses the shuffle: a value of _SIMPLE_TYPES,
    an ASCII string, or a tuple of those (a common key). Cheaper to check
    than to encode."""
    kind = type(value)
    if kind in _SIMPLE_TYPES:
        return True
    if kind is str:
        return value.isascii()
    if kind is not tuple:
        return False
    for item in value:
        kind = type(item)
        if not (kind in _SIMPLE_TYPES or (kind is str and item.isascii())):
            return False
    return True


def _encodes_as_text(line: str) -> bool:
    """Whether a store can keep line: it has a UTF-8 encoding."""
    if line.isascii():
        return True
    try:
        line.encode('utf-8')
    except UnicodeEncodeError:
        return False
    return True


class MapError(TypeError):
    """A job's map yielded something the framework cannot group."""


class ReduceError(TypeError):
    """A job's reduce yielded something the framework cannot store."""


class _JobCodeFn(beam.DoFn):
    """Runs job code with the run's parameters and store active, in
    whichever process the element lands in.

    Failures go to the ERRORS output as JobErrorRecords. A subclass adds to
    _counted_in_bundle what its counter counts; the sum goes to the counter
    once per bundle, rather than a call into Beam's metrics per element.
    """

    ERRORS = 'errors'

    def __init__(self, spec: job_spec.JobSpec, counter_name: str) -> None:
        self._job_name = spec.job_name
        self._active = (spec.job_name, dict(spec.params))
        self._store_url = storage.normalize_store_url(spec.store_url)
        # A run with no job id (a stage used on its own) is never canceled.
        self._watch = run_control.watch_of(self._store_url, spec.job_id)
        # In a dry run, the run whose job code's writes are recorded, by a
        # recorder made in the process that runs the code.
        self._dry_run_of = spec.job_id if spec.dry_run else None
        self._recorder: dry_run.Recorder | None = None
        self._counter = metrics.counter(counter_name)
        self._counted_in_bundle = 0

    def start_bundle(self) -> None:
        self._counted_in_bundle = 0

    def finish_bundle(self) -> None:
        if self._counted_in_bundle:
            self._counter.inc(self._counted_in_bundle)
            self._counted_in_bundle = 0

    def _enter_job_code(self) -> tuple[Any, ...]:
        """Makes the run's parameters, its store and, in a dry run, its
        recorder of writes active for the job code about to be called;
        _leave_job_code undoes it, in a finally, so that nothing of the run
        stays active in the thread after a call that raised. Once per batch
        of models (or per key), not per model: a context switch per model
        is a visible share of a run over small models. Models that job
        code reads or puts so use the run's store, also in worker
        processes that never saw the launcher's settings, and the
        process's own default store is left as it is."""
        tokens = [mapper_context.activate(*self._active),
                  storage.activate_run_store(self._store_url)]
        if self._dry_run_of is not None:
            if self._recorder is None:
                self._recorder = dry_run.Recorder(
                    self._store_url, self._dry_run_of,
                    metrics.count_dry_run_write)
            tokens.append(dry_run.activate(self._recorder))
        return tuple(tokens)

    def _leave_job_code(self, tokens: tuple[Any, ...]) -> None:
        if len(tokens) == 3:
            dry_run.deactivate(tokens[2])
        storage.deactivate_run_store(tokens[1])
        mapper_context.deactivate(tokens[0])


class _MapFn(_JobCodeFn):
    """Calls the job's map on each model, checking what it yields.

    Takes each of the read's ModelBatches in one call (process_batch, a
    Beam batched DoFn), and single models from any other source (process).
    """

    def __init__(self, spec: job_spec.JobSpec,
                 keep_key: bool = False) -> None:
        super().__init__(spec, metrics.VALUES_EMITTED)
        self._map = (_stringified(spec.map_fn) if spec.old_strings
                     else spec.map_fn)
        self._keep_key = keep_key
        # The watch is checked before each batch of models, and before each
        # model while maps are slow (see process_batch).
        self._check_each_model = True
        self._key_coder: coders.Coder | None = None
        self._value_coder: coders.Coder | None = None

    def setup(self) -> None:
        super().setup()
        # The coders GroupByKey will use: checking with them here turns a
        # deep runner error into this model's error.
        self._value_coder = coders.FastPrimitivesCoder()
        self._key_coder = self._value_coder.as_deterministic_coder(
            '%s/Map' % self._job_name)

    def start_bundle(self) -> None:
        super().start_bundle()
        self._check_each_model = True  # Until a batch shows maps are fast.

    def get_input_batch_type(self, input_element_type: Any) -> Any:
        return model_batches.ModelBatch

    def process(self, model: base_models.BaseModel) -> list[Any]:
        return self.process_batch([model])

    @beam.DoFn.yields_elements
    def process_batch(self, models: list[base_models.BaseModel]
                      ) -> list[Any]:
        tokens = self._enter_job_code()
        try:
            return self._map_batch(models)
        finally:
            self._leave_job_code(tokens)

    def _map_batch(self, models: list[base_models.BaseModel]) -> list[Any]:
        # This runs for every model, and its inner loop for every pair: the
        # common pair (two values of _SIMPLE_TYPES or ASCII strings) is
        # checked and output here, any other goes through _checked_pair.
        # Inline, because a call per model is a large share of this
        # stage's time over small models. A cancel is checked for outside
        # the try: it is not a model's error.
        watch = self._watch
        each_model_watch = None
        if watch is not None:
            watch.check()
            # A check before each model is a clock read each, a large share
            # of this stage's time over small models: it is made only while a
            # batch takes longer than the watch's interval, so a cancel
            # waits at most for the first batch of slow maps.
            if self._check_each_model:
                each_model_watch = watch
            started = time.monotonic()
        job_map = self._map
        checked_pair = self._checked_pair
        keep_key = self._keep_key
        if keep_key and self._key_coder is None:
            self.setup()  # A DoFn used directly, without its setup().
        encode_key = self._key_coder.encode if keep_key else None
        simple = _SIMPLE_TYPES
        out: list[Any] = []
        append = out.append
        dead = 0
        for model in models:
            if each_model_watch is not None:
                each_model_watch.check()
            mark = len(out)
            try:
                results = job_map(model)
                if results is None:
                    continue
                for item in results:
                    if type(item) is tuple and len(item) == 2:
                        key, value = item
                        kind = type(key)
                        if kind in simple or (kind is str and
                                              key.isascii()):
                            kind = type(value)
                            if kind in simple or (kind is str and
                                                  value.isascii()):
                                append((encode_key(key), item) if keep_key
                                       else item)
                                continue
                    append(checked_pair(model, item))
            except storage.ConflictError:
                del out[mark:]
                try:
                    self._map_fresh_copy_into(model, out)
                except Exception as e:  # Conflicts to the end, or a failure.
                    del out[mark:]
                    append(self._error(model, e))
                    dead += 1
            except Exception as e:  # Whatever map raises, or a bad pair.
                # A model's pairs go out all or none.
                del out[mark:]
                append(self._error(model, e))
                dead += 1
        if watch is not None:
            self._check_each_model = (
                time.monotonic() - started >= watch.interval)
        self._counted_in_bundle += len(out) - dead
        return out

    def _map_into(self, model: base_models.BaseModel, out: list[Any]) -> None:
        """Appends the pairs the job's map yields for model to out (see
        _checked_pair); raises MapError for one that cannot cross the
        shuffle."""
        results = self._map(model)
        if results is None:
            return
        for item in results:
            out.append(self._checked_pair(model, item))

    def _checked_pair(self, model: base_models.BaseModel, item: Any) -> Any:
        """item, a pair model's map yielded, as the stage outputs it:
        (encoded key, pair) with keep_key, else the pair; after checking
        that it is a (key, value) pair whose key and value can cross the
        shuffle. Raises MapError if not."""
        if type(item) is not tuple or len(item) != 2:
            raise MapError(
                '%s.map(%s %r) yielded %s; map must yield (key, value) '
                'pairs' % (self._job_name, model.kind(),
                           model.id, _short_repr(item)))
        key, value = item
        encoded_key = None
        if self._keep_key or not _is_simple(key):
            encoded_key = self._check_encodes(model, 'key', key,
                                              self._key_coder)
        if not _is_simple(value):
            self._check_encodes(model, 'value', value, self._value_coder)
        return (encoded_key, item) if self._keep_key else item

    def _error(self, model: base_models.BaseModel,
               e: Exception) -> beam.pvalue.TaggedOutput:
        # Made here rather than by Beam's with_exception_handling(), whose
        # wrapper's __getattribute__ runs on every attribute access of the
        # DoFn, for every model; and as a record, so that no step of its
        # own describes it.
        return beam.pvalue.TaggedOutput(self.ERRORS, errors.record_of(
            'map', model.kind(), model.id, e))

    def _map_fresh_copy_into(self, model: base_models.BaseModel,
                             out: list[Any]) -> None:
        """After a write in map conflicted with another writer: maps a
        fresh copy of model into out instead, re-run as NDB retried
        transactions; only the last attempt's pairs are kept."""
        for attempt in range(MAX_CONFLICT_RETRIES):
            fresh = type(model).get_by_id(model.id)
            if fresh is None:
                return  # Deleted meanwhile: nothing left to map.
            mark = len(out)
            try:
                self._map_into(fresh, out)
                return
            except storage.ConflictError:
                del out[mark:]
                if attempt == MAX_CONFLICT_RETRIES - 1:
                    raise
        raise AssertionError('unreachable')

    def _check_encodes(self, model: base_models.BaseModel, what: str,
                       value: Any, coder: coders.Coder | None) -> bytes:
        """value encoded by coder; raises MapError if it cannot be."""
        if coder is None:  # setup() not called: a DoFn used directly.
            self.setup()
            coder = (self._key_coder if what == 'key'
                     else self._value_coder)
        try:
            return coder.encode(value)
        except Exception as e:  # Whatever the coder raises, say what failed.
            need = ('a deterministic encoding for GroupByKey (use str, int, '
                    'float, bool, None, bytes, or tuples of them)'
                    if what == 'key' else 'to be picklable to cross the '
                    'shuffle')
            raise MapError(
                '%s.map(%s %r) yielded a %s %s of type %s; a %s needs %s: '
                '%s' % (self._job_name, model.kind(), model.id,
                        what, _short_repr(value), type(value).__name__, what,
                        need, e)) from e


class _ReduceFn(_JobCodeFn):
    """Calls the job's reduce on each (key, values) group.

    A key whose reduce raises becomes an error record and none of its lines
    are output, as with Beam's with_exception_handling(); so does one whose
    combine raised, without a call of reduce (its values are then a
    combiners.CombineError). The records are made here for the same reasons
    as map's (see _MapFn._error), and because a job may have a key per
    model. Cancellation is checked before each key, outside the try.
    """

    def __init__(self, spec: job_spec.JobSpec) -> None:
        super().__init__(spec, metrics.KEYS_REDUCED)
        self._reduce = spec.reduce_fn
        self._line = _old_framework_line if spec.old_strings else str

    def process(self, group: tuple[Any, Iterable[Any]]) -> list[Any]:
        tokens = self._enter_job_code()
        try:
            return self._reduce_group(group)
        finally:
            self._leave_job_code(tokens)

    def _reduce_group(self, group: tuple[Any, Iterable[Any]]) -> list[Any]:
        if self._watch is not None:
            self._watch.check()
        key, values = group
        self._counted_in_bundle += 1
        if type(values) is combiners.CombineError:
            return [beam.pvalue.TaggedOutput(self.ERRORS, values.record)]
        try:
            # The old framework handed reduce a list, so `yield (key,
            # values)` prints the values; a lazy Beam iterable would print
            # as an object.
            results = self._reduce(key, list(values))
            if results is None:
                return []
            sort_key = output_order.sort_key(key)
            line = self._line
            rows = [(sort_key, index, line(value))
                    for index, value in enumerate(results)]
            for row in rows:
                if not _encodes_as_text(row[2]):
                    raise ReduceError(
                        '%s.reduce(%r) yielded %s, which has no UTF-8 '
                        'encoding (a lone surrogate?); output lines must be '
                        'text a store can keep' % (
                            self._job_name, key, _short_repr(row[2])))
            return rows
        except Exception as e:  # Whatever reduce raises: this key's error.
            return [beam.pvalue.TaggedOutput(self.ERRORS, errors.record_of(
                'reduce', self._job_name, repr(key), e))]


class MapModels(beam.PTransform):
    """models -> (the (key, value) pairs the job's map yields, the
    JobErrorRecords of the models whose map failed).

    With keep_key, each pair comes as (encoded key, (key, value)), the form
    the job's combiner takes (see combiners.CombinePairs), without a step of
    its own per pair: the key's deterministic encoding, as GroupByKey
    groups by, so that keys Python takes for equal (True, 1 and 1.0) stay
    apart when the runner combines in a dict.
    """

    def __init__(self, spec: job_spec.JobSpec,
                 keep_key: bool = False) -> None:
        super().__init__()
        self._fn = _MapFn(spec, keep_key)

    def expand(self, models: beam.PCollection
               ) -> tuple[beam.PCollection, beam.PCollection]:
        results = models | 'CallMap' >> beam.ParDo(self._fn).with_outputs(
            _MapFn.ERRORS, main='pairs')
        return results.pairs, results[_MapFn.ERRORS]


class ReduceGroups(beam.PTransform):
    """(key, values) groups -> (output rows (sort_key, index, line), the
    JobErrorRecords of the keys whose reduce failed); a line is the str() of
    a value the job's reduce yielded."""

    def __init__(self, spec: job_spec.JobSpec) -> None:
        super().__init__()
        self._fn = _ReduceFn(spec)

    def expand(self, groups: beam.PCollection
               ) -> tuple[beam.PCollection, beam.PCollection]:
        results = groups | 'CallReduce' >> beam.ParDo(
            self._fn).with_outputs(_ReduceFn.ERRORS, main='rows')
        return results.rows, results[_ReduceFn.ERRORS]


def _stringified(job_map: Any) -> Any:
    """job_map, with each (key, value) pair it yields made (str(key),
    str(value)), as the old framework's shuffle wrote them; anything else
    it yields is left for the checks to refuse."""

    def map_to_strings(item: Any) -> Iterable[Any] | None:
        results = job_map(item)
        if results is None:
            return None
        return [(str(pair[0]), str(pair[1]))
                if type(pair) is tuple and len(pair) == 2 else pair
                for pair in results]

    return map_to_strings


def _old_framework_line(value: Any) -> str:
    """An output line as the old framework made it: the value through JSON
    (so tuples print as lists), then '%s'. A value JSON cannot hold prints
    as it is."""
    try:
        value = json.loads(json.dumps(value))
    except (TypeError, ValueError):
        pass
    return '%s' % (value,)


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'
