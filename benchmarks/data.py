"""The benchmark's data: N generated explorations in a fresh SQLite store,
and the same rows exported as JSON lines for mrjob.

Generating a million explorations takes minutes, so a store is cached under
the results folder, keyed by N and seed, and reused when complete (a store
is renamed into place only once fully written, so a half-written one is
never reused).
"""

from __future__ import annotations

import datetime
import json
import multiprocessing
import os
import sqlite3
from typing import Iterator

from beam_jobs import demo_data
from models import exp_models
from models import storage

KIND = exp_models.ExplorationModel.kind()
_CHUNK = 2000
# A fixed creation time keeps the rows identical from one generation to the
# next (put() would stamp the current time).
_STAMP = datetime.datetime(2024, 1, 1)


def _rows(bounds: tuple[int, int, int]) -> list[tuple[str, str]]:
    start, stop, seed = bounds
    rows = []
    for index in range(start, stop):
        model = demo_data.make_exploration(index, seed)
        model.created_on = model.last_updated = _STAMP
        rows.append((model.id, json.dumps(
            model.to_dict(), separators=(',', ':'))))
    return rows


def _chunks(count: int, seed: int) -> Iterator[tuple[int, int, int]]:
    for start in range(0, count, _CHUNK):
        yield start, min(count, start + _CHUNK), seed


def store_path(folder: str, count: int, seed: int = 0) -> str:
    return os.path.join(folder, 'explorations-%d-seed%d.sqlite3' % (count, seed))


def ensure_store(folder: str, count: int, seed: int = 0,
                 processes: int | None = None) -> str:
    """The path of a SQLite store holding exactly the first `count` demo
    explorations of `seed`, generated unless already cached in folder."""
    path = store_path(folder, count, seed)
    if os.path.exists(path):
        return path
    os.makedirs(folder, exist_ok=True)
    partial = path + '.partial'
    for stale in (partial, partial + '-wal', partial + '-shm'):
        if os.path.exists(stale):
            os.remove(stale)
    store = storage.get_store(partial)
    with multiprocessing.get_context('fork').Pool(
            processes or os.cpu_count()) as pool:
        for rows in pool.imap(_rows, _chunks(count, seed)):
            with store._write() as conn:  # pylint: disable=protected-access
                conn.executemany(
                    'INSERT OR REPLACE INTO models (kind, id, data) '
                    'VALUES (?, ?, ?)', [(KIND, i, d) for i, d in rows])
    storage.close_all_stores()
    conn = sqlite3.connect(partial)
    conn.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    conn.execute('PRAGMA journal_mode=DELETE')
    conn.close()
    os.rename(partial, path)
    return path


def ensure_jsonl(store: str) -> str:
    """The store's explorations as JSON lines ({"id": ..., **properties}),
    the input mrjob reads; written once next to the store."""
    path = store[:-len('.sqlite3')] + '.jsonl'
    if os.path.exists(path):
        return path
    partial = path + '.partial'
    conn = sqlite3.connect(store)
    with open(partial, 'w', encoding='utf-8') as out:
        for model_id, data in conn.execute(
                'SELECT id, data FROM models WHERE kind = ? ORDER BY id',
                (KIND,)):
            out.write('{"id":%s,%s\n' % (json.dumps(model_id), data[1:]))
    conn.close()
    os.rename(partial, path)
    return path
