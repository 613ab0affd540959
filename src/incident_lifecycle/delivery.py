"""The outbox relay: drains pending notifications through a notifier, never losing one.

Each round claims due entries under a lease (so another relay cannot take
them): each recipient's oldest pending entries, several per recipient, in
order. It sends them *outside* any transaction, as one batch or (when the
notifier asks for it) as one batch per (recipient kind, topic, locale), then
records each answer:

- delivered;
- throttled: the notifier's channel (its *route*) is paused until the
  retry-after (capped) ends: the entry, and every entry of that route the
  relay claims meanwhile, is put back without counting an attempt;
- retried after a capped exponential backoff (never before the recipient's
  retry-after), or dead-lettered after ``max_attempts`` failed attempts;
- rejected: dead-lettered at once.

Order per recipient: a recipient's messages reach the notifier in enqueue
order, and after one of them is not delivered (failed, throttled, outcome
unknown) the later ones of that recipient in the round are held (put back,
no attempt counted) behind it. A crash anywhere leaves entries pending: they
are claimed again once the lease expires and re-sent with the same key.
"""

from __future__ import annotations

import functools
import logging
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

import attrs

from .domain.actors import Actor, Role
from .domain.checks import check_aware, check_int, check_non_negative, shifted
from .domain.errors import DeliveryError, InvalidInput
from .domain.events import NotificationDeadLettered
from .logs import fields
from .notifications import DeliveryResult, DeliveryStatus, Notification, one_line
from .ports import Clock, Notifier, OutboxEntry, Store, StoreTransaction
from .telemetry import Telemetry

__all__ = ["DeliveryReport", "Relay", "RetryPolicy"]

Route = Callable[[Notification], str]

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
    """What one ``deliver`` call did.

    ``attempted`` counts the claimed notifications; each got one verdict:
    ``attempted == delivered + retried + dead_lettered + throttled + held``.
    """

    batches: int = 0
    """Calls of the notifier's ``send`` (round trips to it)."""
    attempted: int = 0
    delivered: int = 0
    retried: int = 0
    dead_lettered: int = 0
    throttled: int = 0
    """Put back, without counting an attempt, because their route was throttled."""
    held: int = 0
    """Put back, without counting an attempt, behind an earlier message of their recipient
    that was not delivered."""
    errors: tuple[str, ...] = ()
    pending: int = 0
    """Notifications still pending afterwards."""
    next_due_at: datetime | None = None
    """When the next pending notification is due, if any."""


_COUNTS = ("batches", "attempted", "delivered", "retried", "dead", "throttled", "held")


@attrs.define
class _Answers:
    """A notifier's answers to one batch, checked: what each key got, and what went wrong."""

    results: dict[str, DeliveryResult] = attrs.Factory(dict)
    unknown: dict[str, str] = attrs.Factory(dict)
    """Keys without a usable answer, each with why its outcome is unknown."""
    errors: list[str] = attrs.Factory(list)
    foreign: int = 0
    """Results that were not a ``DeliveryResult`` of the batch."""


def read_answers(batch: Sequence[Notification], answer: Callable[[], object]) -> _Answers:
    """Call ``answer()`` (a notifier's ``send``) and consume what it returns, inside the
    error handling: a raise, or an iterator that raises, makes every key not answered yet
    "outcome unknown"; a result that is not a ``DeliveryResult`` of the batch is reported and
    skipped (the others are kept); a key answered twice with different verdicts is reported
    and its outcome is unknown."""
    found = _Answers()
    expected = {n.key for n in batch}
    contradicted: set[str] = set()
    cause = ""
    try:
        answered = answer()
        if isinstance(answered, Iterable) and not isinstance(answered, str | bytes):
            for result in answered:
                _take(found, result, expected, contradicted)
        else:  # e.g. a send() that forgot to return
            cause = str(DeliveryError(f"notifier answered {type(answered).__name__}, not results"))
            found.errors.append(one_line(cause))
    except Exception as exc:  # the outcome of what is not answered yet is unknown
        cause = one_line(f"notifier raised {type(exc).__name__}: {exc}")
        found.errors.append(cause)
    for key in contradicted:
        del found.results[key]
        found.unknown[key] = "outcome unknown: contradictory answers"
    missing = [n.key for n in batch if n.key not in found.results and n.key not in found.unknown]
    if missing and not cause:
        found.errors.append(f"notifier gave no result for {len(set(missing))} notification(s)")
        cause = "the notifier gave no result"
    for key in missing:
        found.unknown[key] = one_line(f"outcome unknown: {cause}")
    if found.foreign > 1:
        found.errors[0] += f" (and {found.foreign - 1} more)"
    if len(found.errors) > 1:  # one line per batch
        found.errors[:] = [one_line("; ".join(found.errors), 600)]
    return found


