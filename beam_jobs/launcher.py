"""A job run's bookkeeping: checking what was asked, moving the run record
through its states as the run's runner (see beam_jobs.runners) runs the
job, beating a local run's heartbeat, committing its output, and
canceling."""

from __future__ import annotations

import json
import logging
import os
import socket
import traceback
from typing import Any, Mapping

from beam_jobs import interruptions
from beam_jobs import job_contract
from beam_jobs import job_runs
from beam_jobs import periodic
from beam_jobs import runners
from models import storage
from pipelines import compiler
from pipelines import errors
from pipelines import metrics
from pipelines import options as pipeline_options
from pipelines import run_control

_LOGGER = logging.getLogger(__name__)

MAX_SHARD_COUNT = 1024
# The key, in a local run's details, of how many worker processes ran it
# (1: this process alone).
LOCAL_WORKERS = 'local_workers'
# The key, in a completed local run's details, of the counters its job code
# incremented (see beam_jobs.jobs.increment_counter).
JOB_COUNTERS = 'counters'
# The keys, in a local dry run's details, of its flag and of its counts of
# the writes it kept from the store (see models.dry_run).
DRY_RUN = 'dry_run'
DRY_RUN_WRITES = 'dry_run_writes'
# The key, in a local run's details, of the subset of models it ran on
# (--limit, --ids, --sample; see pipelines.subsets).
SUBSET = 'subset'
# A running local job refreshes its run's heartbeat this often; a run whose
# heartbeat is older than job_runs.STALE_AFTER_MSEC is taken for dead.
HEARTBEAT_SECONDS = 5.0
# How much of a failure's traceback the run record keeps.
ERROR_TRACEBACK_LINES = 30
DRY_RUN_NOTE = ('Dry run: the Dataflow job was built but not submitted; '
                'its summary is in the run details')


class JobLaunchError(ValueError):
    """A run cannot be started as asked; nothing was started."""


class OutputLostError(RuntimeError):
    """The store holds fewer output lines than the pipeline wrote."""


# Errors whose traceback says nothing more than their line: a run stopped
# as it is meant to stop (too many errors, a record that says the run must
# stop), or by the end of one of its worker processes.
EXPECTED_STOPS = (errors.TooManyErrorsError, run_control.RunStoppedError,
                  runners.WorkerEndedError)


def own_run(job_class: type, job_id: str) -> job_runs.JobRun:
    """The run job_id, which must belong to job_class."""
    run = job_runs.get(job_id)
    if run.job_type != job_class.__name__:
        raise JobLaunchError(
            'job %s is a run of %s, not of %s'
            % (job_id, run.job_type, job_class.__name__))
    return run


def checked_shard_count(job_class: type, shard_count: Any) -> int:
    """shard_count if it is a whole number from 1 to MAX_SHARD_COUNT."""
    if (isinstance(shard_count, bool) or not isinstance(shard_count, int)
            or not 1 <= shard_count <= MAX_SHARD_COUNT):
        raise JobLaunchError(
            '%s: shard_count must be a whole number from 1 to %d, got %r'
            % (job_class.__name__, MAX_SHARD_COUNT, shard_count))
    return shard_count


