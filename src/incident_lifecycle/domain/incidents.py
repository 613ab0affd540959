"""The service incident aggregate and the values it is managed with."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import date, datetime

import attrs

from .actors import Actor
from .alerts import AlertKind
from .checks import (
    BODY_MAX,
    GROUP_KEY_MAX,
    REASON_MAX,
    REVIEW_TEXT_MAX,
    TITLE_MAX,
    aware,
    check_date,
    check_enum,
    check_identifier,
    identifier,
    instance,
    integer,
    optional,
    text,
)
from .errors import InvalidInput
from .reports import Symptom
from .severity import Severity

__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "Handoff",
    "IncidentStatus",
    "OPEN_STATUSES",
    "RemediationItem",
    "Review",
    "ServiceIncident",
    "StatusUpdate",
    "TITLE_MAX",
    "UPDATE_BODY_MAX",
    "Visibility",
    "incident_order",
    "regions_compatible",
    "with_summary",
]

UPDATE_BODY_MAX = BODY_MAX


class IncidentStatus(enum.StrEnum):
    """Where a service incident is in its lifecycle (see ``docs/lifecycles.md``).

    ``investigating``, ``identified`` and ``monitoring`` are the public phases
    of an open incident, as a status page shows them.
    """

    DETECTED = "detected"
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    CLOSED = "closed"
    DISMISSED = "dismissed"
    MERGED = "merged"


OPEN_STATUSES = frozenset(
    {IncidentStatus.INVESTIGATING, IncidentStatus.IDENTIFIED, IncidentStatus.MONITORING}
)
"""The open phases: validated, not yet resolved."""
FINAL_STATUSES = frozenset({IncidentStatus.CLOSED, IncidentStatus.DISMISSED, IncidentStatus.MERGED})
"""Statuses no event leaves."""
ACTIVE_STATUSES = OPEN_STATUSES | {IncidentStatus.DETECTED}
"""Detected (potential) or open: what new alerts join and stores index as active."""


def regions_compatible(first: str | None, second: str | None) -> bool:
    """The region rule: two regions match when equal; an unknown region never excludes."""
    return first is None or second is None or first == second


def with_summary(current: str | None, more: str) -> str | None:
    """``current`` with ``more`` appended (``; ``), unless already there or it would not fit in
    ``REASON_MAX``: an incident's summary only grows while it stays small."""
    more = more.strip()
    if not more or (current is not None and more in current):
        return current
    joined = more if not current else f"{current}; {more}"
    if len(joined) <= REASON_MAX:
        return joined
    return current if current else more[:REASON_MAX].strip() or None


def incident_order(incident: ServiceIncident) -> tuple[datetime, int, str]:
    """The order incidents are listed in: oldest detection first, ``INC-9`` before ``INC-10``."""
    return (incident.detected_at, len(incident.id), incident.id)


class Visibility(enum.StrEnum):
    """Who may read a status update."""

    PUBLIC = "public"
    """Customers: linked tickets and, for public severities, the status page."""
    INTERNAL = "internal"
    """Responders only; never sent to a customer."""


def _to_incident_status(value: IncidentStatus | str) -> IncidentStatus:
    return check_enum("status", IncidentStatus, value)


def _to_visibility(value: Visibility | str) -> Visibility:
    return check_enum("visibility", Visibility, value)


