"""Escalation of validation requests nobody answered (pure: no I/O, no clock reads).

A potential incident asks its owner team, once, to validate it. When nobody
acknowledges or validates it within a delay (per severity suggested by its
alerts, else a default of 15 minutes), it is escalated: the owner team is told
again and the incident managers are told. One escalation per step: the first
at one delay after detection, the next at two delays, and so on; a scheduler
that missed steps sends one escalation for the step it finds, never a burst.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType

import attrs

from .domain.checks import SEVERITY_NAME_MAX, check_identifier, shifted
from .domain.errors import InvalidInput
from .domain.incidents import IncidentStatus, ServiceIncident

__all__ = ["DEFAULT_ESCALATION_DELAY", "EscalationDue", "EscalationPolicy", "escalation_due"]

DEFAULT_ESCALATION_DELAY = timedelta(minutes=15)
"""How long a validation request waits for an answer before it is escalated, by default."""


def _check_delay(field: str, value: object) -> timedelta:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise InvalidInput(field, "must be a timedelta longer than zero")
    return value


def _to_delay(value: object) -> timedelta:
    return _check_delay("delay", value)


def _to_by_severity(value: object) -> Mapping[str, timedelta]:
    if not isinstance(value, Mapping):
        raise InvalidInput("by_severity", "must map a severity name to a delay")
    out: dict[str, timedelta] = {}
    for name, delay in value.items():
        check_identifier("by_severity", name, max_len=SEVERITY_NAME_MAX)
        out[name] = _check_delay("by_severity", delay)
    return MappingProxyType(out)


def _check_team(_inst: object, _attribute: object, value: object) -> None:
    check_identifier("manager_team", value)


@attrs.frozen(kw_only=True)
class EscalationPolicy:
    """When an unanswered validation request is escalated, and to whom.

    ``delay`` is the default wait (15 minutes); ``by_severity`` gives a level
    its own (the level the alerts suggest, their worst ``severity_hint`` on
    the desk's scale: ``{"SEV1": timedelta(minutes=5)}``). ``manager_team`` is
    the recipient that reaches the incident-manager role.
    """

    delay: timedelta = attrs.field(default=DEFAULT_ESCALATION_DELAY, converter=_to_delay)
    by_severity: Mapping[str, timedelta] = attrs.field(
        factory=lambda: MappingProxyType({}), converter=_to_by_severity
    )
    manager_team: str = attrs.field(default="incident-managers", validator=_check_team)

    def delay_for(self, severity: str | None) -> timedelta:
        """The wait before each step for a potential incident whose alerts suggest ``severity``."""
        if severity is None:
            return self.delay
        return self.by_severity.get(severity, self.delay)


@attrs.frozen(kw_only=True)
class EscalationDue:
    """A potential incident whose validation request is due to be escalated."""

    incident_id: str
    owner_team: str
    severity: str | None
    """The level its alerts suggest, if any (what chose the delay)."""
    step: int
    """Which escalation this is: 1 at one delay after detection, 2 at two, ..."""
    due_at: datetime
    overdue: timedelta
    delay: timedelta


def escalation_due(
    incident: ServiceIncident, severity: str | None, now: datetime, policy: EscalationPolicy
) -> EscalationDue | None:
    """The escalation ``incident`` is due at ``now``, or ``None``.

    Only a potential (detected) incident nobody acknowledged is escalated, and
    only for a step beyond the last one escalated (``escalation_step``). A
    clock behind the detection time escalates nothing.
    """
    if incident.status is not IncidentStatus.DETECTED or incident.acknowledged_at is not None:
        return None
    delay = policy.delay_for(severity)
    elapsed = now - incident.detected_at
    if elapsed < delay:
        return None
    step = elapsed // delay
    if step <= incident.escalation_step:
        return None
    due_at = shifted(incident.detected_at, delay * step)  # delay * step <= elapsed: no overflow
    return EscalationDue(
        incident_id=incident.id,
        owner_team=incident.owner_team,
        severity=severity,
        step=step,
        due_at=due_at,
        overdue=now - due_at,
        delay=delay,
    )
