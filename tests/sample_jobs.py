"""Jobs used by the tests, written only from the seed page's contract.

They live in a module (not inside test functions) so that worker processes
of multi_processing runs can import them.
"""

from __future__ import annotations

import os
import threading
import time

from beam_jobs import jobs
from models import base_models
from models import exp_models
from models import properties as props
from models import user_models


def wait_at_gate(gate: str, say_reached: bool = True) -> None:
    """Touches gate + '.reached' (unless not say_reached), then waits until
    the file gate exists: lets a test act on a run that is certainly at
    this point. Gives up after ten minutes, so that no test hangs."""
    if say_reached:
        with open(gate + '.reached', 'w'):
            pass
    deadline = time.monotonic() + 600
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.05)


def leave_pid_file(folder: str) -> None:
    """Leaves a file named after this process in folder: tells a test
    which processes map, so that it can signal or kill each."""
    with open(os.path.join(folder, str(os.getpid())), 'w'):
        pass


class NoteModel(base_models.BaseModel):
    """A second kind for jobs over several model classes."""

    text = props.StringProperty(default='')
    author_id = props.StringProperty()


# The steps CountByKindJob compiles to, in order.
COUNT_BY_KIND_STEPS = [
    'CountByKindJob/ReadUserSettingsModel',
    'CountByKindJob/ReadNoteModel',
    'CountByKindJob/FlattenModels', 'CountByKindJob/Map',
    'CountByKindJob/GroupByKey', 'CountByKindJob/Reduce',
    'CountByKindJob/WriteOutput', 'CountByKindJob/FlattenErrors',
    'CountByKindJob/WriteErrors']


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


class PairThenNotAPairJob(jobs.BaseMapReduceOneOffJobManager):
    """map yields a good pair, then a bare value, for explorations whose id
    ends in 1; a good pair for the others."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        yield (item.id, 1)
        if item.id.endswith('1'):
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


class OnePercentFailingJob(jobs.BaseMapReduceOneOffJobManager):
    """map raises for one model in a hundred (ids ending in 07)."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        if item.id.endswith('07'):
            raise RuntimeError('unreadable exploration %s' % item.id)
        yield ('ok', item.id)

    @staticmethod
    def reduce(key, values):
        yield (key, len(values))
        if key == 'ok' and len(values) > 0:
            yield ('first', min(values))


class UntravelableJob(jobs.BaseMapReduceOneOffJobManager):
    """map yields keys and values that cannot cross a shuffle, for some
    models, and a fine pair for the rest."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        if item.id == 'bad-key':
            yield (object(), 1)
        elif item.id == 'bad-tuple-key':
            yield (('fine', object()), 1)
        elif item.id == 'tuple-key':
            yield (('fine', 1, None), item.id)
        elif item.id == 'bad-value':
            yield ('key', lambda: 1)
        elif item.id == 'not-a-pair':
            yield ('a', 'b', 'c')
        else:
            yield ('fine', item.id)

    @staticmethod
    def reduce(key, values):
        yield (key, sorted(values))


class FailingReduceJob(jobs.BaseMapReduceOneOffJobManager):
    """reduce raises for one key, after yielding a line for it."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        yield (item.id[-1], item.id)

    @staticmethod
    def reduce(key, values):
        if key == '3':
            yield (key, 'a line before the failure')
            raise KeyError('no total for %s' % key)
        yield (key, len(values))


class FailingCombineJob(jobs.BaseMapReduceOneOffJobManager):
    """Counts explorations by the last character of their id; combine
    raises for key '3' once it has more than one value."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        yield (item.id[-1], 1)

    @staticmethod
    def combine(key, values):
        if key == '3' and len(values) > 1:
            raise ArithmeticError('cannot add up %s' % key)
        yield sum(values)

    @staticmethod
    def reduce(key, values):
        yield (key, sum(values))


class GatedJob(jobs.BaseMapReduceOneOffJobManager):
    """Stops in map at the model named by the 'gate_model' parameter until
    the file 'gate_path' exists, after touching 'gate_path'.reached: lets a
    test act on a run that is certainly in the middle of its map."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        if item.id == GatedJob.get_mapper_param('gate_model'):
            wait_at_gate(GatedJob.get_mapper_param('gate_path'))
        yield ('all', item.id)

    @staticmethod
    def reduce(key, values):
        yield (key, len(values))


class TagUsersJob(jobs.BaseMapReduceOneOffJobManager):
    """A read-modify-write migration: appends 'job' to every user's
    preferred_language_codes."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [user_models.UserSettingsModel]

    @staticmethod
    def map(item):
        item.preferred_language_codes = item.preferred_language_codes + [
            'job']
        item.put()
        yield ('tagged', item.id)

    @staticmethod
    def reduce(key, values):
        yield (key, len(values))


class InterferedJob(jobs.BaseMapReduceOneOffJobManager):
    """Lowercases emails, while 'another writer' (simulated inside map, on
    the first attempt only) sets the username of the same user."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [user_models.UserSettingsModel]

    @staticmethod
    def map(item):
        if item.username is None:
            other_writer_copy = user_models.UserSettingsModel.get_by_id(
                item.id)
            other_writer_copy.username = 'set-by-other-writer'
            other_writer_copy.put()
        item.email = item.email.lower()
        item.put()
        yield ('done', item.username)

    @staticmethod
    def reduce(key, values):
        yield (key, sorted(values))


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


