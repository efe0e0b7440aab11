"""What the benchmark runs: its jobs (families) and the variants of each,
and how one variant runs, in the child process benchmarks.run starts for
it. docs/benchmarks.md describes every variant.
"""

from __future__ import annotations

import ast
import hashlib
import os
import time
from typing import NamedTuple


class Family(NamedTuple):
    """What the variants of one family run: the hand-written job (a key of
    handwritten.JOBS), the compiled job's class name, the dataset, the shard
    count (the compiled job's, used by its hand-written twins too) and
    whether the hand-written pipeline combines."""

    job: str
    job_class: str
    dataset: str
    shards: int
    combine: bool


FAMILIES: dict[str, Family] = {
    # InteractionAuditOneOffJob's own enqueue asks for 64 shards.
    'audit': Family('audit', 'InteractionAuditOneOffJob', 'explorations',
                    64, False),
    'count': Family('count', 'InteractionCountOneOffJob', 'explorations',
                    8, True),
    'nocomb': Family('count', 'InteractionCountOneOffJob', 'explorations',
                     8, False),
    'domains': Family('domains', 'EmailDomainCountOneOffJob', 'users', 8,
                      True),
    'states': Family('states', 'StateCountOneOffJob', 'explorations', 8,
                     False),
    'cpu': Family('cpu', 'CpuHeavyCountOneOffJob', 'explorations', 8, True),
    'tags': Family('tags', 'TagCountOneOffJob', 'explorations', 8, True),
    'titles': Family('titles', 'TitlesByLanguageOneOffJob', 'explorations',
                     8, False),
    'state-audit': Family('state-audit', 'ExplorationStatesAuditOneOffJob',
                          'explorations', 8, False),
    'usernames': Family('usernames', 'UsernameLengthDistributionOneOffJob',
                        'users', 8, True),
}
# Jobs of shapes the benchmark's own jobs do not have, run instead of those
# with --other-jobs: the figures should hold for a job nobody tuned for.
OTHER_FAMILIES = ('tags', 'titles', 'state-audit', 'usernames')
# The jobs with a combiner, which the mrjob, loop and memory targets are
# about.
COMBINER_FAMILIES = ('count', 'domains', 'tags', 'usernames')


def workers(count: int) -> tuple[str, ...]:
    """Beam's options for a local run on count worker processes."""
    return ('--direct_running_mode=multi_processing',
            '--direct_num_workers=%d' % count)


class Variant(NamedTuple):
    """One way of running a family's job. kind is 'compiled' (the
    framework's job), 'beam' (hand-written Beam on decoded rows),
    'beam-jobcode' (hand-written Beam calling the job class's map and
    reduce), 'loop' (a plain Python loop), 'processes' (that loop in
    `processes` forked processes) or 'mrjob'. args are the Beam pipeline
    options of the compiled and hand-written kinds; without any, a run is
    one process."""

    family: str
    kind: str
    args: tuple[str, ...] = ()
    processes: int = 1


# The first variant of each family is the one the others are compared with
# (the "compiled ÷ this" column).
VARIANTS: dict[str, Variant] = {
    'audit-compiled': Variant('audit', 'compiled'),
    'audit-beam': Variant('audit', 'beam'),
    'audit-beam-jobcode': Variant('audit', 'beam-jobcode'),
    'audit-loop': Variant('audit', 'loop'),
    'audit-mrjob': Variant('audit', 'mrjob'),
    'count-compiled': Variant('count', 'compiled'),
    'count-compiled-2-workers': Variant('count', 'compiled', workers(2)),
    'count-beam': Variant('count', 'beam'),
    'count-beam-2-workers': Variant('count', 'beam', workers(2)),
    'count-beam-jobcode': Variant('count', 'beam-jobcode'),
    'count-loop': Variant('count', 'loop'),
    'count-mrjob': Variant('count', 'mrjob'),
    'nocomb-compiled': Variant('nocomb', 'compiled', ('--disable_combiner',)),
    'nocomb-beam': Variant('nocomb', 'beam'),
    'domains-compiled': Variant('domains', 'compiled'),
    'domains-compiled-2-workers': Variant('domains', 'compiled', workers(2)),
    'domains-beam': Variant('domains', 'beam'),
    'domains-beam-jobcode': Variant('domains', 'beam-jobcode'),
    'domains-loop': Variant('domains', 'loop'),
    'domains-mrjob': Variant('domains', 'mrjob'),
    'states-compiled': Variant('states', 'compiled'),
    'states-beam': Variant('states', 'beam'),
    'states-beam-jobcode': Variant('states', 'beam-jobcode'),
    'states-loop': Variant('states', 'loop'),
    'states-mrjob': Variant('states', 'mrjob'),
    # 1 worker against 2 in the same mode, so that the ratio is what the
    # second worker gives.
    'cpu-1-worker': Variant('cpu', 'compiled', workers(1)),
    'cpu-2-workers': Variant('cpu', 'compiled', workers(2)),
    'cpu-loop-1-process': Variant('cpu', 'processes'),
    'cpu-loop-2-processes': Variant('cpu', 'processes', processes=2),
    'tags-compiled': Variant('tags', 'compiled'),
    'tags-beam': Variant('tags', 'beam'),
    'titles-compiled': Variant('titles', 'compiled'),
    'titles-beam': Variant('titles', 'beam'),
    'state-audit-compiled': Variant('state-audit', 'compiled'),
    'state-audit-beam': Variant('state-audit', 'beam'),
    'usernames-compiled': Variant('usernames', 'compiled'),
    'usernames-beam': Variant('usernames', 'beam'),
}


