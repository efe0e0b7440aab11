"""The old framework's ``core.jobs`` names, with its semantics.

A job whose module imports its base class from here runs as the App Engine
framework ran it:

- ``reduce(key, values)`` gets the ``str()`` of each key and value ``map``
  yielded, as that framework's shuffle wrote them: a reducer that calls
  ``ast.literal_eval(value)`` or ``key.startswith(...)`` works unchanged;
- each value ``reduce`` yields becomes its output line after a JSON round
  trip (tuples print as lists), then ``'%s' % value``;
- ``get_output`` returns the lines with identical ones collapsed into
  ``'line (N times)'``; ``get_output_lines`` (and the command line's
  ``output``) gives every line.

A job that declares ``combine`` is typed even here (its values must be what
``map`` yields). For new jobs, ``beam_jobs.jobs``: what ``map`` yields is
what ``reduce`` gets.
"""

from __future__ import annotations

import collections

from beam_jobs import job_contract
from beam_jobs import jobs

STATUS_CODE_NEW = jobs.STATUS_CODE_NEW
STATUS_CODE_QUEUED = jobs.STATUS_CODE_QUEUED
STATUS_CODE_STARTED = jobs.STATUS_CODE_STARTED
STATUS_CODE_COMPLETED = jobs.STATUS_CODE_COMPLETED
STATUS_CODE_FAILED = jobs.STATUS_CODE_FAILED
STATUS_CODE_CANCELED = jobs.STATUS_CODE_CANCELED
MAPPER_PARAM_KEY_QUEUED_TIME_MSECS = jobs.MAPPER_PARAM_KEY_QUEUED_TIME_MSECS


@job_contract.register_base_class
class BaseMapReduceJobManager(jobs.BaseMapReduceJobManager):
    """The old framework's BaseMapReduceJobManager: the parent of its
    one-off manager, with its strings (see the module's docstring)."""

    OLD_FRAMEWORK_STRINGS = True

    @classmethod
    def get_output(cls, job_id: str) -> list[str]:
        """The run's output lines as the old framework returned them: each
        distinct line once, in the order first seen, as 'line (N times)'
        where it came N > 1 times. Every line: get_output_lines."""
        counts = collections.Counter(cls.get_output_lines(job_id))
        return [line if count == 1 else '%s (%d times)' % (line, count)
                for line, count in counts.items()]


@job_contract.register_base_class
class BaseMapReduceOneOffJobManager(BaseMapReduceJobManager,
                                    jobs.BaseMapReduceOneOffJobManager):
    """The old framework's BaseMapReduceOneOffJobManager: subclass it for a
    job written for that framework."""
