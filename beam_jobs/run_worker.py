"""Runs one queued run in a process of its own, as the admin page and
`run --detach` start it:

    python -m beam_jobs.run_worker JOB_ID --store URL [--job-module MODULE]

The job class is the registered one of the run's job type, else the class
of that name in MODULE (a job that the starting process had registered:
the module is named by that process, never by a request).
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from typing import Any, Sequence

from beam_jobs import job_contract
from beam_jobs import jobs
from beam_jobs import job_runs
from beam_jobs import jobs_registry
from beam_jobs import launcher
from models import storage

# The folder that holds the packages: the worker runs from it, so that it
# imports the same code as the process that starts it.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def queue(job_class: type, job_id: str, params: dict[str, Any] | None,
          shard_count: int | None) -> None:
    """Queues the new run job_id without running it, for start to run in a
    process of its own. shard_count, when given, overrides the job's own
    enqueue. A run refused on the way is removed, so that no record of a
    run that never started stays behind."""
    launcher.defer_local_runs(True)
    try:
        if shard_count is None:
            job_class.enqueue(job_id, additional_job_params=params or None)
        else:
            jobs.BaseMapReduceJobManager.enqueue.__func__(
                job_class, job_id, params or None, shard_count)
    except BaseException:
        job_runs.discard_new(job_id)
        raise
    finally:
        launcher.defer_local_runs(False)


def start(job_class: type, job_id: str) -> None:
    """Starts the process that runs the queued run job_id, in a session of
    its own, so that it outlives the process that starts it."""
    subprocess.Popen(
        [sys.executable, '-m', 'beam_jobs.run_worker', job_id, '--store',
         storage.default_store_url(), '--job-module', job_class.__module__],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)


def job_class_of(run: job_runs.JobRun, job_module: str | None) -> type:
    """The job class of a queued run (see the module's docstring)."""
    try:
        return jobs_registry.get_job_class_by_name(run.job_type)
    except jobs_registry.UnknownJobError:
        if not job_module:
            raise
    job_class = getattr(importlib.import_module(job_module), run.job_type,
                        None)
    job_contract.check_job_class(job_class)
    return job_class


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m beam_jobs.run_worker')
    parser.add_argument('job_id')
    parser.add_argument('--store', required=True)
    parser.add_argument('--job-module')
    args = parser.parse_args(argv)
    storage.set_default_store(args.store)
    run = job_runs.get(args.job_id)
    launcher.run_queued(job_class_of(run, args.job_module), run.job_id)
    return 0


if __name__ == '__main__':
    sys.exit(main())
