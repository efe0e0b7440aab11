"""Warnings Beam logs that are false for this framework's local runs, and a
logging filter that drops them; any other warning still shows.

Nothing here imports Beam: the filter must be in place before Beam is
imported, which logs one of them.
"""

from __future__ import annotations

import logging

FALSE_WARNINGS = (
    # From sdk_worker_main: a worker that is not on Dataflow has no staged
    # main session, and local runs never use one (a job defined in
    # __main__ runs in one process; see beam_jobs.launcher).
    'No semi_persistent_directory found',
    # From `import apache_beam` without the gcp extra, the local install
    # the README recommends (a Beam bug: the import did fail, and nothing
    # local needs it).
    'apitools not found',
)


class DropFalseWarnings(logging.Filter):
    """Drops the records whose message starts with one of FALSE_WARNINGS."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(FALSE_WARNINGS)


def drop_false_warnings(*logger_names: str) -> None:
    """Adds the filter to the named loggers (the root logger if none), once
    each. On the loggers, not on a handler: it also covers the handler
    Python's logging installs when Beam logs before anything set one up."""
    for name in logger_names or ('',):
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropFalseWarnings) for f in logger.filters):
            logger.addFilter(DropFalseWarnings())
