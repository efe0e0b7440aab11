"""The benchmark: compiled jobs against hand-written Beam, a plain Python
loop and mrjob's inline runner, on the same generated data, compared with
the committed baseline (benchmarks/baseline.json).

    python -m benchmarks.run                  # N = 10,000, 100,000, 1,000,000
    python -m benchmarks.run --quick          # N = 10,000 only
    python -m benchmarks.run --sizes 2000 --variants count-compiled count-beam
    python -m benchmarks.run --save-baseline  # this run becomes the baseline

docs/benchmarks.md says what each variant is, what is measured and how.
Results go to benchmarks/results/bench-<time>.json and .md; generated data
is cached in benchmarks/results/data/.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import psutil

from benchmarks import report
from benchmarks import variants

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, 'results')
DATA = os.path.join(RESULTS, 'data')
BASELINE = os.path.join(HERE, 'baseline.json')
SIZES = (10_000, 100_000, 1_000_000)
# Rounds per size, the best time kept: (up to this many models, rounds),
# then ROUNDS_ABOVE. Short runs vary most, so they get the most rounds.
ROUNDS_UP_TO = ((20_000, 7), (100_000, 3))
ROUNDS_ABOVE = 2
SAMPLE_SECONDS = 0.02
# The sampler runs on the same cores as the run it measures. Reading RSS
# is cheap; listing the process tree (psutil reads every process on the
# machine to find the children) and reading PSS (the kernel walks each
# process's page tables) are not, so they happen every this many samples.
TREE_EVERY_SAMPLES = 5


def _child_main(name: str, store: str, jsonl: str, out: str) -> None:
    """Runs one variant (in the child process measure starts) and writes
    its time and output digest as JSON to out."""
    seconds, lines = variants.run_variant(name, store, jsonl)
    with open(out, 'w', encoding='utf-8') as f:
        json.dump({'seconds': seconds, 'output_lines': len(lines),
                   'digest': variants.canonical_digest(lines)}, f)


# The parent: runs each variant in a child process and measures it.
def _tree(process: psutil.Process) -> list[psutil.Process]:
    """process and its descendants (none if it is gone)."""
    try:
        return [process] + process.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _tree_memory(procs: list[psutil.Process],
                 with_pss: bool) -> tuple[int, int]:
    """The processes' summed RSS, and their summed PSS (0 unless
    with_pss)."""
    rss = pss = 0
    for proc in procs:
        try:
            if with_pss:
                info = proc.memory_full_info()
                pss += info.pss
            else:
                info = proc.memory_info()
            rss += info.rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass  # Gone (or going) between the listing and the read.
    return rss, pss


def _busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, 'iowait', 0.0)


def _children_cpu_seconds() -> float:
    """CPU seconds of this process's reaped children (and theirs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class TreeSampler(threading.Thread):
    """Samples the RSS of a process and its descendants, and if read_pss
    their PSS, until finish(); keeps the peaks, and the CPU it used
    itself."""

    def __init__(self, pid: int, read_pss: bool) -> None:
        super().__init__(daemon=True)
        self._process = psutil.Process(pid)
        self._read_pss = read_pss
        self._done = threading.Event()
        self.peak_rss = self.peak_pss = 0
        self.cpu_seconds = 0.0

    def run(self) -> None:
        procs: list[psutil.Process] = []
        samples = 0
        while not self._done.is_set():
            full = samples % TREE_EVERY_SAMPLES == 0
            if full:
                procs = _tree(self._process)
            rss, pss = _tree_memory(procs, full and self._read_pss)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            samples += 1
            self._done.wait(SAMPLE_SECONDS)
        self.cpu_seconds = time.thread_time()

    def finish(self) -> None:
        self._done.set()
        self.join()


