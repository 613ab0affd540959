"""``SQLiteStore`` specifics: pragmas, schema versions, safe decoding, translated driver errors.

What every store must do is in ``test_store_contract.py``; this module checks
what only a SQLite file has: its connection settings, its ``meta`` table,
tampered rows and what the driver raises.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from incident_lifecycle import (
    Actor,
    Alert,
    ConcurrencyConflict,
    CustomerReport,
    DecodeError,
    IncidentStatus,
    ServiceIncident,
    StatusUpdate,
    StoreError,
)
from incident_lifecycle.adapters.sqlite import SCHEMA_VERSION, SQLiteStore
from incident_lifecycle.codec import FORMAT_VERSION, encode
from incident_lifecycle.domain.events import IncidentAcknowledged, ReportTriaged, TicketLinked
from incident_lifecycle.notifications import Notification
from incident_lifecycle.ports import StoreTransaction

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ENGINEER = Actor(name="ana", role="engineering", team="support-eng")


# -- helpers ---------------------------------------------------------------------------


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "desk.db"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(path)
    yield opened
    opened.close()


def raw(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on the file through a connection of our own (autocommit)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def incident(incident_id: str = "INC-1", status: str = "investigating") -> ServiceIncident:
    return ServiceIncident(
        id=incident_id,
        title="Slow pages",
        products=("support",),
        owner_team="support-eng",
        detected_at=T0,
        group_key=f"support|{incident_id}",
        status=status,
        opened_at=None if status == "detected" else T0,
    )


def alert(alert_id: str = "ALR-1") -> Alert:
    return Alert(
        id=alert_id,
        fingerprint=f"fp-{alert_id}",
        product="support",
        kind="latency",
        summary="p99 above 2 s",
        first_seen_at=T0,
        last_seen_at=T0,
        labels={"pod": "eu-1"},
        incident_id="INC-1",
    )


def report(ticket_id: str = "T-1") -> CustomerReport:
    return CustomerReport(
        ticket_id=ticket_id,
        account_id="acct-1",
        product="support",
        symptom="slow",
        summary="Pages are slow.",
        reported_at=T0,
    )


def note(key: str = "k-1") -> Notification:
    return Notification(
        key=key,
        recipient="team-a",
        recipient_kind="team",
        topic="handoff",
        incident_id="INC-1",
        subject="Incident handed off",
        body="Over to you.",
        created_at=T0,
    )


def fill(store: SQLiteStore) -> None:
    """One record of every table: incident, alert, report, link, update, event, outbox entry."""
    with store.transaction() as tx:
        tx.add_incident(incident())
        tx.add_alerts([alert()])
        tx.add_report(report())
        tx.link("T-1", "INC-1")
        tx.add_update(
            StatusUpdate(
                id="UPD-1",
                incident_id="INC-1",
                body="Looking.",
                visibility="internal",
                status="investigating",
                posted_at=T0,
                author=ENGINEER,
            )
        )
        tx.append([IncidentAcknowledged(incident_id="INC-1", actor=ENGINEER, at=T0)])
        tx.enqueue([note()], T0)


# -- connection settings and schema ------------------------------------------------------


def test_connections_use_wal_foreign_keys_and_a_busy_timeout(path: Path) -> None:
    """Each connection runs in WAL mode with foreign keys on and the configured busy timeout."""
    store = SQLiteStore(path, timeout=2.5)
    try:
        conn = store._connection()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
    finally:
        store.close()
    assert raw(path, "PRAGMA journal_mode") == [("wal",)]  # persisted in the file


def test_foreign_keys_are_enforced_and_reported_as_library_errors(store: SQLiteStore) -> None:
    """A row pointing at a missing incident is refused by the database, as a library error."""
    sql = "INSERT INTO links (ticket_id, incident_id) VALUES ('T-1', 'INC-404')"
    with pytest.raises(ConcurrencyConflict) as caught, store.transaction() as tx:
        tx._q(sql)  # type: ignore[attr-defined]
    assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)


def test_a_new_database_records_the_schema_version(store: SQLiteStore, path: Path) -> None:
    """Creating the schema writes ``meta.schema_version`` = ``SCHEMA_VERSION``."""
    assert store.schema_version == SCHEMA_VERSION
    assert raw(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]


def test_reopening_a_database_keeps_its_data(path: Path) -> None:
    """A second store on the same file sees what the first committed, schema untouched."""
    first = SQLiteStore(path)
    fill(first)
    first.close()
    second = SQLiteStore(path, create=False)
    try:
        with second.transaction() as tx:
            assert tx.incident("INC-1").title == "Slow pages"
            assert [e.key for e in tx.claim_due(T0, 10, T0 + timedelta(minutes=1), "r")] == ["k-1"]
        assert second.schema_version == SCHEMA_VERSION
    finally:
        second.close()


SCHEMA_3_ALERT_COLUMNS = (
    "started_at",
    "severity_hint",
    "description",
    "links",
    "dedup_key",
    "source_group",
)


def as_schema_4(path: Path) -> None:
    """Turn a database of the current schema back into schema 4 (no ticket on the timeline)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute("DROP INDEX timeline_by_ticket")
        conn.execute("ALTER TABLE timeline DROP COLUMN ticket_id")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
        conn.execute("COMMIT")
    finally:
        conn.close()


