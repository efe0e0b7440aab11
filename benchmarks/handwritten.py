"""The jobs written by hand, which the compiled jobs are compared with over
the same rows: Beam pipelines, and a plain Python loop.

The hand-written pipelines are what a Beam expert would write for these
jobs: split the kind into key ranges in the launcher, reshuffle only the
range descriptors, read and decode each range's rows with orjson and compute
the map's pairs straight from the decoded dicts (no model classes, no
domain objects), CombinePerKey(sum) for the counts, GroupByKey for the
lists, and a batched sink into the same store. The loop does the same map,
group and reduce in one process: the practical limit. The same loop split
over forked processes, each counting its share of the key ranges, is what
the machine's cores give the CPU-heavy job's work with no framework at all.

A second kind of hand-written pipeline runs the job class's own map and
reduce on models (from_stored), with the same Beam plumbing: the
difference between it and the compiled job run in one process is the
framework's own cost, the rest of the gap to the first kind is the cost of
models and of the job's domain objects.
"""

from __future__ import annotations

import collections
import multiprocessing
from typing import Any, Callable, Iterable, Iterator, NamedTuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import fn_runner
import orjson

from beam_jobs import exp_jobs_one_off
from beam_jobs import user_jobs_one_off
from benchmarks import bench_jobs
from models import base_models
from models import sqlite_store
from models import storage

OUTPUT_BATCH_SIZE = 500


# The map and reduce of each job, on decoded rows.
def audit_map(model_id: str, data: dict) -> Iterator[tuple[Any, str]]:
    if data.get('deleted'):
        return
    for name, state in data['states'].items():
        yield state['interaction']['id'], '%s %s' % (model_id, name)


def audit_reduce(key: Any, values: list) -> Iterator[Any]:
    yield (key, values)


def count_map(model_id: str, data: dict) -> Iterator[tuple[Any, int]]:
    if data.get('deleted'):
        return
    for state in data['states'].values():
        yield state['interaction']['id'], 1


def count_reduce(key: Any, values: Iterable[int]) -> Iterator[str]:
    yield '%s: %d' % (key, sum(values))


def domain_map(model_id: str, data: dict) -> Iterator[tuple[str, int]]:
    if data.get('deleted'):
        return
    _, _, domain = data['email'].rpartition('@')
    yield domain.lower() or '(no domain)', 1


def state_count_map(model_id: str, data: dict) -> Iterator[tuple[str, int]]:
    if data.get('deleted'):
        return
    yield model_id, len(data['states'])


def cpu_map(model_id: str, data: dict) -> Iterator[tuple[int, int]]:
    if data.get('deleted'):
        return
    yield bench_jobs.busy_checksum(model_id) % 7, 1


# The jobs of --other-jobs (benchmarks.run), on decoded rows.
def tag_map(model_id: str, data: dict) -> Iterator[tuple[str, int]]:
    if data.get('deleted'):
        return
    for tag in data['tags']:
        yield tag, 1


def title_map(model_id: str, data: dict) -> Iterator[tuple[str, str]]:
    if data.get('deleted'):
        return
    yield data['language_code'], data['title']


def state_audit_map(model_id: str, data: dict) -> Iterator[tuple[str, str]]:
    """ExplorationStatesAuditOneOffJob's map, on the decoded row."""
    if data.get('deleted'):
        return
    for problem in exp_jobs_one_off.state_graph_problems(
            data.get('init_state_name'), data.get('states')):
        yield problem, model_id


def username_length_map(model_id: str, data: dict
                        ) -> Iterator[tuple[int | None, int]]:
    if data.get('deleted'):
        return
    username = data.get('username')
    yield len(username) if username else None, 1


class Job(NamedTuple):
    """A job as this module runs it: the kind it reads, its map on
    (id, decoded row) and its reduce."""

    kind: str
    map: Callable[[str, dict], Iterator[tuple]]
    reduce: Callable[[Any, list], Iterator[Any]]


