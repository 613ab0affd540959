"""``PostgresStore``: the store port on PostgreSQL, for many application instances and relays.

psycopg 3 with ``psycopg_pool``, from the ``postgres`` extra
(``pip install 'incident-lifecycle[postgres]'``), imported here only.

- Connection settings: a libpq DSN or URL (``postgresql://user@host/db``), or
  nothing, and libpq reads the standard ``PG*`` environment variables
  (``PGHOST``, ``PGDATABASE``, ...). Every table lives in one schema
  (``schema``, default ``incident_lifecycle``), so several desks can share a
  database; connections are pooled and safe to share between threads.
- The schema is created and migrated by the store, under an advisory lock so
  instances starting together migrate once (``meta.schema_version``); a
  schema written by a newer version is refused.
- The rows are those of ``SQLiteStore`` (``adapters.sql``): times as 64-bit
  microseconds since the epoch, structured values as ``jsonb`` documents
  with a format version; text keys compare in the ``"C"`` collation (code
  point order, as Python compares strings).
- Transactions run at READ COMMITTED with optimistic concurrency:
  ``UPDATE ... WHERE version = %s`` (a concurrent writer's row lock is waited
  for, then the version re-checked), uniqueness by unique indexes. Driver
  errors never escape: uniqueness violations, serialisation failures,
  deadlocks and lock timeouts become :class:`ConcurrencyConflict` (the desk
  retries the command), anything else :class:`StoreError`. A statement that
  may break a uniqueness rule runs in a savepoint, so a refused write leaves
  the rest of the transaction usable, as on the other stores.
- A lost connection: a transaction that had not begun is begun again on a
  fresh connection (nothing was sent, so it is safe); one lost during the
  transaction, or at commit, is a :class:`StoreError` (the outcome of a lost
  commit is unknown, so it is never retried blindly).
- ``new_id`` counters are a table, not sequences: they roll back with the
  transaction, so the same commands give the same ids on every store.
- The outbox is a queue for many relays: ``claim_due`` takes entries with
  ``FOR UPDATE SKIP LOCKED`` (relays never wait for each other), keeps each
  recipient's order (an entry is due only while no earlier entry of its
  recipient is pending) and leases them (an entry whose relay died is due
  again when its lease ends). Every enqueue notifies the channel
  :attr:`PostgresStore.channel` at commit (a statement trigger), so an idle
  relay can ``LISTEN`` instead of polling.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..codec import encode
from ..domain.alerts import Alert
from ..domain.checks import check_enum, check_int, check_limit
from ..domain.copies import clone
from ..domain.errors import (
    ConcurrencyConflict,
    DecodeError,
    IncidentLifecycleError,
    InvalidInput,
    NotFound,
    StoreError,
)
from ..domain.events import DomainEvent
from ..domain.incidents import ACTIVE_STATUSES, ServiceIncident, StatusUpdate
from ..domain.reports import CustomerReport, ReportStatus
from ..lifecycle import ending
from ..notifications import FanOut, Notification, RecipientKind
from ..ports import OutboxEntry, OutboxState, OutboxStats
from .sql import (
    ALERT_COLUMNS,
    DUE,
    ENTRY_COLUMNS,
    INT64_MAX,
    REPORT_COLUMNS,
    alert_from_row,
    alert_row,
    decode_document,
    decode_incident,
    dump_json,
    entry_from_row,
    incident_order,
    incident_row,
    instant,
    load_json,
    message_row,
    micros,
    region_matches,
    report_from_row,
    report_row,
)

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

__all__ = ["EXTRA_MISSING", "SCHEMA_VERSION", "PostgresStore", "PostgresWaker"]

EXTRA_MISSING = (
    "PostgresStore needs psycopg 3 and psycopg_pool, from the 'postgres' extra: "
    "pip install 'incident-lifecycle[postgres]'"
)
SCHEMA_VERSION = 1
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,50}")
_DECODED_INCIDENTS = 4096
_BEGIN_TRIES = 3  # a dead pooled connection is replaced this many times before giving up
_LOCK_KEY = 0x1CDE_0001  # pg_advisory_xact_lock key (with the schema's hash) for migrations


# Migration n brings a schema at n - 1 to n; migration 1 creates it. Append, never edit.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        'CREATE TABLE counters (prefix text COLLATE "C" PRIMARY KEY, value bigint NOT NULL)',
        """CREATE TABLE alerts (
            seq bigint GENERATED ALWAYS AS IDENTITY,
            id text COLLATE "C" PRIMARY KEY,
            fingerprint text COLLATE "C" NOT NULL,
            product text COLLATE "C" NOT NULL,
            kind text NOT NULL,
            summary text NOT NULL,
            region text COLLATE "C",
            labels jsonb NOT NULL,
            status text NOT NULL,
            count bigint NOT NULL,
            first_seen bigint NOT NULL,
            last_seen bigint NOT NULL,
            incident_id text COLLATE "C",
            active boolean NOT NULL,
            version bigint NOT NULL,
            started_at bigint,
            severity_hint text,
            description text,
            links jsonb NOT NULL DEFAULT '{}',
            dedup_key text,
            source_group text)""",
        "CREATE UNIQUE INDEX alerts_active_fingerprint ON alerts (fingerprint) WHERE active",
        "CREATE INDEX alerts_by_incident ON alerts (incident_id, seq)",
        """CREATE TABLE incidents (
            id text COLLATE "C" PRIMARY KEY,
            status text NOT NULL,
            group_key text COLLATE "C",
            region text COLLATE "C",
            detected_at bigint NOT NULL,
            active boolean NOT NULL,
            version bigint NOT NULL,
            data jsonb NOT NULL)""",
        "CREATE UNIQUE INDEX incidents_detected_group ON incidents (group_key) "
        "WHERE status = 'detected'",
        "CREATE INDEX incidents_active_group ON incidents (group_key) WHERE active",
        "CREATE INDEX incidents_active ON incidents (detected_at, id) WHERE active",
        "CREATE INDEX incidents_detected ON incidents (detected_at)",
        """CREATE TABLE incident_products (
            product text COLLATE "C" NOT NULL,
            incident_id text COLLATE "C" NOT NULL REFERENCES incidents (id),
            region text COLLATE "C",
            detected_at bigint NOT NULL,
            PRIMARY KEY (product, incident_id))""",
        """CREATE TABLE reports (
            seq bigint GENERATED ALWAYS AS IDENTITY,
            ticket_id text COLLATE "C" PRIMARY KEY,
            account_id text NOT NULL,
            product text COLLATE "C" NOT NULL,
            symptom text NOT NULL,
            summary text NOT NULL,
            reported_at bigint NOT NULL,
            region text,
            channel text NOT NULL,
            locale text NOT NULL,
            status text NOT NULL,
            incident_id text COLLATE "C",
            ended_at bigint,
            version bigint NOT NULL)""",
        "CREATE INDEX reports_by_product ON reports (product, reported_at, seq)",
        """CREATE TABLE links (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            ticket_id text COLLATE "C" NOT NULL UNIQUE,
            incident_id text COLLATE "C" NOT NULL REFERENCES incidents (id))""",
        "CREATE INDEX links_by_incident ON links (incident_id, seq)",
        """CREATE TABLE updates (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id text COLLATE "C" NOT NULL UNIQUE,
            incident_id text COLLATE "C" NOT NULL,
            data jsonb NOT NULL)""",
        "CREATE INDEX updates_by_incident ON updates (incident_id, seq)",
        """CREATE TABLE timeline (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            incident_id text COLLATE "C",
            name text NOT NULL,
            data jsonb NOT NULL,
            ticket_id text COLLATE "C")""",
        "CREATE INDEX timeline_by_incident ON timeline (incident_id, seq)",
        "CREATE INDEX timeline_by_ticket ON timeline (ticket_id, seq) WHERE ticket_id IS NOT NULL",
        "CREATE SEQUENCE messages_id",
        """CREATE TABLE messages (
            id bigint PRIMARY KEY DEFAULT nextval('messages_id'),
            recipient_kind text NOT NULL,
            topic text NOT NULL,
            incident_id text COLLATE "C",
            subject text NOT NULL,
            body text NOT NULL,
            created_at text NOT NULL,
            locale text NOT NULL)""",
        "ALTER SEQUENCE messages_id OWNED BY messages.id",
        "CREATE SEQUENCE dead_letter_order",
        """CREATE TABLE outbox (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            key text COLLATE "C" NOT NULL UNIQUE,
            recipient text COLLATE "C" NOT NULL,
            message_id bigint NOT NULL REFERENCES messages (id),
            state text NOT NULL,
            attempts bigint NOT NULL,
            next_at bigint NOT NULL,
            claim text,
            error text NOT NULL,
            updated_at bigint NOT NULL,
            dead_seq bigint)""",
        "CREATE INDEX outbox_due ON outbox (next_at, seq) WHERE state = 'pending'",
        "CREATE INDEX outbox_pending_by_recipient ON outbox (recipient, seq) "
        "WHERE state = 'pending'",
        "CREATE INDEX outbox_dead_order ON outbox (dead_seq) WHERE state = 'dead'",
        "CREATE INDEX outbox_by_message ON outbox (message_id)",
        "CREATE INDEX outbox_delivered ON outbox (updated_at) WHERE state = 'delivered'",
        # One notification per enqueuing statement, delivered at commit (and merged
        # with the transaction's others by the server): wakes relays that LISTEN.
        """CREATE FUNCTION outbox_enqueued() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_notify(TG_TABLE_SCHEMA || '.outbox', ''); RETURN NULL; END $$""",
        "CREATE TRIGGER outbox_enqueued AFTER INSERT ON outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION outbox_enqueued()",
    ),
}


@functools.cache
def _driver() -> tuple[Any, Any]:
    """``(psycopg, psycopg_pool)``, or :class:`StoreError` naming the extra."""
    try:
        import psycopg
        import psycopg_pool
    except ImportError as error:
        raise StoreError(EXTRA_MISSING) from error
    return psycopg, psycopg_pool


def _translate(error: BaseException) -> IncidentLifecycleError:
    psycopg, pool = _driver()
    message = " ".join(str(error).split())[:300]
    errors = psycopg.errors
    if isinstance(
        error, errors.SerializationFailure | errors.DeadlockDetected | errors.LockNotAvailable
    ):
        return ConcurrencyConflict("database", message[:200], 0, None)
    if isinstance(error, psycopg.IntegrityError):
        return ConcurrencyConflict("record", message[:200], 0, None)
    if isinstance(error, pool.PoolTimeout):
        return StoreError(f"postgresql: no connection available ({message})")
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return StoreError(f"postgresql: connection lost or refused ({message})")
    return StoreError(f"postgresql: {message}")


def _pg_limit(limit: object) -> int | None:
    """A checked ``limit`` as PostgreSQL's ``LIMIT`` takes it (``NULL``: all)."""
    wanted = check_limit("limit", limit)
    return None if wanted is None else min(wanted, INT64_MAX)


