"""``InMemoryStore``: transactions, optimistic concurrency, uniqueness, indexes and the outbox."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from incident_lifecycle import (
    Actor,
    Alert,
    AlertStatus,
    ConcurrencyConflict,
    CustomerReport,
    IncidentStatus,
    NotFound,
    ReportStatus,
    ServiceIncident,
    StatusUpdate,
    StoreError,
)
from incident_lifecycle.adapters import InMemoryStore
from incident_lifecycle.adapters.memory import _DueQueue
from incident_lifecycle.domain.events import IncidentAcknowledged
from incident_lifecycle.lifecycle import ALERT_LIFECYCLE, INCIDENT_LIFECYCLE, REPORT_LIFECYCLE
from incident_lifecycle.notifications import FanOut, Notification
from incident_lifecycle.ports import OutboxState, OutboxStats

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
ENGINEER = Actor(name="ana", role="engineering", team="support-eng")


# -- builders -----------------------------------------------------------------


def make_alert(
    alert_id: str, fingerprint: str, incident_id: str | None = None, *, active: bool = True
) -> Alert:
    return Alert(
        id=alert_id,
        fingerprint=fingerprint,
        product="support",
        kind="latency",
        summary="p99 above 2 s",
        first_seen_at=T0,
        last_seen_at=T0,
        incident_id=incident_id,
        active=active,
    )


def make_incident(
    incident_id: str,
    *,
    product: str = "support",
    group_key: str | None = None,
    detected_at: datetime = T0,
    status: str = "detected",
) -> ServiceIncident:
    incident = ServiceIncident(
        id=incident_id,
        title=f"latency on {product}",
        products=(product,),
        owner_team=f"{product}-eng",
        detected_at=detected_at,
        group_key=group_key,
    )
    steps = {
        "detected": [],
        "investigating": ["validate"],
        "resolved": ["validate", "resolve"],
        "dismissed": ["dismiss"],
    }[status]
    for event in steps:
        INCIDENT_LIFECYCLE.fire(incident, event, now=detected_at)
    return incident


def make_report(
    ticket_id: str,
    *,
    product: str = "support",
    reported_at: datetime = T0,
    status: ReportStatus = ReportStatus.RECEIVED,
    incident_id: str | None = None,
) -> CustomerReport:
    return CustomerReport(
        ticket_id=ticket_id,
        account_id=f"acct-{ticket_id}",
        product=product,
        symptom="slow",
        summary="pages are slow",
        reported_at=reported_at,
        status=status,
        incident_id=incident_id,
    )


def make_update(update_id: str, incident_id: str) -> StatusUpdate:
    return StatusUpdate(
        id=update_id,
        incident_id=incident_id,
        body="Still looking.",
        visibility="internal",
        status="investigating",
        posted_at=T0,
        author=ENGINEER,
    )


def note(key: str, recipient: str = "team-a") -> Notification:
    return Notification(
        key=key,
        recipient=recipient,
        recipient_kind="team",
        topic="handoff",
        incident_id=None,
        subject="Incident handed off",
        body="Over to you.",
        created_at=T0,
    )


class _Abort(Exception):
    """Raised inside a transaction to roll it back."""


def _fail_after(store: InMemoryStore, *steps: Callable[[Any], object]) -> None:
    with store.transaction() as tx:
        for step in steps:
            step(tx)
        raise _Abort


def rolled_back(store: InMemoryStore, *steps: Callable[[Any], object]) -> None:
    """Run ``steps`` in one transaction that then raises (and so rolls back)."""
    with pytest.raises(_Abort):
        _fail_after(store, *steps)


def due_keys(store: InMemoryStore, at: datetime) -> list[str]:
    """The keys a relay would claim at ``at`` (probed in a transaction that is rolled back)."""
    found: list[str] = []
    rolled_back(
        store, lambda tx: found.extend(e.key for e in tx.claim_due(at, 10_000, at + HOUR, "p"))
    )
    return found


# -- a populated store and a full view of it ----------------------------------

INCIDENT_IDS = ("INC-1", "INC-2", "INC-9")
ALERT_IDS = ("ALR-1", "ALR-2", "ALR-3", "ALR-9")
FINGERPRINTS = ("fp-1", "fp-2", "fp-3", "fp-9")
TICKETS = ("T-1", "T-2", "T-3", "T-9")
KEYS = ("k-a1", "k-a2", "k-a3", "k-b1", "k-c1", "k-d1", "k-e1", "k-f1", "k-g1")


def populated_store() -> InMemoryStore:
    """Two incidents (one detected, one open), alerts, reports, links and a varied outbox."""
    store = InMemoryStore()
    with store.transaction() as tx:
        tx.add_incident(make_incident("INC-1", group_key="support|eu"))
        tx.add_incident(
            make_incident("INC-2", product="chat", detected_at=T0 + MINUTE, status="investigating")
        )
        tx.add_alerts(
            [
                make_alert("ALR-1", "fp-1", "INC-1"),
                make_alert("ALR-2", "fp-2", "INC-2"),
                make_alert("ALR-3", "fp-3", "INC-1"),
            ]
        )
        tx.add_report(
            make_report("T-1", product="chat", status=ReportStatus.LINKED, incident_id="INC-2")
        )
        tx.add_report(make_report("T-2", reported_at=T0 + MINUTE))
        tx.add_report(
            make_report("T-3", product="chat", status=ReportStatus.LINKED, incident_id="INC-2")
        )
        for ticket in ("T-1", "T-2", "T-3"):
            tx.link(ticket, "INC-2")
        tx.add_update(make_update("UPD-1", "INC-2"))
        tx.append([IncidentAcknowledged(incident_id="INC-2", actor=ENGINEER, at=T0)])
        tx.enqueue([note("k-a1"), note("k-a2"), note("k-b1", "team-b"), note("k-c1", "team-c")], T0)
        tx.enqueue([note("k-d1", "team-d"), note("k-e1", "team-e"), note("k-g1", "team-g")], T0)
    with store.transaction() as tx:
        claimed = tx.claim_due(T0, 10, T0 + 2 * MINUTE, "relay-1")
        assert {e.key for e in claimed} == {"k-a1", "k-b1", "k-c1", "k-d1", "k-e1", "k-g1"}
        tx.mark_dead("k-c1", "refused", T0)
        tx.mark_dead("k-g1", "refused", T0)
        tx.mark_delivered(["k-e1"], T0)
        tx.schedule_retry("k-a1", T0 + MINUTE, "busy", T0)
        tx.schedule_retry("k-b1", T0 + 5 * MINUTE, "busy", T0)
    return store


def _plain(value: Any) -> Any:
    if attrs.has(type(value)):
        return attrs.asdict(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _get(read: Callable[[str], Any], key: str) -> Any:
    try:
        return _plain(read(key))
    except NotFound:
        return None


def snapshot(store: InMemoryStore) -> dict[str, Any]:
    """Everything observable about the known records, as plain values."""
    with store.transaction() as tx:
        view = {
            "alerts": {a: _get(tx.alert, a) for a in ALERT_IDS},
            "active": _plain(dict(tx.active_alerts(FINGERPRINTS))),
            "alerts_of": {i: _plain(list(tx.alerts_of(i))) for i in INCIDENT_IDS},
            "incidents": {i: _get(tx.incident, i) for i in INCIDENT_IDS},
            "active_incidents": _plain(list(tx.active_incidents())),
            "by_product": {
                p: _plain(list(tx.active_incidents(product=p))) for p in ("support", "chat")
            },
            "detected": _plain(list(tx.incidents_detected_between(None, None))),
            "reports": {t: _plain(tx.report(t)) for t in TICKETS},
            "reports_since": _plain(list(tx.reports_since("support", T0))),
            "links": {t: tx.incident_of(t) for t in TICKETS},
            "linked": {i: list(tx.linked_tickets(i)) for i in INCIDENT_IDS},
            "linked_reports": {i: _plain(list(tx.reports_linked_to(i))) for i in INCIDENT_IDS},
            "recipients": {i: list(tx.linked_recipients(i)) for i in INCIDENT_IDS},
            "updates": {i: _plain(list(tx.updates(i))) for i in INCIDENT_IDS},
            "timeline": {i: _plain(list(tx.timeline(i))) for i in INCIDENT_IDS},
            "outbox": {k: tx.outbox_entry(k) for k in KEYS},
            "dead": list(tx.dead_letters()),
            "stats": tx.outbox_stats(),
            "next_due": tx.next_due_at(),
        }
    view["due_now"] = due_keys(store, T0 + 2 * MINUTE)
    view["due_later"] = due_keys(store, T0 + HOUR)
    return view


def _save_alert(tx: Any) -> None:
    alert = tx.alert("ALR-1")
    ALERT_LIFECYCLE.fire(alert, "dismiss", now=T0)
    alert.active = False
    tx.save_alerts([alert])


def _move_alert(tx: Any) -> None:
    alert = tx.alert("ALR-1")
    alert.incident_id = "INC-2"
    tx.save_alerts([alert])


def _fanout() -> FanOut:
    return FanOut(
        key_prefix="INC-2/UPD-9",
        recipients=("T-1", "T-3"),
        topic="status_update",
        incident_id="INC-2",
        subject="Update",
        body="Fixed soon.",
        created_at=T0,
    )


def _save_incident(tx: Any) -> None:
    incident = tx.incident("INC-1")
    INCIDENT_LIFECYCLE.fire(incident, "validate", now=T0 + HOUR)
    tx.save_incident(incident)


def _save_report(tx: Any) -> None:
    report = tx.report("T-2")
    REPORT_LIFECYCLE.fire(report, "troubleshoot", now=T0)
    tx.save_reports([report])


CHANGES: dict[str, Callable[[Any], object]] = {
    "alert added": lambda tx: tx.add_alerts([make_alert("ALR-9", "fp-9", "INC-1")]),
    "alert saved": _save_alert,
    "alert moved": _move_alert,
    "repeats counted": lambda tx: tx.count_repeats(
        {"fp-1": 5, "fp-2": 1}, {"fp-1": T0 + HOUR, "fp-2": T0}
    ),
    "incident added": lambda tx: tx.add_incident(make_incident("INC-9", group_key="chat|us")),
    "incident saved": _save_incident,
    "report added": lambda tx: tx.add_report(make_report("T-9", reported_at=T0 + HOUR)),
    "report saved": _save_report,
    "ticket linked": lambda tx: tx.link("T-2", "INC-1"),
    "ticket relinked": lambda tx: tx.link("T-1", "INC-1"),
    "ticket unlinked": lambda tx: tx.unlink("T-1"),
    "links moved": lambda tx: tx.move_links("INC-2", "INC-1"),
    "linked reports solved in bulk": lambda tx: tx.transition_linked_reports(
        "INC-2", ReportStatus.LINKED, ReportStatus.SOLVED, T0 + HOUR
    ),
    "update added": lambda tx: tx.add_update(make_update("UPD-9", "INC-1")),
    "events appended": lambda tx: tx.append(
        [IncidentAcknowledged(incident_id="INC-1", actor=ENGINEER, at=T0)]
    ),
    "notifications enqueued": lambda tx: tx.enqueue([note("k-a3"), note("k-f1", "team-f")], T0),
    "entries claimed": lambda tx: tx.claim_due(T0 + 10 * MINUTE, 10, T0 + HOUR, "relay-2"),
    "entry delivered": lambda tx: tx.mark_delivered(["k-a1", "k-d1"], T0),
    "entry delivered, then due time read": lambda tx: (
        tx.mark_delivered(["k-a1", "k-a2"], T0),
        tx.next_due_at(),
    ),
    "retry scheduled": lambda tx: tx.schedule_retry("k-d1", T0 + 3 * HOUR, "later", T0),
    "entry dead-lettered": lambda tx: tx.mark_dead("k-a1", "refused", T0),
    "dead letter redriven": lambda tx: tx.redrive(["k-c1"], T0 + MINUTE),
    "dead letter redriven, then delivered": lambda tx: (
        tx.redrive(["k-c1"], T0 + MINUTE),
        tx.mark_delivered(["k-c1"], T0 + MINUTE),
    ),
    "fan-out enqueued": lambda tx: tx.enqueue_fanout(_fanout(), T0),
}


_SINGLE_CHANGES = list(CHANGES.values())


def _everything(tx: Any) -> None:
    for change in _SINGLE_CHANGES:
        change(tx)


CHANGES["every change at once"] = _everything


# -- transactions ---------------------------------------------------------------


class TestRollback:
    @pytest.mark.parametrize("name", list(CHANGES))
    def test_change_commits_when_the_block_ends_normally(self, name: str) -> None:
        """Each kind of change is visible after its transaction commits (the probe sees it)."""
        store = populated_store()
        before = snapshot(store)
        with store.transaction() as tx:
            CHANGES[name](tx)
        assert snapshot(store) != before

    @pytest.mark.parametrize("name", list(CHANGES))
    def test_change_is_rolled_back_on_an_exception(self, name: str) -> None:
        """An exception inside the block undoes every change made in it, indexes included."""
        store = populated_store()
        before = snapshot(store)
        rolled_back(store, CHANGES[name])
        assert snapshot(store) == before

    def test_rollback_after_a_rolled_back_claim_keeps_entries_claimable(self) -> None:
        """Entries whose claim was rolled back are claimed by the next relay, in the same order."""
        store = populated_store()
        expected = due_keys(store, T0 + HOUR)
        for _ in range(3):
            rolled_back(
                store,
                lambda tx: tx.claim_due(T0 + HOUR, 100, T0 + 2 * HOUR, "relay-x"),
                lambda tx: tx.next_due_at(),
            )
        with store.transaction() as tx:
            claimed = [e.key for e in tx.claim_due(T0 + HOUR, 100, T0 + 2 * HOUR, "relay-y")]
        assert claimed == expected
        assert claimed

    def test_an_ended_transaction_refuses_further_use(self) -> None:
        """A transaction object used after its block ended raises ``StoreError``."""
        store = InMemoryStore()
        with store.transaction() as tx:
            pass
        with pytest.raises(StoreError):
            tx.new_id("INC")
        with pytest.raises(StoreError):
            tx.incident("INC-1")

    def test_nested_transactions_are_refused_and_the_outer_one_still_commits(self) -> None:
        """Opening a transaction inside another raises ``StoreError``; the outer one goes on."""
        store = InMemoryStore()
        with store.transaction() as outer:
            outer.add_incident(make_incident("INC-1"))
            with pytest.raises(StoreError, match="nest"), store.transaction():
                pass  # pragma: no cover - never entered
            outer.add_incident(make_incident("INC-2", group_key="g"))
        with store.transaction() as tx:
            assert [i.id for i in tx.active_incidents()] == ["INC-1", "INC-2"]

    def test_the_store_is_usable_after_a_refused_nested_transaction(self) -> None:
        """A refused nested transaction leaves no stale "in a transaction" mark behind."""
        store = InMemoryStore()
        with pytest.raises(StoreError), store.transaction(), store.transaction():
            pass  # pragma: no cover - never entered
        with store.transaction() as tx:
            assert tx.new_id("INC") == "INC-1"


class TestIds:
    def test_new_id_counts_per_prefix(self) -> None:
        """Ids are the prefix, a dash and a number counted per prefix."""
        store = InMemoryStore()
        with store.transaction() as tx:
            ids = [tx.new_id("INC"), tx.new_id("ALR"), tx.new_id("INC")]
        assert ids == ["INC-1", "ALR-1", "INC-2"]

    def test_new_id_rolls_back_with_the_transaction(self) -> None:
        """An id handed out by a rolled-back transaction comes again, as on SQLite; one a
        committed transaction handed out never does."""
        store = InMemoryStore()
        committed: list[str] = []
        for attempt in range(20):
            try:
                with store.transaction() as tx:
                    given = tx.new_id("INC")
                    if attempt % 3 == 0:
                        raise _Abort
                    committed.append(given)
            except _Abort:
                pass
        assert committed == [f"INC-{n}" for n in range(1, len(committed) + 1)]


class TestOptimisticConcurrency:
    def test_saving_an_incident_bumps_both_versions(self) -> None:
        """A successful save raises the stored and the caller's version by one."""
        store = populated_store()
        with store.transaction() as tx:
            incident = tx.incident("INC-1")
            tx.save_incident(incident)
            assert incident.version == 1
        with store.transaction() as tx:
            assert tx.incident("INC-1").version == 1

    def test_stale_incident_raises_and_writes_nothing(self) -> None:
        """Saving an incident read before another save raises and leaves the winner's data."""
        store = populated_store()
        with store.transaction() as tx:
            first, second = tx.incident("INC-2"), tx.incident("INC-2")
        first.title = "winner"
        second.title = "loser"
        with store.transaction() as tx:
            tx.save_incident(first)
        with store.transaction() as tx:
            with pytest.raises(ConcurrencyConflict) as caught:
                tx.save_incident(second)
            stored = tx.incident("INC-2")
        assert (caught.value.expected, caught.value.actual) == (0, 1)
        assert (stored.title, stored.version, second.version) == ("winner", 1, 0)

    def test_stale_alert_in_a_batch_writes_none_of_the_batch(self) -> None:
        """``save_alerts`` checks every version first: one stale alert means none is saved."""
        store = populated_store()
        with store.transaction() as tx:
            fresh, stale = tx.alert("ALR-1"), tx.alert("ALR-2")
            tx.save_alerts([tx.alert("ALR-2")])
        before = snapshot(store)
        fresh.active = False
        stale.active = False
        with store.transaction() as tx:
            with pytest.raises(ConcurrencyConflict):
                tx.save_alerts([fresh, stale])
            assert tx.alert("ALR-1").active
        assert snapshot(store) == before
        assert fresh.version == 0

    def test_stale_report_in_a_batch_writes_none_of_the_batch(self) -> None:
        """``save_reports`` is all or none under a version conflict."""
        store = populated_store()
        with store.transaction() as tx:
            fresh, stale = tx.report("T-2"), tx.report("T-1")
            assert fresh is not None
            assert stale is not None
            tx.save_reports([tx.report("T-1")])
        REPORT_LIFECYCLE.fire(fresh, "troubleshoot", now=T0)
        before = snapshot(store)
        with store.transaction() as tx, pytest.raises(ConcurrencyConflict):
            tx.save_reports([fresh, stale])
        assert snapshot(store) == before

    def test_saving_an_unknown_entity_raises_not_found(self) -> None:
        """Saving something never added raises ``NotFound``, not a silent insert."""
        store = InMemoryStore()
        with store.transaction() as tx:
            with pytest.raises(NotFound):
                tx.save_incident(make_incident("INC-404"))
            with pytest.raises(NotFound):
                tx.save_alerts([make_alert("ALR-404", "fp")])
            with pytest.raises(NotFound):
                tx.save_reports([make_report("T-404")])

    def test_repeats_are_counted_without_touching_versions(self) -> None:
        """``count_repeats`` adds to the count, keeps the latest last-seen and bumps no version."""
        store = populated_store()
        with store.transaction() as tx:
            counted = tx.count_repeats(
                {"fp-1": 4, "fp-unknown": 9}, {"fp-1": T0 + HOUR, "fp-unknown": T0}
            )
            assert counted == {"fp-1": ("ALR-1", "INC-1")}
            tx.count_repeats({"fp-1": 2}, {"fp-1": T0 + MINUTE})
        with store.transaction() as tx:
            alert = tx.alert("ALR-1")
        assert (alert.count, alert.last_seen_at, alert.version) == (7, T0 + HOUR, 0)

    def test_saving_an_alert_never_overwrites_its_count(self) -> None:
        """A stale count on a saved alert does not undo repeats counted meanwhile."""
        store = populated_store()
        with store.transaction() as tx:
            alert = tx.alert("ALR-1")
        with store.transaction() as tx:
            tx.count_repeats({"fp-1": 10}, {"fp-1": T0})
        alert.count = 1
        with store.transaction() as tx:
            tx.save_alerts([alert])
            assert tx.alert("ALR-1").count == 11


