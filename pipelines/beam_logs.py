"""Log lines Beam writes that say nothing to this framework's user, and a
logging filter that drops them; any other line still shows.

Two sorts: warnings that are false for local runs, and Beam's error log
(with its traceback, once per worker and again as relayed) of a bundle
that failed. The launcher records why a run failed, with the traceback's
tail when it says something, and the command line prints that: Beam's log
of the same error would only repeat it, at length (and for the exceptions
that are how a run is meant to stop, a cancel, a run declared dead, too
many errors, Ctrl-C or SIGTERM, say nothing at all).

Nothing here imports Beam: the filter must be in place before Beam is
imported, which logs one of the false warnings.
"""

from __future__ import annotations

import logging

DROPPED = (
    # From sdk_worker_main, in each local worker process (the runner relays
    # it): a worker that is not on Dataflow has no staged main session, and
    # local runs do not use one.
    'No semi_persistent_directory found',
    # From `import apache_beam` without the gcp extra, the local install
    # the README recommends (a Beam bug: the import did fail, and nothing
    # local needs it).
    'apitools not found',
    # Beam's error log of a failed bundle: its own, which names the step
    # ("... [while running 'Job/Map/...']"), and a worker's, relayed.
    "[while running '", 'Error processing instruction',
    # The exceptions of STOPPING_EXCEPTIONS as a relayed log names them.
    'RunCanceledError', 'RunStoppedError', 'TooManyErrorsError',
)
# The exceptions that stop a run on purpose (pipelines.run_control,
# pipelines.errors, beam_jobs.launcher), by class name: Beam logs a failed
# bundle's error with it.
STOPPING_EXCEPTIONS = frozenset({
    'RunCanceledError', 'RunStoppedError', 'TooManyErrorsError',
    'KeyboardInterrupt', 'Terminated'})

# The loggers those lines come from: Beam's DoFn runner, which logs a
# bundle's error in the process that ran it, and the logger through which
# Beam's local runner relays its worker processes' log lines, each as one
# record that quotes the worker's message.
BEAM_LOGGERS = ('apache_beam.runners.common',
                'apache_beam.runners.portability.local_job_service')


class DropSilentLines(logging.Filter):
    """Drops the records whose message holds one of DROPPED, or that log
    one of STOPPING_EXCEPTIONS."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and type(record.exc_info[1]).__name__ in (
                STOPPING_EXCEPTIONS):
            return False
        message = record.getMessage()
        return not any(text in message for text in DROPPED)


def drop_silent_lines(*logger_names: str) -> None:
    """Adds the filter to the named loggers (the root logger and
    BEAM_LOGGERS if none), once each. On the loggers, not on a handler: it
    also covers the handler Python's logging installs when Beam logs before
    anything set one up. A logger's filter sees only its own records, not
    those its children propagate, hence Beam's own loggers too."""
    for name in logger_names or ('', *BEAM_LOGGERS):
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropSilentLines) for f in logger.filters):
            logger.addFilter(DropSilentLines())