def family_of(variant: str) -> Family:
    return FAMILIES[VARIANTS[variant].family]


def first_variant(family: str) -> str:
    """The variant of the family that the others are compared with."""
    return next(name for name, variant in VARIANTS.items()
                if variant.family == family)


def default_variants(other_jobs: bool = False) -> list[str]:
    """Every variant of the benchmark's own jobs, or with other_jobs those
    of OTHER_FAMILIES."""
    return [name for name, variant in VARIANTS.items()
            if (variant.family in OTHER_FAMILIES) == other_jobs]


def _job_class(name: str) -> type:
    from beam_jobs import exp_jobs_one_off
    from beam_jobs import user_jobs_one_off
    from benchmarks import bench_jobs
    for module in (exp_jobs_one_off, user_jobs_one_off, bench_jobs):
        if hasattr(module, name):
            return getattr(module, name)
    raise ValueError('no job class %s' % name)


def run_variant(name: str, store: str, jsonl: str) -> tuple[float, list[str]]:
    """Runs one variant over the store (or its JSON lines, for mrjob); its
    wall time, from building the pipeline or loop to its output being
    stored or returned, and its output lines."""
    # Imported before the clock starts: imports are the same for every
    # variant and are not the run's time.
    from benchmarks import handwritten
    from benchmarks import mrjob_jobs
    from models import storage
    storage.set_default_store(store)
    variant, family = VARIANTS[name], family_of(name)
    job_class = _job_class(family.job_class)
    start = time.perf_counter()
    if variant.kind == 'compiled':
        lines = _run_compiled(name, variant, family, job_class)
    elif variant.kind in ('beam', 'beam-jobcode'):
        job_id = 'bench-%s-%d' % (name, os.getpid())
        handwritten.hand_written(
            store, family.job, job_id, family.shards, combine=family.combine,
            pipeline_args=list(variant.args),
            job_class=job_class if variant.kind == 'beam-jobcode' else None)
        lines = list(storage.get_store().read_output(job_id))
    elif variant.kind == 'loop':
        lines = handwritten.plain_loop(store, family.job)
    elif variant.kind == 'processes':
        lines = handwritten.process_loop(store, family.job, variant.processes,
                                       family.shards)
    elif variant.kind == 'mrjob':
        lines = mrjob_jobs.run_inline(family.job, jsonl)
    else:
        raise ValueError(variant.kind)
    return time.perf_counter() - start, lines


def _run_compiled(name: str, variant: Variant, family: Family,
                  job: type) -> list[str]:
    """Runs the compiled job with the variant's pipeline options, as a user
    would; its output lines."""
    from beam_jobs import job_runs
    job_id = job.create_new(pipeline_args=list(variant.args))
    if 'enqueue' in vars(job):
        job.enqueue(job_id)  # The job's own enqueue chooses its shards.
    else:
        job.enqueue(job_id, shard_count=family.shards)
    run = job_runs.get(job_id)
    if run.state != 'completed':
        raise RuntimeError('%s: %s: %s' % (name, run.state, run.error))
    return job.get_output(job_id)


def canonical_digest(lines: list[str]) -> str:
    """A digest of output lines that ignores the order of lines and of the
    values listed inside a line (reduce gets values in no order)."""
    canonical = []
    for line in lines:
        line = line.rstrip('\n')
        try:
            value = ast.literal_eval(line)
        except (ValueError, SyntaxError):
            canonical.append(line)
            continue
        if isinstance(value, tuple):
            value = tuple(sorted(v, key=repr) if isinstance(v, list) else v
                          for v in value)
        canonical.append(repr(value))
    digest = hashlib.sha256()
    for line in sorted(canonical):
        digest.update(line.encode('utf-8') + b'\n')
    return digest.hexdigest()