class TestUniqueness:
    def test_duplicate_ids_conflict(self) -> None:
        """Adding an alert, incident or report whose id is taken raises ``ConcurrencyConflict``."""
        store = populated_store()
        before = snapshot(store)
        for add in (
            lambda tx: tx.add_alerts([make_alert("ALR-1", "fp-new", active=False)]),
            lambda tx: tx.add_incident(make_incident("INC-1", group_key="other")),
            lambda tx: tx.add_report(make_report("T-1")),
        ):
            with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
                add(tx)
        assert snapshot(store) == before

    def test_one_active_alert_per_fingerprint(self) -> None:
        """A second active alert for a fingerprint conflicts; an inactive one does not."""
        store = populated_store()
        with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
            tx.add_alerts([make_alert("ALR-9", "fp-1")])
        with store.transaction() as tx:
            tx.add_alerts([make_alert("ALR-9", "fp-1", active=False)])
            assert tx.active_alerts(["fp-1"])["fp-1"].id == "ALR-1"

    def test_two_active_alerts_of_one_fingerprint_in_one_batch_conflict(self) -> None:
        """A batch holding two active alerts of one fingerprint is refused."""
        store = InMemoryStore()
        with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
            tx.add_alerts([make_alert("ALR-1", "fp"), make_alert("ALR-2", "fp")])
        with store.transaction() as tx:
            assert tx.active_alerts(["fp"]) == {}

    def test_reactivating_an_alert_conflicts_with_the_active_one(self) -> None:
        """Saving an old alert as active while another holds its fingerprint conflicts."""
        store = populated_store()
        with store.transaction() as tx:
            tx.add_alerts([make_alert("ALR-9", "fp-1", active=False)])
        with store.transaction() as tx:
            old = tx.alert("ALR-9")
            old.active = True
            with pytest.raises(ConcurrencyConflict):
                tx.save_alerts([old])

    def test_a_fingerprint_is_free_again_once_its_alert_is_inactive(self) -> None:
        """After its alert stops being active, a fingerprint may have a new active alert."""
        store = populated_store()
        with store.transaction() as tx:
            _save_alert(tx)
            tx.add_alerts([make_alert("ALR-9", "fp-1")])
            assert tx.active_alerts(["fp-1"])["fp-1"].id == "ALR-9"

    def test_one_detected_incident_per_group_key(self) -> None:
        """A second detected incident for a group key conflicts until the first is validated."""
        store = populated_store()
        with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
            tx.add_incident(make_incident("INC-9", group_key="support|eu"))
        with store.transaction() as tx:
            _save_incident(tx)
            tx.add_incident(make_incident("INC-9", group_key="support|eu"))
            found = tx.active_incidents(group_key="support|eu")
        assert [(i.id, i.status) for i in found] == [
            ("INC-1", IncidentStatus.INVESTIGATING),
            ("INC-9", IncidentStatus.DETECTED),
        ]

    def test_open_incidents_may_share_a_group_key(self) -> None:
        """The rule only holds for detected incidents: open ones of a key may coexist."""
        store = InMemoryStore()
        with store.transaction() as tx:
            for number in range(3):
                tx.add_incident(
                    make_incident(f"INC-{number}", group_key="g", status="investigating")
                )
            assert len(tx.active_incidents(group_key="g")) == 3