def checked_params(
        job_class: type, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """additional_job_params as a plain dict of JSON-like values; they are
    stored with the run and shipped to the workers as data."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise JobLaunchError(
            '%s: additional_job_params must be a dict, got %s'
            % (job_class.__name__, type(params).__name__))
    for name, value in params.items():
        if not isinstance(name, str):
            raise JobLaunchError(
                '%s: parameter names must be strings, got %r'
                % (job_class.__name__, name))
        try:
            json.dumps(value)
        except (TypeError, ValueError) as e:
            raise JobLaunchError(
                '%s: parameter %r is not JSON-like data: %s'
                % (job_class.__name__, name, e)) from e
    return dict(params)


def checked_max_errors(job_class: type, max_errors: Any) -> int | None:
    """max_errors if it is None (no limit) or a whole number >= 0."""
    if max_errors is not None and (
            isinstance(max_errors, bool) or not isinstance(max_errors, int)
            or max_errors < 0):
        raise JobLaunchError(
            '%s: max_errors must be a whole number of 0 or more, or None, '
            'got %r' % (job_class.__name__, max_errors))
    return max_errors


def enqueue(job_class: type, job_id: str,
            params: Mapping[str, Any] | None, shard_count: int) -> None:
    """Queues the run job_id of job_class on its runner and, with the local
    runner, runs it to completion in this process.

    Raises JobContractError or JobLaunchError, leaving the run ``new``, if
    the job or what was asked of it is wrong. Failures of the pipeline
    itself do not raise: they are recorded in the run.
    """
    job_contract.check_job_class(job_class)
    params = checked_params(job_class, params)
    shard_count = checked_shard_count(job_class, shard_count)
    run = own_run(job_class, job_id)
    max_errors = checked_max_errors(
        job_class, job_class.max_errors if run.max_errors is None
        else run.max_errors)
    store_url = storage.default_store_url()
    job_name = job_class.__name__
    try:
        options = pipeline_options.parse(run.pipeline_args or [])
        runner = runners.runner_for(options, job_name)
        options = runner.pipeline_options(
            job_name, job_id, run.pipeline_args or [], store_url)
    except pipeline_options.PipelineOptionsError as e:
        raise JobLaunchError('%s: %s' % (job_name, e)) from e
    except runners.RunnerError as e:
        raise JobLaunchError(str(e)) from e
    job_contract.check_params_are_free(job_class, params)
    params = job_contract.checked_declared_params(job_class, params)
    defer = runner.runs_here and _deferring
    _hook(job_class, '_pre_enqueue_hook', job_id)
    queued_msec = job_runs.now_msec()
    job_runs.transition(
        job_id, job_runs.STATUS_CODE_QUEUED, params=params,
        shard_count=shard_count, runner=runner.name, max_errors=max_errors,
        time_queued_msec=queued_msec,
        details=runner.queued_details(options) or None,
        **(_owner() if runner.runs_here and not defer else {}))
    _hook(job_class, '_post_enqueue_hook', job_id)
    if defer:
        _deferred_classes[job_id] = job_class
        return
    spec = _spec(job_class, job_id, store_url, shard_count, params,
                 max_errors, queued_msec,
                 runner.runs_here and runners.is_dry_run(options))
    if runner.runs_here:
        _run_here(runner, job_class, spec, options)
    else:
        _submit(runner, job_class, spec, options)


def _spec(job_class: type, job_id: str, store_url: str, shard_count: int,
          params: Mapping[str, Any], max_errors: int | None,
          queued_msec: float, dry_run: bool) -> compiler.JobSpec:
    """The run's spec, whose parameters also hold the time it was queued,
    as the old framework's mapper parameters did (see
    job_contract.MAPPER_PARAM_KEY_QUEUED_TIME_MSECS)."""
    return job_contract.spec_of(
        job_class, job_id, store_url, shard_count,
        {**params,
         job_contract.MAPPER_PARAM_KEY_QUEUED_TIME_MSECS: str(queued_msec)},
        max_errors, dry_run)


# While true, enqueue queues local runs without running them (the test
# base's task queue; see beam_jobs.job_queue), and the job class of each
# such run in this process.
_deferring = False
_deferred_classes: dict[str, type] = {}


def defer_local_runs(defer: bool) -> None:
    """Whether enqueue only queues local runs (True), for run_queued to
    run later, or runs them at once (False, the default)."""
    global _deferring
    _deferring = defer


def deferred_job_class(job_id: str) -> type | None:
    """The job class of a run this process queued without running it."""
    return _deferred_classes.get(job_id)


def run_queued(job_class: type, job_id: str) -> None:
    """Runs a local run that was queued without being run (see
    defer_local_runs) to completion in this process, as enqueue would
    have."""
    run = own_run(job_class, job_id)
    if run.state != job_runs.STATUS_CODE_QUEUED or run.owner_pid is not None:
        raise JobLaunchError(
            'job %s is %s%s; only a run queued without running can be run '
            'from the queue' % (job_id, run.state, ' (run by pid %s)'
                                % run.owner_pid if run.owner_pid else ''))
    _deferred_classes.pop(job_id, None)
    options = pipeline_options.parse(run.pipeline_args or [])
    runner = runners.LocalRunner()
    if not job_runs.claim(job_id, _owner()):
        raise JobLaunchError('job %s was taken by another process' % job_id)
    spec = _spec(job_class, job_id, storage.default_store_url(),
                 run.shard_count, run.params or {}, run.max_errors,
                 run.time_queued_msec, runners.is_dry_run(options))
    _run_here(runner, job_class, spec, options)


def _hook(job_class: type | None, name: str, *args: Any) -> None:
    """Calls the job class's lifecycle hook name (see
    beam_jobs.jobs.BaseMapReduceJobManager), if it has one."""
    hook = None if job_class is None else getattr(job_class, name, None)
    if hook is not None:
        hook(*args)


OPEN_PORTS_NOTICE = (
    "Beam's local worker processes talk to this process through gRPC "
    'servers that listen on all network interfaces, not only localhost, '
    'and carry job code and data: use worker processes on a trusted '
    'network only (docs/security.md)')
_open_ports_noticed = False


def _notice_open_ports(options: Any) -> None:
    """Says once per process, when a run asks for Beam's worker processes,
    that their servers listen on all interfaces (Beam binds them so and
    has no option to bind them to loopback)."""
    global _open_ports_noticed
    if (pipeline_options.uses_worker_processes(options) and
            not _open_ports_noticed):
        _open_ports_noticed = True
        _LOGGER.warning(OPEN_PORTS_NOTICE)


def _owner() -> dict[str, Any]:
    """The run fields that name this process as the one running it."""
    return {'owner_pid': os.getpid(), 'owner_host': socket.gethostname()}


def _run_here(runner: runners.JobRunner, job_class: type,
              spec: compiler.JobSpec, options: Any) -> None:
    """Runs a queued run's pipeline in this process, beating its heartbeat,
    and records how it ended."""
    _notice_open_ports(options)
    _hook(job_class, '_pre_start_hook', spec.job_id)
    now = job_runs.now_msec()
    job_runs.transition(
        spec.job_id, job_runs.STATUS_CODE_STARTED, time_started_msec=now,
        heartbeat_msec=now, details=_local_details(options))
    _hook(job_class, '_post_start_hook', spec.job_id)
    store = storage.get_store(spec.store_url)
    try:
        with _heartbeat(spec.job_id, spec.store_url), (
                interruptions.sigterm_interrupts()):
            submission = runner.submit(spec, options)
        counts = submission.counters
        stored = store.count_output(spec.job_id)
        if stored != counts[metrics.OUTPUT_LINES]:
            raise OutputLostError(
                'the pipeline wrote %d output lines but the store holds %d'
                % (counts[metrics.OUTPUT_LINES], stored))
        error_count = store.count_errors(spec.job_id)
        if spec.max_errors is not None and error_count > spec.max_errors:
            raise errors.TooManyErrorsError(
                errors.too_many_errors(error_count, spec.max_errors))
    except BaseException as e:  # Ctrl-C too: never leave a run started.
        interruption = interruptions.interruption_in(e)
        _record_failure(job_class, spec, interruption or e)
        if interruption is not None:
            # As it came, whichever step of the pipeline it reached.
            raise interruption from None
        if not isinstance(e, Exception):
            raise
        return
    _finish(job_class, spec.job_id, spec.store_url,
            job_runs.STATUS_CODE_COMPLETED,
            models_read=counts[metrics.MODELS_READ],
            values_emitted=counts[metrics.VALUES_EMITTED],
            output_lines=stored, error_count=error_count,
            details={**_local_details(options),
                     metrics.KEY_RANGES: counts[metrics.KEY_RANGES],
                     metrics.KEYS_REDUCED: counts[metrics.KEYS_REDUCED],
                     JOB_COUNTERS: submission.job_counters or {},
                     **({DRY_RUN_WRITES: submission.dry_run_counts}
                        if submission.dry_run_counts is not None else {})})


def _local_details(options: Any) -> dict[str, Any]:
    """What a local run's details say of how it runs: in one process, or
    on how many of Beam's worker processes; whether it is a dry run; and
    the subset of models it runs on, if any."""
    details: dict[str, Any] = {
        LOCAL_WORKERS: pipeline_options.local_workers(options)}
    if runners.is_dry_run(options):
        details[DRY_RUN] = True
    subset = pipeline_options.subset_of(options)
    if subset is not None:
        details[SUBSET] = subset.describe()
    return details


def _submit(runner: runners.JobRunner, job_class: type,
            spec: compiler.JobSpec, options: Any) -> None:
    """Submits a queued run's job to a remote runner and records the
    outcome: started with the runner's job id, failed, or (a dry run)
    canceled with the built job's summary in its details."""
    try:
        submission = runner.submit(spec, options)
    except Exception as e:
        job_runs.transition(
            spec.job_id, job_runs.STATUS_CODE_FAILED,
            error=describe_failure(spec.job_name, e),
            time_finished_msec=job_runs.now_msec())
        _hook(job_class, '_post_failure_hook', spec.job_id)
        return
    if submission.dry_run_summary is not None:
        job_runs.transition(
            spec.job_id, job_runs.STATUS_CODE_CANCELED,
            canceled_by=runners.DRY_RUN_USER, error=DRY_RUN_NOTE,
            time_finished_msec=job_runs.now_msec(),
            details={**runner.queued_details(options),
                     'dry_run': submission.dry_run_summary})
        _hook(job_class, '_post_cancel_hook', spec.job_id, DRY_RUN_NOTE)
        return
    _hook(job_class, '_pre_start_hook', spec.job_id)
    now = job_runs.now_msec()
    job_runs.transition(
        spec.job_id, job_runs.STATUS_CODE_STARTED, time_started_msec=now,
        heartbeat_msec=now, external_job_id=submission.external_job_id,
        **_owner())
    _hook(job_class, '_post_start_hook', spec.job_id)


