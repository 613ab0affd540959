"""``SQLiteStore``: the store port on the standard library's ``sqlite3``.

- WAL journal, ``BEGIN IMMEDIATE`` for every transaction (one writer at a
  time, so a transaction that has begun never meets ``SQLITE_BUSY``), a busy
  timeout, foreign keys on, ``synchronous=NORMAL`` (durable across process
  crashes; a power loss may drop the last commits).
- The schema is created and migrated by the store (``meta.schema_version``);
  a database written by a newer version is refused.
- Structured values are JSON documents with a format version (``codec``);
  never pickle, never ``eval``. Tampered rows raise :class:`DecodeError`.
- Optimistic concurrency: ``UPDATE ... WHERE id = ? AND version = ?``; no row
  updated raises :class:`ConcurrencyConflict`. Driver errors never escape:
  lock timeouts and uniqueness violations become ``ConcurrencyConflict``
  (the desk retries), anything else :class:`StoreError`.
- Opening a store reads nothing but the schema version: memory stays bounded
  by the work in hand, not by the history.
- Decoded incidents are kept in a small cache keyed by their stored JSON
  text, so a document read again unchanged is not decoded again. The key
  is the text itself, so the cache can never serve a stale or rolled-back
  version; each read returns a fresh copy.
- Several processes may share one database file on one host (WAL does not
  work over network file systems).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from ..codec import encode
from ..domain.alerts import Alert
from ..domain.checks import check_enum, check_int, check_limit
from ..domain.copies import clone
from ..domain.errors import (
    ConcurrencyConflict,
    DecodeError,
    IncidentLifecycleError,
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

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

SCHEMA_VERSION = 5
# The domain's rules in SQL (``adapters.sql``), with SQLite's placeholder.
_PRODUCT_REGION, _INCIDENT_REGION = region_matches("p", "?"), region_matches("i", "?")
_PRODUCT_ORDER = incident_order("p", "incident_id")
_ORDER = incident_order("i", "id")
_CHUNK = 500  # host parameters per IN (...) query
_T = TypeVar("_T")
_DECODED_INCIDENTS = 4096  # documents kept decoded per store (about 1-2 KiB each)
# UPDATE ... FROM (3.33) with RETURNING (3.35) and the JSON functions (built in from 3.38).
_RETURNING = sqlite3.sqlite_version_info >= (3, 38, 0)

# Steps that bring a database written at schema ``n - 1`` to schema ``n``,
# run after ``_SCHEMA`` (whose statements all say ``IF NOT EXISTS``) has
# created the tables and indexes the new schema adds.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 2: the product index of active incidents also holds each incident's
    # region and detection time (``incident_products``), so triage filters and
    # orders candidates without reading the incidents it does not keep.
    2: (
        "INSERT INTO incident_products (product, incident_id, region, detected_at) "
        "SELECT p.product, p.incident_id, i.region, i.detected_at "
        "FROM active_products p JOIN incidents i ON i.id = p.incident_id",
        "DROP TABLE active_products",
    ),
    # 3: what the source said about an alert (its occurrence's start, severity hint,
    # description, links, own dedup key and group), so counts measure occurrences.
    3: (
        "ALTER TABLE alerts ADD COLUMN started_at INTEGER",
        "ALTER TABLE alerts ADD COLUMN severity_hint TEXT",
        "ALTER TABLE alerts ADD COLUMN description TEXT",
        "ALTER TABLE alerts ADD COLUMN links TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE alerts ADD COLUMN dedup_key TEXT",
        "ALTER TABLE alerts ADD COLUMN source_group TEXT",
    ),
    # 4: dead letters are listed in the order they were dead-lettered (``dead_seq``),
    # not by time, so two dead-lettered at the same instant keep their order.
    4: (
        "ALTER TABLE outbox ADD COLUMN dead_seq INTEGER",
        "UPDATE outbox SET dead_seq = (SELECT count(*) FROM outbox o WHERE o.state = 'dead' "
        "AND (o.updated_at < outbox.updated_at OR "
        "(o.updated_at = outbox.updated_at AND o.seq <= outbox.seq))) WHERE state = 'dead'",
        "DROP INDEX IF EXISTS outbox_dead",
    ),
    # 5: a ticket's own history (``ticket_timeline``): the timeline keeps each event's
    # ticket, indexed, so the events of a report with no incident can be found.
    5: (
        "ALTER TABLE timeline ADD COLUMN ticket_id TEXT",
        "UPDATE timeline SET ticket_id = json_extract(data, '$.ticket_id')",
    ),
}

# Run after the migrations: indexes on columns a migration may have just added.
# (5: the indexes pruning needs: delivered entries by time, entries by message.)
_LATE_SCHEMA = (
    "CREATE INDEX IF NOT EXISTS outbox_dead_order ON outbox (dead_seq) WHERE state = 'dead'",
    "CREATE INDEX IF NOT EXISTS outbox_delivered ON outbox (updated_at) WHERE state = 'delivered'",
    "CREATE INDEX IF NOT EXISTS outbox_by_message ON outbox (message_id)",
    "CREATE INDEX IF NOT EXISTS timeline_by_ticket ON timeline (ticket_id, seq) "
    "WHERE ticket_id IS NOT NULL",
)

# The ordered tables (links, updates, timeline, messages, outbox) use plain
# rowids, not AUTOINCREMENT: a new row gets an id above every row kept, which
# is all their order needs (an id freed by deleting the last row may come
# again; nothing refers to a deleted row), and no commit has to write the
# sequence table. A database created at schema 1 keeps its AUTOINCREMENT
# tables; both behave the same.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (prefix TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    product TEXT NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    region TEXT,
    labels TEXT NOT NULL,
    status TEXT NOT NULL,
    count INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    incident_id TEXT,
    active INTEGER NOT NULL,
    version INTEGER NOT NULL,
    started_at INTEGER,
    severity_hint TEXT,
    description TEXT,
    links TEXT NOT NULL DEFAULT '{}',
    dedup_key TEXT,
    source_group TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_active_fingerprint
    ON alerts (fingerprint) WHERE active = 1;
CREATE INDEX IF NOT EXISTS alerts_by_incident ON alerts (incident_id);
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    group_key TEXT,
    region TEXT,
    detected_at INTEGER NOT NULL,
    active INTEGER NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_detected_group
    ON incidents (group_key) WHERE status = 'detected';
CREATE INDEX IF NOT EXISTS incidents_active_group ON incidents (group_key) WHERE active = 1;
CREATE INDEX IF NOT EXISTS incidents_active ON incidents (detected_at, id) WHERE active = 1;
CREATE INDEX IF NOT EXISTS incidents_detected ON incidents (detected_at);
CREATE TABLE IF NOT EXISTS incident_products (
    product TEXT NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    region TEXT,
    detected_at INTEGER NOT NULL,
    PRIMARY KEY (product, incident_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reports (
    ticket_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    product TEXT NOT NULL,
    symptom TEXT NOT NULL,
    summary TEXT NOT NULL,
    reported_at INTEGER NOT NULL,
    region TEXT,
    channel TEXT NOT NULL,
    locale TEXT NOT NULL,
    status TEXT NOT NULL,
    incident_id TEXT,
    ended_at INTEGER,
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_by_product ON reports (product, reported_at);
CREATE TABLE IF NOT EXISTS links (
    seq INTEGER PRIMARY KEY,
    ticket_id TEXT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL REFERENCES incidents (id)
);
CREATE INDEX IF NOT EXISTS links_by_incident ON links (incident_id, seq);
CREATE TABLE IF NOT EXISTS updates (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS updates_by_incident ON updates (incident_id, seq);
CREATE TABLE IF NOT EXISTS timeline (
    seq INTEGER PRIMARY KEY,
    incident_id TEXT,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    ticket_id TEXT
);
CREATE INDEX IF NOT EXISTS timeline_by_incident ON timeline (incident_id, seq);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    recipient_kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    incident_id TEXT,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    locale TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    recipient TEXT NOT NULL,
    message_id INTEGER NOT NULL REFERENCES messages (id),
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_at INTEGER NOT NULL,
    claim TEXT,
    error TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    dead_seq INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_at, seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS outbox_pending_by_recipient
    ON outbox (recipient, seq) WHERE state = 'pending';
"""


