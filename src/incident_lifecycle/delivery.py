"""The outbox relay: drains pending notifications through a notifier, never losing one.

Each round claims due entries under a lease (so another relay cannot take
them), sends them as one batch *outside* any transaction, then records each
result: delivered, retried after a capped exponential backoff (and never
before the recipient's retry-after), or dead-lettered after ``max_attempts``
or a permanent rejection. A crash anywhere leaves entries pending: they are
claimed again once the lease expires and re-sent with the same key.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import attrs

from .domain.actors import Actor, Role
from .domain.checks import check_aware, check_int, check_non_negative, shifted
from .domain.errors import DeliveryError, InvalidInput
from .domain.events import NotificationDeadLettered
from .logs import fields
from .notifications import DeliveryResult, DeliveryStatus, one_line
from .ports import Clock, Notifier, OutboxEntry, Store
from .telemetry import Telemetry

__all__ = ["DeliveryReport", "Relay", "RetryPolicy"]

LOG = logging.getLogger(__name__)
"""Delivery failures and batches are logged here, each record one line (see ``logs``)."""

RELAY_ACTOR = Actor(name="outbox-relay", role=Role.MONITORING, team=None)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Backoff and limits of delivery.

    The n-th retry waits ``min(cap, base * 2**(n-1))`` with "equal jitter"
    (between half of it and all of it, never below ``base``); a recipient's
    retry-after is honoured when longer, up to ``max_retry_after``. After
    ``max_attempts`` attempts a notification is dead-lettered. ``lease`` is
    how long a claimed notification stays reserved to one relay.
    """

    base: timedelta = timedelta(seconds=10)
    cap: timedelta = timedelta(minutes=15)
    max_attempts: int = 8
    lease: timedelta = timedelta(minutes=2)
    jitter: bool = True
    max_retry_after: timedelta = timedelta(hours=1)
    """The longest wait a recipient's retry-after can ask for: a longer one (a
    misconfigured helpdesk answering days, or ``timedelta.max``) waits this long."""

    def __attrs_post_init__(self) -> None:
        for name in ("base", "cap", "lease", "max_retry_after"):
            check_non_negative(name, getattr(self, name))
        check_int("max_attempts", self.max_attempts, minimum=1)
        if self.cap < self.base:
            raise InvalidInput("cap", "must not be shorter than base")
        if self.lease <= timedelta(0):
            raise InvalidInput("lease", "must be longer than zero")

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        """How long to wait after the ``attempts``-th failed attempt."""
        ceiling = self._ceiling(attempts)
        if not self.jitter or ceiling <= self.base:
            return ceiling
        half = ceiling / 2
        return max(self.base, half + half * rng.random())

    def _ceiling(self, attempts: int) -> timedelta:
        """``min(cap, base * 2**(attempts-1))``, without overflowing ``timedelta``."""
        factor = 1 << min(max(attempts - 1, 0), 32)
        if self.base and self.cap // self.base < factor:
            return self.cap
        return self.base * factor

    @property
    def horizon(self) -> timedelta:
        """The longest a notification can stay pending before it is dead-lettered
        (``timedelta.max`` if that is longer than a ``timedelta`` holds), not counting
        recipients' retry-afters: each can stretch one wait to ``max_retry_after``."""
        total = timedelta(0)
        try:
            for attempt in range(1, self.max_attempts):
                total += self._ceiling(attempt) + self.lease
            return total + self.lease
        except OverflowError:
            return timedelta.max


@attrs.frozen(kw_only=True)
class DeliveryReport:
    """What one ``deliver`` call did."""

    batches: int = 0
    attempted: int = 0
    delivered: int = 0
    retried: int = 0
    dead_lettered: int = 0
    errors: tuple[str, ...] = ()
    pending: int = 0
    """Notifications still pending afterwards."""
    next_due_at: datetime | None = None
    """When the next pending notification is due, if any."""


