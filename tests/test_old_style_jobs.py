"""Test methods as written for the App Engine framework's jobs, their
bodies unchanged: only the import lines are this framework's (the test base
from beam_jobs.compat.test_utils). Each test class runs again on a fresh
namespace of the Cloud Datastore emulator."""

from __future__ import annotations

import ast
import uuid

import pytest

from beam_jobs.compat import jobs
from beam_jobs.compat import test_utils
from models import exp_models
from models import storage
from models import user_models
from tests import old_style_jobs

QUEUE_NAME_ONE_OFF_JOBS = 'one-off-jobs'


class UsernameLengthStatsOneOffJobTests(test_utils.GenericTestBase):

    def _run_one_off_job(self):
        job_id = old_style_jobs.UsernameLengthStatsOneOffJob.create_new()
        old_style_jobs.UsernameLengthStatsOneOffJob.enqueue(job_id)
        self.assertEqual(
            self.count_jobs_in_mapreduce_taskqueue(QUEUE_NAME_ONE_OFF_JOBS),
            1)
        self.process_and_flush_pending_mapreduce_tasks()
        self.assertEqual(
            old_style_jobs.UsernameLengthStatsOneOffJob.get_status_code(
                job_id), jobs.STATUS_CODE_COMPLETED)
        return [ast.literal_eval(line) for line in
                old_style_jobs.UsernameLengthStatsOneOffJob.get_output(
                    job_id)]

    def test_stats_by_username_length(self):
        user_models.UserSettingsModel(
            id='u1', email='a@x.org', username='ann').put()
        user_models.UserSettingsModel(
            id='u2', email='b@x.org', username='bob').put()
        user_models.UserSettingsModel(
            id='u3', email='c@x.org', username='carla').put()
        user_models.UserSettingsModel(id='u4', email='d@x.org').put()
        output = self._run_one_off_job()
        self.assertEqual(sorted(output, key=str), sorted([
            [3, 3.0, ['u1', 'u2']], [5, 1.5, ['u3']],
            ['users without a username', 1]], key=str))


class LanguageResetOneOffJobTests(test_utils.GenericTestBase):

    def test_resets_every_language_but_english(self):
        user_models.UserSettingsModel(
            id='u1', email='a@x.org', preferred_language_codes=['hi']).put()
        user_models.UserSettingsModel(
            id='u2', email='b@x.org', preferred_language_codes=['en']).put()
        job_id = old_style_jobs.LanguageResetOneOffJob.create_new()
        old_style_jobs.LanguageResetOneOffJob.enqueue(job_id)
        self.process_and_flush_pending_mapreduce_tasks()
        output = old_style_jobs.LanguageResetOneOffJob.get_output(job_id)
        self.assertItemsEqual(
            output, ["['ALREADY_EN', 1]", "['SUCCESS_RESET', 1]"])
        self.assertEqual(user_models.UserSettingsModel.get(
            'u1').preferred_language_codes, ['en'])


class CategoryCountRebuildOneOffJobTests(test_utils.GenericTestBase):

    def test_rebuild_writes_a_count_per_category(self):
        for i, category in enumerate(['Art', 'Art', 'Maths']):
            exp_models.ExplorationModel(
                id='e%d' % i, category=category, init_state_name='A').put()
        exp_models.ExplorationModel(
            id='gone', category='Art', init_state_name='A',
            deleted=True).put()
        job_id = old_style_jobs.CategoryCountRebuildOneOffJob.create_new()
        old_style_jobs.CategoryCountRebuildOneOffJob.enqueue(job_id)
        self.process_and_flush_pending_tasks()
        self.assertEqual(
            old_style_jobs.CategoryCountRebuildOneOffJob.get_output(job_id),
            ['rebuilt Art', 'rebuilt Maths'])
        self.assertEqual(
            old_style_jobs.ExplorationCountModel.get('Art').count, 2)
        self.assertEqual(
            old_style_jobs.ExplorationCountModel.get('Maths').count, 1)


class KindCountOneOffJobTests(test_utils.GenericTestBase):

    def test_three_kinds_and_collapsed_output(self):
        exp_models.ExplorationModel(id='e1', init_state_name='A').put()
        exp_models.ExplorationModel(id='e2', init_state_name='A').put()
        user_models.UserSettingsModel(id='u1', email='a@x.org').put()
        old_style_jobs.UserQueryModel(id='q1').put()
        job_id = old_style_jobs.KindCountOneOffJob.create_new()
        old_style_jobs.KindCountOneOffJob.enqueue(job_id)
        self.process_and_flush_pending_mapreduce_tasks()
        self.assertEqual(
            sorted(old_style_jobs.KindCountOneOffJob.get_output(job_id)),
            ['seen a ExplorationModel (2 times)', 'seen a UserQueryModel',
             'seen a UserSettingsModel'])
        # Every line, uncollapsed, for a reader that wants them all.
        self.assertEqual(
            len(old_style_jobs.KindCountOneOffJob.get_output_lines(job_id)),
            4)


