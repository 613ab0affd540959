"""The outbox's commands: deliver what is due, put dead letters back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import attrs

from ..delivery import DeliveryReport
from ..domain.actors import Action, Actor, check_permitted
from ..domain.checks import KEY_MAX, check_identifier, check_int, instance
from ..domain.errors import InvalidInput
from ..domain.events import DeadLettersRedriven
from .base import MONITORING_ACTOR, Command, Context, Operation, Services, or_monitoring

__all__ = ["Deliver", "RedriveDeadLetters"]


def _to_keys(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput("keys", "must be a collection of notification keys, or None for all")
    return tuple(check_identifier("keys", key, max_len=KEY_MAX) for key in value)


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_int(attribute.name, value, minimum=1)


def _positive_or_none(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        check_int(attribute.name, value, minimum=1)


@attrs.frozen(kw_only=True)
class RedriveDeadLetters(Command[int]):
    """Put dead letters (all, or those of some keys) back in the outbox, same keys.

    Returns how many were put back; each incident's timeline records how many
    of its notifications were.
    """

    op: ClassVar[str] = "redrive"
    action: ClassVar[Action | None] = Action.REDRIVE

    keys: tuple[str, ...] | None = attrs.field(default=None, converter=_to_keys)
    by: Actor = attrs.field(
        default=MONITORING_ACTOR, converter=or_monitoring, validator=instance(Actor)
    )

    def execute(self, ctx: Context) -> int:
        """Redrive the chosen dead letters."""
        check_permitted(self.by, Action.REDRIVE)
        entries = ctx.tx.dead_letters()
        if self.keys is not None:
            chosen = set(self.keys)
            entries = [e for e in entries if e.key in chosen]
        count = ctx.tx.redrive([e.key for e in entries], ctx.now)
        per_incident: dict[str | None, int] = {}
        for entry in entries:
            incident_id = entry.notification.incident_id
            per_incident[incident_id] = per_incident.get(incident_id, 0) + 1
        ctx.record(
            *(
                DeadLettersRedriven(incident_id=i, actor=self.by, at=ctx.now, count=n)
                for i, n in per_incident.items()
            )
        )
        return count


@attrs.frozen(kw_only=True)
class Deliver(Operation[DeliveryReport]):
    """Drain the outbox through the configured notifier."""

    op: ClassVar[str] = "deliver"
    action: ClassVar[Action | None] = Action.DELIVER

    batch_size: int = attrs.field(default=100, validator=_positive)
    max_batches: int | None = attrs.field(default=None, validator=_positive_or_none)

    def apply(self, services: Services) -> DeliveryReport:
        """Run the relay until nothing is due (or ``max_batches`` batches were sent)."""
        return services.relay.deliver(batch_size=self.batch_size, max_batches=self.max_batches)
