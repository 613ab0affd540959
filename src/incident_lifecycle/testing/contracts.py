"""Contract test suites for adapters of the ports: subclass one, name it ``Test...``.

:class:`StoreContract` checks a :class:`~incident_lifecycle.ports.Store` and
:class:`NotifierContract` a :class:`~incident_lifecycle.ports.Notifier`
against every promise the ports' docstrings make. Both are plain classes, so
pytest collects nothing from them until a subclass with a ``Test`` name
implements the factory method::

    from incident_lifecycle.testing.contracts import StoreContract

    class TestPostgresStore(StoreContract):
        def make_store(self):
            return PostgresStore(dsn=DSN, schema=fresh_schema())

Every test builds its own, empty store (or notifier) through the factory --
once per example in the property-based ones -- and releases it with
:meth:`StoreContract.close_store` (:meth:`NotifierContract.close_notifier`),
which calls ``close()`` when the adapter has one: override it to drop a
schema or delete a file.

Entities are compared field by field (:func:`canonical`). A store may hand
datetimes back in another offset (SQLite and PostgreSQL return UTC) as long
as it keeps the instant to the microsecond.

Property-based tests run as many examples as the loaded hypothesis profile
asks for (without a deadline: a database round trip is slow); the model-based
outbox test is capped at 50 examples. This module needs the ``test`` extra
(pytest and hypothesis); ``incident_lifecycle`` itself never imports it.
"""

from __future__ import annotations

import abc
import enum
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ..domain.actors import Actor, Role
from ..domain.alerts import Alert, AlertStatus
from ..domain.errors import ConcurrencyConflict, NotFound
from ..domain.events import EVENT_TYPES, DomainEvent, IncidentAcknowledged
from ..domain.incidents import OPEN_STATUSES, IncidentStatus, ServiceIncident, StatusUpdate
from ..domain.reports import CustomerReport, ReportStatus
from ..lifecycle import INCIDENT_LIFECYCLE
from ..notifications import (
    CUSTOMER_TOPICS,
    DeliveryResult,
    FanOut,
    Notification,
    RecipientKind,
    Topic,
)
from ..ports import Notifier, OutboxEntry, OutboxState, OutboxStats, Store, StoreTransaction
from . import strategies as ils

__all__ = ["NotifierContract", "StoreContract", "canonical"]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
MICROSECOND = timedelta(microseconds=1)
_ENGINEER = Actor(name="ana", role=Role.ENGINEERING, team="support-eng")
_ACTIVE = OPEN_STATUSES | {IncidentStatus.DETECTED}

Write = Callable[[StoreTransaction], object]


# -- settings -------------------------------------------------------------------------


def _settings(cap: int | None = None) -> settings:
    """The loaded profile, without a deadline; ``cap`` lowers ``max_examples`` to at most it."""
    current = settings()
    quiet = {*current.suppress_health_check, HealthCheck.too_slow}
    if cap is None:
        return settings(current, deadline=None, suppress_health_check=quiet)
    return settings(
        current,
        deadline=None,
        suppress_health_check=quiet,
        max_examples=min(current.max_examples, cap),
    )


# -- comparing entities ------------------------------------------------------------------


def canonical(value: object) -> object:
    """A plain form of an entity, value or event for comparing them field by field.

    Every attrs field is kept with its class name; datetimes become UTC
    instants (a naive one fails the comparison), enums keep their class, and
    mappings and sequences are compared item by item.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return ("naive datetime", value.isoformat())
        return ("datetime", value.astimezone(UTC).isoformat())
    if isinstance(value, enum.Enum):
        return (type(value).__name__, value.value)
    if isinstance(value, bool):
        return ("bool", value)
    cls = type(value)
    if attrs.has(cls):
        return {
            "class": cls.__name__,
            **{f.name: canonical(getattr(value, f.name)) for f in attrs.fields(cls)},
        }
    if isinstance(value, Mapping):
        return {str(key): canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return value


def _entry_view(entry: OutboxEntry | None, *, seq: bool = True) -> object:
    if entry is None:
        return None
    view = canonical(entry)
    assert isinstance(view, dict)
    if not seq:
        del view["seq"]
    return view


# -- builders -------------------------------------------------------------------------


def _alert(
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
        status=AlertStatus.RECEIVED if active or incident_id is None else AlertStatus.VALIDATED,
    )


_STEPS = {
    IncidentStatus.DETECTED: (),
    IncidentStatus.INVESTIGATING: ("validate",),
    IncidentStatus.RESOLVED: ("validate", "resolve"),
    IncidentStatus.DISMISSED: ("dismiss",),
}


def _incident(
    incident_id: str,
    *,
    product: str = "support",
    group_key: str | None = None,
    detected_at: datetime = T0,
    status: IncidentStatus = IncidentStatus.DETECTED,
    region: str | None = None,
) -> ServiceIncident:
    incident = ServiceIncident(
        id=incident_id,
        title=f"latency on {product}",
        products=(product,),
        owner_team=f"{product}-eng",
        detected_at=detected_at,
        group_key=group_key,
        region=region,
    )
    for event in _STEPS[status]:
        INCIDENT_LIFECYCLE.fire(incident, event, now=detected_at)
    return incident


def _report(
    ticket_id: str,
    *,
    product: str = "support",
    reported_at: datetime = T0,
    status: ReportStatus = ReportStatus.RECEIVED,
    incident_id: str | None = None,
    locale: str = "en",
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
        locale=locale,
    )


def _update(update_id: str, incident_id: str, body: str = "Still looking.") -> StatusUpdate:
    return StatusUpdate(
        id=update_id,
        incident_id=incident_id,
        body=body,
        visibility="internal",
        status="investigating",
        posted_at=T0,
        author=_ENGINEER,
    )


def _note(key: str, recipient: str = "team-a", body: str = "Over to you.") -> Notification:
    return Notification(
        key=key,
        recipient=recipient,
        recipient_kind="team",
        topic="handoff",
        incident_id=None,
        subject="Incident handed off",
        body=body,
        created_at=T0,
    )


def _fanout(recipients: Sequence[str], prefix: str = "INC-2/UPD-9") -> FanOut:
    return FanOut(
        key_prefix=prefix,
        recipients=tuple(recipients),
        topic="status_update",
        incident_id="INC-2",
        subject="Update",
        body="Fixed soon.",
        created_at=T0,
    )


# -- strategies for what ``strategies`` does not build -----------------------------------

_CUSTOMER_TOPICS = tuple(sorted(CUSTOMER_TOPICS))
_IDS = ils.identifiers()


@st.composite
def _notifications(draw: st.DrawFn, recipient: str | None = None) -> Notification:
    """Valid notifications of any kind and topic (customer topics only to tickets)."""
    kind = draw(st.sampled_from(tuple(RecipientKind)))
    topics = _CUSTOMER_TOPICS if kind is RecipientKind.TICKET else tuple(Topic)
    return Notification(
        key=draw(ils.identifiers(max_size=512)),
        recipient=draw(_IDS) if recipient is None else recipient,
        recipient_kind=kind,
        topic=draw(st.sampled_from(topics)),
        incident_id=draw(st.none() | _IDS),
        subject=draw(ils.texts(max_size=500)),
        body=draw(ils.texts(max_size=20_000)),
        created_at=draw(ils.aware_datetimes()),
        locale=draw(ils.identifiers(max_size=35)),
    )


@st.composite
def _fanouts(draw: st.DrawFn) -> FanOut:
    """Fan-outs to up to six tickets (a ticket may be listed twice)."""
    return FanOut(
        key_prefix=draw(ils.identifiers(max_size=382)),
        recipients=draw(st.lists(_IDS, max_size=6)),
        topic=draw(st.sampled_from(_CUSTOMER_TOPICS)),
        incident_id=draw(st.none() | _IDS),
        subject=draw(ils.texts(max_size=500)),
        body=draw(ils.texts(max_size=20_000)),
        created_at=draw(ils.aware_datetimes()),
        locale=draw(ils.identifiers(max_size=35)),
    )


# -- a populated store, and everything observable about it --------------------------------

INCIDENT_IDS = ("INC-1", "INC-2", "INC-9")
ALERT_IDS = ("ALR-1", "ALR-2", "ALR-3", "ALR-9")
FINGERPRINTS = ("fp-1", "fp-2", "fp-3", "fp-9")
TICKETS = ("T-1", "T-2", "T-3", "T-9")
KEYS = ("k-a1", "k-a2", "k-a3", "k-b1", "k-c1", "k-d1", "k-e1", "k-f1", "k-g1")
FANOUT_KEYS = ("INC-2/UPD-9/T-1", "INC-2/UPD-9/T-3")


def _populate(store: Store) -> None:
    """Two incidents (one detected, one open), alerts, reports, links and a varied outbox."""
    with store.transaction() as tx:
        tx.add_incident(_incident("INC-1", group_key="support|eu"))
        tx.add_incident(
            _incident(
                "INC-2",
                product="chat",
                detected_at=T0 + MINUTE,
                status=IncidentStatus.INVESTIGATING,
            )
        )
        tx.add_alerts(
            [
                _alert("ALR-1", "fp-1", "INC-1"),
                _alert("ALR-2", "fp-2", "INC-2"),
                _alert("ALR-3", "fp-3", "INC-1"),
            ]
        )
        for ticket in ("T-1", "T-3"):
            tx.add_report(
                _report(ticket, product="chat", status=ReportStatus.LINKED, incident_id="INC-2")
            )
        tx.add_report(_report("T-2", reported_at=T0 + MINUTE))
        for ticket in ("T-1", "T-2", "T-3"):
            tx.link(ticket, "INC-2")
        tx.add_update(_update("UPD-1", "INC-2"))
        tx.append([IncidentAcknowledged(incident_id="INC-2", actor=_ENGINEER, at=T0)])
        tx.enqueue([_note("k-a1"), _note("k-a2"), _note("k-b1", "team-b")], T0)
        tx.enqueue([_note("k-c1", "team-c"), _note("k-d1", "team-d")], T0)
        tx.enqueue([_note("k-e1", "team-e"), _note("k-g1", "team-g")], T0)
    with store.transaction() as tx:
        claimed = tx.claim_due(T0, 10, T0 + 2 * MINUTE, "relay-1")
        assert {e.key for e in claimed} == {"k-a1", "k-b1", "k-c1", "k-d1", "k-e1", "k-g1"}
        tx.mark_dead("k-c1", "refused", T0)
        tx.mark_dead("k-g1", "refused", T0 + MICROSECOND)
        tx.mark_delivered(["k-e1"], T0)
        tx.schedule_retry("k-a1", T0 + MINUTE, "busy", T0)
        tx.schedule_retry("k-b1", T0 + 5 * MINUTE, "busy", T0)


class _Abort(Exception):
    """Raised inside a transaction to roll it back."""


class _Interrupt(BaseException):
    """Like ``KeyboardInterrupt``: not an ``Exception``, and still a reason to roll back."""


def _rolled_back(store: Store, *steps: Write) -> None:
    """Run ``steps`` in one transaction that then raises, so that it rolls back."""
    try:
        with store.transaction() as tx:
            for step in steps:
                step(tx)
            raise _Abort
    except _Abort:
        pass


def _due_keys(store: Store, at: datetime) -> list[str]:
    """The keys a relay would claim at ``at`` (probed in a transaction that is rolled back)."""
    found: list[str] = []
    _rolled_back(
        store, lambda tx: found.extend(e.key for e in tx.claim_due(at, 10_000, at + HOUR, "p"))
    )
    return found


def _get(read: Callable[[str], object], key: str) -> object:
    try:
        return canonical(read(key))
    except NotFound:
        return None


def _view(store: Store) -> dict[str, object]:
    """Everything observable about the populated store's records, as plain values."""
    with store.transaction() as tx:
        view: dict[str, object] = {
            "alerts": {a: _get(tx.alert, a) for a in ALERT_IDS},
            "active": canonical(dict(tx.active_alerts(FINGERPRINTS))),
            "alerts_of": {i: canonical(list(tx.alerts_of(i))) for i in INCIDENT_IDS},
            "incidents": {i: _get(tx.incident, i) for i in INCIDENT_IDS},
            "active_incidents": canonical(list(tx.active_incidents())),
            "by_product": {
                p: canonical(list(tx.active_incidents(product=p))) for p in ("support", "chat")
            },
            "by_group": canonical(list(tx.active_incidents(group_key="support|eu"))),
            "detected": canonical(list(tx.incidents_detected_between(None, None))),
            "reports": {t: canonical(tx.report(t)) for t in TICKETS},
            "reports_since": canonical(list(tx.reports_since("support", T0))),
            "links": {t: tx.incident_of(t) for t in TICKETS},
            "linked": {i: list(tx.linked_tickets(i)) for i in INCIDENT_IDS},
            "linked_reports": {i: canonical(list(tx.reports_linked_to(i))) for i in INCIDENT_IDS},
            "recipients": {i: list(tx.linked_recipients(i)) for i in INCIDENT_IDS},
            "updates": {i: canonical(list(tx.updates(i))) for i in INCIDENT_IDS},
            "timeline": {i: canonical(list(tx.timeline(i))) for i in INCIDENT_IDS},
            "outbox": {k: _entry_view(tx.outbox_entry(k)) for k in KEYS + FANOUT_KEYS},
            "dead": [_entry_view(e) for e in tx.dead_letters()],
            "stats": canonical(tx.outbox_stats()),
            "next_due": canonical(tx.next_due_at()),
        }
    view["due_now"] = _due_keys(store, T0 + 2 * MINUTE)
    view["due_later"] = _due_keys(store, T0 + HOUR)
    return view


