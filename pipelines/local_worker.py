"""What a local worker process runs: Beam's SDK harness, then an immediate
exit.

With --direct_running_mode=multi_processing, Beam's FnApiRunner starts each
worker as ``python -m apache_beam.runners.worker.sdk_worker_main`` and, at
the end of the run, waits for it to exit. That exit is the interpreter
tearing down Beam, gRPC and their threads: about 0.5 s on these machines,
after the last result is in. pipelines.options.LocalRunner starts the
workers with ``python -m pipelines.local_worker`` instead (COMMAND), which
runs the same harness and leaves as soon as the harness is done. It also
keeps the workers' start-up chatter (Beam's INFO lines, and warnings that
do not apply to a local run) out of the user's terminal; a worker's real
warnings and errors still show. And it leaves a Ctrl-C to the runner,
which fails the run and ends its workers without a traceback from each.

Skipping the teardown loses nothing of ours: Beam has torn down the DoFns
when the harness returns, and every write to a store is committed when it
is made. (A job's `map` that writes files of its own must close them.)

A worker can also be forked from the launching process before the run
starts (pipelines.forked_workers), which saves it importing Beam and the
job's modules: standby_main() is what such a worker runs.

Nothing here imports Beam at module level: the logging set-up must come
first.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import sys
import traceback
from typing import NoReturn

from pipelines import beam_warnings

# The command that starts a worker, for the runner (which imports this).
# Beam runs it with a shell; `exec` makes the worker that shell's process,
# so that a Ctrl-C reaches the worker alone (a shell it killed would be a
# worker failing, in the runner's eyes).
COMMAND = '%s%s -m %s' % ('exec ' if os.name == 'posix' else '',
                          shlex.quote(sys.executable), __name__)


def _quiet_logging() -> None:
    # Before Beam is imported: a root handler of our own keeps Beam's
    # module-level logging.warning() calls from installing one that prints
    # INFO, the level the harness then logs at.
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.WARNING)
    stderr.setFormatter(logging.Formatter(
        'worker %d: %%(levelname)s: %%(message)s' % os.getpid()))
    logging.getLogger().addHandler(stderr)
    # The harness also sends its records to the runner, which logs them
    # again: the filter goes on the loggers, not on this handler. Importing
    # the pipelines package put it on the root logger already.
    beam_warnings.drop_false_warnings(
        'apache_beam.runners.worker.sdk_worker_main')


def main() -> None:
    """Runs Beam's SDK harness, configured by the environment the runner
    set, then ends the process at once with its outcome."""
    _ignore_ctrl_c()
    _quiet_logging()
    _run_harness_and_exit()


def standby_main(read_fd: int) -> NoReturn:
    """What a worker forked before its run runs (pipelines.forked_workers):
    waits for the JSON object of environment variables that tell the
    harness how to reach the runner, written to read_fd, then runs the
    harness as main() does. Exits at once if the pipe closes with nothing
    written: the run did not need this worker."""
    _ignore_ctrl_c()
    chunks = []
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    if not chunks:
        os._exit(0)
    os.environ.update(json.loads(b''.join(chunks)))
    # The handlers inherited from the launching process print at its
    # levels, and the harness logs at INFO.
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    _quiet_logging()
    _run_harness_and_exit()


def _ignore_ctrl_c() -> None:
    # A Ctrl-C reaches the whole process group. The runner reports the
    # interruption, fails the run and closes the workers' channels, which
    # ends the harness; a worker that died of it first would fill the
    # terminal with its traceback and the runner's gRPC errors.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_harness_and_exit() -> NoReturn:
    status = 0
    try:
        from apache_beam.runners.worker import sdk_worker_main
        from pipelines import dofn_specs
        from pipelines import frozen_heap
        from pipelines import state_sampler
        state_sampler.install()
        dofn_specs.install()
        # Beam's modules out of the worker's full collections (a forked
        # worker's heap is frozen already).
        frozen_heap.freeze_for_good()
        sdk_worker_main.main(sys.argv)
    except BaseException:  # Shown; the runner fails on the exit status.
        traceback.print_exc()
        status = 1
    # The harness has closed its channels and flushed its logs to the
    # runner: only the interpreter's teardown is skipped.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == '__main__':
    main()
