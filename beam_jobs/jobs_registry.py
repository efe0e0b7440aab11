"""The registry of one-off jobs that can be run by name."""

from __future__ import annotations

import difflib
from typing import Sequence

from beam_jobs import exp_jobs_one_off
from beam_jobs import job_contract
from beam_jobs import user_jobs_one_off

# One-off jobs that the command line and operators can run.
ONE_OFF_JOB_MANAGERS = [
    exp_jobs_one_off.InteractionAuditOneOffJob,
    exp_jobs_one_off.ExplorationStatesAuditOneOffJob,
    exp_jobs_one_off.InteractionCountOneOffJob,
    user_jobs_one_off.UsernameLengthDistributionOneOffJob,
    user_jobs_one_off.EmailDomainCountOneOffJob,
    user_jobs_one_off.InactiveUsersOneOffJob,
]


class UnknownJobError(LookupError):
    """No registered job has the name asked for."""

    def __str__(self) -> str:
        return str(self.args[0])


def check_registry(job_classes: Sequence[type]) -> None:
    """Raises JobContractError for a duplicate name or a broken job."""
    seen: dict[str, type] = {}
    for job_class in job_classes:
        job_contract.check_job_class(job_class)
        name = job_class.__name__
        if name in seen:
            raise job_contract.JobContractError(
                'two registered jobs are named %s (%s.%s and %s.%s)' % (
                    name, seen[name].__module__, seen[name].__qualname__,
                    job_class.__module__, job_class.__qualname__))
        seen[name] = job_class


def get_all_one_off_job_classes(
        registry: Sequence[type] | None = None) -> list[type]:
    """The registered job classes, checked."""
    job_classes = list(ONE_OFF_JOB_MANAGERS if registry is None else registry)
    check_registry(job_classes)
    return job_classes


def get_job_class_by_name(
        name: str, registry: Sequence[type] | None = None) -> type:
    """The registered job class with this class name.

    Only registered classes are found: a name is never imported as a path.
    """
    job_classes = get_all_one_off_job_classes(registry)
    for job_class in job_classes:
        if job_class.__name__ == name:
            return job_class
    names = [c.__name__ for c in job_classes]
    close = difflib.get_close_matches(name, names, n=1)
    raise UnknownJobError(
        'no registered one-off job named %r%s' % (
            name, '; did you mean %s?' % close[0] if close
            else '; registered: %s' % ', '.join(names)))
