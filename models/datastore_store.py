"""The production store: Cloud Datastore (or its emulator), through
google-cloud-datastore.

``datastore://PROJECT[/NAMESPACE]`` names it. Models are entities of their
kind (the model class name) with the model id as key name. Property values
are stored as Datastore values of their declared type, the way NDB stored
them: strings, integers, doubles and booleans natively, ``DateTimeProperty``
as a timestamp, ``JsonProperty`` as JSON text excluded from indexes (as NDB's
JsonProperty did), so any JSON value round-trips exactly and large values
never hit the 1500-byte limit on indexed values. Strings over that limit are
excluded from indexes too, so every entity stays valid.

Job runs are entities of kind ``_BeamJobRun`` keyed by job id; a run's
output is one ``_BeamJobOutput`` entity per line, and a line too long for one
entity is split over several, so no entity nears the 1 MiB limit. The
queries that need composite indexes are listed in ``index.yaml`` at the
project root (the emulator builds them on demand).

With ``DATASTORE_EMULATOR_HOST`` set, the client talks to the emulator
without credentials.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import json
import os
import random
import threading
import time
from typing import Any, Callable, Collection, Iterable, Iterator, Sequence

from models import base_models
from models import properties as props
from models import storage

SCHEME = 'datastore'
URL_PREFIX = SCHEME + '://'
RUN_KIND = '_BeamJobRun'
OUTPUT_KIND = '_BeamJobOutput'
ERROR_KIND = '_BeamJobError'
DRY_RUN_WRITE_KIND = '_BeamJobDryRunWrite'
# Error fields that are long or never queried on.
_UNINDEXED_ERROR_FIELDS = ('entity', 'message', 'traceback')
# Datastore refuses indexed string values longer than this (in UTF-8).
MAX_INDEXED_BYTES = 1500
# Datastore refuses commits of more than 500 mutations; requests are also
# capped at 10 MiB, so a batch stops early once its JSON size passes this.
MAX_BATCH_ENTITIES = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
# Cloud Datastore's limit on the size of one entity (1 MiB less 4 bytes).
MAX_ENTITY_BYTES = 1_048_572
# Tries of a run update that keeps losing to concurrent writers.
TRANSACTION_ATTEMPTS = 8
# Characters of an output line per entity: at most 4 bytes each in UTF-8,
# so a part stays under 400 KB, far from the 1 MiB entity limit.
OUTPUT_PART_CHARS = 100_000
# The indexed prefix of an output sort key, in UTF-8 bytes (see _order_key).
OUTPUT_ORDER_BYTES = 1400
RUN_FIELDS = storage.RUN_FIELDS
# Run fields stored as JSON text, and fields never queried on: neither is
# indexed (errors and details can be long).
_JSON_RUN_FIELDS = storage.JSON_RUN_FIELDS
_UNINDEXED_RUN_FIELDS = _JSON_RUN_FIELDS | {'error', 'owner_host'}


def parse_url(url: str) -> tuple[str, str | None]:
    """``datastore://PROJECT[/NAMESPACE]`` -> (project, namespace or None)."""
    if not url.startswith(URL_PREFIX):
        raise storage.StoreError('not a Datastore store URL: %r' % url)
    project, _, namespace = url[len(URL_PREFIX):].strip('/').partition('/')
    if not project or '/' in namespace:
        raise storage.StoreError(
            'a Datastore store is datastore://PROJECT[/NAMESPACE], got %r'
            % url)
    return project, namespace or None


def model_class_for(kind: str) -> type | None:
    """The model class whose kind this is, among those imported, else None.

    The store needs it to know which properties are datetimes and JSON; the
    store interface itself only passes kinds and JSON-like dicts.
    """
    found = None
    pending = list(base_models.BaseModel.__subclasses__())
    while pending:
        cls = pending.pop()
        if cls.kind() == kind:
            found = cls
        pending.extend(cls.__subclasses__())
    return found


# Conversion between JSON-like payloads (what models produce and accept)
# and Datastore property values.
def _to_timestamp(kind: str, name: str, value: Any) -> datetime.datetime:
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except (TypeError, ValueError) as e:
        raise storage.StoreError(
            '%s.%s: expected an ISO 8601 datetime, got %r'
            % (kind, name, value)) from e
    if parsed.tzinfo is None:
        # Models keep naive UTC datetimes, as NDB did.
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


def _from_timestamp(value: datetime.datetime) -> str:
    utc = value.astimezone(datetime.timezone.utc)
    # A plain datetime: the client's DatetimeWithNanoseconds is a subclass.
    return datetime.datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second,
        utc.microsecond).isoformat()


