"""Shared helpers and fixtures for the ``IncidentDesk`` tests.

A plain module, imported explicitly by the desk test modules (no conftest
magic). Every desk test builds its store through :data:`STORE_FACTORIES`, so
adding an adapter there (SQLite, say) runs every desk test on it too.

Fixtures: ``store_factory`` (parametrised over the factories; a callable, safe
to call once per hypothesis example), ``store``, ``clock``, ``notifier`` and
``desk``. A test module binds each fixture it uses (and each one those depend
on) to a module name, which is how pytest finds it and keeps ruff from reading
the parameter as a redefinition of an unused import::

    import desk_support as support

    store_factory = support.store_factory
    store = support.store
    clock = support.clock
    notifier = support.notifier
    desk = support.desk
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

import postgres_support
from incident_lifecycle import (
    Actor,
    AlertSignal,
    CustomerReport,
    ReportStatus,
    Role,
    ServiceIncident,
    Symptom,
)
from incident_lifecycle.adapters import InMemoryStore, RecordingNotifier
from incident_lifecycle.adapters.sqlite import SQLiteStore
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.notifications import DEFAULT_TEMPLATES, Notification, Templates, Topic
from incident_lifecycle.ports import Store
from incident_lifecycle.testing import FakeClock

__all__ = [
    "ENG_CHAT",
    "FaultPlan",
    "FaultyTemplates",
    "InjectedFault",
    "ObservedStore",
    "ENG_GUIDE",
    "ENG_SUPPORT",
    "ENG_TALK",
    "IM",
    "MONITOR",
    "OWNERSHIP",
    "START",
    "STORE_FACTORIES",
    "SUPPORT_AGENT",
    "Snapshot",
    "canonical",
    "clock",
    "delivered_topics",
    "desk",
    "link_tickets",
    "make_desk",
    "new_store",
    "notifier",
    "open_incident",
    "potential_incident",
    "signal",
    "snapshot",
    "store",
    "store_factory",
]

START = datetime.fromisoformat("2026-03-02T09:00:00+00:00")
"""Where every desk test's ``FakeClock`` starts."""

OWNERSHIP: Mapping[str, str] = {
    "support": "support-eng",
    "chat": "chat-eng",
    "talk": "talk-eng",
    "guide": "guide-eng",
}

ENG_SUPPORT = Actor(name="ana", role=Role.ENGINEERING, team="support-eng")
ENG_CHAT = Actor(name="chen", role=Role.ENGINEERING, team="chat-eng")
ENG_TALK = Actor(name="tomas", role=Role.ENGINEERING, team="talk-eng")
ENG_GUIDE = Actor(name="greta", role=Role.ENGINEERING, team="guide-eng")
SUPPORT_AGENT = Actor(name="sam", role=Role.SUPPORT, team="tier1")
IM = Actor(name="iris", role=Role.INCIDENT_MANAGER)
MONITOR = Actor(name="noc", role=Role.MONITORING)

# -- stores ------------------------------------------------------------------

StoreFactory = Callable[[Path], Store]
"""Builds a fresh, empty store; gets a scratch directory it may keep files in."""

STORE_FACTORIES: dict[str, StoreFactory] = {
    "memory": lambda _scratch: InMemoryStore(),
    "sqlite": lambda scratch: SQLiteStore(scratch / "desk.db"),
    "postgres": lambda _scratch: postgres_support.postgres_store(),
}
"""Every store the desk tests run on, by name (the ``store`` fixture's params)."""


LIVE_POSTGRES_STORES = 2
"""How many PostgreSQL stores one test keeps at once (each holds connections)."""


def new_store() -> Store:
    """A fresh store from the first factory, for code that runs outside fixtures."""
    factory = next(iter(STORE_FACTORIES.values()))
    return factory(Path(tempfile.mkdtemp(prefix="desk-store-")))


def _close(store: object) -> None:
    close = getattr(store, "close", None)
    if callable(close):
        close()


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], Store]]:
    """A callable returning a fresh store of the parametrised kind (closed at teardown)."""
    factory = STORE_FACTORIES[request.param]
    made: list[Store] = []

    def build() -> Store:
        if request.param == "postgres":
            # A store per hypothesis example: the older ones are done with (a test holds
            # two at most), so they are emptied for reuse rather than kept connected.
            while len(made) >= LIVE_POSTGRES_STORES:
                _close(made.pop(0))
        built = factory(tmp_path_factory.mktemp(f"store-{request.param}"))
        made.append(built)
        return built

    yield build
    for built in made:
        _close(built)


