"""One-off jobs written as for the App Engine framework, in the shapes its
applications used: only their import lines are of this framework (the
module imports `jobs` from beam_jobs.compat, as an old module imported it
from core). tests/test_old_style_jobs.py runs them with test methods of
that era."""

from __future__ import annotations

import ast

from beam_jobs.compat import jobs
from models import base_models
from models import exp_models
from models import properties as props
from models import user_models


class ExplorationCountModel(base_models.BaseModel):
    """What a rebuild job writes in reduce: a count per category."""

    count = props.IntegerProperty(default=0)


class UserQueryModel(base_models.BaseModel):
    """A user query, marked done by the job that answers it."""

    status = props.StringProperty(default='processing')
    answer = props.JsonProperty(default=None)


class UsernameLengthStatsOneOffJob(jobs.BaseMapReduceOneOffJobManager):
    """Typed numbers and dicts through the shuffle: reduce literal_evals
    them, and compares its keys as strings."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [user_models.UserSettingsModel]

    @staticmethod
    def map(item):
        if item.username is None:
            yield ('None', {'id': item.id, 'weight': 1.5})
            return
        yield (len(item.username), {'id': item.id, 'weight': 1.5})

    @staticmethod
    def reduce(key, values):
        decoded = [ast.literal_eval(value) for value in values]
        if key.startswith('None'):
            yield ('users without a username', len(decoded))
            return
        yield (int(key), sum(d['weight'] for d in decoded),
               sorted(d['id'] for d in decoded))


class LanguageResetOneOffJob(jobs.BaseMapReduceOneOffJobManager):
    """A migration that writes in map, and counts what it did."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [user_models.UserSettingsModel]

    @staticmethod
    def map(item):
        if item.preferred_language_codes != ['en']:
            item.preferred_language_codes = ['en']
            item.put()
            yield ('SUCCESS_RESET', 1)
        else:
            yield ('ALREADY_EN', 1)

    @staticmethod
    def reduce(key, values):
        yield (key, len(values))


class CategoryCountRebuildOneOffJob(jobs.BaseMapReduceOneOffJobManager):
    """A rebuild that writes in reduce: one model per category."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        if not item.deleted:
            yield (item.category, 1)

    @staticmethod
    def reduce(key, values):
        ExplorationCountModel(id=key, count=len(values)).put()
        yield 'rebuilt %s' % key


class KindCountOneOffJob(jobs.BaseMapReduceOneOffJobManager):
    """Over three model kinds; identical output lines collapse."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel, user_models.UserSettingsModel,
                UserQueryModel]

    @staticmethod
    def map(item):
        yield (type(item).__name__, item.id)

    @staticmethod
    def reduce(key, values):
        for _ in values:
            yield 'seen a %s' % key


class DashboardFieldRemovalOneOffJob(jobs.BaseMapReduceOneOffJobManager):
    """Removes a stored field the model no longer declares; its map never
    yields, so reduce takes one argument, as such jobs declared it."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [user_models.UserSettingsModel]

    @staticmethod
    def map(item):
        if 'default_dashboard' in item.unknown_properties():
            item.remove_unknown_property('default_dashboard')
            item.put()

    @staticmethod
    def reduce(item):
        pass


class UserQueryOneOffJob(jobs.BaseMapReduceOneOffJobManager):
    """Answers a user query (the 'query_id' parameter) with the users who
    signed up before the run was queued, and marks the query done in its
    completion hook; the hooks record the moves they saw."""

    hooks_seen: list[str] = []

    @classmethod
    def entity_classes_to_map_over(cls):
        return [user_models.UserSettingsModel]

    @staticmethod
    def map(item):
        query_id = jobs.BaseMapReduceJobManager.get_mapper_param('query_id')
        if UserQueryOneOffJob._entity_created_before_job_queued(item):
            yield (query_id, item.id)

    @staticmethod
    def reduce(key, values):
        query = UserQueryModel.get(key)
        query.answer = sorted(values)
        query.put()

    @classmethod
    def _pre_enqueue_hook(cls, job_id):
        cls.hooks_seen.append('pre_enqueue')

    @classmethod
    def _post_enqueue_hook(cls, job_id):
        cls.hooks_seen.append('post_enqueue')

    @classmethod
    def _pre_start_hook(cls, job_id):
        cls.hooks_seen.append('pre_start')

    @classmethod
    def _post_start_hook(cls, job_id):
        cls.hooks_seen.append('post_start')

    @classmethod
    def _post_completed_hook(cls, job_id):
        cls.hooks_seen.append('post_completed')
        for query in UserQueryModel.query(
                UserQueryModel.status == 'processing'):
            query.status = 'done'
            query.put()

    @classmethod
    def _post_failure_hook(cls, job_id):
        cls.hooks_seen.append('post_failure')

    @classmethod
    def _pre_cancel_hook(cls, job_id, cancel_message):
        cls.hooks_seen.append('pre_cancel: %s' % cancel_message)

    @classmethod
    def _post_cancel_hook(cls, job_id, cancel_message):
        cls.hooks_seen.append('post_cancel: %s' % cancel_message)