def _take(found: _Answers, result: object, expected: set[str], contradicted: set[str]) -> None:
    if not isinstance(result, DeliveryResult) or result.key not in expected:
        found.foreign += 1
        if found.foreign == 1:
            found.errors.append(
                one_line(str(DeliveryError(f"notifier answered an unknown result {result!r}")))
            )
        return
    earlier = found.results.get(result.key)
    if earlier is None:
        found.results[result.key] = result
    elif earlier.status is not result.status and result.key not in contradicted:
        contradicted.add(result.key)
        found.errors.append(
            one_line(
                f"notifier answered {result.key} twice, {earlier.status.value} "
                f"and {result.status.value}: its outcome is unknown"
            )
        )


def plan_batches(claimed: Sequence[OutboxEntry], grouped: bool) -> list[list[OutboxEntry]]:
    """The batches to send, in order: all of ``claimed`` in one, or one per (recipient kind,
    topic, locale), each recipient's messages in enqueue order across batches."""
    ordered = sorted(claimed, key=lambda e: e.seq)
    if not grouped:
        return [ordered]
    groups: list[tuple[tuple[str, str, str], list[OutboxEntry]]] = []
    last: dict[str, int] = {}
    for entry in ordered:
        n = entry.notification
        wanted = (n.recipient_kind.value, n.topic.value, n.locale)
        start = last.get(n.recipient, 0)
        index = next((i for i in range(start, len(groups)) if groups[i][0] == wanted), None)
        if index is None:
            groups.append((wanted, []))
            index = len(groups) - 1
        groups[index][1].append(entry)
        last[n.recipient] = index
    return [entries for _, entries in groups]


class Relay:
    """Drains a store's outbox through a notifier (see the module docstring).

    ``per_recipient``: at most this many queued messages of one recipient per
    round. ``group_batches``: one ``send`` per (recipient kind, topic, locale)
    instead of one per round; ``None`` asks the notifier (its
    ``group_batches`` attribute, false if it has none). A notifier that breaks
    the order contract (delivers a message after an earlier one of the same
    recipient in the batch was not) is reported, and is sent one message per
    recipient per round from then on. The notifier's
    ``route(notification) -> str`` method, if it has one, names the channel a
    throttle pauses; without it, a throttle pauses the whole notifier.
    """

    def __init__(
        self,
        store: Store,
        notifier: Notifier,
        clock: Clock,
        policy: RetryPolicy | None = None,
        *,
        seed: int | None = None,
        per_recipient: int = 10,
        group_batches: bool | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.per_recipient = check_int("per_recipient", per_recipient, minimum=1)
        if group_batches is None:
            group_batches = getattr(notifier, "group_batches", False) is True
        self.group_batches = group_batches
        self._route: Route | None = getattr(notifier, "route", None)
        self.check_delivered: Callable[[Sequence[Notification]], Iterable[str]] | None = getattr(
            notifier, "already_delivered", None
        )
        self.order_broken = False
        """Set when the notifier delivered a message after an earlier one of the same
        recipient in the batch was not: from then on, one message per recipient per round."""
        self.paused: dict[str, datetime] = {}
        """Routes paused by a throttle, and until when (this relay's own knowledge)."""
        self._rng = random.Random(seed)  # noqa: S311 - jitter, not cryptography
        self.name = f"relay-{uuid.uuid4().hex[:12]}"
        self.telemetry = Telemetry() if telemetry is None else telemetry
        """Counts attempts and rounds, and traces each round (one span per claimed batch)."""

    def _now(self) -> datetime:
        """The clock's time, aware and in UTC (``InvalidInput`` naming ``now`` otherwise)."""
        return check_aware("now", self.clock.now()).astimezone(UTC)

    def route_of(self, notification: Notification) -> str:
        """The route (channel) of ``notification``: the notifier's ``route()``, or ``""``."""
        if self._route is None:
            return ""
        try:
            return str(self._route(notification))
        except Exception:  # a broken route() pauses the notifier as a whole
            return ""

    def deliver(self, batch_size: int = 100, max_batches: int | None = None) -> DeliveryReport:
        """Claim and send due notifications until none is due (or ``max_batches`` claims)."""
        check_int("batch_size", batch_size, minimum=1)
        if max_batches is not None:
            check_int("max_batches", max_batches, minimum=1)
        totals = dict.fromkeys(_COUNTS, 0)
        errors: list[str] = []
        rounds = 0
        while max_batches is None or rounds < max_batches:
            now = self._now()
            with self.store.transaction() as tx:
                lease_until = shifted(now, self.policy.lease)
                depth = 1 if self.order_broken else self.per_recipient
                claimed = tx.claim_due(now, batch_size, lease_until, self.name, per_recipient=depth)
            if not claimed:
                break
            rounds += 1
            totals["attempted"] += len(claimed)
            before = dict(totals)
            with self.telemetry.delivery_batch(claimed, self.name) as span:
                round_ = _Round(self, now, totals, errors)
                round_.run(claimed)
                self.telemetry.count_attempts(round_.sent, round_.results)
                counts = {k: totals[k] - before[k] for k in ("delivered", "retried", "dead")}
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
                failed = len(errors) > len(round_.errors_before)
                span.set("incident_lifecycle.outcome", "notifier_error" if failed else "ok")
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
            throttled=totals["throttled"],
            held=totals["held"],
            errors=tuple(errors),
            pending=stats.pending,
            next_due_at=next_due,
        )

    def paused_until(self, route: str, now: datetime) -> datetime | None:
        """The end of ``route``'s pause, if it is paused at ``now``."""
        until = self.paused.get(route)
        if until is not None and until <= now:
            del self.paused[route]
            return None
        return until

    def pause(self, route: str, after: timedelta | None, now: datetime) -> datetime:
        """Pause ``route`` for ``after`` (capped by the policy; the base wait if none)."""
        wait = self.policy.base if after is None else after
        wait = max(timedelta(0), min(wait, self.policy.max_retry_after))
        until = max(shifted(now, wait), self.paused.get(route, now))
        self.paused[route] = until
        LOG.info(
            "route %s throttled until %s",
            one_line(route),
            until.isoformat(),
            extra=fields("route_throttled", relay=self.name, route=route, until=until.isoformat()),
        )
        return until

    def wait_after_failure(self, entry: OutboxEntry, retry_after: timedelta | None) -> timedelta:
        """The backoff after ``entry``'s failed attempt, honouring a capped retry-after."""
        wait = self.policy.delay(entry.attempts, self._rng)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.policy.max_retry_after))
        return wait


