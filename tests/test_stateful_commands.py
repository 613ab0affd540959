"""Random command sequences on every store at once: same outcomes, same state, the lifecycle kept.

One desk over an ``InMemoryStore``, one over a ``SQLiteStore`` (a temporary file) and,
in ``TestDeskTrio``, one over a ``PostgresStore`` when the test server answers
(``postgres_support``; without a server only the first two run, and
``INCIDENT_LIFECYCLE_REQUIRE_INTEROP=1`` fails) share the ownership map, one
``FakeClock`` and the delivery seed; every command the machine draws
(``strategies.commands``, about the incidents and alerts seen so far, tickets,
products and fingerprints from small pools) runs on each. After every step:

(a) both desks gave the same outcome: equal results, compared through :func:`plain`,
    or the same refusal (error type and every detail: field, ids, status); no other
    error escapes (see :data:`REFUSALS`);
(b) a refused command changed nothing in either store (a snapshot before and after);
(c) the two stores hold the same incidents, alerts, reports, links, timelines, updates,
    outbox entries and dead letters, and the two notifiers received the same
    notifications, in the same order for each recipient;
(d) the lifecycle's invariants hold for every incident, alert and report, and each
    incident's state is what its timeline says happened (:meth:`DeskPair.lifecycle_is_kept`).

Ids are compared as they are: the stores must hand out the same ones. PostgreSQL
sequences do not roll back, so ``PostgresStore`` keeps its id counters in a table
that rolls back with the transaction (like the other two stores): a command refused
after taking an id leaves no gap on any store, and the comparison holds as it is.

The notifiers record everything but refuse the ``guide-eng`` team (a
``FlakyNotifier`` with only ``reject_recipients``, which is deterministic), so
dead letters and their redrive are part of the runs.
"""

from __future__ import annotations

import enum
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import postgres_support
from incident_lifecycle.adapters import InMemoryStore, RecordingNotifier
from incident_lifecycle.adapters.sqlite import SQLiteStore
from incident_lifecycle.commands import (
    COMMANDS,
    Command,
    DetachAlert,
    Operation,
    ReceiveAlert,
    ReceiveAlerts,
    RedriveDeadLetters,
    TriageReport,
)
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.domain import (
    OPEN_STATUSES,
    Actor,
    AlertSignal,
    AlertStatus,
    CustomerReport,
    IncidentStatus,
    ReportStatus,
    Role,
    Symptom,
)
from incident_lifecycle.domain.errors import (
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPermitted,
)
from incident_lifecycle.domain.events import (
    DomainEvent,
    IncidentClosed,
    IncidentDeclared,
    IncidentDismissed,
    IncidentHandedOff,
    IncidentMerged,
    IncidentReopened,
    IncidentResolved,
    IncidentValidated,
    SeverityChanged,
)
from incident_lifecycle.domain.incidents import ACTIVE_STATUSES
from incident_lifecycle.ports import OutboxEntry, Store
from incident_lifecycle.testing import FakeClock, FlakyNotifier
from incident_lifecycle.testing import strategies as ils
from incident_lifecycle.triage import TriageDecision

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWNERSHIP: Mapping[str, str] = {"chat": "chat-eng", "talk": "talk-eng", "guide": "guide-eng"}
PRODUCTS = [*OWNERSHIP, "billing"]
"""The owned products, and one nobody owns until an ``own`` command says so."""
TEAMS = ["chat-eng", "talk-eng", "guide-eng", "ops-eng"]
REFUSED = frozenset({"guide-eng"})
"""Recipients the notifiers reject: their notifications end as dead letters."""
FINGERPRINTS = [f"fp-{n}" for n in range(1, 6)]
TICKETS = [f"T-{n}" for n in range(1, 7)]
REGIONS = ["pod1", "pod2"]
MANAGER = Actor(name="iris", role=Role.INCIDENT_MANAGER)
ACTORS = [
    MANAGER,
    Actor(name="noc", role=Role.MONITORING),
    Actor(name="sam", role=Role.SUPPORT, team="tier1"),
    Actor(name="chen", role=Role.ENGINEERING, team="chat-eng"),
    Actor(name="tomas", role=Role.ENGINEERING, team="talk-eng"),
    Actor(name="greta", role=Role.ENGINEERING, team="guide-eng"),
]
WHO = st.just(MANAGER) | st.sampled_from(ACTORS)
"""Half the commands by the incident manager (who may do anything), half by anyone."""
NO_INCIDENT, NO_ALERT = "INC-0", "ALR-0"
"""Ids no store ever hands out (they count from 1): commands about them are refused."""