JOBS: dict[str, Job] = {
    'audit': Job('ExplorationModel', audit_map, audit_reduce),
    'count': Job('ExplorationModel', count_map, count_reduce),
    'domains': Job('UserSettingsModel', domain_map, count_reduce),
    'states': Job('ExplorationModel', state_count_map, count_reduce),
    'cpu': Job('ExplorationModel', cpu_map, count_reduce),
    'tags': Job('ExplorationModel', tag_map, count_reduce),
    # These jobs' reduce is the job's own: it works on the pairs, which are
    # the same whichever way the map computed them.
    'titles': Job('ExplorationModel', title_map,
                  bench_jobs.TitlesByLanguageOneOffJob.reduce),
    'state-audit': Job(
        'ExplorationModel', state_audit_map,
        exp_jobs_one_off.ExplorationStatesAuditOneOffJob.reduce),
    'usernames': Job(
        'UserSettingsModel', username_length_map,
        user_jobs_one_off.UsernameLengthDistributionOneOffJob.reduce),
}


# The jobs whose values are not counts to sum: the plain loop groups them
# in lists.
LIST_JOBS = ('audit', 'titles', 'state-audit')


# The plain Python loop.
def plain_loop(store_path: str, job: str) -> list[str]:
    """The job's output lines, computed by one loop over the store's rows."""
    kind, map_fn, reduce_fn = JOBS[job]
    if job not in LIST_JOBS:
        # What a Python programmer would write for a count: a Counter, no
        # lists of ones.
        return _count_lines(_range_counts(store_path, job), reduce_fn)
    store = sqlite_store.SqliteStore(store_path)
    loads = orjson.loads
    groups: dict = collections.defaultdict(list)
    for model_id, payload in store.scan(kind):
        for key, value in map_fn(model_id, loads(payload)):
            groups[key].append(value)
    store.close()
    return _reduce_lines(groups, reduce_fn)


def _range_counts(store_path: str, job: str, start: str | None = None,
                  end: str | None = None) -> collections.Counter:
    """The summed values of the job's pairs for one key range's rows (all
    of the kind's rows by default)."""
    kind, map_fn, _ = JOBS[job]
    store = sqlite_store.SqliteStore(store_path)
    loads = orjson.loads
    counts: collections.Counter = collections.Counter()
    for model_id, payload in store.scan(kind, start, end):
        for key, value in map_fn(model_id, loads(payload)):
            counts[key] += value
    store.close()
    return counts


def _reduce_lines(groups: dict, reduce_fn: Callable) -> list[str]:
    """reduce's output lines for each key's values, keys in repr order."""
    return [str(out) for key in sorted(groups, key=repr)
            for out in reduce_fn(key, groups[key])]


def _count_lines(counts: collections.Counter,
                 reduce_fn: Callable) -> list[str]:
    """reduce's output lines for summed counts, each key's sum its one
    value."""
    return _reduce_lines({key: [count] for key, count in counts.items()},
                         reduce_fn)


def _key_ranges(store: storage.ModelStore, kind: str, num_splits: int
                ) -> list[tuple[str | None, str | None]]:
    """The kind's (start, end) key ranges, computed up front as an expert
    would, the first open at its start and the last at its end."""
    bounds = [None, *store.split_points(kind, num_splits), None]
    return list(zip(bounds, bounds[1:]))


def process_loop(store_path: str, job: str, processes: int,
                 num_splits: int) -> list[str]:
    """The output lines of a count-style job, computed by the plain loop in
    processes forked from this one (a multiprocessing pool), which share
    the kind's num_splits key ranges; their counts are summed and reduced
    here. The 2-process run against the 1-process one is the most that
    two cores give this work on this machine: no framework, no shuffle."""
    kind, _, reduce_fn = JOBS[job]
    # Its own connection, closed before the fork: a SQLite connection must
    # not cross into a forked child.
    store = sqlite_store.SqliteStore(store_path)
    ranges = _key_ranges(store, kind, num_splits)
    store.close()
    with multiprocessing.get_context('fork').Pool(processes) as pool:
        parts = pool.starmap(
            _range_counts,
            [(store_path, job, start, end) for start, end in ranges],
            chunksize=1)
    counts: collections.Counter = collections.Counter()
    for part in parts:
        counts.update(part)
    return _count_lines(counts, reduce_fn)


