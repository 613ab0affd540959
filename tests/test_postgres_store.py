"""What ``PostgresStore`` adds to the store contract: its schema, its connections, its errors,
and many instances on one database (``tests/postgres_support.py`` finds the server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import postgres_support
from desk_support import ENG_SUPPORT, MONITOR, OWNERSHIP, START, signal
from incident_lifecycle import IncidentDesk, Notification, RecordingNotifier
from incident_lifecycle.adapters.urls import open_store
from incident_lifecycle.domain.errors import (
    ConcurrencyConflict,
    IncidentLifecycleError,
    InvalidInput,
    StoreError,
)
from incident_lifecycle.testing import FakeClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[Any]:
    """A store in a schema of its own, dropped afterwards."""
    made = postgres_support.fresh_schema_store()
    yield made
    made.drop()


def note(key: str, recipient: str) -> Notification:
    return Notification(
        key=key,
        recipient=recipient,
        recipient_kind="team",
        topic="handoff",
        incident_id=None,
        subject="Handed over",
        body="Over to you.",
        created_at=T0,
    )


def test_a_schema_written_by_a_newer_version_is_refused(store: Any) -> None:
    """A schema version above this one's is refused by name, and nothing is changed."""
    with store.connect() as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer"):
        type(store)(store.dsn, schema=store.schema)
    assert store.schema_version == 99


def test_opening_again_migrates_nothing_and_keeps_the_data(store: Any) -> None:
    """A second instance on the same schema (another process, say) sees the same records."""
    with store.transaction() as tx:
        assert tx.new_id("INC") == "INC-1"
    other = type(store)(store.dsn, schema=store.schema)
    try:
        with other.transaction() as tx:
            assert tx.new_id("INC") == "INC-2"
        assert other.schema_version == store.schema_version == 1
    finally:
        other.close()


def test_bad_settings_are_refused_by_name() -> None:
    """A schema name that is not an identifier, or a junk pool size, is ``InvalidInput``."""
    from incident_lifecycle import PostgresStore

    dsn = postgres_support.database_dsn()
    for schema in ("", "a-b", 'x"; DROP TABLE y; --', "1abc", 7):
        with pytest.raises(InvalidInput) as refused:
            PostgresStore(dsn, schema=schema)  # type: ignore[arg-type]
        assert refused.value.field == "schema"
    with pytest.raises(InvalidInput) as refused:
        PostgresStore(dsn, pool_size=0)
    assert refused.value.field == "pool_size"


def test_create_false_refuses_a_missing_schema() -> None:
    """``create=False`` (the command line's default) does not create a schema."""
    from incident_lifecycle import PostgresStore

    with pytest.raises(StoreError, match="no incident_lifecycle schema"):
        PostgresStore(postgres_support.database_dsn(), schema="never_made", create=False)


def test_settings_come_from_the_pg_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a DSN, libpq's ``PG*`` variables say where the database is."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(postgres_support.database_dsn())
    for name, variable in (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER")):
        if name in params:
            monkeypatch.setenv(variable, str(params[name]))
    monkeypatch.setenv("PGDATABASE", str(params["dbname"]))
    made = open_store("postgresql://?schema=from_env")
    try:
        with made.transaction() as tx:
            assert tx.new_id("ALR") == "ALR-1"
    finally:
        made.drop()  # type: ignore[attr-defined]


def test_an_unreachable_server_is_a_store_error() -> None:
    """No server at the address: ``StoreError`` (the command line's exit 4), never a
    driver error."""
    from incident_lifecycle import PostgresStore

    with pytest.raises(StoreError, match="cannot connect"):
        PostgresStore("host=127.0.0.1 port=1 dbname=x connect_timeout=1", timeout=1)


def _terminate_others(store: Any) -> int:
    """End every other session on the store's database (the server's own way to drop them)."""
    with store.connect() as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0])


def test_a_connection_lost_mid_transaction_writes_nothing_and_the_next_reconnects(
    store: Any,
) -> None:
    """The server ends the session inside a transaction: ``StoreError``, nothing of it kept;
    the next transaction runs on a fresh connection."""

    def lose_the_connection() -> None:
        with store.transaction() as tx:
            tx.new_id("INC")
            assert _terminate_others(store) >= 1
            tx.new_id("INC")

    with pytest.raises(StoreError, match="connection"):
        lose_the_connection()
    with store.transaction() as tx:
        assert tx.new_id("INC") == "INC-1"  # the lost transaction's id was never committed


