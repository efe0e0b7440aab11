"""The embedded default store: one SQLite file.

Entities are rows of ``models(kind, id, data)`` with ``data`` the JSON of the
model's properties; job runs are rows of ``job_runs``, their output lines
rows of ``job_output``. The file is safe for several processes at once: WAL
mode lets readers run beside one writer, a busy timeout makes writers wait
their turn, and every write call is one ``BEGIN IMMEDIATE`` transaction.
Nothing is ever pickled, and every value reaches SQL as a parameter.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import urllib.parse
from typing import Any, Collection, Iterator, Sequence

from models import storage

SCHEME = 'sqlite'
# A path that starts like a URL's scheme (letters, then a colon).
_URL_LIKE = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*:')
# Pages of a scan: large enough to amortise the query, small enough that a
# scan holds no more than this many rows in memory.
SCAN_PAGE_SIZE = 1000
BUSY_TIMEOUT_SECONDS = 60.0

RUN_COLUMNS = storage.RUN_FIELDS
# Run fields kept as JSON text in their column.
_JSON_RUN_COLUMNS = storage.JSON_RUN_FIELDS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS job_runs (
    job_id TEXT PRIMARY KEY,
    job_type TEXT NOT NULL,
    state TEXT NOT NULL,
    shard_count INTEGER,
    params TEXT,
    pipeline_args TEXT,
    runner TEXT,
    time_created_msec REAL,
    time_queued_msec REAL,
    time_started_msec REAL,
    time_finished_msec REAL,
    models_read INTEGER,
    values_emitted INTEGER,
    output_lines INTEGER,
    error TEXT,
    canceled_by TEXT,
    owner_pid INTEGER,
    owner_host TEXT,
    heartbeat_msec REAL,
    external_job_id TEXT,
    error_count INTEGER,
    max_errors INTEGER,
    details TEXT
);
CREATE INDEX IF NOT EXISTS job_runs_by_created
    ON job_runs (time_created_msec);
CREATE TABLE IF NOT EXISTS job_output (
    job_id TEXT NOT NULL,
    sort_key TEXT NOT NULL,
    idx INTEGER NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (job_id, sort_key, idx)
);
CREATE TABLE IF NOT EXISTS job_dry_run_writes (
    job_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    entity TEXT NOT NULL,
    action TEXT NOT NULL,
    changes TEXT NOT NULL,
    PRIMARY KEY (job_id, kind, entity, action)
);
CREATE TABLE IF NOT EXISTS job_errors (
    job_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    kind TEXT NOT NULL,
    entity TEXT NOT NULL,
    error_type TEXT NOT NULL,
    message TEXT NOT NULL,
    traceback TEXT NOT NULL,
    PRIMARY KEY (job_id, stage, kind, entity)
);
"""

# Columns added to job_runs after its first release, with their SQL types:
# stores created earlier get them on open.
_ADDED_RUN_COLUMNS = (('error_count', 'INTEGER'), ('max_errors', 'INTEGER'))