def _native(value: Any) -> Any:
    """A JSON-like value of a kind without a model class, as Datastore
    values: dicts become embedded entities."""
    from google.cloud import datastore
    if isinstance(value, dict):
        embedded = datastore.Entity()
        embedded.update({k: _native(v) for k, v in value.items()})
        return embedded
    if isinstance(value, list):
        return [_native(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """A Datastore value as a JSON-like value (embedded entities to dicts,
    timestamps to ISO strings)."""
    if isinstance(value, dict):  # datastore.Entity is a dict.
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        return _from_timestamp(value)
    return value


def _too_long_to_index(value: Any) -> bool:
    return (isinstance(value, str) and
            len(value) * 4 > MAX_INDEXED_BYTES and
            len(value.encode('utf-8')) > MAX_INDEXED_BYTES)


def encode_properties(
        kind: str, data: dict[str, Any],
        model_class: type | None = None) -> tuple[dict[str, Any], set[str]]:
    """A model's JSON-like dict -> (Datastore property values, names of
    properties to exclude from indexes). model_class defaults to the class
    of the kind (see model_class_for)."""
    model_class = model_class or model_class_for(kind)
    declared = model_class._properties if model_class is not None else {}
    values: dict[str, Any] = {}
    unindexed: set[str] = set()
    for name, value in data.items():
        prop = declared.get(name)
        if prop is not None and not prop.indexed:
            unindexed.add(name)
        if value is None:
            values[name] = None
        elif isinstance(prop, props.DateTimeProperty):
            values[name] = _to_timestamp(kind, name, value)
        elif isinstance(prop, props.JsonProperty):
            values[name] = json.dumps(value, separators=(',', ':'))
            unindexed.add(name)
        elif prop is None and isinstance(value, (dict, list)):
            values[name] = _native(value)
            unindexed.add(name)
        else:
            values[name] = value
        if _too_long_to_index(values[name]):
            unindexed.add(name)
    return values, unindexed


def decode_properties(kind: str, values: dict[str, Any],
                      model_class: type | None = None) -> dict[str, Any]:
    """Datastore property values -> the JSON-like dict a model is built
    from (``BaseModel.from_stored`` accepts it as the payload). model_class
    defaults to the class of the kind (see model_class_for)."""
    model_class = model_class or model_class_for(kind)
    declared = model_class._properties if model_class is not None else {}
    data: dict[str, Any] = {}
    for name, value in values.items():
        prop = declared.get(name)
        if isinstance(prop, props.JsonProperty) and isinstance(value, str):
            try:
                data[name] = json.loads(value)
            except ValueError as e:
                raise storage.StoreError(
                    '%s.%s: stored JSON is not valid: %s' % (kind, name, e)
                ) from e
        else:
            data[name] = _plain(value)
    return data


def _check_id(kind: str, model_id: Any) -> str:
    if not isinstance(model_id, str) or not model_id:
        raise storage.StoreError(
            '%s: Datastore key names must be non-empty strings, got %r'
            % (kind, model_id))
    if model_id.startswith('__') and model_id.endswith('__'):
        raise storage.StoreError(
            '%s %r: Datastore reserves key names of the form __*__'
            % (kind, model_id))
    return model_id


def _batches(items: Sequence[Any], sizes: Sequence[int]) -> Iterator[list]:
    """items cut into commits of at most MAX_BATCH_ENTITIES entities and
    about MAX_BATCH_BYTES bytes."""
    batch: list = []
    total = 0
    for item, size in zip(items, sizes):
        if batch and (len(batch) >= MAX_BATCH_ENTITIES or
                      total + size > MAX_BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += size
    if batch:
        yield batch


def output_entity_name(job_id: str, sort_key: str, idx: int,
                       part: int) -> str:
    """The key name of one part of one output line: derived from what the
    line is, so writing it again (a retried bundle) overwrites it."""
    digest = hashlib.sha256(sort_key.encode('utf-8')).hexdigest()
    return '%s/%s/%d/%d' % (job_id, digest, idx, part)


def _order_key(sort_key: str) -> str:
    """The indexed prefix of a sort key. UTF-8 byte order is code point
    order, so ordering by the prefix orders by the key, except among keys
    sharing a prefix; read_output sorts those few itself."""
    encoded = sort_key.encode('utf-8')
    if len(encoded) <= OUTPUT_ORDER_BYTES:
        return sort_key
    return encoded[:OUTPUT_ORDER_BYTES].decode('utf-8', errors='ignore')


def output_properties(job_id: str, sort_key: str, idx: int,
                      line: str) -> list[tuple[str, dict[str, Any]]]:
    """(key name, properties) of the entities holding one output line."""
    if len(sort_key) > OUTPUT_PART_CHARS:
        raise storage.StoreError(
            'job %s: an output key is %d characters long; keys of more than '
            '%d characters cannot be stored' % (
                job_id, len(sort_key), OUTPUT_PART_CHARS))
    parts = [line[i:i + OUTPUT_PART_CHARS]
             for i in range(0, len(line), OUTPUT_PART_CHARS)] or ['']
    return [
        (output_entity_name(job_id, sort_key, idx, number), {
            'job_id': job_id, 'order': _order_key(sort_key),
            'sort_key': sort_key, 'idx': idx, 'part': number,
            'parts': len(parts), 'line': text})
        for number, text in enumerate(parts)]


OUTPUT_UNINDEXED = ('sort_key', 'parts', 'line')


class DatastoreStore(storage.ModelStore):
    """A store in one Cloud Datastore project and namespace.

    Each process opens its own client (gRPC channels do not survive a
    fork); threads of one process share it, as the client allows.
    """

    def __init__(self, url: str) -> None:
        self.url = url.rstrip('/')
        self.project, self.namespace = parse_url(self.url)
        self._client_obj: Any = None
        self._client_pid: int | None = None
        self._lock = threading.Lock()
        try:
            from google.cloud import datastore  # noqa: F401
        except ImportError as e:
            raise storage.StoreError(
                'the Datastore store %s needs google-cloud-datastore: '
                "pip install -e '.[gcp]'" % url) from e

    @property
    def client(self) -> Any:
        """The google.cloud.datastore.Client of this process."""
        with self._lock:
            if self._client_obj is None or self._client_pid != os.getpid():
                from google.auth import exceptions as auth_exceptions
                from google.cloud import datastore
                try:
                    self._client_obj = datastore.Client(
                        project=self.project, namespace=self.namespace)
                except auth_exceptions.DefaultCredentialsError as e:
                    raise storage.StoreError(
                        'cannot open the Datastore store %s: no Google '
                        'credentials. For the local emulator set '
                        'DATASTORE_EMULATOR_HOST=localhost:PORT (python -m '
                        'beam_jobs.datastore_emulator -- COMMAND does); for '
                        'Cloud Datastore run `gcloud auth application-default '
                        'login`' % self.url) from e
                self._client_pid = os.getpid()
            return self._client_obj

    def close(self) -> None:
        with self._lock:
            client = self._client_obj
            if client is not None and self._client_pid == os.getpid():
                close = getattr(client, 'close', None)
                if close is not None:
                    close()
            self._client_obj = None

    def key(self, kind: str, name: str) -> Any:
        """The key of entity name of kind in this store's namespace."""
        return self.client.key(kind, _check_id(kind, name))

    def _entity(self, kind: str, name: str, values: dict[str, Any],
                unindexed: Iterable[str]) -> Any:
        from google.cloud import datastore
        entity = datastore.Entity(
            key=self.key(kind, name), exclude_from_indexes=tuple(unindexed))
        entity.update(values)
        return entity

    def _put_entities(self, what: str, entities: list[Any],
                      sizes: Sequence[int]) -> None:
        from google.api_core import exceptions
        for batch in _batches(entities, sizes):
            try:
                self.client.put_multi(batch)
            except exceptions.GoogleAPICallError as e:
                raise storage.StoreError(
                    'cannot store %s (%s%s): %s' % (
                        what, batch[0].key.name,
                        ' and %d more' % (len(batch) - 1) if len(batch) > 1
                        else '', e)) from e

    # Entities.
    def get(self, kind: str,
            ids: Sequence[str]) -> list[storage.Payload | None]:
        found: dict[str, storage.Payload] = {}
        model_class = model_class_for(kind)
        keys = [self.key(kind, i) for i in ids]
        for start in range(0, len(keys), MAX_BATCH_ENTITIES):
            for entity in self.client.get_multi(
                    keys[start:start + MAX_BATCH_ENTITIES]):
                found[entity.key.name] = decode_properties(
                    kind, entity, model_class)
        return [found.get(i) for i in ids]

    def put(self, kind: str, entities: Sequence[tuple[str, dict]],
            expected_versions: dict[str, str | None] | None = None) -> None:
        from google.cloud.datastore import helpers
        built, sizes = [], []
        model_class = model_class_for(kind)
        for model_id, data in entities:
            values, unindexed = encode_properties(kind, data, model_class)
            entity = self._entity(kind, model_id, values, unindexed)
            size = helpers.entity_to_protobuf(entity)._pb.ByteSize()
            if size > MAX_ENTITY_BYTES:
                # Checked here because the emulator stores such entities and
                # Cloud Datastore refuses them with a less specific error.
                largest = max(values, key=lambda n: len(
                    json.dumps(values[n], default=str)))
                raise storage.StoreError(
                    '%s %r is %d bytes as a Datastore entity, over the limit '
                    'of %d; its largest property is %s' % (
                        kind, model_id, size, MAX_ENTITY_BYTES, largest))
            built.append(entity)
            sizes.append(size)
        if not expected_versions:
            self._put_entities('%s models' % kind, built, sizes)
            return
        # Optimistic concurrency: check and write in one transaction, which
        # Datastore aborts if another writer commits to these keys first.
        if len(built) > MAX_BATCH_ENTITIES:
            raise storage.StoreError(
                'cannot write %d %s models read from the store in one '
                'checked transaction (at most %d)'
                % (len(built), kind, MAX_BATCH_ENTITIES))

        def check_and_put() -> None:
            ids = list(expected_versions)
            current = {
                e.key.name: decode_properties(kind, e, model_class).get(
                    'last_updated')
                for e in self.client.get_multi([self.key(kind, i)
                                                for i in ids])}
            for model_id in ids:
                if model_id not in current or not storage.same_version(
                        current[model_id], expected_versions[model_id]):
                    raise storage.ConflictError(kind, model_id)
            self.client.put_multi(built)

        try:
            self._in_transaction('writing %s models' % kind, check_and_put)
        except storage.StoreError as e:
            if isinstance(e, storage.ConflictError):
                raise
            # Transactions that kept losing: another writer got there first.
            raise storage.ConflictError(kind, next(iter(expected_versions))
                                        ) from e



    def delete(self, kind: str, ids: Sequence[str]) -> None:
        keys = [self.key(kind, i) for i in ids]
        for start in range(0, len(keys), MAX_BATCH_ENTITIES):
            self.client.delete_multi(keys[start:start + MAX_BATCH_ENTITIES])

    def _keys(self, kind: str, start: str | None = None,
              end: str | None = None) -> Iterator[Any]:
        query = self._range_query(kind, start, end)
        query.keys_only()
        for entity in query.fetch():
            yield entity.key

    def _range_query(self, kind: str, start: str | None,
                     end: str | None) -> Any:
        from google.cloud.datastore.query import PropertyFilter
        query = self.client.query(kind=kind)
        if start:  # '' is below every key name.
            query.add_filter(filter=PropertyFilter(
                '__key__', '>=', self.key(kind, start)))
        if end is not None:
            if end == '':
                return _EmptyQuery()
            query.add_filter(filter=PropertyFilter(
                '__key__', '<', self.key(kind, end)))
        query.order = ['__key__']
        return query

    def count(self, kind: str, limit: int | None = None) -> int:
        return sum(1 for _ in itertools.islice(self._keys(kind), limit))

    def scan(
            self, kind: str, start: str | None = None,
            end: str | None = None) -> Iterator[tuple[str, storage.Payload]]:
        # fetch() pages through the results with cursors: no more than a
        # page is held at a time.
        model_class = model_class_for(kind)
        for entity in self._range_query(kind, start, end).fetch():
            yield entity.key.name, decode_properties(
                kind, entity, model_class)

    def split_points(self, kind: str, num_splits: int) -> list[str]:
        # Key order sampling, exact like the SQLite store's. The Beam read on
        # Datastore does not use this: ReadFromDatastore splits with
        # __scatter__ (see pipelines/datastore_io.py).
        total = self.count(kind)
        if num_splits <= 1 or total == 0:
            return []
        positions = [total * i // num_splits for i in range(1, num_splits)]
        points: list[str] = []
        for position, key in enumerate(self._keys(kind)):
            while (len(points) < len(positions) and
                   positions[len(points)] == position):
                points.append(key.name)
            if len(points) == len(positions):
                break
        return points

    # Job runs.
    def _run_entity(self, record: dict[str, Any]) -> Any:
        values = {}
        for field in RUN_FIELDS:
            value = record.get(field)
            if field in _JSON_RUN_FIELDS and value is not None:
                value = json.dumps(value, sort_keys=True)
            values[field] = value
        return self._entity(RUN_KIND, record['job_id'], values,
                            _UNINDEXED_RUN_FIELDS)

    @staticmethod
    def _run_record(entity: Any) -> dict[str, Any]:
        return storage.decode_run_record(
            {field: entity.get(field) for field in RUN_FIELDS})

    def _in_transaction(self, what: str, work: Callable[[], Any]) -> Any:
        """work() inside a Datastore transaction, run again when the commit
        loses to a concurrent writer, so each call is one compare-and-set
        that either applies or sees the other writer's change."""
        from google.api_core import exceptions
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                with self.client.transaction():
                    return work()
            except (exceptions.Aborted, exceptions.Conflict) as e:
                if attempt == TRANSACTION_ATTEMPTS - 1:
                    raise storage.StoreError(
                        '%s: gave up after %d conflicting transactions: %s'
                        % (what, TRANSACTION_ATTEMPTS, e)) from e
                time.sleep(0.02 * 2 ** attempt * (1 + random.random()))
        raise AssertionError('unreachable')

    def insert_run(self, record: dict[str, Any]) -> None:
        storage.check_run_fields(record)
        entity = self._run_entity(record)

        def insert() -> None:
            if self.client.get(entity.key) is not None:
                raise storage.StoreError(
                    'job run %s already exists' % record.get('job_id'))
            self.client.put(entity)

        self._in_transaction('inserting job run %s' % record.get('job_id'),
                             insert)

    def get_run(self, job_id: str) -> dict[str, Any] | None:
        entity = self.client.get(self.key(RUN_KIND, job_id))
        return None if entity is None else self._run_record(entity)

    def update_run(
            self, job_id: str, changes: dict[str, Any],
            from_states: Collection[str] | None = None) -> bool:
        storage.check_run_fields(changes)
        key = self.key(RUN_KIND, job_id)

        # Compare-and-set: the commit fails if another writer changed the run
        # between get and put, and the whole check runs again.
        def update() -> bool:
            entity = self.client.get(key)
            if entity is None:
                return False
            record = self._run_record(entity)
            if from_states is not None and record['state'] not in from_states:
                return False
            record.update(changes)
            self.client.put(self._run_entity(record))
            return True

        return self._in_transaction('updating job run %s' % job_id, update)

    def delete_run(self, job_id: str, from_states: Collection[str]) -> bool:
        key = self.key(RUN_KIND, job_id)

        def delete() -> bool:
            entity = self.client.get(key)
            if entity is None or entity.get('state') not in from_states:
                return False
            self.client.delete(key)
            return True

        return self._in_transaction('deleting job run %s' % job_id, delete)

    def list_runs(
            self, limit: int | None = 20,
            job_type: str | None = None) -> list[dict[str, Any]]:
        from google.cloud.datastore.query import PropertyFilter
        query = self.client.query(kind=RUN_KIND)
        if job_type is not None:
            query.add_filter(filter=PropertyFilter('job_type', '=', job_type))
        query.order = ['-time_created_msec', '-__key__']
        return [self._run_record(e) for e in query.fetch(limit=limit)]

    # Output.
    def output_entities(self, job_id: str,
                        rows: Sequence[tuple[str, int, str]]) -> list[Any]:
        """The entities that hold rows of a run's output."""
        return [self._entity(OUTPUT_KIND, name, values, OUTPUT_UNINDEXED)
                for sort_key, idx, line in rows
                for name, values in output_properties(
                    job_id, sort_key, idx, line)]

    def write_output(
            self, job_id: str,
            rows: Sequence[tuple[str, int, str]]) -> None:
        run = self.get_run(job_id)
        if run is not None and run['state'] not in storage.OUTPUT_STATES:
            raise storage.RunNotRunningError(job_id, run['state'])
        entities = self.output_entities(job_id, rows)
        self._put_entities(
            'output of job %s' % job_id, entities,
            [len(e['line']) * 4 + len(e['sort_key']) * 4 for e in entities])

    def _output_query(self, job_id: str) -> Any:
        from google.cloud.datastore.query import PropertyFilter
        query = self.client.query(kind=OUTPUT_KIND)
        query.add_filter(filter=PropertyFilter('job_id', '=', job_id))
        return query

    def read_output(self, job_id: str) -> Iterator[str]:
        query = self._output_query(job_id)
        query.order = ['order', 'idx', 'part']
        group: list[Any] = []
        for entity in query.fetch():
            if group and entity['order'] != group[0]['order']:
                yield from _lines_of(group)
                group = []
            group.append(entity)
        yield from _lines_of(group)

    def count_output(self, job_id: str) -> int:
        from google.cloud.datastore.query import PropertyFilter
        query = self._output_query(job_id)
        query.add_filter(filter=PropertyFilter('part', '=', 0))
        query.keys_only()
        return sum(1 for _ in query.fetch())

    def delete_output(self, job_id: str) -> None:
        query = self._output_query(job_id)
        query.keys_only()
        keys = [e.key for e in query.fetch()]
        for start in range(0, len(keys), MAX_BATCH_ENTITIES):
            self.client.delete_multi(keys[start:start + MAX_BATCH_ENTITIES])


    # Errors.
    @staticmethod
    def _error_name(job_id: str, error: storage.JobErrorRecord) -> str:
        # Derived from what failed, so recording it again overwrites it.
        digest = hashlib.sha256('\0'.join(
            (error.stage, error.kind, error.entity)).encode('utf-8'))
        return '%s/%s' % (job_id, digest.hexdigest())

    def write_errors(
            self, job_id: str,
            errors: Sequence[storage.JobErrorRecord]) -> None:
        entities = [
            self._entity(ERROR_KIND, self._error_name(job_id, error),
                         {'job_id': job_id, **error._asdict()},
                         _UNINDEXED_ERROR_FIELDS)
            for error in errors]
        self._put_entities(
            'errors of job %s' % job_id, entities,
            [4 * (len(e.message) + len(e.traceback) + len(e.entity))
             for e in errors])

    def _error_query(self, job_id: str) -> Any:
        from google.cloud.datastore.query import PropertyFilter
        query = self.client.query(kind=ERROR_KIND)
        query.add_filter(filter=PropertyFilter('job_id', '=', job_id))
        return query

    def read_errors(
            self, job_id: str,
            limit: int | None = None) -> list[storage.JobErrorRecord]:
        errors = sorted(
            storage.JobErrorRecord(*(e[field] for field in
                                     storage.JobErrorRecord._fields))
            for e in self._error_query(job_id).fetch())
        return errors if limit is None else errors[:limit]

    def count_errors(self, job_id: str) -> int:
        query = self._error_query(job_id)
        query.keys_only()
        return sum(1 for _ in query.fetch())


    # A dry run's sampled writes.
    def write_dry_run_writes(
            self, job_id: str,
            writes: Sequence[storage.DryRunWrite]) -> None:
        entities = []
        for write in writes:
            # Derived from the write, so recording it again overwrites it.
            digest = hashlib.sha256('\0'.join(
                (write.kind, write.entity, write.action)).encode('utf-8'))
            entities.append(self._entity(
                DRY_RUN_WRITE_KIND, '%s/%s' % (job_id, digest.hexdigest()),
                {'job_id': job_id, **write._asdict()},
                ('entity', 'changes')))
        self._put_entities(
            'dry-run writes of job %s' % job_id, entities,
            [4 * (len(w.changes) + len(w.entity)) for w in writes])

    def read_dry_run_writes(self, job_id: str) -> list[storage.DryRunWrite]:
        from google.cloud.datastore.query import PropertyFilter
        query = self.client.query(kind=DRY_RUN_WRITE_KIND)
        query.add_filter(filter=PropertyFilter('job_id', '=', job_id))
        return sorted(
            storage.DryRunWrite(*(e[field] for field in
                                  storage.DryRunWrite._fields))
            for e in query.fetch())


class _EmptyQuery:
    """A query for an empty key range: fetches nothing."""

    def keys_only(self) -> None:
        pass

    def fetch(self) -> Iterator[Any]:
        return iter(())


def _lines_of(group: list[Any]) -> Iterator[str]:
    """The lines of output entities that share an order prefix, in
    (sort_key, idx) order, each joined from its parts."""
    group.sort(key=lambda e: (e['sort_key'], e['idx'], e['part']))
    parts: list[str] = []
    for entity in group:
        parts.append(entity['line'])
        if entity['part'] == entity['parts'] - 1:
            yield ''.join(parts)
            parts = []



def normalize_url(url: str) -> str:
    """A Datastore store's URL without a trailing slash."""
    return url.rstrip('/')


def exists(url: str) -> bool:
    """A Datastore project's namespace always exists: it holds what is
    written to it."""
    return True


storage.register_store_type(SCHEME, normalize_url, DatastoreStore, exists)