INTAKE_OPS = ("alert", "alerts", "clear", "clear_alerts", "declare", "report", "reports")
TRIAGE_OPS = ("acknowledge", "validate", "dismiss", "detach")
WORK_OPS = ("update", "severity", "hand_off", "resolve", "reopen", "merge", "close")
TICKET_OPS = ("link", "unlink", "resolve_report", "transfer_report")
UPKEEP_OPS = ("remind", "escalate", "redrive", "deliver", "own")
"""Every op of ``COMMANDS``, by the rule that draws it: what starts things, what works
an incident or a triaged ticket, and upkeep."""

_OPEN_WORK = ("update", "severity", "hand_off", "resolve", "merge", "acknowledge")
NEXT_OPS: Mapping[IncidentStatus, tuple[str, ...]] = {
    IncidentStatus.DETECTED: ("validate", "dismiss", "acknowledge", "detach"),
    **dict.fromkeys(OPEN_STATUSES, _OPEN_WORK),
    IncidentStatus.RESOLVED: ("close", "reopen"),
}
"""The commands that move an incident on from each status (``work_incidents``)."""

CLOCK_STEPS = st.sampled_from([1, 4, 30, 90, 60 * 25, 60 * 24 * 4]).map(
    lambda minutes: timedelta(minutes=minutes)
)
"""Small steps (grouping and digests), hours (reminders), past the reopen window, days."""


# -- normalising ---------------------------------------------------------------


_ATOMS = (enum.Enum, date, timedelta, str, int, float, bool, type(None))


_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(kind: type) -> tuple[str, ...] | None:
    """The attrs fields of ``kind``, or ``None`` if it is not an attrs class."""
    if kind not in _FIELD_NAMES:
        _FIELD_NAMES[kind] = tuple(f.name for f in attrs.fields(kind)) if attrs.has(kind) else None
    return _FIELD_NAMES[kind]


def plain(value: object) -> object:
    """``value`` as nested tuples of plain values, equal when the two stores agree.

    Attrs instances (entities compare by identity) become their class name and
    every field; mappings become sorted items; enums and datetimes stay as
    they are (aware datetimes compare as instants, in whichever zone a store
    returns them).
    """
    if isinstance(value, _ATOMS):
        return value
    names = _field_names(type(value))
    if names is not None:
        return (type(value).__name__, tuple((n, plain(getattr(value, n))) for n in names))
    if isinstance(value, Mapping):
        return ("mapping", tuple(sorted(((k, plain(v)) for k, v in value.items()), key=repr)))
    if isinstance(value, list | tuple):
        return tuple(plain(item) for item in value)
    raise TypeError(f"no plain form for {type(value).__name__}: {value!r}")


REFUSALS = (InvalidInput, InvalidTransition, NotFound, NotPermitted)
"""How a desk refuses a command. Anything else escapes and fails the test: the machine
runs one command at a time, so a ``ConcurrencyConflict`` would be a uniqueness rule a
command broke on its own, and a ``StoreError`` a store that broke."""


@attrs.frozen
class Refusal:
    """A command refused: the error's type and everything it carries (field, ids, status)."""

    kind: str
    details: tuple[tuple[str, object], ...]


