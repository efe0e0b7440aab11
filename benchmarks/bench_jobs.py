"""Jobs used only by the benchmark. They live in an importable module so
that multi_processing workers can load them."""

from __future__ import annotations

from beam_jobs import jobs
from models import exp_models

# Iterations of the busy loop: about 50 microseconds of CPU per model on
# the benchmark's 2-core machine, enough for the map to dominate a run.
BUSY_LOOP_ITERATIONS = 950


def busy_checksum(text: str, iterations: int = BUSY_LOOP_ITERATIONS) -> int:
    """A pure-Python checksum that stands for CPU-heavy per-model work."""
    checksum = len(text)
    for i in range(iterations):
        checksum = (checksum * 31 + i) % 1000003
    return checksum


class CpuHeavyCountOneOffJob(jobs.BaseMapReduceOneOffJobManager):
    """Counts live explorations by a checksum bucket that costs ~50 us of
    CPU per model to compute; a combiner keeps the shuffle small, so the
    run's time is the read and the map. The checksum depends only on the
    id's length, so the benchmark's ids, all of one length, share one
    bucket: the job is here for its CPU per model, not for its output."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        if item.deleted:
            return
        yield (busy_checksum(item.id) % 7, 1)

    @staticmethod
    def combine(key, values):
        yield sum(values)

    @staticmethod
    def reduce(key, values):
        yield '%s: %d' % (key, sum(values))


class StateCountOneOffJob(jobs.BaseMapReduceOneOffJobManager):
    """How many states each live exploration has: a key per model, no
    combiner, so the run's time includes a reduce call and an output line
    for every model."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        if item.deleted:
            return
        yield (item.id, len(item.states))

    @staticmethod
    def reduce(key, values):
        yield '%s: %d' % (key, sum(values))


# Jobs of shapes the benchmark's own jobs do not have, which the framework
# was not tuned on (python -m benchmarks.run --other-jobs).
class TagCountOneOffJob(jobs.BaseMapReduceOneOffJobManager):
    """How many live explorations carry each tag: 0-3 pairs per model, a
    combiner, 14 keys over the demo data."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        if item.deleted:
            return
        for tag in item.tags:
            yield (tag, 1)

    @staticmethod
    def combine(key, values):
        yield sum(values)

    @staticmethod
    def reduce(key, values):
        yield '%s: %d' % (key, sum(values))


class TitlesByLanguageOneOffJob(jobs.BaseMapReduceOneOffJobManager):
    """How many titles, and how many distinct ones, the live explorations
    of each language have: a string value per model, no combiner, so each
    of a handful of keys reduces a list of a sixth of the models."""

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        if item.deleted:
            return
        yield (item.language_code, item.title)

    @staticmethod
    def reduce(key, values):
        yield '%s: %d titles, %d distinct' % (key, len(values),
                                              len(set(values)))
