"""A dry run's writes: while a recorder is active, put() and delete() of
models record what they would do instead of doing it.

The store is read to tell a new model from one that would be rewritten,
and to show what changes: a recorder counts each write by kind and action
('created', 'written', 'deleted'; through the count function it is given,
so that the pipeline can add the counts up over every worker) and keeps
the property-level changes of the first SAMPLE_SIZE models of each kind in
the store as the run's DryRunWrites. Nothing a model is stored as changes.
"""

from __future__ import annotations

import contextvars
import json
from typing import Any, Callable, Sequence

from models import storage

# The models of each kind, per recorder, whose changes are kept.
SAMPLE_SIZE = 20
# Properties every write changes: showing them would hide the rest.
_STAMPS = frozenset({'last_updated', 'created_on'})

_active: contextvars.ContextVar['Recorder | None'] = contextvars.ContextVar(
    'beam_jobs_dry_run', default=None)


class Recorder:
    """Records the writes of one run's job code in one process."""

    def __init__(self, store_url: str, job_id: str,
                 count: Callable[[str, str, int], None]) -> None:
        self._store_url = store_url
        self._job_id = job_id
        self._count = count
        self._sampled: dict[str, int] = {}

    def record_put(self, kind: str,
                   entities: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Records the writes of (id, stored dict) pairs of a kind."""
        store = storage.get_store(self._store_url)
        before = store.get(kind, [model_id for model_id, _ in entities])
        samples = []
        counts = {'created': 0, 'written': 0}
        for (model_id, data), old in zip(entities, before):
            action = 'created' if old is None else 'written'
            counts[action] += 1
            if self._take_sample(kind):
                samples.append(_write(kind, model_id, action,
                                      _stored_dict(old), data))
        self._finish(kind, counts, samples)

    def record_delete(self, kind: str, ids: Sequence[str]) -> None:
        """Records the deletes of ids of a kind (only those stored)."""
        store = storage.get_store(self._store_url)
        samples = []
        deleted = 0
        for model_id, old in zip(ids, store.get(kind, list(ids))):
            if old is None:
                continue
            deleted += 1
            if self._take_sample(kind):
                samples.append(_write(kind, model_id, 'deleted',
                                      _stored_dict(old), None))
        self._finish(kind, {'deleted': deleted}, samples)

    def _take_sample(self, kind: str) -> bool:
        taken = self._sampled.get(kind, 0)
        if taken >= SAMPLE_SIZE:
            return False
        self._sampled[kind] = taken + 1
        return True

    def _finish(self, kind: str, counts: dict[str, int],
                samples: list[storage.DryRunWrite]) -> None:
        for action, number in counts.items():
            if number:
                self._count(kind, action, number)
        if samples:
            storage.get_store(self._store_url).write_dry_run_writes(
                self._job_id, samples)


def activate(recorder: Recorder) -> contextvars.Token:
    """Makes recorder take the writes of models in this context, until
    deactivate."""
    return _active.set(recorder)


def deactivate(token: contextvars.Token) -> None:
    """Lets writes of models through again, as before activate."""
    _active.reset(token)


def current() -> Recorder | None:
    """The active recorder, or None: writes go to the store."""
    return _active.get()


def _stored_dict(payload: storage.Payload | None) -> dict[str, Any]:
    if payload is None or isinstance(payload, storage.UnreadableRow):
        return {}
    if isinstance(payload, dict):
        return payload
    try:
        found = json.loads(payload)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _write(kind: str, model_id: str, action: str, old: dict[str, Any],
           new: dict[str, Any] | None) -> storage.DryRunWrite:
    """The DryRunWrite of one model: {property: [old, new]} for each
    property whose value the write would change."""
    new = {} if new is None else new
    changes = {
        name: [old.get(name), new.get(name)]
        for name in sorted(set(old) | set(new))
        if name not in _STAMPS and old.get(name) != new.get(name)}
    return storage.DryRunWrite(kind, model_id, action,
                               json.dumps(changes, sort_keys=True,
                                          default=str))
