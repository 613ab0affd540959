"""Past-tense domain events: the timeline of every incident.

Each event records who (``actor``) did what, when (``at``), to which incident.
Events are plain frozen values with string fields, so any store can persist
them; ``EVENT_TYPES`` maps each event's name back to its class.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

import attrs

from .actors import Actor
from .checks import (
    BODY_MAX,
    FINGERPRINT_MAX,
    KEY_MAX,
    REASON_MAX,
    aware,
    identifier,
    instance,
    integer,
    optional,
    text,
)
from .errors import InvalidInput

__all__ = [
    "EVENT_TYPES",
    "AlertDetached",
    "AlertJoined",
    "AlertRecovered",
    "DeadLettersRedriven",
    "DomainEvent",
    "IncidentAcknowledged",
    "IncidentClosed",
    "IncidentDeclared",
    "IncidentDetected",
    "IncidentDismissed",
    "IncidentHandedOff",
    "IncidentMerged",
    "IncidentReopened",
    "IncidentResolved",
    "IncidentValidated",
    "IncidentsMergedIn",
    "NotificationDeadLettered",
    "ReportResolved",
    "ReportTransferred",
    "ReportTriaged",
    "SeverityChanged",
    "SignalsCleared",
    "SignalsDigestSent",
    "TicketLinked",
    "TicketUnlinked",
    "UpdatePosted",
    "UpdateReminderSent",
    "ValidationEscalated",
]

_ID = identifier()
_TEXT = text(BODY_MAX)
_COUNT = integer(0)


def _finite(_inst: object, attribute: attrs.Attribute[float], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, float | int):
        raise InvalidInput(attribute.name, "must be a finite number")
    try:
        finite = math.isfinite(value)
    except OverflowError:
        finite = False
    if not finite:
        raise InvalidInput(attribute.name, "must be a finite number")


@attrs.frozen(kw_only=True)
class DomainEvent:
    """Something that happened to an incident, by whom and when."""

    incident_id: str | None = attrs.field(validator=optional(_ID))
    actor: Actor = attrs.field(validator=instance(Actor))
    at: datetime = attrs.field(validator=aware())

    @property
    def name(self) -> str:
        """The event's type name, as stored."""
        return type(self).__name__


@attrs.frozen(kw_only=True)
class IncidentDetected(DomainEvent):
    """A first alert started a potential incident, awaiting validation."""

    alert_id: str = attrs.field(validator=_ID)
    group_key: str = attrs.field(validator=_TEXT)


@attrs.frozen(kw_only=True)
class AlertJoined(DomainEvent):
    """A new alert was grouped into this incident."""

    alert_id: str = attrs.field(validator=_ID)
    fingerprint: str = attrs.field(validator=identifier(FINGERPRINT_MAX))


@attrs.frozen(kw_only=True)
class AlertDetached(DomainEvent):
    """A wrongly grouped alert left this incident for another."""

    alert_id: str = attrs.field(validator=_ID)
    into: str = attrs.field(validator=_ID)


@attrs.frozen(kw_only=True)
class AlertRecovered(DomainEvent):
    """Monitoring reported that an alert's condition cleared."""

    alert_id: str = attrs.field(validator=_ID)
    fingerprint: str = attrs.field(validator=identifier(FINGERPRINT_MAX))


@attrs.frozen(kw_only=True)
class IncidentAcknowledged(DomainEvent):
    """Someone is on it."""


@attrs.frozen(kw_only=True)
class IncidentValidated(DomainEvent):
    """The owner team confirmed the potential incident and set its severity."""

    severity: str = attrs.field(validator=_ID)
    title: str = attrs.field(validator=_TEXT)


@attrs.frozen(kw_only=True)
class IncidentDeclared(DomainEvent):
    """An incident was opened directly, without a potential incident first."""

    severity: str = attrs.field(validator=_ID)
    title: str = attrs.field(validator=_TEXT)


@attrs.frozen(kw_only=True)
class IncidentDismissed(DomainEvent):
    """The potential incident was not real, or every signal recovered first."""

    reason: str = attrs.field(validator=_TEXT)


@attrs.frozen(kw_only=True)
class UpdatePosted(DomainEvent):
    """A status update was posted (``visibility`` tells who may read it)."""

    update_id: str = attrs.field(validator=_ID)
    visibility: str = attrs.field(validator=_ID)
    status: str = attrs.field(validator=_ID)
    body: str = attrs.field(validator=_TEXT)


@attrs.frozen(kw_only=True)
class SeverityChanged(DomainEvent):
    """The severity was raised or lowered."""

    previous: str = attrs.field(validator=_ID)
    severity: str = attrs.field(validator=_ID)
    reason: str = attrs.field(default="", validator=text(REASON_MAX, min_len=0))


@attrs.frozen(kw_only=True)
class IncidentHandedOff(DomainEvent):
    """Ownership passed to another team."""

    from_team: str = attrs.field(validator=_ID)
    to_team: str = attrs.field(validator=_ID)
    reason: str = attrs.field(validator=_TEXT)


@attrs.frozen(kw_only=True)
class IncidentResolved(DomainEvent):
    """Service was restored; linked tickets were sent the resolution."""

    resolution: str = attrs.field(validator=_TEXT)
    tickets_solved: int = attrs.field(default=0, validator=_COUNT)


