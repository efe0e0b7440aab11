"""Per-model and per-key errors of a run: describing them as error records,
and storing them.

A model or key whose processing raises becomes a JobErrorRecord on an error
output, and the rest of the job goes on. The SQLite read, the map and the
reduce stage make their records themselves (see sqlite_io and stages); the
Datastore read's conversion of entities runs under Beam's
``with_exception_handling()``, whose dead letters
``(element, (exc_type, repr, traceback_lines))`` describe() turns into the
parts of a record.
"""

from __future__ import annotations

import traceback
from typing import Any, Sequence

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


def too_many_errors(total: int, max_errors: int) -> str:
    """How a run past its max_errors says so: '1 error, more than
    max_errors=0', '3 errors, more than max_errors=2'."""
    return '%d error%s, more than max_errors=%d' % (
        total, '' if total == 1 else 's', max_errors)


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


def record_of(stage: str, kind: str, entity: str,
              error: BaseException) -> storage.JobErrorRecord:
    """The error record of an exception caught while stage processed
    entity (a model id, or a reduce key's repr) of kind (a model kind, or
    the job's name for reduce)."""
    return storage.JobErrorRecord(stage, kind, entity,
                                  *describe_exception(error))


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
                    '%s; stopped. First: %s %s %s: %s: %s' % (
                        too_many_errors(total, self._max_errors),
                        first.stage, first.kind, first.entity,
                        first.error_type, first.message))


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