class _Round:
    """One claimed round: its batches sent in order, each answer recorded right after."""

    def __init__(self, relay: Relay, now: datetime, totals: dict[str, int], errors: list[str]):
        self.relay = relay
        self.now = now
        self.totals = totals
        self.errors = errors
        self.blocked: set[str] = set()
        """Recipients with a message not delivered this round: their later ones are held."""
        self.sent: list[OutboxEntry] = []
        """The entries handed to the notifier (or found delivered) this round."""
        self.results: dict[str, DeliveryResult] = {}
        """Their answers, by key (what the telemetry counts)."""
        self.errors_before = list(errors)

    def run(self, claimed: Sequence[OutboxEntry]) -> None:
        relay = self.relay
        for batch in plan_batches(claimed, relay.group_batches):
            sendable: list[OutboxEntry] = []
            put_back: dict[datetime, list[str]] = {}
            for entry in batch:
                recipient = entry.notification.recipient
                until = relay.paused_until(relay.route_of(entry.notification), self.now)
                if recipient in self.blocked:
                    put_back.setdefault(self.now, []).append(entry.key)
                    self.totals["held"] += 1
                elif until is not None:
                    put_back.setdefault(until, []).append(entry.key)
                    self.blocked.add(recipient)
                    self.totals["throttled"] += 1
                else:
                    sendable.append(entry)
            answers = _Answers()
            answered = list(sendable)
            if sendable and relay.check_delivered is not None:
                sendable = self._drop_delivered(sendable, answers)
            if sendable:
                notes = [entry.notification for entry in sendable]
                sent = read_answers(notes, functools.partial(relay.notifier.send, notes))
                answers.results.update(sent.results)
                answers.unknown.update(sent.unknown)
                answers.errors.extend(sent.errors)
                self.totals["batches"] += 1
                for error in answers.errors:
                    self._report(error, len(notes))
            self.sent += answered
            self.results.update(answers.results)
            self._record(answered, answers, put_back)

    def _drop_delivered(self, entries: list[OutboxEntry], answers: _Answers) -> list[OutboxEntry]:
        """Ask the notifier which of the entries tried before it already shows (a re-send
        after a crash or a timeout); those are answered delivered and not sent again."""
        check = self.relay.check_delivered
        assert check is not None
        maybe = [e for e in entries if e.attempts > 1]
        if not maybe:
            return entries
        notes = [e.notification for e in maybe]
        try:
            found = {key for key in check(notes) if isinstance(key, str)}
        except Exception as exc:  # cannot tell: not sent again now, retried later
            error = one_line(
                f"outcome unknown: could not check for an earlier delivery: "
                f"{type(exc).__name__}: {exc}"
            )
            self._report(error, len(maybe))
            for e in maybe:
                answers.unknown[e.key] = error
            return [e for e in entries if e.attempts <= 1]
        for e in maybe:
            if e.key in found:
                answers.results[e.key] = DeliveryResult.delivered(e.key)
        return [e for e in entries if e.key not in found]

    def _record(
        self, sent: Sequence[OutboxEntry], answers: _Answers, put_back: dict[datetime, list[str]]
    ) -> None:
        relay, now = self.relay, self.relay._now()
        delivered: list[str] = []
        events: list[NotificationDeadLettered] = []
        with relay.store.transaction() as tx:
            for entry in sent:
                recipient = entry.notification.recipient
                result = answers.results.get(entry.key)
                status = result.status if result is not None else None
                if status is DeliveryStatus.DELIVERED:
                    if recipient in self.blocked:
                        self._out_of_order(entry)
                    delivered.append(entry.key)
                elif status is DeliveryStatus.REJECTED:
                    assert result is not None
                    events.append(self._dead(tx, entry, result.error or "rejected", now))
                elif recipient in self.blocked:
                    put_back.setdefault(now, []).append(entry.key)
                    self.totals["held"] += 1
                elif status is DeliveryStatus.THROTTLED:
                    assert result is not None
                    route = relay.route_of(entry.notification)
                    until = relay.pause(route, result.retry_after, self.now)
                    put_back.setdefault(until, []).append(entry.key)
                    self.blocked.add(recipient)
                    self.totals["throttled"] += 1
                else:  # a failure: retry, or outcome unknown
                    self.blocked.add(recipient)
                    if result is None:
                        error, after = answers.unknown.get(entry.key, "outcome unknown"), None
                    else:
                        error, after = result.error or "retry", result.retry_after
                    self._fail(tx, entry, error, after, now, events)
            tx.mark_delivered(delivered, now)
            self.totals["delivered"] += len(delivered)
            for not_before, keys in put_back.items():
                tx.defer(keys, not_before, now)
            tx.append(events)

    def _fail(
        self,
        tx: StoreTransaction,
        entry: OutboxEntry,
        error: str,
        after: timedelta | None,
        now: datetime,
        events: list[NotificationDeadLettered],
    ) -> None:
        if entry.attempts >= self.relay.policy.max_attempts:
            events.append(self._dead(tx, entry, error, now))
            return
        wait = self.relay.wait_after_failure(entry, after)
        tx.schedule_retry(entry.key, shifted(now, wait), one_line(error), now)
        self.totals["retried"] += 1

    def _dead(
        self, tx: StoreTransaction, entry: OutboxEntry, error: str, now: datetime
    ) -> NotificationDeadLettered:
        text = one_line(error)
        tx.mark_dead(entry.key, text, now)
        LOG.warning(
            "notification %s to %s dead-lettered after %d attempt(s): %s",
            one_line(entry.key),
            one_line(entry.notification.recipient),
            entry.attempts,
            text,
            extra=fields(
                "notification_dead_lettered",
                key=entry.key,
                recipient=entry.notification.recipient,
                attempts=entry.attempts,
                error=text,
            ),
        )
        self.totals["dead"] += 1
        return NotificationDeadLettered(
            incident_id=entry.notification.incident_id,
            actor=RELAY_ACTOR,
            at=now,
            key=entry.key,
            recipient=entry.notification.recipient,
            error=text,
        )

    def _out_of_order(self, entry: OutboxEntry) -> None:
        error = one_line(
            f"notifier delivered {entry.key} after an earlier message to "
            f"{entry.notification.recipient} was not delivered (the order contract is broken)"
        )
        self.errors.append(error)
        LOG.warning(
            "delivery batch: %s",
            error,
            extra=fields(
                "notifier_broke_order",
                relay=self.relay.name,
                key=entry.key,
                recipient=entry.notification.recipient,
            ),
        )
        self.relay.order_broken = True

    def _report(self, error: str, size: int) -> None:
        self.errors.append(error)
        LOG.warning(
            "delivery batch failed, will retry: %s",
            error,
            extra=fields(
                "delivery_batch_failed", relay=self.relay.name, batch_size=size, error=error
            ),
        )