class TestCopies:
    def test_entities_read_are_copies(self) -> None:
        """Changing an alert, incident or report read from the store changes nothing stored."""
        store = populated_store()
        before = snapshot(store)
        with store.transaction() as tx:
            alert = tx.alert("ALR-1")
            alert.count = 99
            alert.active = False
            incident = tx.incident("INC-1")
            incident.title = "changed"
            incident.status = IncidentStatus.RESOLVED
            report = tx.report("T-1")
            assert report is not None
            report.incident_id = None
            for found in tx.active_incidents():
                found.title = "changed"
            for linked in tx.reports_linked_to("INC-2"):
                linked.summary = "changed"
            tx.active_alerts(["fp-2"])["fp-2"].status = AlertStatus.DISMISSED
        assert snapshot(store) == before

    def test_entities_added_are_copied_in(self) -> None:
        """Changing an entity after adding it does not change the stored one."""
        store = InMemoryStore()
        incident = make_incident("INC-1")
        alert = make_alert("ALR-1", "fp-1", "INC-1")
        report = make_report("T-1")
        with store.transaction() as tx:
            tx.add_incident(incident)
            tx.add_alerts([alert])
            tx.add_report(report)
        incident.title = "changed"
        alert.count = 50
        report.summary = "changed"
        with store.transaction() as tx:
            assert tx.incident("INC-1").title == "latency on support"
            assert tx.alert("ALR-1").count == 1
            stored = tx.report("T-1")
            assert stored is not None
            assert stored.summary == "pages are slow"

    def test_returned_sequences_are_the_callers(self) -> None:
        """Lists returned by lookups can be changed without changing the store."""
        store = populated_store()
        before = snapshot(store)
        with store.transaction() as tx:
            for found in (
                tx.linked_tickets("INC-2"),
                tx.updates("INC-2"),
                tx.timeline("INC-2"),
                tx.alerts_of("INC-1"),
                tx.dead_letters(),
            ):
                assert isinstance(found, list)
                found.clear()
        assert snapshot(store) == before