def measure(name: str, store: str, jsonl: str,
            read_pss: bool) -> dict[str, Any]:
    """Runs a variant in a fresh child process (so that its peak memory is
    its own); its time and output digest, the peak RSS of its process tree
    (worker processes included) and, if read_pss, its peak PSS, the CPU
    seconds the tree used and the rest of the machine's load meanwhile."""
    with tempfile.NamedTemporaryFile(suffix='.json', delete=False) as f:
        out = f.name
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    command = [sys.executable, '-m', 'benchmarks.run', '--child', name,
               '--store', store, '--jsonl', jsonl, '--out', out]
    child = subprocess.Popen(command, cwd=ROOT, env=env,
                             stderr=subprocess.PIPE, text=True)
    sampler = TreeSampler(child.pid, read_pss)
    machine_before = _busy_cpu_seconds()
    children_before = _children_cpu_seconds()
    started = time.perf_counter()
    sampler.start()
    _, stderr = child.communicate()
    sampler.finish()
    elapsed = time.perf_counter() - started
    # The child reaps its workers, so their CPU counts in its tree's.
    tree_cpu = _children_cpu_seconds() - children_before
    # Other people's work on a shared machine, the sampler excepted.
    other_cpu = (_busy_cpu_seconds() - machine_before - tree_cpu -
                 sampler.cpu_seconds)
    try:
        if child.returncode != 0:
            raise RuntimeError('%s failed:\n%s' % (name, stderr[-3000:]))
        with open(out, encoding='utf-8') as f:
            result = json.load(f)
    finally:
        os.remove(out)
    result.update(peak_rss_mb=round(sampler.peak_rss / 2 ** 20, 1),
                  peak_pss_mb=round(sampler.peak_pss / 2 ** 20, 1),
                  cpu_seconds=round(tree_cpu, 2),
                  other_load=round(max(0.0, other_cpu) / elapsed, 2))
    return result


def rounds_for(count: int, repeat: int | None) -> int:
    """How many times each variant runs at this size: as asked, else by
    ROUNDS_UP_TO."""
    if repeat is not None:
        return repeat
    for up_to, rounds in ROUNDS_UP_TO:
        if count <= up_to:
            return rounds
    return ROUNDS_ABOVE


def prepare_data(count: int,
                 names: list[str]) -> dict[str, tuple[str, str]]:
    """dataset -> (its store, its JSON lines or '' if no mrjob variant
    reads them), generated unless cached."""
    from benchmarks import data
    stores = {}
    for dataset in sorted({variants.family_of(v).dataset for v in names}):
        print('N = %d: preparing %s...' % (count, dataset), file=sys.stderr,
              flush=True)
        store = data.ensure_store(DATA, count, dataset=dataset)
        needs_jsonl = any(variants.VARIANTS[v].kind == 'mrjob' and
                          variants.family_of(v).dataset == dataset
                          for v in names)
        stores[dataset] = (
            store, data.ensure_jsonl(store, dataset) if needs_jsonl else '')
    return stores


def warm_page_cache(path: str) -> None:
    """Reads the file, so that the next run finds it in the page cache as
    every other run does: the other variants' runs push it out."""
    if not path:
        return
    with open(path, 'rb', buffering=0) as f:
        while f.read(1 << 22):
            pass


def clear_outputs(store: str) -> None:
    """Deletes the runs, output and errors that a run left in a cached
    store, so that every run starts from the same store, and folds the
    write-ahead log back into the file."""
    import sqlite3
    conn = sqlite3.connect(store, timeout=60)
    for table in ('job_output', 'job_runs', 'job_errors'):
        conn.execute('DELETE FROM %s' % table)
    conn.commit()
    conn.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    conn.close()


def run_size(count: int, names: list[str],
             repeat: int | None) -> list[dict[str, Any]]:
    """Runs every variant at this size in rounds, each variant once per
    round in a shuffled order (so that a slow spell of the machine, or the
    after-effects of one variant, fall on different variants from round to
    round); each variant's row."""
    stores = prepare_data(count, names)
    rounds = rounds_for(count, repeat)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for round_number in range(1, rounds + 1):
        order = list(names)
        random.Random('%d-%d' % (count, round_number)).shuffle(order)
        for name in order:
            store, jsonl = stores[variants.family_of(name).dataset]
            is_mrjob = variants.VARIANTS[name].kind == 'mrjob'
            warm_page_cache(jsonl if is_mrjob else store)
            # PSS is read in the first round only: reading it costs the
            # run being measured CPU, and the time kept is the best round's.
            run = measure(name, store, jsonl, read_pss=round_number == 1)
            clear_outputs(store)
            runs[name].append(run)
            print('N = %d, round %d of %d: %s: %.2f s, %.0f MB' % (
                count, round_number, rounds, name, run['seconds'],
                run['peak_rss_mb']), file=sys.stderr, flush=True)
    return [summarize(count, name, runs[name]) for name in names]


