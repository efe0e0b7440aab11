"""Starting a job run: checking what was asked, compiling the job, running
its pipeline and recording what happened in the run record."""

from __future__ import annotations

import json
import logging
import os
import socket
import traceback
from typing import Any, Mapping, Sequence

import apache_beam as beam

from beam_jobs import job_contract
from beam_jobs import job_runs
from beam_jobs import periodic
from models import storage
from pipelines import compiler
from pipelines import dataflow
from pipelines import errors
from pipelines import fork_guard
from pipelines import forked_workers
from pipelines import frozen_heap
from pipelines import metrics
from pipelines import options as pipeline_options

_LOGGER = logging.getLogger(__name__)

MAX_SHARD_COUNT = 1024
# The keys, in a local run's details, of how many worker processes ran it,
# and, when the run's options did not choose that number, of the estimated
# work (seconds of one core) and the models counted (a count stops where it
# would no longer change the choice) that chose it.
LOCAL_WORKERS = 'local_workers'
ESTIMATED_WORK_SECONDS = 'estimated_work_seconds'
COUNTED_MODELS = 'counted_models'
# The key, in the details of a local run on worker processes, of how they
# were started: 'forked' from the launching process (see
# pipelines.forked_workers), or 'spawned: <why not forked>'.
LOCAL_WORKER_START = 'local_worker_start'
# How many of a kind's first models give the mean stored size the work
# estimate uses.
SIZE_SAMPLE_MODELS = 200
# A running local job refreshes its run's heartbeat this often; a run whose
# heartbeat is older than job_runs.STALE_AFTER_MSEC is taken for dead.
HEARTBEAT_SECONDS = 5.0
# How much of a failure's traceback the run record keeps.
ERROR_TRACEBACK_LINES = 30


class JobLaunchError(ValueError):
    """A run cannot be started as asked; nothing was started."""


class OutputLostError(RuntimeError):
    """The store holds fewer output lines than the pipeline wrote."""


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
    """Queues the run job_id of job_class and, with the local runner, runs
    it to completion in this process.

    Raises JobContractError, JobLaunchError or PipelineOptionsError, leaving
    the run ``new``, if the job or what was asked of it is wrong. Failures
    of the pipeline itself do not raise: they are recorded in the run.
    """
    job_contract.check_job_class(job_class)
    params = checked_params(job_class, params)
    shard_count = checked_shard_count(job_class, shard_count)
    run = own_run(job_class, job_id)
    max_errors = checked_max_errors(
        job_class, job_class.max_errors if run.max_errors is None
        else run.max_errors)
    try:
        options = pipeline_options.parse(run.pipeline_args or [])
    except pipeline_options.PipelineOptionsError as e:
        raise JobLaunchError('%s: %s' % (job_class.__name__, e)) from e
    runner = pipeline_options.runner_name(options)
    if dataflow.is_dataflow(runner):
        from beam_jobs import dataflow_launcher
        try:
            dataflow_launcher.enqueue(
                job_class, job_id, params, shard_count, max_errors,
                list(run.pipeline_args or []))
        except dataflow.DataflowSetupError as e:
            raise JobLaunchError(str(e)) from e
        return
    if not pipeline_options.is_local(options):
        raise JobLaunchError(
            '%s: the runner %s is not supported; use the local runner or '
            'DataflowRunner' % (job_class.__name__, runner))
    args = list(run.pipeline_args or [])
    workers, chosen_by = _default_local_workers(job_class, args, shard_count)
    if workers > 1:
        options = pipeline_options.parse(
            pipeline_options.with_local_workers(args, workers))
    job_runs.transition(
        job_id, job_runs.STATUS_CODE_QUEUED, params=params,
        shard_count=shard_count, runner=runner, max_errors=max_errors,
        time_queued_msec=job_runs.now_msec(), owner_pid=os.getpid(),
        owner_host=socket.gethostname())
    _run_locally(compiler.JobSpec(
        job_class=job_class, job_id=job_id,
        store_url=storage.default_store_url(), shard_count=shard_count,
        params=params, max_errors=max_errors), options, chosen_by)


