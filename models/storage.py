"""The store interface that models and job runs are kept in, and how a store
is chosen.

A store is named by a URL-like string so that it can travel to pipeline
workers: a SQLite file path (the embedded default; see models.sqlite_store)
or ``datastore://PROJECT[/NAMESPACE]`` (see models.datastore_store). Each
store module registers its URL scheme here (register_store_type), so this
module knows no store of its own. Jobs never see the store; they see
models, which find the current store through :func:`get_store`.
"""

from __future__ import annotations

import abc
import contextvars
import datetime
import json
import os
import threading
from typing import (Any, Callable, Collection, Iterator, NamedTuple,
                    Sequence)

import msgspec

STORE_ENV_VAR = 'BEAM_JOBS_STORE'
DEFAULT_STORE_PATH = os.path.join('.data', 'beam_jobs.sqlite3')



# The fields of a job run record (see beam_jobs.job_runs.JobRun), and those
# of them that hold JSON-like values rather than scalars: every store keeps
# exactly these.
RUN_FIELDS = (
    'job_id', 'job_type', 'state', 'shard_count', 'params', 'pipeline_args',
    'runner', 'time_created_msec', 'time_queued_msec', 'time_started_msec',
    'time_finished_msec', 'models_read', 'values_emitted', 'output_lines',
    'error', 'canceled_by', 'owner_pid', 'owner_host', 'heartbeat_msec',
    'external_job_id', 'error_count', 'max_errors', 'details')
JSON_RUN_FIELDS = frozenset(('params', 'pipeline_args', 'details'))


class StoreError(Exception):
    """A store could not be opened or used as asked."""


class ConflictError(StoreError):
    """A model changed in the store after it was read, so writing the copy
    that was read would lose that change."""

    def __init__(self, kind: str, model_id: str) -> None:
        super().__init__(
            '%s %r was changed by another writer since it was read'
            % (kind, model_id))
        self.kind = kind
        self.model_id = model_id


class UnreadableRow(NamedTuple):
    """What a store's scan gives for a stored row it cannot read as text
    (bytes that are not UTF-8): the reason, which names what is wrong.
    Reading it as a model raises that model's ModelDataError."""

    reason: str


# A stored entity's payload: the JSON text the store kept, an already
# decoded dict (stores that decode natively), or an UnreadableRow. Models
# accept all three.
Payload = str | bytes | dict | UnreadableRow


def same_version(stored: str | None, expected: str | None) -> bool:
    """Whether a stored ``last_updated`` is the version a model was read
    at: the same text, or the same instant written another way (models keep
    the version they read as a datetime, so put() sends it back in
    isoformat's form, which may not be the text the store holds)."""
    if stored == expected:
        return True
    if stored is None or expected is None:
        return False
    # Parsed both ways a model may have parsed it: msgspec (which rounds a
    # fraction beyond microseconds) and fromisoformat (which truncates it).
    for parse in (_msgspec_datetime, datetime.datetime.fromisoformat):
        try:
            if parse(stored) == parse(expected):
                return True
        except (ValueError, TypeError):  # Not a datetime: not the version.
            pass
    return False


def _msgspec_datetime(text: str) -> datetime.datetime:
    return msgspec.convert(text, datetime.datetime)


# What each JSON run field holds once decoded.
_JSON_RUN_FIELD_TYPES = {'params': dict, 'pipeline_args': list,
                         'details': dict}


def decode_run_record(record: dict[str, Any]) -> dict[str, Any]:
    """A stored run record with its JSON_RUN_FIELDS decoded from their text.

    A field that is not JSON of its type (a record damaged outside the
    framework) is left out (None), and the run's error says which: one bad
    record never stops a listing of the others."""
    unreadable = []
    for field in sorted(JSON_RUN_FIELDS):
        if record[field] is None:
            continue
        try:
            record[field] = json.loads(record[field])
        except (ValueError, RecursionError):
            record[field] = None
        if not isinstance(record[field], _JSON_RUN_FIELD_TYPES[field]):
            record[field] = None
            unreadable.append(field)
    if unreadable:
        note = 'unreadable run record: its %s %s not valid' % (
            ' and '.join(unreadable), 'is' if len(unreadable) == 1
            else 'are')
        record['error'] = '\n'.join(filter(None, [note, record['error']]))
    return record


def check_run_fields(record: dict[str, Any]) -> None:
    """Raises StoreError if record has a field a run record does not."""
    unknown = set(record) - set(RUN_FIELDS)
    if unknown:
        raise StoreError(
            'unknown job run fields: %s' % ', '.join(sorted(unknown)))


class RunNotRunningError(StoreError):
    """Output was written for a run whose record says it is no longer
    running (it failed, was canceled or completed meanwhile): a late write
    of a pipeline that was declared dead."""

    def __init__(self, job_id: str, state: str) -> None:
        super().__init__('job %s is %s: its output is refused' % (
            job_id, state))