# The lifecycle hook called once a run has moved to each state.
_POST_HOOKS = {
    job_runs.STATUS_CODE_STARTED: '_post_start_hook',
    job_runs.STATUS_CODE_COMPLETED: '_post_completed_hook',
    job_runs.STATUS_CODE_FAILED: '_post_failure_hook',
}


def refresh(run: job_runs.JobRun,
            job_class: type | None = None) -> job_runs.JobRun:
    """Asks the runner of an unfinished run what state its job is in and
    moves the run record to match; returns the run as stored. Runs whose
    runner cannot tell (local ones) are returned as they are. With the
    run's job_class, its lifecycle hooks run for each move, in this
    process."""
    runner = runners.runner_of(run)
    job_state = None if runner is None else runner.current_state(run)
    if job_state is None:
        return run
    store = storage.get_store()
    for state in job_runs.transitions_to(run.state, job_state.run_state):
        now = job_runs.now_msec()
        changes: dict[str, Any] = {'heartbeat_msec': now}
        if state == job_runs.STATUS_CODE_STARTED:
            changes['time_started_msec'] = run.time_started_msec or now
        elif state == job_runs.STATUS_CODE_COMPLETED:
            changes.update(time_finished_msec=now,
                           output_lines=store.count_output(run.job_id))
        elif state in (job_runs.STATUS_CODE_FAILED,
                       job_runs.STATUS_CODE_CANCELED):
            # A run that did not complete keeps no output.
            store.delete_output(run.job_id)
            changes.update(time_finished_msec=now,
                           error=job_state.ended_note)
            if state == job_runs.STATUS_CODE_CANCELED:
                changes['canceled_by'] = run.canceled_by or runner.name
        try:
            run = job_runs.transition(run.job_id, state, **changes)
        except job_runs.InvalidTransitionError:
            return job_runs.get(run.job_id)  # Someone else moved it first.
        if state == job_runs.STATUS_CODE_CANCELED:
            _hook(job_class, '_post_cancel_hook', run.job_id, run.error)
        elif state in _POST_HOOKS:
            _hook(job_class, _POST_HOOKS[state], run.job_id)
    return run