def _save_alert(tx: StoreTransaction) -> None:
    alert = tx.alert("ALR-1")
    alert.status = AlertStatus.DISMISSED
    alert.active = False
    tx.save_alerts([alert])


def _move_alert(tx: StoreTransaction) -> None:
    alert = tx.alert("ALR-1")
    alert.incident_id = "INC-2"
    tx.save_alerts([alert])


def _save_incident(tx: StoreTransaction) -> None:
    incident = tx.incident("INC-1")
    INCIDENT_LIFECYCLE.fire(incident, "validate", now=T0 + HOUR)
    tx.save_incident(incident)


def _save_report(tx: StoreTransaction) -> None:
    report = tx.report("T-2")
    assert report is not None
    report.status = ReportStatus.TROUBLESHOOTING
    tx.save_reports([report])


def _redrive_and_deliver(tx: StoreTransaction) -> None:
    tx.redrive(["k-c1"], T0 + MINUTE)
    tx.mark_delivered(["k-c1"], T0 + MINUTE)


def _deliver_and_read_due_time(tx: StoreTransaction) -> None:
    tx.mark_delivered(["k-a1", "k-a2"], T0)
    tx.next_due_at()


WRITES: dict[str, Write] = {
    "alerts added": lambda tx: tx.add_alerts([_alert("ALR-9", "fp-9", "INC-1")]),
    "alert saved": _save_alert,
    "alert moved": _move_alert,
    "repeats counted": lambda tx: tx.count_repeats(
        {"fp-1": 5, "fp-2": 1}, {"fp-1": T0 + HOUR, "fp-2": T0}
    ),
    "incident added": lambda tx: tx.add_incident(_incident("INC-9", group_key="chat|us")),
    "incident saved": _save_incident,
    "report added": lambda tx: tx.add_report(_report("T-9", reported_at=T0 + HOUR)),
    "report saved": _save_report,
    "ticket linked": lambda tx: tx.link("T-9", "INC-1"),
    "ticket relinked": lambda tx: tx.link("T-1", "INC-1"),
    "ticket unlinked": lambda tx: tx.unlink("T-1"),
    "links moved": lambda tx: tx.move_links("INC-2", "INC-1"),
    "linked reports moved in bulk": lambda tx: tx.transition_linked_reports(
        "INC-2", ReportStatus.LINKED, ReportStatus.SOLVED, T0 + HOUR
    ),
    "update added": lambda tx: tx.add_update(_update("UPD-9", "INC-1")),
    "events appended": lambda tx: tx.append(
        [IncidentAcknowledged(incident_id="INC-1", actor=_ENGINEER, at=T0)]
    ),
    "notifications enqueued": lambda tx: tx.enqueue([_note("k-a3"), _note("k-f1", "team-f")], T0),
    "fan-out enqueued": lambda tx: tx.enqueue_fanout(_fanout(["T-1", "T-3"]), T0),
    "entries claimed": lambda tx: tx.claim_due(T0 + 10 * MINUTE, 10, T0 + HOUR, "relay-2"),
    "entries delivered": lambda tx: tx.mark_delivered(["k-a1", "k-d1"], T0),
    "retry scheduled": lambda tx: tx.schedule_retry("k-d1", T0 + 3 * HOUR, "later", T0),
    "entry dead-lettered": lambda tx: tx.mark_dead("k-a1", "refused", T0),
    "dead letter redriven": lambda tx: tx.redrive(["k-c1"], T0 + MINUTE),
    "dead letter redriven, then delivered": _redrive_and_deliver,
    "delivered, then due time read": _deliver_and_read_due_time,
}
"""One of each kind of write the store port offers, on the populated store."""


def _every_write(tx: StoreTransaction) -> None:
    for name, write in WRITES.items():
        if name != "every write at once":
            write(tx)


WRITES["every write at once"] = _every_write


# -- the outbox against a reference model ----------------------------------------------------

_RECIPIENTS = ("team-a", "team-b", "team-c")


@attrs.define
class _ModelEntry:
    key: str
    recipient: str
    order: int
    next_at: datetime
    state: OutboxState = OutboxState.PENDING
    attempts: int = 0
    claim: str | None = None
    error: str = ""


