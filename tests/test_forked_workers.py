"""Local workers forked from the launching process: when forking is safe,
and runs on forked workers giving what runs on spawned ones give.

A fork is only safe in a process whose other threads are the framework's
own, which pytest's process need not be (a test may have started a Cloud
Datastore client's gRPC threads): what needs a fork runs in a fresh
process.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import threading

import pytest

from models import exp_models
from pipelines import fork_guard
from tests import sample_jobs

REPO = pathlib.Path(__file__).resolve().parents[1]
MULTI_PROCESSING = ['--direct_running_mode=multi_processing',
                    '--direct_num_workers=2']


def _in_fresh_process(script, *args):
    """What script prints as JSON, run in a new Python process."""
    return _with_stderr(script, *args)[0]


def _with_stderr(script, *args):
    """What script prints as JSON, and its stderr, run in a new Python
    process."""
    done = subprocess.run(
        [sys.executable, '-c', script, *args], cwd=REPO,
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1]), done.stderr


_BLOCKERS = '''
import json, threading
from beam_jobs import periodic
from pipelines import fork_guard
seen = {'alone': fork_guard.fork_blocker()}
with periodic.Periodic(0.001, lambda: None, 'heartbeat-test'):
    seen['with a periodic thread'] = fork_guard.fork_blocker()
release = threading.Event()
other = threading.Thread(target=release.wait, name='unguarded-test')
other.start()
seen['with another thread'] = fork_guard.fork_blocker()
release.set()
other.join()
print(json.dumps(seen))
'''


def test_only_the_frameworks_own_threads_let_a_fork_happen():
    seen = _in_fresh_process(_BLOCKERS)
    assert seen == {
        'alone': None,
        'with a periodic thread': None,
        'with another thread': "thread 'unguarded-test' is running",
    }


_STANDBY_NOT_NEEDED = '''
import json, os
from pipelines import forked_workers
workers = forked_workers.StandbyWorkers.fork(2)
taken = [workers.take(), workers.take()]
left = workers.take()
workers.close()
statuses = [worker.wait() for worker in taken]
try:
    os.waitpid(-1, os.WNOHANG)
    children = 'some'
except ChildProcessError:
    children = 'none'
print(json.dumps({'statuses': statuses, 'left': left is None,
                  'children': children}))
'''


def test_standby_workers_that_are_not_needed_exit_when_closed():
    seen = _in_fresh_process(_STANDBY_NOT_NEEDED)
    assert seen == {'statuses': [0, 0], 'left': True, 'children': 'none'}


_STARTED_WORKER_FAILS = '''
import json, logging, os
from pipelines import forked_workers, local_worker


def fail_once_started(read_fd):
    os.read(read_fd, 65536)
    os._exit(3)


local_worker.standby_main = fail_once_started
records = []
handler = logging.Handler()
handler.emit = records.append
logging.getLogger('pipelines.forked_workers').addHandler(handler)
workers = forked_workers.StandbyWorkers.fork(1)
worker = workers.take()
worker.start({})
workers.close()
print(json.dumps({'status': worker.wait(),
                  'logged': [record.getMessage() for record in records]}))
'''


def test_a_started_worker_that_failed_is_logged_when_its_workers_close():
    # The runner no longer waits for each worker as it closes it (Beam
    # closes them one by one): the close after the run does, and reports.
    seen = _in_fresh_process(_STARTED_WORKER_FAILS)
    assert seen['status'] == 3
    assert len(seen['logged']) == 1
    assert seen['logged'][0].endswith('exited with status 3')


_RUN_ON_WORKERS = '''
import json, os, sys, threading
from models import exp_models, storage
from tests import sample_jobs
storage.set_default_store(sys.argv[1])
exp_models.ExplorationModel.put_multi([
    exp_models.ExplorationModel(id='e%03d' % n, init_state_name='A')
    for n in range(80)])
if sys.argv[2] == 'with another thread':
    release = threading.Event()
    threading.Thread(target=release.wait, name='app-thread').start()
job = sample_jobs.WorkerPidJob
job_id = job.create_new(pipeline_args=sys.argv[3:])
job.enqueue(job_id, shard_count=8)
run = job.get_run(job_id)
try:
    os.waitpid(-1, os.WNOHANG)
    children = 'some'
except ChildProcessError:
    children = 'none'
if sys.argv[2] == 'with another thread':
    release.set()
print(json.dumps({'state': run.state, 'output': job.get_output(job_id),
                  'start': run.details.get('local_worker_start'),
                  'children': children}))
'''


@pytest.mark.parametrize('workers', [1, 2])
def test_a_fresh_process_runs_on_forked_workers_quietly(store_path, workers):
    seen, stderr = _with_stderr(
        _RUN_ON_WORKERS, store_path, 'alone',
        '--direct_running_mode=multi_processing',
        '--direct_num_workers=%d' % workers)
    # Every forked worker mapped, and each was waited for.
    assert seen == {'state': 'completed',
                    'output': ["('pid', 80, %d)" % workers],
                    'start': 'forked', 'children': 'none'}
    # Their harness logs at INFO, but only warnings and errors show, as
    # for spawned workers (see pipelines.local_worker).
    for chatter in ('Python sdk harness starting',
                    'semi_persistent_directory', 'apitools not found'):
        assert chatter not in stderr


def test_a_process_with_other_threads_spawns_its_workers(store_path):
    seen = _in_fresh_process(_RUN_ON_WORKERS, store_path,
                             'with another thread', *MULTI_PROCESSING)
    assert seen == {'state': 'completed', 'output': ["('pid', 80, 2)"],
                    'start': "spawned: thread 'app-thread' is running",
                    'children': 'none'}


_RUNS_IN_ONE_PROCESS = '''
import json, sys, threading
from models import exp_models, storage
from pipelines import fork_guard
from tests import sample_jobs
storage.set_default_store(sys.argv[1])
exp_models.ExplorationModel.put_multi([
    exp_models.ExplorationModel(id='e%03d' % n, init_state_name='A')
    for n in range(40)])
job = sample_jobs.WorkerPidJob


def run_on_workers():
    job_id = job.create_new(pipeline_args=sys.argv[2:])
    job.enqueue(job_id, shard_count=4)
    run = job.get_run(job_id)
    return [run.state, job.get_output(job_id),
            run.details['local_worker_start'].split(':')[0]]


runs = [run_on_workers(), run_on_workers()]
release = threading.Event()
app = threading.Thread(target=release.wait, name='app-thread')
app.start()
runs.append(run_on_workers())
release.set()
app.join()
runs.append(run_on_workers())
print(json.dumps({'runs': runs, 'after': fork_guard.fork_blocker()}))
'''


def test_each_run_in_a_process_forks_its_workers_again(store_path):
    # Beam's and gRPC's threads from a run are ended after it (see
    # fork_guard.release_run_threads), also after a spawned run.
    seen = _in_fresh_process(_RUNS_IN_ONE_PROCESS, store_path,
                             *MULTI_PROCESSING)
    done = ['completed', ["('pid', 40, 2)"]]
    assert seen == {'runs': [done + ['forked'], done + ['forked'],
                             done + ['spawned'], done + ['forked']],
                    'after': None}


def test_runs_in_this_process_say_why_their_workers_were_spawned(store):
    # Whatever else runs here, the thread started below blocks a fork.
    release = threading.Event()
    other = threading.Thread(target=release.wait, name='unguarded-test')
    other.start()
    try:
        assert fork_guard.fork_blocker() is not None
        exp_models.ExplorationModel.put_multi([
            exp_models.ExplorationModel(id='e%02d' % n, init_state_name='A')
            for n in range(40)])
        job_id = sample_jobs.WorkerPidJob.create_new(
            pipeline_args=MULTI_PROCESSING)
        sample_jobs.WorkerPidJob.enqueue(job_id, shard_count=4)
    finally:
        release.set()
        other.join()
    run = sample_jobs.WorkerPidJob.get_run(job_id)
    assert run.state == 'completed', run.error
    assert sample_jobs.WorkerPidJob.get_output(job_id) == ["('pid', 40, 2)"]
    assert run.details['local_worker_start'].startswith('spawned: ')
