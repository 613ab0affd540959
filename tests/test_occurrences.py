"""Counts measure occurrences, not deliveries: a re-sent start counts nothing, on both stores."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import desk_support as support
from incident_lifecycle import Alert, AlertSignal
from incident_lifecycle.adapters.sqlite import SCHEMA_VERSION, SQLiteStore
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.domain.alerts import is_new_occurrence, new_occurrences
from incident_lifecycle.ports import Store
from test_sqlite_store import as_schema_2

store_factory = support.store_factory
store = support.store
clock = support.clock
notifier = support.notifier
desk = support.desk

T0 = support.START
MINUTE = timedelta(minutes=1)


def firing(fp: str, start: datetime | None, seen: datetime = T0) -> AlertSignal:
    """A signal of ``fp`` whose condition started at ``start``, seen at ``seen``."""
    return attrs.evolve(support.signal(fp), started_at=start, observed_at=seen)


def test_the_occurrence_rule() -> None:
    """No start, or a start later than the latest, is new; an equal or earlier start is not."""
    assert is_new_occurrence(T0, None)
    assert is_new_occurrence(None, T0)
    assert is_new_occurrence(T0, T0 + MINUTE)
    assert not is_new_occurrence(T0, T0)
    assert not is_new_occurrence(T0, T0 - MINUTE)
    assert new_occurrences(T0, [T0 - MINUTE, T0, T0 + MINUTE, T0 + MINUTE]) == (1, T0 + MINUTE)
    assert new_occurrences(T0, []) == (0, T0)


def test_a_re_sent_batch_counts_nothing_new(desk: IncidentDesk) -> None:
    """Four alerts sent twice (a group re-sent at its interval) count four, not eight."""
    batch = [firing(f"fp-{n}", T0 - 5 * MINUTE) for n in range(4)]
    first = desk.receive_alerts(batch)
    again = desk.receive_alerts([attrs.evolve(s, observed_at=T0 + 5 * MINUTE) for s in batch])
    assert (first.new_alerts, again.new_alerts, again.deduplicated) == (4, 0, 4)
    alerts = desk.alerts_of(first.incidents_started[0])
    assert [(a.count, a.last_seen_at, a.started_at) for a in alerts] == [
        (1, T0 + 5 * MINUTE, T0 - 5 * MINUTE)
    ] * 4


def test_a_new_start_is_a_new_occurrence(desk: IncidentDesk) -> None:
    """The same fingerprint firing again with a later start counts once more."""
    desk.receive_alert(firing("fp", T0))
    desk.receive_alert(firing("fp", T0 + 30 * MINUTE, T0 + 30 * MINUTE))
    receipt = desk.receive_alert(firing("fp", T0, T0 + 31 * MINUTE))  # a late re-send
    alert = desk.alert(receipt.alert_id)
    assert (alert.count, alert.started_at, alert.last_seen_at) == (
        2,
        T0 + 30 * MINUTE,
        T0 + 31 * MINUTE,
    )


def test_signals_without_a_start_each_count(desk: IncidentDesk) -> None:
    """Triggers without a start (PagerDuty's) are each an occurrence, even in one batch."""
    report = desk.receive_alerts([firing("fp", None), firing("fp", None), firing("fp", T0)])
    assert desk.alert(report.receipt("fp").alert_id).count == 3
    desk.receive_alerts([firing("fp", None), firing("fp", T0)])
    assert desk.alert(report.receipt("fp").alert_id).count == 4


def test_one_batch_counts_each_distinct_start_once(desk: IncidentDesk) -> None:
    """Within a batch, signals sharing a start are one occurrence; the latest start is kept."""
    later = T0 + MINUTE
    report = desk.receive_alerts([firing("fp", T0), firing("fp", later), firing("fp", T0)])
    alert = desk.alert(report.receipt("fp").alert_id)
    assert (alert.count, alert.started_at) == (2, later)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.lists(st.none() | st.integers(0, 4).map(lambda n: T0 + n * MINUTE), max_size=4),
        min_size=1,
        max_size=4,
    )
)
def test_any_sequence_of_deliveries_counts_its_occurrences(
    store_factory: Callable[[], Store], deliveries: list[list[datetime | None]]
) -> None:
    """However starts are delivered, re-sent and batched, the count is the rule's."""
    desk = support.make_desk(store=store_factory())
    count = 0
    latest: datetime | None = None
    alert_id = None
    for batch in deliveries:
        if not batch:
            continue
        starts = [s for s in batch if s is not None]
        plain = len(batch) - len(starts)
        if alert_id is None:
            count, latest = plain + len(set(starts)), max(starts, default=None)
        else:
            more, latest = new_occurrences(latest, starts)
            count += plain + more
        report = desk.receive_alerts([firing("fp", s) for s in batch])
        alert_id = report.receipt("fp").alert_id
    if alert_id is not None:
        alert = desk.alert(alert_id)
        assert (alert.count, alert.started_at) == (count, latest)


# -- schema 3 ---------------------------------------------------------------------------


def _raw(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_schema_2_database_is_migrated_and_its_alerts_read_back(tmp_path: Path) -> None:
    """Opening a schema-2 file adds the source's facts to its alerts; old alerts have none."""
    path = tmp_path / "old.db"
    first = SQLiteStore(path)
    desk = support.make_desk(store=first)
    report = desk.receive_alert(support.signal("fp-old"))
    first.close()
    as_schema_2(path)
    assert "started_at" not in {row[1] for row in _raw(path, "PRAGMA table_info(alerts)")}

    second = SQLiteStore(path)
    try:
        assert second.schema_version == SCHEMA_VERSION >= 3
        desk = support.make_desk(store=second)
        old: Alert = desk.alert(report.alert_id)
        assert (old.started_at, old.severity_hint, old.description, dict(old.links)) == (
            None,
            None,
            None,
            {},
        )
        desk.receive_alert(firing("fp-old", T0))
        desk.receive_alert(firing("fp-old", T0))
        assert desk.alert(report.alert_id).count == 2  # no start before: the first start counts
        fresh = attrs.evolve(
            firing("fp-new", T0),
            severity_hint="SEV2",
            description="p99 above 2 s\nfor 10 minutes",
            links={"runbook": "https://runbooks.example.com/" + "x" * 1_500},
            dedup_key="k" * 600,
            source_group='{}:{alertname="Latency"}',
        )
        stored = desk.alert(desk.receive_alert(fresh).alert_id)
        assert (stored.severity_hint, stored.description, dict(stored.links)) == (
            "SEV2",
            "p99 above 2 s\nfor 10 minutes",
            dict(fresh.links),
        )
        assert (stored.dedup_key, stored.source_group) == (fresh.dedup_key, fresh.source_group)
    finally:
        second.close()


@pytest.mark.parametrize("column", ["started_at", "links"])
def test_a_new_database_has_the_schema_3_columns(tmp_path: Path, column: str) -> None:
    """A database created now has the alert columns schema 3 added."""
    SQLiteStore(tmp_path / "new.db").close()
    assert column in {row[1] for row in _raw(tmp_path / "new.db", "PRAGMA table_info(alerts)")}
