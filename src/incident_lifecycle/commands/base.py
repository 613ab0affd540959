"""What every command shares: the base class, the context it runs in, and the runner.

A command is a frozen attrs class: its fields are the use case's parameters,
checked by their validators when it is built (a bad one raises
``InvalidInput`` naming the field, before anything is read or written). Its
class-level ``op`` is its wire name and ``action`` the permission it needs;
its one method, :meth:`Command.execute`, does the work through a
:class:`Context`.

Running a command (:func:`run`) means: open one store transaction, read
``now`` from the clock (once per attempt, inside the transaction, so a retry
sees a time at least as late as the data it reads), execute, write what the
context recorded (events, notifications, fan-outs), commit. A
``ConcurrencyConflict`` rolls everything back and the command runs again from
fresh data, a bounded number of times.

An :class:`Operation` is a command that runs outside any store transaction
(delivery, which opens its own; a change of the desk's ownership map).
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterable, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import attrs

from ..domain.actors import Action, Actor, Role, check_permitted
from ..domain.checks import check_aware, check_identifier, check_ownership
from ..domain.errors import ConcurrencyConflict, InvalidInput, InvalidTransition
from ..domain.events import DomainEvent
from ..domain.incidents import IncidentStatus, ServiceIncident
from ..domain.severity import Severity, SeverityScale
from ..escalation import EscalationPolicy
from ..grouping import GroupingPolicy
from ..lifecycle import INCIDENT_LIFECYCLE
from ..logs import fields
from ..notifications import FanOut, Notification
from ..ports import Clock, Store, StoreTransaction, takes_status_page
from ..triage import TriagePolicy
from .messages import Messages

if TYPE_CHECKING:
    from ..delivery import Relay

__all__ = [
    "MONITORING_ACTOR",
    "CHOICES",
    "WIRE",
    "Command",
    "Context",
    "DeskConfig",
    "Operation",
    "Services",
    "check_not_before",
    "created_elsewhere",
    "run",
]

LOG = logging.getLogger(__name__)
"""A transaction run again after a conflict, at DEBUG (record ``conflict_retried``)."""

R = TypeVar("R", covariant=True)
T = TypeVar("T")

WIRE = "wire"
"""Field metadata key: the field's name on the wire (replay lines, payloads), if not its own.

``"*"`` means the field's value is a nested object whose fields are the line's own.
"""
CHOICES = "choices"
"""Field metadata key: the only values a field accepts, when fewer than its type's."""

MONITORING_ACTOR = Actor(name="monitoring", role=Role.MONITORING)
"""The actor of alert intake, reminders and redrives when none is given."""


def _is(kind: type) -> Any:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind):
            raise InvalidInput(
                attribute.name, f"must be a {kind.__name__}, not {type(value).__name__}"
            )

    return check


def _to_ownership(value: object) -> dict[str, str]:
    return check_ownership("ownership", value)


def _check_policy(_inst: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, TriagePolicy):
        raise InvalidInput("policy", "must implement TriagePolicy (lookback and assess)")


