"""The errors that are a user's to fix (a wrong job name, parameter,
option, run id or store): the command line shows one as one line, never a
traceback, and the admin page's API answers one with 400."""

from __future__ import annotations

from beam_jobs import job_contract
from beam_jobs import job_runs
from beam_jobs import jobs_registry
from beam_jobs import launcher
from models import storage
from pipelines import options as pipeline_options

USER_ERRORS = (
    job_contract.JobContractError, launcher.JobLaunchError,
    job_runs.JobRunError, jobs_registry.UnknownJobError,
    pipeline_options.PipelineOptionsError, storage.StoreError)
