"""The SQLite store, tested on real files and with real processes."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from models import sqlite_store
from models import storage
from pipelines import output_order
from tests import test_output_order


def _fill(store, kind: str, count: int) -> list[str]:
    ids = ['id-%05d' % i for i in range(count)]
    store.put(kind, [(i, {'n': n}) for n, i in enumerate(ids)])
    return ids


def test_store_file_uses_wal_mode(store, store_path):
    with sqlite3.connect(store_path) as conn:
        assert conn.execute('PRAGMA journal_mode').fetchone()[0] == 'wal'


def test_scan_pages_through_a_large_kind_in_id_order(store, monkeypatch):
    monkeypatch.setattr(sqlite_store, 'SCAN_PAGE_SIZE', 7)
    ids = _fill(store, 'K', 50)
    scanned = [i for i, _ in store.scan('K')]
    assert scanned == ids


def test_scan_respects_half_open_ranges(store):
    ids = _fill(store, 'K', 20)
    assert [i for i, _ in store.scan('K', ids[5], ids[9])] == ids[5:9]
    assert [i for i, _ in store.scan('K', None, ids[3])] == ids[:3]
    assert [i for i, _ in store.scan('K', ids[17], None)] == ids[17:]
    assert list(store.scan('Other')) == []


@pytest.mark.parametrize('count, splits', [(100, 8), (5, 8), (1, 3), (64, 64)])
def test_split_points_cut_a_kind_into_even_sorted_ranges(store, count, splits):
    ids = _fill(store, 'K', count)
    points = store.split_points('K', splits)
    assert len(points) == splits - 1
    assert points == sorted(points)
    assert set(points) <= set(ids)
    if count >= splits:
        bounds = [0] + [ids.index(p) for p in points] + [count]
        sizes = [b - a for a, b in zip(bounds, bounds[1:])]
        assert max(sizes) - min(sizes) <= 1


def test_split_points_of_an_empty_kind(store):
    assert store.split_points('Nothing', 8) == []


def test_run_updates_are_compare_and_set(store):
    store.insert_run({'job_id': 'j1', 'job_type': 'T', 'state': 'new',
                      'params': {'a': [1, 2]}})
    assert store.update_run('j1', {'state': 'queued'}, ['new'])
    assert not store.update_run('j1', {'state': 'queued'}, ['new'])
    run = store.get_run('j1')
    assert run['state'] == 'queued'
    assert run['params'] == {'a': [1, 2]}
    # Deleted only from the states given.
    assert not store.delete_run('j1', ['new'])
    assert store.delete_run('j1', ['queued'])
    assert store.get_run('j1') is None


def test_run_ids_are_unique(store):
    store.insert_run({'job_id': 'j1', 'job_type': 'T', 'state': 'new'})
    with pytest.raises(storage.StoreError, match='j1 already exists'):
        store.insert_run({'job_id': 'j1', 'job_type': 'T', 'state': 'new'})


def test_unknown_run_fields_are_refused(store):
    with pytest.raises(storage.StoreError, match='unknown job run fields'):
        store.insert_run({'job_id': 'j1', 'job_type': 'T', 'state': 'new',
                          'state; DROP TABLE models': 1})


def test_progress_is_added_to_started_runs_only(store):
    store.insert_run({'job_id': 'j1', 'job_type': 'T', 'state': 'started'})
    assert store.add_run_progress('j1', 64)
    assert store.add_run_progress('j1', 36)
    assert store.get_run('j1')['models_read'] == 100
    store.update_run('j1', {'state': 'completed', 'models_read': 120})
    assert not store.add_run_progress('j1', 64)
    assert store.get_run('j1')['models_read'] == 120
    assert not store.add_run_progress('no-such-run', 1)


def test_output_is_ordered_and_idempotent(store):
    store.write_output('j1', [("'b'", 0, 'b0'), ("'a'", 1, 'a1')])
    store.write_output('j1', [("'a'", 0, 'a0'), ("'a'", 1, 'a1')])
    store.write_output('j2', [("'z'", 0, 'other job')])
    assert list(store.read_output('j1')) == ['a0', 'a1', 'b0']
    assert store.count_output('j1') == 3
    store.delete_output('j1')
    assert store.count_output('j1') == 0
    assert list(store.read_output('j2')) == ['other job']


def test_output_comes_back_in_the_order_of_its_keys(store):
    rows = [(output_order.sort_key(key), 0, repr(key))
            for key in test_output_order.ORDERED_KEYS]
    store.write_output('j1', rows[::-1])
    assert list(store.read_output('j1')) == [
        repr(k) for k in test_output_order.ORDERED_KEYS]


def test_large_output_lines_are_kept_whole(store):
    line = 'x' * 5_000_000
    store.write_output('j1', [('k', 0, line)])
    assert list(store.read_output('j1')) == [line]


def _writer(path: str, worker: int, count: int) -> None:
    store = sqlite_store.SqliteStore(path)
    for n in range(count):
        store.put('K', [('w%d-%04d' % (worker, n), {'worker': worker})])
        store.write_output('job', [('w%d' % worker, n, 'line')])


def test_several_processes_write_at_once_without_losing_a_write(store_path):
    sqlite_store.SqliteStore(store_path)  # Creates the schema first.
    context = multiprocessing.get_context('spawn')
    workers = [context.Process(target=_writer, args=(store_path, w, 150))
               for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    store = sqlite_store.SqliteStore(store_path)
    assert store.count('K') == 600
    assert (store.count('K', limit=100), store.count('K', limit=601)) == (
        100, 600)
    assert store.count_output('job') == 600


def test_run_records_and_stores_agree_on_the_fields():
    import dataclasses

    from beam_jobs import job_runs
    assert tuple(f.name for f in dataclasses.fields(job_runs.JobRun)) == (
        storage.RUN_FIELDS)