def _check_window(_inst: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise InvalidInput("reopen_window", "must be a timedelta of zero or more")


def _check_default_team(_inst: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        check_identifier("default_team", value)


@attrs.define(kw_only=True)
class DeskConfig:
    """What a desk is configured with, as commands see it (each field checked when built)."""

    ownership: MutableMapping[str, str] = attrs.field(converter=_to_ownership)
    """Product name to the engineering team that owns it (a copy of the map given)."""
    scale: SeverityScale = attrs.field(validator=_is(SeverityScale))
    grouping: GroupingPolicy = attrs.field(validator=_is(GroupingPolicy))
    reopen_window: timedelta = attrs.field(validator=_check_window)
    messages: Messages = attrs.field(validator=_is(Messages))
    policy: TriagePolicy = attrs.field(validator=_check_policy)
    escalation: EscalationPolicy = attrs.field(
        factory=EscalationPolicy, validator=_is(EscalationPolicy)
    )
    default_team: str | None = attrs.field(default=None, validator=_check_default_team)
    """The team that owns every product the map does not name (``None``: such a product is
    refused)."""
    status_page: bool = attrs.field(default=False, validator=_is(bool))
    """Whether public updates of public severities (and resolutions) go to the status page."""

    def owner_of(self, product: str) -> str:
        """The team that owns ``product`` (else the default team); ``InvalidInput`` naming
        ``product`` if none does."""
        check_identifier("product", product)
        team = self.ownership.get(product, self.default_team)
        if team is None:
            raise InvalidInput("product", f"no engineering team owns {product!r}")
        return team

    def severity(self, value: Severity | str) -> Severity:
        """``value`` as a level of the configured scale."""
        return self.scale.resolve(value)


def wants_status_page(notifier: object, status_page: bool | None) -> bool:
    """``status_page`` if given, else whether the notifier takes status pages
    (:func:`~incident_lifecycle.ports.takes_status_page`)."""
    if status_page is None:
        return takes_status_page(notifier)
    if not isinstance(status_page, bool):
        raise InvalidInput("status_page", f"must be a bool, not {type(status_page).__name__}")
    return status_page


class Context:
    """What a command runs with: the transaction, ``now``, the configuration, and its output.

    Events, notifications and fan-outs recorded here are written to the store
    when the command returns, in the same transaction (the outbox never holds
    a message of a change that did not commit).
    """

    __slots__ = ("checked", "config", "events", "fanouts", "notifications", "now", "tx")

    def __init__(self, tx: StoreTransaction, now: datetime, config: DeskConfig) -> None:
        self.tx = tx
        self.now = now
        self.config = config
        self.events: list[DomainEvent] = []
        self.notifications: list[Notification] = []
        self.fanouts: list[FanOut] = []
        self.checked: set[str] = set()

    def check_time(self, incident_id: str) -> None:
        """Refuse with ``InvalidInput`` naming ``now`` when the clock reads earlier than the
        last event of the incident's timeline: a timeline never runs backwards."""
        if incident_id in self.checked:
            return
        check_not_before(self.tx, incident_id, self.now)
        self.checked.add(incident_id)

    @property
    def messages(self) -> Messages:
        """The configured message builders."""
        return self.config.messages

    def record(self, *events: DomainEvent) -> None:
        """Append events to the timeline when the command commits."""
        self.events.extend(events)

    def notify(self, *notifications: Notification) -> None:
        """Enqueue notifications when the command commits."""
        self.notifications.extend(notifications)

    def fan_out(self, fanouts: Iterable[FanOut]) -> None:
        """Enqueue fan-outs (one notification per recipient, in bulk) when the command commits."""
        self.fanouts.extend(fanouts)

    def incident_for(self, incident_id: str, actor: Actor, action: Action) -> ServiceIncident:
        """Load an incident for ``actor`` to act on; ``NotPermitted`` if they may not."""
        incident = self.tx.incident(incident_id)
        check_permitted(actor, action, incident.owner_team)
        self.check_time(incident_id)
        return incident

    def fire(self, incident: ServiceIncident, event: str) -> None:
        """Apply a lifecycle event to ``incident`` (at ``now``, with the reopen window)."""
        self.check_time(incident.id)
        INCIDENT_LIFECYCLE.fire(
            incident, event, now=self.now, reopen_window=self.config.reopen_window
        )

    @staticmethod
    def require(incident: ServiceIncident, statuses: Iterable[IncidentStatus], act: str) -> None:
        """Refuse with ``InvalidTransition`` unless ``incident`` is in one of ``statuses``."""
        if incident.status not in statuses:
            raise InvalidTransition("incident", incident.id, act, incident.status.value)

    def flush(self) -> None:
        """Write what was recorded (called by :func:`run` before the commit)."""
        tx = self.tx
        if self.events:
            for incident_id in created_elsewhere(self.events) - self.checked:
                check_not_before(tx, incident_id, self.now)
            tx.append(self.events)
        if self.notifications:
            tx.enqueue(self.notifications, self.now)
        for fanout in self.fanouts:
            tx.enqueue_fanout(fanout, self.now)


_CREATING = frozenset({"IncidentDetected", "IncidentDeclared"})


def created_elsewhere(events: Iterable[DomainEvent]) -> set[str]:
    """The incidents ``events`` append to, less those they create (new: no timeline yet)."""
    touched = {e.incident_id for e in events if e.incident_id is not None}
    return touched - {e.incident_id for e in events if e.name in _CREATING and e.incident_id}


def check_not_before(tx: StoreTransaction, incident_id: str, now: datetime) -> None:
    """``InvalidInput`` naming ``now`` if ``now`` is earlier than the incident's last event.

    The rule of every command: an incident's timeline never runs backwards. A
    clock stepped back (NTP, a replay file with earlier times) is refused, not
    stamped over: nothing is written, and the caller sees which incident's
    time it fell behind.
    """
    last = tx.last_event_at(incident_id)
    if last is not None and now < last:
        raise InvalidInput(
            "now",
            f"the clock reads {now.isoformat()}, before the last event of {incident_id} "
            f"({last.isoformat()}): an incident's timeline never runs backwards",
        )


class Command(abc.ABC, Generic[R]):
    """A use case as data: run it with ``IncidentDesk.handle(command)``."""

    __slots__ = ()

    op: ClassVar[str]
    """The command's wire name (the ``op`` of a replay line)."""
    action: ClassVar[Action | None]
    """The permission it needs (checked in ``execute``, against the owner team)."""

    @abc.abstractmethod
    def execute(self, ctx: Context) -> R:
        """Do the work inside ``ctx``'s transaction; return the command's result."""


class Services(Protocol):
    """What an :class:`Operation` may use: the configuration and the outbox relay."""

    @property
    def config(self) -> DeskConfig:
        """The desk's configuration."""
        ...

    @property
    def relay(self) -> Relay:
        """The desk's outbox relay."""
        ...


class Operation(abc.ABC, Generic[R]):
    """A command that runs outside a store transaction (it opens its own, or needs none)."""

    __slots__ = ()

    op: ClassVar[str]
    action: ClassVar[Action | None]

    @abc.abstractmethod
    def apply(self, services: Services) -> R:
        """Do the work with ``services``; return the result."""


def or_monitoring(value: Actor | None) -> Actor:
    """Converter of an optional ``by``: ``None`` means :data:`MONITORING_ACTOR`."""
    return MONITORING_ACTOR if value is None else value


def read(store: Store, query: Callable[[StoreTransaction], T], *, max_conflict_retries: int) -> T:
    """Run ``query`` in one transaction, from scratch again after a conflict (at most
    ``max_conflict_retries`` more times); :func:`run` runs every command through it."""
    attempt = 0
    while True:
        try:
            with store.transaction() as tx:
                return query(tx)
        except ConcurrencyConflict:
            attempt += 1
            if attempt > max_conflict_retries:
                raise
            LOG.debug(
                "conflict: running again from fresh data (%d of %d)",
                attempt,
                max_conflict_retries,
                extra=fields("conflict_retried", attempt=attempt, limit=max_conflict_retries),
            )


def read_now(clock: Clock) -> datetime:
    """The clock's time as an aware UTC datetime; ``InvalidInput`` naming ``now`` if it is not."""
    return check_aware("now", clock.now()).astimezone(UTC)


def run(
    command: Command[T],
    *,
    store: Store,
    clock: Clock,
    config: DeskConfig,
    max_conflict_retries: int,
) -> T:
    """Run ``command`` in one transaction, retrying from scratch after a conflict.

    ``now`` is read once per attempt, inside the transaction.
    """

    def attempt(tx: StoreTransaction) -> T:
        ctx = Context(tx, read_now(clock), config)
        result = command.execute(ctx)
        ctx.flush()
        return result

    return read(store, attempt, max_conflict_retries=max_conflict_retries)