def _default_local_workers(job_class: type, args: Sequence[str],
                           shard_count: int) -> tuple[int, dict[str, Any]]:
    """The worker processes a local run uses when its options do not say,
    and the run's details that say why: the estimated work (seconds of one
    core) and the models counted that decided it (see
    pipelines.options.default_local_workers).

    1, with no details, when the options say, and also for a job defined
    in __main__, which worker processes cannot import, and for a local run
    over Cloud Datastore (the emulator, in development), where counting
    models means fetching keys.
    """
    if (pipeline_options.sets_local_parallelism(args) or
            job_class.__module__ == '__main__' or
            storage.default_store_url().startswith('datastore://')):
        return 1, {}
    store = storage.get_store()
    # Forked workers start sooner, so they pay off from less work; the
    # fork itself is tried when the run starts (see _fork_workers).
    forked = fork_guard.fork_blocker() is None
    work = 0.0
    models = 0
    for model_class in job_contract.model_classes_of(job_class):
        kind = model_class.kind()
        mean_size = store.mean_stored_size(kind, SIZE_SAMPLE_MODELS)
        if mean_size is None:
            continue
        # Counted only as far as the threshold: a count is a scan.
        kind_models = store.count(
            kind, limit=pipeline_options.parallel_min_models(mean_size,
                                                             forked))
        models += kind_models
        work += kind_models * pipeline_options.model_work_seconds(mean_size)
    workers = pipeline_options.default_local_workers(
        work, shard_count, pipeline_options.usable_cores(), forked, models)
    return workers, {ESTIMATED_WORK_SECONDS: round(work, 3),
                     COUNTED_MODELS: models}


def cancel(job_id: str, user_id: str | None) -> job_runs.JobRun:
    """Cancels a queued or started run of any job, recording who did, and
    discards its output. A local pipeline running in another process
    notices within seconds and stops. Raises InvalidTransitionError, naming
    the run's state, for runs that are not queued or started."""
    from beam_jobs import dataflow_launcher
    # A Dataflow job is asked to stop first: if Dataflow cannot be reached
    # the run stays as it is, rather than look canceled.
    dataflow_launcher.cancel_remote(job_runs.get(job_id))
    who = user_id or 'system'
    run = job_runs.transition(
        job_id, job_runs.STATUS_CODE_CANCELED, canceled_by=who,
        error='Canceled by %s' % who, time_finished_msec=job_runs.now_msec())
    storage.get_store().delete_output(job_id)
    return run


def _run_locally(spec: compiler.JobSpec,
                 options: beam.options.pipeline_options.PipelineOptions,
                 chosen_by: Mapping[str, Any]) -> None:
    workers = pipeline_options.local_workers(options)
    how: dict[str, Any] = {LOCAL_WORKERS: workers, **chosen_by}
    on_workers = pipeline_options.uses_worker_processes(options)
    with frozen_heap.frozen():
        standby = None
        if on_workers:
            # Before the run's threads and gRPC start: see _fork_workers.
            standby, how[LOCAL_WORKER_START] = _fork_workers(workers)
        try:
            _run_pipeline(spec, options, how, standby)
        finally:
            if standby is not None:
                standby.close()
            if on_workers:
                # So that the next run in this process can fork its
                # workers too.
                fork_guard.release_run_threads()


