"""The benchmark's data: N generated explorations (large rows, about 3.6 KB
of JSON each) or users (small rows, about 225 bytes) in a fresh SQLite store,
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
from models import user_models

# dataset -> (the model class whose rows it holds, the demo model maker).
DATASETS = {
    'explorations': (exp_models.ExplorationModel, demo_data.make_exploration),
    'users': (user_models.UserSettingsModel, demo_data.make_user),
}
_CHUNK = 2000
# A fixed creation time keeps the rows identical from one generation to the
# next (put() would stamp the current time).
_STAMP = datetime.datetime(2024, 1, 1)


def kind_of(dataset: str) -> str:
    """The kind of the models in a dataset's store."""
    return DATASETS[dataset][0].kind()


def _rows(chunk: tuple[str, int, int, int]) -> list[tuple[str, str]]:
    dataset, start, stop, seed = chunk
    make = DATASETS[dataset][1]
    rows = []
    for index in range(start, stop):
        model = make(index, seed)
        model.created_on = model.last_updated = _STAMP
        rows.append((model.id, json.dumps(
            model.to_dict(), separators=(',', ':'))))
    return rows


def _chunks(dataset: str, count: int,
            seed: int) -> Iterator[tuple[str, int, int, int]]:
    for start in range(0, count, _CHUNK):
        yield dataset, start, min(count, start + _CHUNK), seed


def store_path(folder: str, count: int, seed: int = 0,
               dataset: str = 'explorations') -> str:
    return os.path.join(folder, '%s-%d-seed%d.sqlite3' % (
        dataset, count, seed))


def ensure_store(folder: str, count: int, seed: int = 0,
                 processes: int | None = None,
                 dataset: str = 'explorations') -> str:
    """The path of a SQLite store holding exactly the first `count` demo
    models of the dataset ('explorations' or 'users') for `seed`,
    generated unless already cached in folder."""
    kind = kind_of(dataset)
    path = store_path(folder, count, seed, dataset)
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
        for rows in pool.imap(_rows, _chunks(dataset, count, seed)):
            with store._write() as conn:  # pylint: disable=protected-access
                conn.executemany(
                    'INSERT OR REPLACE INTO models (kind, id, data) '
                    'VALUES (?, ?, ?)', [(kind, i, d) for i, d in rows])
    storage.close_all_stores()
    conn = sqlite3.connect(partial)
    conn.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    conn.execute('PRAGMA journal_mode=DELETE')
    conn.close()
    os.rename(partial, path)
    return path


def ensure_jsonl(store: str, dataset: str = 'explorations') -> str:
    """The store's models as JSON lines ({"id": ..., **properties}), the
    input mrjob reads; written once next to the store."""
    path = store[:-len('.sqlite3')] + '.jsonl'
    if os.path.exists(path):
        return path
    partial = path + '.partial'
    conn = sqlite3.connect(store)
    with open(partial, 'w', encoding='utf-8') as out:
        for model_id, data in conn.execute(
                'SELECT id, data FROM models WHERE kind = ? ORDER BY id',
                (kind_of(dataset),)):
            out.write('{"id":%s,%s\n' % (json.dumps(model_id), data[1:]))
    conn.close()
    os.rename(partial, path)
    return path