class TestThreads:
    def test_concurrent_transactions_lose_nothing(self) -> None:
        """8 threads x 200 transactions of ids, counts, links and saves end in the exact state."""
        store = InMemoryStore()
        threads, rounds = 8, 200
        with store.transaction() as tx:
            for number in range(threads):
                tx.add_incident(make_incident(f"INC-{number}", group_key=f"g{number}"))
            tx.add_alerts([make_alert("ALR-0", "fp-shared", "INC-0")])
        ids: list[list[str]] = [[] for _ in range(threads)]
        errors: list[BaseException] = []
        barrier = threading.Barrier(threads)

        def work(number: int) -> None:
            try:
                barrier.wait()
                for step in range(rounds):
                    with store.transaction() as tx:
                        ids[number].append(tx.new_id("ID"))
                        tx.count_repeats({"fp-shared": 1}, {"fp-shared": T0})
                        tx.link(f"T-{number}-{step}", f"INC-{(number + step) % threads}")
                        incident = tx.incident(f"INC-{number}")
                        incident.signals_since_digest += 1
                        tx.save_incident(incident)
                        tx.enqueue([note(f"k-{number}-{step}", f"team-{number}")], T0)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        every_id = [i for chunk in ids for i in chunk]
        assert len(set(every_id)) == len(every_id) == threads * rounds
        assert all(chunk == sorted(chunk, key=lambda i: int(i[3:])) for chunk in ids)
        with store.transaction() as tx:
            assert tx.alert("ALR-0").count == 1 + threads * rounds
            linked = [t for n in range(threads) for t in tx.linked_tickets(f"INC-{n}")]
            assert len(linked) == len(set(linked)) == threads * rounds
            for number in range(threads):
                incident = tx.incident(f"INC-{number}")
                assert (incident.signals_since_digest, incident.version) == (rounds, rounds)
            assert tx.outbox_stats().pending == threads * rounds

    def test_a_stale_write_from_another_thread_conflicts(self) -> None:
        """Two threads saving the same incident read at one version: exactly one wins."""
        store = populated_store()
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def work(title: str) -> None:
            with store.transaction() as tx:
                incident = tx.incident("INC-2")
            barrier.wait()
            incident.title = title
            try:
                with store.transaction() as tx:
                    tx.save_incident(incident)
                outcomes.append("saved")
            except ConcurrencyConflict:
                outcomes.append("conflict")

        workers = [threading.Thread(target=work, args=(t,)) for t in ("a", "b")]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert sorted(outcomes) == ["conflict", "saved"]
        with store.transaction() as tx:
            assert tx.incident("INC-2").version == 1