@attrs.frozen(kw_only=True)
class IncidentReopened(DomainEvent):
    """A resolved incident came back within the reopen window."""

    reason: str = attrs.field(validator=_TEXT)


@attrs.frozen(kw_only=True)
class IncidentMerged(DomainEvent):
    """This incident was merged into ``into``, which took over its alerts and tickets."""

    into: str = attrs.field(validator=_ID)


@attrs.frozen(kw_only=True)
class IncidentsMergedIn(DomainEvent):
    """Another incident was merged into this one."""

    source: str = attrs.field(validator=_ID)
    alerts_moved: int = attrs.field(default=0, validator=_COUNT)
    tickets_moved: int = attrs.field(default=0, validator=_COUNT)


@attrs.frozen(kw_only=True)
class IncidentClosed(DomainEvent):
    """The review is done; the incident is closed."""

    root_cause: str = attrs.field(validator=_TEXT)
    remediation_items: int = attrs.field(default=0, validator=_COUNT)


@attrs.frozen(kw_only=True)
class TicketLinked(DomainEvent):
    """A customer's ticket was linked to the incident."""

    ticket_id: str = attrs.field(validator=_ID)


@attrs.frozen(kw_only=True)
class TicketUnlinked(DomainEvent):
    """A ticket was unlinked from the incident."""

    ticket_id: str = attrs.field(validator=_ID)
    reason: str = attrs.field(default="", validator=text(REASON_MAX, min_len=0))


@attrs.frozen(kw_only=True)
class ReportTriaged(DomainEvent):
    """Support triaged a customer report (``overridden``: the agent chose, not the policy).

    ``actor`` decided ``outcome`` (its incident is ``incident_id``). When the
    agent overrode the policy, the policy's suggestion is kept beside it
    (``suggested_*``); ``retriaged`` says the ticket had been triaged before and
    was moved from ``previous`` (its status then, and incident if linked).
    """

    ticket_id: str = attrs.field(validator=_ID)
    outcome: str = attrs.field(validator=_ID)
    overridden: bool = False
    reasons: tuple[str, ...] = ()
    score: float = attrs.field(default=0.0, validator=_finite)
    suggested_outcome: str | None = attrs.field(default=None, validator=optional(_ID))
    suggested_incident: str | None = attrs.field(default=None, validator=optional(_ID))
    suggested_score: float | None = attrs.field(default=None, validator=optional(_finite))
    suggested_reasons: tuple[str, ...] = ()
    retriaged: bool = False
    previous: str | None = attrs.field(default=None, validator=optional(text(REASON_MAX)))


@attrs.frozen(kw_only=True)
class ReportResolved(DomainEvent):
    """Troubleshooting solved a report that was not a service incident."""

    ticket_id: str = attrs.field(validator=_ID)
    note: str = attrs.field(validator=_TEXT)


@attrs.frozen(kw_only=True)
class ReportTransferred(DomainEvent):
    """Troubleshooting escalated a report to another team."""

    ticket_id: str = attrs.field(validator=_ID)
    to_team: str = attrs.field(validator=_ID)
    reason: str = attrs.field(validator=_TEXT)


@attrs.frozen(kw_only=True)
class SignalsDigestSent(DomainEvent):
    """The owner team was told that new signals joined the open incident."""

    alerts: int = attrs.field(default=0, validator=_COUNT)


@attrs.frozen(kw_only=True)
class SignalsCleared(DomainEvent):
    """Every alert of the open incident recovered; the owner team was told."""

    alerts: int = attrs.field(default=0, validator=_COUNT)


@attrs.frozen(kw_only=True)
class UpdateReminderSent(DomainEvent):
    """The owner team was reminded that an update is due."""

    due_at: datetime = attrs.field(validator=aware())


@attrs.frozen(kw_only=True)
class ValidationEscalated(DomainEvent):
    """Nobody answered the validation request in time: the owner team was told again and
    the incident managers were told (``step``: the first escalation is 1)."""

    step: int = attrs.field(validator=integer(1))
    due_at: datetime = attrs.field(validator=aware())
    to_teams: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class NotificationDeadLettered(DomainEvent):
    """A notification exhausted its attempts and was set aside for a redrive."""

    key: str = attrs.field(validator=identifier(KEY_MAX))
    recipient: str = attrs.field(validator=_ID)
    error: str = attrs.field(default="", validator=text(REASON_MAX, min_len=0))


@attrs.frozen(kw_only=True)
class DeadLettersRedriven(DomainEvent):
    """Dead-lettered notifications were put back in the outbox with their keys."""

    count: int = attrs.field(default=0, validator=_COUNT)


def _registry() -> Mapping[str, type[DomainEvent]]:
    found: dict[str, type[DomainEvent]] = {}
    pending = list(DomainEvent.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        # attrs builds a new class for slots and leaves the original, field-less one
        # behind (alive until the garbage collector runs): only the built class counts.
        if "__attrs_attrs__" in vars(cls):
            found[cls.__name__] = cls
    return MappingProxyType(dict(sorted(found.items())))


EVENT_TYPES: Mapping[str, type[DomainEvent]] = _registry()
"""Every concrete event class by name, for stores that decode a timeline."""
