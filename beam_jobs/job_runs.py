"""Job run records: what was asked, what happened, and the legal ways a
run's state may change.

A run moves ``new -> queued -> started -> completed | failed | canceled``;
a queued run may also be canceled, or fail before it starts. Every change is
a compare-and-set on the stored state, so two processes cannot both move
the same run.
"""

from __future__ import annotations

import dataclasses
import os
import random
import socket
import time
from typing import Any

from models import storage
from pipelines import options as pipeline_options

STATUS_CODE_NEW = 'new'
STATUS_CODE_QUEUED = 'queued'
STATUS_CODE_STARTED = 'started'
STATUS_CODE_COMPLETED = 'completed'
STATUS_CODE_FAILED = 'failed'
STATUS_CODE_CANCELED = 'canceled'

VALID_TRANSITIONS: dict[str, frozenset[str]] = {
    STATUS_CODE_NEW: frozenset({STATUS_CODE_QUEUED}),
    STATUS_CODE_QUEUED: frozenset({
        STATUS_CODE_STARTED, STATUS_CODE_CANCELED, STATUS_CODE_FAILED}),
    STATUS_CODE_STARTED: frozenset({
        STATUS_CODE_COMPLETED, STATUS_CODE_FAILED, STATUS_CODE_CANCELED}),
    STATUS_CODE_COMPLETED: frozenset(),
    STATUS_CODE_FAILED: frozenset(),
    STATUS_CODE_CANCELED: frozenset(),
}
# A local run whose heartbeat is older than this is taken for dead: twelve
# missed beats (the launcher beats every 5 s).
STALE_AFTER_MSEC = 60_000.0

FINISHED_STATES = frozenset(
    {STATUS_CODE_COMPLETED, STATUS_CODE_FAILED, STATUS_CODE_CANCELED})


class JobRunError(Exception):
    """A job run cannot be found or cannot do what was asked."""


class InvalidTransitionError(JobRunError):
    """A run was asked to move to a state its current state does not allow."""


@dataclasses.dataclass
class JobRun:
    """One run of a job, as stored."""

    job_id: str
    job_type: str
    state: str
    shard_count: int | None = None
    params: dict[str, Any] | None = None
    pipeline_args: list[str] | None = None
    runner: str | None = None
    time_created_msec: float | None = None
    time_queued_msec: float | None = None
    time_started_msec: float | None = None
    time_finished_msec: float | None = None
    # While the run is started: the models read so far, on stores that keep
    # progress (see storage.ModelStore.add_run_progress).
    models_read: int | None = None
    values_emitted: int | None = None
    output_lines: int | None = None
    error: str | None = None
    canceled_by: str | None = None
    owner_pid: int | None = None
    owner_host: str | None = None
    heartbeat_msec: float | None = None
    external_job_id: str | None = None
    error_count: int | None = None
    max_errors: int | None = None
    details: dict[str, Any] | None = None

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES


def now_msec() -> float:
    """Milliseconds since the epoch, as the old framework reported times."""
    return time.time() * 1000.0


def new_job_id(job_type: str) -> str:
    """A new, unique, time-ordered id such as ``MyJob-1764300000000-4821``."""
    return '%s-%d-%04d' % (job_type, now_msec(), random.randrange(10000))


def create(job_type: str, pipeline_args: list[str] | None = None,
           max_errors: int | None = None) -> JobRun:
    """Stores a new run in state ``new`` and returns it."""
    run = JobRun(
        job_id=new_job_id(job_type), job_type=job_type,
        state=STATUS_CODE_NEW, pipeline_args=list(pipeline_args or []),
        max_errors=max_errors, time_created_msec=now_msec())
    storage.get_store().insert_run(dataclasses.asdict(run))
    return run


def get(job_id: str) -> JobRun:
    """The stored run; raises JobRunError if there is none.

    A run whose process has died is marked failed first (see
    fail_if_abandoned), so no reader ever sees it as still running.
    """
    store = storage.get_store()
    record = store.get_run(job_id)
    if record is None:
        raise JobRunError('no job run with id %r' % job_id)
    return fail_if_abandoned(store, JobRun(**record))


def list_recent(limit: int = 20, job_type: str | None = None) -> list[JobRun]:
    """The most recently created runs first, abandoned ones marked failed."""
    store = storage.get_store()
    return [fail_if_abandoned(store, JobRun(**r))
            for r in store.list_runs(limit, job_type)]


def list_unfinished(job_type: str) -> list[JobRun]:
    """The queued and started runs of a job, abandoned ones marked failed
    (and so left out)."""
    store = storage.get_store()
    runs = [fail_if_abandoned(store, JobRun(**record))
            for record in store.list_runs(None, job_type)]
    return [run for run in runs if run.state in (
        STATUS_CODE_QUEUED, STATUS_CODE_STARTED)]