class PostgresStore:
    """The store port on a PostgreSQL database (see the module docstring).

    ``dsn``: a libpq connection string or ``postgresql://`` URL; ``None`` (or
    empty) takes the ``PG*`` environment variables. ``schema``: the schema
    holding the tables (created if missing). ``pool_size``: connections at
    most; ``timeout``: seconds to wait for a connection (and to connect).
    ``idle_in_transaction_timeout``: the server ends a session left idle
    inside a transaction after this many seconds (locks are never held
    forever by a stuck client). ``create=False`` refuses a database without
    the schema instead of creating it.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        schema: str = "incident_lifecycle",
        pool_size: int = 10,
        timeout: float = 10.0,
        idle_in_transaction_timeout: float = 60.0,
        create: bool = True,
    ) -> None:
        if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
            raise InvalidInput("schema", "must be a letter or _ then letters, digits, _")
        if dsn is not None and not isinstance(dsn, str):
            raise InvalidInput("dsn", "must be a connection string, a URL or None")
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise InvalidInput("pool_size", "must be an int of one or more")
        _driver()
        self.dsn = dsn or ""
        self.schema = schema
        self.pool_size = pool_size
        self.timeout = float(timeout)
        self.idle_in_transaction_timeout = float(idle_in_transaction_timeout)
        self._create = create
        self._local = threading.local()
        self._pool: psycopg_pool.ConnectionPool[Any] | None = None
        self._pool_pid = 0
        self._pool_lock = threading.Lock()
        self._decode_incident = functools.lru_cache(maxsize=_DECODED_INCIDENTS)(decode_incident)
        self._migrate()

    @property
    def channel(self) -> str:
        """The ``LISTEN`` channel notified when entries are enqueued (``<schema>.outbox``)."""
        return f"{self.schema}.outbox"

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r})"

    # -- connections ------------------------------------------------------
    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(
            "SELECT set_config('search_path', %s, false), "
            "set_config('idle_in_transaction_session_timeout', %s, false), "
            "set_config('lock_timeout', %s, false)",
            (
                f'"{self.schema}"',
                str(int(self.idle_in_transaction_timeout * 1000)),
                str(int(self.timeout * 1000)),
            ),
        )

    def connect(self) -> psycopg.Connection[Any]:
        """A new connection of its own (autocommit, this store's schema first on the
        search path), outside the pool: for ``LISTEN`` and for tools. Close it after use."""
        driver, _ = _driver()
        try:
            conn: psycopg.Connection[Any] = driver.Connection.connect(
                self.dsn, autocommit=True, connect_timeout=max(1, int(self.timeout))
            )
            self._configure(conn)
        except driver.Error as error:
            raise _translate(error) from error
        return conn

    def waker(self) -> PostgresWaker:
        """A :class:`PostgresWaker` on a connection of its own, listening on :attr:`channel`
        (``RelayWorker`` uses it to sleep until something is enqueued)."""
        return PostgresWaker(self)

    def _pool_here(self) -> psycopg_pool.ConnectionPool[Any]:
        """The pool of this process (a forked child opens its own)."""
        pid = os.getpid()
        pool = self._pool
        if pool is not None and self._pool_pid == pid:
            return pool
        psycopg, psycopg_pool = _driver()
        with self._pool_lock:
            if self._pool is None or self._pool_pid != pid:
                made = psycopg_pool.ConnectionPool(
                    self.dsn,
                    min_size=1,
                    max_size=self.pool_size,
                    kwargs={"autocommit": True, "connect_timeout": max(1, int(self.timeout))},
                    configure=self._configure,
                    timeout=self.timeout,
                    open=False,
                    name=f"incident_lifecycle.{self.schema}",
                )
                try:
                    made.open(wait=True, timeout=self.timeout)
                except (psycopg.Error, psycopg_pool.PoolTimeout) as error:
                    with contextlib.suppress(Exception):
                        made.close(timeout=0)
                    raise StoreError(
                        f"postgresql: cannot connect ({' '.join(str(error).split())[:300]})"
                    ) from error
                self._pool, self._pool_pid = made, pid
            return self._pool

    def close(self) -> None:
        """Close every pooled connection (the store opens new ones if used again)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pool_pid == os.getpid():
            pool.close()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection for one unit of work, begun (``BEGIN``) and ended by the caller."""
        psycopg, psycopg_pool = _driver()
        pool = self._pool_here()
        for attempt in range(_BEGIN_TRIES):
            try:
                conn = pool.getconn()
            except psycopg_pool.PoolTimeout as error:
                raise _translate(error) from error
            try:
                conn.execute("BEGIN")
            except psycopg.Error as error:
                # Nothing was done on it: safe to try again on a fresh connection.
                lost = conn.broken or conn.closed
                pool.putconn(conn)
                if attempt + 1 == _BEGIN_TRIES or not lost:
                    raise _translate(error) from error
                continue
            try:
                yield conn
            finally:
                pool.putconn(conn)
            return

    def _migrate(self) -> None:
        psycopg, _ = _driver()
        try:
            with self._connection() as conn:
                try:
                    self._migrate_on(conn)
                except BaseException:
                    with contextlib.suppress(psycopg.Error):
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        except psycopg.Error as error:
            raise _translate(error) from error

    def _migrate_on(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_KEY, self.schema))
        exists = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (f'"{self.schema}".meta',)
        ).fetchone()
        found: int | None = None
        if exists is not None and exists[0]:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None or not str(row[0]).isdigit():
                raise StoreError(f"schema {self.schema}: unreadable schema version")
            found = int(row[0])
        elif not self._create:
            raise StoreError(f"no incident_lifecycle schema {self.schema!r} in this database")
        if found is not None and found > SCHEMA_VERSION:
            raise StoreError(
                f"schema {self.schema} was written by a newer incident_lifecycle "
                f"(schema {found}; this version reads up to {SCHEMA_VERSION})"
            )
        if found == SCHEMA_VERSION:
            return
        if found is None:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            self._configure(conn)
            conn.execute(
                'CREATE TABLE meta (key text COLLATE "C" PRIMARY KEY, value text NOT NULL)'
            )
        for version in range((found or 0) + 1, SCHEMA_VERSION + 1):
            for step in _MIGRATIONS[version]:
                conn.execute(step)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )

    def drop(self) -> None:
        """Drop this store's schema and everything in it (irreversible), then close."""
        psycopg, _ = _driver()
        try:
            with self._connection() as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
                conn.execute("COMMIT")
        except psycopg.Error as error:
            raise _translate(error) from error
        self.close()

    # -- settings ---------------------------------------------------------
    def get_setting(self, name: str) -> Any:
        """A JSON setting an application keeps in the database (``None`` if unset)."""
        with self.transaction() as tx:
            row = tx._q("SELECT value FROM meta WHERE key = %s", (f"setting:{name}",)).fetchone()
        return None if row is None else load_json(row[0], f"setting {name}")

    def set_setting(self, name: str, value: Any) -> None:
        """Keep a JSON-serialisable setting in the database (e.g. the ownership map)."""
        with self.transaction() as tx:
            tx._q(
                "INSERT INTO meta (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (f"setting:{name}", dump_json(value)),
            )

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        with self.transaction() as tx:
            row = tx._q("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert row is not None
        return int(row[0])

    # -- transactions -----------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[_Transaction]:
        """Begin a transaction (READ COMMITTED); commit on exit, roll back on error."""
        if getattr(self._local, "active", False):
            raise StoreError("transactions do not nest: finish the current one first")
        psycopg, _ = _driver()
        self._local.active = True
        try:
            with self._connection() as conn:
                tx = _Transaction(conn, self._decode_incident)
                try:
                    yield tx
                except BaseException as error:
                    with contextlib.suppress(psycopg.Error):
                        conn.execute("ROLLBACK")
                    if isinstance(error, psycopg.Error):
                        raise _translate(error) from error
                    raise
                else:
                    self._commit(conn)
                finally:
                    tx._open = False
        finally:
            self._local.active = False

    @staticmethod
    def _commit(conn: psycopg.Connection[Any]) -> None:
        psycopg, _ = _driver()
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
            raise StoreError("postgresql: a statement of this transaction failed: rolled back")
        try:
            conn.execute("COMMIT")
        except psycopg.Error as error:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
            raise _translate(error) from error


def _ticket_of(event: DomainEvent) -> str | None:
    """The ticket an event is about, if any (the timeline's ``ticket_id`` column)."""
    ticket = getattr(event, "ticket_id", None)
    return ticket if isinstance(ticket, str) else None


class PostgresWaker:
    """``LISTEN`` on a store's channel: :meth:`wait` returns early when an entry is enqueued.

    The connection is opened on the first wait and again after it is lost (a
    server restart): a wait that cannot listen raises :class:`StoreError`, and
    an enqueue missed while the connection was down is found by the relay's
    next round anyway (waits are bounded).
    """

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self._conn: psycopg.Connection[Any] | None = None

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; ``True`` if an enqueue was notified."""
        driver, _ = _driver()
        try:
            if self._conn is None or self._conn.closed:
                conn = self.store.connect()
                conn.execute(f'LISTEN "{self.store.channel}"')
                self._conn = conn
            woken = False
            for _ in self._conn.notifies(timeout=max(timeout, 0.0), stop_after=1):
                woken = True
            return woken
        except driver.Error as error:
            self.close()
            raise _translate(error) from error

    def close(self) -> None:
        """Close the listening connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


class _Stale(Exception):
    """A batch met a stale version: its savepoint is rolled back, then the conflict named."""


class _Transaction:
    """One PostgreSQL transaction (see ``StoreTransaction``)."""

    def __init__(
        self, conn: psycopg.Connection[Any], decode_incident: Callable[[object], ServiceIncident]
    ) -> None:
        self._c = conn
        self._open = True
        self._decode_incident = decode_incident

    def _q(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> psycopg.Cursor[Any]:
        if not self._open:
            raise StoreError("this transaction has ended")
        psycopg, _ = _driver()
        try:
            return self._c.execute(sql, params or None)
        except psycopg.Error as error:
            raise _translate(error) from error

    @contextmanager
    def _all_or_none(self, name: str = "batch") -> Iterator[None]:
        """A savepoint: a write that raises leaves nothing of itself, and the transaction
        stays usable (PostgreSQL aborts a whole transaction on an error otherwise)."""
        self._q(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._q(f"ROLLBACK TO SAVEPOINT {name}")
            self._q(f"RELEASE SAVEPOINT {name}")
            raise
        self._q(f"RELEASE SAVEPOINT {name}")

    def _guarded(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        """:meth:`_q` for a statement that may break a uniqueness rule."""
        with self._all_or_none("guard"):
            return self._q(sql, params)

    def _conflict(self, table: str, kind: str, key: str, version: int) -> None:
        column = "ticket_id" if table == "reports" else "id"
        row = self._q(f"SELECT version FROM {table} WHERE {column} = %s", (key,)).fetchone()
        if row is None:
            raise NotFound(kind, key)
        raise ConcurrencyConflict(kind, key, version, row[0])

    # -- ids --------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        row = self._q(
            "INSERT INTO counters (prefix, value) VALUES (%s, 1) "
            "ON CONFLICT (prefix) DO UPDATE SET value = counters.value + 1 RETURNING value",
            (prefix,),
        ).fetchone()
        assert row is not None
        return f"{prefix}-{row[0]}"

    # -- alerts -----------------------------------------------------------
    _ALERT_SELECT = f"SELECT {ALERT_COLUMNS.replace('labels', 'labels::text')} FROM alerts"
    _ALERT_SELECT = _ALERT_SELECT.replace("links,", "links::text,")

    def alert(self, alert_id: str) -> Alert:
        row = self._q(self._ALERT_SELECT + " WHERE id = %s", (alert_id,)).fetchone()
        if row is None:
            raise NotFound("alert", alert_id)
        return alert_from_row(row)

    def active_alerts(self, fingerprints: Collection[str]) -> Mapping[str, Alert]:
        rows = self._q(
            self._ALERT_SELECT + " WHERE active AND fingerprint = ANY(%s)", (list(fingerprints),)
        )
        return {row[1]: alert_from_row(row) for row in rows}

    def alerts_of(self, incident_id: str) -> Sequence[Alert]:
        rows = self._q(self._ALERT_SELECT + " WHERE incident_id = %s ORDER BY seq", (incident_id,))
        return [alert_from_row(row) for row in rows]

    def add_alerts(self, alerts: Sequence[Alert]) -> None:
        if not alerts:
            return
        columns = list(zip(*(alert_row(a) for a in alerts), strict=True))
        types = [
            "text",
            "text",
            "text",
            "text",
            "text",
            "text",
            "jsonb",
            "text",
            "bigint",
            "bigint",
            "bigint",
            "text",
            "boolean",
            "bigint",
            "bigint",
            "text",
            "text",
            "jsonb",
            "text",
            "text",
        ]
        arrays = ", ".join(f"%s::{t}[]" for t in types)
        self._guarded(
            f"INSERT INTO alerts ({ALERT_COLUMNS}) SELECT * FROM unnest({arrays})",
            [list(column) for column in columns],
        )

    def save_alerts(self, alerts: Sequence[Alert]) -> None:
        if not alerts:
            return
        try:
            with self._all_or_none():
                updated = self._q(
                    "UPDATE alerts AS a SET status = x.status, incident_id = x.incident_id, "
                    "active = x.active, version = a.version + 1 FROM unnest(%s::text[], "
                    "%s::bigint[], %s::text[], %s::text[], %s::boolean[]) "
                    "AS x (id, version, status, incident_id, active) "
                    "WHERE a.id = x.id AND a.version = x.version",
                    (
                        [a.id for a in alerts],
                        [a.version for a in alerts],
                        [a.status.value for a in alerts],
                        [a.incident_id for a in alerts],
                        [bool(a.active) for a in alerts],
                    ),
                ).rowcount
                if updated != len(alerts):
                    raise _Stale
        except _Stale:
            self._raise_stale("alerts", "alert", [(a.id, a.version) for a in alerts])
        for alert in alerts:
            object.__setattr__(alert, "version", alert.version + 1)

    def _raise_stale(self, table: str, kind: str, wanted: Sequence[tuple[str, int]]) -> None:
        """The conflict of the first stale, missing or repeated entity of a refused batch
        (what saving them one by one would have raised)."""
        column = "ticket_id" if table == "reports" else "id"
        rows = self._q(
            f"SELECT {column}, version FROM {table} WHERE {column} = ANY(%s)",
            ([key for key, _ in wanted],),
        )
        stored = dict(rows.fetchall())
        seen: set[str] = set()
        for key, version in wanted:
            if key not in stored:
                raise NotFound(kind, key)
            if key in seen:
                raise ConcurrencyConflict(kind, key, version, stored[key] + 1)
            if stored[key] != version:
                raise ConcurrencyConflict(kind, key, version, stored[key])
            seen.add(key)
        raise ConcurrencyConflict(kind, wanted[0][0], wanted[0][1], None)  # pragma: no cover

    def count_repeats(
        self,
        counts: Mapping[str, int],
        last_seen: Mapping[str, datetime],
        started: Mapping[str, Sequence[datetime]] | None = None,
    ) -> Mapping[str, tuple[str, str | None]]:
        if not counts:
            return {}
        starts = started or {}
        rows = []
        for fingerprint, n in counts.items():
            times = starts.get(fingerprint)
            marks = sorted({micros(t) for t in times}) if times else None
            rows.append((fingerprint, n, micros(last_seen[fingerprint]), marks))
        # One statement for the batch; rows are locked in id order first, so two
        # batches over the same fingerprints wait for each other instead of deadlocking.
        updated = self._q(
            "WITH x AS (SELECT e->>0 AS fp, (e->>1)::bigint AS n, (e->>2)::bigint AS t, "
            "e->3 AS s, (e->3->>-1)::bigint AS m FROM jsonb_array_elements(%s::jsonb) AS e), "
            "l AS (SELECT a.id, x.n, x.t, x.s, x.m FROM alerts a JOIN x ON a.fingerprint = x.fp "
            "WHERE a.active ORDER BY a.id FOR UPDATE OF a) "
            "UPDATE alerts AS a SET count = a.count + l.n + CASE WHEN jsonb_typeof(l.s) = 'array' "
            "THEN (SELECT count(*) FROM jsonb_array_elements_text(l.s) AS v "
            "WHERE a.started_at IS NULL OR v::bigint > a.started_at) ELSE 0 END, "
            "last_seen = greatest(a.last_seen, l.t), "
            "started_at = CASE WHEN l.m IS NOT NULL AND (a.started_at IS NULL "
            "OR l.m > a.started_at) THEN l.m ELSE a.started_at END "
            "FROM l WHERE a.id = l.id RETURNING a.fingerprint, a.id, a.incident_id",
            (dump_json(rows),),
        ).fetchall()
        return {row[0]: (row[1], row[2]) for row in updated}

    # -- incidents --------------------------------------------------------
    def _incident(self, row: Sequence[Any]) -> ServiceIncident:
        incident = clone(self._decode_incident(row[0]))
        if incident.version != row[1]:
            object.__setattr__(incident, "version", row[1])
        return incident

    def incident(self, incident_id: str) -> ServiceIncident:
        row = self._q(
            "SELECT data::text, version FROM incidents WHERE id = %s", (incident_id,)
        ).fetchone()
        if row is None:
            raise NotFound("incident", incident_id)
        return self._incident(row)

    def add_incident(self, incident: ServiceIncident) -> None:
        with self._all_or_none("guard"):
            self._q(
                "INSERT INTO incidents (id, status, group_key, detected_at, active, data, "
                "version, region) VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s)",
                incident_row(incident, 0),
            )
            self._index_products(incident)

    def _index_products(self, incident: ServiceIncident) -> None:
        self._q("DELETE FROM incident_products WHERE incident_id = %s", (incident.id,))
        if incident.status in ACTIVE_STATUSES and incident.products:
            self._q(
                "INSERT INTO incident_products (product, incident_id, region, detected_at) "
                "SELECT p, %s, %s, %s FROM unnest(%s::text[]) AS p",
                (
                    incident.id,
                    incident.region,
                    micros(incident.detected_at),
                    list(incident.products),
                ),
            )

    def save_incident(self, incident: ServiceIncident) -> None:
        new_version = incident.version + 1
        row = incident_row(incident, new_version)
        with self._all_or_none("guard"):
            updated = self._q(
                "UPDATE incidents SET status = %s, group_key = %s, detected_at = %s, "
                "active = %s, data = %s::jsonb, version = %s, region = %s "
                "WHERE id = %s AND version = %s",
                (*row[1:], incident.id, incident.version),
            ).rowcount
            if updated != 1:
                self._conflict("incidents", "incident", incident.id, incident.version)
            self._index_products(incident)
        object.__setattr__(incident, "version", new_version)

    def active_incidents(
        self,
        *,
        product: str | None = None,
        group_key: str | None = None,
        region: str | None = None,
    ) -> Sequence[ServiceIncident]:
        params: list[Any]
        if product is not None and group_key is None:
            sql = (
                "SELECT i.data::text, i.version FROM incident_products p JOIN incidents i "
                "ON i.id = p.incident_id WHERE p.product = %s"
            )
            params = [product]
            if region is not None:
                sql += " AND " + region_matches("p", "%s")
                params.append(region)
            rows = self._q(sql + incident_order("p", "incident_id"), params)
            return [self._incident(row) for row in rows]
        where = ["i.active"]
        params = []
        if region is not None:
            where.append(region_matches("i", "%s"))
            params.append(region)
        if group_key is not None:
            where.append("i.group_key = %s")
            params.append(group_key)
        rows = self._q(
            "SELECT i.data::text, i.version FROM incidents i WHERE "
            + " AND ".join(where)
            + incident_order("i", "id"),
            params,
        )
        found = [self._incident(row) for row in rows]
        if product is not None and group_key is not None:
            found = [i for i in found if product in i.products]
        return found

    def incidents_detected_between(
        self, since: datetime | None, until: datetime | None
    ) -> Sequence[ServiceIncident]:
        low = micros(since) if since is not None else -(2**62)
        high = micros(until) if until is not None else 2**62
        rows = self._q(
            "SELECT i.data::text, i.version FROM incidents i "
            "WHERE i.detected_at >= %s AND i.detected_at < %s" + incident_order("i", "id"),
            (low, high),
        )
        return [self._incident(row) for row in rows]

    # -- reports and links ------------------------------------------------
    _REPORT_SELECT = f"SELECT {REPORT_COLUMNS} FROM reports"

    def report(self, ticket_id: str) -> CustomerReport | None:
        row = self._q(self._REPORT_SELECT + " WHERE ticket_id = %s", (ticket_id,)).fetchone()
        return None if row is None else report_from_row(row)

    def add_report(self, report: CustomerReport) -> None:
        self._guarded(
            f"INSERT INTO reports ({REPORT_COLUMNS}) VALUES ({', '.join(['%s'] * 12)}, 0)",
            report_row(report),
        )

    def save_reports(self, reports: Sequence[CustomerReport]) -> None:
        if not reports:
            return
        rows = [report_row(r) for r in reports]
        try:
            with self._all_or_none():
                updated = self._q(
                    "UPDATE reports AS r SET status = x.status, incident_id = x.incident_id, "
                    "ended_at = x.ended_at, region = x.region, locale = x.locale, "
                    "summary = x.summary, version = r.version + 1 FROM unnest(%s::text[], "
                    "%s::bigint[], %s::text[], %s::text[], %s::bigint[], %s::text[], %s::text[], "
                    "%s::text[]) AS x (ticket_id, version, status, incident_id, ended_at, region, "
                    "locale, summary) WHERE r.ticket_id = x.ticket_id AND r.version = x.version",
                    (
                        [r.ticket_id for r in reports],
                        [r.version for r in reports],
                        [row[9] for row in rows],
                        [row[10] for row in rows],
                        [row[11] for row in rows],
                        [row[6] for row in rows],
                        [row[8] for row in rows],
                        [row[4] for row in rows],
                    ),
                ).rowcount
                if updated != len(reports):
                    raise _Stale
        except _Stale:
            self._raise_stale("reports", "report", [(r.ticket_id, r.version) for r in reports])
        for report in reports:
            object.__setattr__(report, "version", report.version + 1)

    def reports_since(self, product: str, since: datetime) -> Sequence[CustomerReport]:
        rows = self._q(
            self._REPORT_SELECT + " WHERE product = %s AND reported_at >= %s "
            "ORDER BY reported_at, seq",
            (product, micros(since)),
        )
        return [report_from_row(row) for row in rows]

    def link(self, ticket_id: str, incident_id: str) -> None:
        row = self._q(
            "SELECT EXISTS (SELECT 1 FROM incidents WHERE id = %s), "
            "(SELECT incident_id FROM links WHERE ticket_id = %s)",
            (incident_id, ticket_id),
        ).fetchone()
        assert row is not None
        exists, current = row
        if not exists:
            raise NotFound("incident", incident_id)
        if current == incident_id:
            return
        if current is not None:
            self._q("DELETE FROM links WHERE ticket_id = %s", (ticket_id,))
        self._guarded(
            "INSERT INTO links (ticket_id, incident_id) VALUES (%s, %s)", (ticket_id, incident_id)
        )

    def unlink(self, ticket_id: str) -> None:
        self._q("DELETE FROM links WHERE ticket_id = %s", (ticket_id,))

    def incident_of(self, ticket_id: str) -> str | None:
        row = self._q("SELECT incident_id FROM links WHERE ticket_id = %s", (ticket_id,)).fetchone()
        return None if row is None else str(row[0])

    def linked_tickets(self, incident_id: str) -> Sequence[str]:
        rows = self._q(
            "SELECT ticket_id FROM links WHERE incident_id = %s ORDER BY seq", (incident_id,)
        )
        return [row[0] for row in rows]

    def reports_linked_to(
        self, incident_id: str, status: ReportStatus | None = None
    ) -> Sequence[CustomerReport]:
        columns = ", ".join(f"r.{c.strip()}" for c in REPORT_COLUMNS.split(","))
        sql = (
            f"SELECT {columns} FROM links l JOIN reports r ON r.ticket_id = l.ticket_id "
            "WHERE l.incident_id = %s"
        )
        params: list[Any] = [incident_id]
        if status is not None:
            sql += " AND r.status = %s"
            params.append(status.value)
        return [report_from_row(row) for row in self._q(sql + " ORDER BY l.seq", params)]

    def linked_recipients(
        self, incident_id: str, status: ReportStatus = ReportStatus.LINKED
    ) -> Sequence[tuple[str, str]]:
        rows = self._q(
            "SELECT r.ticket_id, r.locale FROM links l JOIN reports r ON r.ticket_id = l.ticket_id "
            "WHERE l.incident_id = %s AND r.status = %s ORDER BY l.seq",
            (incident_id, status.value),
        )
        return [(row[0], row[1]) for row in rows]

    def transition_linked_reports(
        self, incident_id: str, source: ReportStatus, target: ReportStatus, now: datetime
    ) -> Sequence[tuple[str, str]]:
        rows = self._q(
            "UPDATE reports AS r SET status = %s, version = r.version + 1, "
            "ended_at = CASE WHEN %s THEN %s ELSE r.ended_at END FROM links l "
            "WHERE l.incident_id = %s AND l.ticket_id = r.ticket_id AND r.status = %s "
            "RETURNING l.seq, r.ticket_id, r.locale",
            (target.value, ending(target), micros(now), incident_id, source.value),
        ).fetchall()
        rows.sort()
        return [(row[1], row[2]) for row in rows]

    def move_links(self, source_id: str, target_id: str) -> int:
        rows = self._q(
            "DELETE FROM links WHERE incident_id = %s RETURNING seq, ticket_id", (source_id,)
        ).fetchall()
        if not rows:
            return 0
        rows.sort()
        self._q(
            "INSERT INTO links (ticket_id, incident_id) SELECT t, %s "
            "FROM unnest(%s::text[]) WITH ORDINALITY AS u (t, n) ORDER BY n",
            (target_id, [row[1] for row in rows]),
        )
        return len(rows)

    # -- updates and timeline ---------------------------------------------
    def add_update(self, update: StatusUpdate) -> None:
        self._guarded(
            "INSERT INTO updates (id, incident_id, data) VALUES (%s, %s, %s::jsonb)",
            (update.id, update.incident_id, dump_json(encode(update))),
        )

    def updates(self, incident_id: str) -> Sequence[StatusUpdate]:
        rows = self._q(
            "SELECT data::text FROM updates WHERE incident_id = %s ORDER BY seq", (incident_id,)
        )
        return [decode_document(StatusUpdate, row[0], "updates.data") for row in rows]

    def append(self, events: Sequence[DomainEvent]) -> None:
        if not events:
            return
        self._q(
            "INSERT INTO timeline (incident_id, name, data, ticket_id) SELECT i, n, d, t "
            "FROM unnest(%s::text[], %s::text[], %s::jsonb[], %s::text[]) "
            "WITH ORDINALITY AS u (i, n, d, t, o) ORDER BY o",
            (
                [e.incident_id for e in events],
                [e.name for e in events],
                [dump_json(encode(e)) for e in events],
                [_ticket_of(e) for e in events],
            ),
        )

    def timeline(self, incident_id: str) -> Sequence[DomainEvent]:
        where = "incident_id IS NULL" if incident_id is None else "incident_id = %s"
        rows = self._q(
            f"SELECT data::text FROM timeline WHERE {where} ORDER BY seq",
            () if incident_id is None else (incident_id,),
        )
        return [decode_document(DomainEvent, row[0], "timeline.data") for row in rows]

    def ticket_timeline(self, ticket_id: str) -> Sequence[DomainEvent]:
        rows = self._q(
            "SELECT data::text FROM timeline WHERE ticket_id = %s ORDER BY seq", (ticket_id,)
        )
        return [decode_document(DomainEvent, row[0], "timeline.data") for row in rows]

    def last_event_at(self, incident_id: str) -> datetime | None:
        row = self._q(
            "SELECT data::text FROM timeline WHERE incident_id = %s ORDER BY seq DESC LIMIT 1",
            (incident_id,),
        ).fetchone()
        if row is None:
            return None
        event: DomainEvent = decode_document(DomainEvent, row[0], "timeline.data")
        return event.at

    # -- outbox -----------------------------------------------------------
    def enqueue(self, notifications: Sequence[Notification], now: datetime) -> int:
        if not notifications:
            return 0
        at = micros(now)
        if len(notifications) == 1:
            n = notifications[0]
            message = self._q(
                "INSERT INTO messages (recipient_kind, topic, incident_id, subject, body, "
                "created_at, locale) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                message_row(n, n.recipient_kind),
            ).fetchone()
            assert message is not None
            added = self._q(
                "INSERT INTO outbox (key, recipient, message_id, state, attempts, next_at, "
                "error, updated_at) VALUES (%s, %s, %s, 'pending', 0, %s, '', %s) "
                "ON CONFLICT (key) DO NOTHING",
                (n.key, n.recipient, message[0], at, at),
            ).rowcount
            if not added:
                self._q("DELETE FROM messages WHERE id = %s", (message[0],))
            return added
        ids = [
            row[0]
            for row in self._q(
                "SELECT nextval('messages_id') FROM generate_series(1, %s)", (len(notifications),)
            )
        ]
        columns = list(zip(*(message_row(n, n.recipient_kind) for n in notifications), strict=True))
        self._q(
            "INSERT INTO messages (id, recipient_kind, topic, incident_id, subject, body, "
            "created_at, locale) SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], "
            "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[])",
            [ids, *(list(column) for column in columns)],
        )
        kept = {
            row[0]
            for row in self._q(
                "INSERT INTO outbox (key, recipient, message_id, state, attempts, next_at, error, "
                "updated_at) SELECT k, r, m, 'pending', 0, %s, '', %s FROM unnest(%s::text[], "
                "%s::text[], %s::bigint[]) WITH ORDINALITY AS u (k, r, m, o) ORDER BY o "
                "ON CONFLICT (key) DO NOTHING RETURNING message_id",
                (
                    at,
                    at,
                    [n.key for n in notifications],
                    [n.recipient for n in notifications],
                    ids,
                ),
            )
        }
        dropped = [i for i in ids if i not in kept]
        if dropped:
            self._q("DELETE FROM messages WHERE id = ANY(%s)", (dropped,))
        return len(kept)

    def enqueue_fanout(self, fanout: FanOut, now: datetime) -> int:
        if not fanout.recipients:
            return 0
        at = micros(now)
        message = self._q(
            "INSERT INTO messages (recipient_kind, topic, incident_id, subject, body, "
            "created_at, locale) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            message_row(fanout, RecipientKind.TICKET),
        ).fetchone()
        assert message is not None
        added = self._q(
            "INSERT INTO outbox (key, recipient, message_id, state, attempts, next_at, error, "
            "updated_at) SELECT %s || r, r, %s, 'pending', 0, %s, '', %s "
            "FROM unnest(%s::text[]) WITH ORDINALITY AS u (r, o) ORDER BY o "
            "ON CONFLICT (key) DO NOTHING",
            (fanout.key_prefix + "/", message[0], at, at, list(fanout.recipients)),
        ).rowcount
        if not added:
            self._q("DELETE FROM messages WHERE id = %s", (message[0],))
        return added

    def claim_due(
        self,
        now: datetime,
        limit: int | None,
        lease_until: datetime,
        claim: str,
        *,
        per_recipient: int = 1,
    ) -> Sequence[OutboxEntry]:
        wanted = _pg_limit(limit)
        depth = check_int("per_recipient", per_recipient, minimum=1)
        at, lease = micros(now), micros(lease_until)
        heads = self._q(
            f"WITH due AS (SELECT o.seq, o.next_at FROM outbox o WHERE o.next_at <= %s "
            f"AND {DUE} ORDER BY o.next_at, o.seq LIMIT %s FOR UPDATE SKIP LOCKED) "
            "UPDATE outbox AS o SET attempts = o.attempts + 1, claim = %s, "
            "next_at = %s, updated_at = %s FROM due WHERE o.seq = due.seq "
            "RETURNING due.next_at, o.seq, o.recipient",
            (at, wanted, claim, lease, at),
        ).fetchall()
        if not heads:
            return []
        heads.sort()
        seqs = [row[1] for row in heads]
        if depth > 1 and (wanted is None or len(seqs) < wanted):
            room = None if wanted is None else wanted - len(seqs)
            followers = self._followers([row[2] for row in heads], depth, at, room)
            if followers:
                self._q(
                    "UPDATE outbox SET attempts = attempts + 1, claim = %s, next_at = %s, "
                    "updated_at = %s WHERE seq = ANY(%s)",
                    (claim, lease, at, followers),
                )
                seqs += followers
        rows = self._q(self._ENTRY_SELECT + " WHERE o.seq = ANY(%s)", (seqs,)).fetchall()
        order = {seq: index for index, seq in enumerate(seqs)}
        rows.sort(key=lambda row: order[row[0]])
        return [entry_from_row(row) for row in rows]

    def _followers(
        self, recipients: Sequence[str], depth: int, at: int, room: int | None
    ) -> list[int]:
        """The due entries queued right behind each claimed head, in head order (their
        heads are held by this claim, so no other relay takes them)."""
        behind: dict[str, list[tuple[int, int]]] = {}
        for recipient, seq, next_at in self._q(
            "SELECT recipient, seq, next_at FROM (SELECT recipient, seq, next_at, "
            "row_number() OVER (PARTITION BY recipient ORDER BY seq) AS n FROM outbox "
            "WHERE state = 'pending' AND recipient = ANY(%s)) AS q "
            "WHERE n BETWEEN 2 AND %s ORDER BY recipient, seq",
            (list(recipients), depth),
        ):
            behind.setdefault(recipient, []).append((seq, next_at))
        taken: list[int] = []
        for recipient in recipients:
            for seq, next_at in behind.get(recipient, ()):
                if next_at > at or (room is not None and len(taken) == room):
                    break
                taken.append(seq)
        return taken

    def mark_delivered(self, keys: Collection[str], now: datetime) -> None:
        if keys:
            self._q(
                "UPDATE outbox SET state = 'delivered', claim = NULL, error = '', "
                "updated_at = %s WHERE key = ANY(%s) AND state = 'pending'",
                (micros(now), list(keys)),
            )

    def schedule_retry(self, key: str, not_before: datetime, error: str, now: datetime) -> None:
        self._q(
            "UPDATE outbox SET claim = NULL, next_at = %s, error = %s, updated_at = %s "
            "WHERE key = %s AND state = 'pending'",
            (micros(not_before), error, micros(now), key),
        )

    def mark_dead(self, key: str, error: str, now: datetime) -> None:
        self._q(
            "UPDATE outbox SET state = 'dead', claim = NULL, error = %s, updated_at = %s, "
            "dead_seq = nextval('dead_letter_order') WHERE key = %s AND state = 'pending'",
            (error, micros(now), key),
        )

    _ENTRY_SELECT = f"SELECT {ENTRY_COLUMNS} FROM outbox o JOIN messages m ON m.id = o.message_id"

    def defer(self, keys: Collection[str], not_before: datetime, now: datetime) -> None:
        if keys:
            self._q(
                "UPDATE outbox SET claim = NULL, next_at = %s, updated_at = %s, "
                "attempts = greatest(attempts - 1, 0) WHERE key = ANY(%s) AND state = 'pending'",
                (micros(not_before), micros(now), list(keys)),
            )

    def outbox_entry(self, key: str) -> OutboxEntry | None:
        row = self._q(self._ENTRY_SELECT + " WHERE o.key = %s", (key,)).fetchone()
        return None if row is None else entry_from_row(row)

    def dead_letters(self, limit: int | None = None) -> Sequence[OutboxEntry]:
        rows = self._q(
            self._ENTRY_SELECT + " WHERE o.state = 'dead' ORDER BY o.dead_seq LIMIT %s",
            (_pg_limit(limit),),
        )
        return [entry_from_row(row) for row in rows]

    def outbox_entries(self, state: OutboxState, limit: int | None = None) -> Sequence[OutboxEntry]:
        wanted = check_enum("state", OutboxState, state)
        rows = self._q(
            self._ENTRY_SELECT + " WHERE o.state = %s ORDER BY o.seq LIMIT %s",
            (wanted.value, _pg_limit(limit)),
        )
        return [entry_from_row(row) for row in rows]

    def redrive(self, keys: Collection[str], now: datetime) -> int:
        if not keys:
            return 0
        return self._q(
            "UPDATE outbox SET state = 'pending', attempts = 0, claim = NULL, next_at = %s, "
            "updated_at = %s WHERE key = ANY(%s) AND state = 'dead'",
            (micros(now), micros(now), list(keys)),
        ).rowcount

    def prune_delivered(self, before: datetime) -> int:
        rows = self._q(
            "DELETE FROM outbox WHERE state = 'delivered' AND updated_at < %s RETURNING message_id",
            (micros(before),),
        ).fetchall()
        if rows:
            # Their messages go too, unless another entry still has them.
            self._q(
                "DELETE FROM messages m WHERE m.id = ANY(%s) "
                "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = m.id)",
                (sorted({row[0] for row in rows}),),
            )
        return len(rows)

    def outbox_stats(self) -> OutboxStats:
        counts = dict(self._q("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
        return OutboxStats(
            pending=counts.get("pending", 0),
            delivered=counts.get("delivered", 0),
            dead=counts.get("dead", 0),
        )

    def oldest_pending_at(self) -> datetime | None:
        # A fan-out's entries share one message: each pending message's time is read once
        # and compared in Python (stored times keep their offset: text order is not time).
        rows = self._q(
            "SELECT m.created_at FROM messages m WHERE m.id IN "
            "(SELECT o.message_id FROM outbox o WHERE o.state = 'pending')"
        ).fetchall()
        try:
            return min((datetime.fromisoformat(row[0]) for row in rows), default=None)
        except (TypeError, ValueError) as error:
            raise DecodeError(f"messages.created_at: {error}") from error

    def next_due_at(self) -> datetime | None:
        row = self._q(f"SELECT min(o.next_at) FROM outbox o WHERE {DUE}").fetchone()
        return None if row is None or row[0] is None else instant(row[0], "outbox.next_at")
