"""The stages that wrap a job's own code: map over models, reduce per key,
and turning what reduce yields into output rows."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

import apache_beam as beam

from beam_jobs import mapper_context
from models import base_models
from models import storage
from pipelines import metrics


class MapError(TypeError):
    """A job's map yielded something the framework cannot group."""


def output_sort_key(key: Any) -> str:
    """The text by which a key's output lines are ordered in the run's
    output: its repr, which is deterministic for the keys GroupByKey
    accepts."""
    return repr(key)


class _JobCodeFn(beam.DoFn):
    """Runs job code with the run's parameters and store active, in
    whichever process the element lands in."""

    def __init__(self, job_class: type, params: Mapping[str, Any],
                 store_url: str) -> None:
        self._job_class = job_class
        self._active = (job_class.__name__, dict(params))
        self._store_url = storage.normalize_store_url(store_url)

    def setup(self) -> None:
        # Models that job code reads or puts use the run's store, also in
        # worker processes that never saw the launcher's settings.
        storage.set_default_store(self._store_url)

    def _call(self, method: Any, *args: Any) -> Iterator[Any]:
        """Iterates what method(*args) yields with the run's parameters
        active for get_mapper_param; they are cleared even if it raises."""
        token = mapper_context.activate(*self._active)
        try:
            results = method(*args)
            if results is not None:
                yield from results
        finally:
            mapper_context.deactivate(token)


class _MapFn(_JobCodeFn):
    def __init__(self, job_class: type, params: Mapping[str, Any],
                 store_url: str) -> None:
        super().__init__(job_class, params, store_url)
        self._emitted = metrics.counter(metrics.VALUES_EMITTED)

    def process(self, model: base_models.BaseModel) -> Iterator[tuple]:
        # _call inlined and the counter updated once per model: this runs
        # for every model, and the nested generator and per-pair counter
        # cost about 3 us per model of ~5 pairs (of ~50 us in all).
        emitted = 0
        token = mapper_context.activate(*self._active)
        try:
            results = self._job_class.map(model)
            for item in () if results is None else results:
                if not isinstance(item, tuple) or len(item) != 2:
                    raise MapError(
                        '%s.map(%s %r) yielded %r; map must yield (key, '
                        'value) pairs' % (self._job_class.__name__,
                                          model.kind(), model.id, item))
                emitted += 1
                yield item
        finally:
            mapper_context.deactivate(token)
            if emitted:
                self._emitted.inc(emitted)


class _ReduceFn(_JobCodeFn):
    def __init__(self, job_class: type, params: Mapping[str, Any],
                 store_url: str) -> None:
        super().__init__(job_class, params, store_url)
        self._keys = metrics.counter(metrics.KEYS_REDUCED)

    def process(
            self, group: tuple[Any, Iterable[Any]]
    ) -> Iterator[tuple[str, int, str]]:
        key, values = group
        self._keys.inc()
        sort_key = output_sort_key(key)
        # The old framework handed reduce a list, so `yield (key, values)`
        # prints the values; a lazy Beam iterable would print as an object.
        for index, value in enumerate(
                self._call(self._job_class.reduce, key, list(values))):
            yield sort_key, index, str(value)


class MapModels(beam.PTransform):
    """models -> the (key, value) pairs the job's map yields for them."""

    def __init__(self, job_class: type, params: Mapping[str, Any],
                 store_url: str) -> None:
        super().__init__()
        self._fn = _MapFn(job_class, params, store_url)

    def expand(self, models: beam.PCollection) -> beam.PCollection:
        return models | 'CallMap' >> beam.ParDo(self._fn)


class ReduceGroups(beam.PTransform):
    """(key, values) groups -> output rows (sort_key, index, line), a line
    being the str() of a value the job's reduce yielded."""

    def __init__(self, job_class: type, params: Mapping[str, Any],
                 store_url: str) -> None:
        super().__init__()
        self._fn = _ReduceFn(job_class, params, store_url)

    def expand(self, groups: beam.PCollection) -> beam.PCollection:
        return groups | 'CallReduce' >> beam.ParDo(self._fn)