def abandonment_reason(run: JobRun, now: float | None = None) -> str | None:
    """Why a queued or started local run can no longer be running, or None.

    A run is abandoned when the process that owns it is gone from this host,
    or when its heartbeat is older than STALE_AFTER_MSEC (its process died on
    another host, or hangs). Runs on remote runners are tracked by their
    service instead.
    """
    if (run.state not in (STATUS_CODE_QUEUED, STATUS_CODE_STARTED) or
            run.runner != pipeline_options.LOCAL_RUNNER or
            run.owner_pid is None):
        return None
    owner = 'pid %d on %s' % (run.owner_pid, run.owner_host)
    if run.owner_host == socket.gethostname() and not _pid_alive(
            run.owner_pid):
        return ('abandoned: the process running it (%s) ended without '
                'finishing it' % owner)
    last_sign = run.heartbeat_msec or run.time_queued_msec or 0
    silent_for = (now_msec() if now is None else now) - last_sign
    if silent_for > STALE_AFTER_MSEC:
        return ('abandoned: no heartbeat from the process running it (%s) '
                'for %.0f s' % (owner, silent_for / 1000))
    return None


def fail_if_abandoned(store: storage.ModelStore, run: JobRun) -> JobRun:
    """Marks an abandoned run failed (discarding its partial output) and
    returns the run as it now stands."""
    reason = abandonment_reason(run)
    if reason is None:
        return run
    # Compare-and-set on the state the run was read in: if it finished in
    # the meantime, the finish stands.
    if store.update_run(run.job_id, {
            'state': STATUS_CODE_FAILED, 'error': reason,
            'time_finished_msec': now_msec()}, from_states=[run.state]):
        store.delete_output(run.job_id)
    return JobRun(**store.get_run(run.job_id))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # Someone else's process: alive.
    try:
        with open('/proc/%d/stat' % pid) as stat:
            # A killed child not yet reaped by its parent is a zombie.
            return stat.read().rpartition(')')[2].split()[0] != 'Z'
    except OSError:
        return True


def check_transition(run: JobRun, to_state: str) -> None:
    """Raises InvalidTransitionError, naming both states, if the run's
    state does not allow the move (as transition would, before it is
    tried)."""
    if to_state not in VALID_TRANSITIONS.get(run.state, ()):
        raise InvalidTransitionError('job %s cannot go from %s to %s' % (
            run.job_id, run.state, to_state))


def claim(job_id: str, owner: dict[str, Any]) -> bool:
    """Makes owner (owner_pid and owner_host) the process that runs a
    queued run nobody runs yet; returns whether it did. The stores
    compare-and-set on the state alone, so the queue has one consumer at a
    time (the test base, or one service)."""
    record = storage.get_store().get_run(job_id)
    if (record is None or record['state'] != STATUS_CODE_QUEUED or
            record['owner_pid'] is not None):
        return False
    return storage.get_store().update_run(
        job_id, dict(owner), from_states=[STATUS_CODE_QUEUED])


def transition(job_id: str, to_state: str, **changes: Any) -> JobRun:
    """Moves a run to to_state with the given field changes, atomically.

    Raises InvalidTransitionError, naming both states, if the run's current
    state does not allow the move (including when another process moved it
    first).
    """
    if to_state not in VALID_TRANSITIONS:
        raise JobRunError('unknown job state %r' % to_state)
    from_states = [s for s, targets in VALID_TRANSITIONS.items()
                   if to_state in targets]
    changes['state'] = to_state
    store = storage.get_store()
    if not store.update_run(job_id, changes, from_states):
        record = store.get_run(job_id)
        if record is None:
            raise JobRunError('no job run with id %r' % job_id)
        current = JobRun(**record)
        raise InvalidTransitionError(
            'job %s cannot go from %s to %s' % (
                job_id, current.state, to_state))
    return get(job_id)


def discard_new(job_id: str) -> bool:
    """Removes a run that was never queued (one refused before it started,
    say); returns whether it did. A run in any other state stays."""
    return storage.get_store().delete_run(job_id, [STATUS_CODE_NEW])


def update(job_id: str, **changes: Any) -> None:
    """Changes fields of a run without changing its state."""
    if 'state' in changes:
        raise JobRunError('use transition() to change a run\'s state')
    storage.get_store().update_run(job_id, changes)


def transitions_to(current: str, target: str) -> list[str]:
    """The run state moves that take a run from current to target, each one
    allowed by the run state machine (new -> queued -> started -> completed,
    failed or canceled; a queued run may fail or be canceled). Empty when
    there is nothing to do: same state, a finished run, or a run already
    further along than Dataflow reports."""
    chain = ['new', 'queued', 'started']
    if current not in chain or current == target:
        return []
    position = chain.index(current)
    if target in chain:
        return chain[position + 1:chain.index(target) + 1]
    if target == 'completed':
        return chain[position + 1:] + [target]
    return chain[position + 1:2] + [target]