class DashboardFieldRemovalOneOffJobTests(test_utils.GenericTestBase):

    def test_removes_the_field_and_keeps_the_rest(self):
        storage.get_store().put('UserSettingsModel', [
            ('u1', {'email': 'a@x.org', 'default_dashboard': 'creator'}),
            ('u2', {'email': 'b@x.org'})])
        job_id = old_style_jobs.DashboardFieldRemovalOneOffJob.create_new()
        old_style_jobs.DashboardFieldRemovalOneOffJob.enqueue(job_id)
        self.process_and_flush_pending_mapreduce_tasks()
        self.assertEqual(
            old_style_jobs.DashboardFieldRemovalOneOffJob.get_output(job_id),
            [])
        user = user_models.UserSettingsModel.get('u1')
        self.assertEqual(user.unknown_properties(), {})
        self.assertEqual(user.email, 'a@x.org')


class UserQueryOneOffJobTests(test_utils.GenericTestBase):

    def setUp(self):
        super().setUp()
        old_style_jobs.UserQueryOneOffJob.hooks_seen = []

    def test_answers_the_query_and_marks_it_done_in_its_hook(self):
        user_models.UserSettingsModel(id='u1', email='a@x.org').put()
        user_models.UserSettingsModel(id='u2', email='b@x.org').put()
        old_style_jobs.UserQueryModel(id='q1').put()
        job_id = old_style_jobs.UserQueryOneOffJob.create_new()
        old_style_jobs.UserQueryOneOffJob.enqueue(
            job_id, additional_job_params={'query_id': 'q1'})
        self.assertTrue(old_style_jobs.UserQueryOneOffJob.is_active(job_id))
        self.assertEqual(
            self.count_jobs_in_taskqueue(QUEUE_NAME_ONE_OFF_JOBS), 1)
        self.assertEqual(len(self.get_pending_tasks()), 1)
        # Signed up after the run was queued: not in the answer.
        user_models.UserSettingsModel(id='u3', email='c@x.org').put()
        self.process_and_flush_pending_mapreduce_tasks()
        self.assertTrue(
            old_style_jobs.UserQueryOneOffJob.has_finished(job_id))
        query = old_style_jobs.UserQueryModel.get('q1')
        self.assertEqual(query.answer, ['u1', 'u2'])
        self.assertEqual(query.status, 'done')
        self.assertEqual(old_style_jobs.UserQueryOneOffJob.hooks_seen, [
            'pre_enqueue', 'post_enqueue', 'pre_start', 'post_start',
            'post_completed'])

    def test_cancel_all_unfinished_jobs_runs_the_cancel_hooks(self):
        job_id = old_style_jobs.UserQueryOneOffJob.create_new()
        old_style_jobs.UserQueryOneOffJob.enqueue(
            job_id, additional_job_params={'query_id': 'q1'})
        old_style_jobs.UserQueryOneOffJob.cancel_all_unfinished_jobs('admin')
        self.assertEqual(
            old_style_jobs.UserQueryOneOffJob.get_status_code(job_id),
            jobs.STATUS_CODE_CANCELED)
        self.assertFalse(old_style_jobs.UserQueryOneOffJob.has_finished(
            job_id))
        self.assertEqual(self.count_jobs_in_mapreduce_taskqueue(), 0)
        self.assertEqual(old_style_jobs.UserQueryOneOffJob.hooks_seen[-2:], [
            'pre_cancel: Canceled by admin', 'post_cancel: Canceled by admin'])


# The same test methods, each on a fresh namespace of the emulator.
class _OnDatastore:

    @pytest.fixture(autouse=True)
    def _emulator(self, datastore_emulator):
        self._project = datastore_emulator.project

    def setUp(self):
        super().setUp()
        self.use_store('datastore://%s/t%s' % (
            self._project, uuid.uuid4().hex[:12]))


for _tests in (UsernameLengthStatsOneOffJobTests,
               LanguageResetOneOffJobTests,
               CategoryCountRebuildOneOffJobTests, KindCountOneOffJobTests,
               DashboardFieldRemovalOneOffJobTests, UserQueryOneOffJobTests):
    _name = 'Datastore' + _tests.__name__
    globals()[_name] = type(_name, (_OnDatastore, _tests), {})
del _tests, _name