# -- indexes ---------------------------------------------------------------------


class TestIndexes:
    def test_active_incidents_by_product_and_group_exclude_ended_ones(self) -> None:
        """Detected and open incidents are active; resolved and dismissed ones are not listed."""
        store = InMemoryStore()
        with store.transaction() as tx:
            tx.add_incident(make_incident("INC-1", group_key="g1", detected_at=T0 + 2 * MINUTE))
            tx.add_incident(make_incident("INC-2", group_key="g1", status="investigating"))
            tx.add_incident(make_incident("INC-3", group_key="g1", status="resolved"))
            tx.add_incident(make_incident("INC-4", group_key="g2", status="dismissed"))
            tx.add_incident(make_incident("INC-5", product="chat", group_key="g2"))
        with store.transaction() as tx:
            assert [i.id for i in tx.active_incidents()] == ["INC-2", "INC-5", "INC-1"]
            assert [i.id for i in tx.active_incidents(product="support")] == ["INC-2", "INC-1"]
            assert [i.id for i in tx.active_incidents(group_key="g1")] == ["INC-2", "INC-1"]
            assert [i.id for i in tx.active_incidents(group_key="g2")] == ["INC-5"]
            assert tx.active_incidents(product="chat", group_key="g1") == []
            assert tx.active_incidents(product="talk") == []

    def test_resolving_an_incident_takes_it_out_of_the_active_indexes(self) -> None:
        """Saving an incident as resolved removes it from every active lookup."""
        store = populated_store()
        with store.transaction() as tx:
            incident = tx.incident("INC-2")
            INCIDENT_LIFECYCLE.fire(incident, "resolve", now=T0 + HOUR)
            tx.save_incident(incident)
        with store.transaction() as tx:
            assert [i.id for i in tx.active_incidents()] == ["INC-1"]
            assert tx.active_incidents(product="chat") == []
            assert tx.incident("INC-2").status is IncidentStatus.RESOLVED

    def test_incidents_detected_between_is_half_open_and_ordered(self) -> None:
        """``[since, until)`` bounds, ``None`` unbounded, oldest first whatever the insert order."""
        store = InMemoryStore()
        offsets = [30, 0, 10, 20, 10]
        with store.transaction() as tx:
            for number, offset in enumerate(offsets):
                tx.add_incident(
                    make_incident(
                        f"INC-{number}",
                        detected_at=T0 + offset * MINUTE,
                        status="resolved" if number % 2 else "detected",
                        group_key=None,
                    )
                )
        with store.transaction() as tx:

            def between(since: int | None, until: int | None) -> list[str]:
                lo = None if since is None else T0 + since * MINUTE
                hi = None if until is None else T0 + until * MINUTE
                return [i.id for i in tx.incidents_detected_between(lo, hi)]

            assert between(None, None) == ["INC-1", "INC-2", "INC-4", "INC-3", "INC-0"]
            assert between(10, 30) == ["INC-2", "INC-4", "INC-3"]
            assert between(10, 10) == []
            assert between(None, 10) == ["INC-1"]
            assert between(20, None) == ["INC-3", "INC-0"]
            assert between(31, None) == []

    def test_reports_since_filters_product_and_time(self) -> None:
        """Reports of a product at or after ``since``, oldest first whatever the insert order."""
        store = InMemoryStore()
        with store.transaction() as tx:
            tx.add_report(make_report("T-3", reported_at=T0 + 3 * MINUTE))
            tx.add_report(make_report("T-1", reported_at=T0 + MINUTE))
            tx.add_report(make_report("T-chat", product="chat", reported_at=T0 + 2 * MINUTE))
            tx.add_report(make_report("T-2", reported_at=T0 + 2 * MINUTE))
        with store.transaction() as tx:
            assert [r.ticket_id for r in tx.reports_since("support", T0)] == ["T-1", "T-2", "T-3"]
            since = T0 + 2 * MINUTE
            assert [r.ticket_id for r in tx.reports_since("support", since)] == ["T-2", "T-3"]
            assert [r.ticket_id for r in tx.reports_since("chat", T0)] == ["T-chat"]
            assert tx.reports_since("talk", T0) == []

    def test_links_move_and_keep_order(self) -> None:
        """A ticket has one link; relinking moves it; ``move_links`` appends in order."""
        store = InMemoryStore()
        with store.transaction() as tx:
            for number in (1, 2):
                tx.add_incident(make_incident(f"INC-{number}", group_key=f"g{number}"))
            for ticket in ("T-a", "T-b", "T-c"):
                tx.link(ticket, "INC-1")
            tx.link("T-x", "INC-2")
            tx.link("T-a", "INC-1")  # already there: stays in place
            assert tx.linked_tickets("INC-1") == ["T-a", "T-b", "T-c"]
            tx.link("T-b", "INC-2")
            assert (tx.linked_tickets("INC-1"), tx.incident_of("T-b")) == (["T-a", "T-c"], "INC-2")
            assert tx.move_links("INC-1", "INC-2") == 2
            assert tx.linked_tickets("INC-2") == ["T-x", "T-b", "T-a", "T-c"]
            assert tx.linked_tickets("INC-1") == []
            tx.unlink("T-b")
            tx.unlink("T-never-linked")
            assert tx.incident_of("T-b") is None
            assert tx.linked_tickets("INC-2") == ["T-x", "T-a", "T-c"]
            with pytest.raises(NotFound):
                tx.link("T-a", "INC-404")

    def test_reports_linked_to_filters_by_status(self) -> None:
        """Linked reports come in link order; a status filter keeps only that status."""
        store = populated_store()
        with store.transaction() as tx:
            tx.add_report(make_report("T-9", status=ReportStatus.LINKED, incident_id="INC-2"))
            tx.link("T-9", "INC-2")
            tx.link("T-no-report", "INC-2")
            solved = tx.report("T-1")
            assert solved is not None
            REPORT_LIFECYCLE.fire(solved, "solve", now=T0)
            tx.save_reports([solved])
        with store.transaction() as tx:
            every = tx.reports_linked_to("INC-2")
            assert [r.ticket_id for r in every] == ["T-1", "T-2", "T-3", "T-9"]
            linked = tx.reports_linked_to("INC-2", ReportStatus.LINKED)
            assert [r.ticket_id for r in linked] == ["T-3", "T-9"]
            assert tx.linked_recipients("INC-2") == [("T-3", "en"), ("T-9", "en")]

    def test_linked_reports_move_in_bulk(self) -> None:
        """``transition_linked_reports`` moves only reports in ``source``, bumping versions."""
        store = populated_store()
        with store.transaction() as tx:
            changed = tx.transition_linked_reports(
                "INC-2", ReportStatus.LINKED, ReportStatus.SOLVED, T0 + HOUR
            )
            assert changed == [("T-1", "en"), ("T-3", "en")]
        with store.transaction() as tx:
            solved = [tx.report(t) for t in ("T-1", "T-3")]
            untouched = tx.report("T-2")
            assert tx.linked_recipients("INC-2") == []
        assert [(r.status, r.version, r.ended_at) for r in solved if r] == [
            (ReportStatus.SOLVED, 1, T0 + HOUR)
        ] * 2
        assert untouched is not None
        assert (untouched.status, untouched.version) == (ReportStatus.RECEIVED, 0)

    def test_alerts_of_follows_the_alerts_incident(self) -> None:
        """Moving an alert to another incident moves it between ``alerts_of`` lists, where
        it takes its place by age (oldest first, as on SQLite)."""
        store = populated_store()
        with store.transaction() as tx:
            alert = tx.alert("ALR-1")
            alert.incident_id = "INC-2"
            tx.save_alerts([alert])
            assert [a.id for a in tx.alerts_of("INC-2")] == ["ALR-1", "ALR-2"]
            assert [a.id for a in tx.alerts_of("INC-1")] == ["ALR-3"]

    def test_updates_and_timeline_keep_their_order(self) -> None:
        """Updates and events come back in the order they were stored, per incident."""
        store = InMemoryStore()
        events = [
            IncidentAcknowledged(incident_id=f"INC-{n % 2}", actor=ENGINEER, at=T0 + n * MINUTE)
            for n in range(6)
        ]
        with store.transaction() as tx:
            for n in range(4):
                tx.add_update(make_update(f"UPD-{n}", f"INC-{n % 2}"))
            tx.append(events)
        with store.transaction() as tx:
            assert [u.id for u in tx.updates("INC-1")] == ["UPD-1", "UPD-3"]
            assert list(tx.timeline("INC-0")) == events[0::2]
            assert tx.timeline("INC-404") == []


