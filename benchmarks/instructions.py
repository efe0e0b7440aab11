"""Instructions per model, counted by Valgrind's cachegrind: a measure of a
variant's work that does not move with the machine's load.

    python -m benchmarks.instructions count-compiled-in-process count-beam-jobcode
    python -m benchmarks.instructions --sizes 10000 50000 states-compiled
    python -m benchmarks.instructions --caches count-compiled-in-process

Each variant (a name from benchmarks.run.VARIANTS) runs once at each of two
sizes, as `make bench` runs it (benchmarks.run's child, on the same cached
stores), under `valgrind --tool=cachegrind --cache-sim=no`, which counts
the machine instructions of every process of the run: the launcher and its
worker processes, forked or spawned, with all their threads. The
difference between the two counts is the cost of the models in between:

    per model = (I(big) - I(small)) / (big - small)
    fixed     = I(small) - small x per model

(fixed: the interpreter's start and imports, building and starting the
pipeline, workers). Compare the fixed counts of runs in one process only:
a run on worker processes has threads that wait by polling (gRPC's), and
under Valgrind, which runs a process's threads one at a time, their
instructions grow with the run's length (the count over 10,000 and 30,000
explorations on 2 workers: 10.1 billion fixed, against 3.6 billion in one
process; per model 222,655 against 220,983).

On these 2-core machines the wall time of the same code moved by up to a
third from one run to the next (the hand-written count over 300,000
explorations: 9.26 and 12.45 s), so that a change of a few per cent needed
dozens of alternating runs to show, or never showed; the instructions per
model of three runs of the same code differed by 0.4 %. Instructions are
not time: a change in how memory is used (more objects alive at once,
say) can cost time without instructions, and a run under Valgrind takes
about 50 times as long (a 30,000-exploration count about 70 s). So a
change this shows must still be timed with `make bench`; one that only
the clock shows is memory (see --caches below) or scheduling, not work.

With --caches, cachegrind also simulates the L1 caches and an L2 like
these machines' (SIMULATED_L2) and the branch predictor, and the table
gives their misses per model: the read's batches freed once handed on
(pipelines.model_io) were found this way, 556 -> 368 L2 misses per
exploration with the same instructions, where timed runs had shown
nothing. Simulated misses move more than instructions between runs of the
same code, with where things land in memory (343 and 368 L2 misses per
exploration in two runs of the count): a difference of a few dozen is not
a finding.

Needs `valgrind` on the PATH (Debian's package of that name); not part of
`make test` or `make bench`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from typing import NamedTuple

from benchmarks import data
from benchmarks import run

DEFAULT_SIZES = (10_000, 30_000)
# With --caches: a 512 KB, 8-way L2 per core, as on these machines (AMD
# EPYC; cachegrind simulates two levels, the L1s it reads from the CPU and
# this one).
SIMULATED_L2 = '--LL=524288,8,64'


class Count(NamedTuple):
    """cachegrind's event totals of one run of a variant over `models`
    models (Ir: instructions; with caches simulated, also D1mr/D1mw: L1
    data misses, DLmr/DLmw: L2 misses, Bcm/Bim: mispredicted branches)."""

    variant: str
    models: int
    events: dict[str, int]


def data_files(variant: str, models: int) -> tuple[str, str]:
    """The store a variant runs on at this size, and mrjob's JSON lines
    ('' for other variants), generated unless cached (see
    benchmarks.data)."""
    dataset = run.family_of(variant).dataset
    store = data.ensure_store(run.DATA, models, dataset=dataset)
    jsonl = (data.ensure_jsonl(store, dataset)
             if variant.endswith('-mrjob') else '')
    return store, jsonl


def count_events(variant: str, models: int, store: str, jsonl: str,
                 caches: bool = False) -> Count:
    """Runs variant once over the `models` models of store (or of jsonl,
    for mrjob; see data_files) under cachegrind and returns the event
    totals of all its processes: instructions, and with caches the
    simulated cache misses and mispredicted branches too."""
    folder = tempfile.mkdtemp(prefix='instructions-')
    try:
        command, env = run.child_command(
            variant, store, jsonl, os.path.join(folder, 'result.json'))
        # The same dict layouts in every run, and no idle BLAS threads
        # (numpy's, imported by Beam) spinning into the count.
        env.update(PYTHONHASHSEED='0', OPENBLAS_NUM_THREADS='1')
        completed = subprocess.run(
            ['valgrind', '--tool=cachegrind', '--trace-children=yes',
             *(['--cache-sim=yes', '--branch-sim=yes', SIMULATED_L2]
               if caches else ['--cache-sim=no']),
             '--cachegrind-out-file=%s' % os.path.join(folder, 'cg.%p'),
             *command],
            cwd=run.ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, check=False)
        if completed.returncode != 0:
            raise RuntimeError('%s over %d models failed:\n%s' % (
                variant, models, completed.stderr[-3000:]))
        totals: dict[str, int] = {}
        for path in glob.glob(os.path.join(folder, 'cg.*')):
            for event, value in _summary(path).items():
                totals[event] = totals.get(event, 0) + value
        return Count(variant, models, totals)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _summary(path: str) -> dict[str, int]:
    """The event totals of one cachegrind output file."""
    events = None
    with open(path, encoding='utf-8') as f:
        for line in f:
            if line.startswith('events:'):
                events = line.split()[1:]
            elif line.startswith('summary:') and events is not None:
                return dict(zip(events, map(int, line.split()[1:])))
    raise RuntimeError('no events or summary line in %s' % path)


def per_model(small: Count, big: Count, *events: str) -> tuple[float, float]:
    """(per model, fixed part) of the sum of the named events (default:
    instructions) from two counts of one variant."""
    events = events or ('Ir',)
    small_total = sum(small.events[e] for e in events)
    big_total = sum(big.events[e] for e in events)
    slope = (big_total - small_total) / (big.models - small.models)
    return slope, small_total - small.models * slope


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('variants', nargs='+', choices=list(run.VARIANTS),
                        metavar='VARIANT',
                        help='benchmark variants (see benchmarks/run.py)')
    parser.add_argument('--sizes', type=int, nargs=2,
                        default=list(DEFAULT_SIZES),
                        help='the two numbers of models (default: %s)' % (
                            ' '.join(map(str, DEFAULT_SIZES))))
    parser.add_argument('--jobs', type=int, default=os.cpu_count() or 1,
                        help='runs at once (default: one per core)')
    parser.add_argument('--caches', action='store_true',
                        help='also simulate the caches and branch '
                        'predictor: L1 data and L2 misses and mispredicted '
                        'branches per model (runs take about twice as long)')
    args = parser.parse_args(argv)
    small_size, big_size = sorted(args.sizes)
    if small_size == big_size:
        parser.error('--sizes must be two different numbers')
    if shutil.which('valgrind') is None:
        parser.error('valgrind is not installed (Debian: apt install '
                     'valgrind)')
    variants = list(dict.fromkeys(args.variants))
    # The data files are made one at a time before the runs, which share
    # them.
    tasks = [(v, n, *data_files(v, n))
             for v in variants for n in (small_size, big_size)]
    # Each run writes its output under its own job id and the stores keep
    # it; they are cleared once all runs are done.
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        counts = list(pool.map(
            lambda task: count_events(*task, caches=args.caches), tasks))
    for dataset in {run.family_of(v).dataset for v in variants}:
        for size in (small_size, big_size):
            run.clear_outputs(data.store_path(run.DATA, size,
                                              dataset=dataset))
    # Per model, then the fixed instructions.
    columns = [('instructions', ('Ir',))]
    if args.caches:
        columns += [('L1 data misses', ('D1mr', 'D1mw')),
                    ('L2 misses', ('DLmr', 'DLmw')),
                    ('mispredicted branches', ('Bcm', 'Bim'))]
    print('| variant | %s | fixed instructions |' % ' | '.join(
        '%s per model' % name for name, _ in columns))
    print('| --- |' + ' ---: |' * (len(columns) + 1))
    by_variant = {(c.variant, c.models): c for c in counts}
    for variant in variants:
        small, big = by_variant[variant, small_size], by_variant[
            variant, big_size]
        cells = [format(round(per_model(small, big, *events)[0]), ',')
                 for _, events in columns]
        cells.append(format(round(per_model(small, big)[1]), ','))
        print('| %s | %s |' % (variant, ' | '.join(cells)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