# The states of a run record whose pipeline may still write output (see
# beam_jobs.job_runs): a remote job may start before it is recorded
# started.
OUTPUT_STATES = frozenset({'queued', 'started'})


class JobErrorRecord(NamedTuple):
    """One model or key that a run could not process.

    stage is 'read' (the stored data is bad), 'map', 'combine' or
    'reduce'; entity is the model id (read, map) or the repr of the key
    (combine, reduce), whose kind is then the job's name.
    """

    stage: str
    kind: str
    entity: str
    error_type: str
    message: str
    traceback: str


class DryRunWrite(NamedTuple):
    """A write of job code that a dry run kept from the store (see
    models.dry_run): the model's kind and id, what the write would have
    done ('created', 'written' or 'deleted'), and the JSON of its changes,
    {property: [old value, new value]}."""

    kind: str
    entity: str
    action: str
    changes: str


class ModelStore(abc.ABC):
    """What the framework needs from a place that keeps models and job runs.

    Entities are JSON-like dicts kept per kind (the model class name) under a
    string id. Writes of one call happen in one transaction.
    """

    url: str

    # Entities.
    @abc.abstractmethod
    def get(self, kind: str, ids: Sequence[str]) -> list[Payload | None]:
        """The payloads of the given ids, None where absent, in order."""

    @abc.abstractmethod
    def put(self, kind: str, entities: Sequence[tuple[str, dict]],
            expected_versions: dict[str, str | None] | None = None) -> None:
        """Writes (id, data) pairs, replacing what was there, atomically.

        expected_versions maps ids to the ``last_updated`` value each entity
        had when it was read; if any stored entity has another, nothing is
        written and ConflictError is raised (optimistic concurrency).
        """

    @abc.abstractmethod
    def delete(self, kind: str, ids: Sequence[str]) -> None:
        """Removes the given ids (absent ones are ignored), atomically."""

    @abc.abstractmethod
    def count(self, kind: str, limit: int | None = None) -> int:
        """How many entities of the kind are stored; with limit, counting
        stops there (a cheap "at least limit" test on a large kind)."""

    @abc.abstractmethod
    def scan(
            self, kind: str, start: str | None = None,
            end: str | None = None) -> Iterator[tuple[str, Payload]]:
        """Streams (id, payload) for start <= id < end, in id order.

        None means unbounded. Implementations page through the range and
        never hold the whole kind in memory.
        """

    @abc.abstractmethod
    def split_points(self, kind: str, num_splits: int) -> list[str]:
        """num_splits - 1 sorted ids that cut the kind into ranges of about
        equal size; ids repeat when the kind has fewer models than splits,
        and an empty kind has none."""

    # Job runs.
    @abc.abstractmethod
    def insert_run(self, record: dict[str, Any]) -> None:
        """Stores a new job run record; its job_id must be new."""

    @abc.abstractmethod
    def get_run(self, job_id: str) -> dict[str, Any] | None:
        """The run record, or None."""

    @abc.abstractmethod
    def update_run(
            self, job_id: str, changes: dict[str, Any],
            from_states: Collection[str] | None = None) -> bool:
        """Applies changes to a run atomically.

        If from_states is given, the change only happens while the run's
        state is one of them. Returns whether the run was changed.
        """

    @abc.abstractmethod
    def delete_run(self, job_id: str, from_states: Collection[str]) -> bool:
        """Removes a run record while its state is one of from_states,
        atomically; returns whether it did."""

    def add_run_progress(self, job_id: str, models_read: int) -> bool:
        """Adds models_read to a started run's models_read, as the progress
        of its pipeline; returns whether the store did.

        This store does not: a store keeps progress only where a write per
        worker and second to one run's record is cheap. (Cloud Datastore
        allows about one write a second to an entity, and Dataflow runs
        show their progress in the Dataflow console.) The count a run ends
        with is the pipeline's, not this sum.
        """
        return False

    @abc.abstractmethod
    def list_runs(
            self, limit: int | None = 20,
            job_type: str | None = None) -> list[dict[str, Any]]:
        """The most recently created runs first (limit None: all)."""

    @abc.abstractmethod
    def write_output(
            self, job_id: str,
            rows: Sequence[tuple[str, int, str]]) -> None:
        """Writes output lines as (sort_key, index, line), idempotently:
        writing the same (sort_key, index) twice keeps one line. Raises
        RunNotRunningError, writing nothing, if the run has a record whose
        state is not one of OUTPUT_STATES."""

    @abc.abstractmethod
    def read_output(self, job_id: str) -> Iterator[str]:
        """Streams a run's output lines ordered by (sort_key, index)."""

    @abc.abstractmethod
    def count_output(self, job_id: str) -> int:
        """How many output lines a run has stored."""

    @abc.abstractmethod
    def delete_output(self, job_id: str) -> None:
        """Discards a run's output lines."""

    @abc.abstractmethod
    def write_errors(
            self, job_id: str, errors: Sequence[JobErrorRecord]) -> None:
        """Records errors of a run, idempotently per (stage, kind, entity)."""

    @abc.abstractmethod
    def read_errors(
            self, job_id: str,
            limit: int | None = None) -> list[JobErrorRecord]:
        """A run's errors ordered by (stage, kind, entity)."""

    @abc.abstractmethod
    def count_errors(self, job_id: str) -> int:
        """How many errors a run has recorded."""

    @abc.abstractmethod
    def write_dry_run_writes(self, job_id: str,
                             writes: Sequence[DryRunWrite]) -> None:
        """Records sampled writes of a dry run, idempotently per (kind,
        entity, action)."""

    @abc.abstractmethod
    def read_dry_run_writes(self, job_id: str) -> list[DryRunWrite]:
        """A dry run's sampled writes, ordered by (kind, entity, action)."""

    def close(self) -> None:
        """Releases connections held by this process."""


