"""Jobs used by the tests, written only from the seed page's contract.

They live in a module (not inside test functions) so that worker processes
of multi_processing runs can import them.
"""

from __future__ import annotations

import os

from beam_jobs import jobs
from models import base_models
from models import exp_models
from models import properties as props
from models import user_models


class NoteModel(base_models.BaseModel):
    """A second kind for jobs over several model classes."""

    text = props.StringProperty(default='')
    author_id = props.StringProperty()


class CountByKindJob(jobs.BaseMapReduceOneOffJobManager):
    """Counts live models of two kinds."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [user_models.UserSettingsModel, NoteModel]

    @staticmethod
    def map(item):
        if not item.deleted:
            yield (item.kind(), 1)

    @staticmethod
    def reduce(key, values):
        yield '%s %d' % (key, sum(values))


class ParamJob(jobs.BaseMapReduceOneOffJobManager):
    """Tags every exploration id with the run's 'label' parameter."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        yield (ParamJob.get_mapper_param('label'), item.id)

    @staticmethod
    def reduce(key, values):
        suffix = ParamJob.get_mapper_param('suffix')
        yield '%s%s %s' % (key, suffix, sorted(values))


class ShardedJob(jobs.BaseMapReduceOneOffJobManager):
    """Overrides enqueue to choose its shard count, as the seed page shows."""

    @classmethod
    def enqueue(cls, job_id, additional_job_params=None):
        super(ShardedJob, cls).enqueue(job_id, shard_count=3)

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        yield ('all', item.id)

    @staticmethod
    def reduce(key, values):
        yield (key, len(values))


class FailingMapJob(jobs.BaseMapReduceOneOffJobManager):
    """map raises for one model."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        if item.id == 'exp-bad':
            raise ValueError('cannot audit %s' % item.id)
        yield ('ok', item.id)

    @staticmethod
    def reduce(key, values):
        yield (key, len(values))


class NotAPairJob(jobs.BaseMapReduceOneOffJobManager):
    """map yields a bare value instead of a (key, value) pair."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        yield item.id

    @staticmethod
    def reduce(key, values):
        yield key


class WritingJob(jobs.BaseMapReduceOneOffJobManager):
    """A migration: map writes every user back with a normalised email."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [user_models.UserSettingsModel]

    @staticmethod
    def map(item):
        lowered = item.email.lower()
        if lowered != item.email:
            item.email = lowered
            item.put()
            yield ('migrated', item.id)
        else:
            yield ('unchanged', item.id)

    @staticmethod
    def reduce(key, values):
        yield (key, len(values))


class KeepAllCombineJob(jobs.BaseMapReduceOneOffJobManager):
    """A combine that keeps every value, marking it with the 'label'
    parameter once; reduce strips the mark, so the output is the same with
    or without the combine."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        yield ('all', item.id)

    @staticmethod
    def combine(key, values):
        label = KeepAllCombineJob.get_mapper_param('label')
        for value in values:
            yield value if value.startswith(label) else label + value

    @staticmethod
    def reduce(key, values):
        label = KeepAllCombineJob.get_mapper_param('label')
        ids = {v[len(label):] if v.startswith(label) else v for v in values}
        yield (key, len(ids))


class WorkerPidJob(jobs.BaseMapReduceOneOffJobManager):
    """Counts models by the process that mapped them, to show which
    workers the read's key ranges went to."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        yield ('pid', os.getpid())

    @staticmethod
    def reduce(key, values):
        yield (key, len(values), len(set(values)))