def _ticket_of(event: DomainEvent) -> str | None:
    """The ticket an event is about, if any (the timeline's ``ticket_id`` column)."""
    ticket = getattr(event, "ticket_id", None)
    return ticket if isinstance(ticket, str) else None


def _sql_limit(limit: object) -> int:
    """A checked ``limit`` as SQLite's ``LIMIT`` takes it: -1 for all, at most 2**63 - 1."""
    wanted = check_limit("limit", limit)
    return -1 if wanted is None else min(wanted, INT64_MAX)


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _translate(error: sqlite3.Error) -> IncidentLifecycleError:
    message = str(error)
    if isinstance(error, sqlite3.IntegrityError):
        return ConcurrencyConflict("record", message[:200], 0, None)
    if isinstance(error, sqlite3.OperationalError) and ("locked" in message or "busy" in message):
        return ConcurrencyConflict("database", message[:200], 0, None)
    return StoreError(f"sqlite: {message[:300]}")


class SQLiteStore:
    """The store port on a SQLite file (see the module docstring).

    ``path`` may be ``":memory:"`` for a private in-process database (one
    connection, shared by the threads of this store).

    >>> store = SQLiteStore(":memory:")
    >>> with store.transaction() as tx:
    ...     tx.new_id("INC")
    'INC-1'
    """

    def __init__(
        self, path: str | os.PathLike[str], *, timeout: float = 5.0, create: bool = True
    ) -> None:
        self.path = str(path)
        self.timeout = timeout
        self._memory = self.path == ":memory:"
        self._local = threading.local()
        self._shared: sqlite3.Connection | None = None
        self._shared_lock = threading.RLock()
        self._connections: list[sqlite3.Connection] = []
        self._registry_lock = threading.Lock()
        self._decode_incident = functools.lru_cache(maxsize=_DECODED_INCIDENTS)(decode_incident)
        if not self._memory and not create and not Path(self.path).exists():
            raise StoreError(f"no database at {self.path}")
        try:
            self._migrate(self._connection())
        except sqlite3.Error as error:
            raise _translate(error) from error

    # -- connections ------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.timeout,
            isolation_level=None,
            check_same_thread=not self._memory,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not self._memory:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA cache_size = -32768")
        with self._registry_lock:
            self._connections.append(conn)
        return conn

    def _connection(self) -> sqlite3.Connection:
        if self._memory:
            if self._shared is None:
                self._shared = self._open()
            return self._shared
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = self._open()
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def close(self) -> None:
        """Close every connection this store opened (in this process)."""
        with self._registry_lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._shared = None
        self._local = threading.local()

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            found = int(row[0]) if row is not None and str(row[0]).isdigit() else None
            if row is not None and found is None:
                raise StoreError(f"{self.path}: unreadable schema version {row[0]!r}")
            if found is not None and found > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer incident_lifecycle "
                    f"(schema {found}; this version reads up to {SCHEMA_VERSION})"
                )
            if found is None or found < SCHEMA_VERSION:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                for version in range((found or SCHEMA_VERSION) + 1, SCHEMA_VERSION + 1):
                    for step in _MIGRATIONS.get(version, ()):
                        conn.execute(step)
                for statement in _LATE_SCHEMA:
                    conn.execute(statement)
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def get_setting(self, name: str) -> Any:
        """A JSON setting an application keeps in the database (``None`` if unset)."""
        row = (
            self._connection()
            .execute("SELECT value FROM meta WHERE key = ?", (f"setting:{name}",))
            .fetchone()
        )
        return None if row is None else load_json(row[0], f"setting {name}")

    def set_setting(self, name: str, value: Any) -> None:
        """Keep a JSON-serialisable setting in the database (e.g. the ownership map)."""
        with self.transaction() as tx:
            tx._q(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (f"setting:{name}", dump_json(value)),
            )

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        row = (
            self._connection()
            .execute("SELECT value FROM meta WHERE key = 'schema_version'")
            .fetchone()
        )
        return int(row[0])

    @contextmanager
    def transaction(self) -> Iterator[_Transaction]:
        """Begin a write transaction (``BEGIN IMMEDIATE``); commit on exit, roll back on error."""
        lock = self._shared_lock if self._memory else None
        if lock is not None:
            lock.acquire()
        try:
            conn = self._connection()
            if conn.in_transaction:
                raise StoreError("transactions do not nest: finish the current one first")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise _translate(error) from error
            tx = _Transaction(conn, self._decode_incident)
            try:
                yield tx
            except BaseException as error:
                conn.execute("ROLLBACK")
                if isinstance(error, sqlite3.Error):
                    raise _translate(error) from error
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as error:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise _translate(error) from error
            finally:
                tx._open = False
        finally:
            if lock is not None:
                lock.release()


