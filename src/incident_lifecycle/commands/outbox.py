"""The outbox's commands: deliver what is due, put dead letters back, prune the delivered."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any, ClassVar

import attrs

from ..delivery import DeliveryReport
from ..domain.actors import Action, Actor, check_permitted
from ..domain.checks import KEY_MAX, check_identifier, check_int, instance, shifted_back
from ..domain.errors import InvalidInput
from ..domain.events import DeadLettersRedriven
from .base import (
    MONITORING_ACTOR,
    Command,
    Context,
    Operation,
    Services,
    or_monitoring,
    read,
    read_now,
)

__all__ = ["Deliver", "PruneDelivered", "RedriveDeadLetters"]


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


def _duration(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, timedelta):
        raise InvalidInput(attribute.name, f"must be a timedelta, not {type(value).__name__}")
    if value < timedelta(0):
        raise InvalidInput(attribute.name, "must not be negative")


@attrs.frozen(kw_only=True)
class PruneDelivered(Operation[int]):
    """Forget notifications delivered more than ``older_than`` ago; return how many.

    A pruned key can be enqueued again as a new notification, so ``older_than``
    must be at least the retry policy's horizon (how long a notification may
    stay in the outbox before it is delivered or dead-lettered): a command
    retried within that time still finds its key and sends nothing twice.
    Pending and dead-lettered notifications, incidents and timelines are kept.
    """

    op: ClassVar[str] = "prune"
    action: ClassVar[Action | None] = None

    older_than: timedelta = attrs.field(validator=_duration)

    def apply(self, services: Services) -> int:
        """Delete the delivered entries older than the cut-off, in one transaction."""
        relay = services.relay
        horizon = relay.policy.horizon
        if self.older_than < horizon:
            raise InvalidInput(
                "older_than", f"must be at least the retry horizon ({horizon}) to keep keys"
            )
        before = shifted_back(read_now(relay.clock), self.older_than)
        return read(relay.store, lambda tx: tx.prune_delivered(before), max_conflict_retries=5)