def cancel(job_id: str, user_id: str | None,
           job_class: type | None = None) -> job_runs.JobRun:
    """Cancels a queued or started run of any job, recording who did, and
    discards its output. A local pipeline running in another process
    notices within seconds and stops. Raises InvalidTransitionError, naming
    the run's state, for runs that are not queued or started. With the
    run's job_class, its cancel hooks run around the cancel."""
    run = job_runs.get(job_id)
    job_runs.check_transition(run, job_runs.STATUS_CODE_CANCELED)
    message = 'Canceled by %s' % (user_id or 'system')
    _hook(job_class, '_pre_cancel_hook', job_id, message)
    runner = runners.runner_of(run)
    if runner is not None:
        # A remote job is asked to stop first: if its runner cannot be
        # reached the run stays as it is, rather than look canceled.
        runner.cancel(run)
    run = job_runs.transition(
        job_id, job_runs.STATUS_CODE_CANCELED, canceled_by=user_id or
        'system', error=message, time_finished_msec=job_runs.now_msec())
    _deferred_classes.pop(job_id, None)
    storage.get_store().delete_output(job_id)
    _hook(job_class, '_post_cancel_hook', job_id, message)
    return run


def _heartbeat(job_id: str, store_url: str) -> periodic.Periodic:
    """While open, refreshes the run's heartbeat from a daemon thread, so
    that a run whose process died can be told from one still working."""
    store = storage.get_store(store_url)

    def beat() -> None:
        try:
            store.update_run(
                job_id, {'heartbeat_msec': job_runs.now_msec()},
                from_states=[job_runs.STATUS_CODE_STARTED])
        except Exception as e:  # A busy store must not end the heartbeat.
            _LOGGER.warning('could not refresh the heartbeat of %s: %s',
                            job_id, e)

    return periodic.Periodic(HEARTBEAT_SECONDS, beat, 'heartbeat-%s' % job_id)