class _Transaction:
    """One ``BEGIN IMMEDIATE`` transaction (see ``StoreTransaction``)."""

    def __init__(
        self, conn: sqlite3.Connection, decode_incident: Callable[[object], ServiceIncident]
    ) -> None:
        self._c = conn
        self._open = True
        self._decode_incident = decode_incident

    def _q(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> sqlite3.Cursor:
        if not self._open:
            raise StoreError("this transaction has ended")
        try:
            return self._c.execute(sql, params)
        except sqlite3.Error as error:
            raise _translate(error) from error

    def _many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """``executemany``, with driver errors translated like :meth:`_q`."""
        if not self._open:
            raise StoreError("this transaction has ended")
        try:
            self._c.executemany(sql, rows)
        except sqlite3.Error as error:
            raise _translate(error) from error

    @contextmanager
    def _all_or_none(self) -> Iterator[None]:
        """A savepoint: a batch that raises part-way leaves nothing of itself written."""
        self._q("SAVEPOINT batch")
        try:
            yield
        except BaseException:
            self._q("ROLLBACK TO batch")
            self._q("RELEASE batch")
            raise
        self._q("RELEASE batch")

    # -- ids --------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        row = self._q(
            "INSERT INTO counters (prefix, value) VALUES (?, 1) "
            "ON CONFLICT (prefix) DO UPDATE SET value = value + 1 RETURNING value",
            (prefix,),
        ).fetchone()
        return f"{prefix}-{row[0]}"

    # -- alerts -----------------------------------------------------------
    _ALERT_COLUMNS = ALERT_COLUMNS
    _alert = staticmethod(alert_from_row)

    def alert(self, alert_id: str) -> Alert:
        row = self._q(f"SELECT {self._ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,))
        found = row.fetchone()
        if found is None:
            raise NotFound("alert", alert_id)
        return self._alert(found)

    def active_alerts(self, fingerprints: Collection[str]) -> Mapping[str, Alert]:
        out: dict[str, Alert] = {}
        for chunk in _chunks(list(fingerprints)):
            marks = ",".join("?" * len(chunk))
            for row in self._q(
                f"SELECT {self._ALERT_COLUMNS} FROM alerts "
                f"WHERE active = 1 AND fingerprint IN ({marks})",
                chunk,
            ):
                out[row[1]] = self._alert(row)
        return out

    def alerts_of(self, incident_id: str) -> Sequence[Alert]:
        rows = self._q(
            f"SELECT {self._ALERT_COLUMNS} FROM alerts WHERE incident_id = ? ORDER BY rowid",
            (incident_id,),
        )
        return [self._alert(row) for row in rows]

    def add_alerts(self, alerts: Sequence[Alert]) -> None:
        self._many(
            f"INSERT INTO alerts ({self._ALERT_COLUMNS}) VALUES ({', '.join('?' * 20)})",
            [alert_row(a) for a in alerts],
        )

    def save_alerts(self, alerts: Sequence[Alert]) -> None:
        with self._all_or_none():
            for alert in alerts:
                updated = self._q(
                    "UPDATE alerts SET status = ?, incident_id = ?, active = ?, "
                    "version = version + 1 WHERE id = ? AND version = ?",
                    (
                        alert.status.value,
                        alert.incident_id,
                        int(alert.active),
                        alert.id,
                        alert.version,
                    ),
                ).rowcount
                if updated != 1:
                    self._conflict("alerts", "alert", alert.id, alert.version)
        for alert in alerts:
            object.__setattr__(alert, "version", alert.version + 1)

    def _conflict(self, table: str, kind: str, key: str, version: int) -> None:
        column = "ticket_id" if table == "reports" else "id"
        row = self._q(f"SELECT version FROM {table} WHERE {column} = ?", (key,)).fetchone()
        if row is None:
            raise NotFound(kind, key)
        raise ConcurrencyConflict(kind, key, version, row[0])

    def count_repeats(
        self,
        counts: Mapping[str, int],
        last_seen: Mapping[str, datetime],
        started: Mapping[str, Sequence[datetime]] | None = None,
    ) -> Mapping[str, tuple[str, str | None]]:
        if not counts:
            return {}
        stamps: dict[datetime, int] = {}

        def stamp(when: datetime) -> int:
            found = stamps.get(when)
            if found is None:
                found = stamps[when] = micros(when)
            return found

        starts = started or {}
        rows = []
        for fingerprint, n in counts.items():
            times = starts.get(fingerprint)
            marks = sorted({stamp(t) for t in times}) if times else None
            rows.append((fingerprint, n, stamp(last_seen[fingerprint]), marks))
        if _RETURNING:
            # One statement for the whole batch: UPDATE ... FROM json_each(?) RETURNING. A
            # start counts when later than the alert's latest (``is_new_occurrence``).
            updated = self._q(
                "UPDATE alerts SET count = alerts.count + x.n + CASE WHEN x.s IS NULL THEN 0 "
                "ELSE (SELECT count(*) FROM json_each(x.s) AS s WHERE alerts.started_at IS NULL "
                "OR s.value > alerts.started_at) END, "
                "last_seen = max(alerts.last_seen, x.t), "
                "started_at = CASE WHEN x.m IS NOT NULL AND (alerts.started_at IS NULL "
                "OR x.m > alerts.started_at) THEN x.m ELSE alerts.started_at END "
                "FROM (SELECT json_extract(value, '$[0]') AS fp, json_extract(value, '$[1]') AS n, "
                "json_extract(value, '$[2]') AS t, json_extract(value, '$[3]') AS s, "
                "json_extract(value, '$[3][#-1]') AS m FROM json_each(?)) AS x "
                "WHERE alerts.active = 1 AND alerts.fingerprint = x.fp "
                "RETURNING alerts.fingerprint, alerts.id, alerts.incident_id",
                (json.dumps(rows),),
            ).fetchall()
            return {row[0]: (row[1], row[2]) for row in updated}
        return self._count_repeats_apart(rows)

    def _count_repeats_apart(
        self, rows: Sequence[tuple[str, int, int, list[int] | None]]
    ) -> Mapping[str, tuple[str, str | None]]:
        """``count_repeats`` on an SQLite without ``UPDATE ... FROM``: read, then write."""
        found: dict[str, tuple[str, str | None, int | None]] = {}
        for chunk in _chunks([row[0] for row in rows]):
            marks = ",".join("?" * len(chunk))
            for alert_id, fingerprint, incident_id, start in self._q(
                f"SELECT id, fingerprint, incident_id, started_at FROM alerts "
                f"WHERE active = 1 AND fingerprint IN ({marks})",
                chunk,
            ):
                found[fingerprint] = (alert_id, incident_id, start)
        updates = []
        for fingerprint, n, seen, times in rows:
            if fingerprint not in found:
                continue
            alert_id, _, start = found[fingerprint]
            new = [t for t in times or () if start is None or t > start]
            latest = new[-1] if new else start
            updates.append((n + len(new), seen, latest, alert_id))
        self._many(
            "UPDATE alerts SET count = count + ?, last_seen = max(last_seen, ?), started_at = ? "
            "WHERE id = ?",
            updates,
        )
        return {fp: (ids[0], ids[1]) for fp, ids in found.items()}

    # -- incidents --------------------------------------------------------
    def _incident(self, row: Sequence[Any]) -> ServiceIncident:
        incident = clone(self._decode_incident(row[0]))
        if incident.version != row[1]:
            object.__setattr__(incident, "version", row[1])
        return incident

    def incident(self, incident_id: str) -> ServiceIncident:
        row = self._q("SELECT data, version FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        if row is None:
            raise NotFound("incident", incident_id)
        return self._incident(row)

    def add_incident(self, incident: ServiceIncident) -> None:
        self._q(
            "INSERT INTO incidents (id, status, group_key, detected_at, active, data, region, "
            "version) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
            (*self._incident_row(incident, 0)[:6], incident.region),
        )
        self._index_products(incident)

    _incident_row = staticmethod(incident_row)

    def _index_products(self, incident: ServiceIncident) -> None:
        self._q("DELETE FROM incident_products WHERE incident_id = ?", (incident.id,))
        if incident.status in ACTIVE_STATUSES:
            detected = micros(incident.detected_at)
            self._many(
                "INSERT INTO incident_products (product, incident_id, region, detected_at) "
                "VALUES (?, ?, ?, ?)",
                [
                    (product, incident.id, incident.region, detected)
                    for product in incident.products
                ],
            )

    def save_incident(self, incident: ServiceIncident) -> None:
        new_version = incident.version + 1
        row = self._incident_row(incident, new_version)
        updated = self._q(
            "UPDATE incidents SET status = ?, group_key = ?, detected_at = ?, active = ?, "
            "data = ?, region = ?, version = ? WHERE id = ? AND version = ?",
            (*row[1:6], incident.region, new_version, incident.id, incident.version),
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
        if product is not None and group_key is None:
            # The product index holds region and detection time: only the
            # incidents kept are read.
            sql = (
                "SELECT i.data, i.version FROM incident_products p JOIN incidents i "
                "ON i.id = p.incident_id WHERE p.product = ?"
            )
            params: list[Any] = [product]
            if region is not None:
                sql += " AND " + _PRODUCT_REGION
                params.append(region)
            rows = self._q(sql + _PRODUCT_ORDER, params)
            return [self._incident(row) for row in rows]
        order = _ORDER
        where = ["i.active = 1"]
        params = []
        if region is not None:
            where.append(_INCIDENT_REGION)
            params.append(region)
        if group_key is not None:
            where.append("i.group_key = ?")
            params.append(group_key)
        sql = "SELECT i.data, i.version FROM incidents i WHERE "
        rows = self._q(sql + " AND ".join(where) + order, params)
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
            "SELECT data, version FROM incidents i WHERE detected_at >= ? AND detected_at < ?"
            + _ORDER,
            (low, high),
        )
        return [self._incident(row) for row in rows]

    # -- reports and links ------------------------------------------------
    _REPORT_COLUMNS = REPORT_COLUMNS
    _report = staticmethod(report_from_row)

    def report(self, ticket_id: str) -> CustomerReport | None:
        row = self._q(
            f"SELECT {self._REPORT_COLUMNS} FROM reports WHERE ticket_id = ?", (ticket_id,)
        ).fetchone()
        return None if row is None else self._report(row)

    def add_report(self, report: CustomerReport) -> None:
        self._q(
            f"INSERT INTO reports ({self._REPORT_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            self._report_row(report),
        )

    _report_row = staticmethod(report_row)

    def save_reports(self, reports: Sequence[CustomerReport]) -> None:
        with self._all_or_none() if len(reports) > 1 else contextlib.nullcontext():
            for report in reports:
                row = self._report_row(report)
                updated = self._q(
                    "UPDATE reports SET status = ?, incident_id = ?, ended_at = ?, region = ?, "
                    "locale = ?, summary = ?, version = version + 1 "
                    "WHERE ticket_id = ? AND version = ?",
                    (
                        row[9],
                        row[10],
                        row[11],
                        row[6],
                        row[8],
                        row[4],
                        report.ticket_id,
                        report.version,
                    ),
                ).rowcount
                if updated != 1:
                    self._conflict("reports", "report", report.ticket_id, report.version)
        for report in reports:
            object.__setattr__(report, "version", report.version + 1)

    def reports_since(self, product: str, since: datetime) -> Sequence[CustomerReport]:
        rows = self._q(
            f"SELECT {self._REPORT_COLUMNS} FROM reports WHERE product = ? AND reported_at >= ? "
            "ORDER BY reported_at, rowid",
            (product, micros(since)),
        )
        return [self._report(row) for row in rows]

    def link(self, ticket_id: str, incident_id: str) -> None:
        exists, current = self._q(
            "SELECT EXISTS (SELECT 1 FROM incidents WHERE id = ?), "
            "(SELECT incident_id FROM links WHERE ticket_id = ?)",
            (incident_id, ticket_id),
        ).fetchone()
        if not exists:
            raise NotFound("incident", incident_id)
        if current == incident_id:
            return
        if current is not None:
            self._q("DELETE FROM links WHERE ticket_id = ?", (ticket_id,))
        self._q(
            "INSERT INTO links (ticket_id, incident_id) VALUES (?, ?)", (ticket_id, incident_id)
        )

    def unlink(self, ticket_id: str) -> None:
        self._q("DELETE FROM links WHERE ticket_id = ?", (ticket_id,))

    def incident_of(self, ticket_id: str) -> str | None:
        row = self._q("SELECT incident_id FROM links WHERE ticket_id = ?", (ticket_id,)).fetchone()
        return None if row is None else str(row[0])

    def linked_tickets(self, incident_id: str) -> Sequence[str]:
        rows = self._q(
            "SELECT ticket_id FROM links WHERE incident_id = ? ORDER BY seq", (incident_id,)
        )
        return [row[0] for row in rows]

    def reports_linked_to(
        self, incident_id: str, status: ReportStatus | None = None
    ) -> Sequence[CustomerReport]:
        columns = ", ".join(f"r.{c.strip()}" for c in self._REPORT_COLUMNS.split(","))
        sql = (
            f"SELECT {columns} FROM links l JOIN reports r ON r.ticket_id = l.ticket_id "
            "WHERE l.incident_id = ?"
        )
        params: list[Any] = [incident_id]
        if status is not None:
            sql += " AND r.status = ?"
            params.append(status.value)
        return [self._report(row) for row in self._q(sql + " ORDER BY l.seq", params)]

    def linked_recipients(
        self, incident_id: str, status: ReportStatus = ReportStatus.LINKED
    ) -> Sequence[tuple[str, str]]:
        rows = self._q(
            "SELECT r.ticket_id, r.locale FROM links l JOIN reports r ON r.ticket_id = l.ticket_id "
            "WHERE l.incident_id = ? AND r.status = ? ORDER BY l.seq",
            (incident_id, status.value),
        )
        return [(row[0], row[1]) for row in rows]

    def transition_linked_reports(
        self, incident_id: str, source: ReportStatus, target: ReportStatus, now: datetime
    ) -> Sequence[tuple[str, str]]:
        changed = self.linked_recipients(incident_id, source)
        ends = ending(target)
        self._q(
            "UPDATE reports SET status = ?, version = version + 1, "
            "ended_at = CASE WHEN ? THEN ? ELSE ended_at END "
            "WHERE status = ? AND ticket_id IN (SELECT ticket_id FROM links WHERE incident_id = ?)",
            (target.value, int(ends), micros(now), source.value, incident_id),
        )
        return changed

    def move_links(self, source_id: str, target_id: str) -> int:
        tickets = self.linked_tickets(source_id)
        self._q("DELETE FROM links WHERE incident_id = ?", (source_id,))
        self._many(
            "INSERT INTO links (ticket_id, incident_id) VALUES (?, ?)",
            [(ticket_id, target_id) for ticket_id in tickets],
        )
        return len(tickets)

    # -- updates and timeline ---------------------------------------------
    def add_update(self, update: StatusUpdate) -> None:
        self._q(
            "INSERT INTO updates (id, incident_id, data) VALUES (?, ?, ?)",
            (update.id, update.incident_id, dump_json(encode(update))),
        )

    def updates(self, incident_id: str) -> Sequence[StatusUpdate]:
        rows = self._q(
            "SELECT data FROM updates WHERE incident_id = ? ORDER BY seq", (incident_id,)
        )
        return [decode_document(StatusUpdate, row[0], "updates.data") for row in rows]

    def append(self, events: Sequence[DomainEvent]) -> None:
        self._many(
            "INSERT INTO timeline (incident_id, name, data, ticket_id) VALUES (?, ?, ?, ?)",
            [(e.incident_id, e.name, dump_json(encode(e)), _ticket_of(e)) for e in events],
        )

    def timeline(self, incident_id: str) -> Sequence[DomainEvent]:
        rows = self._q(
            "SELECT data FROM timeline WHERE incident_id IS ? ORDER BY seq", (incident_id,)
        )
        return [decode_document(DomainEvent, row[0], "timeline.data") for row in rows]

    def ticket_timeline(self, ticket_id: str) -> Sequence[DomainEvent]:
        rows = self._q("SELECT data FROM timeline WHERE ticket_id = ? ORDER BY seq", (ticket_id,))
        return [decode_document(DomainEvent, row[0], "timeline.data") for row in rows]

    def last_event_at(self, incident_id: str) -> datetime | None:
        row = self._q(
            "SELECT data FROM timeline WHERE incident_id = ? ORDER BY seq DESC LIMIT 1",
            (incident_id,),
        ).fetchone()
        return None if row is None else decode_document(DomainEvent, row[0], "timeline.data").at

    # -- outbox -----------------------------------------------------------
    def _message(self, n: Notification | FanOut, kind: RecipientKind) -> int:
        row = self._q(
            "INSERT INTO messages (recipient_kind, topic, incident_id, subject, body, created_at, "
            "locale) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            message_row(n, kind),
        ).fetchone()
        return int(row[0])

    def _insert_outbox(self, rows: list[tuple[str, str, int]], now: datetime) -> int:
        before = self._c.total_changes
        at = micros(now)
        self._many(
            "INSERT OR IGNORE INTO outbox (key, recipient, message_id, state, attempts, next_at, "
            "error, updated_at) VALUES (?, ?, ?, 'pending', 0, ?, '', ?)",
            [(key, recipient, message, at, at) for key, recipient, message in rows],
        )
        return self._c.total_changes - before

    def _existing_keys(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            found.update(
                row[0] for row in self._q(f"SELECT key FROM outbox WHERE key IN ({marks})", chunk)
            )
        return found

    def enqueue(self, notifications: Sequence[Notification], now: datetime) -> int:
        if len(notifications) == 1:
            # The common case, in two statements: the message, then its outbox
            # row unless the key is there already (then the message goes).
            n = notifications[0]
            message = self._message(n, n.recipient_kind)
            added = self._insert_outbox([(n.key, n.recipient, message)], now)
            if not added:
                self._q("DELETE FROM messages WHERE id = ?", (message,))
            return added
        existing = self._existing_keys([n.key for n in notifications])
        rows = []
        for n in notifications:
            if n.key in existing:
                continue
            existing.add(n.key)
            rows.append((n.key, n.recipient, self._message(n, n.recipient_kind)))
        return self._insert_outbox(rows, now) if rows else 0

    def enqueue_fanout(self, fanout: FanOut, now: datetime) -> int:
        if not fanout.recipients:
            return 0
        message = self._message(fanout, RecipientKind.TICKET)
        prefix = fanout.key_prefix + "/"
        return self._insert_outbox([(prefix + r, r, message) for r in fanout.recipients], now)

    _ENTRY = ENTRY_COLUMNS
    _entry = staticmethod(entry_from_row)

    def claim_due(
        self,
        now: datetime,
        limit: int | None,
        lease_until: datetime,
        claim: str,
        *,
        per_recipient: int = 1,
    ) -> Sequence[OutboxEntry]:
        wanted = _sql_limit(limit)
        depth = check_int("per_recipient", per_recipient, minimum=1)
        heads = self._q(
            f"SELECT o.seq, o.recipient FROM outbox o WHERE o.next_at <= ? AND {DUE} "
            "ORDER BY o.next_at, o.seq LIMIT ?",
            (micros(now), wanted),
        ).fetchall()
        if not heads:
            return []
        seqs = [row[0] for row in heads]
        if depth > 1 and (wanted < 0 or len(seqs) < wanted):
            seqs += self._followers(heads, depth, now, wanted - len(seqs) if wanted >= 0 else -1)
        self._many(
            "UPDATE outbox SET attempts = attempts + 1, claim = ?, next_at = ?, updated_at = ? "
            "WHERE seq = ?",
            [(claim, micros(lease_until), micros(now), seq) for seq in seqs],
        )
        claimed = []
        for chunk in _chunks(seqs):
            marks = ",".join("?" * len(chunk))
            claimed += self._q(
                f"SELECT {self._ENTRY} FROM outbox o JOIN messages m ON m.id = o.message_id "
                f"WHERE o.seq IN ({marks})",
                chunk,
            ).fetchall()
        order = {seq: index for index, seq in enumerate(seqs)}
        claimed.sort(key=lambda row: order[row[0]])
        return [self._entry(row) for row in claimed]

    def _followers(
        self, heads: Sequence[tuple[int, str]], depth: int, now: datetime, room: int
    ) -> list[int]:
        """The due entries queued right behind each head (see ``claim_due``), in head order."""
        behind: dict[str, list[tuple[int, int]]] = {}
        recipients = [row[1] for row in heads]
        for chunk in _chunks(recipients):
            marks = ",".join("?" * len(chunk))
            rows = self._q(
                "SELECT recipient, seq, next_at FROM (SELECT recipient, seq, next_at, "
                "row_number() OVER (PARTITION BY recipient ORDER BY seq) AS n FROM outbox "
                f"WHERE state = 'pending' AND recipient IN ({marks})) WHERE n BETWEEN 2 AND ? "
                "ORDER BY recipient, seq",
                (*chunk, depth),
            ).fetchall()
            for recipient, seq, next_at in rows:
                behind.setdefault(recipient, []).append((seq, next_at))
        limit_at, taken = micros(now), list[int]()
        for _, recipient in heads:
            for seq, next_at in behind.get(recipient, ()):
                if next_at > limit_at or len(taken) == room:
                    break
                taken.append(seq)
        return taken

    def mark_delivered(self, keys: Collection[str], now: datetime) -> None:
        self._many(
            "UPDATE outbox SET state = 'delivered', claim = NULL, error = '', updated_at = ? "
            "WHERE key = ? AND state = 'pending'",
            [(micros(now), key) for key in keys],
        )

    def schedule_retry(self, key: str, not_before: datetime, error: str, now: datetime) -> None:
        self._q(
            "UPDATE outbox SET claim = NULL, next_at = ?, error = ?, updated_at = ? "
            "WHERE key = ? AND state = 'pending'",
            (micros(not_before), error, micros(now), key),
        )

    def mark_dead(self, key: str, error: str, now: datetime) -> None:
        self._q(
            "UPDATE outbox SET state = 'dead', claim = NULL, error = ?, updated_at = ?, "
            "dead_seq = (SELECT coalesce(max(dead_seq), 0) + 1 FROM outbox "
            "WHERE state = 'dead') WHERE key = ? AND state = 'pending'",
            (error, micros(now), key),
        )

    def defer(self, keys: Collection[str], not_before: datetime, now: datetime) -> None:
        self._many(
            "UPDATE outbox SET claim = NULL, next_at = ?, updated_at = ?, "
            "attempts = max(attempts - 1, 0) WHERE key = ? AND state = 'pending'",
            [(micros(not_before), micros(now), key) for key in keys],
        )

    def outbox_entry(self, key: str) -> OutboxEntry | None:
        row = self._q(
            f"SELECT {self._ENTRY} FROM outbox o JOIN messages m ON m.id = o.message_id "
            "WHERE o.key = ?",
            (key,),
        ).fetchone()
        return None if row is None else self._entry(row)

    def dead_letters(self, limit: int | None = None) -> Sequence[OutboxEntry]:
        rows = self._q(
            f"SELECT {self._ENTRY} FROM outbox o JOIN messages m ON m.id = o.message_id "
            "WHERE o.state = 'dead' ORDER BY o.dead_seq LIMIT ?",
            (_sql_limit(limit),),
        )
        return [self._entry(row) for row in rows]

    def outbox_entries(self, state: OutboxState, limit: int | None = None) -> Sequence[OutboxEntry]:
        wanted = check_enum("state", OutboxState, state)
        rows = self._q(
            f"SELECT {self._ENTRY} FROM outbox o JOIN messages m ON m.id = o.message_id "
            "WHERE o.state = ? ORDER BY o.seq LIMIT ?",
            (wanted.value, _sql_limit(limit)),
        )
        return [self._entry(row) for row in rows]

    def redrive(self, keys: Collection[str], now: datetime) -> int:
        before = self._c.total_changes
        self._many(
            "UPDATE outbox SET state = 'pending', attempts = 0, claim = NULL, next_at = ?, "
            "updated_at = ? WHERE key = ? AND state = 'dead'",
            [(micros(now), micros(now), key) for key in keys],
        )
        return self._c.total_changes - before

    def prune_delivered(self, before: datetime) -> int:
        # The messages of the pruned entries go too, unless another entry still has them.
        self._q("CREATE TEMP TABLE IF NOT EXISTS pruned_messages (id INTEGER PRIMARY KEY)")
        self._q("DELETE FROM temp.pruned_messages")
        self._q(
            "INSERT OR IGNORE INTO temp.pruned_messages SELECT message_id FROM outbox "
            "WHERE state = 'delivered' AND updated_at < ?",
            (micros(before),),
        )
        count = self._q(
            "DELETE FROM outbox WHERE state = 'delivered' AND updated_at < ?", (micros(before),)
        ).rowcount
        self._q(
            "DELETE FROM messages WHERE id IN (SELECT id FROM temp.pruned_messages) "
            "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = messages.id)"
        )
        self._q("DELETE FROM temp.pruned_messages")
        return count

    def outbox_stats(self) -> OutboxStats:
        counts = dict(self._q("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
        return OutboxStats(
            pending=counts.get("pending", 0),
            delivered=counts.get("delivered", 0),
            dead=counts.get("dead", 0),
        )

    def oldest_pending_at(self) -> datetime | None:
        # Fan-outs share one message: read each pending message's time once, compare in
        # Python (stored times keep their offset, so text order is not time order).
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