def test_a_schema_4_database_finds_the_history_of_its_tickets(path: Path) -> None:
    """Migrating to schema 5 files the events already kept under their tickets."""
    first = SQLiteStore(path)
    triaged = ReportTriaged(
        incident_id=None, actor=ENGINEER, at=T0, ticket_id="T-1", outcome="troubleshoot"
    )
    linked = TicketLinked(incident_id="INC-1", actor=ENGINEER, at=T0, ticket_id="T-1")
    with first.transaction() as tx:
        tx.append([triaged, IncidentAcknowledged(incident_id="INC-1", actor=ENGINEER, at=T0)])
        tx.append([linked])
    first.close()
    as_schema_4(path)

    second = SQLiteStore(path)
    try:
        assert second.schema_version == SCHEMA_VERSION
        with second.transaction() as tx:
            assert list(tx.ticket_timeline("T-1")) == [triaged, linked]
            assert tx.last_event_at("INC-1") == T0
    finally:
        second.close()


def as_schema_3(path: Path) -> None:
    """Turn a database of the current schema back into schema 3 (dead letters by time)."""
    as_schema_4(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute("DROP INDEX outbox_dead_order")
        conn.execute("ALTER TABLE outbox DROP COLUMN dead_seq")
        conn.execute("CREATE INDEX outbox_dead ON outbox (updated_at, seq) WHERE state = 'dead'")
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
        conn.execute("COMMIT")
    finally:
        conn.close()


def as_schema_2(path: Path) -> None:
    """Turn a database of the current schema back into schema 2 (alerts without source facts)."""
    as_schema_3(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for column in SCHEMA_3_ALERT_COLUMNS:
            conn.execute(f"ALTER TABLE alerts DROP COLUMN {column}")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        conn.execute("COMMIT")
    finally:
        conn.close()


def _as_schema_1(path: Path) -> None:
    """Turn a database of the current schema back into schema 1 (its product index)."""
    as_schema_2(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.executescript(
            """
            BEGIN;
            CREATE TABLE active_products (
                product TEXT NOT NULL,
                incident_id TEXT NOT NULL REFERENCES incidents (id),
                PRIMARY KEY (product, incident_id)
            ) WITHOUT ROWID;
            INSERT INTO active_products SELECT product, incident_id FROM incident_products;
            DROP TABLE incident_products;
            UPDATE meta SET value = '1' WHERE key = 'schema_version';
            COMMIT;
            """
        )
    finally:
        conn.close()


def test_a_schema_1_database_is_migrated_and_keeps_its_product_index(path: Path) -> None:
    """Opening a schema-1 file rebuilds the product index with regions; queries agree."""
    first = SQLiteStore(path)
    with first.transaction() as tx:
        for n, region in enumerate(["pod1", "pod2", None, "pod1"], start=1):
            tx.add_incident(attrs.evolve(incident(f"INC-{n}"), region=region))
        tx.add_incident(incident("INC-9", status="resolved"))
    first.close()
    _as_schema_1(path)
    assert raw(path, "SELECT count(*) FROM active_products") == [(4,)]

    second = SQLiteStore(path)
    try:
        assert second.schema_version == SCHEMA_VERSION
        names = {row[0] for row in raw(path, "SELECT name FROM sqlite_master WHERE type='table'")}
        assert "active_products" not in names
        assert raw(path, "SELECT product, incident_id, region FROM incident_products") == [
            ("support", "INC-1", "pod1"),
            ("support", "INC-2", "pod2"),
            ("support", "INC-3", None),
            ("support", "INC-4", "pod1"),
        ]
        with second.transaction() as tx:
            assert [i.id for i in tx.active_incidents(product="support")] == [
                "INC-1",
                "INC-2",
                "INC-3",
                "INC-4",
            ]
            in_pod1 = tx.active_incidents(product="support", region="pod1")
            assert [i.id for i in in_pod1] == ["INC-1", "INC-3", "INC-4"]
            resolved = tx.incident("INC-2")
            resolved.status = IncidentStatus.RESOLVED
            tx.save_incident(resolved)
        with second.transaction() as tx:
            assert [i.id for i in tx.active_incidents(product="support", region="pod2")] == [
                "INC-3"
            ]
    finally:
        second.close()


def test_a_decoded_incident_is_never_shared_or_served_after_a_rollback(store: SQLiteStore) -> None:
    """The decode cache hands out copies, and a rolled-back write is never read back."""
    with store.transaction() as tx:
        tx.add_incident(incident())
    with store.transaction() as tx:
        first = tx.incident("INC-1")
        first.title = "Changed by a caller, never saved"
        assert tx.incident("INC-1").title == "Slow pages"

    def write_then_abort() -> None:
        with store.transaction() as tx:
            changed = tx.incident("INC-1")
            changed.title = "Written, then rolled back"
            tx.save_incident(changed)
            assert tx.incident("INC-1").title == "Written, then rolled back"
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError, match="abort"):
        write_then_abort()
    with store.transaction() as tx:
        again = tx.incident("INC-1")
        assert (again.title, again.version) == ("Slow pages", 0)
        again.title = "Saved for real"
        tx.save_incident(again)
    with store.transaction() as tx:
        assert (tx.incident("INC-1").title, tx.incident("INC-1").version) == ("Saved for real", 1)


def test_a_database_from_a_newer_version_is_refused(store: SQLiteStore, path: Path) -> None:
    """Opening a file whose schema version is newer than ours fails with a clear ``StoreError``."""
    fill(store)
    store.close()
    raw(path, "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match="newer") as caught:
        SQLiteStore(path)
    assert f"schema {SCHEMA_VERSION + 1}" in str(caught.value)
    assert f"up to {SCHEMA_VERSION}" in str(caught.value)
    assert raw(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION + 1),)
    ]  # refused without touching the file


def test_an_unreadable_schema_version_is_refused(store: SQLiteStore, path: Path) -> None:
    """A schema version that is not a number is refused, not guessed."""
    store.close()
    raw(path, "UPDATE meta SET value = 'two' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="unreadable schema version"):
        SQLiteStore(path)


def test_a_missing_file_is_not_created_when_asked_not_to(path: Path) -> None:
    """``create=False`` on a path with no database raises ``StoreError`` and creates nothing."""
    with pytest.raises(StoreError, match="no database"):
        SQLiteStore(path, create=False)
    assert not path.exists()


def test_a_file_that_is_not_a_database_is_a_store_error(path: Path) -> None:
    """Opening a file that is not SQLite raises ``StoreError``, the driver's error chained."""
    path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(StoreError) as caught:
        SQLiteStore(path)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


# -- tampered rows ----------------------------------------------------------------------

PICKLED = pickle.dumps({"v": 1, "type": "incident", "status": "investigating"})
"""What a pickling store would have written: bytes, never to be unpickled."""


def _nested_reviews(depth: int) -> str:
    """An incident document whose review's root cause is a review, ``depth`` times over."""
    document = json.dumps(encode(incident()))
    review = '{"v": 1, "type": "review", "root_cause": ' * depth + '"cause"' + "}" * depth
    assert '"review": null' in document
    return document.replace('"review": null', f'"review": {review}')


def _read_incident(tx: StoreTransaction) -> object:
    return tx.incident("INC-1")


def _read_active(tx: StoreTransaction) -> object:
    return tx.active_incidents()


TAMPERINGS: dict[str, tuple[str, tuple[Any, ...], Callable[[StoreTransaction], object]]] = {
    "unknown status in incidents.data": (
        "UPDATE incidents SET data = json_set(data, '$.status', 'exploded')",
        (),
        _read_incident,
    ),
    "newer format version in incidents.data": (
        "UPDATE incidents SET data = json_set(data, '$.v', ?)",
        (FORMAT_VERSION + 1,),
        _read_active,
    ),
    "pickle bytes in incidents.data": ("UPDATE incidents SET data = ?", (PICKLED,), _read_incident),
    "invalid JSON in incidents.data": (
        "UPDATE incidents SET data = ?",
        ('{"v": 1, "type": "incident", ',),
        _read_incident,
    ),
    "arrays nested 100,000 deep in incidents.data": (
        "UPDATE incidents SET data = ?",
        ("[" * 100_000 + "]" * 100_000,),
        _read_incident,
    ),
    "reviews nested 5,000 deep in incidents.data": (
        "UPDATE incidents SET data = ?",
        (_nested_reviews(5_000),),
        _read_incident,
    ),
    "a JSON list in incidents.data": ("UPDATE incidents SET data = '[1, 2]'", (), _read_incident),
    "another entity in incidents.data": (
        "UPDATE incidents SET data = (SELECT data FROM updates)",
        (),
        _read_incident,
    ),
    "unknown status in alerts.status": (
        "UPDATE alerts SET status = 'exploded'",
        (),
        lambda tx: tx.alert("ALR-1"),
    ),
    "pickle bytes in alerts.labels": (
        "UPDATE alerts SET labels = ?",
        (PICKLED,),
        lambda tx: tx.active_alerts(["fp-ALR-1"]),
    ),
    "text in alerts.first_seen": (
        "UPDATE alerts SET first_seen = '2026-03-02'",
        (),
        lambda tx: tx.alerts_of("INC-1"),
    ),
    "a time past the year 10000 in alerts.last_seen": (
        "UPDATE alerts SET last_seen = ?",
        (2**62,),
        lambda tx: tx.alert("ALR-1"),
    ),
    "a time before the year 0 in outbox.next_at": (
        "UPDATE outbox SET next_at = ?",
        (-(2**62),),
        lambda tx: tx.outbox_entry("k-1"),
    ),
    "unknown status in reports.status": (
        "UPDATE reports SET status = 'exploded'",
        (),
        lambda tx: tx.report("T-1"),
    ),
    "unknown channel in reports.channel": (
        "UPDATE reports SET channel = 'pigeon'",
        (),
        lambda tx: tx.reports_linked_to("INC-1"),
    ),
    "newer format version in updates.data": (
        "UPDATE updates SET data = json_set(data, '$.v', 99)",
        (),
        lambda tx: tx.updates("INC-1"),
    ),
    "unknown event type in timeline.data": (
        "UPDATE timeline SET data = json_set(data, '$.type', 'event:IncidentExploded')",
        (),
        lambda tx: tx.timeline("INC-1"),
    ),
    "pickle bytes in timeline.data": (
        "UPDATE timeline SET data = ?",
        (PICKLED,),
        lambda tx: tx.timeline("INC-1"),
    ),
    "unknown outbox state": (
        "UPDATE outbox SET state = 'exploded'",
        (),
        lambda tx: tx.outbox_entry("k-1"),
    ),
    "unknown topic of a message": (
        "UPDATE messages SET topic = 'gossip'",
        (),
        lambda tx: tx.claim_due(T0, 10, T0 + timedelta(minutes=1), "relay"),
    ),
    "invalid time of a message": (
        "UPDATE messages SET created_at = 'yesterday'",
        (),
        lambda tx: tx.outbox_entry("k-1"),
    ),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_a_tampered_row_raises_a_decode_error(
    store: SQLiteStore, path: Path, tampering: str
) -> None:
    """A row changed behind the store's back is refused with ``DecodeError``, never loaded."""
    fill(store)
    sql, params, read = TAMPERINGS[tampering]
    raw(path, sql, params)
    with pytest.raises(DecodeError) as caught, store.transaction() as tx:
        read(tx)
    assert isinstance(caught.value, StoreError | ValueError)
    assert "Traceback" not in str(caught.value)


def test_a_document_of_the_current_format_still_decodes(store: SQLiteStore, path: Path) -> None:
    """The control case: rewriting a row with its own JSON keeps it readable."""
    fill(store)
    (data,) = raw(path, "SELECT data FROM incidents WHERE id = 'INC-1'")[0]
    document = json.loads(data)
    assert document["v"] == FORMAT_VERSION
    raw(path, "UPDATE incidents SET data = ?", (json.dumps(document),))
    with store.transaction() as tx:
        assert tx.incident("INC-1").status is IncidentStatus.INVESTIGATING


# -- driver errors ------------------------------------------------------------------------


def test_a_uniqueness_violation_is_a_conflict_where_it_happens(store: SQLiteStore) -> None:
    """An ``IntegrityError`` comes out of the call itself as ``ConcurrencyConflict``."""
    fill(store)
    with store.transaction() as tx:
        with pytest.raises(ConcurrencyConflict) as caught:
            tx.add_incident(incident())
        assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
        with pytest.raises(ConcurrencyConflict):
            tx.add_alerts([alert("ALR-2"), alert()])
        tx.add_report(report("T-2"))  # the transaction goes on
    with store.transaction() as tx:
        assert tx.report("T-2") is not None
        assert [a.id for a in tx.alerts_of("INC-1")] == ["ALR-1", "ALR-2"]


def test_a_locked_database_is_a_conflict_not_an_operational_error(path: Path) -> None:
    """While another connection holds the write lock, a short timeout raises a conflict."""
    store = SQLiteStore(path, timeout=0.05)
    fill(store)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(ConcurrencyConflict) as caught, store.transaction() as tx:
            tx.incident("INC-1")
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        assert "locked" in str(caught.value.__cause__)
        holder.execute("ROLLBACK")
        with store.transaction() as tx:  # usable again once the lock is released
            assert tx.incident("INC-1").id == "INC-1"
    finally:
        holder.close()
        store.close()


def test_a_lock_taken_by_another_thread_of_the_store_waits(path: Path) -> None:
    """Two threads of one store serialise on the busy timeout instead of failing."""
    store = SQLiteStore(path)
    fill(store)
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.transaction() as tx:
            inside.set()
            release.wait(5)
            tx.add_report(report("T-2"))

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        inside.wait(5)
        timer = threading.Timer(0.05, release.set)
        timer.start()
        with store.transaction() as tx:
            assert tx.report("T-2") is not None  # ran after the holder committed
    finally:
        release.set()
        holder.join()
        store.close()


def test_a_damaged_schema_is_a_store_error(store: SQLiteStore, path: Path) -> None:
    """A missing table surfaces as ``StoreError`` with the driver's error chained."""
    fill(store)
    raw(path, "DROP TABLE timeline")
    with pytest.raises(StoreError) as caught, store.transaction() as tx:
        tx.timeline("INC-1")
    assert not isinstance(caught.value, ConcurrencyConflict)
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)


def test_nested_transactions_are_refused(store: SQLiteStore) -> None:
    """A transaction begun inside another on the same thread is a ``StoreError``."""
    with store.transaction(), pytest.raises(StoreError, match="do not nest"):
        store.transaction().__enter__()


# -- opening is cheap ------------------------------------------------------------------------

HISTORY = 20_000


@pytest.fixture(scope="module")
def big_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file holding 20,000 resolved incidents and 20,000 delivered notifications."""
    path = tmp_path_factory.mktemp("big") / "history.db"
    store = SQLiteStore(path)
    template = json.dumps(_compact_incident())
    with store.transaction() as tx:
        conn = tx._c  # type: ignore[attr-defined]
        conn.executemany(
            "INSERT INTO incidents (id, status, group_key, region, detected_at, active, version, "
            "data) VALUES (?, 'resolved', NULL, NULL, ?, 0, 0, ?)",
            (
                (f"INC-{n}", n, template.replace('"INC-0"', f'"INC-{n}"'))
                for n in range(1, HISTORY + 1)
            ),
        )
        tx.enqueue([note(f"k-{n}") for n in range(HISTORY)], T0)
        tx.mark_delivered([f"k-{n}" for n in range(HISTORY)], T0)
    store.close()
    return path


def _compact_incident() -> dict[str, Any]:
    value = incident("INC-0", status="resolved")
    value.resolved_at, value.resolution = T0, "Rolled back the deploy." * 20
    return encode(value)


def test_opening_a_large_database_does_not_load_its_history(big_database: Path) -> None:
    """Opening a store on 20,000 incidents and reading one allocates a few hundred kB, not MB."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        store = SQLiteStore(big_database, create=False)
        with store.transaction() as tx:
            assert tx.incident("INC-12345").id == "INC-12345"
            assert list(tx.active_incidents()) == []
            assert tx.next_due_at() is None
        _, peak = tracemalloc.get_traced_memory()
        store.close()
    finally:
        tracemalloc.stop()
    history_size = big_database.stat().st_size
    assert history_size > 10_000_000
    assert peak - before < 512_000


def test_a_schema_3_database_keeps_its_dead_letters_in_order_and_adds_after_them(
    path: Path,
) -> None:
    """Migrating to schema 4 numbers the dead letters in their old order (time, then enqueue
    order); a letter dead-lettered later at the same instant comes after them."""
    first = SQLiteStore(path)
    with first.transaction() as tx:
        tx.enqueue([note(f"k-{n}") for n in (1, 2, 3)], T0)
        for key in ("k-2", "k-1"):  # the same instant: the old schema lists k-1 first
            tx.mark_dead(key, "refused", T0)
    first.close()
    as_schema_3(path)

    second = SQLiteStore(path)
    try:
        assert second.schema_version == SCHEMA_VERSION
        with second.transaction() as tx:
            assert [e.key for e in tx.dead_letters()] == ["k-1", "k-2"]
            tx.mark_dead("k-3", "refused", T0)
            tx.redrive(["k-1"], T0)
            tx.mark_dead("k-1", "refused again", T0)
            assert [e.key for e in tx.dead_letters()] == ["k-2", "k-3", "k-1"]
    finally:
        second.close()
