"""The emulator runner says clearly when the emulator cannot be had (this is
what makes the Datastore tests skip, with the reason, on such machines)."""

from __future__ import annotations

import os

import pytest

from beam_jobs import datastore_emulator as emulator_module


def test_missing_gcloud_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv('PATH', str(tmp_path))
    with pytest.raises(emulator_module.EmulatorMissing,
                       match='gcloud is not on PATH'):
        emulator_module.check_installed()


def test_gcloud_without_the_emulator_component_is_reported(
        monkeypatch, tmp_path):
    sdk_bin = tmp_path / 'sdk' / 'bin'
    sdk_bin.mkdir(parents=True)
    fake = sdk_bin / 'gcloud'
    fake.write_text('#!/bin/sh\nexit 1\n')
    fake.chmod(0o755)
    monkeypatch.setenv('PATH', str(sdk_bin))
    with pytest.raises(emulator_module.EmulatorMissing,
                       match='has no Cloud Datastore emulator'):
        emulator_module.check_installed()


def test_runner_command_fails_with_the_reason(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv('PATH', str(tmp_path))
    assert emulator_module.main(['--', 'true']) == 1
    assert 'gcloud is not on PATH' in capsys.readouterr().err


def test_runner_command_runs_the_command_against_the_emulator(
        datastore_emulator, tmp_path):
    # Uses the session's emulator only to know it is installed; this starts
    # a second, short-lived one, as `make demo-datastore` does.
    out = tmp_path / 'env.txt'
    code = emulator_module.main([
        '--project', 'p-check', '--', 'sh', '-c',
        'echo "$DATASTORE_EMULATOR_HOST $DATASTORE_PROJECT_ID" > %s' % out])
    assert code == 0
    host, project = out.read_text().split()
    assert host.startswith('localhost:') and project == 'p-check'
    assert host != os.environ['DATASTORE_EMULATOR_HOST']