def _record_failure(job_class: type, spec: compiler.JobSpec,
                    error: BaseException) -> None:
    store = storage.get_store(spec.store_url)
    _finish(job_class, spec.job_id, spec.store_url,
            job_runs.STATUS_CODE_FAILED,
            error=describe_failure(spec.job_name, error),
            error_count=store.count_errors(spec.job_id))


def _finish(job_class: type, job_id: str, store_url: str, state: str,
            **changes: Any) -> None:
    """Moves a started run to its final state, then, unless it completed,
    discards its output: a run that failed, or was canceled or declared
    dead meanwhile, never leaves partial output behind. The state goes
    first, so that a store that takes a small write but not a large one
    (a disk nearly full) still records how the run ended."""
    store = storage.get_store(store_url)
    recorded = True
    try:
        job_runs.transition(
            job_id, state, time_finished_msec=job_runs.now_msec(), **changes)
    except job_runs.InvalidTransitionError:
        # Canceled or declared dead while running: that stands.
        recorded = False
    if not recorded or state != job_runs.STATUS_CODE_COMPLETED:
        try:
            store.delete_output(job_id)
        except storage.StoreError as e:
            # Served only for completed runs, the rows harm no reader.
            _LOGGER.warning('could not discard the partial output of %s: %s',
                            job_id, e)
    if recorded:
        _hook(job_class, _POST_HOOKS[state], job_id)


def describe_failure(job_name: str, error: BaseException) -> str:
    """One line naming the job and the error, then the traceback's tail.

    Beam re-raises a DoFn's exception inside a long wrapper; the line shows
    the innermost error, which is the job author's own. An interruption
    (Ctrl-C) is one line: where the runner happened to be waiting says
    nothing about the job.
    """
    if isinstance(error, interruptions.Terminated):
        return ('%s interrupted (SIGTERM) in the process running it'
                % job_name)
    if isinstance(error, KeyboardInterrupt):
        return ('%s interrupted (Ctrl-C or SIGINT) in the process running it'
                % job_name)
    root = error
    while True:
        # What it was raised from, or while handling (unless it was raised
        # `from None`, which says that is no part of its story).
        inner = root.__cause__ or (
            None if root.__suppress_context__ else root.__context__)
        if inner is None:
            break
        root = inner
    detail = str(root).strip().splitlines()
    summary = '%s failed: %s: %s' % (
        job_name, type(root).__name__, detail[-1] if detail else '')
    if isinstance(root, EXPECTED_STOPS):
        # How a run is meant to stop: the line says all there is.
        return summary
    lines = traceback.format_exception(error)
    tail = ''.join(lines).rstrip().splitlines()[-ERROR_TRACEBACK_LINES:]
    return summary + '\n' + '\n'.join(tail)
