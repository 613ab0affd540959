"""The three lifecycles, declared once as python-statemachine classes.

Each class is the single source of truth for its entity's statuses and
events. From each class a transition table is compiled once, at import,
without building a machine: it answers "may this happen?" in well under a
microsecond and drives the bulk paths (linking, cascades). Single-aggregate
commands run the engine itself, built on demand over the entity and dropped
(:meth:`Lifecycle.fire`) through one machine per thread bound to a cursor
that points at the entity of the moment: no machine is ever kept on an
entity, and construction (the engine's dominant cost) is paid once per
thread rather than once per command.

The milestone timestamps an incident carries (opened, identified, ...) are
stamped by one function, :func:`stamp_milestone`, which both the engine's
``on_enter_state`` callback and the bulk path call.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

import attrs
from statemachine import StateMachine
from statemachine.exceptions import TransitionNotAllowed
from statemachine.states import States

from .domain.alerts import Alert, AlertStatus
from .domain.checks import check_aware
from .domain.errors import InvalidInput, InvalidTransition
from .domain.incidents import IncidentStatus, ServiceIncident
from .domain.reports import CustomerReport, ReportStatus

__all__ = [
    "ALERT_LIFECYCLE",
    "DEFAULT_REOPEN_WINDOW",
    "INCIDENT_LIFECYCLE",
    "REPORT_LIFECYCLE",
    "AlertLifecycle",
    "IncidentLifecycle",
    "Lifecycle",
    "ReportLifecycle",
    "Transition",
    "ending",
    "stamp_milestone",
]

DEFAULT_REOPEN_WINDOW = timedelta(hours=24)
"""How long after resolution an incident may be reopened, unless configured."""

_I = IncidentStatus


def within_reopen_window(
    model: Any, now: datetime | None = None, reopen_window: timedelta = DEFAULT_REOPEN_WINDOW
) -> bool:
    """Guard: the incident was resolved no longer than ``reopen_window`` before ``now``."""
    resolved_at = getattr(model, "resolved_at", None)
    if now is None or resolved_at is None:
        return False
    return bool(timedelta(0) <= now - resolved_at <= reopen_window)  # never before it


GUARDS: Mapping[str, Callable[..., bool]] = MappingProxyType(
    {"within_reopen_window": within_reopen_window}
)
"""Named guards, shared by the engine and the compiled table."""

_ENDING: Mapping[type[enum.Enum], frozenset[enum.Enum]] = MappingProxyType(
    {
        IncidentStatus: frozenset({_I.DISMISSED, _I.MERGED}),
        ReportStatus: frozenset({ReportStatus.SOLVED, ReportStatus.TRANSFERRED}),
    }
)


def ending(status: enum.Enum) -> bool:
    """Whether entering ``status`` ends an incident or a report: it stamps ``ended_at``.

    A report ends when it is solved or transferred, an incident when it is
    dismissed or merged. :func:`stamp_milestone` and the stores' bulk
    cascades (``StoreTransaction.transition_linked_reports``) both ask here.

    >>> ending(ReportStatus.SOLVED), ending(ReportStatus.LINKED), ending(IncidentStatus.MERGED)
    (True, False, True)
    """
    return status in _ENDING.get(type(status), ())


_FIRST_ENTRY = {
    _I.INVESTIGATING: "opened_at",
    _I.IDENTIFIED: "identified_at",
    _I.MONITORING: "monitoring_at",
    _I.CLOSED: "closed_at",
    **dict.fromkeys(_ENDING[IncidentStatus], "ended_at"),
}


_MILESTONES: Mapping[type, tuple[str, ...]] = MappingProxyType(
    {
        ServiceIncident: ("resolved_at", *sorted(set(_FIRST_ENTRY.values()))),
        CustomerReport: ("ended_at",),
    }
)
"""The fields :func:`stamp_milestone` may set, by entity type."""


def stamp_milestone(model: Any, status: enum.Enum, now: datetime | None) -> None:
    """Stamp the milestone of entering ``status`` on an incident or report.

    First entries are kept (a reopened incident keeps its first ``opened_at``);
    ``resolved_at`` moves to the latest resolution and never backwards.
    """
    if now is None:
        return
    if isinstance(model, ServiceIncident):
        if status is _I.RESOLVED:
            if model.resolved_at is None or now > model.resolved_at:
                model.resolved_at = now
            return
        name = _FIRST_ENTRY.get(status)
        if name is not None and getattr(model, name) is None:
            setattr(model, name, now)
    elif isinstance(model, CustomerReport) and ending(status):
        model.ended_at = now


class _Cursor:
    """The one object a cached machine binds to; it points at the entity of the moment."""

    __slots__ = ("entity",)

    def __init__(self, entity: Any) -> None:
        self.entity = entity

    @property
    def status(self) -> Any:
        return self.entity.status

    @status.setter
    def status(self, value: Any) -> None:
        self.entity.status = value


def _entity(model: Any) -> Any:
    return model.entity if isinstance(model, _Cursor) else model


class _Stamping(StateMachine):
    """Base of the lifecycles: refuses unknown events and stamps milestones."""

    allow_event_without_transition = False

    def on_enter_state(self, target: Any, model: Any, now: datetime | None = None) -> None:
        stamp_milestone(_entity(model), target.value, now)

    def within_reopen_window(
        self,
        model: Any,
        now: datetime | None = None,
        reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
    ) -> bool:
        return within_reopen_window(_entity(model), now, reopen_window)


class AlertLifecycle(_Stamping):
    """An alert: received, then validated with its incident, dismissed or recovered.

    ``regroup`` returns a validated alert to ``received`` when it is detached
    from an open incident into a new potential one.
    """

    s = States.from_enum(
        AlertStatus,
        initial=AlertStatus.RECEIVED,
        final=[AlertStatus.DISMISSED, AlertStatus.RECOVERED],
    )
    validate = s.RECEIVED.to(s.VALIDATED)
    dismiss = s.RECEIVED.to(s.DISMISSED)
    recover = s.RECEIVED.to(s.RECOVERED) | s.VALIDATED.to(s.RECOVERED)
    regroup = s.VALIDATED.to(s.RECEIVED)


class IncidentLifecycle(_Stamping):
    """A service incident, from detection to review.

    The three open phases (investigating, identified, monitoring) may follow
    one another in any order; ``reopen`` is guarded by the reopen window.
    """

    s = States.from_enum(
        IncidentStatus,
        initial=IncidentStatus.DETECTED,
        final=[IncidentStatus.CLOSED, IncidentStatus.DISMISSED, IncidentStatus.MERGED],
    )
    validate = s.DETECTED.to(s.INVESTIGATING)
    dismiss = s.DETECTED.to(s.DISMISSED)
    investigate = s.IDENTIFIED.to(s.INVESTIGATING) | s.MONITORING.to(s.INVESTIGATING)
    identify = s.INVESTIGATING.to(s.IDENTIFIED) | s.MONITORING.to(s.IDENTIFIED)
    monitor = s.INVESTIGATING.to(s.MONITORING) | s.IDENTIFIED.to(s.MONITORING)
    resolve = (
        s.INVESTIGATING.to(s.RESOLVED) | s.IDENTIFIED.to(s.RESOLVED) | s.MONITORING.to(s.RESOLVED)
    )
    reopen = s.RESOLVED.to(s.INVESTIGATING, cond="within_reopen_window")
    close = s.RESOLVED.to(s.CLOSED)
    merge = s.INVESTIGATING.to(s.MERGED) | s.IDENTIFIED.to(s.MERGED) | s.MONITORING.to(s.MERGED)


class ReportLifecycle(_Stamping):
    """A customer report: linked to an incident, or troubleshot until solved or transferred."""

    s = States.from_enum(
        ReportStatus,
        initial=ReportStatus.RECEIVED,
        final=[ReportStatus.SOLVED, ReportStatus.TRANSFERRED],
    )
    link = s.RECEIVED.to(s.LINKED) | s.TROUBLESHOOTING.to(s.LINKED)
    troubleshoot = s.RECEIVED.to(s.TROUBLESHOOTING)
    unlink = s.LINKED.to(s.TROUBLESHOOTING)
    solve = s.TROUBLESHOOTING.to(s.SOLVED) | s.LINKED.to(s.SOLVED)
    transfer = s.TROUBLESHOOTING.to(s.TRANSFERRED)


@attrs.frozen
class Transition:
    """One edge of a compiled lifecycle: ``source --event--> target`` if the guards agree."""

    source: str
    event: str
    target: str
    guards: tuple[tuple[str, bool], ...] = ()


class _HasStatus(Protocol):
    status: Any
    version: int


E = TypeVar("E", bound=_HasStatus)


def _compile(machine: type[StateMachine]) -> tuple[Transition, ...]:
    edges: list[Transition] = []
    for state in machine.states_map.values():
        for transition in state.transitions:
            if transition.initial:
                continue
            guards = tuple(
                (spec.attr_name, spec.expected_value is not False) for spec in transition.cond
            )
            for event in transition.events:
                edges.append(
                    Transition(
                        source=str(state.value),
                        event=str(event),
                        target=str(transition.target.value),
                        guards=guards,
                    )
                )
    return tuple(edges)


class Lifecycle(Generic[E]):
    """A lifecycle class compiled into a table, plus a runner for its entity type.

    ``fire`` runs the engine on one entity; ``fire_many`` applies one event to
    many entities from the table alone (all or none). A refused event raises
    :class:`InvalidTransition` and leaves every entity exactly as it was.
    """

    def __init__(self, machine: type[StateMachine], kind: str, status_type: type[enum.Enum]):
        self.machine = machine
        self._local = threading.local()
        self.kind = kind
        self.status_type = status_type
        self.transitions: tuple[Transition, ...] = _compile(machine)
        table: dict[tuple[str, str], list[Transition]] = {}
        for edge in self.transitions:
            table.setdefault((edge.source, edge.event), []).append(edge)
        self._table = {key: tuple(edges) for key, edges in table.items()}
        self.events: frozenset[str] = frozenset(e.event for e in self.transitions)
        self.statuses: tuple[str, ...] = tuple(str(s.value) for s in machine.states_map.values())
        self.final: frozenset[str] = frozenset(
            str(s.value) for s in machine.states_map.values() if s.final
        )
        self.initial: str = str(machine.initial_state.value)
        allowed: dict[str, set[str]] = {status: set() for status in self.statuses}
        for edge in self.transitions:
            allowed[edge.source].add(edge.event)
        self._allowed = {status: frozenset(events) for status, events in allowed.items()}

    def allowed_events(self, status: str) -> frozenset[str]:
        """Events declared from ``status`` (guards not evaluated)."""
        self._check_status(status)
        return self._allowed[str(status)]

    def next_status(self, entity: E, event: str, **context: Any) -> str | None:
        """The status ``event`` would lead ``entity`` to, or ``None`` if refused."""
        for edge in self._table.get((str(entity.status), event), ()):
            if all(
                bool(GUARDS[name](entity, **context)) is expected for name, expected in edge.guards
            ):
                return edge.target
        return None

    def target_of(self, status: str, event: str) -> str | None:
        """Where an unguarded ``event`` leads from ``status``, or ``None`` (table only)."""
        self._check_status(status)
        for edge in self._table.get((str(status), event), ()):
            if not edge.guards:
                return edge.target
        return None

    def can(self, entity: E, event: str, **context: Any) -> bool:
        """Whether ``event`` is allowed for ``entity`` now, guards included."""
        return self.next_status(entity, event, **context) is not None

    def fire(self, entity: E, event: str, *, now: datetime, **context: Any) -> None:
        """Apply ``event`` to ``entity`` from the compiled table: its new status, and the
        milestone of entering it (:func:`stamp_milestone`).

        This is what the engine does with the lifecycle class (the same guards, the
        same stamping on entry), without building and driving a machine: the property
        tests check both on random event sequences (:meth:`fire_with_engine`).

        Raises:
            InvalidTransition: the event is not allowed; ``entity`` is unchanged.
            InvalidInput: ``now`` is not an aware datetime; ``entity`` is unchanged.
        """
        self._check_status(entity.status)
        check_aware("now", now)
        found = self.next_status(entity, event, now=now, **context)
        if found is None:
            raise self._refusal(entity, event)
        status = self.status_type(found)
        names = _MILESTONES.get(type(entity), ())
        before = entity.status, [getattr(entity, name) for name in names]
        try:
            entity.status = status
            stamp_milestone(entity, status, now)
        except BaseException:
            object.__setattr__(entity, "status", before[0])
            for name, value in zip(names, before[1], strict=True):
                object.__setattr__(entity, name, value)
            raise

    def fire_with_engine(self, entity: E, event: str, *, now: datetime, **context: Any) -> None:
        """:meth:`fire` through python-statemachine's engine, built on demand (per thread).

        The reference :meth:`fire` is proved against; nothing in the library runs it.

        Raises:
            InvalidTransition: the event is not allowed; ``entity`` is unchanged.
        """
        self._check_status(entity.status)
        if self.next_status(entity, event, now=now, **context) is None:
            raise self._refusal(entity, event)
        before = attrs.asdict(entity, recurse=False)  # type: ignore[arg-type]
        cursor, machine = self._machine(entity)
        try:
            machine.send(event, now=now, **context)
        except TransitionNotAllowed:
            self._restore(entity, before)
            raise self._refusal(entity, event) from None
        except BaseException:
            self._local.__dict__.clear()
            self._restore(entity, before)
            raise
        finally:
            cursor.entity = None
        if str(entity.status) in self.final:
            # Entering a final state stops that machine's engine for good.
            self._local.__dict__.clear()

    def _machine(self, entity: E) -> tuple[_Cursor, Any]:
        """This thread's machine, bound to a cursor now pointing at ``entity``."""
        cached = getattr(self._local, "machine", None)
        if cached is None:
            cursor = _Cursor(entity)
            cached = (cursor, self.machine(model=cursor, state_field="status"))
            self._local.machine = cached
        cached[0].entity = entity
        return cached

    def fire_many(self, entities: Sequence[E], event: str, *, now: datetime) -> None:
        """Apply ``event`` to every entity from the compiled table: all of them or none."""
        check_aware("now", now)  # a naive ``now`` would fail mid-way, in the stamping
        targets: list[enum.Enum] = []
        for entity in entities:
            self._check_status(entity.status)
            found = self.next_status(entity, event, now=now)
            if found is None:
                raise self._refusal(entity, event)
            targets.append(self.status_type(found))
        for entity, status in zip(entities, targets, strict=True):
            entity.status = status
            stamp_milestone(entity, status, now)

    def mermaid(self) -> str:
        """The lifecycle as a Mermaid ``stateDiagram-v2``, generated from the class."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial}"]
        for edge in self.transitions:
            label = edge.event
            if edge.guards:
                label += (
                    " ["
                    + ", ".join(name if want else f"not {name}" for name, want in edge.guards)
                    + "]"
                )
            lines.append(f"    {edge.source} --> {edge.target} : {label}")
        lines.extend(f"    {status} --> [*]" for status in self.statuses if status in self.final)
        return "\n".join(lines)

    def _check_status(self, status: object) -> None:
        if str(status) not in self._allowed:
            raise InvalidInput("status", f"{status!r} is not a status of the {self.kind} lifecycle")

    def _refusal(self, entity: E, event: str) -> InvalidTransition:
        entity_id = str(getattr(entity, "id", "?"))
        return InvalidTransition(self.kind, entity_id, event, str(entity.status))

    @staticmethod
    def _restore(entity: E, before: dict[str, Any]) -> None:
        for name, value in before.items():
            if getattr(entity, name) is not value:
                object.__setattr__(entity, name, value)


ALERT_LIFECYCLE: Lifecycle[Alert] = Lifecycle(AlertLifecycle, "alert", AlertStatus)
INCIDENT_LIFECYCLE: Lifecycle[ServiceIncident] = Lifecycle(
    IncidentLifecycle, "incident", IncidentStatus
)
REPORT_LIFECYCLE: Lifecycle[CustomerReport] = Lifecycle(ReportLifecycle, "report", ReportStatus)
