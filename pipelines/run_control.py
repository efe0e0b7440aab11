"""What a running pipeline and its run record tell each other: whether the
run is still this pipeline's to run, read from inside the DoFns, so that a
cancel (or a failure recorded while the process was stopped, or a take-over
by another process) reaches every worker process wherever the pipeline is;
and how many models the read has read so far, for an operator watching the
run."""

from __future__ import annotations

import os
import socket
import time
from typing import Any, Iterator

import apache_beam as beam

from models import storage

CANCELED = 'canceled'
# The states in which a run's pipeline may go on: queued (a remote runner
# may start before the launcher records that it did) and started.
_RUNNING_STATES = frozenset({'queued', 'started'})
# How often, at most, a DoFn asks the store. Cancellation takes effect
# within about this long plus the time to tear the pipeline down.
CHECK_INTERVAL_SECONDS = 1.0


class RunStoppedError(RuntimeError):
    """The run's record says its pipeline must stop: it was canceled, was
    marked failed (abandoned while its process was stopped, say), or was
    taken over by another process."""


class RunCanceledError(RunStoppedError):
    """The run was canceled while its pipeline was running."""


class RunWatch:
    """Raises RunCanceledError from check() once the run is canceled (and
    RunStoppedError once it is otherwise no longer this pipeline's to run),
    and adds the models that check() was told of to the run's models_read,
    as the run's progress (in stores that keep it: see
    storage.ModelStore.add_run_progress).

    check() is cheap (a clock read) except once per interval, when it adds
    the models it was told of since and reads the run's state. A run with no
    record (a pipeline built outside a job run, as in stage tests) is never
    canceled.
    """

    def __init__(self, store_url: str, job_id: str,
                 interval: float | None = None) -> None:
        self._store_url = store_url
        self._job_id = job_id
        # Made where the pipeline is built: in the process that owns the
        # run, whose pid and host its record names while it runs it.
        self._owner = (os.getpid(), socket.gethostname())
        self._interval = (CHECK_INTERVAL_SECONDS if interval is None
                          else interval)
        self._next_check = 0.0
        self._unreported = 0

    @property
    def interval(self) -> float:
        """Seconds between two reads of the run's state."""
        return self._interval

    def check(self, models_read: int = 0) -> None:
        """Raises RunCanceledError if the run is canceled; models_read, the
        models read since the last call, go to the run's progress with the
        next read of the run."""
        self._unreported += models_read
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + self._interval
        store = storage.get_store(self._store_url)
        if self._unreported:
            store.add_run_progress(self._job_id, self._unreported)
            self._unreported = 0
        record = store.get_run(self._job_id)
        if record is not None:
            self._raise_if_stopped(record)

    def flush(self) -> None:
        """Adds to the run's progress the models check() was told of since
        it last did: at the end of a read, so that the count an operator
        sees reaches the read's total."""
        if self._unreported:
            storage.get_store(self._store_url).add_run_progress(
                self._job_id, self._unreported)
            self._unreported = 0

    def _raise_if_stopped(self, record: dict[str, Any]) -> None:
        if record['state'] == CANCELED:
            raise RunCanceledError('job %s was canceled by %s' % (
                self._job_id, record.get('canceled_by') or 'someone'))
        if record['state'] not in _RUNNING_STATES:
            raise RunStoppedError('job %s is %s, so its pipeline stops: %s' % (
                self._job_id, record['state'],
                (record.get('error') or '').split('\n')[0]))
        owner = (record.get('owner_pid'), record.get('owner_host'))
        if owner[0] is not None and owner != self._owner:
            raise RunStoppedError(
                'job %s was taken over by pid %s on %s, so this pipeline '
                'stops' % (self._job_id, owner[0], owner[1]))


def watch_of(store_url: str,
             job_id: str | None) -> RunWatch | None:
    """The watch of a run, or None for a pipeline with no run (no job id),
    which is never canceled."""
    return None if job_id is None else RunWatch(store_url, job_id)


class _CheckCanceledFn(beam.DoFn):
    def __init__(self, watch: RunWatch) -> None:
        self._watch = watch

    def process(self, element: Any) -> Iterator[Any]:
        self._watch.check()
        yield element


class CheckCanceled(beam.PTransform):
    """Passes elements through unchanged, stopping the pipeline with
    RunCanceledError once the run is canceled. Placed outside any exception
    handling, so a cancel is never taken for one element's error."""

    def __init__(self, store_url: str, job_id: str) -> None:
        super().__init__()
        self._watch = RunWatch(store_url, job_id)

    def expand(self, elements: beam.PCollection) -> beam.PCollection:
        return elements | 'Check' >> beam.ParDo(_CheckCanceledFn(self._watch))
