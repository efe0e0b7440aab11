"""The one-off MapReduce job API, as App Engine-era job authors know it.

A job subclasses :class:`BaseMapReduceOneOffJobManager` and defines
``entity_classes_to_map_over``, a static ``map`` and a static ``reduce``;
it may override ``enqueue`` to set ``shard_count``. The framework compiles it
into a Beam pipeline (see :mod:`pipelines.compiler`). What ``map`` yields is
what ``reduce`` gets; beam_jobs.compat.jobs has the same classes with the
old framework's strings instead.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

import datetime
import json

from beam_jobs import job_contract
from beam_jobs import job_runs
from beam_jobs import launcher
from models import storage
from pipelines import mapper_context
from pipelines import metrics

DEFAULT_SHARD_COUNT = 8
# What a job's PARAMS declare (see BaseMapReduceJobManager.PARAMS).
Param = job_contract.Param

# The old framework's names for the run states.
STATUS_CODE_NEW = job_runs.STATUS_CODE_NEW
STATUS_CODE_QUEUED = job_runs.STATUS_CODE_QUEUED
STATUS_CODE_STARTED = job_runs.STATUS_CODE_STARTED
STATUS_CODE_COMPLETED = job_runs.STATUS_CODE_COMPLETED
STATUS_CODE_FAILED = job_runs.STATUS_CODE_FAILED
STATUS_CODE_CANCELED = job_runs.STATUS_CODE_CANCELED
MAPPER_PARAM_KEY_QUEUED_TIME_MSECS = (
    job_contract.MAPPER_PARAM_KEY_QUEUED_TIME_MSECS)


def increment_counter(name: str, delta: int = 1) -> None:
    """Adds delta to the run's counter name, from map, combine or reduce;
    MyJob.get_counters(job_id) gives the totals once the run completed."""
    metrics.increment_job_counter(name, delta)


class MapperParamError(KeyError):
    """get_mapper_param was asked for a parameter the run was not given, or
    outside a map or reduce call."""

    def __str__(self) -> str:
        return str(self.args[0])


@job_contract.register_base_class
class BaseMapReduceJobManager:
    """Base class of jobs that map over every model of some classes: the
    parent of BaseMapReduceOneOffJobManager (which jobs subclass), as in the
    old framework, with the author API, the lifecycle API and its hooks."""

    # How many models or keys may fail (see get_errors) before the run is
    # failed rather than completed. None: no limit, the run completes and
    # reports its error count. A run's own max_errors (create_new, or
    # --max_errors on the command line) takes precedence.
    max_errors: int | None = None
    # The parameters the job takes, if it declares them:
    # {'cutoff_date': jobs.Param(str), 'limit': jobs.Param(int, 100)}. A
    # run missing a required one, or given another, is refused before it
    # starts. None: the job takes any (as the old framework's did).
    PARAMS: dict[str, Any] | None = None
    # Whether reduce gets keys and values as the old framework's shuffle
    # delivered them, as str(), and output lines are made as it made them
    # (see beam_jobs.compat.jobs). A job with a combine is always typed.
    OLD_FRAMEWORK_STRINGS = False

    # Author API.
    @classmethod
    def entity_classes_to_map_over(cls) -> Sequence[type]:
        """The model classes whose every instance is passed to map."""
        raise NotImplementedError(
            '%s must define entity_classes_to_map_over()' % cls.__name__)

    @staticmethod
    def map(item: Any) -> Iterable[tuple[Any, Any]]:
        """Yields (key, value) pairs for one model (deleted ones included)."""
        raise NotImplementedError('map() is not defined')

    @staticmethod
    def reduce(key: Any, values: list[Any]) -> Iterable[Any]:
        """Yields output for one key; each value's str() is a line."""
        raise NotImplementedError('reduce() is not defined')

    # Lifecycle API.
    @classmethod
    def create_new(cls, pipeline_args: Sequence[str] | None = None,
                   max_errors: int | None = None) -> str:
        """Creates a run in state ``new`` and returns its job id.

        pipeline_args are Beam pipeline options (``--runner``,
        ``--direct_num_workers=2``, ...) stored with the run and used when
        it is enqueued. max_errors overrides the class's max_errors.
        """
        job_contract.check_job_class(cls)
        launcher.checked_max_errors(cls, max_errors)
        return job_runs.create(
            cls.__name__, list(pipeline_args or []), max_errors).job_id

    @classmethod
    def enqueue(cls, job_id: str,
                additional_job_params: dict[str, Any] | None = None,
                shard_count: int = DEFAULT_SHARD_COUNT) -> None:
        """Queues the run and, with the local runner, runs it to completion.

        additional_job_params are readable in map and reduce through
        get_mapper_param. shard_count is how many key ranges each model
        kind is read in, i.e. the read's parallelism.
        """
        launcher.enqueue(cls, job_id, additional_job_params, shard_count)

    @classmethod
    def get_run(cls, job_id: str) -> job_runs.JobRun:
        """The full run record of one of this job's runs."""
        return launcher.own_run(cls, job_id)

    @classmethod
    def get_status_code(cls, job_id: str) -> str:
        """new, queued, started, completed, failed or canceled."""
        return cls.get_run(job_id).state

    @classmethod
    def get_output(cls, job_id: str) -> list[str]:
        """The str() of every value reduce yielded, ordered by key; empty
        until the run has completed."""
        return cls.get_output_lines(job_id)

    @classmethod
    def get_output_lines(cls, job_id: str) -> list[str]:
        """Every output line of the run, ordered by key, none collapsed;
        empty until the run has completed."""
        return list(cls.iter_output(job_id))

    @classmethod
    def iter_output(cls, job_id: str) -> Iterator[str]:
        """get_output, streamed: for output too large to hold at once."""
        if cls.get_run(job_id).state != job_runs.STATUS_CODE_COMPLETED:
            return iter(())
        return storage.get_store().read_output(job_id)

    @classmethod
    def get_errors(cls, job_id: str,
                   limit: int | None = None) -> list[storage.JobErrorRecord]:
        """The models (stage 'read' or 'map', by kind and id) and keys
        (stage 'combine' or 'reduce') that the run could not process, with
        the error type, message and the end of the traceback of each."""
        launcher.own_run(cls, job_id)
        return storage.get_store().read_errors(job_id, limit)

    @classmethod
    def get_counters(cls, job_id: str) -> dict[str, int]:
        """The counters the run's job code incremented (increment_counter),
        by name, once the run completed (empty before, and for a run on
        Dataflow, whose counters its console shows)."""
        details = cls.get_run(job_id).details or {}
        return dict(details.get(launcher.JOB_COUNTERS) or {})

    @classmethod
    def is_dry_run(cls, job_id: str) -> bool:
        """Whether the run is a dry run (--dry_run=True): locally, its job
        code's writes of models were recorded, not made."""
        return bool((cls.get_run(job_id).details or {}).get(
            launcher.DRY_RUN))

    @classmethod
    def get_dry_run_report(cls, job_id: str) -> dict[str, Any]:
        """What a local dry run's job code would have written:
        {'counts': {kind: {'created': n, 'written': n, 'deleted': n}},
        'writes': [{'kind', 'id', 'action', 'changes': {property: [old,
        new]}}, ...]}, the writes sampled (the first of each kind per
        process), ordered by kind and id. Empty for another run."""
        details = cls.get_run(job_id).details or {}
        writes = storage.get_store().read_dry_run_writes(job_id)
        return {
            'counts': dict(details.get(launcher.DRY_RUN_WRITES) or {}),
            'writes': [{'kind': w.kind, 'id': w.entity, 'action': w.action,
                        'changes': json.loads(w.changes)} for w in writes]}

    @classmethod
    def get_error(cls, job_id: str) -> str | None:
        """Why the run failed or was canceled, or None."""
        return cls.get_run(job_id).error

    @classmethod
    def get_time_queued_msec(cls, job_id: str) -> float | None:
        return cls.get_run(job_id).time_queued_msec

    @classmethod
    def get_time_started_msec(cls, job_id: str) -> float | None:
        return cls.get_run(job_id).time_started_msec

    @classmethod
    def get_time_finished_msec(cls, job_id: str) -> float | None:
        return cls.get_run(job_id).time_finished_msec

    @classmethod
    def cancel(cls, job_id: str, user_id: str | None) -> None:
        """Cancels a queued or started run, recording who did, and discards
        its output. Raises InvalidTransitionError for any other state."""
        launcher.own_run(cls, job_id)
        launcher.cancel(job_id, user_id, cls)

    @classmethod
    def is_active(cls, job_id: str) -> bool:
        """Whether the run is queued or started."""
        return cls.get_status_code(job_id) in (
            STATUS_CODE_QUEUED, STATUS_CODE_STARTED)

    @classmethod
    def has_finished(cls, job_id: str) -> bool:
        """Whether the run completed or failed (a canceled run has not
        finished, as the old framework counted)."""
        return cls.get_status_code(job_id) in (
            STATUS_CODE_COMPLETED, STATUS_CODE_FAILED)

    @classmethod
    def cancel_all_unfinished_jobs(cls, user_id: str | None) -> None:
        """Cancels every queued or started run of this job."""
        for run in job_runs.list_unfinished(cls.__name__):
            cls.cancel(run.job_id, user_id)

    @classmethod
    def get_metadata(cls, job_id: str) -> dict[str, Any] | None:
        """What the run records of how it runs (its details)."""
        return cls.get_run(job_id).details

    # Lifecycle hooks: each runs in the process that moves the run, at the
    # move (for a Dataflow run's end, in the process that sees it).
    @classmethod
    def _pre_enqueue_hook(cls, job_id: str) -> None:
        pass

    @classmethod
    def _post_enqueue_hook(cls, job_id: str) -> None:
        pass

    @classmethod
    def _pre_start_hook(cls, job_id: str) -> None:
        pass

    @classmethod
    def _post_start_hook(cls, job_id: str) -> None:
        pass

    @classmethod
    def _post_completed_hook(cls, job_id: str) -> None:
        pass

    @classmethod
    def _post_failure_hook(cls, job_id: str) -> None:
        pass

    @classmethod
    def _pre_cancel_hook(cls, job_id: str, cancel_message: str) -> None:
        pass

    @classmethod
    def _post_cancel_hook(cls, job_id: str, cancel_message: str) -> None:
        pass

    @staticmethod
    def _entity_created_before_job_queued(entity: Any) -> bool:
        """Whether a model was created before the run was queued (inside
        map or reduce): event-log jobs skip what came after."""
        queued_msec = float(BaseMapReduceJobManager.get_mapper_param(
            MAPPER_PARAM_KEY_QUEUED_TIME_MSECS))
        created = entity.created_on
        if created is None:
            return True
        if created.tzinfo is None:
            created = created.replace(tzinfo=datetime.timezone.utc)
        return queued_msec >= created.timestamp() * 1000.0

    @classmethod
    def get_mapper_param(cls, param_name: str) -> Any:
        """A value of the run's additional_job_params, inside map or reduce.

        Works in whichever process runs the call: the parameters travel
        with the pipeline.
        """
        active = mapper_context.current()
        if active is None:
            raise MapperParamError(
                '%s.get_mapper_param(%r) called outside map or reduce'
                % (cls.__name__, param_name))
        job_name, params = active
        if param_name not in params:
            raise MapperParamError(
                '%s has no mapper parameter %r (given: %s)' % (
                    job_name, param_name, ', '.join(sorted(
                        set(params) - job_contract.FRAMEWORK_PARAMS))
                    or 'none'))
        return params[param_name]


@job_contract.register_base_class
class BaseMapReduceOneOffJobManager(BaseMapReduceJobManager):
    """Base class of one-off jobs that map over every model of some classes.

    Author API (what a job defines)::

        @classmethod
        def entity_classes_to_map_over(cls): return [SomeModel]
        @staticmethod
        def map(item): yield (key, value)
        @staticmethod
        def reduce(key, values): yield output   # values is a list

    Lifecycle API (what callers use)::

        job_id = MyJob.create_new()
        MyJob.enqueue(job_id)            # runs to completion locally
        MyJob.get_status_code(job_id)    # 'completed'
        MyJob.get_output(job_id)         # ['...', ...]
    """
