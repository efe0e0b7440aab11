"""A local run uses one process unless its options ask for Beam's worker
processes; multi_processing runs spread the read's key ranges over them."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys

import apache_beam as beam
import pytest

from beam_jobs import launcher
from models import exp_models
from pipelines import options as pipeline_options
from pipelines import sqlite_io
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
    _ = pipeline | 'Read' >> sqlite_io.ReadModels(
        exp_models.ExplorationModel, store_path, 4)
    names = [t.unique_name for t in
             pipeline.to_runner_api().components.transforms.values()]
    assert ('Read/ReshuffleRanges' in names) == reshuffled


@pytest.mark.parametrize('args, workers', [
    ([], 1),
    (['--direct_num_workers=2'], 1),  # in_memory: threads of one process.
    (MULTI_PROCESSING, 2),
])
def test_a_run_uses_worker_processes_only_when_asked(store, args, workers):
    _put_explorations(60)
    job_id = sample_jobs.WorkerPidJob.create_new(pipeline_args=args)
    sample_jobs.WorkerPidJob.enqueue(job_id, shard_count=8)
    run = sample_jobs.WorkerPidJob.get_run(job_id)
    assert sample_jobs.WorkerPidJob.get_output(job_id) == [
        "('pid', 60, %d)" % workers]
    assert run.details['local_workers'] == workers
    assert run.pipeline_args == args  # What the user asked for, unchanged.


def test_a_run_on_workers_shows_no_warnings_that_do_not_apply(
        store, capfd, caplog):
    _put_explorations(20)
    assert _run(sample_jobs.WorkerPidJob, MULTI_PROCESSING, 4) == [
        "('pid', 20, 2)"]
    # Neither a worker (its stderr) nor the runner (relaying the workers'
    # logs) shows warnings that are false for a local run.
    err = capfd.readouterr().err
    logged = '\n'.join(record.getMessage() for record in caplog.records)
    for false_warning in ('semi_persistent_directory', 'apitools not found'):
        assert false_warning not in err
        assert false_warning not in logged


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
job = sample_jobs.StuckMapJob
job_id = job.create_new(pipeline_args=sys.argv[3:])
try:
    job.enqueue(job_id, shard_count=2,
                additional_job_params={'folder': sys.argv[2]})
except KeyboardInterrupt:
    run = job.get_run(job_id)
    print(run.state)
    print(run.error)
    sys.exit(130)
'''


@pytest.mark.parametrize('args, mappers, sent, how', [
    ([], 1, signal.SIGINT, 'Ctrl-C or SIGINT'),
    ([], 1, signal.SIGTERM, 'SIGTERM'),
    (MULTI_PROCESSING, 2, signal.SIGINT, 'Ctrl-C or SIGINT'),
    (MULTI_PROCESSING, 2, signal.SIGTERM, 'SIGTERM'),
], ids=['one-process-ctrl-c', 'one-process-sigterm', 'workers-ctrl-c',
        'workers-sigterm'])
def test_an_interrupted_run_is_recorded_so_and_leaves_no_worker(
        store_path, tmp_path, args, mappers, sent, how):
    mapping = tmp_path / 'mapping'
    mapping.mkdir()
    # In a session of its own, as a terminal's Ctrl-C reaches a process
    # group: the launcher, its workers and their shells. SIGTERM goes to
    # the launcher alone, as `kill PID` sends it.
    process = subprocess.Popen(
        [sys.executable, '-c', _RUN_STUCK_JOB, store_path, str(mapping),
         *args],
        cwd=pathlib.Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        # Every mapping process is inside a map that never returns.
        waiting.wait_until(
            lambda: len(list(mapping.iterdir())) == mappers or
            process.poll() is not None, 'the run to map')
        assert process.poll() is None, process.communicate()
        if sent == signal.SIGINT:
            os.killpg(process.pid, sent)
        else:
            os.kill(process.pid, sent)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, err
    # The run is not left started, and says what happened, in one line.
    assert out.splitlines() == [
        'failed', 'StuckMapJob interrupted (%s) in the process running it'
        % how]
    if not args:
        assert 'Traceback' not in err, err
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


def test_asking_for_workers_says_once_that_their_servers_are_open(
        store, caplog, monkeypatch):
    monkeypatch.setattr(launcher, '_open_ports_noticed', False)
    _put_explorations(10)
    _run(sample_jobs.WorkerPidJob, [], 2)
    assert launcher.OPEN_PORTS_NOTICE not in caplog.text
    for _ in range(2):
        _run(sample_jobs.WorkerPidJob, MULTI_PROCESSING, 2)
    notices = [r for r in caplog.records
               if r.getMessage() == launcher.OPEN_PORTS_NOTICE]
    assert len(notices) == 1 and notices[0].levelname == 'WARNING'