class SqliteStore(storage.ModelStore):
    """A store in one SQLite file, created on first use.

    Each thread gets its own connection; a forked child opens new ones.
    """

    def __init__(self, path: str) -> None:
        self.url = path
        self._local = threading.local()
        directory = os.path.dirname(path)
        if exists(path) and not os.access(path, os.W_OK):
            return  # Read-only: a store already, to read as it is.
        try:
            if directory:
                os.makedirs(directory, exist_ok=True)
            self._conn().executescript(_SCHEMA)
            self._add_missing_run_columns()
        except (OSError, sqlite3.Error) as e:
            raise storage.StoreError(
                'cannot open the store %s: %s' % (path, e)) from e

    def _add_missing_run_columns(self) -> None:
        with self._write() as conn:
            present = {row[1] for row in
                       conn.execute('PRAGMA table_info(job_runs)')}
            for column, sql_type in _ADDED_RUN_COLUMNS:
                if column not in present:
                    # Names come from the constant above, never from input.
                    conn.execute('ALTER TABLE job_runs ADD COLUMN %s %s'
                                 % (column, sql_type))

    # Connections and transactions.
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, 'conn', None)
        if conn is None or self._local.pid != os.getpid():
            try:
                if not os.path.exists(self.url) or os.access(self.url,
                                                             os.W_OK):
                    conn = sqlite3.connect(
                        self.url, timeout=BUSY_TIMEOUT_SECONDS,
                        isolation_level=None, check_same_thread=False)
                    conn.execute('PRAGMA journal_mode=WAL')
                    conn.execute('PRAGMA synchronous=NORMAL')
                else:
                    conn = self._read_only_conn()
            except sqlite3.Error as e:
                raise storage.StoreError(
                    'cannot open the store %s: %s' % (self.url, e)) from e
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def _read_only_conn(self) -> sqlite3.Connection:
        """A connection to a store file this process cannot write (a
        read-only disk, say): reads work; writes fail, and say so. As
        immutable, since SQLite's WAL mode otherwise needs to write its
        shared-memory file even to read, and nobody can write it here."""
        uri = 'file:%s?mode=ro&immutable=1' % urllib.parse.quote(self.url)
        return sqlite3.connect(uri, uri=True, isolation_level=None,
                               check_same_thread=False)

    def _write(self) -> '_WriteTransaction':
        return _WriteTransaction(self._conn(), self.url)

    def close(self) -> None:
        conn = getattr(self._local, 'conn', None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local = threading.local()

    # Entities.
    def get(
            self, kind: str,
            ids: Sequence[str]) -> list[storage.Payload | None]:
        found: dict[str, str] = {}
        conn = self._conn()
        for chunk in _chunks(list(ids), 500):
            rows = conn.execute(
                'SELECT id, data FROM models WHERE kind = ? AND id IN (%s)'
                % ','.join('?' * len(chunk)), [kind, *chunk])
            found.update(rows)
        return [found.get(i) for i in ids]

    def put(self, kind: str, entities: Sequence[tuple[str, dict]],
            expected_versions: dict[str, str | None] | None = None) -> None:
        rows = [(kind, i, json.dumps(data, separators=(',', ':')))
                for i, data in entities]
        with self._write() as conn:
            if expected_versions:
                # Inside the write transaction: nobody can change the rows
                # between this check and the write.
                self._check_versions(conn, kind, expected_versions)
            conn.executemany(
                'INSERT OR REPLACE INTO models (kind, id, data) '
                'VALUES (?, ?, ?)', rows)

    @staticmethod
    def _check_versions(conn: sqlite3.Connection, kind: str,
                        expected: dict[str, str | None]) -> None:
        ids = list(expected)
        current: dict[str, str | None] = {}
        for chunk in _chunks(ids, 500):
            for model_id, data in conn.execute(
                    'SELECT id, data FROM models WHERE kind = ? AND id IN '
                    '(%s)' % ','.join('?' * len(chunk)), [kind, *chunk]):
                try:
                    current[model_id] = json.loads(data).get('last_updated')
                except (ValueError, AttributeError):
                    current[model_id] = '<unreadable>'
        for model_id in ids:
            # A model deleted since it was read is a conflict too.
            if model_id not in current or not storage.same_version(
                    current[model_id], expected[model_id]):
                raise storage.ConflictError(kind, model_id)

    def delete(self, kind: str, ids: Sequence[str]) -> None:
        with self._write() as conn:
            conn.executemany(
                'DELETE FROM models WHERE kind = ? AND id = ?',
                [(kind, i) for i in ids])

    def count(self, kind: str, limit: int | None = None) -> int:
        if limit is not None:
            return self._conn().execute(
                'SELECT COUNT(*) FROM (SELECT 1 FROM models WHERE kind = ? '
                'LIMIT ?)', (kind, limit)).fetchone()[0]
        return self._conn().execute(
            'SELECT COUNT(*) FROM models WHERE kind = ?', (kind,)
        ).fetchone()[0]

    def scan(
            self, kind: str, start: str | None = None,
            end: str | None = None) -> Iterator[tuple[str, storage.Payload]]:
        conn = self._conn()
        lower_op, lower = '>=', start
        after_rowid = None
        while True:
            sql = 'SELECT rowid, id, data FROM models WHERE kind = ?'
            args: list[Any] = [kind]
            if after_rowid is not None:
                # After a row whose id is not text: compared in SQL, as
                # stored.
                sql += ' AND id > (SELECT id FROM models WHERE rowid = ?)'
                args.append(after_rowid)
            elif lower is not None:
                sql += ' AND id %s ?' % lower_op
                args.append(lower)
            if end is not None:
                sql += ' AND id < ?'
                args.append(end)
            sql += ' ORDER BY id LIMIT ?'
            args.append(SCAN_PAGE_SIZE)
            try:
                page = [(model_id, data) for _, model_id, data in
                        conn.execute(sql, args).fetchall()]
                last_rowid = None
            except sqlite3.OperationalError as e:
                if 'decode' not in str(e):
                    raise
                page, last_rowid = self._page_of_raw_rows(conn, sql, args)
            yield from page
            if len(page) < SCAN_PAGE_SIZE:
                return
            # Keyset paging: no read transaction is held between pages.
            lower_op, lower = '>', page[-1][0]
            after_rowid = last_rowid

    @staticmethod
    def _page_of_raw_rows(conn: sqlite3.Connection, sql: str,
                          args: list[Any]
                          ) -> tuple[list[tuple[str, storage.Payload]],
                                     int | None]:
        """A page with a row that is not valid UTF-8 text, read as bytes:
        such a row's payload is an UnreadableRow that names what is wrong,
        its bytes shown escaped (so is its id, if that is what is wrong).
        Also gives the last row's rowid if its id is not text, else None."""
        conn.text_factory = bytes
        try:
            rows = conn.execute(sql, args).fetchall()
        finally:
            conn.text_factory = str
        page: list[tuple[str, storage.Payload]] = []
        last_rowid = None
        for rowid, raw_id, raw_data in rows:
            last_rowid = None
            try:
                model_id = raw_id.decode('utf-8')
            except UnicodeDecodeError:
                model_id = raw_id.decode('utf-8', 'backslashreplace')
                page.append((model_id, storage.UnreadableRow(
                    'the stored id is not valid UTF-8: %s' % model_id)))
                last_rowid = rowid
                continue
            try:
                page.append((model_id, raw_data.decode('utf-8')))
            except UnicodeDecodeError as e:
                page.append((model_id, storage.UnreadableRow(
                    'stored data is not valid UTF-8 (%s): %s' % (
                        e.reason, _escaped(raw_data)))))
        return page, last_rowid

    def id_at(self, kind: str, position: int) -> str | None:
        """The id of the model at position (from 0) in id order, or None
        if the kind has no more models than that: the end of a read of its
        first `position` models (an id that is not valid text is skipped
        for the next)."""
        if self.count(kind, limit=position + 1) <= position:
            return None
        return _text_id_at(self._conn(), 'kind = ?', [kind], position)

    def split_points(self, kind: str, num_splits: int) -> list[str]:
        total = self.count(kind)
        if num_splits <= 1 or total == 0:
            return []
        # The ids at positions total*i/n: they repeat (giving empty ranges)
        # when the kind has fewer models than splits.
        positions = [total * i // num_splits for i in range(1, num_splits)]
        # Each point is found from the one before by SQLite's OFFSET, which
        # steps through the index in C: one pass over the ids in all, much
        # faster on a large kind than reading them into Python.
        conn = self._conn()
        point = _text_id_at(conn, 'kind = ?', [kind], positions[0])
        points = [point]
        for before, position in zip(positions, positions[1:]):
            point = _text_id_at(conn, 'kind = ? AND id >= ?', [kind, point],
                                position - before)
            points.append(point)
        return points

    # Job runs.
    def insert_run(self, record: dict[str, Any]) -> None:
        columns = _checked_columns(record)
        try:
            with self._write() as conn:
                conn.execute(
                    'INSERT INTO job_runs (%s) VALUES (%s)' % (
                        ', '.join(columns), ', '.join('?' * len(columns))),
                    [_encode_run_value(c, record[c]) for c in columns])
        except sqlite3.IntegrityError as e:
            raise storage.StoreError(
                'job run %s already exists' % record.get('job_id')) from e

    def get_run(self, job_id: str) -> dict[str, Any] | None:
        cursor = self._conn().execute(
            'SELECT %s FROM job_runs WHERE job_id = ?'
            % ', '.join(RUN_COLUMNS),
            (job_id,))
        row = cursor.fetchone()
        return None if row is None else _decode_run_row(row)

    def update_run(
            self, job_id: str, changes: dict[str, Any],
            from_states: Collection[str] | None = None) -> bool:
        columns = _checked_columns(changes)
        sql = 'UPDATE job_runs SET %s WHERE job_id = ?' % ', '.join(
            '%s = ?' % c for c in columns)
        args = [_encode_run_value(c, changes[c]) for c in columns] + [job_id]
        if from_states is not None:
            states = list(from_states)
            sql += ' AND state IN (%s)' % ','.join('?' * len(states))
            args += states
        with self._write() as conn:
            return conn.execute(sql, args).rowcount == 1

    def delete_run(self, job_id: str, from_states: Collection[str]) -> bool:
        states = list(from_states)
        with self._write() as conn:
            return conn.execute(
                'DELETE FROM job_runs WHERE job_id = ? AND state IN (%s)'
                % ','.join('?' * len(states)), [job_id, *states]
            ).rowcount == 1

    def add_run_progress(self, job_id: str, models_read: int) -> bool:
        with self._write() as conn:
            return conn.execute(
                'UPDATE job_runs SET models_read = COALESCE(models_read, 0) '
                '+ ? WHERE job_id = ? AND state = ?',
                (models_read, job_id, 'started')).rowcount == 1

    def list_runs(
            self, limit: int | None = 20,
            job_type: str | None = None) -> list[dict[str, Any]]:
        sql = 'SELECT %s FROM job_runs' % ', '.join(RUN_COLUMNS)
        args: list[Any] = []
        if job_type is not None:
            sql += ' WHERE job_type = ?'
            args.append(job_type)
        sql += ' ORDER BY time_created_msec DESC, job_id DESC LIMIT ?'
        args.append(-1 if limit is None else limit)  # -1: no limit.
        return [_decode_run_row(r) for r in self._conn().execute(sql, args)]

    def write_output(
            self, job_id: str,
            rows: Sequence[tuple[str, int, str]]) -> None:
        with self._write() as conn:
            # In the write's own transaction: a run declared dead meanwhile
            # gets none of its late output stored.
            found = conn.execute(
                'SELECT state FROM job_runs WHERE job_id = ?', (job_id,)
            ).fetchone()
            if found is not None and found[0] not in storage.OUTPUT_STATES:
                raise storage.RunNotRunningError(job_id, found[0])
            conn.executemany(
                'INSERT OR REPLACE INTO job_output '
                '(job_id, sort_key, idx, line) VALUES (?, ?, ?, ?)',
                [(job_id, key, idx, line) for key, idx, line in rows])

    def read_output(self, job_id: str) -> Iterator[str]:
        cursor = self._conn().execute(
            'SELECT line FROM job_output WHERE job_id = ? '
            'ORDER BY sort_key, idx', (job_id,))
        for (line,) in cursor:
            yield line

    def count_output(self, job_id: str) -> int:
        return self._conn().execute(
            'SELECT COUNT(*) FROM job_output WHERE job_id = ?', (job_id,)
        ).fetchone()[0]

    def delete_output(self, job_id: str) -> None:
        with self._write() as conn:
            conn.execute('DELETE FROM job_output WHERE job_id = ?', (job_id,))


    def write_errors(
            self, job_id: str,
            errors: Sequence[storage.JobErrorRecord]) -> None:
        with self._write() as conn:
            conn.executemany(
                'INSERT OR REPLACE INTO job_errors (job_id, stage, kind, '
                'entity, error_type, message, traceback) '
                'VALUES (?, ?, ?, ?, ?, ?, ?)',
                [(job_id, *error) for error in errors])

    def read_errors(
            self, job_id: str,
            limit: int | None = None) -> list[storage.JobErrorRecord]:
        rows = self._conn().execute(
            'SELECT stage, kind, entity, error_type, message, traceback '
            'FROM job_errors WHERE job_id = ? ORDER BY stage, kind, entity '
            'LIMIT ?', (job_id, -1 if limit is None else limit))
        return [storage.JobErrorRecord(*row) for row in rows]

    def count_errors(self, job_id: str) -> int:
        return self._conn().execute(
            'SELECT COUNT(*) FROM job_errors WHERE job_id = ?', (job_id,)
        ).fetchone()[0]

    def write_dry_run_writes(
            self, job_id: str,
            writes: Sequence[storage.DryRunWrite]) -> None:
        with self._write() as conn:
            conn.executemany(
                'INSERT OR REPLACE INTO job_dry_run_writes (job_id, kind, '
                'entity, action, changes) VALUES (?, ?, ?, ?, ?)',
                [(job_id, *write) for write in writes])

    def read_dry_run_writes(self, job_id: str) -> list[storage.DryRunWrite]:
        rows = self._conn().execute(
            'SELECT kind, entity, action, changes FROM job_dry_run_writes '
            'WHERE job_id = ? ORDER BY kind, entity, action', (job_id,))
        return [storage.DryRunWrite(*row) for row in rows]


class _WriteTransaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error; a write that
    SQLite refuses (a full disk, a read-only file) raises a StoreError that
    names the store and the cause.

    IMMEDIATE takes the write lock at the start, so two writers queue on the
    busy timeout instead of failing when a read lock would need upgrading.
    """

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self._path = path

    def __enter__(self) -> sqlite3.Connection:
        try:
            self._conn.execute('BEGIN IMMEDIATE')
        except sqlite3.OperationalError as e:
            raise cannot_write(self._path, e) from e
        return self._conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            try:
                self._conn.execute('COMMIT')
            except sqlite3.OperationalError as e:
                self._rollback()
                raise cannot_write(self._path, e) from e
            return
        self._rollback()
        if isinstance(exc, sqlite3.OperationalError):
            raise cannot_write(self._path, exc) from exc

    def _rollback(self) -> None:
        # After some errors (a full disk) SQLite has rolled back already,
        # and a ROLLBACK would fail with an error that hides the cause.
        if self._conn.in_transaction:
            self._conn.execute('ROLLBACK')


def cannot_write(path: str, error: sqlite3.Error) -> storage.StoreError:
    """The StoreError of a write to the store at path that SQLite refused:
    one line naming the store and the cause."""
    return storage.StoreError('the store %s cannot be written: %s' % (
        path, error))


def _checked_columns(record: dict[str, Any]) -> list[str]:
    # Only known names reach the SQL text, as column names.
    storage.check_run_fields(record)
    return [c for c in RUN_COLUMNS if c in record]


def _encode_run_value(column: str, value: Any) -> Any:
    if column in _JSON_RUN_COLUMNS and value is not None:
        return json.dumps(value, sort_keys=True)
    return value


def _decode_run_row(row: Sequence[Any]) -> dict[str, Any]:
    return storage.decode_run_record(dict(zip(RUN_COLUMNS, row)))


def _text_id_at(conn: sqlite3.Connection, where: str, args: list[Any],
                offset: int) -> str:
    """The id of the model at offset among those where holds, in id order;
    or, if that id is not valid UTF-8 (which only a scan reports), the first
    valid one after it, so that it can bound a range."""
    raw_ids = conn.execute(
        'SELECT CAST(id AS BLOB) FROM models WHERE %s ORDER BY id '
        'LIMIT -1 OFFSET ?' % where, [*args, offset])
    for (raw_id,) in raw_ids:
        try:
            return raw_id.decode('utf-8')
        except UnicodeDecodeError:
            continue
    return args[-1] if len(args) > 1 else ''


def _escaped(raw: bytes, limit: int = 200) -> str:
    """Stored bytes as readable text, the bytes that are not UTF-8 escaped,
    cut at limit characters."""
    text = raw.decode('utf-8', 'backslashreplace')
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def normalize_url(url: str) -> str:
    """A SQLite store's URL (a path, or sqlite://PATH) as an absolute path.
    Refuses what looks like a mistyped URL ('file:/x', 'datastore:/p'),
    which would otherwise name a file in a folder called 'file:'."""
    prefix = SCHEME + '://'
    path = url[len(prefix):] if url.startswith(prefix) else url
    if not path:
        raise storage.StoreError('empty store path')
    if _URL_LIKE.match(path) and not os.path.exists(path):
        raise storage.StoreError(
            '%r is neither a SQLite file path nor a store URL (%s)' % (
                url, ', '.join('%s://...' % s for s in storage.schemes())))
    return os.path.abspath(os.path.expanduser(path))


def exists(path: str) -> bool:
    """Whether a store file is at path. Raises StoreError if something
    else is (a folder, a device such as /dev/null)."""
    if not os.path.exists(path):
        return False
    if not os.path.isfile(path):
        raise storage.StoreError(
            '%s is not a SQLite store file (it is a %s)' % (
                path, 'folder' if os.path.isdir(path) else 'special file'))
    return True


storage.register_store_type(SCHEME, normalize_url, SqliteStore, exists)