def summarize(count: int, name: str,
              runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One variant's row: its best run's figures, the median of its rounds'
    times and its peak memory over all rounds."""
    if len({r['digest'] for r in runs}) != 1:
        raise SystemExit('%s gave different outputs from one run to the '
                         'next at N=%d' % (name, count))
    row = dict(min(runs, key=lambda r: r['seconds']))
    row.update(
        models=count, variant=name, family=variants.VARIANTS[name].family,
        runs=len(runs),
        median_seconds=statistics.median(r['seconds'] for r in runs),
        all_seconds=[round(r['seconds'], 3) for r in runs],
        peak_rss_mb=max(r['peak_rss_mb'] for r in runs),
        peak_pss_mb=max(r['peak_pss_mb'] for r in runs),
        models_per_second=count / row['seconds'])
    return row


def write_results(result: dict[str, Any], table: str) -> str:
    """Writes the run's JSON and Markdown to RESULTS; the JSON's path."""
    os.makedirs(RESULTS, exist_ok=True)
    started = datetime.datetime.fromisoformat(result['started'])
    path = os.path.join(RESULTS, 'bench-%s.json' % started.strftime(
        '%Y%m%dT%H%M%SZ'))
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(result, f, indent=1)
    with open(path[:-len('.json')] + '.md', 'w', encoding='utf-8') as f:
        f.write('`%s`, started %s\n\n%s\n' % (
            result['command'], result['started'], table))
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Runs the benchmark (docs/benchmarks.md) and compares '
        'each row with the baseline.')
    parser.add_argument('--quick', action='store_true',
                        help='N = 10,000 only')
    parser.add_argument('--sizes', type=int, nargs='+', metavar='N',
                        help='the numbers of models to run on (default: %s)'
                        % ', '.join(format(n, ',') for n in SIZES))
    parser.add_argument('--variants', nargs='+', metavar='VARIANT',
                        choices=list(variants.VARIANTS),
                        help='only these variants (default: all but those '
                        'of --other-jobs)')
    parser.add_argument('--other-jobs', action='store_true',
                        help="instead of the benchmark's own jobs, four jobs "
                        'of other shapes, compiled and hand-written')
    parser.add_argument('--repeat', type=int, metavar='ROUNDS',
                        help='rounds, each running every variant once '
                        '(default: %s, %d above)' % (', '.join(
                            '%d up to N=%s' % (rounds, format(up_to, ','))
                            for up_to, rounds in ROUNDS_UP_TO),
                            ROUNDS_ABOVE))
    parser.add_argument('--baseline', default=BASELINE, metavar='PATH',
                        help='the baseline to compare with (default: '
                        'benchmarks/baseline.json)')
    parser.add_argument('--save-baseline', action='store_true',
                        help="write this run as the new baseline (to "
                        "--baseline's path, and a .md beside it)")
    for hidden in ('--child', '--store', '--jsonl', '--out'):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.other_jobs and args.variants:
        parser.error('--other-jobs chooses the variants itself')
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        _child_main(args.child, args.store, args.jsonl, args.out)
        return 0
    sizes = args.sizes or ([10_000] if args.quick else list(SIZES))
    names = args.variants or variants.default_variants(args.other_jobs)
    started = datetime.datetime.now(datetime.timezone.utc)
    rows = []
    for count in sorted(sizes):
        rows.extend(run_size(count, names, args.repeat))
    report.check_outputs(rows)
    report.add_ratios(rows, report.load_baseline(args.baseline))
    checks = report.targets(rows)
    result = {
        'started': started.isoformat(timespec='seconds'),
        'command': ' '.join(['python -m benchmarks.run'] + (
            argv if argv is not None else sys.argv[1:])),
        'machine': {'python': platform.python_version(),
                    'cpus': os.cpu_count(), 'platform': platform.platform()},
        'rows': rows, 'targets': checks,
    }
    table = report.format_table(rows, checks)
    path = write_results(result, table)
    print(table)
    print('\nAll variants of each job gave the same output. JSON: %s' % path)
    if args.save_baseline:
        report.save_baseline(result, args.baseline)
        print('Saved as the baseline: %s' % args.baseline)
    return 0


if __name__ == '__main__':
    sys.exit(main())
