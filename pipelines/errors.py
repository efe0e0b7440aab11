"""Per-model and per-key errors of a run: turning Beam's dead-letter
outputs into error records, and storing them.

An element whose processing raises goes to a dead-letter output as
``(element, (exc_type, repr, traceback_lines))``, the form of Beam's
``with_exception_handling()``, and the rest of the job goes on: the
Datastore read's conversion of entities uses Beam's wrapper, the map and
reduce stages make the same dead letters themselves (a model for map, a key
for reduce), and the SQLite read reports bad rows itself (see model_io),
since its input elements are whole key ranges.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable, Sequence

import apache_beam as beam

from models import storage
from pipelines import batched_write
from pipelines import metrics

# Traceback lines kept per error: enough to find the failing line of job
# code, small enough to keep thousands of errors.
TRACEBACK_LINES = 12
ERROR_BATCH_SIZE = 100

ErrorInfo = tuple[type, str, list[str]]


class TooManyErrorsError(RuntimeError):
    """A run recorded more errors than its max_errors allows."""


def describe(info: ErrorInfo) -> tuple[str, str, str]:
    """(error type, message, traceback tail) of a dead letter's error."""
    exc_type, exc_repr, lines = info
    text = ''.join(lines).rstrip()
    last = text.splitlines()[-1] if text else exc_repr
    _, _, message = last.partition(': ')
    tail = '\n'.join(text.splitlines()[-TRACEBACK_LINES:])
    return exc_type.__name__, message or exc_repr, tail


def describe_exception(error: BaseException) -> tuple[str, str, str]:
    """(error type, message, traceback tail) of an exception caught here."""
    return describe((type(error), repr(error),
                     traceback.format_exception(error)))


def map_error(bad: tuple[Any, ErrorInfo]) -> storage.JobErrorRecord:
    """A model whose map raised or yielded something that cannot travel."""
    model, info = bad
    return storage.JobErrorRecord(
        'map', model.kind(), model.id, *describe(info))


def reduce_error(job_name: str) -> Callable[[Any], storage.JobErrorRecord]:
    """A key whose reduce raised."""
    def convert(bad: tuple[Any, ErrorInfo]) -> storage.JobErrorRecord:
        key, info = bad
        return storage.JobErrorRecord(
            'reduce', job_name, repr(key), *describe(info))
    return convert


class _WriteErrorsFn(batched_write.BatchedStoreWriteFn):
    def __init__(self, store_url: str, job_id: str,
                 max_errors: int | None) -> None:
        super().__init__(store_url, ERROR_BATCH_SIZE)
        self._job_id = job_id
        self._max_errors = max_errors
        self._count = metrics.counter(metrics.ERRORS)

    def write(self, store: storage.ModelStore,
              batch: Sequence[storage.JobErrorRecord]) -> None:
        store.write_errors(self._job_id, batch)
        self._count.inc(len(batch))
        if self._max_errors is not None:
            total = store.count_errors(self._job_id)
            if total > self._max_errors:
                first = store.read_errors(self._job_id, limit=1)[0]
                raise TooManyErrorsError(
                    '%d errors, more than max_errors=%d; stopped. First: '
                    '%s %s %s: %s: %s' % (
                        total, self._max_errors, first.stage, first.kind,
                        first.entity, first.error_type, first.message))


class WriteJobErrors(beam.PTransform):
    """Stores error records with the run; stops the pipeline once there are
    more than max_errors of them (None: never)."""

    def __init__(self, store_url: str, job_id: str,
                 max_errors: int | None = None) -> None:
        super().__init__()
        self._fn = _WriteErrorsFn(
            storage.normalize_store_url(store_url), job_id, max_errors)

    def expand(self, errors: beam.PCollection) -> Any:
        return errors | 'WriteBatches' >> beam.ParDo(self._fn)
