"""Local worker processes forked from the launching process before its run
starts, so that a multi-worker run does not wait for its workers to import
Beam and the job's modules.

With --direct_running_mode=multi_processing, FnApiRunner starts each
worker as a new Python process (pipelines.local_worker), which spends about
0.6 s importing Beam before it can take work: a run over 10,000
explorations on 2 such workers took 1.15-1.24 s on these machines, against
0.41 s in one process. A fork of the launcher has all of that imported
already: the same run on 2 forked workers took 0.46-0.47 s.

The workers are forked before the runner starts gRPC, and only while
pipelines.fork_guard finds no thread that could hold a lock the child
needs. Each waits on a pipe (pipelines.local_worker.standby_main). The
run's LocalRunner gives the pipeline's environment the URN below, for which
Beam makes its worker handlers with _StandbyWorkerHandler: that hands a
standby worker the runner's addresses, which a spawned worker gets in its
environment. A handler that finds no standby starts a worker process as
Beam's own handler does.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
import traceback
import uuid
import warnings
from typing import Any, Mapping

from apache_beam.runners.portability.fn_api_runner import worker_handlers
from google.protobuf import json_format
from google.protobuf import text_format

from pipelines import fork_guard
from pipelines import local_worker

_LOGGER = logging.getLogger(__name__)

# The environment URN of a run whose workers are StandbyWorkers; its
# payload is the JSON of {'workers': StandbyWorkers.token, 'command': the
# command that starts a worker process when no standby is left}.
URN = 'beam_jobs:standby_sdk_worker:v1'
# How long closing waits for a started worker to exit before killing it:
# a worker ends when the runner closes its channels, which happens before
# the run returns, so this is only reached after a failure.
EXIT_WAIT_SECONDS = 10.0

# Standby workers by token, for the worker handlers Beam makes (it makes
# them from the pipeline's environment, which can only carry data).
_open_sets: dict[str, 'StandbyWorkers'] = {}


class ForkRefused(RuntimeError):
    """Forking this process now would not be safe; the message says why."""


class StandbyWorker:
    """A forked worker process waiting for the runner's addresses."""

    def __init__(self, pid: int, pipe: int) -> None:
        self.pid = pid
        self._pipe: int | None = pipe
        self._exit_status: int | None = None

    def start(self, environment: Mapping[str, str]) -> None:
        """Hands the worker the environment variables of Beam's harness,
        which then runs."""
        data = json.dumps(dict(environment)).encode()
        pipe, self._pipe = self._pipe, None
        try:
            while data:
                data = data[os.write(pipe, data):]
        finally:
            os.close(pipe)

    def wait(self, timeout: float | None = None) -> int | None:
        """The worker's exit status once it has exited (waiting up to
        timeout seconds, or for good); None if it is still running."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._exit_status is None:
            pid, status = os.waitpid(self.pid, 0 if deadline is None
                                     else os.WNOHANG)
            if pid:
                self._exit_status = os.waitstatus_to_exitcode(status)
            elif time.monotonic() >= deadline:
                return None
            else:
                time.sleep(0.01)
        return self._exit_status

    def end(self) -> None:
        """Ends the worker: one that was never started exits when its pipe
        closes; a started one is waited for, then killed. A started worker
        that failed is logged."""
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
            self.wait()
            return
        status = self.wait(EXIT_WAIT_SECONDS)
        if status is None:
            os.kill(self.pid, signal.SIGKILL)
            status = self.wait()
        if status:
            _LOGGER.warning('local worker %d exited with status %s',
                            self.pid, status)


class StandbyWorkers:
    """Worker processes forked for one run; close() ends those still
    there."""

    def __init__(self, workers: list[StandbyWorker]) -> None:
        self.token = uuid.uuid4().hex
        self._waiting = list(workers)
        self._all = list(workers)
        _open_sets[self.token] = self

    @classmethod
    def fork(cls, count: int) -> 'StandbyWorkers':
        """Forks count workers from this process; raises ForkRefused,
        forking none, when pipelines.fork_guard finds it unsafe."""
        forked: list[StandbyWorker] = []
        with fork_guard.forking():
            reason = fork_guard.fork_blocker()
            if reason is not None:
                raise ForkRefused(reason)
            # What is buffered would be written again by each child.
            sys.stdout.flush()
            sys.stderr.flush()
            try:
                for _ in range(count):
                    forked.append(_fork_one(forked))
            except BaseException:
                for worker in forked:
                    worker.end()
                raise
        return cls(forked)

    def take(self) -> StandbyWorker | None:
        """A worker not yet started, or None if none is left."""
        return self._waiting.pop(0) if self._waiting else None

    def close(self) -> None:
        """Ends every worker (see StandbyWorker.end)."""
        _open_sets.pop(self.token, None)
        self._waiting = []
        for worker in self._all:
            worker.end()


def _fork_one(siblings: list[StandbyWorker]) -> StandbyWorker:
    read_fd, write_fd = os.pipe()
    # Python 3.12 warns of any fork while other threads run; fork_guard
    # has made sure that those are ones the child does not depend on.
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # The child never returns from here.
        try:
            os.close(write_fd)
            # A sibling's pipe held open here would keep it waiting.
            for sibling in siblings:
                if sibling._pipe is not None:
                    os.close(sibling._pipe)
            local_worker.standby_main(read_fd)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(1)
    os.close(read_fd)
    return StandbyWorker(pid, write_fd)


def environment_payload(workers: StandbyWorkers) -> bytes:
    """The payload of URN for a run whose workers are these."""
    return json.dumps({'workers': workers.token,
                       'command': local_worker.COMMAND}).encode()


@worker_handlers.WorkerHandler.register_environment(URN, bytes)
class _StandbyWorkerHandler(worker_handlers.SubprocessSdkWorkerHandler):
    """Beam's handler of a worker process, started from a StandbyWorker
    of the run when one is left."""

    def __init__(self, payload: bytes, state: Any, provision_info: Any,
                 grpc_server: Any) -> None:
        config = json.loads(payload)
        super().__init__(config['command'].encode(), state, provision_info,
                         grpc_server)
        self._workers_token = config['workers']
        self._standby: StandbyWorker | None = None

    def start_worker(self) -> None:
        workers = _open_sets.get(self._workers_token)
        self._standby = workers.take() if workers is not None else None
        if self._standby is None:
            super().start_worker()
            return
        # What Beam's SubprocessSdkWorker puts in a spawned worker's
        # environment, but the logging service: the worker prints its
        # warnings and errors itself (pipelines.local_worker).
        self._standby.start({
            'CONTROL_API_SERVICE_DESCRIPTOR': text_format.MessageToString(
                self.control_api_service_descriptor()),
            'PIPELINE_OPTIONS': json_format.MessageToJson(
                self.provision_info.provision_info.pipeline_options),
            'WORKER_ID': self.worker_id,
        })

    def stop_worker(self) -> None:
        # A standby worker is not waited for here but when its
        # StandbyWorkers close, after the run: Beam closes its workers one
        # by one, and a worker takes 10-20 ms to exit once its channels
        # close, so waiting here would add those of each worker instead of
        # the slowest one's.
        if self._standby is None:
            super().stop_worker()