class _OutboxModel(RuleBasedStateMachine):
    """Runs the outbox methods on a store and on a plain model, and compares them after each step.

    Time only moves forward, by at least a microsecond per step, so that
    dead letters are never dead-lettered at the same instant.
    """

    contract: StoreContract

    def __init__(self) -> None:
        super().__init__()
        self.store = self.contract.make_store()
        self.now = T0
        self.model: dict[str, _ModelEntry] = {}
        self.dead_order: list[str] = []
        self.claims = 0

    def teardown(self) -> None:
        self.contract.close_store(self.store)

    def _tick(self) -> datetime:
        self.now += MICROSECOND
        return self.now

    def _heads(self) -> list[_ModelEntry]:
        heads: dict[str, _ModelEntry] = {}
        for entry in self.model.values():
            if entry.state is OutboxState.PENDING:
                best = heads.get(entry.recipient)
                if best is None or entry.order < best.order:
                    heads[entry.recipient] = entry
        return sorted(heads.values(), key=lambda e: (e.next_at, e.order))

    def _finish(self, key: str, state: OutboxState, error: str) -> None:
        entry = self.model.get(key)
        if entry is not None and entry.state is OutboxState.PENDING:
            entry.state, entry.claim, entry.error = state, None, error
            if state is OutboxState.DEAD:
                self.dead_order.append(key)

    @rule(recipient=st.sampled_from(_RECIPIENTS), count=st.integers(1, 3), repeat=st.booleans())
    def enqueue(self, recipient: str, count: int, repeat: bool) -> None:
        now = self._tick()
        fresh = [f"k{len(self.model) + n}" for n in range(count)]
        notes = [_note(key, recipient) for key in fresh]
        if repeat:
            notes.append(notes[0] if not self.model else _note(sorted(self.model)[0], recipient))
        with self.store.transaction() as tx:
            added = tx.enqueue(notes, now)
        assert added == count
        for key in fresh:
            self.model[key] = _ModelEntry(key, recipient, len(self.model), next_at=now)

    @rule(limit=st.integers(1, 4), lease=st.integers(1, 300))
    def claim_due(self, limit: int, lease: int) -> None:
        now = self._tick()
        until = now + timedelta(seconds=lease)
        self.claims += 1
        token = f"relay-{self.claims}"
        with self.store.transaction() as tx:
            claimed = tx.claim_due(now, limit, until, token)
        expected = [e for e in self._heads() if e.next_at <= now][:limit]
        assert [e.key for e in claimed] == [e.key for e in expected]
        for entry in expected:
            entry.attempts += 1
            entry.next_at, entry.claim = until, token

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def mark_delivered(self, data: st.DataObject) -> None:
        keys = data.draw(st.lists(st.sampled_from(sorted(self.model)), max_size=3))
        now = self._tick()
        with self.store.transaction() as tx:
            tx.mark_delivered([*keys, "unknown"], now)
        for key in keys:
            self._finish(key, OutboxState.DELIVERED, "")

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), delay=st.integers(0, 600))
    def schedule_retry(self, data: st.DataObject, delay: int) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        now = self._tick()
        when = now + timedelta(seconds=delay)
        with self.store.transaction() as tx:
            tx.schedule_retry(key, when, f"busy {delay}", now)
        entry = self.model[key]
        if entry.state is OutboxState.PENDING:
            entry.next_at, entry.claim, entry.error = when, None, f"busy {delay}"

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def mark_dead(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        now = self._tick()
        with self.store.transaction() as tx:
            tx.mark_dead(key, "refused", now)
        self._finish(key, OutboxState.DEAD, "refused")

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def redrive(self, data: st.DataObject) -> None:
        keys = data.draw(st.lists(st.sampled_from(sorted(self.model)), max_size=3, unique=True))
        now = self._tick()
        with self.store.transaction() as tx:
            count = tx.redrive([*keys, "unknown"], now)
        dead = [key for key in keys if self.model[key].state is OutboxState.DEAD]
        assert count == len(dead)
        for key in dead:
            entry = self.model[key]
            entry.state, entry.attempts, entry.next_at, entry.claim = (
                OutboxState.PENDING,
                0,
                now,
                None,
            )
            self.dead_order.remove(key)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def rolled_back_work(self, data: st.DataObject) -> None:
        """Any mix of outbox calls in a transaction that raises changes nothing."""
        keys = data.draw(st.lists(st.sampled_from(sorted(self.model)), min_size=1, max_size=3))
        now, later = self.now, self.now + HOUR
        steps: list[Write] = [
            lambda tx: tx.enqueue([_note("k-rolled-back", "team-a")], now),
            lambda tx: tx.enqueue_fanout(_fanout(["T-rolled-back"], "rolled-back"), now),
            lambda tx: tx.claim_due(later, 10, later + HOUR, "other"),
            lambda tx: tx.mark_delivered(keys[:1], now),
            lambda tx: tx.mark_dead(keys[-1], "x", now),
            lambda tx: tx.redrive(keys, now),
            lambda tx: tx.schedule_retry(keys[0], later, "x", now),
            lambda tx: tx.next_due_at(),
        ]
        _rolled_back(self.store, *data.draw(st.lists(st.sampled_from(steps), max_size=10)))

    @rule(seconds=st.sampled_from([1, 30, 60, 120, 301, 900]))
    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @invariant()
    def agrees_with_the_model(self) -> None:
        with self.store.transaction() as tx:
            stats = tx.outbox_stats()
            entries = {key: tx.outbox_entry(key) for key in self.model}
            dead = [e.key for e in tx.dead_letters()]
            first_dead = [e.key for e in tx.dead_letters(limit=1)]
            next_due = tx.next_due_at()
            assert tx.outbox_entry("k-rolled-back") is None
            assert tx.outbox_entry("rolled-back/T-rolled-back") is None
        counts = dict.fromkeys(OutboxState, 0)
        for expected in self.model.values():
            counts[expected.state] += 1
        assert stats == OutboxStats(
            pending=counts[OutboxState.PENDING],
            delivered=counts[OutboxState.DELIVERED],
            dead=counts[OutboxState.DEAD],
        )
        seqs = []
        for key, expected in self.model.items():
            found = entries[key]
            assert found is not None
            assert found.key == key
            assert (found.state, found.attempts, found.notification.recipient) == (
                expected.state,
                expected.attempts,
                expected.recipient,
            )
            assert found.last_error == expected.error
            if expected.state is OutboxState.PENDING:
                assert (found.next_attempt_at, found.claim) == (expected.next_at, expected.claim)
            else:
                assert found.claim is None
            seqs.append(found.seq)
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
        assert dead == self.dead_order
        assert first_dead == self.dead_order[:1]
        heads = self._heads()
        assert next_due == (min(e.next_at for e in heads) if heads else None)


# -- the store contract ----------------------------------------------------------------------


class StoreContract(abc.ABC):
    """Every promise of :class:`~incident_lifecycle.ports.Store` and ``StoreTransaction``.

    Subclass it as ``Test<YourStore>`` and implement :meth:`make_store`.
    """

    @abc.abstractmethod
    def make_store(self) -> Store:
        """A new, empty store (called once per test, and per example in property tests)."""

    def close_store(self, store: Store) -> None:
        """Release a store made by :meth:`make_store` (calls its ``close()``, if any)."""
        close = getattr(store, "close", None)
        if callable(close):
            close()

    @contextmanager
    def opened(self) -> Iterator[Store]:
        """A store from :meth:`make_store`, closed when the block ends."""
        store = self.make_store()
        try:
            yield store
        finally:
            self.close_store(store)

    @contextmanager
    def populated(self) -> Iterator[Store]:
        """A store holding incidents, alerts, reports, links, updates and a varied outbox."""
        with self.opened() as store:
            _populate(store)
            yield store

    # -- transactions -------------------------------------------------------------------
    def test_changes_commit_when_the_block_ends_normally(self) -> None:
        """What a transaction wrote is visible to the next one once its block ended normally."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.add_incident(_incident("INC-1"))
                assert tx.incident("INC-1").id == "INC-1"
            with store.transaction() as tx:
                assert tx.incident("INC-1").title == "latency on support"

    @pytest.mark.parametrize("write", list(WRITES))
    def test_every_kind_of_write_is_rolled_back_on_an_exception(self, write: str) -> None:
        """A write followed by an exception in its transaction leaves every record as it was."""
        with self.populated() as store:
            before = _view(store)
            _rolled_back(store, WRITES[write])
            assert _view(store) == before
            with store.transaction() as tx:  # the store is still usable
                WRITES[write](tx)

    def test_a_base_exception_rolls_back_too(self) -> None:
        """An interrupt that is not an ``Exception`` (like ``KeyboardInterrupt``) rolls back."""
        with self.populated() as store:
            before = _view(store)

            def interrupted() -> None:
                with store.transaction() as tx:
                    _every_write(tx)
                    raise _Interrupt

            with pytest.raises(_Interrupt):
                interrupted()
            assert _view(store) == before

    def test_a_conflict_escaping_the_block_rolls_back_the_writes_before_it(self) -> None:
        """When a stale save raises out of the block, nothing written before it is kept."""
        with self.populated() as store:
            with store.transaction() as tx:
                stale = tx.incident("INC-2")
                tx.save_incident(tx.incident("INC-2"))
            before = _view(store)

            def write_then_conflict() -> None:
                with store.transaction() as tx:
                    tx.add_report(_report("T-9"))
                    tx.enqueue([_note("k-f1", "team-f")], T0)
                    tx.save_incident(stale)

            with pytest.raises(ConcurrencyConflict):
                write_then_conflict()
            assert _view(store) == before

    def test_entities_read_are_the_callers_copies(self) -> None:
        """Changing an alert, incident, report or list read from the store changes nothing."""
        with self.populated() as store:
            before = _view(store)
            with store.transaction() as tx:
                alert, incident = tx.alert("ALR-1"), tx.incident("INC-1")
                report = tx.report("T-2")
                assert report is not None
                alert.count, alert.active = 99, False
                incident.title = "changed"
                report.summary = "changed"
                tickets = tx.linked_tickets("INC-2")
                if isinstance(tickets, list):
                    tickets.append("T-9")
            assert _view(store) == before

    def test_concurrent_transactions_from_threads_lose_nothing(self) -> None:
        """Transactions run from four threads at once serialise: no save and no id is lost."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.add_incident(_incident("INC-1"))
            ids: list[str] = []
            errors: list[BaseException] = []
            start = threading.Barrier(4)

            def work(worker: int) -> None:
                try:
                    start.wait()
                    for _ in range(10):
                        ids.append(_save_once(store, worker))
                except BaseException as error:  # reported by the assertion below
                    errors.append(error)

            threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == []
            with store.transaction() as tx:
                assert tx.incident("INC-1").version == 40
            assert len(set(ids)) == 40

    # -- ids ------------------------------------------------------------------------------
    def test_new_id_is_the_prefix_a_dash_and_a_number(self) -> None:
        """``new_id`` hands out ``prefix-<n>`` ids, distinct per prefix and never repeated."""
        with self.opened() as store:
            seen: set[str] = set()
            for _ in range(3):
                with store.transaction() as tx:
                    for prefix in ("INC", "ALR", "UPD"):
                        new = tx.new_id(prefix)
                        head, _, number = new.rpartition("-")
                        assert head == prefix
                        assert number.isdigit()
                        assert new not in seen
                        seen.add(new)
            assert len(seen) == 9

    # -- alerts ---------------------------------------------------------------------------
    def test_alerts_round_trip_field_by_field(self) -> None:
        """Alerts in every status, with labels, counts and incidents, read back as added."""

        @_settings()
        @given(
            st.lists(
                ils.alerts(),
                min_size=1,
                max_size=5,
                unique_by=(lambda a: a.id, lambda a: a.fingerprint),
            )
        )
        def check(batch: list[Alert]) -> None:
            for alert in batch:
                alert.version = 0
            with self.opened() as store:
                with store.transaction() as tx:
                    tx.add_alerts(batch)
                with store.transaction() as tx:
                    for alert in batch:
                        assert canonical(tx.alert(alert.id)) == canonical(alert)
                    active = tx.active_alerts([a.fingerprint for a in batch])
                    assert canonical(dict(active)) == {
                        a.fingerprint: canonical(a) for a in batch if a.active
                    }
                    for incident_id in {a.incident_id for a in batch if a.incident_id}:
                        assert canonical(list(tx.alerts_of(incident_id))) == canonical(
                            [a for a in batch if a.incident_id == incident_id]
                        )

        check()

    def test_a_missing_alert_is_not_found(self) -> None:
        """Reading or saving an alert that was never added raises ``NotFound``."""
        with self.populated() as store, store.transaction() as tx:
            with pytest.raises(NotFound):
                tx.alert("ALR-404")
            with pytest.raises(NotFound):
                tx.save_alerts([_alert("ALR-404", "fp-404")])
            assert tx.active_alerts(["fp-404"]) == {}
            assert list(tx.alerts_of("INC-404")) == []

    def test_saving_alerts_writes_status_incident_and_active_and_bumps_versions(self) -> None:
        """``save_alerts`` stores status, incident and ``active``, raising both versions by one."""
        with self.populated() as store:
            with store.transaction() as tx:
                alert = tx.alert("ALR-1")
                alert.status, alert.incident_id, alert.active = (
                    AlertStatus.VALIDATED,
                    "INC-2",
                    False,
                )
                tx.save_alerts([alert])
                assert alert.version == 1
            with store.transaction() as tx:
                stored = tx.alert("ALR-1")
                assert (stored.status, stored.incident_id, stored.active, stored.version) == (
                    AlertStatus.VALIDATED,
                    "INC-2",
                    False,
                    1,
                )
                assert tx.active_alerts(["fp-1"]) == {}
                assert [a.id for a in tx.alerts_of("INC-1")] == ["ALR-3"]
                assert [a.id for a in tx.alerts_of("INC-2")] == ["ALR-2", "ALR-1"]

    def test_saving_an_alert_never_writes_its_count(self) -> None:
        """A stale count or last-seen time on a saved alert does not undo repeats counted since."""
        with self.populated() as store:
            with store.transaction() as tx:
                alert = tx.alert("ALR-1")
            with store.transaction() as tx:
                tx.count_repeats({"fp-1": 10}, {"fp-1": T0 + HOUR})
            alert.count, alert.last_seen_at = 1, T0
            with store.transaction() as tx:
                tx.save_alerts([alert])
            with store.transaction() as tx:
                stored = tx.alert("ALR-1")
            assert (stored.count, stored.last_seen_at, stored.version) == (11, T0 + HOUR, 1)

    def test_a_stale_alert_in_a_batch_conflicts_and_none_is_written(self) -> None:
        """One stale alert makes ``save_alerts`` raise ``ConcurrencyConflict`` and save none."""
        with self.populated() as store:
            with store.transaction() as tx:
                fresh, stale = tx.alert("ALR-1"), tx.alert("ALR-2")
                tx.save_alerts([tx.alert("ALR-2")])
            before = _view(store)
            fresh.active = stale.active = False
            with store.transaction() as tx:
                with pytest.raises(ConcurrencyConflict):
                    tx.save_alerts([fresh, stale])
                assert tx.alert("ALR-1").active
                assert tx.alert("ALR-1").version == 0
            assert (fresh.version, stale.version) == (0, 0)
            assert _view(store) == before

    def test_an_alert_id_is_added_once(self) -> None:
        """Adding an alert whose id is taken raises ``ConcurrencyConflict``."""
        with self.populated() as store:
            before = _view(store)
            with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
                tx.add_alerts([_alert("ALR-1", "fp-new", active=False)])
            assert _view(store) == before

    def test_one_active_alert_per_fingerprint(self) -> None:
        """A second active alert of a fingerprint conflicts; an inactive one does not."""
        with self.populated() as store:
            with store.transaction() as tx, pytest.raises(ConcurrencyConflict):
                tx.add_alerts([_alert("ALR-9", "fp-1")])
            with store.transaction() as tx:
                tx.add_alerts([_alert("ALR-9", "fp-1", "INC-1", active=False)])
                assert tx.active_alerts(["fp-1"])["fp-1"].id == "ALR-1"
            with store.transaction() as tx:
                old = tx.alert("ALR-9")
                old.active = True
                with pytest.raises(ConcurrencyConflict):
                    tx.save_alerts([old])
            with store.transaction() as tx:
                assert tx.active_alerts(["fp-1"])["fp-1"].id == "ALR-1"

    def test_two_active_alerts_of_one_fingerprint_in_one_batch_conflict(self) -> None:
        """A batch holding two active alerts of one fingerprint is refused as a whole."""
        with self.opened() as store:
            with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
                tx.add_alerts([_alert("ALR-1", "fp"), _alert("ALR-2", "fp")])
            with store.transaction() as tx:
                assert tx.active_alerts(["fp"]) == {}
                with pytest.raises(NotFound):
                    tx.alert("ALR-1")

    def test_a_fingerprint_is_free_again_once_its_alert_is_inactive(self) -> None:
        """After its alert stops being active, a fingerprint may get a new active alert."""
        with self.populated() as store, store.transaction() as tx:
            _save_alert(tx)
            tx.add_alerts([_alert("ALR-9", "fp-1")])
            assert tx.active_alerts(["fp-1"])["fp-1"].id == "ALR-9"

    def test_count_repeats_adds_counts_and_keeps_the_latest_time(self) -> None:
        """Repeats raise the active alert's count and last-seen time, and no version."""
        with self.populated() as store:
            with store.transaction() as tx:
                _save_alert(tx)  # fp-1 has no active alert any more
                tx.add_alerts([_alert("ALR-9", "fp-9", active=False)])
                counted = tx.count_repeats(
                    {"fp-1": 4, "fp-2": 3, "fp-9": 7, "fp-unknown": 9},
                    {"fp-1": T0, "fp-2": T0 + HOUR, "fp-9": T0, "fp-unknown": T0},
                )
                assert dict(counted) == {"fp-2": ("ALR-2", "INC-2")}
                counted = tx.count_repeats({"fp-2": 2, "fp-3": 1}, {"fp-2": T0, "fp-3": T0})
                assert dict(counted) == {"fp-2": ("ALR-2", "INC-2"), "fp-3": ("ALR-3", "INC-1")}
            with store.transaction() as tx:
                two, three = tx.alert("ALR-2"), tx.alert("ALR-3")
                assert (two.count, two.last_seen_at, two.version) == (6, T0 + HOUR, 0)
                assert (three.count, three.last_seen_at, three.version) == (2, T0, 0)
                assert (tx.alert("ALR-1").count, tx.alert("ALR-9").count) == (1, 1)
                assert tx.count_repeats({}, {}) == {}

    def test_counting_never_conflicts_with_a_save(self) -> None:
        """An alert read before repeats were counted still saves: counting changes no version."""
        with self.populated() as store:
            with store.transaction() as tx:
                alert = tx.alert("ALR-2")
            with store.transaction() as tx:
                tx.count_repeats({"fp-2": 1}, {"fp-2": T0})
            alert.status = AlertStatus.VALIDATED
            with store.transaction() as tx:
                tx.save_alerts([alert])
                assert tx.alert("ALR-2").count == 2

    # -- incidents ------------------------------------------------------------------------
    def test_incidents_in_every_status_round_trip_field_by_field(self) -> None:
        """An incident of each status, with all its fields, reads back as added."""

        @_settings()
        @given(st.data())
        def check(data: st.DataObject) -> None:
            added = []
            for number, status in enumerate(IncidentStatus, start=1):
                incident = data.draw(ils.service_incidents(status), label=status.value)
                incident.id, incident.version = f"INC-{number}", 0
                added.append(incident)
            with self.opened() as store:
                with store.transaction() as tx:
                    for incident in added:
                        tx.add_incident(incident)
                with store.transaction() as tx:
                    for incident in added:
                        assert canonical(tx.incident(incident.id)) == canonical(incident)
                    active = tx.active_incidents()
                    everything = tx.incidents_detected_between(None, None)
                expected = sorted(
                    (i for i in added if i.status in _ACTIVE),
                    key=lambda i: (i.detected_at, len(i.id), i.id),
                )
                assert canonical(list(active)) == canonical(expected)
                assert sorted(i.id for i in everything) == sorted(i.id for i in added)
                assert canonical(sorted(everything, key=lambda i: i.id)) == canonical(
                    sorted(added, key=lambda i: i.id)
                )

        check()

    def test_saving_an_incident_writes_every_field(self) -> None:
        """``save_incident`` replaces every field and raises both versions by one."""

        @_settings()
        @given(ils.service_incidents(), ils.service_incidents())
        def check(first: ServiceIncident, second: ServiceIncident) -> None:
            first.version = 0
            replacement = attrs.evolve(second, id=first.id, version=0)
            with self.opened() as store:
                with store.transaction() as tx:
                    tx.add_incident(first)
                with store.transaction() as tx:
                    tx.save_incident(replacement)
                    assert replacement.version == 1
                with store.transaction() as tx:
                    assert canonical(tx.incident(first.id)) == canonical(replacement)
                    active = [i.id for i in tx.active_incidents()]
                    found = tx.incidents_detected_between(None, None)
                assert active == ([first.id] if replacement.status in _ACTIVE else [])
                assert canonical(list(found)) == canonical([replacement])

        check()

    def test_a_missing_incident_is_not_found(self) -> None:
        """Reading or saving an incident that was never added raises ``NotFound``."""
        with self.populated() as store, store.transaction() as tx:
            with pytest.raises(NotFound):
                tx.incident("INC-404")
            with pytest.raises(NotFound):
                tx.save_incident(_incident("INC-404"))

    def test_a_stale_incident_conflicts_and_nothing_is_written(self) -> None:
        """Saving an incident read before another save raises and keeps the winner's data."""
        with self.populated() as store:
            with store.transaction() as tx:
                first, second = tx.incident("INC-2"), tx.incident("INC-2")
            first.title, second.title = "winner", "loser"
            with store.transaction() as tx:
                tx.save_incident(first)
            with store.transaction() as tx:
                with pytest.raises(ConcurrencyConflict):
                    tx.save_incident(second)
                stored = tx.incident("INC-2")
            assert (stored.title, stored.version, second.version) == ("winner", 1, 0)

    def test_an_incident_id_is_added_once(self) -> None:
        """Adding an incident whose id is taken raises ``ConcurrencyConflict``."""
        with self.populated() as store:
            before = _view(store)
            with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
                tx.add_incident(_incident("INC-1", group_key="other"))
            assert _view(store) == before

    def test_one_detected_incident_per_group_key(self) -> None:
        """A second detected incident of a group key conflicts until the first is validated."""
        with self.populated() as store:
            with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
                tx.add_incident(_incident("INC-9", group_key="support|eu"))
            with store.transaction() as tx:
                tx.add_incident(_incident("INC-9", group_key="chat|eu"))
            with store.transaction() as tx:
                moved = tx.incident("INC-9")
                moved.group_key = "support|eu"
                with pytest.raises(ConcurrencyConflict):
                    tx.save_incident(moved)
            with store.transaction() as tx:
                _save_incident(tx)  # INC-1 is validated: the key is free for a detected one
                tx.add_incident(_incident("INC-10", group_key="support|eu"))
                found = tx.active_incidents(group_key="support|eu")
            assert [(i.id, i.status) for i in found] == [
                ("INC-1", IncidentStatus.INVESTIGATING),
                ("INC-10", IncidentStatus.DETECTED),
            ]

    def test_open_incidents_may_share_a_group_key(self) -> None:
        """The rule only holds for detected incidents: open ones of one key coexist."""
        with self.opened() as store, store.transaction() as tx:
            for number in range(3):
                tx.add_incident(
                    _incident(f"INC-{number}", group_key="g", status=IncidentStatus.INVESTIGATING)
                )
            tx.add_incident(_incident("INC-3", group_key="g"))
            assert len(tx.active_incidents(group_key="g")) == 4

    def test_active_incidents_filter_and_order(self) -> None:
        """Active incidents are detected or open ones, filtered as asked, oldest first."""
        statuses = st.sampled_from(
            [
                IncidentStatus.DETECTED,
                IncidentStatus.INVESTIGATING,
                IncidentStatus.RESOLVED,
                IncidentStatus.DISMISSED,
            ]
        )
        specs = st.tuples(
            statuses,
            st.sampled_from(["support", "chat", "talk"]),
            st.none() | st.sampled_from(["g1", "g2"]),
            st.none() | st.sampled_from(["eu", "us"]),
            st.integers(0, 3),
        )

        @_settings()
        @given(st.lists(specs, max_size=12), st.data())
        def check(rows: list[Any], data: st.DataObject) -> None:
            incidents, detected_keys = [], set()
            for number, (status, product, group, region, minutes) in enumerate(rows, start=1):
                if status is IncidentStatus.DETECTED and group is not None:
                    if group in detected_keys:
                        group = None
                    detected_keys.add(group)
                incident = _incident(
                    f"INC-{number}",
                    product=product,
                    group_key=group,
                    region=region,
                    detected_at=T0 + minutes * MINUTE,
                    status=status,
                )
                incidents.append(incident)
            filters = data.draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "product": st.sampled_from(["support", "chat", "talk"]),
                        "group_key": st.sampled_from(["g1", "g2"]),
                        "region": st.sampled_from(["eu", "us"]),
                    },
                )
            )
            with self.opened() as store:
                with store.transaction() as tx:
                    for incident in data.draw(st.permutations(incidents)):
                        tx.add_incident(incident)
                with store.transaction() as tx:
                    found = tx.active_incidents(**filters)
            expected = [
                i.id
                for i in incidents
                if i.status in _ACTIVE
                and filters.get("product", i.products[0]) in i.products
                and filters.get("group_key", i.group_key) == i.group_key
                and (i.region is None or filters.get("region", i.region) == i.region)
            ]
            expected.sort(key=lambda i: (incidents[int(i[4:]) - 1].detected_at, len(i), i))
            assert [i.id for i in found] == expected

        check()

    def test_incidents_detected_between_is_half_open_and_oldest_first(self) -> None:
        """``incidents_detected_between`` keeps ``since <= detected_at < until``, oldest first."""
        times = [T0 + n * MINUTE for n in (3, 0, 2, 1, 2)]
        with self.opened() as store:
            with store.transaction() as tx:
                for number, at in enumerate(times, start=1):
                    tx.add_incident(
                        _incident(f"INC-{number}", detected_at=at, status=IncidentStatus.RESOLVED)
                    )
            with store.transaction() as tx:

                def between(since: datetime | None, until: datetime | None) -> list[datetime]:
                    found = tx.incidents_detected_between(since, until)
                    return [i.detected_at for i in found]

                assert between(None, None) == sorted(times)
                assert between(T0 + MINUTE, T0 + 3 * MINUTE) == [
                    T0 + MINUTE,
                    T0 + 2 * MINUTE,
                    T0 + 2 * MINUTE,
                ]
                assert between(T0 + 2 * MINUTE, None) == [T0 + 2 * MINUTE] * 2 + [T0 + 3 * MINUTE]
                assert between(None, T0 + MINUTE) == [T0]
                assert between(T0 + MINUTE, T0 + MINUTE) == []
                paris = T0.astimezone(timezone(timedelta(hours=1)))
                assert between(paris, paris + MICROSECOND) == [T0]

    # -- reports --------------------------------------------------------------------------
    def test_reports_in_every_status_round_trip_field_by_field(self) -> None:
        """A report of each status, with all its fields, reads back as added."""

        @_settings()
        @given(st.tuples(*(ils.customer_reports(status) for status in ReportStatus)))
        def check(drawn: tuple[CustomerReport, ...]) -> None:
            added = list(drawn)
            assume(len({r.ticket_id for r in added}) == len(added))
            for report in added:
                report.version = 0
            with self.opened() as store:
                with store.transaction() as tx:
                    for report in added:
                        tx.add_report(report)
                with store.transaction() as tx:
                    for report in added:
                        assert canonical(tx.report(report.ticket_id)) == canonical(report)
                    for product in {r.product for r in added}:
                        since = min(r.reported_at for r in added)
                        found = tx.reports_since(product, since)
                        expected = sorted(
                            (r for r in added if r.product == product),
                            key=lambda r: r.reported_at,
                        )
                        assert canonical(list(found)) == canonical(expected)

        check()

    def test_a_missing_report_is_none_and_cannot_be_saved(self) -> None:
        """``report`` of an unknown ticket is ``None``; saving one raises ``NotFound``."""
        with self.populated() as store, store.transaction() as tx:
            assert tx.report("T-404") is None
            with pytest.raises(NotFound):
                tx.save_reports([_report("T-404")])

    def test_saving_reports_writes_their_status_and_bumps_versions(self) -> None:
        """``save_reports`` stores status, incident and end time, raising both versions."""
        with self.populated() as store:
            with store.transaction() as tx:
                one, two = tx.report("T-1"), tx.report("T-2")
                assert one is not None
                assert two is not None
                one.status, one.ended_at = ReportStatus.SOLVED, T0 + HOUR
                two.status, two.incident_id = ReportStatus.LINKED, "INC-1"
                tx.save_reports([one, two])
                assert (one.version, two.version) == (1, 1)
            with store.transaction() as tx:
                assert canonical(tx.report("T-1")) == canonical(one)
                assert canonical(tx.report("T-2")) == canonical(two)

    def test_a_stale_report_in_a_batch_conflicts_and_none_is_written(self) -> None:
        """One stale report makes ``save_reports`` raise ``ConcurrencyConflict`` and save none."""
        with self.populated() as store:
            with store.transaction() as tx:
                fresh, stale = tx.report("T-2"), tx.report("T-1")
                assert fresh is not None
                assert stale is not None
                winner = tx.report("T-1")
                assert winner is not None
                tx.save_reports([winner])
            before = _view(store)
            fresh.status = stale.status = ReportStatus.TROUBLESHOOTING
            with store.transaction() as tx:
                with pytest.raises(ConcurrencyConflict):
                    tx.save_reports([fresh, stale])
                kept = tx.report("T-2")
                assert kept is not None
                assert (kept.status, kept.version) == (ReportStatus.RECEIVED, 0)
            assert (fresh.version, stale.version) == (0, 0)
            assert _view(store) == before

    def test_a_ticket_has_one_report(self) -> None:
        """Adding a report whose ticket id is taken raises ``ConcurrencyConflict``."""
        with self.populated() as store:
            before = _view(store)
            with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
                tx.add_report(_report("T-1"))
            assert _view(store) == before

    def test_reports_since_filters_by_product_and_time(self) -> None:
        """``reports_since`` keeps one product's reports at or after ``since``, oldest first."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.add_report(_report("T-1", reported_at=T0 + 2 * MINUTE))
                tx.add_report(_report("T-2", reported_at=T0))
                tx.add_report(_report("T-3", reported_at=T0 + MINUTE))
                tx.add_report(_report("T-4", product="chat", reported_at=T0 + HOUR))
            with store.transaction() as tx:
                assert [r.ticket_id for r in tx.reports_since("support", T0)] == [
                    "T-2",
                    "T-3",
                    "T-1",
                ]
                assert [r.ticket_id for r in tx.reports_since("support", T0 + MINUTE)] == [
                    "T-3",
                    "T-1",
                ]
                assert list(tx.reports_since("support", T0 + HOUR)) == []
                assert [r.ticket_id for r in tx.reports_since("chat", T0)] == ["T-4"]

    # -- links ------------------------------------------------------------------------------
    def test_links_agree_with_a_model(self) -> None:
        """Any sequence of link, unlink and move_links leaves tickets linked as a model says."""
        tickets, incidents = ("T-1", "T-2", "T-3", "T-4", "T-5"), ("INC-1", "INC-2", "INC-3")
        operations = st.tuples(
            st.sampled_from(["link", "unlink", "move"]),
            st.sampled_from(tickets),
            st.sampled_from(incidents),
            st.sampled_from(incidents),
        )
        statuses = st.sampled_from([None, *ReportStatus])

        @_settings()
        @given(st.lists(operations, max_size=25), st.lists(statuses, min_size=5, max_size=5))
        def check(ops: list[tuple[str, str, str, str]], reports: list[Any]) -> None:
            model: dict[str, list[str]] = {incident: [] for incident in incidents}
            with self.opened() as store:
                with store.transaction() as tx:
                    for incident in incidents:
                        tx.add_incident(_incident(incident, status=IncidentStatus.INVESTIGATING))
                    for ticket, status in zip(tickets, reports, strict=True):
                        if status is not None:
                            tx.add_report(_report(ticket, status=status, locale=f"fr-{ticket[2:]}"))
                for name, ticket, incident, other in ops:
                    with store.transaction() as tx:
                        if name == "move":
                            assert tx.move_links(incident, other) == len(model[incident])
                        elif name == "link":
                            tx.link(ticket, incident)
                        else:
                            tx.unlink(ticket)
                    _apply_link(model, name, ticket, incident, other)
                status_of = dict(zip(tickets, reports, strict=True))
                with store.transaction() as tx:
                    for incident, linked in model.items():
                        assert list(tx.linked_tickets(incident)) == linked
                        reported = [t for t in linked if status_of[t] is not None]
                        assert [r.ticket_id for r in tx.reports_linked_to(incident)] == reported
                        for status in ReportStatus:
                            chosen = [t for t in linked if status_of[t] is status]
                            found = tx.reports_linked_to(incident, status)
                            assert [r.ticket_id for r in found] == chosen
                            assert list(tx.linked_recipients(incident, status)) == [
                                (t, f"fr-{t[2:]}") for t in chosen
                            ]
                    for ticket in tickets:
                        owner = [i for i, linked in model.items() if ticket in linked]
                        assert tx.incident_of(ticket) == (owner[0] if owner else None)

        check()

    def test_linking_keeps_link_order_and_relinking_moves_a_ticket(self) -> None:
        """Tickets list in link order; relinking moves one to the end of its new incident."""
        with self.populated() as store, store.transaction() as tx:
            assert list(tx.linked_tickets("INC-2")) == ["T-1", "T-2", "T-3"]
            tx.link("T-2", "INC-2")  # already there: stays in place
            assert list(tx.linked_tickets("INC-2")) == ["T-1", "T-2", "T-3"]
            tx.link("T-9", "INC-1")
            tx.link("T-1", "INC-1")
            assert list(tx.linked_tickets("INC-1")) == ["T-9", "T-1"]
            assert list(tx.linked_tickets("INC-2")) == ["T-2", "T-3"]
            tx.link("T-1", "INC-2")
            assert list(tx.linked_tickets("INC-2")) == ["T-2", "T-3", "T-1"]
            tx.unlink("T-3")
            tx.unlink("T-3")
            tx.unlink("T-unknown")
            assert (tx.incident_of("T-3"), tx.incident_of("T-1")) == (None, "INC-2")
            assert tx.move_links("INC-2", "INC-1") == 2
            assert list(tx.linked_tickets("INC-1")) == ["T-9", "T-2", "T-1"]
            assert list(tx.linked_tickets("INC-2")) == []
            assert tx.move_links("INC-2", "INC-1") == 0

    def test_linked_recipients_are_linked_reports_in_a_status(self) -> None:
        """``linked_recipients`` gives ``(ticket, locale)`` of linked reports, in link order."""
        with self.populated() as store, store.transaction() as tx:
            tx.add_report(
                _report("T-9", status=ReportStatus.LINKED, incident_id="INC-2", locale="fr-CA")
            )
            tx.link("T-9", "INC-2")
            assert list(tx.linked_recipients("INC-2")) == [
                ("T-1", "en"),
                ("T-3", "en"),
                ("T-9", "fr-CA"),
            ]
            assert list(tx.linked_recipients("INC-2", ReportStatus.RECEIVED)) == [("T-2", "en")]
            assert list(tx.linked_recipients("INC-1")) == []
            found = tx.reports_linked_to("INC-2", ReportStatus.LINKED)
            assert [r.ticket_id for r in found] == ["T-1", "T-3", "T-9"]

    def test_transition_linked_reports_moves_them_in_bulk(self) -> None:
        """Linked reports in ``source`` move to ``target``, versions up, ended when solved."""
        with self.populated() as store:
            with store.transaction() as tx:
                stale = tx.report("T-1")
                moved = tx.transition_linked_reports(
                    "INC-2", ReportStatus.LINKED, ReportStatus.SOLVED, T0 + HOUR
                )
                assert list(moved) == [("T-1", "en"), ("T-3", "en")]
                again = tx.transition_linked_reports(
                    "INC-2", ReportStatus.LINKED, ReportStatus.SOLVED, T0 + HOUR
                )
                assert list(again) == []
            with store.transaction() as tx:
                for ticket in ("T-1", "T-3"):
                    report = tx.report(ticket)
                    assert report is not None
                    assert (report.status, report.ended_at, report.version) == (
                        ReportStatus.SOLVED,
                        T0 + HOUR,
                        1,
                    )
                untouched = tx.report("T-2")
                assert untouched is not None
                assert (untouched.status, untouched.version) == (ReportStatus.RECEIVED, 0)
                assert stale is not None
                with pytest.raises(ConcurrencyConflict):
                    tx.save_reports([stale])
            with store.transaction() as tx:
                moved = tx.transition_linked_reports(
                    "INC-2", ReportStatus.RECEIVED, ReportStatus.LINKED, T0 + 2 * HOUR
                )
                assert list(moved) == [("T-2", "en")]
                report = tx.report("T-2")
                assert report is not None
                assert (report.status, report.ended_at, report.version) == (
                    ReportStatus.LINKED,
                    None,
                    1,
                )

    # -- updates and timeline ---------------------------------------------------------------
    def test_updates_round_trip_in_posting_order(self) -> None:
        """Status updates read back field by field, per incident, in posting order."""

        @_settings()
        @given(
            st.lists(
                st.tuples(ils.status_updates(), st.sampled_from(["INC-1", "INC-2"])),
                max_size=8,
                unique_by=lambda pair: pair[0].id,
            ),
            st.integers(1, 3),
        )
        def check(pairs: list[tuple[StatusUpdate, str]], chunk: int) -> None:
            updates = [attrs.evolve(update, incident_id=i) for update, i in pairs]
            with self.opened() as store:
                for start in range(0, len(updates), chunk):
                    with store.transaction() as tx:
                        for update in updates[start : start + chunk]:
                            tx.add_update(update)
                with store.transaction() as tx:
                    for incident_id in ("INC-1", "INC-2", "INC-3"):
                        expected = [u for u in updates if u.incident_id == incident_id]
                        assert canonical(list(tx.updates(incident_id))) == canonical(expected)

        check()

    def test_every_event_type_round_trips_in_append_order(self) -> None:
        """One event of every type, appended in any order, reads back field by field in order."""

        @_settings()
        @given(st.data())
        def check(data: st.DataObject) -> None:
            events = [
                attrs.evolve(data.draw(ils.domain_events(cls), label=name), incident_id="INC-1")
                for name, cls in EVENT_TYPES.items()
            ]
            events = data.draw(st.permutations(events))
            with self.opened() as store:
                with store.transaction() as tx:
                    tx.append(events[:10])
                    tx.append([])
                with store.transaction() as tx:
                    tx.append(events[10:])
                with store.transaction() as tx:
                    assert canonical(list(tx.timeline("INC-1"))) == canonical(events)
                    assert list(tx.timeline("INC-2")) == []

        check()

    def test_timelines_are_kept_per_incident(self) -> None:
        """Events of several incidents (and of none) are appended; each timeline keeps order."""

        @_settings()
        @given(st.lists(st.tuples(ils.domain_events(), st.sampled_from(["INC-1", "INC-2", None]))))
        def check(pairs: list[tuple[DomainEvent, str | None]]) -> None:
            events = [attrs.evolve(event, incident_id=i) for event, i in pairs]
            with self.opened() as store:
                with store.transaction() as tx:
                    tx.append(events)
                with store.transaction() as tx:
                    for incident_id in ("INC-1", "INC-2"):
                        expected = [e for e in events if e.incident_id == incident_id]
                        assert canonical(list(tx.timeline(incident_id))) == canonical(expected)

        check()

    # -- outbox ----------------------------------------------------------------------------
    def test_notifications_round_trip_field_by_field(self) -> None:
        """Enqueued notifications read back exactly, pending and due at ``now``, in order."""

        @_settings()
        @given(
            st.lists(_notifications(), min_size=1, max_size=6),
            st.lists(st.integers(0, 5), max_size=3),
            ils.aware_datetimes(),
        )
        def check(notes: list[Notification], repeats: list[int], now: datetime) -> None:
            notes += [notes[i % len(notes)] for i in repeats]  # keys repeated within the call
            first: dict[str, Notification] = {}
            for note in notes:
                first.setdefault(note.key, note)
            with self.opened() as store:
                with store.transaction() as tx:
                    assert tx.enqueue(notes, now) == len(first)
                with store.transaction() as tx:
                    entries = [tx.outbox_entry(key) for key in first]
                    claimed = tx.claim_due(now, 100, now + HOUR, "relay")
                heads: dict[str, str] = {}
                for key, note in first.items():
                    heads.setdefault(note.recipient, key)
                assert [e.key for e in claimed] == list(heads.values())
                for entry, (key, note) in zip(entries, first.items(), strict=True):
                    assert entry is not None
                    assert canonical(entry.notification) == canonical(note)
                    assert (entry.key, entry.state, entry.attempts) == (key, "pending", 0)
                    assert (entry.claim, entry.last_error) == (None, "")
                    assert entry.next_attempt_at == now
                for entry in claimed:
                    assert canonical(entry.notification) == canonical(first[entry.key])
                seqs = [e.seq for e in entries if e is not None]
                assert seqs == sorted(set(seqs))

        check()

    def test_enqueue_skips_keys_already_present(self) -> None:
        """A key enqueued again (even delivered or dead) is skipped and keeps its first text."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([_note("k1"), _note("k2", "team-b"), _note("k3", "team-c")], T0)
                tx.mark_delivered(["k1"], T0)
                tx.mark_dead("k2", "refused", T0)
            with store.transaction() as tx:
                again = [_note(k, body="second text") for k in ("k1", "k2", "k3", "k4", "k4")]
                assert tx.enqueue(again, T0 + HOUR) == 1
                assert tx.enqueue([], T0) == 0
                assert tx.outbox_stats() == OutboxStats(pending=2, delivered=1, dead=1)
                for key in ("k1", "k2", "k3"):
                    entry = tx.outbox_entry(key)
                    assert entry is not None
                    assert entry.notification.body == "Over to you."
                entry = tx.outbox_entry("k4")
                assert entry is not None
                assert (entry.notification.body, entry.next_attempt_at) == (
                    "second text",
                    T0 + HOUR,
                )

    def test_a_fanout_is_the_same_as_enqueueing_its_notifications(self) -> None:
        """``enqueue_fanout`` stores and returns what ``enqueue`` of its notifications does."""

        @_settings()
        @given(_fanouts(), st.sets(st.integers(0, 5)), ils.aware_datetimes())
        def check(fanout: FanOut, present: set[int], now: datetime) -> None:
            earlier = [
                _note(fanout.key_for(r), r) for n, r in enumerate(fanout.recipients) if n in present
            ]
            keys = list(dict.fromkeys(fanout.key_for(r) for r in fanout.recipients))

            def bulk(tx: StoreTransaction) -> int:
                return tx.enqueue_fanout(fanout, now)

            def single(tx: StoreTransaction) -> int:
                return tx.enqueue(fanout.notifications(), now)

            views = []
            for enqueue in (bulk, single):
                with self.opened() as store:
                    with store.transaction() as tx:
                        tx.enqueue(earlier, T0)
                        added = enqueue(tx)
                        again = enqueue(tx)
                    with store.transaction() as tx:
                        entries = [_entry_view(tx.outbox_entry(k), seq=False) for k in keys]
                        order = [e.key for e in tx.claim_due(now, 100, now + HOUR, "r")]
                        stats = tx.outbox_stats()
                    views.append((added, again, entries, order, stats))
            assert views[0] == views[1]
            assert views[0][0] == len(set(keys) - {n.key for n in earlier})
            assert views[0][1] == 0

        check()

    def test_claims_are_oldest_first_and_limited(self) -> None:
        """``claim_due`` returns at most ``limit`` due entries, by due time then enqueue order."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([_note(f"k{n}", f"team-{n}") for n in range(4)], T0 + MINUTE)
                tx.enqueue([_note("k9", "team-9")], T0)
            assert _claim(store, T0, limit=3) == ["k9"]
            assert _claim(store, T0 + MINUTE, limit=3) == ["k0", "k1", "k2"]
            assert _claim(store, T0 + MINUTE, limit=3) == ["k3"]
            assert _claim(store, T0 + MINUTE) == []

    def test_nothing_is_due_before_it_is_enqueued(self) -> None:
        """An entry enqueued at ``now`` is not due at an earlier time."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([_note("k1")], T0)
            assert _claim(store, T0 - MICROSECOND) == []
            assert _claim(store, T0) == ["k1"]

    def test_per_recipient_fifo(self) -> None:
        """A later notification to a recipient is never claimed while an earlier one is pending."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([_note("a1"), _note("b1", "team-b"), _note("a2"), _note("a3")], T0)
            assert _claim(store, T0) == ["a1", "b1"]
            far = T0 + 10 * HOUR
            assert _claim(store, far) == ["a1", "b1"]  # leases expired: the same heads again
            with store.transaction() as tx:
                tx.schedule_retry("a1", far + HOUR, "busy", far)
                tx.mark_delivered(["b1"], far)
            assert _claim(store, far + 30 * MINUTE) == []  # a1 waits, and a2 behind it
            with store.transaction() as tx:
                tx.mark_delivered(["a1"], far)
            assert _claim(store, far) == ["a2"]
            with store.transaction() as tx:
                tx.mark_dead("a2", "refused", far)
            assert _claim(store, far) == ["a3"]

    def test_a_claim_counts_an_attempt_and_holds_a_lease(self) -> None:
        """A claim adds one attempt, records its token and keeps the entry until the lease ends."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([_note("k1")], T0)
            with store.transaction() as tx:
                (entry,) = tx.claim_due(T0, 10, T0 + 2 * MINUTE, "relay-a")
            assert (entry.key, entry.attempts, entry.claim, entry.next_attempt_at) == (
                "k1",
                1,
                "relay-a",
                T0 + 2 * MINUTE,
            )
            assert _claim(store, T0 + MINUTE) == []
            assert _claim(store, T0 + 2 * MINUTE - MICROSECOND) == []
            with store.transaction() as tx:
                assert tx.next_due_at() == T0 + 2 * MINUTE
                (again,) = tx.claim_due(T0 + 2 * MINUTE, 10, T0 + HOUR, "relay-b")
                stored = tx.outbox_entry("k1")
            assert (again.key, again.attempts, again.claim) == ("k1", 2, "relay-b")
            assert stored is not None
            assert (stored.attempts, stored.claim, stored.next_attempt_at) == (
                2,
                "relay-b",
                T0 + HOUR,
            )

    def test_schedule_retry_releases_the_claim_until_not_before(self) -> None:
        """A retried entry loses its claim, keeps its attempts and is due at ``not_before``."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([_note("k1")], T0)
            _claim(store, T0)
            with store.transaction() as tx:
                tx.schedule_retry("k1", T0 + 5 * MINUTE, "busy", T0)
                entry = tx.outbox_entry("k1")
                assert entry is not None
                assert (entry.claim, entry.last_error, entry.attempts, entry.state) == (
                    None,
                    "busy",
                    1,
                    OutboxState.PENDING,
                )
                assert tx.next_due_at() == T0 + 5 * MINUTE
            assert _claim(store, T0 + 5 * MINUTE - MICROSECOND) == []
            assert _claim(store, T0 + 5 * MINUTE) == ["k1"]

    def test_marks_ignore_unknown_and_finished_keys(self) -> None:
        """Marking unknown, delivered or dead keys changes nothing: marks are idempotent."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([_note("k1"), _note("k2", "team-b")], T0)
                tx.mark_delivered(["k1", "k1", "nope"], T0)
                tx.mark_dead("k2", "refused", T0)
            before = _outbox_view(store, ["k1", "k2"])
            with store.transaction() as tx:
                tx.mark_delivered(["k1", "k2", "nope"], T0 + HOUR)
                tx.mark_dead("k1", "late", T0 + HOUR)
                tx.schedule_retry("k2", T0 + HOUR, "late", T0 + HOUR)
                tx.schedule_retry("nope", T0 + HOUR, "late", T0 + HOUR)
                tx.mark_dead("nope", "late", T0 + HOUR)
                assert tx.redrive(["k1", "nope"], T0 + HOUR) == 0
            assert _outbox_view(store, ["k1", "k2"]) == before

    def test_dead_letters_are_listed_in_the_order_they_died(self) -> None:
        """Dead entries list oldest dead letter first, are counted, and are no longer due."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([_note(f"k{n}", f"team-{n}") for n in range(4)], T0)
            with store.transaction() as tx:
                tx.mark_dead("k2", "refused", T0 + MINUTE)
                tx.mark_dead("k0", "gone", T0 + 2 * MINUTE)
                tx.mark_delivered(["k1"], T0)
                assert [e.key for e in tx.dead_letters()] == ["k2", "k0"]
                assert [e.key for e in tx.dead_letters(limit=1)] == ["k2"]
                assert tx.outbox_stats() == OutboxStats(pending=1, delivered=1, dead=2)
                dead = tx.outbox_entry("k0")
                assert dead is not None
                assert (dead.state, dead.last_error, dead.claim) == (OutboxState.DEAD, "gone", None)
            assert _claim(store, T0 + HOUR) == ["k3"]
            with store.transaction() as tx:
                assert tx.next_due_at() == T0 + HOUR + 2 * MINUTE  # k3's lease
                tx.mark_delivered(["k3"], T0)
                assert tx.next_due_at() is None

    def test_redrive_keeps_keys_and_per_recipient_order(self) -> None:
        """A redriven entry keeps key, seq and text, restarts its attempts and rejoins in order."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([_note("a1"), _note("a2"), _note("a3")], T0)
            assert _claim(store, T0) == ["a1"]
            with store.transaction() as tx:
                original = tx.outbox_entry("a1")
                tx.mark_dead("a1", "refused", T0)
            assert _claim(store, T0) == ["a2"]
            with store.transaction() as tx:
                tx.schedule_retry("a2", T0 + MINUTE, "busy", T0)
                assert tx.redrive(["a1", "a3", "unknown"], T0 + 2 * MINUTE) == 1
                entry = tx.outbox_entry("a1")
                assert list(tx.dead_letters()) == []
            assert original is not None
            assert entry is not None
            assert (entry.key, entry.seq) == (original.key, original.seq)
            assert canonical(entry.notification) == canonical(original.notification)
            assert (entry.state, entry.attempts, entry.claim, entry.next_attempt_at) == (
                OutboxState.PENDING,
                0,
                None,
                T0 + 2 * MINUTE,
            )
            assert _claim(store, T0 + 2 * MINUTE) == ["a1"]  # back at the head, before a2
            with store.transaction() as tx:
                tx.mark_delivered(["a1"], T0 + 2 * MINUTE)
            assert _claim(store, T0 + 2 * MINUTE) == ["a2"]

    def test_redrive_behind_an_in_flight_entry_keeps_order(self) -> None:
        """Redriving an older entry while a newer one is claimed puts the older one first."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([_note("a1"), _note("a2")], T0)
            _claim(store, T0)
            with store.transaction() as tx:
                tx.mark_dead("a1", "refused", T0)
            assert _claim(store, T0) == ["a2"]  # a2 in flight
            with store.transaction() as tx:
                tx.redrive(["a1"], T0)
            assert _claim(store, T0 + HOUR) == ["a1"]  # a2's expired lease does not jump ahead
            with store.transaction() as tx:
                tx.mark_delivered(["a2", "a1"], T0 + HOUR)
                assert tx.outbox_stats() == OutboxStats(pending=0, delivered=2, dead=0)

    def test_next_due_at_is_the_earliest_due_head(self) -> None:
        """``next_due_at`` is when the earliest pending head is due, ``None`` when none is."""
        with self.opened() as store, store.transaction() as tx:
            assert tx.next_due_at() is None
            tx.enqueue([_note("a1"), _note("a2")], T0 + HOUR)
            tx.enqueue([_note("b1", "team-b")], T0 + 2 * HOUR)
            tx.enqueue([_note("a3")], T0)  # behind a1: not a head, so not due first
            assert tx.next_due_at() == T0 + HOUR
            tx.mark_delivered(["a1"], T0)
            assert tx.next_due_at() == T0 + HOUR  # a2, enqueued at the same time
            tx.mark_delivered(["a2"], T0)
            assert tx.next_due_at() == T0
            tx.mark_dead("a3", "refused", T0)
            assert tx.next_due_at() == T0 + 2 * HOUR
            tx.mark_delivered(["b1"], T0)
            assert tx.next_due_at() is None

    def test_outbox_agrees_with_a_reference_model(self) -> None:
        """Any sequence of outbox calls leaves the store agreeing with a plain reference model."""

        class OutboxModel(_OutboxModel):
            contract = self

        run_state_machine_as_test(OutboxModel, settings=_settings(cap=50))


def _save_once(store: Store, worker: int) -> str:
    """Save ``INC-1`` once from a fresh read (retrying a conflict); return a new id."""
    for _ in range(100):
        try:
            with store.transaction() as tx:
                incident = tx.incident("INC-1")
                incident.title = f"written by worker {worker}"
                tx.save_incident(incident)
                new = tx.new_id("X")
            return new
        except ConcurrencyConflict:
            continue
    raise AssertionError("100 conflicts in a row")


def _apply_link(
    model: dict[str, list[str]], name: str, ticket: str, incident: str, other: str
) -> None:
    """What ``link``, ``unlink`` or ``move_links`` does, on a plain model of the links."""

    def drop(t: str) -> None:
        for linked in model.values():
            if t in linked:
                linked.remove(t)

    if name == "link":
        if ticket not in model[incident]:
            drop(ticket)
            model[incident].append(ticket)
    elif name == "unlink":
        drop(ticket)
    elif incident != other:
        model[other].extend(model[incident])
        model[incident] = []


def _claim(
    store: Store, at: datetime, *, limit: int = 10, lease: timedelta = 2 * MINUTE
) -> list[str]:
    """Claim what is due at ``at`` (committed) and return the keys."""
    with store.transaction() as tx:
        return [e.key for e in tx.claim_due(at, limit, at + lease, "relay")]


def _outbox_view(store: Store, keys: Sequence[str]) -> dict[str, object]:
    with store.transaction() as tx:
        view: dict[str, object] = {k: _entry_view(tx.outbox_entry(k)) for k in keys}
        view["stats"] = canonical(tx.outbox_stats())
        view["dead"] = [_entry_view(e) for e in tx.dead_letters()]
        view["next"] = canonical(tx.next_due_at())
    return view


# -- the notifier contract ------------------------------------------------------------------


class NotifierContract(abc.ABC):
    """Every promise of :class:`~incident_lifecycle.ports.Notifier`.

    Subclass it as ``Test<YourNotifier>`` and implement :meth:`make_notifier`.
    The notifier may deliver, retry or reject each notification: the contract
    checks the shape of its answers, not the verdicts.
    """

    @abc.abstractmethod
    def make_notifier(self) -> Notifier:
        """A new notifier (called once per test, and per example in property tests)."""

    def close_notifier(self, notifier: Notifier) -> None:
        """Release a notifier made by :meth:`make_notifier` (calls ``close()``, if any)."""
        close = getattr(notifier, "close", None)
        if callable(close):
            close()

    @contextmanager
    def opened(self) -> Iterator[Notifier]:
        """A notifier from :meth:`make_notifier`, closed when the block ends."""
        notifier = self.make_notifier()
        try:
            yield notifier
        finally:
            self.close_notifier(notifier)

    def test_one_result_per_notification_with_its_key(self) -> None:
        """``send`` answers one ``DeliveryResult`` per notification, by key, in any order."""

        @_settings()
        @given(st.lists(_notifications(), min_size=1, max_size=8, unique_by=lambda n: n.key))
        def check(batch: list[Notification]) -> None:
            with self.opened() as notifier:
                _check_answer(batch, notifier.send(batch))

        check()

    def test_an_empty_batch_gets_no_results(self) -> None:
        """Sending an empty batch answers an empty sequence."""
        with self.opened() as notifier:
            assert list(notifier.send([])) == []

    def test_a_resent_key_is_accepted(self) -> None:
        """The same notifications sent again (delivery is at least once) get answers again."""
        batch = [_note(f"INC-1/UPD-{n}/T-{n}", f"T-{n}") for n in range(3)]
        with self.opened() as notifier:
            _check_answer(batch, notifier.send(batch))
            _check_answer(batch, notifier.send(batch))
            _check_answer(batch[1:], notifier.send(batch[1:]))

    def test_a_large_batch_to_one_recipient_is_answered_in_full(self) -> None:
        """A batch of a hundred notifications to one ticket gets a hundred answers."""
        batch = [
            Notification(
                key=f"INC-1/UPD-{n}/T-1",
                recipient="T-1",
                recipient_kind="ticket",
                topic="status_update",
                incident_id="INC-1",
                subject=f"Update {n}",
                body="We are still investigating.",
                created_at=T0 + n * MINUTE,
            )
            for n in range(100)
        ]
        with self.opened() as notifier:
            _check_answer(batch, notifier.send(batch))


def _check_answer(batch: Sequence[Notification], answer: Sequence[DeliveryResult]) -> None:
    """The answer holds exactly one ``DeliveryResult`` per notification of ``batch``."""
    results = list(answer)
    assert all(isinstance(result, DeliveryResult) for result in results), results
    assert sorted(result.key for result in results) == sorted(n.key for n in batch)