def outcome(desk: IncidentDesk, command: Command[Any] | Operation[Any]) -> object:
    """The plain result of running ``command`` on ``desk``, or a :class:`Refusal`."""
    try:
        return plain(desk.handle(command))
    except REFUSALS as error:
        details = tuple(sorted((k, plain(v)) for k, v in vars(error).items()))
        return Refusal(type(error).__name__, details)


def _entries(entries: Iterable[OutboxEntry]) -> tuple[object, ...]:
    """Outbox entries, each claim reduced to whether there is one (relays are named at random)
    and each ``seq`` to its rank among ``entries`` (the port promises an order, not numbers)."""
    listed = list(entries)
    rank = {seq: n for n, seq in enumerate(sorted(e.seq for e in listed))}
    return tuple(
        plain(
            attrs.evolve(
                entry, claim=None if entry.claim is None else "a relay", seq=rank[entry.seq]
            )
        )
        for entry in listed
    )


@attrs.frozen
class Snapshot:
    """Everything a desk shows about the incidents, alerts, tickets and keys seen so far."""

    open_incidents: tuple[str, ...]
    potential_incidents: tuple[str, ...]
    incidents: tuple[object, ...]
    alerts: tuple[object, ...]
    links: tuple[tuple[str, tuple[str, ...]], ...]
    timelines: tuple[object, ...]
    updates: tuple[object, ...]
    reports: tuple[object, ...]
    outbox: object
    dead_letters: tuple[object, ...]
    entries: tuple[object, ...]


def snapshot(desk: IncidentDesk, incident_ids: Iterable[str], keys: Iterable[str]) -> Snapshot:
    """Read, through the desk, everything about ``incident_ids``, every ticket and ``keys``."""
    ids = tuple(incident_ids)
    with desk.store.transaction() as tx:
        found = [tx.outbox_entry(key) for key in sorted(keys)]
    entries = _entries(e for e in found if e is not None)
    return Snapshot(
        open_incidents=tuple(i.id for i in desk.open_incidents()),
        potential_incidents=tuple(i.id for i in desk.potential_incidents()),
        incidents=tuple(plain(desk.incident(i)) for i in ids),
        alerts=tuple((i, plain(list(desk.alerts_of(i)))) for i in ids),
        links=tuple((i, tuple(desk.linked_tickets(i))) for i in ids),
        timelines=tuple((i, plain(list(desk.timeline(i)))) for i in ids),
        updates=tuple((i, plain(list(desk.updates(i)))) for i in ids),
        reports=tuple((t, plain(desk.report(t))) for t in TICKETS),
        outbox=plain(desk.outbox_stats()),
        dead_letters=_entries(desk.dead_letters()),
        entries=entries,
    )


def _preferring(likely: list[str], every: list[str]) -> st.SearchStrategy[str]:
    """Mostly one of ``likely`` (if any), else any of ``every``."""
    if not likely:
        return st.sampled_from(every)
    return st.sampled_from(likely) | st.sampled_from([*likely, *every])


def _by_recipient(notifier: RecordingNotifier) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {}
    for notification in notifier.sent:
        out.setdefault(notification.recipient, []).append(plain(notification))
    return out


def _difference(memory: object, sqlite: object) -> str:
    """Where two plain values first differ, for the failure message."""
    if isinstance(memory, tuple) and isinstance(sqlite, tuple):
        for index, (ours, theirs) in enumerate(zip(memory, sqlite, strict=False)):
            if ours != theirs:
                return f"[{index}] {_difference(ours, theirs)}"
        if len(memory) != len(sqlite):
            return f"memory has {len(memory)} items, sqlite {len(sqlite)}"
    return f"memory {memory!r} != sqlite {sqlite!r}"


def _in_order(*times: datetime | None) -> bool:
    present = [t for t in times if t is not None]
    return present == sorted(present)


# -- the machine -------------------------------------------------------------------


