"""Where a run's pipeline runs, behind one small interface, as mrjob's
runners are: a runner completes the run's pipeline options, submits the
compiled job, tells the state of a submitted job, and cancels it.

- LocalRunner: Beam's in-process FnApiRunner, in one process unless the
  options ask for Beam's worker processes. submit() returns when the
  pipeline has finished.
- DataflowRunner: Google Cloud Dataflow. submit() returns once Dataflow has
  accepted the job (or, with --dry_run=True, once the job is built offline,
  with its summary).

The run record's bookkeeping around these calls is beam_jobs.launcher's.
"""

from __future__ import annotations

import abc
import dataclasses
import threading
from typing import Any, NamedTuple, Sequence

from apache_beam.options import pipeline_options as beam_options

from beam_jobs import job_runs
from models import datastore_store
from pipelines import compiler
from pipelines import dataflow
from pipelines import metrics
from pipelines import options as pipeline_options

DRY_RUN_USER = 'dry_run'


class RunnerError(ValueError):
    """A run cannot go to its runner as asked; the message says what to
    change. Nothing was started."""


class JobState(NamedTuple):
    """A submitted job's state, as a run state, and what a run that ends
    in it without completing says of why (its error)."""

    run_state: str
    ended_note: str


@dataclasses.dataclass
class Submission:
    """What submitting a job gave: a finished local run's counters and its
    job code's own (see pipelines.metrics), a remote job's id, or a dry
    run's summary."""

    counters: dict[str, int] | None = None
    job_counters: dict[str, int] | None = None
    dry_run_counts: dict[str, dict[str, int]] | None = None
    external_job_id: str | None = None
    dry_run_summary: dict[str, Any] | None = None


class JobRunner(abc.ABC):
    """One place a run's pipeline can run."""

    # The runner's name, as run records keep it.
    name: str
    # Whether submit() runs the whole pipeline in this process (and its
    # local workers), so that the run needs this process's heartbeat.
    runs_here: bool

    @abc.abstractmethod
    def pipeline_options(self, job_name: str, job_id: str,
                         args: Sequence[str], store_url: str
                         ) -> beam_options.PipelineOptions:
        """The run's pipeline options: the user's args, checked, and
        completed with what this runner needs. Raises RunnerError."""

    def queued_details(self, options: beam_options.PipelineOptions
                       ) -> dict[str, Any]:
        """What the run's details say about it once it is queued."""
        return {}

    @abc.abstractmethod
    def submit(self, spec: compiler.JobSpec,
               options: beam_options.PipelineOptions) -> Submission:
        """Runs (or submits) the compiled job; raises what building or
        running it raised."""

    def current_state(self, run: job_runs.JobRun) -> JobState | None:
        """The state the run's submitted job is in now, or None when this
        runner cannot tell (a local run is followed by its heartbeat)."""
        return None

    def cancel(self, run: job_runs.JobRun) -> None:
        """Asks the runner to stop the run's job. A local pipeline needs
        nothing: it watches its run record and stops once it is canceled
        (see pipelines.run_control)."""


class LocalRunner(JobRunner):
    """Beam's FnApiRunner in this process, or in Beam's worker processes
    with --direct_running_mode=multi_processing --direct_num_workers=N."""

    name = pipeline_options.LOCAL_RUNNER
    runs_here = True

    def pipeline_options(self, job_name: str, job_id: str,
                         args: Sequence[str], store_url: str
                         ) -> beam_options.PipelineOptions:
        return pipeline_options.parse(args)

    def submit(self, spec: compiler.JobSpec,
               options: beam_options.PipelineOptions) -> Submission:
        pipeline = compiler.compiled_pipeline(
            spec, pipeline_options.local_runner(), options)
        with _WorkerExits() as exits:
            try:
                result = pipeline.run()
                result.wait_until_finish()
            except Exception:
                # Beam reports a worker that died as the runner's own
                # error (queue.Empty, say); the worker's exit says more.
                if exits.first is not None:
                    raise WorkerEndedError(exits.first) from None
                raise
        return Submission(
            counters=metrics.read_counters(result),
            job_counters=metrics.read_job_counters(result),
            dry_run_counts=(metrics.read_dry_run_counts(result)
                            if spec.dry_run else None))


class WorkerEndedError(RuntimeError):
    """A local worker process ended in the middle of a run."""

    def __init__(self, returncode: int) -> None:
        # Beam starts each worker through a shell, which reports a child
        # killed by signal N as 128 + N.
        how = ('signal %d' % (returncode - 128) if returncode > 128
               else 'exit status %d' % returncode)
        super().__init__(
            'a worker process ended unexpectedly (%s); the run stopped '
            'with it' % how)
        self.returncode = returncode