@pytest.fixture
def store(store_factory: Callable[[], Store]) -> Store:
    """A fresh, empty store."""
    return store_factory()


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock standing at :data:`START`."""
    return FakeClock(START)


@pytest.fixture
def notifier() -> RecordingNotifier:
    """A notifier that records every notification delivered."""
    return RecordingNotifier()


@pytest.fixture
def desk(store: Store, notifier: RecordingNotifier, clock: FakeClock) -> IncidentDesk:
    """A desk over the fixtures' store, notifier and clock, with the test ownership map."""
    return make_desk(store=store, notifier=notifier, clock=clock)


# -- builders ----------------------------------------------------------------


def make_desk(
    store: Store | None = None,
    notifier: Any = None,
    clock: FakeClock | None = None,
    **kwargs: Any,
) -> IncidentDesk:
    """An ``IncidentDesk`` over a store, a ``RecordingNotifier`` and a ``FakeClock``.

    Anything left out is made fresh; ``kwargs`` go to ``IncidentDesk`` (an
    ``ownership`` given there replaces :data:`OWNERSHIP`).
    """
    kwargs.setdefault("ownership", OWNERSHIP)
    return IncidentDesk(
        store=store if store is not None else new_store(),
        notifier=notifier if notifier is not None else RecordingNotifier(),
        clock=clock if clock is not None else FakeClock(START),
        **kwargs,
    )


def signal(
    fp: str,
    product: str = "support",
    region: str | None = "pod17",
    kind: str = "latency",
    at: datetime | None = None,
    summary: str = "p99 latency above 2s",
    labels: Mapping[str, str] | None = None,
) -> AlertSignal:
    """A monitoring signal with fingerprint ``fp`` (observed at :data:`START` by default)."""
    return AlertSignal(
        fingerprint=fp,
        product=product,
        kind=kind,
        summary=summary,
        observed_at=at if at is not None else START,
        region=region,
        labels=labels,
    )


def potential_incident(
    desk: IncidentDesk, fp: str = "fp-1", product: str = "support", region: str = "pod17"
) -> str:
    """Receive one alert and return the id of the potential incident it started."""
    return desk.receive_alert(signal(fp, product=product, region=region)).incident_id


def open_incident(
    desk: IncidentDesk,
    fp: str = "fp-1",
    product: str = "support",
    region: str = "pod17",
    severity: str = "SEV2",
    by: Actor | None = None,
) -> str:
    """Receive one alert and validate its potential incident; return the incident id."""
    incident_id = potential_incident(desk, fp, product, region)
    owner = by if by is not None else IM
    desk.validate_incident(incident_id, owner, severity)
    return incident_id


def link_tickets(
    desk: IncidentDesk,
    incident_id: str,
    tickets: Mapping[str, ReportStatus] | list[str],
    product: str = "support",
    locale: str = "en",
) -> None:
    """Add linked customer reports for ``tickets`` straight through the store.

    ``tickets`` is a list of ticket ids (all ``linked``) or a mapping of ticket
    id to the report's status (``linked`` or ``solved``).
    """
    statuses = (
        dict(tickets)
        if isinstance(tickets, Mapping)
        else dict.fromkeys(tickets, ReportStatus.LINKED)
    )
    now = desk.clock.now()
    with desk.store.transaction() as tx:
        for number, (ticket, status) in enumerate(statuses.items()):
            tx.add_report(
                CustomerReport(
                    ticket_id=ticket,
                    account_id=f"acct-{number}",
                    product=product,
                    symptom=Symptom.SLOW,
                    summary="pages load slowly",
                    reported_at=now,
                    locale=locale,
                    status=status,
                    incident_id=incident_id,
                    ended_at=now if status is ReportStatus.SOLVED else None,
                )
            )
            tx.link(ticket, incident_id)


def delivered_topics(
    desk: IncidentDesk, notifier: RecordingNotifier, recipient: str | None = None
) -> list[tuple[str, Topic]]:
    """Deliver the outbox and return ``(recipient, topic)`` of everything sent so far."""
    desk.deliver()
    sent: list[Notification] = list(notifier.sent)
    return [(n.recipient, n.topic) for n in sent if recipient is None or n.recipient == recipient]


# -- snapshots ---------------------------------------------------------------


@attrs.frozen
class Snapshot:
    """Everything observable in a desk's store, as plain comparable values."""

    incidents: tuple[tuple[tuple[str, object], ...], ...]
    alerts: tuple[tuple[tuple[str, object], ...], ...]
    timelines: tuple[tuple[str, tuple[object, ...]], ...]
    updates: tuple[tuple[str, tuple[object, ...]], ...]
    links: tuple[tuple[str, tuple[str, ...]], ...]
    reports: tuple[tuple[tuple[str, object], ...], ...]
    outbox: tuple[int, int, int]
    next_due_at: datetime | None


def _fields(entity: object) -> tuple[tuple[str, object], ...]:
    return tuple(sorted(attrs.asdict(entity, recurse=False).items()))  # type: ignore[arg-type]


