"""The command line, called as a user would."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys

import pytest

import run_pipeline
from beam_jobs import exp_jobs_one_off
from beam_jobs import job_runs
from beam_jobs import jobs_registry
from models import exp_models
from models import storage
from models import user_models
from tests import sample_jobs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(store_path, *args):
    out = io.StringIO()
    code = run_pipeline.main(['--store', store_path, *args], out=out)
    storage.set_default_store(None)
    return code, out.getvalue()


@pytest.fixture
def seeded(store_path):
    code, text = _cli(store_path, 'seed-demo', '--explorations', '40',
                      '--users', '30')
    assert code == 0
    assert 'seeded 40 explorations and 30 users' in text
    return store_path


def test_run_prints_output_and_output_reads_it_back(seeded, capsys):
    code, printed = _cli(seeded, 'run', 'InteractionAuditOneOffJob')
    assert code == 0
    storage.set_default_store(seeded)
    run = job_runs.list_recent(1)[0]
    job = exp_jobs_one_off.InteractionAuditOneOffJob
    assert printed.splitlines() == job.get_output(run.job_id)
    assert run.shard_count == 64
    code, again = _cli(seeded, 'output', run.job_id)
    assert code == 0 and again == printed
    summary = [line for line in capsys.readouterr().err.splitlines()
               if ': completed in ' in line]
    assert len(summary) == 1
    summary = summary[0]
    assert summary.startswith(run.job_id + ': completed in ')
    assert summary.endswith('; 40 models read, %d output lines, 0 errors' % (
        len(printed.splitlines())))


@pytest.mark.parametrize('value, expected', [
    (1, '1 error'), (0, '0 errors'), (1200, '1,200 errors'),
    (None, '- errors')])
def test_summary_counts_agree_with_their_nouns(value, expected):
    assert run_pipeline._counted(value, 'error') == expected


class _GateOpeningStderr(io.StringIO):
    """Standard error that opens GatedJob's gate once `run` has printed a
    progress line: the run is certainly in progress when the line is
    printed, since the gate holds it until then."""

    def __init__(self, gate):
        super().__init__()
        self._gate = gate

    def write(self, text):
        if 'models read:' in text and not os.path.exists(self._gate):
            open(self._gate, 'w').close()
        return super().write(text)


def test_run_prints_its_progress_while_it_runs(store_path, tmp_path,
                                               monkeypatch):
    storage.set_default_store(store_path)
    exp_models.ExplorationModel.put_multi([
        exp_models.ExplorationModel(id='exp-%02d' % i, init_state_name='A')
        for i in range(40)])
    monkeypatch.setattr(jobs_registry, 'ONE_OFF_JOB_MANAGERS',
                        [sample_jobs.GatedJob])
    monkeypatch.setattr(run_pipeline, 'PROGRESS_SECONDS', 0.05)
    gate = str(tmp_path / 'gate')
    stderr = _GateOpeningStderr(gate)
    monkeypatch.setattr(sys, 'stderr', stderr)
    code, printed = _cli(store_path, 'run', 'GatedJob', '--param',
                         'gate_model=exp-00', '--param', 'gate_path=' + gate)
    assert code == 0
    assert printed == "('all', 40)\n"
    progress = [line for line in stderr.getvalue().splitlines()
                if 'models read:' in line]
    # At the gate, the read had reported the first key range's models.
    assert progress[0].startswith('GatedJob-')
    assert ', models read: ' in progress[0]
    assert ' so far of 40 (' in progress[0]


def test_run_with_shard_count_and_params(seeded):
    code, printed = _cli(seeded, 'run', 'InactiveUsersOneOffJob',
                         '--shard_count', '5', '--param',
                         'cutoff_date=2021-06-01')
    assert code == 0
    assert printed.startswith("('inactive', ")
    storage.set_default_store(seeded)
    run = job_runs.list_recent(1)[0]
    assert run.shard_count == 5
    assert run.params == {'cutoff_date': '2021-06-01'}
    assert run.details['key_ranges'] == 5


def test_params_are_data_never_code():
    assert run_pipeline.parse_param('n=3') == ('n', 3)
    assert run_pipeline.parse_param('s=__import__("os")') == (
        's', '__import__("os")')
    assert run_pipeline.parse_param('eq=a=b') == ('eq', 'a=b')


def test_jobs_and_status(seeded):
    _cli(seeded, 'run', 'EmailDomainCountOneOffJob')
    code, listing = _cli(seeded, 'jobs')
    assert code == 0
    assert 'EmailDomainCountOneOffJob-' in listing and 'completed' in listing
    job_id = listing.splitlines()[1].split()[0]
    code, status = _cli(seeded, 'status', job_id)
    assert code == 0
    assert 'state:            completed' in status
    assert 'models read:      30' in status


def test_list_shows_registered_jobs(store_path):
    code, listing = _cli(store_path, 'list')
    assert code == 0
    assert 'InteractionAuditOneOffJob' in listing
    assert 'ExplorationModel' in listing


@pytest.mark.parametrize('args, message', [
    (['run', 'NoSuchJob'], "error: no registered one-off job named "
     "'NoSuchJob'"),
    (['status', 'nope'], "error: no job run with id 'nope'"),
    (['run', 'InteractionAuditOneOffJob', '--direct_running_mode',
      'multi_threading'], 'error: --direct_running_mode=multi_threading is '
     'not supported'),
    (['run', 'InteractionAuditOneOffJob', '--shard_count', '0'],
     'error: InteractionAuditOneOffJob: shard_count must be'),
    (['run', 'InteractionAuditOneOffJob', '--runner', 'NoSuchRunner'],
     'error: InteractionAuditOneOffJob: the runner NoSuchRunner is not '
     'supported'),
])
def test_user_mistakes_are_one_line_and_fail(store, store_path, capsys,
                                             args, message):
    code, _ = _cli(store_path, *args)
    err = capsys.readouterr().err
    assert code == 1
    assert message in err
    assert 'Traceback' not in err


def test_output_of_a_failed_run_is_refused(store_path, capsys):
    storage.set_default_store(store_path)
    job_id = job_runs.create('InteractionAuditOneOffJob').job_id
    code, _ = _cli(store_path, 'output', job_id)
    assert code == 1
    assert 'is new; output is available once it has completed' in (
        capsys.readouterr().err)


def test_cancel_refuses_finished_runs(seeded, capsys):
    _cli(seeded, 'run', 'EmailDomainCountOneOffJob')
    storage.set_default_store(seeded)
    job_id = job_runs.list_recent(1)[0].job_id
    code, _ = _cli(seeded, 'cancel', job_id)
    assert code == 1
    assert 'is completed; only queued or started jobs can be canceled' in (
        capsys.readouterr().err)


def test_help_and_store_env_in_a_real_process(tmp_path):
    env = dict(os.environ, BEAM_JOBS_STORE=str(tmp_path / 'env.sqlite3'))
    for args in (['--help'], ['run', '--help'], ['seed-demo', '--help']):
        done = subprocess.run([sys.executable, 'run_pipeline.py', *args],
                              cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert 'usage: run_pipeline.py' in done.stdout
    done = subprocess.run(
        [sys.executable, 'run_pipeline.py', 'seed-demo', '--explorations',
         '3', '--users', '2'], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / 'env.sqlite3').exists()
    done = subprocess.run(
        [sys.executable, 'run_pipeline.py', 'bogus'], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "invalid choice: 'bogus'" in done.stderr


# The command line in an install without the gcp extra, where importing
# Beam logs "apitools not found": apitools cannot be imported there.
_CLI_WITHOUT_APITOOLS = '''
import logging, runpy, sys
sys.modules['apitools'] = None
sys.argv = ['run_pipeline.py', *sys.argv[1:]]
try:
    runpy.run_path('run_pipeline.py', run_name='__main__')
finally:
    logging.warning('a warning of its own')
'''


def test_cli_hides_beams_false_warning_without_the_gcp_extra(tmp_path):
    env = dict(os.environ, BEAM_JOBS_STORE=str(tmp_path / 'cli.sqlite3'))
    done = subprocess.run(
        [sys.executable, '-c', _CLI_WITHOUT_APITOOLS, 'list'], cwd=REPO,
        env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert 'InteractionAuditOneOffJob' in done.stdout
    assert 'apitools not found' not in done.stderr
    # Other warnings still show.
    assert 'a warning of its own' in done.stderr


def test_declared_parameters_are_listed_and_checked_before_a_run(
        store, store_path, capsys):
    out = io.StringIO()
    assert run_pipeline.main(['--store', store_path, 'list'], out=out) == 0
    assert 'takes cutoff_date (str, required)' in out.getvalue()
    for given, message in (
            ([], 'missing parameter cutoff_date'),
            (['--param', 'cutoff_date=2022-01-01', '--param', 'x=1'],
             'unknown parameter x'),
            (['--param', 'cutoff_date=20220101'],
             'parameter cutoff_date must be a str, got 20220101')):
        assert run_pipeline.main(['--store', store_path, 'run',
                                  'InactiveUsersOneOffJob', *given],
                                 out=io.StringIO()) == 1
        assert capsys.readouterr().err == (
            'error: InactiveUsersOneOffJob: %s; it takes cutoff_date (str, '
            'required)\n' % message)
    assert store.list_runs() == []
    helped = io.StringIO()
    assert run_pipeline.main(['run', 'InactiveUsersOneOffJob', '--help'],
                             out=helped) == 0
    assert helped.getvalue().endswith(
        '\nInactiveUsersOneOffJob takes cutoff_date (str, required)\n')


def test_a_run_that_completed_with_errors_exits_with_its_own_status(
        store, store_path):
    user_models.UserSettingsModel(id='u1', email='a@b.org').put()
    with sqlite3.connect(store_path) as conn:
        conn.execute("INSERT INTO models (kind, id, data) VALUES "
                     "('UserSettingsModel', 'u2', '{not json')")
    assert run_pipeline.main(['--store', store_path, 'run',
                              'EmailDomainCountOneOffJob'],
                             out=io.StringIO()) == (
        run_pipeline.EXIT_COMPLETED_WITH_ERRORS)
    assert run_pipeline.EXIT_COMPLETED_WITH_ERRORS == 3


def test_run_detach_returns_at_once_and_status_watch_follows_the_run(
        store, store_path, capsys):
    exp_models.ExplorationModel.put_multi([
        exp_models.ExplorationModel(id='e%02d' % n, init_state_name='A',
                                    states={'A': {'interaction': {
                                        'id': 'TextInput'}}})
        for n in range(30)])
    out = io.StringIO()
    assert run_pipeline.main(['--store', store_path, 'run',
                              'InteractionCountOneOffJob', '--detach'],
                             out=out) == 0
    job_id = out.getvalue().strip()
    assert job_id.startswith('InteractionCountOneOffJob-')
    # Its own process runs it; status --watch follows it to its end.
    watched = io.StringIO()
    assert run_pipeline.main(['--store', store_path, 'status', '--watch',
                              job_id], out=watched) == 0
    assert 'state:            completed' in watched.getvalue()
    assert 'models read:      30' in watched.getvalue()
    assert job_runs.get(job_id).owner_pid != os.getpid()


def test_run_detach_refused_leaves_no_run_and_starts_no_process(
        store, store_path, capsys):
    assert run_pipeline.main(['--store', store_path, 'run',
                              'InteractionCountOneOffJob', '--detach',
                              '--shard_count', '0'], out=io.StringIO()) == 1
    assert 'shard_count must be a whole number from 1' in (
        capsys.readouterr().err)
    assert store.list_runs() == []