def test_idle_pooled_connections_lost_are_replaced_before_a_transaction(store: Any) -> None:
    """Pooled connections dropped while idle (a server restart): the next transactions
    reconnect without an error, since nothing had been sent on them."""
    with store.transaction() as tx:
        tx.new_id("INC")
    _terminate_others(store)
    time.sleep(0.2)
    for _ in range(3):
        with store.transaction() as tx:
            tx.new_id("INC")
    with store.transaction() as tx:
        assert tx.new_id("INC") == "INC-5"


def test_a_deadlock_is_a_conflict_the_desk_retries(store: Any) -> None:
    """Two transactions locking two rows in opposite orders: the server breaks the cycle and
    the loser gets ``ConcurrencyConflict``; the winner commits."""
    with store.transaction() as tx:
        tx.new_id("A")
        tx.new_id("B")
    barrier = threading.Barrier(2, timeout=10)
    outcomes: dict[str, object] = {}

    def take(first: str, second: str) -> None:
        try:
            with store.transaction() as tx:
                tx.new_id(first)
                barrier.wait()
                tx.new_id(second)
            outcomes[first] = "committed"
        except IncidentLifecycleError as error:
            outcomes[first] = error

    threads = [threading.Thread(target=take, args=pair) for pair in (("A", "B"), ("B", "A"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    kinds = sorted(type(v).__name__ if not isinstance(v, str) else v for v in outcomes.values())
    assert kinds == ["ConcurrencyConflict", "committed"], outcomes


def test_relays_on_two_instances_skip_each_others_claims(store: Any) -> None:
    """While one instance holds a claim open, another claims around it without waiting,
    and never a later entry of a recipient whose earlier one is held."""
    other = type(store)(store.dsn, schema=store.schema)
    try:
        with store.transaction() as tx:
            tx.enqueue([note("a1", "team-a"), note("a2", "team-a"), note("b1", "team-b")], T0)
        with store.transaction() as first:
            held = [e.key for e in first.claim_due(T0, 1, T0 + timedelta(minutes=2), "one")]
            assert held == ["a1"]
            started = time.monotonic()
            with other.transaction() as second:
                got = [e.key for e in second.claim_due(T0, 10, T0 + timedelta(minutes=2), "two")]
            assert time.monotonic() - started < 2
            assert got == ["b1"]  # a2 waits for a1, locked or not
    finally:
        other.close()


def test_an_idle_relay_is_woken_by_an_enqueue_from_another_instance(store: Any) -> None:
    """The waker returns as soon as another instance commits an enqueue; else it times out."""
    waker = store.waker()
    other = type(store)(store.dsn, schema=store.schema)
    try:
        assert waker.wait(0.05) is False  # listening now; nothing enqueued
        timer = threading.Timer(0.3, lambda: _enqueue(other, "w1"))
        started = time.monotonic()
        timer.start()
        assert waker.wait(10) is True
        assert time.monotonic() - started < 5
        timer.join()
    finally:
        waker.close()
        other.close()


def _enqueue(store: Any, key: str) -> None:
    with store.transaction() as tx:
        tx.enqueue([note(key, "team-w")], T0)


def test_two_desks_racing_to_validate_and_dismiss_agree_on_one_outcome(store: Any) -> None:
    """Validate and dismiss of one potential incident at once, on two instances: one wins,
    the other is refused with a typed error, and the timeline tells one story."""
    clock = FakeClock(START)
    desks = [
        IncidentDesk(
            store=s, notifier=RecordingNotifier(), ownership=OWNERSHIP, clock=clock, seed=0
        )
        for s in (store, type(store)(store.dsn, schema=store.schema))
    ]
    desks[0].receive_alert(signal("fp-1"), by=MONITOR)
    barrier = threading.Barrier(2, timeout=10)
    outcomes: list[object] = [None, None]

    def act(index: int) -> None:
        barrier.wait()
        try:
            if index == 0:
                outcomes[0] = desks[0].validate_incident("INC-1", ENG_SUPPORT, severity="SEV2")
            else:
                outcomes[1] = desks[1].dismiss_incident("INC-1", ENG_SUPPORT, "noise")
        except IncidentLifecycleError as error:
            outcomes[index] = error

    threads = [threading.Thread(target=act, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    refused = [o for o in outcomes if isinstance(o, IncidentLifecycleError)]
    assert len(refused) == 1, outcomes
    assert not isinstance(refused[0], ConcurrencyConflict)  # retried, then refused by name
    final = desks[0].incident("INC-1")
    names = [e.name for e in desks[0].timeline("INC-1")]
    assert ("IncidentValidated" in names) != ("IncidentDismissed" in names)
    assert final.status.value == ("investigating" if "IncidentValidated" in names else "dismissed")
    desks[1].store.close()  # type: ignore[attr-defined]