# -- outbox ------------------------------------------------------------------------


def claim(
    store: InMemoryStore, at: datetime, limit: int = 100, lease: timedelta = 2 * MINUTE
) -> list[str]:
    with store.transaction() as tx:
        return [e.key for e in tx.claim_due(at, limit, at + lease, "relay")]


def outbox_with(*notes: Notification) -> InMemoryStore:
    store = InMemoryStore()
    with store.transaction() as tx:
        tx.enqueue(list(notes), T0)
    return store


class TestOutbox:
    def test_enqueue_skips_keys_already_present(self) -> None:
        """A key enqueued twice (even after delivery) is kept once."""
        store = outbox_with(note("k1"), note("k2"))
        with store.transaction() as tx:
            tx.mark_delivered(["k1"], T0)
        with store.transaction() as tx:
            assert tx.enqueue([note("k1"), note("k2"), note("k3"), note("k3")], T0) == 1
            assert tx.outbox_stats() == OutboxStats(pending=2, delivered=1, dead=0)
            entry = tx.outbox_entry("k1")
            assert entry is not None
            assert entry.state is OutboxState.DELIVERED

    def test_a_fanout_is_the_same_as_its_notifications(self) -> None:
        """``enqueue_fanout`` stores exactly what ``enqueue`` of its notifications would."""
        bulk, single = InMemoryStore(), InMemoryStore()
        fanout = _fanout()
        with bulk.transaction() as tx:
            assert tx.enqueue_fanout(fanout, T0) == 2
            assert tx.enqueue_fanout(fanout, T0) == 0
        with single.transaction() as tx:
            assert tx.enqueue(fanout.notifications(), T0) == 2
        keys = [fanout.key_for(r) for r in fanout.recipients]
        assert keys == ["INC-2/UPD-9/T-1", "INC-2/UPD-9/T-3"]
        assert snapshot_outbox(bulk, keys) == snapshot_outbox(single, keys)
        assert claim(bulk, T0) == claim(single, T0) == keys

    def test_claims_are_oldest_first_and_limited(self) -> None:
        """``claim_due`` returns at most ``limit`` due heads, oldest first."""
        store = outbox_with(*(note(f"k{n}", f"team-{n}") for n in range(5)))
        assert claim(store, T0, limit=3) == ["k0", "k1", "k2"]
        assert claim(store, T0, limit=3) == ["k3", "k4"]
        assert claim(store, T0) == []

    def test_nothing_is_due_before_it_is_enqueued(self) -> None:
        """An entry enqueued at ``now`` is not due at an earlier time."""
        store = outbox_with(note("k1"))
        assert claim(store, T0 - MINUTE) == []
        assert claim(store, T0) == ["k1"]

    def test_per_recipient_fifo(self) -> None:
        """A later notification to a recipient is never claimed while an earlier one is pending."""
        store = outbox_with(note("a1"), note("b1", "team-b"), note("a2"), note("a3"))
        assert claim(store, T0) == ["a1", "b1"]
        far = T0 + 10 * HOUR
        assert claim(store, far) == ["a1", "b1"]  # leases expired: the same heads again
        with store.transaction() as tx:
            tx.schedule_retry("a1", far + HOUR, "busy", far)
            tx.mark_delivered(["b1"], far)
        assert claim(store, far + 30 * MINUTE) == []  # a1 waits, a2 waits behind it
        with store.transaction() as tx:
            tx.mark_delivered(["a1"], far)
        assert claim(store, far) == ["a2"]
        with store.transaction() as tx:
            tx.mark_dead("a2", "refused", far)
        assert claim(store, far) == ["a3"]

    def test_claim_counts_attempts_and_sets_the_lease(self) -> None:
        """A claim adds one attempt, records the claim token and reserves until the lease."""
        store = outbox_with(note("k1"))
        with store.transaction() as tx:
            (entry,) = tx.claim_due(T0, 10, T0 + 2 * MINUTE, "relay-a")
        assert (entry.attempts, entry.claim, entry.next_attempt_at) == (
            1,
            "relay-a",
            T0 + 2 * MINUTE,
        )

    def test_a_leased_entry_is_claimable_again_only_when_its_lease_ends(self) -> None:
        """Within the lease no other relay gets the entry; at ``lease_until`` one does."""
        store = outbox_with(note("k1"))
        assert claim(store, T0, lease=2 * MINUTE) == ["k1"]
        assert claim(store, T0 + MINUTE) == []
        assert claim(store, T0 + 2 * MINUTE - timedelta(microseconds=1)) == []
        with store.transaction() as tx:
            assert tx.next_due_at() == T0 + 2 * MINUTE
            (again,) = tx.claim_due(T0 + 2 * MINUTE, 10, T0 + HOUR, "relay-b")
        assert (again.key, again.attempts, again.claim) == ("k1", 2, "relay-b")

    def test_schedule_retry_releases_the_claim_until_not_before(self) -> None:
        """A retried entry loses its claim and is due exactly at ``not_before``."""
        store = outbox_with(note("k1"))
        claim(store, T0)
        with store.transaction() as tx:
            tx.schedule_retry("k1", T0 + 5 * MINUTE, "busy", T0)
            entry = tx.outbox_entry("k1")
            assert entry is not None
            assert (entry.claim, entry.last_error, entry.attempts) == (None, "busy", 1)
            assert tx.next_due_at() == T0 + 5 * MINUTE
        assert claim(store, T0 + 4 * MINUTE) == []
        assert claim(store, T0 + 5 * MINUTE) == ["k1"]

    def test_marks_ignore_unknown_and_finished_keys(self) -> None:
        """Marking unknown, delivered or dead keys changes nothing (marks are idempotent)."""
        store = outbox_with(note("k1"), note("k2", "team-b"))
        with store.transaction() as tx:
            tx.mark_delivered(["k1", "k1", "nope"], T0)
            tx.mark_dead("k2", "refused", T0)
        before = snapshot_outbox(store, ["k1", "k2"])
        with store.transaction() as tx:
            tx.mark_delivered(["k1", "k2", "nope"], T0 + HOUR)
            tx.mark_dead("k1", "late", T0 + HOUR)
            tx.schedule_retry("k2", T0 + HOUR, "late", T0 + HOUR)
            tx.schedule_retry("nope", T0 + HOUR, "late", T0 + HOUR)
            tx.mark_dead("nope", "late", T0 + HOUR)
        assert snapshot_outbox(store, ["k1", "k2"]) == before

    def test_dead_letters_and_stats(self) -> None:
        """Dead entries are listed oldest first, counted, and no longer due."""
        store = outbox_with(*(note(f"k{n}", f"team-{n}") for n in range(4)))
        with store.transaction() as tx:
            tx.mark_dead("k2", "refused", T0)
            tx.mark_dead("k0", "refused", T0)
            tx.mark_delivered(["k1"], T0)
            assert [e.key for e in tx.dead_letters()] == ["k2", "k0"]
            assert [e.key for e in tx.dead_letters(limit=1)] == ["k2"]
            stats = tx.outbox_stats()
            assert (stats.pending, stats.delivered, stats.dead) == (1, 1, 2)
            dead = tx.outbox_entry("k0")
            assert dead is not None
            assert dead.last_error == "refused"
        assert claim(store, T0) == ["k3"]
        with store.transaction() as tx:
            assert tx.next_due_at() == T0 + 2 * MINUTE  # k3's lease
            tx.mark_delivered(["k3"], T0)
            assert tx.next_due_at() is None

    def test_redrive_keeps_keys_and_per_recipient_order(self) -> None:
        """A redriven entry keeps its key and seq, restarts its attempts and goes back in order."""
        store = outbox_with(note("a1"), note("a2"), note("a3"))
        assert claim(store, T0) == ["a1"]
        with store.transaction() as tx:
            original = tx.outbox_entry("a1")
            tx.mark_dead("a1", "refused", T0)
        assert claim(store, T0) == ["a2"]
        with store.transaction() as tx:
            tx.schedule_retry("a2", T0 + MINUTE, "busy", T0)
            assert tx.redrive(["a1", "a3", "unknown"], T0 + 2 * MINUTE) == 1
            entry = tx.outbox_entry("a1")
            assert tx.dead_letters() == []
        assert original is not None
        assert entry is not None
        assert (entry.key, entry.seq, entry.notification) == (
            original.key,
            original.seq,
            original.notification,
        )
        assert (entry.state, entry.attempts, entry.claim) == (OutboxState.PENDING, 0, None)
        assert claim(store, T0 + 2 * MINUTE) == ["a1"]  # back at the head, before a2
        with store.transaction() as tx:
            tx.mark_delivered(["a1"], T0 + 2 * MINUTE)
        assert claim(store, T0 + 2 * MINUTE) == ["a2"]

    def test_redrive_behind_an_in_flight_entry_keeps_order(self) -> None:
        """Redriving an older entry while a newer one is claimed puts the older one first."""
        store = outbox_with(note("a1"), note("a2"))
        claim(store, T0)
        with store.transaction() as tx:
            tx.mark_dead("a1", "refused", T0)
        assert claim(store, T0) == ["a2"]  # a2 in flight
        with store.transaction() as tx:
            tx.redrive(["a1"], T0)
        assert claim(store, T0 + HOUR) == ["a1"]  # a2's expired lease does not jump ahead
        with store.transaction() as tx:
            tx.mark_delivered(["a2"], T0 + HOUR)  # the in-flight relay reports back
            tx.mark_delivered(["a1"], T0 + HOUR)
            assert tx.outbox_stats().pending == 0

    def test_next_due_at_is_the_earliest_due_head(self) -> None:
        """``next_due_at`` is the earliest time a pending head is due, ``None`` when idle."""
        store = InMemoryStore()
        with store.transaction() as tx:
            assert tx.next_due_at() is None
            tx.enqueue([note("a1"), note("a2")], T0 + HOUR)
            tx.enqueue([note("b1", "team-b")], T0 + 2 * HOUR)
            assert tx.next_due_at() == T0 + HOUR
            tx.mark_delivered(["a1"], T0)
            assert tx.next_due_at() == T0 + HOUR  # a2, enqueued at the same time
            tx.mark_delivered(["a2"], T0)
            assert tx.next_due_at() == T0 + 2 * HOUR


