"""multi_processing runs spread the read's key ranges over the workers;
large local runs use them by default."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import threading

import apache_beam as beam
import pytest

from models import exp_models
from pipelines import local_worker
from pipelines import model_io
from pipelines import options as pipeline_options
from pipelines import state_sampler
from tests import sample_jobs
from tests import waiting

MULTI_PROCESSING = ['--direct_running_mode=multi_processing',
                    '--direct_num_workers=2']


def _run(job_class, pipeline_args, shard_count):
    job_id = job_class.create_new(pipeline_args=pipeline_args)
    job_class.enqueue(job_id, shard_count=shard_count)
    assert job_class.get_status_code(job_id) == 'completed', (
        job_class.get_error(job_id))
    return job_class.get_output(job_id)


def _put_explorations(count):
    exp_models.ExplorationModel.put_multi([
        exp_models.ExplorationModel(id='e%03d' % n, init_state_name='A')
        for n in range(count)])


def test_two_workers_both_map_models(store):
    # Only the range descriptors are reshuffled; the runner hands each
    # worker a share of them, so both worker processes read and map.
    _put_explorations(80)
    output = _run(sample_jobs.WorkerPidJob, MULTI_PROCESSING, 8)
    assert output == ["('pid', 80, 2)"]


def test_in_memory_maps_every_model_in_this_process(store):
    _put_explorations(20)
    output = _run(sample_jobs.WorkerPidJob, [], 4)
    assert output == ["('pid', 20, 1)"]


@pytest.mark.parametrize('args, reshuffled', [
    ([], False),
    (['--direct_num_workers=1'], False),
    (MULTI_PROCESSING, True),
    (['--direct_num_workers=2'], True),  # in_memory, two bundles.
])
def test_read_reshuffles_its_key_ranges_only_if_they_can_be_spread(
        store_path, args, reshuffled):
    # In one bundle the Reshuffle would only cost a stage.
    pipeline = beam.Pipeline(runner=pipeline_options.local_runner(),
                             options=pipeline_options.parse(args))
    _ = pipeline | 'Read' >> model_io.read_models(
        exp_models.ExplorationModel, store_path, 4)
    names = [t.unique_name for t in
             pipeline.to_runner_api().components.transforms.values()]
    assert ('Read/ReshuffleRanges' in names) == reshuffled


@pytest.fixture
def unforkable():
    """A thread of the test's own runs meanwhile: the run's workers are
    spawned, not forked (see pipelines.fork_guard)."""
    release = threading.Event()
    thread = threading.Thread(target=release.wait, name='unforkable')
    thread.start()
    yield
    release.set()
    thread.join()


def _lower_thresholds(monkeypatch):
    # So that a small store counts as large, whether this process can fork
    # its workers or not.
    monkeypatch.setattr(pipeline_options, 'PARALLEL_MIN_WORK_SECONDS', 1e-4)
    monkeypatch.setattr(pipeline_options, 'FORKED_PARALLEL_MIN_WORK_SECONDS',
                        1e-4)


def test_large_runs_use_a_worker_per_core_by_default(store, monkeypatch):
    _lower_thresholds(monkeypatch)
    monkeypatch.setattr(pipeline_options, 'usable_cores', lambda: 2)
    _put_explorations(80)
    job_id = sample_jobs.WorkerPidJob.create_new()
    sample_jobs.WorkerPidJob.enqueue(job_id, shard_count=8)
    run = sample_jobs.WorkerPidJob.get_run(job_id)
    assert run.state == 'completed', run.error
    assert sample_jobs.WorkerPidJob.get_output(job_id) == ["('pid', 80, 2)"]
    assert run.details['local_workers'] == 2
    # The estimate that chose them: the models of their mean stored size,
    # counted only as far as the (lowered) threshold, since a count is a
    # scan; whether it is the forked workers' or the spawned ones' depends
    # on this process's threads.
    sizes = [len(payload) for _, payload in store.scan('ExplorationModel')]
    forked = run.details['local_worker_start'] == 'forked'
    counted = pipeline_options.parallel_min_models(sum(sizes) / 80, forked)
    assert 1 < counted < 80
    assert run.details['counted_models'] == counted
    assert run.details['estimated_work_seconds'] == round(
        counted * pipeline_options.model_work_seconds(sum(sizes) / 80), 3)
    assert run.pipeline_args == []  # What the user asked for, unchanged.


def test_runs_estimated_below_the_threshold_stay_in_one_process(store):
    _put_explorations(30)
    job_id = sample_jobs.WorkerPidJob.create_new()
    sample_jobs.WorkerPidJob.enqueue(job_id, shard_count=8)
    run = sample_jobs.WorkerPidJob.get_run(job_id)
    assert sample_jobs.WorkerPidJob.get_output(job_id) == ["('pid', 30, 1)"]
    assert run.details['local_workers'] == 1
    assert 0 <= run.details['estimated_work_seconds'] < min(
        pipeline_options.PARALLEL_MIN_WORK_SECONDS,
        pipeline_options.FORKED_PARALLEL_MIN_WORK_SECONDS)
    assert run.details['counted_models'] == 30


def test_small_runs_and_runs_that_say_how_stay_as_asked(store, monkeypatch):
    _lower_thresholds(monkeypatch)
    monkeypatch.setattr(pipeline_options, 'usable_cores', lambda: 2)
    _put_explorations(60)
    job_id = sample_jobs.WorkerPidJob.create_new(
        pipeline_args=['--direct_num_workers=1'])
    sample_jobs.WorkerPidJob.enqueue(job_id, shard_count=8)
    run = sample_jobs.WorkerPidJob.get_run(job_id)
    assert sample_jobs.WorkerPidJob.get_output(job_id) == ["('pid', 60, 1)"]
    assert run.details['local_workers'] == 1
    assert 'estimated_work_seconds' not in run.details
    assert 'counted_models' not in run.details


@pytest.mark.parametrize('forked', [False, True])
def test_default_local_workers_policy(forked):
    at = pipeline_options.parallel_min_work_seconds(forked)
    below = at * 0.99
    policy = pipeline_options.default_local_workers
    assert policy(below, 8, cores=4, forked=forked) == 1
    assert policy(at, 8, cores=4, forked=forked) == 4
    # No more workers than shards: the shards are what they share.
    assert policy(at, 2, cores=4, forked=forked) == 2
    assert policy(at, 8, cores=1, forked=forked) == 1


def test_forked_workers_pay_off_from_less_work():
    # They skip importing Beam (see pipelines.forked_workers).
    assert (pipeline_options.parallel_min_work_seconds(forked=True) <
            pipeline_options.parallel_min_work_seconds(forked=False))
    assert (pipeline_options.parallel_min_models(3700, forked=True) <
            pipeline_options.parallel_min_models(3700))


@pytest.mark.parametrize('forked, users, explorations', [
    # The sizes the switch falls at for the benchmark's users (214 bytes)
    # and explorations (3.7 KB), near where 2 workers were measured to
    # become faster than one process (see pipelines.options).
    (False, (600_000, 900_000), (60_000, 100_000)),
    (True, (90_000, 100_001), (10_000, 16_000)),
])
def test_larger_models_need_fewer_of_them_for_workers_to_pay_off(
        forked, users, explorations):
    small = pipeline_options.parallel_min_models(214, forked)
    large = pipeline_options.parallel_min_models(3734, forked)
    assert users[0] < small < users[1]
    assert explorations[0] < large < explorations[1]
    assert (large * pipeline_options.model_work_seconds(3734) >=
            pipeline_options.parallel_min_work_seconds(forked))


def test_forked_workers_from_a_number_of_models_whatever_their_size():
    # So that a job's memory does not step between 100,000 models and any
    # larger run of it (see pipelines.options).
    floor = pipeline_options.FORKED_PARALLEL_MIN_MODELS
    assert floor == 100_000
    # Users' estimated work at 100,000 is below the threshold of work...
    assert (floor * pipeline_options.model_work_seconds(214) <
            pipeline_options.FORKED_PARALLEL_MIN_WORK_SECONDS)
    # ...but forked workers take them; spawned ones, which import Beam
    # first, still wait for their threshold of work.
    assert pipeline_options.parallel_min_models(214, forked=True) == floor
    assert pipeline_options.parallel_min_models(214) > floor
    policy = pipeline_options.default_local_workers
    work = floor * pipeline_options.model_work_seconds(214)
    assert policy(work, 8, cores=2, forked=True, models=floor) == 2
    assert policy(work, 8, cores=2, forked=True, models=floor - 1) == 1
    assert policy(work, 8, cores=2, forked=False, models=floor) == 1


def test_runs_of_many_small_models_use_forked_workers(store, monkeypatch):
    # The launcher's choice for a run that can fork its workers, made
    # without running it: this process's threads (pytest's) may forbid the
    # fork, which tests/test_forked_workers.py checks in a process of its
    # own. The floor lowered to 50 models, the work threshold out of reach.
    from beam_jobs import launcher
    monkeypatch.setattr(launcher.fork_guard, 'fork_blocker', lambda: None)
    monkeypatch.setattr(pipeline_options, 'FORKED_PARALLEL_MIN_MODELS', 50)
    monkeypatch.setattr(pipeline_options, 'FORKED_PARALLEL_MIN_WORK_SECONDS',
                        1e6)
    monkeypatch.setattr(pipeline_options, 'usable_cores', lambda: 2)
    _put_explorations(49)
    choose = launcher._default_local_workers
    assert choose(sample_jobs.WorkerPidJob, [], 8)[0] == 1
    _put_explorations(60)  # The 49 again, and 11 more.
    workers, why = choose(sample_jobs.WorkerPidJob, [], 8)
    assert workers == 2
    # The count stopped at the floor: a count is a scan.
    sizes = [len(payload) for _, payload in store.scan('ExplorationModel')]
    assert why == {
        'counted_models': 50,
        'estimated_work_seconds': round(
            50 * pipeline_options.model_work_seconds(sum(sizes) / 60), 3)}
    # Spawned workers still wait for their threshold of work.
    monkeypatch.setattr(launcher.fork_guard, 'fork_blocker',
                        lambda: 'a thread is running')
    assert choose(sample_jobs.WorkerPidJob, [], 8)[0] == 1


@pytest.mark.parametrize('args, says', [
    ([], False),
    (['--disable_combiner'], False),
    (['--direct_num_workers=1'], True),
    (['--direct_running_mode', 'in_memory'], True),
])
def test_sets_local_parallelism(args, says):
    assert pipeline_options.sets_local_parallelism(args) is says


def test_with_local_workers_adds_multi_processing_options():
    args = pipeline_options.with_local_workers(['--disable_combiner'], 3)
    options = pipeline_options.parse(args)
    assert pipeline_options.local_workers(options) == 3
    assert pipeline_options.with_local_workers(['x'], 1) == ['x']
    assert pipeline_options.local_workers(pipeline_options.parse([])) == 1


def test_spawned_workers_run_the_harness_from_local_worker_quietly(
        store, capfd, caplog, unforkable):
    _put_explorations(40)
    output = _run(sample_jobs.WorkerEntryPointJob, MULTI_PROCESSING, 4)
    assert output == ["('pipelines.local_worker', 40)"]
    # Neither a worker (its stderr) nor the runner (relaying the workers'
    # logs) shows start-up chatter or warnings that do not apply.
    err = capfd.readouterr().err
    logged = '\n'.join(record.getMessage() for record in caplog.records)
    for chatter in ('Python sdk harness starting', 'semi_persistent_directory',
                    'apitools not found'):
        assert chatter not in err
        assert chatter not in logged


@pytest.mark.parametrize('args', [['--direct_num_workers=1'],
                                  MULTI_PROCESSING])
def test_bundles_use_the_shorter_state_sampling_period(store, args):
    # In one process and in the workers: the end of each bundle waits for
    # at most one sampling period (see pipelines.state_sampler).
    _put_explorations(12)
    output = _run(sample_jobs.SamplingPeriodJob, args, 4)
    assert output == ['(%d, 12)' % state_sampler.SAMPLING_PERIOD_MS]


def test_a_worker_whose_harness_fails_exits_with_an_error():
    # Without the runner's environment the harness cannot start.
    env = {k: v for k, v in os.environ.items()
           if k != 'CONTROL_API_SERVICE_DESCRIPTOR'}
    done = subprocess.run(  # With a shell, as Beam starts it.
        local_worker.COMMAND, shell=True, env=env, capture_output=True,
        text=True, check=False)
    assert done.returncode == 1
    assert 'Traceback' in done.stderr


_RUN_STUCK_JOB = '''
import signal, sys, threading
# Ctrl-C as a terminal's foreground job gets it: a shell that runs the test
# suite in the background (sh -c '...' &) makes it ignore SIGINT, and the
# launcher would inherit that.
signal.signal(signal.SIGINT, signal.default_int_handler)
from models import exp_models, storage
from tests import sample_jobs
storage.set_default_store(sys.argv[1])
exp_models.ExplorationModel.put_multi([
    exp_models.ExplorationModel(id='e%02d' % n, init_state_name='A')
    for n in range(8)])
if sys.argv[3] == 'spawned':  # A thread of its own makes a fork unsafe.
    threading.Thread(target=threading.Event().wait, daemon=True).start()
job = sample_jobs.StuckMapJob
job_id = job.create_new(pipeline_args=sys.argv[4:])
try:
    job.enqueue(job_id, shard_count=2,
                additional_job_params={'folder': sys.argv[2]})
except KeyboardInterrupt:
    run = job.get_run(job_id)
    print(run.state)
    print(run.error)
    print(run.details['local_worker_start'].split(':')[0])
    sys.exit(130)
'''


@pytest.mark.parametrize('workers', ['forked', 'spawned'])
def test_ctrl_c_ends_a_run_on_workers_quietly_and_leaves_no_worker(
        store_path, tmp_path, workers):
    mapping = tmp_path / 'mapping'
    mapping.mkdir()
    # In a session of its own, as a terminal's Ctrl-C reaches a process
    # group: the launcher, its workers and their shells.
    process = subprocess.Popen(
        [sys.executable, '-c', _RUN_STUCK_JOB, store_path, str(mapping),
         workers, *MULTI_PROCESSING],
        cwd=pathlib.Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        # Both workers are inside a map that never returns.
        waiting.wait_until(lambda: len(list(mapping.iterdir())) == 2 or
                           process.poll() is not None, 'both workers to map')
        assert process.poll() is None, process.communicate()
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, err
    # The run is not left started, and says what happened.
    assert out.splitlines() == [
        'failed', 'StuckMapJob interrupted (Ctrl-C or SIGINT) in the process '
        'running it', workers]
    assert 'Traceback' not in err and 'Error' not in err, err
    workers = [int(path.name) for path in mapping.iterdir()]
    # Not even a map that never returns keeps them once the runner is gone.
    waiting.wait_until(lambda: not any(_alive(pid) for pid in workers),
                       'the workers to leave', seconds=30)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
