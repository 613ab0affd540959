"""Escalating validation requests nobody answered (see :mod:`incident_lifecycle.escalation`)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import attrs

from ..domain.actors import Action, Actor
from ..domain.checks import aware, instance, optional
from ..domain.errors import InvalidInput
from ..domain.events import ValidationEscalated
from ..escalation import EscalationDue, escalation_due
from .base import MONITORING_ACTOR, Command, Context, or_monitoring
from .incidents import suggested_severity

__all__ = ["EscalationsDue", "SendEscalations", "escalations_due"]


def _suggested(ctx: Context, incident_id: str) -> str | None:
    """The level the incident's alerts suggest (their worst hint on the scale), if any."""
    try:
        return suggested_severity(ctx.config.scale, ctx.tx.alerts_of(incident_id), incident_id).name
    except InvalidInput:
        return None


def escalations_due(ctx: Context, now: datetime) -> list[EscalationDue]:
    """Every potential incident due to be escalated at ``now``, most overdue first."""
    policy = ctx.config.escalation
    found = []
    for incident in ctx.tx.active_incidents():
        if not incident.is_potential or incident.acknowledged_at is not None:
            continue
        due = escalation_due(incident, _suggested(ctx, incident.id), now, policy)
        if due is not None:
            found.append(due)
    return sorted(found, key=lambda d: (-d.overdue, d.incident_id))


@attrs.frozen(kw_only=True)
class EscalationsDue(Command[list[EscalationDue]]):
    """Potential incidents whose unanswered validation request is due to be escalated (a
    query), most overdue first."""

    op: ClassVar[str] = "escalations_due"
    action: ClassVar[Action | None] = None

    now: datetime | None = attrs.field(default=None, validator=optional(aware()))
    """The time to judge at (the clock's, by default)."""

    def execute(self, ctx: Context) -> list[EscalationDue]:
        """Ask the escalation policy about every potential incident."""
        return escalations_due(ctx, ctx.now if self.now is None else self.now)


@attrs.frozen(kw_only=True)
class SendEscalations(Command[int]):
    """Escalate every validation request due: its owner team is told again and the
    incident managers are told, once per step, on the incident's timeline.

    Returns how many notifications were enqueued. Acknowledging or validating
    the incident stops its escalations; run it from a scheduler (every minute).
    """

    op: ClassVar[str] = "escalate"
    action: ClassVar[Action | None] = None

    by: Actor = attrs.field(
        default=MONITORING_ACTOR, converter=or_monitoring, validator=instance(Actor)
    )

    def execute(self, ctx: Context) -> int:
        """Escalate each due request at its current step."""
        tx, now = ctx.tx, ctx.now
        sent = 0
        for due in escalations_due(ctx, now):
            incident = tx.incident(due.incident_id)
            teams = tuple(dict.fromkeys((incident.owner_team, ctx.config.escalation.manager_team)))
            notes = ctx.messages.validation_escalated(
                incident, due.step, due.delay, due.severity, teams, now
            )
            incident.escalation_step = due.step
            tx.save_incident(incident)
            ctx.record(
                ValidationEscalated(
                    incident_id=incident.id,
                    actor=self.by,
                    at=now,
                    step=due.step,
                    due_at=due.due_at,
                    to_teams=teams,
                )
            )
            sent += tx.enqueue(notes, now)
        return sent
