"""Runs on Google Cloud Dataflow: submitting (or dry-running) a job, keeping
its run record in step with the Dataflow job, and canceling it.

A Dataflow run is ``queued`` while the job is built and submitted,
``started`` once Dataflow accepted it (the run record then holds the
Dataflow job id in ``external_job_id``), and finishes when ``status`` (or
:func:`refresh`) finds the Dataflow job finished. A dry run builds the job
without network, records its summary in the run's details and ends the run
``canceled`` by ``dry_run``: nothing was submitted.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Mapping

import apache_beam as beam
from apache_beam.options import pipeline_options as beam_options

from beam_jobs import job_runs
from models import storage
from pipelines import compiler
from pipelines import dataflow
from pipelines import options as pipeline_options

DRY_RUN_USER = 'dry_run'
DRY_RUN_NOTE = ('Dry run: the Dataflow job was built but not submitted; '
                'its summary is in the run details')


def _reads_of(pipeline: beam.Pipeline) -> list[dict[str, Any]]:
    """The Datastore reads of a built pipeline: step, kind, namespace."""
    # Imported here: the gcp extra is only needed once Datastore is used.
    from apache_beam.io.gcp.datastore.v1new import datastoreio
    reads: list[dict[str, Any]] = []

    class _Visitor(beam.pipeline.PipelineVisitor):
        def enter_composite_transform(self, node: Any) -> None:
            if isinstance(node.transform, datastoreio.ReadFromDatastore):
                query = node.transform._query
                step = node.full_label.rsplit('/', 1)[0]
                reads.append({'step': step, 'kind': query.kind,
                              'namespace': query.namespace})

    pipeline.visit(_Visitor())
    return reads


def enqueue(job_class: type, job_id: str, params: Mapping[str, Any],
            shard_count: int, max_errors: int | None,
            pipeline_args: list[str]) -> None:
    """Builds the run's pipeline for Dataflow and submits it (or, with
    --dry_run, only builds it).

    Raises DataflowSetupError (the run stays ``new``) if the options cannot
    work; failures while building or submitting are recorded in the run.
    """
    from apache_beam.runners.dataflow import dataflow_runner
    from beam_jobs import launcher
    store_url = storage.default_store_url()
    args = dataflow.dataflow_args(
        job_class.__name__, job_id, pipeline_args, store_url)
    options = pipeline_options.parse(args)
    dry_run = bool(options.view_as(beam_options.TestOptions).dry_run)
    name = options.view_as(beam_options.GoogleCloudOptions).job_name
    job_runs.transition(
        job_id, job_runs.STATUS_CODE_QUEUED, params=dict(params),
        shard_count=shard_count, runner=dataflow.RUNNER,
        max_errors=max_errors, time_queued_msec=job_runs.now_msec(),
        details={'dataflow_job_name': name, 'dry_run': dry_run})
    spec = compiler.JobSpec(
        job_class=job_class, job_id=job_id, store_url=store_url,
        shard_count=shard_count, params=params, max_errors=max_errors)
    try:
        pipeline = compiler.compiled_pipeline(
            spec, dataflow_runner.DataflowRunner(), options)
        reads = _reads_of(pipeline)
        result = pipeline.run()
    except Exception as e:
        job_runs.transition(
            job_id, job_runs.STATUS_CODE_FAILED,
            error=launcher.describe_failure(spec.job_name, e),
            time_finished_msec=job_runs.now_msec())
        return
    if dry_run:
        summary = dataflow.summarize(
            result.job, spec.job_name, reads, shard_count)
        job_runs.transition(
            job_id, job_runs.STATUS_CODE_CANCELED, canceled_by=DRY_RUN_USER,
            error=DRY_RUN_NOTE, time_finished_msec=job_runs.now_msec(),
            details={'dataflow_job_name': name, 'dry_run': summary})
        return
    now = job_runs.now_msec()
    job_runs.transition(
        job_id, job_runs.STATUS_CODE_STARTED, time_started_msec=now,
        heartbeat_msec=now, external_job_id=result.job_id(),
        owner_pid=os.getpid(), owner_host=socket.gethostname())


def is_dataflow_run(run: job_runs.JobRun) -> bool:
    """Whether the run was (or is being) submitted to Dataflow."""
    return dataflow.is_dataflow(run.runner or '')


def apply_state(run: job_runs.JobRun, pipeline_state: str) -> job_runs.JobRun:
    """Moves the run to the run state matching its Dataflow job's state
    (Beam PipelineState name) and returns it as stored."""
    target = dataflow.run_state_for(pipeline_state)
    if target is None:
        return run
    store = storage.get_store()
    for state in dataflow.transitions_to(run.state, target):
        now = job_runs.now_msec()
        changes: dict[str, Any] = {'heartbeat_msec': now}
        if state == job_runs.STATUS_CODE_STARTED:
            changes['time_started_msec'] = run.time_started_msec or now
        elif state == job_runs.STATUS_CODE_COMPLETED:
            changes.update(time_finished_msec=now,
                           output_lines=store.count_output(run.job_id))
        elif state in (job_runs.STATUS_CODE_FAILED,
                       job_runs.STATUS_CODE_CANCELED):
            # As for local runs: a run that did not complete keeps no output.
            store.delete_output(run.job_id)
            changes.update(
                time_finished_msec=now,
                error='Dataflow job %s ended %s; see `gcloud dataflow jobs '
                'describe %s`' % (run.external_job_id, pipeline_state,
                                  run.external_job_id))
            if state == job_runs.STATUS_CODE_CANCELED:
                changes['canceled_by'] = run.canceled_by or 'dataflow'
        try:
            run = job_runs.transition(run.job_id, state, **changes)
        except job_runs.InvalidTransitionError:
            return job_runs.get(run.job_id)  # Someone else moved it first.
    return run


def refresh(run: job_runs.JobRun) -> job_runs.JobRun:
    """Asks Dataflow for the state of an unfinished Dataflow run and updates
    the run record to match. Other runs are returned as they are."""
    if (not is_dataflow_run(run) or run.is_finished or
            not run.external_job_id):
        return run
    state = dataflow.fetch_pipeline_state(
        run.pipeline_args or [], run.external_job_id)
    return apply_state(run, state)


def cancel_remote(run: job_runs.JobRun) -> None:
    """Asks Dataflow to cancel the run's job, if it has one that may still
    be running. Raises JobRunError if Dataflow cannot be asked."""
    if (is_dataflow_run(run) and not run.is_finished and
            run.external_job_id):
        try:
            dataflow.request_cancel(
                run.pipeline_args or [], run.external_job_id)
        except Exception as e:  # Network, credentials, service errors.
            raise job_runs.JobRunError(
                'cannot ask Dataflow to cancel job %s (Dataflow job %s); the '
                'run is left %s: %s: %s' % (
                    run.job_id, run.external_job_id, run.state,
                    type(e).__name__, e)) from e
