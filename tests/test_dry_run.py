"""A local dry run (--dry_run=True) runs the whole job but writes no model:
the store is the same to the byte, on both stores, and the run reports
what its job code would have written."""

from __future__ import annotations

import hashlib
import io
import json

import pytest

import run_pipeline
from beam_jobs import jobs_registry
from models import user_models
from tests import sample_jobs

KINDS = ('UserSettingsModel', 'NoteModel')



def _checksum(store):
    """A digest of every stored model of KINDS, as the store returns it."""
    digest = hashlib.sha256()
    for kind in KINDS:
        for model_id, payload in store.scan(kind):
            digest.update(json.dumps([kind, model_id, payload],
                                     sort_keys=True).encode())
    return digest.hexdigest()


def _users():
    user_models.UserSettingsModel.put_multi([
        user_models.UserSettingsModel(id='u1', email='ann@new.org'),
        user_models.UserSettingsModel(id='u2', email='bob@new.org',
                                      username='bobby'),
        user_models.UserSettingsModel(id='u3', email='cy@old.org')])
    sample_jobs.NoteModel(id='note-u2', text='earlier').put()


@pytest.mark.parametrize('pipeline_args', [
    ['--dry_run=True'],
    ['--dry_run=True', '--direct_running_mode=multi_processing',
     '--direct_num_workers=2']], ids=['one-process', '2-workers'])
def test_a_dry_run_writes_nothing_and_reports_what_it_would(
        any_store, pipeline_args):
    _users()
    before = _checksum(any_store)
    job = sample_jobs.UsernameMigrationJob
    job_id = job.create_new(pipeline_args=pipeline_args)
    job.enqueue(job_id, shard_count=2)
    assert job.get_status_code(job_id) == 'completed', job.get_error(job_id)
    # The output is the real run's; the store is as it was.
    assert job.get_output(job_id) == ["('deleted', 1)", "('migrated', 2)"]
    assert _checksum(any_store) == before
    assert job.is_dry_run(job_id)
    report = job.get_dry_run_report(job_id)
    assert report['counts'] == {
        'NoteModel': {'created': 1, 'written': 1, 'deleted': 0},
        'UserSettingsModel': {'created': 0, 'written': 2, 'deleted': 1}}
    changes = {(w['kind'], w['id'], w['action']): w['changes']
               for w in report['writes']}
    assert changes == {
        ('NoteModel', 'note-u1', 'created'): {
            'deleted': [None, False], 'text': [None, 'migrated']},
        ('NoteModel', 'note-u2', 'written'): {
            'text': ['earlier', 'migrated']},
        ('UserSettingsModel', 'u1', 'written'): {'username': [None, 'ann']},
        ('UserSettingsModel', 'u2', 'written'): {
            'username': ['bobby', 'bob']},
        ('UserSettingsModel', 'u3', 'deleted'): {
            'deleted': [False, None], 'email': ['cy@old.org', None],
            'preferred_language_codes': [[], None]}}


def test_the_command_line_shows_a_dry_run_everywhere(store, store_path,
                                                     monkeypatch, capsys):
    _users()
    before = _checksum(store)
    monkeypatch.setattr(jobs_registry, 'ONE_OFF_JOB_MANAGERS',
                        [sample_jobs.UsernameMigrationJob])
    assert run_pipeline.main(['--store', store_path, 'run',
                              'UsernameMigrationJob', '--dry_run=True'],
                             out=io.StringIO()) == 0
    job_id = capsys.readouterr().err.split(':')[0]
    assert _checksum(store) == before
    listing = io.StringIO()
    run_pipeline.main(['--store', store_path, 'jobs'], out=listing)
    assert 'completed (dry run)' in listing.getvalue()
    status = io.StringIO()
    run_pipeline.main(['--store', store_path, 'status', job_id], out=status)
    assert ('dry run:          yes: no model was written; would have '
            'written NoteModel: 1 created, 1 written, 0 deleted; '
            'UserSettingsModel: 0 created, 2 written, 1 deleted '
            '(run_pipeline.py writes %s)' % job_id) in status.getvalue()
    writes = io.StringIO()
    assert run_pipeline.main(['--store', store_path, 'writes', job_id],
                             out=writes) == 0
    assert ('written UserSettingsModel u2\n    username: "bobby" -> "bob"\n'
            in writes.getvalue())