def _to_products(value: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInput("products", "must be a sequence of product names")
    return tuple(value)


def _check_products(_inst: object, _attribute: object, value: tuple[str, ...]) -> None:
    if not value:
        raise InvalidInput("products", "an incident affects at least one product")
    if len(value) > 64:
        raise InvalidInput("products", "at most 64 products")
    for product in value:
        check_identifier("products", product)
    if len(set(value)) != len(value):
        raise InvalidInput("products", "lists a product twice")


def _to_kinds(value: Sequence[AlertKind | str]) -> tuple[AlertKind, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence | frozenset | set):
        raise InvalidInput("signal_kinds", "must be a sequence of alert kinds")
    kinds = {check_enum("signal_kinds", AlertKind, kind) for kind in value}
    return tuple(sorted(kinds))


def _to_symptoms(value: Sequence[Symptom | str]) -> tuple[Symptom, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence | frozenset | set):
        raise InvalidInput("reported_symptoms", "must be a sequence of symptoms")
    return tuple(sorted({check_enum("reported_symptoms", Symptom, v) for v in value}))


def _check_severity(
    _inst: object, attribute: attrs.Attribute[Severity | None], value: object
) -> None:
    if value is not None and not isinstance(value, Severity):
        raise InvalidInput(attribute.name, f"must be a Severity, not {type(value).__name__}")


@attrs.frozen(kw_only=True)
class RemediationItem:
    """Follow-up work agreed in the review: what, which team, by when."""

    description: str = attrs.field(validator=text(REASON_MAX))
    owner_team: str = attrs.field(validator=identifier())
    due: date = attrs.field()

    @due.validator
    def _due(self, attribute: attrs.Attribute[date], value: object) -> None:
        check_date(attribute.name, value)


def _to_items(value: Sequence[RemediationItem]) -> tuple[RemediationItem, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInput("remediation", "must be a sequence of RemediationItem")
    for item in value:
        if not isinstance(item, RemediationItem):
            raise InvalidInput("remediation", f"{item!r} is not a RemediationItem")
    return tuple(value)


@attrs.frozen(kw_only=True)
class Review:
    """The post-incident review (retrospective): required to close an incident.

    Every incident gets a root cause analysis; whether the review is shared
    publicly depends on the severity (``Severity.public_review``).
    """

    root_cause: str = attrs.field(validator=text(REVIEW_TEXT_MAX))
    impact: str = attrs.field(default="", validator=text(REVIEW_TEXT_MAX, min_len=0))
    remediation: tuple[RemediationItem, ...] = attrs.field(default=(), converter=_to_items)


@attrs.frozen(kw_only=True)
class StatusUpdate:
    """A message about an incident, public or internal, with the phase it announces."""

    id: str = attrs.field(validator=identifier())
    incident_id: str = attrs.field(validator=identifier())
    body: str = attrs.field(validator=text(UPDATE_BODY_MAX))
    visibility: Visibility = attrs.field(converter=_to_visibility)
    status: IncidentStatus = attrs.field(converter=_to_incident_status)
    posted_at: datetime = attrs.field(validator=aware())
    author: Actor = attrs.field(validator=instance(Actor))


@attrs.frozen(kw_only=True)
class Handoff:
    """Ownership of an incident passing from one team to another."""

    incident_id: str = attrs.field(validator=identifier())
    from_team: str = attrs.field(validator=identifier())
    to_team: str = attrs.field(validator=identifier())
    reason: str = attrs.field(validator=text(REASON_MAX))
    at: datetime = attrs.field(validator=aware())

    @to_team.validator
    def _different(self, attribute: attrs.Attribute[str], value: str) -> None:
        if value == self.from_team:
            raise InvalidInput(attribute.name, f"{value} already owns the incident")


@attrs.define(kw_only=True, eq=False)
class ServiceIncident:
    """A service incident: the aggregate every command works on.

    Linked tickets are not held here: the store indexes links, so linking
    stays O(1) however many tickets an incident has. ``status`` changes only
    through the incident lifecycle, which also stamps the milestones.
    """

    id: str = attrs.field(validator=identifier())
    title: str = attrs.field(validator=text(TITLE_MAX))
    products: tuple[str, ...] = attrs.field(converter=_to_products, validator=_check_products)
    owner_team: str = attrs.field(validator=identifier())
    detected_at: datetime = attrs.field(validator=aware())
    region: str | None = attrs.field(default=None, validator=optional(identifier()))
    group_key: str | None = attrs.field(default=None, validator=optional(text(GROUP_KEY_MAX)))
    """The grouping key new alerts are matched on (see ``GroupingPolicy``)."""
    signal_kinds: tuple[AlertKind, ...] = attrs.field(default=(), converter=_to_kinds)
    """The kinds of the alerts grouped into the incident (triage compares symptoms with them)."""
    reported_symptoms: tuple[Symptom, ...] = attrs.field(default=(), converter=_to_symptoms)
    """The symptoms of the customer reports linked to the incident."""
    summary: str | None = attrs.field(default=None, validator=optional(text(REASON_MAX)))
    """What its signals and first report said: the summary it started with, then each new
    alert's summary while they fit in ``REASON_MAX`` (triage reads its terms)."""
    severity: Severity | None = attrs.field(default=None, validator=_check_severity)
    status: IncidentStatus = attrs.field(
        default=IncidentStatus.DETECTED, converter=_to_incident_status
    )
    version: int = attrs.field(default=0, validator=integer(0))
    opened_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    acknowledged_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    identified_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    monitoring_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    resolved_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    closed_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    ended_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    """When it was dismissed or merged."""
    last_update_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    """When the last update (public or internal) was posted."""
    first_public_update_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    last_public_update_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    last_public_update: str | None = attrs.field(
        default=None, validator=optional(text(UPDATE_BODY_MAX))
    )
    """The body of the last public update, which a newly linked ticket is told."""
    resolution: str | None = attrs.field(default=None, validator=optional(text(UPDATE_BODY_MAX)))
    dismissal_reason: str | None = attrs.field(default=None, validator=optional(text(REASON_MAX)))
    merged_into: str | None = attrs.field(default=None, validator=optional(identifier()))
    review: Review | None = attrs.field(default=None, validator=optional(instance(Review)))
    reopen_count: int = attrs.field(default=0, validator=integer(0))
    last_digest_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    """When the owner team was last sent a "new signals" digest."""
    signals_since_digest: int = attrs.field(default=0, validator=integer(0))
    """Alerts that joined the open incident since the last digest."""
    all_clear_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    """When the owner team was told that every signal of the open incident had cleared
    (reset when a new alert joins, so the next all-clear is told again)."""
    last_reminder_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    """When the owner team was last reminded that an update is due."""
    escalation_step: int = attrs.field(default=0, validator=integer(0))
    """The last step its unanswered validation request was escalated at (0: never)."""

    @property
    def is_open(self) -> bool:
        """Validated and not yet resolved."""
        return self.status in OPEN_STATUSES

    @property
    def is_potential(self) -> bool:
        """Detected, awaiting validation by the owner team."""
        return self.status is IncidentStatus.DETECTED

    @property
    def is_final(self) -> bool:
        """Closed, dismissed or merged: no event leaves these."""
        return self.status in FINAL_STATUSES

    @property
    def is_public(self) -> bool:
        """Open at a severity that is announced publicly."""
        return self.severity is not None and self.severity.public
