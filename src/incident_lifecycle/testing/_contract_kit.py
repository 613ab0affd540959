"""The pieces the contract suites share: settings, comparison, builders, a populated store.

Private: the public names are in :mod:`incident_lifecycle.testing.contracts`.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from ..domain.actors import Actor, Role
from ..domain.alerts import Alert, AlertStatus
from ..domain.errors import ConcurrencyConflict, NotFound
from ..domain.events import IncidentAcknowledged
from ..domain.incidents import IncidentStatus, ServiceIncident, StatusUpdate
from ..domain.reports import CustomerReport, ReportStatus
from ..lifecycle import INCIDENT_LIFECYCLE
from ..notifications import CUSTOMER_TOPICS, FanOut, Notification, RecipientKind, Topic
from ..ports import OutboxEntry, OutboxState, Store, StoreTransaction
from . import strategies as ils

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
MICROSECOND = timedelta(microseconds=1)
ENGINEER = Actor(name="ana", role=Role.ENGINEERING, team="support-eng")

Write = Callable[[StoreTransaction], object]

EACH_KIND_EXAMPLES = 50
"""Cap on the examples of a property that draws one entity of every kind (status, event
type) per example: each kind still gets this many examples, in a fraction of the time."""
MODEL_EXAMPLES = 50
"""Cap on the examples of the model-based outbox test (one store per example)."""


# -- settings -------------------------------------------------------------------------


def contract_settings(*caps: int | None) -> settings:
    """The loaded profile, without a deadline; ``max_examples`` lowered to the smallest cap."""
    current = settings()
    quiet = {*current.suppress_health_check, HealthCheck.too_slow}
    examples = min([current.max_examples, *(cap for cap in caps if cap is not None)])
    return settings(current, deadline=None, suppress_health_check=quiet, max_examples=examples)


# -- comparing entities ------------------------------------------------------------------


def canonical(value: object) -> object:
    """A plain form of an entity, value or event for comparing them field by field.

    Every attrs field is kept with its class name; datetimes become UTC
    instants (a naive one fails the comparison; one outside UTC's years 1 to
    9999, which Python holds only in an offset, becomes its distance from the
    epoch), enums keep their class, and mappings and sequences are compared
    item by item.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return ("naive datetime", value.isoformat())
        try:
            return ("datetime", value.astimezone(UTC).isoformat())
        except OverflowError:  # held only in an offset: year 0 or 10000 in UTC
            return ("instant", value - EPOCH)
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


def entry_view(entry: OutboxEntry | None, *, seq: bool = True) -> object:
    if entry is None:
        return None
    view = canonical(entry)
    assert isinstance(view, dict)
    if not seq:
        del view["seq"]
    return view


# -- builders -------------------------------------------------------------------------


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
        status=AlertStatus.RECEIVED if active or incident_id is None else AlertStatus.VALIDATED,
    )


STEPS = {
    IncidentStatus.DETECTED: (),
    IncidentStatus.INVESTIGATING: ("validate",),
    IncidentStatus.RESOLVED: ("validate", "resolve"),
    IncidentStatus.DISMISSED: ("dismiss",),
}