class StuckMapJob(jobs.BaseMapReduceOneOffJobManager):
    """Its map never returns, once it has left a file named after its
    process in the folder given as the 'folder' parameter: a run that only
    an interruption ends."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        leave_pid_file(StuckMapJob.get_mapper_param('folder'))
        threading.Event().wait()
        yield item.id, 1

    @staticmethod
    def reduce(key, values):
        yield key


# Seven keys that Python takes for two (True == 1 == 1.0, False == 0 ==
# 0.0 == -0.0), yet are seven different values.
LOOKALIKE_KEYS = (True, 1, 1.0, False, 0, 0.0, -0.0)


class LookalikeKeysJob(jobs.BaseMapReduceOneOffJobManager):
    """Counts models by LOOKALIKE_KEYS[n % 7] for a model 'e<n>', with a
    combiner; model 'list' yields a list as its key (which has a
    deterministic encoding), model 'dict' a dict whose keys cannot be
    ordered (which has none), models 'nan' and '-nan' a NaN of each sign
    (two keys, which print alike)."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        odd_keys = {'list': [1, 'a'], 'dict': {1: 'a', 'b': 2},
                    'nan': float('nan'), '-nan': -float('nan')}
        if item.id in odd_keys:
            yield (odd_keys[item.id], 1)
        else:
            yield (LOOKALIKE_KEYS[int(item.id[1:]) % 7], 1)

    @staticmethod
    def combine(key, values):
        yield sum(values)

    @staticmethod
    def reduce(key, values):
        yield (key, type(key).__name__, sum(values))


class SurrogateTextJob(jobs.BaseMapReduceOneOffJobManager):
    """Yields text with a lone surrogate, which has no UTF-8 encoding: as
    the key of model 'bad-key', as the value of model 'bad-value', and as
    the output line of key 'bad-line' (model 'bad-line')."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        if item.id == 'bad-key':
            yield ('x@b\ud800.org', 1)
        elif item.id == 'bad-value':
            yield ('value', ('x@b\ud800.org',))
        else:
            yield (item.id, 1)

    @staticmethod
    def reduce(key, values):
        yield 'line \ud800' if key == 'bad-line' else (key, len(values))


class GatedMigrationJob(jobs.BaseMapReduceOneOffJobManager):
    """A migration: writes a NoteModel named after each exploration it maps.
    At the model named by 'gate_model' it first touches 'gate_path'.reached
    and waits until the file 'gate_path' exists, then for one check
    interval of its run's watch, so that the check before its next model
    reads the run record."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        import time
        from pipelines import run_control
        if item.id == GatedMigrationJob.get_mapper_param('gate_model'):
            wait_at_gate(GatedMigrationJob.get_mapper_param('gate_path'))
            time.sleep(run_control.CHECK_INTERVAL_SECONDS)
        NoteModel(id=item.id, text='migrated').put()
        yield ('migrated', 1)

    @staticmethod
    def reduce(key, values):
        yield (key, len(values))


class GatedReduceJob(jobs.BaseMapReduceOneOffJobManager):
    """Stops in reduce until the file 'gate_path' exists, after touching
    'gate_path'.reached: lets a test look at a run that has read every
    model."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        yield ('all', item.id)

    @staticmethod
    def reduce(key, values):
        wait_at_gate(GatedReduceJob.get_mapper_param('gate_path'))
        yield (key, len(values))


class PidGatedJob(jobs.BaseMapReduceOneOffJobManager):
    """Leaves a file named after its process in the folder 'folder', then
    maps on once the file 'gate_path' exists: lets a test act on every
    mapping process while each is inside a map."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        leave_pid_file(PidGatedJob.get_mapper_param('folder'))
        wait_at_gate(PidGatedJob.get_mapper_param('gate_path'),
                     say_reached=False)
        yield ('all', 1)

    @staticmethod
    def reduce(key, values):
        yield (key, len(values))


class BigOutputJob(jobs.BaseMapReduceOneOffJobManager):
    """Writes a 300,000-character output line for each model mapped: fills
    a small disk."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        yield (item.id, 1)

    @staticmethod
    def reduce(key, values):
        yield key + ' ' + 'x' * 300_000


class CountingJob(jobs.BaseMapReduceOneOffJobManager):
    """Counts, with counters of its own, the models it maps (and the deleted
    ones it skips), its combine calls and the keys it reduces."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        if item.deleted:
            jobs.increment_counter('skipped deleted')
            return
        jobs.increment_counter('mapped')
        yield (item.category, 1)

    @staticmethod
    def combine(key, values):
        jobs.increment_counter('combined', 0)
        yield sum(values)

    @staticmethod
    def reduce(key, values):
        jobs.increment_counter('reduced keys')
        jobs.increment_counter('models in reduce', sum(values))
        yield (key, sum(values))


class UsernameMigrationJob(jobs.BaseMapReduceOneOffJobManager):
    """A migration: deletes the users whose email is at old.org, gives the
    others a username from their email, and leaves a NoteModel for each."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [user_models.UserSettingsModel]

    @staticmethod
    def map(item):
        if item.email.endswith('@old.org'):
            item.delete()
            yield ('deleted', 1)
            return
        item.username = item.email.partition('@')[0]
        item.put()
        NoteModel(id='note-' + item.id, text='migrated').put()
        yield ('migrated', 1)

    @staticmethod
    def reduce(key, values):
        yield (key, len(values))