class StoreType(NamedTuple):
    """How the stores of one URL scheme are named and opened."""

    # The canonical form of a URL of this scheme.
    normalize: Callable[[str], str]
    # Opens the store a canonical URL names, creating it if it is missing.
    open: Callable[[str], ModelStore]
    # Whether the store a canonical URL names exists already.
    exists: Callable[[str], bool]


# URL scheme -> its store type; each store module registers its own.
_store_types: dict[str, StoreType] = {}
# The scheme of a URL that names none: a SQLite file path.
PATH_SCHEME = 'sqlite'

# The store of the run whose job code this context is calling, if any.
_run_store_url: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    'beam_jobs_run_store', default=None)
_open_stores: dict[str, ModelStore] = {}
_open_stores_lock = threading.Lock()
_default_url: str | None = None


def register_store_type(scheme: str, normalize: Callable[[str], str],
                        opener: Callable[[str], ModelStore],
                        exists: Callable[[str], bool]) -> None:
    """Makes URLs of scheme (``scheme://...``) name stores opened by
    opener."""
    _store_types[scheme] = StoreType(normalize, opener, exists)


def store_exists(url: str) -> bool:
    """Whether the store url names exists already (opening one that does
    not creates it)."""
    url = normalize_store_url(url)
    return _store_type(url).exists(url)


def schemes() -> list[str]:
    """The URL schemes of the stores registered, sorted."""
    return sorted(_store_types)


def scheme_of(url: str) -> str:
    """The scheme of a store URL: what comes before ``://``, else
    PATH_SCHEME (a plain path)."""
    scheme, sep, _ = url.partition('://')
    return scheme if sep else PATH_SCHEME


def _store_type(url: str) -> StoreType:
    scheme = scheme_of(url)
    try:
        return _store_types[scheme]
    except KeyError:
        raise StoreError('no store for %r: known schemes are %s' % (
            url, ', '.join('%s://' % s for s in schemes()))) from None


def normalize_store_url(url: str) -> str:
    """The canonical form of a store URL (a SQLite path made absolute, say),
    so that the URL means the same store in every worker process."""
    if not url:
        raise StoreError('empty store path')
    return _store_type(url).normalize(url)


def default_store_url() -> str:
    """The store used when none is named: a run's store while job code of
    that run is called (activate_run_store), else set_default_store(), else
    the BEAM_JOBS_STORE environment variable, else .data/beam_jobs.sqlite3.
    """
    active = _run_store_url.get()
    if active is not None:
        return active
    if _default_url is not None:
        return _default_url
    return normalize_store_url(
        os.environ.get(STORE_ENV_VAR) or DEFAULT_STORE_PATH)


def activate_run_store(url: str) -> contextvars.Token:
    """Makes url the store of models used by job code in this thread (and
    its context) until deactivate_run_store: a run's stages call this
    around its job code, in whichever process runs it, without changing
    the process's default store for what runs after."""
    return _run_store_url.set(normalize_store_url(url))


def deactivate_run_store(token: contextvars.Token) -> None:
    """Restores the store that was active before activate_run_store."""
    _run_store_url.reset(token)


def set_default_store(url: str | None) -> None:
    """Makes url the store that models use in this process (None resets)."""
    global _default_url
    _default_url = None if url is None else normalize_store_url(url)


def get_store(url: str | None = None) -> ModelStore:
    """The open store for url (default: the default store), opened once per
    process and shared."""
    url = default_store_url() if url is None else normalize_store_url(url)
    with _open_stores_lock:
        store = _open_stores.get(url)
        if store is None:
            store = _store_type(url).open(url)
            _open_stores[url] = store
        return store


def close_all_stores() -> None:
    """Closes every store this process opened (tests and forks use this)."""
    with _open_stores_lock:
        for store in _open_stores.values():
            store.close()
        _open_stores.clear()