# The hand-written Beam pipelines.
class _ReadPairsFn(beam.DoFn):
    """A key range -> the job's (key, value) pairs for its rows."""

    def __init__(self, store_path: str, job: str) -> None:
        self._store_path = store_path
        self._job = job

    def setup(self) -> None:
        self._store = sqlite_store.SqliteStore(self._store_path)
        self._kind, self._map = JOBS[self._job][:2]

    def process(self, key_range: tuple) -> Iterator[tuple]:
        start, end = key_range
        if start is not None and start == end:
            return
        map_fn, loads = self._map, orjson.loads
        for model_id, payload in self._store.scan(self._kind, start, end):
            yield from map_fn(model_id, loads(payload))


class _WriteLinesFn(beam.DoFn):
    """(sort_key, index, line) rows -> the store's job_output, batched."""

    def __init__(self, store_path: str, job_id: str) -> None:
        self._store_path = store_path
        self._job_id = job_id

    def setup(self) -> None:
        self._store = sqlite_store.SqliteStore(self._store_path)

    def start_bundle(self) -> None:
        self._batch: list = []

    def process(self, row: tuple) -> None:
        self._batch.append(row)
        if len(self._batch) >= OUTPUT_BATCH_SIZE:
            self.finish_bundle()

    def finish_bundle(self) -> None:
        if self._batch:
            self._store.write_output(self._job_id, self._batch)
            self._batch = []


class _ReadJobPairsFn(beam.DoFn):
    """A key range -> the pairs the job class's own map yields for its
    models: the job's code run by hand-written Beam, no framework stages."""

    def __init__(self, store_path: str, job_class: type,
                 model_class: type[base_models.BaseModel]) -> None:
        self._store_path = store_path
        self._job_class = job_class
        self._model_class = model_class

    def setup(self) -> None:
        self._store = sqlite_store.SqliteStore(self._store_path)

    def process(self, key_range: tuple) -> Iterator[tuple]:
        start, end = key_range
        if start is not None and start == end:
            return
        from_stored = self._model_class.from_stored
        map_fn = self._job_class.map
        kind = self._model_class.kind()
        for model_id, payload in self._store.scan(kind, start, end):
            yield from map_fn(from_stored(model_id, payload))


def _output_rows(group: tuple, reduce_fn: Callable) -> Iterator[tuple]:
    key, values = group
    for index, out in enumerate(reduce_fn(key, list(values))):
        yield repr(key), index, str(out)


def hand_written(store_path: str, job: str, job_id: str, num_splits: int,
                 combine: bool, pipeline_args: list[str],
                 job_class: type | None = None) -> None:
    """Runs the hand-written pipeline of job; its output goes to the
    store's job_output under job_id.

    With job_class, the pipeline runs that class's own map and reduce on
    models built with from_stored (and sums with CombinePerKey when
    combine), instead of computing from the decoded dicts.
    """
    ranges = _key_ranges(storage.get_store(store_path), JOBS[job].kind,
                         num_splits)
    # Beam's own options and runner, as an expert's script uses them, not
    # the framework's. The runner is named: the DirectRunner would first
    # try to download a Prism binary, which fails offline.
    options = PipelineOptions(pipeline_args)
    with beam.Pipeline(runner=fn_runner.FnApiRunner(), options=options) as p:
        # Create reshuffles its elements itself (Beam's MaybeReshuffle, for
        # more than one): a Reshuffle after it would be a second shuffle.
        pairs = (p
                 | 'Ranges' >> beam.Create(ranges)
                 | 'ReadPairs' >> beam.ParDo(
                     _ReadPairsFn(store_path, job) if job_class is None
                     else _ReadJobPairsFn(
                         store_path, job_class,
                         job_class.entity_classes_to_map_over()[0])))
        if combine:
            groups = (pairs | 'Sum' >> beam.CombinePerKey(sum)
                      | 'AsList' >> beam.MapTuple(lambda k, n: (k, [n])))
        else:
            groups = pairs | 'Group' >> beam.GroupByKey()
        reduce_step = beam.FlatMap(
            _output_rows, reduce_fn=(JOBS[job].reduce if job_class is None
                                     else job_class.reduce))
        _ = (groups
             | 'Reduce' >> reduce_step
             | 'Write' >> beam.ParDo(_WriteLinesFn(store_path, job_id)))