class Relay:
    """Drains a store's outbox through a notifier (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        notifier: Notifier,
        clock: Clock,
        policy: RetryPolicy | None = None,
        *,
        seed: int | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self._rng = random.Random(seed)  # noqa: S311 - jitter, not cryptography
        self.name = f"relay-{uuid.uuid4().hex[:12]}"
        self.telemetry = Telemetry() if telemetry is None else telemetry
        """Counts attempts and rounds, and traces each batch (one span per batch)."""

    def _now(self) -> datetime:
        """The clock's time, aware and in UTC (``InvalidInput`` naming ``now`` otherwise)."""
        return check_aware("now", self.clock.now()).astimezone(UTC)

    def deliver(self, batch_size: int = 100, max_batches: int | None = None) -> DeliveryReport:
        """Send due notifications in batches until none is due (or ``max_batches``)."""
        check_int("batch_size", batch_size, minimum=1)
        if max_batches is not None:
            check_int("max_batches", max_batches, minimum=1)
        totals = {"batches": 0, "attempted": 0, "delivered": 0, "retried": 0, "dead": 0}
        errors: list[str] = []
        while max_batches is None or totals["batches"] < max_batches:
            now = self._now()
            with self.store.transaction() as tx:
                lease_until = shifted(now, self.policy.lease)
                claimed = tx.claim_due(now, batch_size, lease_until, self.name)
            if not claimed:
                break
            totals["batches"] += 1
            totals["attempted"] += len(claimed)
            with self.telemetry.delivery_batch(claimed, self.name) as span:
                results, error = self._send(claimed)
                self.telemetry.count_attempts(claimed, results)
                if error:
                    errors.append(error)
                    LOG.warning(
                        "delivery batch failed, will retry: %s",
                        error,
                        extra=fields(
                            "delivery_batch_failed",
                            relay=self.name,
                            batch_size=len(claimed),
                            error=error,
                        ),
                    )
                counts = self._record(claimed, results, self._now())
                LOG.debug(
                    "delivery batch of %d: %d delivered, %d retried, %d dead",
                    len(claimed),
                    counts["delivered"],
                    counts["retried"],
                    counts["dead"],
                    extra=fields(
                        "delivery_batch", relay=self.name, batch_size=len(claimed), **counts
                    ),
                )
                span.set_all({f"incident_lifecycle.batch.{k}": v for k, v in counts.items()})
                span.set("incident_lifecycle.outcome", "notifier_error" if error else "ok")
            for name, count in counts.items():
                totals[name] += count
        with self.store.transaction() as tx:
            stats = tx.outbox_stats()
            next_due = tx.next_due_at()
        self.telemetry.relay_ran(self._now())
        return DeliveryReport(
            batches=totals["batches"],
            attempted=totals["attempted"],
            delivered=totals["delivered"],
            retried=totals["retried"],
            dead_lettered=totals["dead"],
            errors=tuple(errors),
            pending=stats.pending,
            next_due_at=next_due,
        )

    def _send(self, claimed: Sequence[OutboxEntry]) -> tuple[dict[str, DeliveryResult], str]:
        batch = [entry.notification for entry in claimed]
        try:
            answered = self.notifier.send(batch)
        except Exception as exc:  # the outcome is unknown: every one will be re-sent
            return {}, one_line(f"notifier raised {type(exc).__name__}: {exc}")
        if not isinstance(answered, Iterable):  # e.g. a send() that forgot to return
            return {}, one_line(
                str(DeliveryError(f"notifier answered {type(answered).__name__}, not results"))
            )
        results: dict[str, DeliveryResult] = {}
        expected = {entry.key for entry in claimed}
        for result in answered:
            if not isinstance(result, DeliveryResult) or result.key not in expected:
                return {}, one_line(
                    str(DeliveryError(f"notifier answered an unknown result {result!r}"))
                )
            results[result.key] = result
        if len(results) != len(expected):
            missing = len(expected) - len(results)
            return results, f"notifier gave no result for {missing} notification(s)"
        return results, ""

    def _record(
        self, claimed: Sequence[OutboxEntry], results: dict[str, DeliveryResult], now: datetime
    ) -> dict[str, int]:
        counts = {"delivered": 0, "retried": 0, "dead": 0}
        with self.store.transaction() as tx:
            delivered = [
                e.key
                for e in claimed
                if (r := results.get(e.key)) is not None and r.status is DeliveryStatus.DELIVERED
            ]
            tx.mark_delivered(delivered, now)
            counts["delivered"] = len(delivered)
            events = []
            for entry in claimed:
                result = results.get(entry.key)
                if result is not None and result.status is DeliveryStatus.DELIVERED:
                    continue
                error = result.error if result is not None else "outcome unknown"
                permanent = result is not None and result.status is DeliveryStatus.REJECTED
                if permanent or entry.attempts >= self.policy.max_attempts:
                    tx.mark_dead(entry.key, one_line(error or "rejected"), now)
                    LOG.warning(
                        "notification %s to %s dead-lettered after %d attempt(s): %s",
                        one_line(entry.key),
                        one_line(entry.notification.recipient),
                        entry.attempts,
                        one_line(error or "rejected"),
                        extra=fields(
                            "notification_dead_lettered",
                            key=entry.key,
                            recipient=entry.notification.recipient,
                            attempts=entry.attempts,
                            error=error or "rejected",
                        ),
                    )
                    counts["dead"] += 1
                    events.append(
                        NotificationDeadLettered(
                            incident_id=entry.notification.incident_id,
                            actor=RELAY_ACTOR,
                            at=now,
                            key=entry.key,
                            recipient=entry.notification.recipient,
                            error=one_line(error),
                        )
                    )
                    continue
                wait = self.policy.delay(entry.attempts, self._rng)
                if result is not None and result.retry_after is not None:
                    wait = max(wait, min(result.retry_after, self.policy.max_retry_after))
                tx.schedule_retry(entry.key, shifted(now, wait), one_line(error), now)
                counts["retried"] += 1
            tx.append(events)
        return counts