def make_incident(
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
    for event in STEPS[status]:
        INCIDENT_LIFECYCLE.fire(incident, event, now=detected_at)
    return incident


def make_report(
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


def make_update(update_id: str, incident_id: str, body: str = "Still looking.") -> StatusUpdate:
    return StatusUpdate(
        id=update_id,
        incident_id=incident_id,
        body=body,
        visibility="internal",
        status="investigating",
        posted_at=T0,
        author=ENGINEER,
    )


def make_note(key: str, recipient: str = "team-a", body: str = "Over to you.") -> Notification:
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


def make_fanout(recipients: Sequence[str], prefix: str = "INC-2/UPD-9") -> FanOut:
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

HUGE_LIMITS = st.integers(2**62, 2**80)
"""Limits past anything stored, some past a 64-bit integer (a SQL driver's ``LIMIT``)."""
LIMITS = st.none() | st.integers(0, 8) | HUGE_LIMITS
"""Every kind of valid ``limit``: ``None`` (all), small ones, huge ones."""
JUNK_LIMITS = st.one_of(
    st.integers(max_value=-1),
    st.booleans(),
    st.floats(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
    st.lists(st.integers(0, 3), max_size=2),
)
"""Values a ``limit`` refuses: negative, bool, not an int at all."""

CUSTOMER_TOPIC_LIST = tuple(sorted(CUSTOMER_TOPICS))
IDS = ils.identifiers()


@st.composite
def any_notifications(draw: st.DrawFn, recipient: str | None = None) -> Notification:
    """Valid notifications of any kind and topic (customer topics only to tickets, status
    updates and resolutions only to the status page)."""
    kind = draw(st.sampled_from(tuple(RecipientKind)))
    topics = {
        RecipientKind.TICKET: CUSTOMER_TOPIC_LIST,
        RecipientKind.STATUS_PAGE: (Topic.STATUS_UPDATE, Topic.RESOLUTION),
    }.get(kind, tuple(Topic))
    return Notification(
        key=draw(ils.identifiers(max_size=512)),
        recipient=draw(IDS) if recipient is None else recipient,
        recipient_kind=kind,
        topic=draw(st.sampled_from(topics)),
        incident_id=draw(st.none() | IDS),
        subject=draw(ils.texts(max_size=500)),
        body=draw(ils.texts(max_size=20_000)),
        created_at=draw(ils.aware_datetimes()),
        locale=draw(ils.identifiers(max_size=35)),
    )


@st.composite
def any_fanouts(draw: st.DrawFn) -> FanOut:
    """Fan-outs to up to six tickets (a ticket may be listed twice)."""
    return FanOut(
        key_prefix=draw(ils.identifiers(max_size=382)),
        recipients=draw(st.lists(IDS, max_size=6)),
        topic=draw(st.sampled_from(CUSTOMER_TOPIC_LIST)),
        incident_id=draw(st.none() | IDS),
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


def populate(store: Store) -> None:
    """Two incidents (one detected, one open), alerts, reports, links and a varied outbox."""
    with store.transaction() as tx:
        tx.add_incident(make_incident("INC-1", group_key="support|eu"))
        tx.add_incident(
            make_incident(
                "INC-2",
                product="chat",
                detected_at=T0 + MINUTE,
                status=IncidentStatus.INVESTIGATING,
            )
        )
        tx.add_alerts(
            [
                make_alert("ALR-1", "fp-1", "INC-1"),
                make_alert("ALR-2", "fp-2", "INC-2"),
                make_alert("ALR-3", "fp-3", "INC-1"),
            ]
        )
        for ticket in ("T-1", "T-3"):
            tx.add_report(
                make_report(ticket, product="chat", status=ReportStatus.LINKED, incident_id="INC-2")
            )
        tx.add_report(make_report("T-2", reported_at=T0 + MINUTE))
        for ticket in ("T-1", "T-2", "T-3"):
            tx.link(ticket, "INC-2")
        tx.add_update(make_update("UPD-1", "INC-2"))
        tx.append([IncidentAcknowledged(incident_id="INC-2", actor=ENGINEER, at=T0)])
        tx.enqueue([make_note("k-a1"), make_note("k-a2"), make_note("k-b1", "team-b")], T0)
        tx.enqueue([make_note("k-c1", "team-c"), make_note("k-d1", "team-d")], T0)
        tx.enqueue([make_note("k-e1", "team-e"), make_note("k-g1", "team-g")], T0)
    with store.transaction() as tx:
        claimed = tx.claim_due(T0, 10, T0 + 2 * MINUTE, "relay-1")
        assert {e.key for e in claimed} == {"k-a1", "k-b1", "k-c1", "k-d1", "k-e1", "k-g1"}
        tx.mark_dead("k-c1", "refused", T0)
        tx.mark_dead("k-g1", "refused", T0 + MICROSECOND)
        tx.mark_delivered(["k-e1"], T0)
        tx.schedule_retry("k-a1", T0 + MINUTE, "busy", T0)
        tx.schedule_retry("k-b1", T0 + 5 * MINUTE, "busy", T0)


class Abort(Exception):
    """Raised inside a transaction to roll it back."""


class Interrupt(BaseException):
    """Like ``KeyboardInterrupt``: not an ``Exception``, and still a reason to roll back."""


def rolled_back(store: Store, *steps: Write) -> None:
    """Run ``steps`` in one transaction that then raises, so that it rolls back."""
    try:
        with store.transaction() as tx:
            for step in steps:
                step(tx)
            raise Abort
    except Abort:
        pass


def in_transaction(store: Store, step: Callable[[StoreTransaction], object]) -> object:
    """Run ``step`` in a transaction of its own (committed unless it raises)."""
    with store.transaction() as tx:
        return step(tx)


def due_keys(store: Store, at: datetime) -> list[str]:
    """The keys a relay would claim at ``at`` (probed in a transaction that is rolled back)."""
    found: list[str] = []
    rolled_back(
        store, lambda tx: found.extend(e.key for e in tx.claim_due(at, 10_000, at + HOUR, "p"))
    )
    return found


def read_or_none(read: Callable[[str], object], key: str) -> object:
    try:
        return canonical(read(key))
    except NotFound:
        return None


def store_view(store: Store) -> dict[str, object]:
    """Everything observable about the populated store's records, as plain values."""
    with store.transaction() as tx:
        view: dict[str, object] = {
            "alerts": {a: read_or_none(tx.alert, a) for a in ALERT_IDS},
            "active": canonical(dict(tx.active_alerts(FINGERPRINTS))),
            "alerts_of": {i: canonical(list(tx.alerts_of(i))) for i in INCIDENT_IDS},
            "incidents": {i: read_or_none(tx.incident, i) for i in INCIDENT_IDS},
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
            "ticket_timeline": {t: canonical(list(tx.ticket_timeline(t))) for t in TICKETS},
            "last_event_at": {i: canonical(tx.last_event_at(i)) for i in INCIDENT_IDS},
            "by_state": {
                s.value: [entry_view(e) for e in tx.outbox_entries(s)] for s in OutboxState
            },
            "outbox": {k: entry_view(tx.outbox_entry(k)) for k in KEYS + FANOUT_KEYS},
            "dead": [entry_view(e) for e in tx.dead_letters()],
            "stats": canonical(tx.outbox_stats()),
            "next_due": canonical(tx.next_due_at()),
        }
    view["due_now"] = due_keys(store, T0 + 2 * MINUTE)
    view["due_later"] = due_keys(store, T0 + HOUR)
    return view


def save_alert(tx: StoreTransaction) -> None:
    alert = tx.alert("ALR-1")
    alert.status = AlertStatus.DISMISSED
    alert.active = False
    tx.save_alerts([alert])


def move_alert(tx: StoreTransaction) -> None:
    alert = tx.alert("ALR-1")
    alert.incident_id = "INC-2"
    tx.save_alerts([alert])


def save_incident(tx: StoreTransaction) -> None:
    incident = tx.incident("INC-1")
    INCIDENT_LIFECYCLE.fire(incident, "validate", now=T0 + HOUR)
    tx.save_incident(incident)


def save_report(tx: StoreTransaction) -> None:
    report = tx.report("T-2")
    assert report is not None
    report.status = ReportStatus.TROUBLESHOOTING
    tx.save_reports([report])


def redrive_and_deliver(tx: StoreTransaction) -> None:
    tx.redrive(["k-c1"], T0 + MINUTE)
    tx.mark_delivered(["k-c1"], T0 + MINUTE)


def deliver_and_read_due_time(tx: StoreTransaction) -> None:
    tx.mark_delivered(["k-a1", "k-a2"], T0)
    tx.next_due_at()


WRITES: dict[str, Write] = {
    "alerts added": lambda tx: tx.add_alerts([make_alert("ALR-9", "fp-9", "INC-1")]),
    "alert saved": save_alert,
    "alert moved": move_alert,
    "repeats counted": lambda tx: tx.count_repeats(
        {"fp-1": 5, "fp-2": 1}, {"fp-1": T0 + HOUR, "fp-2": T0}
    ),
    "incident added": lambda tx: tx.add_incident(make_incident("INC-9", group_key="chat|us")),
    "incident saved": save_incident,
    "report added": lambda tx: tx.add_report(make_report("T-9", reported_at=T0 + HOUR)),
    "report saved": save_report,
    "ticket linked": lambda tx: tx.link("T-9", "INC-1"),
    "ticket relinked": lambda tx: tx.link("T-1", "INC-1"),
    "ticket unlinked": lambda tx: tx.unlink("T-1"),
    "links moved": lambda tx: tx.move_links("INC-2", "INC-1"),
    "linked reports moved in bulk": lambda tx: tx.transition_linked_reports(
        "INC-2", ReportStatus.LINKED, ReportStatus.SOLVED, T0 + HOUR
    ),
    "update added": lambda tx: tx.add_update(make_update("UPD-9", "INC-1")),
    "events appended": lambda tx: tx.append(
        [IncidentAcknowledged(incident_id="INC-1", actor=ENGINEER, at=T0)]
    ),
    "notifications enqueued": lambda tx: tx.enqueue(
        [make_note("k-a3"), make_note("k-f1", "team-f")], T0
    ),
    "fan-out enqueued": lambda tx: tx.enqueue_fanout(make_fanout(["T-1", "T-3"]), T0),
    "entries claimed": lambda tx: tx.claim_due(T0 + 10 * MINUTE, 10, T0 + HOUR, "relay-2"),
    "entries delivered": lambda tx: tx.mark_delivered(["k-a1", "k-d1"], T0),
    "retry scheduled": lambda tx: tx.schedule_retry("k-d1", T0 + 3 * HOUR, "later", T0),
    "entry dead-lettered": lambda tx: tx.mark_dead("k-a1", "refused", T0),
    "dead letter redriven": lambda tx: tx.redrive(["k-c1"], T0 + MINUTE),
    "dead letter redriven, then delivered": redrive_and_deliver,
    "delivered, then due time read": deliver_and_read_due_time,
}
"""One of each kind of write the store port offers, on the populated store."""


def every_write(tx: StoreTransaction) -> None:
    for name, write in WRITES.items():
        if name != "every write at once":
            write(tx)


WRITES["every write at once"] = every_write


def save_once(store: Store, worker: int) -> str:
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


def apply_link(
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


def claim_keys(
    store: Store,
    at: datetime,
    *,
    limit: int = 10,
    lease: timedelta = 2 * MINUTE,
    per_recipient: int = 1,
) -> list[str]:
    """Claim what is due at ``at`` (committed) and return the keys."""
    with store.transaction() as tx:
        if per_recipient == 1:  # the port's default, as a relay of one message per turn calls it
            return [e.key for e in tx.claim_due(at, limit, at + lease, "relay")]
        claimed = tx.claim_due(at, limit, at + lease, "relay", per_recipient=per_recipient)
        return [e.key for e in claimed]


def outbox_view(store: Store, keys: Sequence[str]) -> dict[str, object]:
    with store.transaction() as tx:
        view: dict[str, object] = {k: entry_view(tx.outbox_entry(k)) for k in keys}
        view["stats"] = canonical(tx.outbox_stats())
        view["dead"] = [entry_view(e) for e in tx.dead_letters()]
        view["next"] = canonical(tx.next_due_at())
    return view


# -- the factory -------------------------------------------------------------------


class StoreHarness(abc.ABC):
    """The factory every part of the store contract builds its stores with."""

    max_examples: ClassVar[int | None] = None
    """At most this many examples per property-based test (``None``: as the profile says).

    Each example makes a store: lower it for a store that is slow to make.
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
            populate(store)
            yield store