class DeskPair(RuleBasedStateMachine):
    """Two desks, one per store, run the same commands and must stay the same."""

    with_postgres = False
    """Whether a third desk runs on PostgreSQL (``DeskTrio``)."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(START)
        self.scratch = tempfile.TemporaryDirectory(prefix="stateful-")
        self.sqlite = SQLiteStore(Path(self.scratch.name) / "desk.db")
        stores: dict[str, Store] = {"memory": InMemoryStore(), "sqlite": self.sqlite}
        self.postgres = postgres_support.optional_store() if self.with_postgres else None
        if self.postgres is not None:
            stores["postgres"] = self.postgres
        self.recorders = {name: RecordingNotifier() for name in stores}
        self.desks = {
            name: IncidentDesk(
                store=store,
                notifier=FlakyNotifier(reject_recipients=REFUSED, inner=self.recorders[name]),
                ownership=OWNERSHIP,
                clock=self.clock,
                seed=0,
            )
            for name, store in stores.items()
        }
        self.incidents: list[str] = []
        """Every incident id seen, in the order first seen (the memory desk's view)."""
        self.alerts: list[str] = []
        self.statuses: dict[str, IncidentStatus] = {}
        self.triaged: list[str] = []
        self.pending = 0
        self.snaps = self._snapshots()

    def teardown(self) -> None:
        self.sqlite.close()
        if self.postgres is not None:
            self.postgres.close()
        self.scratch.cleanup()

    # -- what the machine knows ---------------------------------------------------
    @property
    def memory(self) -> IncidentDesk:
        return self.desks["memory"]

    def _keys(self) -> set[str]:
        """Every notification key either notifier received, and every dead letter's."""
        keys = {n.key for recorder in self.recorders.values() for n in recorder.sent}
        for desk in self.desks.values():
            keys |= {e.key for e in desk.dead_letters()}
        return keys

    def _snapshots(self) -> dict[str, Snapshot]:
        keys = self._keys()
        return {name: snapshot(desk, self.incidents, keys) for name, desk in self.desks.items()}

    def _look(self) -> bool:
        """Note the incidents, alerts, tickets and pending notifications the memory desk shows.

        Every incident is active when it is created (potential or open), so
        the active lists show each new one; every alert belongs to an incident.
        Tell whether an incident or alert is new.
        """
        desk = self.memory
        before = (len(self.incidents), len(self.alerts))
        for incident in (*desk.open_incidents(), *desk.potential_incidents()):
            if incident.id not in self.incidents:
                self.incidents.append(incident.id)
        for incident_id in self.incidents:
            self.statuses[incident_id] = desk.incident(incident_id).status
            for alert in desk.alerts_of(incident_id):
                if alert.id not in self.alerts:
                    self.alerts.append(alert.id)
        self.triaged = [t for t in TICKETS if desk.report(t) is not None]
        self.pending = desk.outbox_stats().pending
        return (len(self.incidents), len(self.alerts)) != before

    def _commands(
        self, ops: tuple[str, ...], likely: list[str], by: st.SearchStrategy[Actor]
    ) -> st.SearchStrategy[Any]:
        """Commands of ``ops`` about what exists, mostly about the ``likely`` incidents.

        The rest name any incident or alert seen, or one that does not exist,
        so refusals stay common too.
        """
        now = self.clock.now()
        active = [a.id for i in likely for a in self.memory.alerts_of(i) if a.active]
        return ils.commands(
            ops,
            incident_ids=_preferring(likely, [*self.incidents, NO_INCIDENT]),
            alert_ids=_preferring(active, [*self.alerts, NO_ALERT]),
            ticket_ids=_preferring(self.triaged, TICKETS),
            products=st.sampled_from(PRODUCTS),
            fingerprints=st.sampled_from(FINGERPRINTS),
            regions=st.sampled_from(REGIONS),
            teams=st.sampled_from(TEAMS),
            notification_keys=st.sampled_from(sorted(self._keys()) or ["no-such-key"]),
            by=by,
            times=st.integers(-180, 5).map(lambda minutes: now + timedelta(minutes=minutes)),
        )

    def _in(self, statuses: Iterable[IncidentStatus]) -> list[str]:
        """The incidents seen that are now in one of ``statuses``."""
        wanted = frozenset(statuses)
        return [i for i, status in self.statuses.items() if status in wanted]

    # -- running a command on both desks ----------------------------------------
    def _run(
        self,
        data: st.DataObject,
        ops: tuple[str, ...],
        likely: list[str],
        by: st.SearchStrategy[Actor] = WHO,
    ) -> None:
        command = data.draw(self._commands(ops, likely, by), label="command")
        before = self.snaps
        drawn = plain(command)
        outcomes = {}
        for name, desk in self.desks.items():
            outcomes[name] = outcome(desk, command)
            assert plain(command) == drawn, f"{name} changed the command it ran"
        for name, found in outcomes.items():
            assert found == outcomes["memory"], f"{name} disagrees with memory on the outcome"
        result = outcomes["memory"]
        event(f"{command.op}: {result.kind if isinstance(result, Refusal) else 'done'}")
        after = self._snapshots()
        if isinstance(result, Refusal):
            for name in self.desks:
                assert after[name] == before[name], f"a refused command changed {name}"
        if self._look():
            after = self._snapshots()
        self.snaps = after

    @initialize(data=st.data())
    def start(self, data: st.DataObject) -> None:
        """Monitoring sends a batch of signals and someone declares an incident."""
        self._run(data, ("alerts",), [], by=st.just(MANAGER))
        self._run(data, ("declare",), [], by=st.just(MANAGER))

    @rule(data=st.data())
    def intake(self, data: st.DataObject) -> None:
        """Signals and clears from monitoring, declarations, customer reports to triage."""
        self._run(data, INTAKE_OPS, self._in(OPEN_STATUSES))

    @precondition(lambda self: bool(self._in(NEXT_OPS)))
    @rule(data=st.data())
    def work_incidents(self, data: st.DataObject) -> None:
        """An incident moves on: one of the commands its status allows, on it (and its peers)."""
        incident = data.draw(st.sampled_from(self._in(NEXT_OPS)), label="incident")
        status = self.statuses[incident]
        peers = self._in(OPEN_STATUSES if status in OPEN_STATUSES else {status})
        self._run(data, NEXT_OPS[status], [incident, *(p for p in peers if p != incident)])

    @precondition(lambda self: bool(self.incidents))
    @rule(data=st.data())
    def stray_commands(self, data: st.DataObject) -> None:
        """Any command on any incident, whatever its status: mostly refused."""
        self._run(data, (*TRIAGE_OPS, *WORK_OPS), [])

    @precondition(lambda self: bool(self.triaged))
    @rule(data=st.data())
    def work_tickets(self, data: st.DataObject) -> None:
        """Support links and unlinks tickets, solves or transfers troubleshooting."""
        self._run(data, TICKET_OPS, self._in(OPEN_STATUSES))

    @rule(data=st.data())
    def upkeep(self, data: st.DataObject) -> None:
        """Reminders, redrives, a (partial) delivery, a change of ownership."""
        self._run(data, UPKEEP_OPS, [])

    @rule(step=CLOCK_STEPS)
    def time_passes(self, step: timedelta) -> None:
        """Both desks see the same later time."""
        self.clock.advance(step)

    @precondition(lambda self: self.pending)
    @rule()
    def relay_drains(self) -> None:
        """Deliver everything due on both desks: same report, same notifications."""
        reports = [plain(desk.deliver()) for desk in self.desks.values()]
        assert same(reports), "the desks delivered differently"
        self._look()
        self.snaps = self._snapshots()

    # -- checks after every step --------------------------------------------------
    @invariant()
    def stores_agree(self) -> None:
        """Every store holds the same things, and every notifier received the same."""
        memory = self.snaps["memory"]
        for name, other in self.snaps.items():
            for field in attrs.fields(Snapshot):
                ours, theirs = getattr(memory, field.name), getattr(other, field.name)
                assert ours == theirs, f"{name} {field.name}: {_difference(ours, theirs)}"
        received = [_by_recipient(recorder) for recorder in self.recorders.values()]
        assert same(received), "the notifiers received different notifications"

    @invariant()
    def lifecycle_is_kept(self) -> None:
        """Each incident, alert and report is in a state its lifecycle allows."""
        now = self.clock.now()
        desk = self.memory
        incidents = {i: desk.incident(i) for i in self.incidents}
        active_by_fingerprint: dict[str, list[str]] = {}
        for incident in incidents.values():
            self._check_incident(incident, incidents, now)
            _check_history(incident, desk.timeline(incident.id), now)
            for alert in desk.alerts_of(incident.id):
                assert alert.incident_id == incident.id
                if alert.active:
                    active_by_fingerprint.setdefault(alert.fingerprint, []).append(alert.id)
                    assert incident.status in ACTIVE_STATUSES, (alert.id, incident.status)
                if alert.status is AlertStatus.RECEIVED:
                    assert incident.status is IncidentStatus.DETECTED, (alert.id, incident.status)
                assert alert.first_seen_at <= alert.last_seen_at
            for ticket in desk.linked_tickets(incident.id):
                report = desk.report(ticket)
                assert report is not None, ticket
                assert report.incident_id == incident.id, ticket
                if incident.status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
                    assert report.status is not ReportStatus.LINKED, (ticket, incident.status)
        for fingerprint, alert_ids in active_by_fingerprint.items():
            assert len(alert_ids) == 1, f"{fingerprint} has active alerts {alert_ids}"
        for ticket in TICKETS:
            report = desk.report(ticket)
            if report is None:
                continue
            if report.status is ReportStatus.LINKED:
                assert report.incident_id is not None
                assert ticket in desk.linked_tickets(report.incident_id), ticket
            if report.status in (ReportStatus.RECEIVED, ReportStatus.TROUBLESHOOTING):
                assert report.incident_id is None, ticket
            ended = report.status in (ReportStatus.SOLVED, ReportStatus.TRANSFERRED)
            assert (report.ended_at is not None) is ended, ticket

    @staticmethod
    def _check_incident(incident: Any, incidents: Mapping[str, Any], now: datetime) -> None:
        status = incident.status
        where = f"{incident.id} ({status.value})"
        validated = status not in (IncidentStatus.DETECTED, IncidentStatus.DISMISSED)
        assert (incident.severity is not None) is validated, where
        assert (incident.opened_at is not None) is validated, where
        if status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
            assert incident.resolved_at is not None, where
            assert incident.resolution is not None, where
        assert (incident.review is not None) is (status is IncidentStatus.CLOSED), where
        assert (incident.closed_at is not None) is (status is IncidentStatus.CLOSED), where
        if status is IncidentStatus.MERGED:
            assert incident.merged_into in incidents, where
            assert incident.merged_into != incident.id, where
        if status is IncidentStatus.DISMISSED:
            assert incident.dismissal_reason is not None, where
        if status in OPEN_STATUSES:
            assert (incident.resolved_at is not None) is (incident.reopen_count > 0), where
        assert _in_order(
            incident.detected_at,
            incident.opened_at,
            incident.resolved_at,
            incident.closed_at,
            now,
        ), where
        assert _in_order(incident.detected_at, incident.acknowledged_at, now), where
        assert _in_order(incident.opened_at, incident.last_update_at, now), where


def _last(timeline: Iterable[DomainEvent], *kinds: type[DomainEvent]) -> Any:
    found = [event for event in timeline if isinstance(event, kinds)]
    return found[-1] if found else None


def _check_history(incident: Any, timeline: Sequence[DomainEvent], now: datetime) -> None:
    """The incident's state is what its timeline says happened to it."""
    where = f"{incident.id} ({incident.status.value})"
    assert _in_order(*(event.at for event in timeline), now), where
    ending = {
        IncidentStatus.CLOSED: IncidentClosed,
        IncidentStatus.DISMISSED: IncidentDismissed,
        IncidentStatus.MERGED: IncidentMerged,
    }.get(incident.status)
    if ending is not None:
        assert _last(timeline, ending) is not None, where
    reopened = [event for event in timeline if isinstance(event, IncidentReopened)]
    assert incident.reopen_count == len(reopened), where
    last_turn = _last(timeline, IncidentResolved, IncidentReopened)
    if incident.status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
        assert isinstance(last_turn, IncidentResolved), where
    elif incident.status in OPEN_STATUSES:
        assert not isinstance(last_turn, IncidentResolved), where
    rated = _last(timeline, IncidentValidated, IncidentDeclared, SeverityChanged)
    if incident.severity is None:
        assert rated is None, where
    else:
        assert rated is not None, where
        assert rated.severity == incident.severity.name, where
    handoff = _last(timeline, IncidentHandedOff)
    if handoff is not None:
        assert incident.owner_team == handoff.to_team, where


# The profile's step count, and its examples up to 80: each step runs a command on two
# stores and reads both back (about 6 ms of CPU), so the ci profile's 200 x 50 would take
# over a minute; 80 x 50 stays near 25 s (dev's 50 x 30, near 10 s). For a long hunt, raise
# the examples: STATEFUL_EXAMPLES=2000 python -m pytest tests/test_stateful_commands.py
_PROFILE = settings()
_EXAMPLES = int(os.environ.get("STATEFUL_EXAMPLES", "0")) or min(_PROFILE.max_examples, 80)

TestDeskPair = DeskPair.TestCase
TestDeskPair.settings = settings(_PROFILE, max_examples=_EXAMPLES, deadline=None)


class DeskTrio(DeskPair):
    """The same machine with a third desk on PostgreSQL (when a server answers): a
    round trip per statement makes each step slower, so it runs a quarter of the
    examples; ``STATEFUL_EXAMPLES`` raises both."""

    with_postgres = True


TestDeskTrio = DeskTrio.TestCase
TestDeskTrio.settings = settings(_PROFILE, max_examples=max(_EXAMPLES // 4, 5), deadline=None)


# -- what the machine found, as plain tests (the sequences it shrank to) ----------------


@pytest.fixture
def pair() -> Iterator[DeskPair]:
    """The machine's desks (with PostgreSQL's, when it runs), outside a hypothesis run."""
    machine = DeskTrio()
    yield machine
    machine.teardown()


def on_both(pair: DeskPair, command: Command[Any] | Operation[Any]) -> list[object]:
    """The outcome of ``command`` on each desk: memory, SQLite (then PostgreSQL, if it runs)."""
    return [outcome(desk, command) for desk in pair.desks.values()]


def same(values: Sequence[object]) -> bool:
    """Whether every value equals the first."""
    return all(value == values[0] for value in values)


def signal(fingerprint: str, product: str, region: str | None, at: datetime) -> AlertSignal:
    return AlertSignal(
        fingerprint=fingerprint,
        product=product,
        kind="latency",
        summary="p99 above 2s",
        observed_at=at,
        region=region,
    )


def test_every_op_is_drawn_by_a_rule() -> None:
    """Each op of ``COMMANDS`` belongs to one of the machine's rules (a new op must join one)."""
    drawn = [*INTAKE_OPS, *TRIAGE_OPS, *WORK_OPS, *TICKET_OPS, *UPKEEP_OPS]
    assert sorted(drawn) == sorted(COMMANDS)
    assert {op for ops in NEXT_OPS.values() for op in ops} <= set(drawn)


class TestFound:
    """Each test is a sequence the machine found; each must pass on both stores."""

    def test_a_refused_triage_leaves_both_stores_the_same_next_id(self, pair: DeskPair) -> None:
        """After a triage refused for a product nobody owns, both stores number the next alike."""
        report = CustomerReport(
            ticket_id="T-1",
            account_id="acct-1",
            product="billing",
            symptom=Symptom.SLOW,
            summary="pages load slowly",
            reported_at=START,
        )
        opening = TriageDecision.open_new("SEV0")
        refused = on_both(pair, TriageReport(report=report, by=MANAGER, decision=opening))
        assert same(refused)
        assert isinstance(refused[0], Refusal)
        first = on_both(pair, ReceiveAlert(signal=signal("fp-1", "chat", None, START), by=MANAGER))
        assert same(first)

    def test_a_refused_batch_of_signals_leaves_both_stores_the_same_next_ids(
        self, pair: DeskPair
    ) -> None:
        """After a batch refused for one unowned product, both stores name the next alert alike."""
        batch = (signal("fp-1", "chat", None, START), signal("fp-2", "billing", None, START))
        refused = on_both(pair, ReceiveAlerts(signals=batch, by=MANAGER))
        assert same(refused)
        first = on_both(pair, ReceiveAlert(signal=signal("fp-3", "chat", None, START), by=MANAGER))
        assert same(first)

    def test_detaching_an_alert_again_after_moving_it_back_is_no_conflict(
        self, pair: DeskPair
    ) -> None:
        """Detach, move back, detach again: a result or a refusal, never a ConcurrencyConflict."""
        on_both(pair, ReceiveAlert(signal=signal("fp-1", "chat", None, START), by=MANAGER))
        detached = on_both(pair, DetachAlert(alert_id="ALR-1", by=MANAGER))
        assert detached == ["INC-2"] * len(pair.desks)
        back = DetachAlert(alert_id="ALR-1", by=MANAGER, into="INC-1")
        assert on_both(pair, back) == ["INC-1"] * len(pair.desks)
        again = on_both(pair, DetachAlert(alert_id="ALR-1", by=MANAGER))
        assert same(again)

    def test_alerts_of_lists_oldest_first_after_a_detach(self, pair: DeskPair) -> None:
        """An alert detached into an incident with a younger alert is listed first (port: oldest
        first), on both stores."""
        on_both(pair, ReceiveAlert(signal=signal("fp-1", "chat", None, START), by=MANAGER))
        later = pair.clock.advance(minutes=1)
        on_both(pair, ReceiveAlert(signal=signal("fp-2", "chat", "pod1", later), by=MANAGER))
        moved = on_both(pair, DetachAlert(alert_id="ALR-1", by=MANAGER, into="INC-2"))
        assert moved == ["INC-2"] * len(pair.desks)
        for name, desk in pair.desks.items():
            assert [a.id for a in desk.alerts_of("INC-2")] == ["ALR-1", "ALR-2"], name

    def test_dead_letters_stay_in_the_order_they_were_dead_lettered(self, pair: DeskPair) -> None:
        """A redriven notification refused again at the same instant is the newest dead letter
        (port: in the order they were dead-lettered), on both stores."""
        batch = (signal("fp-1", "guide", "pod1", START), signal("fp-2", "guide", "pod2", START))
        on_both(pair, ReceiveAlerts(signals=batch, by=MANAGER))
        for desk in pair.desks.values():
            desk.deliver()
        on_both(pair, RedriveDeadLetters(keys=("INC-1/validation-request",), by=MANAGER))
        for name, desk in pair.desks.items():
            desk.deliver()
            keys = [e.key for e in desk.dead_letters()]
            assert keys == ["INC-2/validation-request", "INC-1/validation-request"], name

    def test_a_detached_alert_is_announced_alike_on_both_stores(self, pair: DeskPair) -> None:
        """The validation request of a detached alert lists its links in the same order on both
        stores (it is built from the stored alert)."""
        linked = attrs.evolve(
            signal("fp-1", "chat", None, START), links={"b": "http://b/", "a": "http://a/"}
        )
        on_both(pair, ReceiveAlert(signal=linked, by=MANAGER))
        detached = on_both(pair, DetachAlert(alert_id="ALR-1", by=MANAGER))
        assert detached == ["INC-2"] * len(pair.desks)
        for desk in pair.desks.values():
            desk.deliver()
        sent = [[n.body for n in recorder.sent] for recorder in pair.recorders.values()]
        assert same(sent)
