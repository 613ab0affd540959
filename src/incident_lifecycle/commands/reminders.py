"""Reminding owner teams that a customer update is due."""

from __future__ import annotations

from typing import ClassVar

import attrs

from ..cadence import update_due
from ..domain.actors import Action, Actor
from ..domain.checks import instance
from ..domain.events import UpdateReminderSent
from .base import MONITORING_ACTOR, Command, Context

__all__ = ["SendUpdateReminders"]


@attrs.frozen(kw_only=True)
class SendUpdateReminders(Command[int]):
    """Remind owner teams of due updates: one reminder per missed interval, never a stream.

    Returns how many reminders were enqueued. Once an update is posted,
    nothing is due, so no reminder follows.
    """

    op: ClassVar[str] = "remind"
    action: ClassVar[Action | None] = None

    by: Actor = attrs.field(default=MONITORING_ACTOR, validator=instance(Actor))

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
