"""Reminding owner teams that a customer update is due."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import attrs

from ..cadence import UpdateDue, update_due
from ..domain.actors import Action, Actor
from ..domain.checks import aware, instance, optional
from ..domain.events import UpdateReminderSent
from .base import MONITORING_ACTOR, Command, Context, or_monitoring

__all__ = ["SendUpdateReminders", "UpdatesDue"]


@attrs.frozen(kw_only=True)
class SendUpdateReminders(Command[int]):
    """Remind owner teams of due updates: one reminder per missed interval, never a stream.

    Returns how many reminders were enqueued. Once an update is posted,
    nothing is due, so no reminder follows.
    """

    op: ClassVar[str] = "remind"
    action: ClassVar[Action | None] = None

    by: Actor = attrs.field(
        default=MONITORING_ACTOR, converter=or_monitoring, validator=instance(Actor)
    )

    def execute(self, ctx: Context) -> int:
        """Look at every active incident; remind those whose interval was missed."""
        tx, now = ctx.tx, ctx.now
        sent = 0
        for incident in tx.active_incidents():
            due = update_due(incident, now)
            if due is None:
                continue
            missed_at = due.missed_at
            if incident.last_reminder_at is not None and incident.last_reminder_at >= missed_at:
                continue
            note = ctx.messages.update_reminder(incident, due.due_at, due.overdue, missed_at, now)
            incident.last_reminder_at = now
            tx.save_incident(incident)
            ctx.record(
                UpdateReminderSent(
                    incident_id=incident.id, actor=self.by, at=now, due_at=due.due_at
                )
            )
            sent += tx.enqueue([note], now)
        return sent


@attrs.frozen(kw_only=True)
class UpdatesDue(Command[list[UpdateDue]]):
    """Open incidents whose first or next customer update is due, most overdue first (a query)."""

    op: ClassVar[str] = "due"
    action: ClassVar[Action | None] = None

    now: datetime | None = attrs.field(default=None, validator=optional(aware()))
    """The time to judge at (the clock's, by default)."""

    def execute(self, ctx: Context) -> list[UpdateDue]:
        """Ask the cadence about every active incident."""
        when = ctx.now if self.now is None else self.now
        found = (update_due(incident, when) for incident in ctx.tx.active_incidents())
        return sorted(
            (d for d in found if d is not None), key=lambda d: (-d.overdue, d.incident_id)
        )
