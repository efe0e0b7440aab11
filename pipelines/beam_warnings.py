"""Warnings Beam logs that are false for this framework's local runs, and a
logging filter that drops them; any other warning still shows.

Nothing here imports Beam: the filter must be in place before Beam is
imported, which logs one of them.
"""

from __future__ import annotations

import logging

FALSE_WARNINGS = (
    # From sdk_worker_main, in each local worker process (the runner relays
    # it): a worker that is not on Dataflow has no staged main session, and
    # local runs do not use one.
    'No semi_persistent_directory found',
    # From `import apache_beam` without the gcp extra, the local install
    # the README recommends (a Beam bug: the import did fail, and nothing
    # local needs it).
    'apitools not found',
)


# The logger through which Beam's local runner relays its worker processes'
# log lines, each as one record that quotes the worker's message.
WORKER_RELAY_LOGGER = 'apache_beam.runners.portability.local_job_service'


class DropFalseWarnings(logging.Filter):
    """Drops the records whose message holds one of FALSE_WARNINGS."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(warning in message for warning in FALSE_WARNINGS)


def drop_false_warnings(*logger_names: str) -> None:
    """Adds the filter to the named loggers (the root logger and the worker
    relay if none), once each. On the loggers, not on a handler: it also
    covers the handler Python's logging installs when Beam logs before
    anything set one up. A logger's filter sees only its own records, not
    those its children propagate, hence the relay's own."""
    for name in logger_names or ('', WORKER_RELAY_LOGGER):
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropFalseWarnings) for f in logger.filters):
            logger.addFilter(DropFalseWarnings())
