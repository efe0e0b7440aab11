"""Local runs that were queued without being run (see
launcher.defer_local_runs): the task queue of the test base, and what a
long-running service consumes. A pending run is a local run in state
``queued`` that no process has claimed."""

from __future__ import annotations

from beam_jobs import job_runs
from beam_jobs import jobs_registry
from beam_jobs import launcher
from models import storage
from pipelines import options as pipeline_options


def pending(job_type: str | None = None) -> list[job_runs.JobRun]:
    """The pending runs (of one job, if given), the oldest queued first."""
    records = storage.get_store().list_runs(None, job_type)
    runs = [job_runs.JobRun(**record) for record in records]
    return sorted(
        (run for run in runs
         if run.state == job_runs.STATUS_CODE_QUEUED and
         run.runner == pipeline_options.LOCAL_RUNNER and
         run.owner_pid is None),
        key=lambda run: (run.time_queued_msec or 0, run.job_id))


def job_class_of(run: job_runs.JobRun) -> type:
    """The job class of a pending run: the one this process queued it
    with, else the registered job of its name."""
    return (launcher.deferred_job_class(run.job_id) or
            jobs_registry.get_job_class_by_name(run.job_type))


def run_pending() -> int:
    """Runs every pending run to its end in this process, the oldest first,
    and those they queue in turn (from a hook, say), until none is left;
    returns how many ran."""
    ran = 0
    while True:
        runs = pending()
        if not runs:
            return ran
        for run in runs:
            launcher.run_queued(job_class_of(run), run.job_id)
            ran += 1