def _run_pipeline(spec: compiler.JobSpec,
                  options: beam.options.pipeline_options.PipelineOptions,
                  how: dict[str, Any],
                  standby: forked_workers.StandbyWorkers | None) -> None:
    now = job_runs.now_msec()
    job_runs.transition(
        spec.job_id, job_runs.STATUS_CODE_STARTED, time_started_msec=now,
        heartbeat_msec=now, details=how)
    store = storage.get_store(spec.store_url)
    try:
        with _heartbeat(spec.job_id, spec.store_url):
            pipeline = compiler.compiled_pipeline(
                spec, pipeline_options.local_runner(standby), options)
            result = pipeline.run()
            result.wait_until_finish()
        counts = metrics.read_counters(result)
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
        _record_failure(spec, e)
        if not isinstance(e, Exception):
            raise
        return
    _finish(spec.job_id, spec.store_url, job_runs.STATUS_CODE_COMPLETED,
            models_read=counts[metrics.MODELS_READ],
            values_emitted=counts[metrics.VALUES_EMITTED],
            output_lines=stored, error_count=error_count,
            details={**how,
                     metrics.KEY_RANGES: counts[metrics.KEY_RANGES],
                     metrics.KEYS_REDUCED: counts[metrics.KEYS_REDUCED]})


def _fork_workers(count: int
                  ) -> tuple[forked_workers.StandbyWorkers | None, str]:
    """count worker processes forked for a local run, or None if they will
    be spawned; and which, for the run's details (LOCAL_WORKER_START).

    A fork copies only the forking thread, so it is made before the run's
    heartbeat and gRPC's threads exist, and only if pipelines.fork_guard
    finds no other thread that could hold a lock."""
    try:
        return forked_workers.StandbyWorkers.fork(count), 'forked'
    except (forked_workers.ForkRefused, OSError) as e:
        return None, 'spawned: %s' % e


def _heartbeat(job_id: str, store_url: str) -> periodic.Periodic:
    """While open, refreshes the run's heartbeat from a daemon thread, so
    that a run whose process died can be told from one still working."""
    store = storage.get_store(store_url)

    def beat() -> None:
        try:
            store.update_run(
                job_id, {'heartbeat_msec': job_runs.now_msec()},
                from_states=[job_runs.STATUS_CODE_STARTED])
        except Exception:  # A busy store must not end the heartbeat.
            _LOGGER.warning('could not refresh the heartbeat of %s', job_id,
                            exc_info=True)

    return periodic.Periodic(HEARTBEAT_SECONDS, beat, 'heartbeat-%s' % job_id)


def _record_failure(spec: compiler.JobSpec, error: BaseException) -> None:
    store = storage.get_store(spec.store_url)
    _finish(spec.job_id, spec.store_url, job_runs.STATUS_CODE_FAILED,
            error=describe_failure(spec.job_name, error),
            error_count=store.count_errors(spec.job_id))


def _finish(job_id: str, store_url: str, state: str, **changes: Any) -> None:
    """Moves a started run to its final state. Output is kept only for a
    completed run: a run that failed, or was canceled meanwhile, never
    leaves partial output behind."""
    store = storage.get_store(store_url)
    if state != job_runs.STATUS_CODE_COMPLETED:
        store.delete_output(job_id)
    try:
        job_runs.transition(
            job_id, state, time_finished_msec=job_runs.now_msec(), **changes)
    except job_runs.InvalidTransitionError:
        # Canceled while running: the cancel stands, the output goes.
        store.delete_output(job_id)


def describe_failure(job_name: str, error: BaseException) -> str:
    """One line naming the job and the error, then the traceback's tail.

    Beam re-raises a DoFn's exception inside a long wrapper; the line shows
    the innermost error, which is the job author's own. An interruption
    (Ctrl-C) is one line: where the runner happened to be waiting says
    nothing about the job.
    """
    if isinstance(error, KeyboardInterrupt):
        return ('%s interrupted (Ctrl-C or SIGINT) in the process running it'
                % job_name)
    root = error
    while root.__cause__ is not None or root.__context__ is not None:
        root = root.__cause__ or root.__context__
    detail = str(root).strip().splitlines()
    summary = '%s failed: %s: %s' % (
        job_name, type(root).__name__, detail[-1] if detail else '')
    lines = traceback.format_exception(error)
    tail = ''.join(lines).rstrip().splitlines()[-ERROR_TRACEBACK_LINES:]
    return summary + '\n' + '\n'.join(tail)
