"""One-off jobs over user settings."""

from __future__ import annotations

import datetime

from beam_jobs import jobs
from models import user_models


class UsernameLengthDistributionOneOffJob(jobs.BaseMapReduceOneOffJobManager):
    """How many active users have a username of each length; users who have
    not chosen a username are counted under None.

    Outputs (length, count).
    """

    @classmethod
    def entity_classes_to_map_over(cls):
        return [user_models.UserSettingsModel]

    @staticmethod
    def map(item):
        if item.deleted:
            return
        yield (len(item.username) if item.username else None, 1)

    @staticmethod
    def combine(key, values):
        # Partial counts are counts: summing is associative and commutative.
        yield sum(values)

    @staticmethod
    def reduce(key, values):
        yield (key, sum(values))


class EmailDomainCountOneOffJob(jobs.BaseMapReduceOneOffJobManager):
    """How many active users have an email address at each domain.

    Outputs 'domain: count'.
    """

    @classmethod
    def entity_classes_to_map_over(cls):
        return [user_models.UserSettingsModel]

    @staticmethod
    def map(item):
        if item.deleted:
            return
        _, _, domain = item.email.rpartition('@')
        yield (domain.lower() or '(no domain)', 1)

    @staticmethod
    def combine(key, values):
        yield sum(values)

    @staticmethod
    def reduce(key, values):
        yield '%s: %d' % (key, sum(values))


class InactiveUsersOneOffJob(jobs.BaseMapReduceOneOffJobManager):
    """Active users who have not logged in since a cutoff date, given as the
    job parameter ``cutoff_date`` (YYYY-MM-DD); users who never logged in
    count as inactive.

    Outputs ('inactive', count, sorted user ids).
    """

    PARAMS = {'cutoff_date': jobs.Param(str)}

    @classmethod
    def entity_classes_to_map_over(cls):
        return [user_models.UserSettingsModel]

    @staticmethod
    def map(item):
        if item.deleted:
            return
        cutoff = datetime.datetime.fromisoformat(
            InactiveUsersOneOffJob.get_mapper_param('cutoff_date'))
        if item.last_logged_in is None or item.last_logged_in < cutoff:
            yield ('inactive', item.id)

    @staticmethod
    def reduce(key, values):
        yield (key, len(values), sorted(values))