class _WorkerExits:
    """While open, takes the report of a local worker process that exited
    with an error from the thread that waits for it (Beam raises it there,
    as RuntimeError('Worker subprocess exited with return code N')), in
    place of that thread's traceback; first is the first such code. Other
    uncaught thread errors are held until it closes: if a worker ended so,
    they are its consequences (the runner's threads finding its channels
    closed) and are dropped; otherwise they go to the hook that was in
    place."""

    _REPORT = 'Worker subprocess exited with return code '

    def __init__(self) -> None:
        self.first: int | None = None
        self._previous = threading.excepthook
        self._held: list[Any] = []

    def __enter__(self) -> '_WorkerExits':
        self._previous = threading.excepthook
        threading.excepthook = self._hook
        return self

    def __exit__(self, *exc_info: Any) -> None:
        threading.excepthook = self._previous
        if self.first is None:
            for args in self._held:
                self._previous(args)
        self._held = []

    def _hook(self, args: Any) -> None:
        message = str(args.exc_value)
        if (isinstance(args.exc_value, RuntimeError) and
                message.startswith(self._REPORT)):
            code = message[len(self._REPORT):].strip()
            if code.lstrip('-').isdigit() and int(code) > 0:
                if self.first is None:
                    self.first = int(code)
                return
            if code.lstrip('-').isdigit():
                return  # Ended by the runner as it shut down: no news.
        self._held.append(args)


class DataflowRunner(JobRunner):
    """Google Cloud Dataflow, over a Cloud Datastore store."""

    name = dataflow.RUNNER
    runs_here = False

    def pipeline_options(self, job_name: str, job_id: str,
                         args: Sequence[str], store_url: str
                         ) -> beam_options.PipelineOptions:
        try:
            return pipeline_options.parse(dataflow.dataflow_args(
                job_name, job_id, args, store_url))
        except dataflow.DataflowSetupError as e:
            raise RunnerError(str(e)) from e

    def queued_details(self, options: beam_options.PipelineOptions
                       ) -> dict[str, Any]:
        return {'dataflow_job_name': options.view_as(
                    beam_options.GoogleCloudOptions).job_name,
                'dry_run': _is_dry_run(options)}

    def submit(self, spec: compiler.JobSpec,
               options: beam_options.PipelineOptions) -> Submission:
        # Imported here: Beam's Dataflow runner needs the gcp extra, which
        # a local install does not have.
        from apache_beam.runners.dataflow import dataflow_runner
        pipeline = compiler.compiled_pipeline(
            spec, dataflow_runner.DataflowRunner(), options)
        result = pipeline.run()
        if _is_dry_run(options):
            return Submission(dry_run_summary=dataflow.summarize(
                result.job, spec.job_name, _datastore_reads(spec),
                spec.shard_count))
        return Submission(external_job_id=result.job_id())

    def current_state(self, run: job_runs.JobRun) -> JobState | None:
        if run.is_finished or not run.external_job_id:
            return None
        runner_state = dataflow.fetch_pipeline_state(
            run.pipeline_args or [], run.external_job_id)
        run_state = dataflow.run_state_for(runner_state)
        if run_state is None:  # A state newer than this SDK: unknown.
            return None
        return JobState(run_state, (
            'Dataflow job %s ended %s; see `gcloud dataflow jobs describe '
            '%s`' % (run.external_job_id, runner_state,
                     run.external_job_id)))

    def cancel(self, run: job_runs.JobRun) -> None:
        if run.is_finished or not run.external_job_id:
            return
        try:
            dataflow.request_cancel(
                run.pipeline_args or [], run.external_job_id)
        except Exception as e:  # Network, credentials, service errors.
            raise job_runs.JobRunError(
                'cannot ask Dataflow to cancel job %s (Dataflow job %s); the '
                'run is left %s: %s: %s' % (
                    run.job_id, run.external_job_id, run.state,
                    type(e).__name__, e)) from e


def runner_for(options: beam_options.PipelineOptions,
               job_name: str) -> JobRunner:
    """The runner --runner names; raises RunnerError for one that is not
    supported."""
    name = pipeline_options.runner_name(options)
    if dataflow.is_dataflow(name):
        return DataflowRunner()
    if name == LocalRunner.name:
        return LocalRunner()
    raise RunnerError(
        '%s: the runner %s is not supported; use the local runner or '
        'DataflowRunner' % (job_name, name))


def runner_of(run: job_runs.JobRun) -> JobRunner | None:
    """The runner a run was queued on, or None before it was queued."""
    if dataflow.is_dataflow(run.runner or ''):
        return DataflowRunner()
    if run.runner == LocalRunner.name:
        return LocalRunner()
    return None


def is_dry_run(options: beam_options.PipelineOptions) -> bool:
    """Whether --dry_run=True was given: on Dataflow, Beam's meaning (build
    the job, submit nothing); locally, run it writing no model."""
    return _is_dry_run(options)


def _is_dry_run(options: beam_options.PipelineOptions) -> bool:
    return bool(options.view_as(beam_options.TestOptions).dry_run)


def _datastore_reads(spec: compiler.JobSpec) -> list[dict[str, Any]]:
    """The Datastore reads the compiler gives the job: step, kind and
    namespace of each."""
    _, namespace = datastore_store.parse_url(spec.store_url)
    return [{'step': '%s/Read%s' % (spec.job_name, model_class.kind()),
             'kind': model_class.kind(), 'namespace': namespace}
            for model_class in spec.model_classes]