def snapshot_outbox(store: InMemoryStore, keys: list[str]) -> dict[str, Any]:
    with store.transaction() as tx:
        view: dict[str, Any] = {k: tx.outbox_entry(k) for k in keys}
        view["stats"] = tx.outbox_stats()
        view["dead"] = list(tx.dead_letters())
        view["next"] = tx.next_due_at()
    return view


# -- the outbox against a reference model -----------------------------------------

RECIPIENTS = ("team-a", "team-b", "team-c")


@attrs.define
class _ModelEntry:
    key: str
    recipient: str
    seq: int
    state: OutboxState = OutboxState.PENDING
    attempts: int = 0
    next_at: datetime = T0


class OutboxMachine(RuleBasedStateMachine):
    """Runs the outbox methods against a plain reference model and compares after each step."""

    def __init__(self) -> None:
        super().__init__()
        self.store = InMemoryStore()
        self.now = T0
        self.model: dict[str, _ModelEntry] = {}
        self.dead_order: list[str] = []
        self.enqueued = 0

    # -- helpers ------------------------------------------------------------------
    def _heads(self) -> list[_ModelEntry]:
        heads: dict[str, _ModelEntry] = {}
        for entry in self.model.values():
            if entry.state is OutboxState.PENDING:
                best = heads.get(entry.recipient)
                if best is None or entry.seq < best.seq:
                    heads[entry.recipient] = entry
        return sorted(heads.values(), key=lambda e: (e.next_at, e.seq))

    def _finish(self, key: str, state: OutboxState) -> None:
        entry = self.model.get(key)
        if entry is not None and entry.state is OutboxState.PENDING:
            entry.state = state
            if state is OutboxState.DEAD:
                self.dead_order.append(key)

    # -- rules ------------------------------------------------------------------
    @rule(recipient=st.sampled_from(RECIPIENTS), count=st.integers(1, 3), repeat=st.booleans())
    def enqueue(self, recipient: str, count: int, repeat: bool) -> None:
        fresh = [f"k{self.enqueued + n}" for n in range(count)]
        notes = [note(k, recipient) for k in fresh]
        if repeat and self.model:
            notes.append(note(sorted(self.model)[0], recipient))
        with self.store.transaction() as tx:
            added = tx.enqueue(notes, self.now)
        assert added == count
        for key in fresh:
            self.model[key] = _ModelEntry(key, recipient, self.enqueued, next_at=self.now)
            self.enqueued += 1

    @rule(limit=st.integers(1, 4), lease=st.integers(1, 300))
    def claim_due(self, limit: int, lease: int) -> None:
        until = self.now + timedelta(seconds=lease)
        with self.store.transaction() as tx:
            claimed = tx.claim_due(self.now, limit, until, "relay")
        expected = [e for e in self._heads() if e.next_at <= self.now][:limit]
        assert [e.key for e in claimed] == [e.key for e in expected]
        recipients = [e.notification.recipient for e in claimed]
        assert len(set(recipients)) == len(recipients)  # per-recipient FIFO: one head each
        for entry in expected:
            entry.attempts += 1
            entry.next_at = until

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def mark_delivered(self, data: st.DataObject) -> None:
        keys = data.draw(st.lists(st.sampled_from(sorted(self.model)), max_size=3))
        with self.store.transaction() as tx:
            tx.mark_delivered([*keys, "unknown"], self.now)
        for key in keys:
            self._finish(key, OutboxState.DELIVERED)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), delay=st.integers(0, 600))
    def schedule_retry(self, data: st.DataObject, delay: int) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        when = self.now + timedelta(seconds=delay)
        with self.store.transaction() as tx:
            tx.schedule_retry(key, when, "busy", self.now)
        if self.model[key].state is OutboxState.PENDING:
            self.model[key].next_at = when

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def mark_dead(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        with self.store.transaction() as tx:
            tx.mark_dead(key, "refused", self.now)
        self._finish(key, OutboxState.DEAD)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def redrive(self, data: st.DataObject) -> None:
        keys = data.draw(st.lists(st.sampled_from(sorted(self.model)), max_size=3, unique=True))
        with self.store.transaction() as tx:
            count = tx.redrive(keys, self.now)
        dead = [k for k in keys if self.model[k].state is OutboxState.DEAD]
        assert count == len(dead)
        for key in dead:
            entry = self.model[key]
            entry.state, entry.attempts, entry.next_at = OutboxState.PENDING, 0, self.now
            self.dead_order.remove(key)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def rolled_back_work(self, data: st.DataObject) -> None:
        """Any mix of outbox calls in a transaction that raises changes nothing."""
        keys = data.draw(st.lists(st.sampled_from(sorted(self.model)), min_size=1, max_size=3))
        now, later = self.now, self.now + HOUR
        steps: list[Callable[[Any], object]] = [
            lambda tx: tx.enqueue([note("k-rolled-back", "team-a")], now),
            lambda tx: tx.claim_due(later, 10, later + HOUR, "other"),
            lambda tx: tx.mark_delivered(keys[:1], now),
            lambda tx: tx.mark_dead(keys[-1], "x", now),
            lambda tx: tx.redrive(keys, now),
            lambda tx: tx.schedule_retry(keys[0], later, "x", now),
            lambda tx: tx.next_due_at(),
        ]
        order = data.draw(st.lists(st.sampled_from(steps), min_size=1, max_size=10))
        rolled_back(self.store, *order)

    @rule(seconds=st.sampled_from([0, 1, 30, 60, 120, 301, 900]))
    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    # -- invariants ---------------------------------------------------------------
    @invariant()
    def agrees_with_the_model(self) -> None:
        with self.store.transaction() as tx:
            stats = tx.outbox_stats()
            entries = {key: tx.outbox_entry(key) for key in self.model}
            dead = [e.key for e in tx.dead_letters()]
            next_due = tx.next_due_at()
            assert tx.outbox_entry("k-rolled-back") is None
        by_state = dict.fromkeys(OutboxState, 0)
        for entry in self.model.values():
            by_state[entry.state] += 1
        assert (stats.pending, stats.delivered, stats.dead) == (
            by_state[OutboxState.PENDING],
            by_state[OutboxState.DELIVERED],
            by_state[OutboxState.DEAD],
        )
        assert stats.pending + stats.delivered + stats.dead == self.enqueued  # no key lost
        for key, expected in self.model.items():
            found = entries[key]
            assert found is not None
            assert (found.state, found.attempts, found.notification.recipient) == (
                expected.state,
                expected.attempts,
                expected.recipient,
            )
            if expected.state is OutboxState.PENDING:
                assert found.next_attempt_at == expected.next_at
        assert dead == self.dead_order
        heads = self._heads()
        assert next_due == (min(e.next_at for e in heads) if heads else None)


TestOutboxMachine = OutboxMachine.TestCase


# -- the due queue -------------------------------------------------------------------

_DUE_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(0, 40), st.integers(0, 10_000)),
        st.tuples(st.just("pop"), st.just(0), st.just(0)),
    ),
    max_size=120,
)


@given(_DUE_OPS)
def test_the_due_queue_pops_in_time_then_sequence_order(ops: list[tuple[str, int, int]]) -> None:
    """Whatever mix of ordered and unordered pushes, pops come out as a sorted list would."""
    due = _DueQueue()
    model: list[tuple[datetime, int, str]] = []
    for op, minutes, seq in ops:
        if op == "push":
            item = (T0 + timedelta(minutes=minutes), seq, f"k-{seq}")
            due.push(*item)
            model.append(item)
        elif model:
            model.sort()
            assert due.peek() == model[0]
            assert due.pop() == model.pop(0)
        assert len(due) == len(model)
        assert bool(due) is bool(model)
    model.sort()
    assert [due.pop() for _ in range(len(model))] == model
    assert not due