def snapshot(desk: IncidentDesk, tickets: tuple[str, ...] = ()) -> Snapshot:
    """Read every incident, alert, timeline, update, link, report and the outbox counts."""
    with desk.store.transaction() as tx:
        incidents: list[ServiceIncident] = list(tx.incidents_detected_between(None, None))
        ids = [i.id for i in incidents]
        alerts = [a for i in ids for a in tx.alerts_of(i)]
        stats = tx.outbox_stats()
        return Snapshot(
            incidents=tuple(_fields(i) for i in incidents),
            alerts=tuple(_fields(a) for a in alerts),
            timelines=tuple((i, tuple(tx.timeline(i))) for i in ids),
            updates=tuple((i, tuple(tx.updates(i))) for i in ids),
            links=tuple((i, tuple(tx.linked_tickets(i))) for i in ids),
            reports=tuple(_fields(r) for r in (tx.report(t) for t in tickets) if r is not None),
            outbox=(stats.pending, stats.delivered, stats.dead),
            next_due_at=tx.next_due_at(),
        )


_ID = re.compile(r"\b(INC|ALR|UPD)-(\d+)(?!\d)")


def canonical(value: object) -> str:
    """``repr(value)`` with each store-made id replaced by its rank among the ids of its kind.

    Ids come from sequences that, like a database's, are not rolled back: a
    failed command may leave a gap. Two stores that hold the same things in
    the same order have the same canonical form, gaps or not.
    """
    text = repr(value)
    numbers: dict[str, set[int]] = {}
    for match in _ID.finditer(text):
        numbers.setdefault(match.group(1), set()).add(int(match.group(2)))
    rank = {
        (prefix, number): position
        for prefix, found in numbers.items()
        for position, number in enumerate(sorted(found), start=1)
    }
    return _ID.sub(lambda m: f"{m.group(1)}#{rank[m.group(1), int(m.group(2))]}", text)


# -- fault injection -----------------------------------------------------------


class InjectedFault(RuntimeError):
    """The failure a :class:`FaultPlan` raises at its chosen call."""


@attrs.define(eq=False)
class FaultPlan:
    """Counts named calls and raises :class:`InjectedFault` at the ``at``-th call of ``point``.

    A plan fires once, then disarms itself; ``fired`` tells whether it did.
    """

    point: str | None = None
    at: int = 1
    calls: dict[str, int] = attrs.field(factory=dict)
    fired: bool = False

    def arm(self, point: str | None, at: int = 1) -> None:
        """Raise at the ``at``-th call of ``point`` from now on (``None``: never)."""
        self.point, self.at, self.fired = point, at, False
        self.calls.clear()

    def disarm(self) -> None:
        """Never raise (calls are still counted)."""
        self.point = None

    def hit(self, name: str) -> None:
        """Count a call of ``name``; raise if it is the planned one."""
        self.calls[name] = self.calls.get(name, 0) + 1
        if name == self.point and self.calls[name] == self.at:
            self.point, self.fired = None, True
            raise InjectedFault(f"injected failure at call {self.at} of {name}")


class _ObservedTransaction:
    """Delegates to a real transaction; each method call is reported to the plan after it ran."""

    def __init__(self, inner: Any, plan: FaultPlan) -> None:
        self._inner = inner
        self._plan = plan

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            self._plan.hit(name)  # after the real call: its change must be rolled back
            return result

        return call


class ObservedStore:
    """A store (the ``Store`` port) wrapping another: counts transactions, may fail on plan."""

    def __init__(self, inner: Store, plan: FaultPlan | None = None) -> None:
        self.inner = inner
        self.plan = plan if plan is not None else FaultPlan()
        self.transactions = 0

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """Begin a unit of work on the inner store, observed."""
        self.transactions += 1
        with self.inner.transaction() as tx:
            yield _ObservedTransaction(tx, self.plan)


def _raw_catalogue() -> dict[str, dict[Topic, tuple[str, str]]]:
    return {
        locale: {topic: (subject.source, body.source) for topic, (subject, body) in m.items()}
        for locale, m in DEFAULT_TEMPLATES.catalogue.items()
    }


@attrs.frozen
class FaultyTemplates(Templates):
    """The shipped templates, whose ``render`` reports to a plan (and so may fail)."""

    plan: FaultPlan = attrs.field(kw_only=True, eq=False)

    @classmethod
    def shipped(cls, plan: FaultPlan) -> FaultyTemplates:
        """The shipped catalogue, observed by ``plan``."""
        return cls(_raw_catalogue(), plan=plan)

    def render(self, topic: Topic, locale: str, values: Mapping[str, object]) -> tuple[str, str]:
        """Report the call to the plan, then render as usual."""
        self.plan.hit("render")
        return super().render(topic, locale, values)
