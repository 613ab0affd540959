"""Update cadence: when an open incident owes its customers an update (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from .domain.checks import shifted
from .domain.incidents import ServiceIncident

__all__ = ["UpdateDue", "update_due"]


@attrs.frozen(kw_only=True)
class UpdateDue:
    """An open incident whose next customer update is due or overdue."""

    incident_id: str
    owner_team: str
    severity: str
    first: bool
    """True if no customer update was posted yet (the first-update deadline)."""
    due_at: datetime
    overdue: timedelta
    missed_intervals: int
    """How many whole update intervals have passed since ``due_at`` (0: just due)."""
    interval: timedelta
    """The severity's update interval."""

    @property
    def missed_at(self) -> datetime:
        """The start of the interval being missed now (one reminder per such interval)."""
        return shifted(self.due_at, self.interval * self.missed_intervals)


def update_due(incident: ServiceIncident, now: datetime) -> UpdateDue | None:
    """The update ``incident`` owes at ``now``, or ``None`` if nothing is due yet.

    The first customer update is due ``severity.first_update`` after the
    incident opened; then one every ``severity.update_interval`` after the
    last one, until resolution.
    """
    severity = incident.severity
    if not incident.is_open or severity is None or incident.opened_at is None:
        return None
    last = incident.last_public_update_at
    first = last is None
    # A deadline past the year 9999 is the last representable instant (``shifted``).
    due_at = (
        shifted(incident.opened_at, severity.first_update)
        if last is None
        else shifted(last, severity.update_interval)
    )
    if now < due_at:
        return None
    overdue = now - due_at
    return UpdateDue(
        incident_id=incident.id,
        owner_team=incident.owner_team,
        severity=severity.name,
        first=first,
        due_at=due_at,
        overdue=overdue,
        missed_intervals=overdue // severity.update_interval,
        interval=severity.update_interval,
    )
