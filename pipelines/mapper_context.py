"""The parameters of the job run that the current ``map`` or ``reduce`` call
belongs to.

The map and reduce stages activate them around each call, in whichever
process runs the call (the launcher, a local worker process, a
Dataflow worker): the parameters travel inside the pipeline's DoFns, not in
a global of the launching process.
"""

from __future__ import annotations

import contextvars
from typing import Any, Mapping

_current: contextvars.ContextVar[tuple[str, Mapping[str, Any]] | None] = (
    contextvars.ContextVar('beam_jobs_mapper_params', default=None))


def activate(job_name: str, params: Mapping[str, Any]) -> contextvars.Token:
    """Makes params the ones get_mapper_param reads, until deactivate."""
    return _current.set((job_name, params))


def deactivate(token: contextvars.Token) -> None:
    """Restores what was active before the matching activate."""
    _current.reset(token)


def current() -> tuple[str, Mapping[str, Any]] | None:
    """(job name, params) of the call in progress, or None outside one."""
    return _current.get()
