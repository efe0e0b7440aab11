"""When this process may be forked safely, and the guard that makes its own
background threads safe to fork around.

A forked child has only the thread that forked; a lock another thread held
at that moment stays locked in the child forever. So a fork is safe only
when no other thread can be holding a lock the child will need (the
store's, logging's, a stream's, SQLite's). forking() takes a lock that the
framework's own background threads (beam_jobs.periodic: the run's
heartbeat and the command line's progress lines) hold while they do
anything but sleep; fork_blocker() refuses while any other thread is
running, including threads started outside Python since this module was
imported (a Cloud Datastore client's gRPC threads, say). The native
threads that importing Beam starts (NumPy's, and pyarrow's jemalloc) are
allowed: those libraries make themselves fork-safe with pthread_atfork
handlers. A multi-worker run leaves threads of Beam's and gRPC's behind,
which release_run_threads() ends, so that the next run can fork again.
"""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import threading
from typing import Iterator

# Imported before the threads are first counted: see above.
import apache_beam  # noqa: F401  pylint: disable=unused-import
from apache_beam.utils import thread_pool_executor

_TASKS = '/proc/self/task'

# Held by a guarded thread while it acts, and by a fork.
_fork_lock = threading.Lock()
# Idents of the threads that run inside guarded_thread().
_guarded: set[int] = set()


def _threads_outside_python() -> int | None:
    """How many of this process's threads Python did not start (None where
    threads cannot be counted: not Linux)."""
    try:
        native = len(os.listdir(_TASKS))
    except OSError:
        return None
    return native - threading.active_count()


# Those of Beam's import: more later means a library started threads this
# process knows nothing about.
_BASELINE_OUTSIDE_PYTHON = _threads_outside_python()


def fork_blocker() -> str | None:
    """Why forking this process now could leave the child stuck on a lock
    held by another thread; None when it is safe."""
    if not hasattr(os, 'fork'):
        return 'this platform has no fork()'
    outside = _threads_outside_python()
    if outside is None or _BASELINE_OUTSIDE_PYTHON is None:
        return "this process's threads cannot be counted"
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and thread.ident not in _guarded:
            return 'thread %r is running' % thread.name
    if outside > _BASELINE_OUTSIDE_PYTHON:
        return ('%d threads not started by Python are running (gRPC '
                'starts them)' % (outside - _BASELINE_OUTSIDE_PYTHON))
    return None


@contextlib.contextmanager
def guarded_thread() -> Iterator[None]:
    """Marks the calling thread, for the with-block, as one that only acts
    inside holding_off_forks(): fork_blocker() then lets forks happen while
    it runs."""
    ident = threading.get_ident()
    _guarded.add(ident)
    try:
        yield
    finally:
        _guarded.discard(ident)


@contextlib.contextmanager
def holding_off_forks() -> Iterator[None]:
    """For a guarded thread's work: no fork happens until the block ends."""
    with _fork_lock:
        yield


@contextlib.contextmanager
def forking() -> Iterator[None]:
    """Around os.fork(): waits for guarded threads to finish what they are
    doing, and keeps them sleeping until the fork is done."""
    with _fork_lock:
        yield


def release_run_threads() -> None:
    """Ends the threads a multi-worker run leaves in this process, which
    would make fork_blocker() refuse every later run's fork (its workers
    would then be spawned: about 1 s more a run). Call it after the run,
    once nothing refers to the run's pipeline or result.

    Beam's shared thread pool, which its runner, its gRPC servers and its
    SDK harness use, keeps idle threads for good, each waiting for work; a
    forked worker would inherit the pool with those threads gone, and its
    harness would hand them work. The idle ones are ended here (through
    the pool's private queue: one that is still busy is left, and forks
    stay refused while it runs). gRPC's threads stop when the runner's
    server and channels are freed, which only a collection does: they sit
    in reference cycles. Inside pipelines.frozen_heap.frozen() the
    collection walks only what the run made.
    """
    pool = thread_pool_executor.shared_unbounded_instance()
    idle = getattr(pool, '_idle_worker_queue', None)
    lock = getattr(pool, '_lock', None)
    if idle is None or lock is None:
        # A Beam whose pool is built otherwise: forks stay refused while
        # its threads run, as before.
        return
    ended = []
    with lock:  # What submit() holds while it takes an idle thread.
        while True:
            try:
                worker = idle.get_nowait()
            except queue.Empty:
                break
            worker.shutdown()
            ended.append(worker)
    for worker in ended:
        worker.join()
    gc.collect()
