"""Delivery: the retry policy and the outbox relay, driven through the desk."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_lifecycle import (
    Actor,
    CustomerReport,
    InvalidInput,
    ReportStatus,
)
from incident_lifecycle.adapters import InMemoryStore, RecordingNotifier
from incident_lifecycle.delivery import Relay, RetryPolicy
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.domain.events import DeadLettersRedriven, NotificationDeadLettered
from incident_lifecycle.notifications import (
    DeliveryResult,
    DeliveryStatus,
    Notification,
    RecipientKind,
    Topic,
)
from incident_lifecycle.ports import OutboxState
from incident_lifecycle.testing import FakeClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
OWNER = Actor(name="ana", role="engineering", team="support-eng")
NO_JITTER = RetryPolicy(jitter=False)

Answer = Callable[[Notification, int], object]


class ScriptedNotifier:
    """A notifier whose answer for each notification comes from ``answer(notification, attempt)``.

    It records every call (time and keys) and every notification it reports delivered.
    """

    def __init__(self, clock: FakeClock, answer: Answer | None = None) -> None:
        self.clock = clock
        self.answer: Answer = answer or (lambda n, _attempt: DeliveryResult.delivered(n.key))
        self.calls: list[tuple[datetime, list[str]]] = []
        self.attempts: dict[str, int] = {}
        self.delivered: list[Notification] = []

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        self.calls.append((self.clock.now(), [n.key for n in batch]))
        results: list[object] = []
        stopped: set[str] = set()  # the notifier contract: nothing after a failure, per recipient
        for notification in batch:
            if notification.recipient in stopped:
                results.append(DeliveryResult.retry(notification.key, "held"))
                continue
            attempt = self.attempts[notification.key] = self.attempts.get(notification.key, 0) + 1
            result = self.answer(notification, attempt)
            if not isinstance(result, DeliveryResult) or result.status in (
                DeliveryStatus.RETRY,
                DeliveryStatus.THROTTLED,
            ):
                stopped.add(notification.recipient)
            if (
                isinstance(result, DeliveryResult)
                and result.key == notification.key
                and result.status is DeliveryStatus.DELIVERED
            ):
                self.delivered.append(notification)
            results.append(result)
        return results  # type: ignore[return-value]  # a script may answer nonsense on purpose

    def times_sent(self, key: str) -> list[datetime]:
        return [at for at, keys in self.calls if key in keys]


def make_desk(notifier: object, clock: FakeClock, retry: RetryPolicy | None = None) -> IncidentDesk:
    return IncidentDesk(
        store=InMemoryStore(),
        notifier=notifier,  # type: ignore[arg-type]
        ownership={"support": "support-eng"},
        clock=clock,
        retry=retry,
        seed=11,
    )


def open_incident(desk: IncidentDesk, tickets: Sequence[str] = ("T-1", "T-2", "T-3")) -> str:
    """Declare an incident and link ``tickets`` to it through the store."""
    incident = desk.declare_incident(
        OWNER, title="Pages load slowly", product="support", severity="SEV2"
    )
    link_tickets(desk, incident.id, tickets)
    return incident.id


def link_tickets(desk: IncidentDesk, incident_id: str, tickets: Sequence[str]) -> None:
    with desk.store.transaction() as tx:
        for ticket in tickets:
            tx.add_report(
                CustomerReport(
                    ticket_id=ticket,
                    account_id=f"acct-{ticket}",
                    product="support",
                    symptom="slow",
                    summary="The agent workspace is slow.",
                    reported_at=desk.clock.now(),
                    status=ReportStatus.LINKED,
                    incident_id=incident_id,
                )
            )
            tx.link(ticket, incident_id)


def drain(desk: IncidentDesk, clock: FakeClock, rounds: int = 1_000) -> None:
    """Deliver, jumping the clock to each next due time, until nothing is pending."""
    for _ in range(rounds):
        report = desk.deliver()
        if report.pending == 0:
            return
        assert report.next_due_at is not None
        clock.set(max(report.next_due_at, clock.now()))
    raise AssertionError("the outbox did not drain")  # pragma: no cover


def entry_state(desk: IncidentDesk, key: str) -> tuple[OutboxState, int]:
    with desk.store.transaction() as tx:
        entry = tx.outbox_entry(key)
    assert entry is not None
    return entry.state, entry.attempts


# -- the retry policy -------------------------------------------------------------


class TestRetryPolicy:
    def test_defaults(self) -> None:
        """By default: 10 s base, 15 min cap, 8 attempts, a 2 min lease, with jitter."""
        policy = RetryPolicy()
        assert (policy.base, policy.cap, policy.max_attempts, policy.lease, policy.jitter) == (
            10 * SECOND,
            15 * MINUTE,
            8,
            2 * MINUTE,
            True,
        )

    def test_delays_double_up_to_the_cap(self) -> None:
        """Without jitter the n-th retry waits ``min(cap, base * 2**(n-1))``."""
        rng = random.Random(0)
        delays = [NO_JITTER.delay(n, rng).total_seconds() for n in range(0, 11)]
        assert delays == [10, 10, 20, 40, 80, 160, 320, 640, 900, 900, 900]

    @given(
        base=st.integers(0, 6 * 3600),
        spread=st.integers(1, 10_000),
        attempts=st.integers(0, 80),
        seed=st.integers(0, 2**32),
    )
    def test_jittered_delays_stay_within_base_and_cap(
        self, base: int, spread: int, attempts: int, seed: int
    ) -> None:
        """A jittered delay lies between half the capped exponential and all of it, within
        ``[base, cap]``."""
        policy = RetryPolicy(base=base * SECOND, cap=base * spread * SECOND + SECOND)
        ceiling = min(policy.cap, SECOND * min(base * 2 ** max(attempts - 1, 0), 10**12))
        delay = policy.delay(attempts, random.Random(seed))
        assert policy.base <= delay <= policy.cap
        assert max(policy.base, ceiling / 2) <= delay <= ceiling

    def test_jitter_is_deterministic_with_a_seed(self) -> None:
        """The same seed gives the same delays; another seed gives other delays."""
        policy = RetryPolicy()

        def delays(seed: int) -> list[timedelta]:
            rng = random.Random(seed)
            return [policy.delay(n, rng) for n in range(1, 9)]

        assert delays(3) == delays(3)
        assert delays(3) != delays(4)

    @pytest.mark.parametrize(
        ("config", "field"),
        [
            ({"base": -SECOND}, "base"),
            ({"base": 10}, "base"),
            ({"cap": -SECOND}, "cap"),
            ({"cap": 5 * SECOND}, "cap"),
            ({"lease": timedelta(0)}, "lease"),
            ({"lease": -SECOND}, "lease"),
            ({"max_attempts": 0}, "max_attempts"),
            ({"max_attempts": True}, "max_attempts"),
            ({"max_attempts": 2.5}, "max_attempts"),
        ],
    )
    def test_bad_configuration_names_the_field(self, config: dict[str, object], field: str) -> None:
        """A refused setting raises ``InvalidInput`` naming that setting."""
        with pytest.raises(InvalidInput) as caught:
            RetryPolicy(**config)  # type: ignore[arg-type]
        assert caught.value.field == field

    def test_horizon_of_the_defaults(self) -> None:
        """The horizon adds each capped delay and a lease per attempt: 2,230 s by default."""
        assert RetryPolicy().horizon == timedelta(seconds=1270 + 8 * 120)

    @pytest.mark.parametrize("jitter", [False, True])
    def test_horizon_bounds_the_time_to_a_dead_letter(self, jitter: bool) -> None:
        """A notification that always fails is dead-lettered within the policy's horizon."""
        clock = FakeClock(T0)
        policy = RetryPolicy(jitter=jitter, max_attempts=6)
        notifier = ScriptedNotifier(clock, lambda n, _a: DeliveryResult.retry(n.key, "busy"))
        desk = make_desk(notifier, clock, policy)
        open_incident(desk, ["T-1"])
        desk.post_update("INC-1", OWNER, "Investigating.")
        drain(desk, clock)
        assert notifier.attempts == {"INC-1/UPD-1/T-1": 6}
        assert desk.outbox_stats().dead == 1
        assert clock.now() - T0 <= policy.horizon

    def test_huge_settings_do_not_overflow(self) -> None:
        """Long bases with many attempts give the cap, not an ``OverflowError``."""
        policy = RetryPolicy(
            base=timedelta(hours=6), cap=timedelta(days=30), max_attempts=60, jitter=False
        )
        assert policy.delay(60, random.Random(0)) == timedelta(days=30)
        assert policy.horizon > timedelta(days=30 * 50)


# -- the relay, through the desk ---------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


class TestRelay:
    def test_a_public_update_reaches_each_linked_ticket_once(self, clock: FakeClock) -> None:
        """Each linked ticket gets one notification keyed by incident, update and ticket."""
        notifier = RecordingNotifier()
        desk = make_desk(notifier, clock)
        incident_id = open_incident(desk)
        update = desk.post_update(incident_id, OWNER, "We are investigating slow pages.")
        report = desk.deliver()
        assert (report.batches, report.attempted, report.delivered, report.pending) == (1, 3, 3, 0)
        assert [(n.key, n.recipient, n.recipient_kind, n.topic) for n in notifier.sent] == [
            (f"{incident_id}/{update.id}/{t}", t, RecipientKind.TICKET, Topic.STATUS_UPDATE)
            for t in ("T-1", "T-2", "T-3")
        ]
        assert desk.deliver().attempted == 0

    def test_retry_after_is_honoured(self, clock: FakeClock) -> None:
        """After a retry-after of 30 min nothing is sent again before 30 min have passed."""

        def answer(n: Notification, attempt: int) -> DeliveryResult:
            if attempt == 1:
                return DeliveryResult.retry(n.key, "rate limited", after=30 * MINUTE)
            return DeliveryResult.delivered(n.key)

        notifier = ScriptedNotifier(clock, answer)
        desk = make_desk(notifier, clock, NO_JITTER)
        open_incident(desk, ["T-1"])
        desk.post_update("INC-1", OWNER, "Investigating.")
        first = desk.deliver()
        assert (first.retried, first.next_due_at) == (1, T0 + 30 * MINUTE)
        for step in (MINUTE, 10 * MINUTE, 29 * MINUTE - SECOND):
            clock.set(T0 + step)
            assert desk.deliver().attempted == 0
        clock.set(T0 + 30 * MINUTE)
        assert desk.deliver().delivered == 1
        assert notifier.times_sent("INC-1/UPD-1/T-1") == [T0, T0 + 30 * MINUTE]

    def test_backoff_wins_over_a_shorter_retry_after(self, clock: FakeClock) -> None:
        """A retry-after shorter than the backoff does not make the relay retry sooner."""
        notifier = ScriptedNotifier(
            clock, lambda n, _a: DeliveryResult.retry(n.key, "busy", after=SECOND)
        )
        desk = make_desk(notifier, clock, NO_JITTER)
        open_incident(desk, ["T-1"])
        desk.post_update("INC-1", OWNER, "Investigating.")
        assert desk.deliver().next_due_at == T0 + 10 * SECOND

    def test_dead_letter_after_max_attempts(self, clock: FakeClock) -> None:
        """A notification that keeps failing is sent 8 times, then dead-lettered and recorded."""
        notifier = ScriptedNotifier(
            clock, lambda n, _a: DeliveryResult.retry(n.key, "helpdesk down")
        )
        desk = make_desk(notifier, clock)
        open_incident(desk, ["T-1"])
        desk.post_update("INC-1", OWNER, "Investigating.")
        drain(desk, clock)
        key = "INC-1/UPD-1/T-1"
        assert notifier.attempts == {key: 8}
        assert entry_state(desk, key) == (OutboxState.DEAD, 8)
        assert [e.key for e in desk.dead_letters()] == [key]
        stats = desk.outbox_stats()
        assert (stats.pending, stats.delivered, stats.dead) == (0, 0, 1)
        (event,) = [e for e in desk.timeline("INC-1") if isinstance(e, NotificationDeadLettered)]
        assert (event.key, event.recipient, event.error) == (key, "T-1", "helpdesk down")

    def test_max_attempts_is_configurable(self, clock: FakeClock) -> None:
        """With ``max_attempts=3`` a failing notification is tried exactly three times."""
        notifier = ScriptedNotifier(clock, lambda n, _a: DeliveryResult.retry(n.key))
        desk = make_desk(notifier, clock, RetryPolicy(max_attempts=3))
        open_incident(desk, ["T-1", "T-2"])
        desk.post_update("INC-1", OWNER, "Investigating.")
        drain(desk, clock)
        assert notifier.attempts == {"INC-1/UPD-1/T-1": 3, "INC-1/UPD-1/T-2": 3}
        assert desk.outbox_stats().dead == 2

    def test_permanent_rejection_dead_letters_at_once(self, clock: FakeClock) -> None:
        """A rejected notification is dead-lettered after its first attempt; others go on."""

        def answer(n: Notification, _attempt: int) -> DeliveryResult:
            if n.recipient == "T-2":
                return DeliveryResult.rejected(n.key, "ticket closed")
            return DeliveryResult.delivered(n.key)

        notifier = ScriptedNotifier(clock, answer)
        desk = make_desk(notifier, clock)
        open_incident(desk)
        desk.post_update("INC-1", OWNER, "Investigating.")
        report = desk.deliver()
        assert (report.delivered, report.dead_lettered, report.retried) == (2, 1, 0)
        assert entry_state(desk, "INC-1/UPD-1/T-2") == (OutboxState.DEAD, 1)
        events = [e for e in desk.timeline("INC-1") if isinstance(e, NotificationDeadLettered)]
        assert [(e.key, e.error) for e in events] == [("INC-1/UPD-1/T-2", "ticket closed")]

    def test_redrive_reuses_keys_and_delivers_once(self, clock: FakeClock) -> None:
        """Redriven dead letters keep their keys, are delivered once, and are on the timeline."""
        refusing = True

        def answer(n: Notification, _attempt: int) -> DeliveryResult:
            if refusing:
                return DeliveryResult.rejected(n.key, "maintenance")
            return DeliveryResult.delivered(n.key)

        notifier = ScriptedNotifier(clock, answer)
        desk = make_desk(notifier, clock)
        open_incident(desk)
        desk.post_update("INC-1", OWNER, "Investigating.")
        desk.deliver()
        dead = [e.key for e in desk.dead_letters()]
        assert len(dead) == 3
        refusing = False
        clock.advance(minutes=5)
        assert desk.redrive_dead_letters() == 3
        assert desk.dead_letters() == []
        assert desk.deliver().delivered == 3
        assert sorted(n.key for n in notifier.delivered) == sorted(dead)
        assert desk.deliver().attempted == 0
        assert all(entry_state(desk, key) == (OutboxState.DELIVERED, 1) for key in dead)
        (event,) = [e for e in desk.timeline("INC-1") if isinstance(e, DeadLettersRedriven)]
        assert (event.count, event.at) == (3, T0 + 5 * MINUTE)

    def test_redrive_of_chosen_keys_leaves_the_others(self, clock: FakeClock) -> None:
        """Redriving some keys puts only those back; unknown keys are ignored."""
        notifier = ScriptedNotifier(clock, lambda n, _a: DeliveryResult.rejected(n.key))
        desk = make_desk(notifier, clock)
        open_incident(desk)
        desk.post_update("INC-1", OWNER, "Investigating.")
        desk.deliver()
        assert desk.redrive_dead_letters(["INC-1/UPD-1/T-2", "INC-1/UPD-1/T-9"]) == 1
        assert [e.key for e in desk.dead_letters()] == ["INC-1/UPD-1/T-1", "INC-1/UPD-1/T-3"]
        assert entry_state(desk, "INC-1/UPD-1/T-2") == (OutboxState.PENDING, 0)

    def test_redrive_with_nothing_dead_records_nothing(self, clock: FakeClock) -> None:
        """Redriving an empty dead-letter queue returns 0 and adds no event."""
        desk = make_desk(RecordingNotifier(), clock)
        open_incident(desk)
        before = list(desk.timeline("INC-1"))
        assert desk.redrive_dead_letters() == 0
        assert list(desk.timeline("INC-1")) == before

    @pytest.mark.parametrize(
        "wrong",
        [
            pytest.param(lambda n: DeliveryResult.delivered("someone-else"), id="foreign key"),
            pytest.param(lambda n: "delivered", id="not a result"),
            pytest.param(lambda n: None, id="none"),
        ],
    )
    def test_wrong_results_lose_nothing(
        self, clock: FakeClock, wrong: Callable[[Notification], object]
    ) -> None:
        """A batch answered with nonsense stays pending, is reported, and is re-sent later."""

        def answer(n: Notification, attempt: int) -> object:
            return wrong(n) if attempt == 1 else DeliveryResult.delivered(n.key)

        notifier = ScriptedNotifier(clock, answer)
        desk = make_desk(notifier, clock)
        open_incident(desk)
        desk.post_update("INC-1", OWNER, "Investigating.")
        first = desk.deliver()
        assert (first.delivered, first.retried, first.pending) == (0, 3, 3)
        assert len(first.errors) == 1
        drain(desk, clock)
        first_keys = notifier.calls[0][1]
        assert sorted(n.key for n in notifier.delivered) == sorted(first_keys)
        assert desk.outbox_stats().delivered == 3

    def test_a_notifier_returning_nothing_loses_nothing(self, clock: FakeClock) -> None:
        """A ``send`` that returns ``None`` is reported and its batch is retried, not dropped."""

        class Forgetful:
            def __init__(self) -> None:
                self.calls = 0
                self.inner = RecordingNotifier()

            def send(self, batch: Sequence[Notification]) -> None:
                self.calls += 1
                if self.calls > 1:
                    self.inner.send(batch)

        notifier = Forgetful()
        desk = make_desk(notifier, clock, RetryPolicy(max_attempts=3))
        open_incident(desk)
        desk.post_update("INC-1", OWNER, "Investigating.")
        report = desk.deliver()
        assert (report.retried, report.pending) == (3, 3)
        assert "NoneType" in report.errors[0]
        drain(desk, clock)
        stats = desk.outbox_stats()
        assert (stats.pending, stats.delivered + stats.dead) == (0, 3)

    def test_missing_results_are_retried(self, clock: FakeClock) -> None:
        """Notifications a notifier gave no result for are re-sent; answered ones are not."""

        def answer(n: Notification, attempt: int) -> DeliveryResult:
            return DeliveryResult.delivered(n.key)

        class Partial(ScriptedNotifier):
            def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
                results = super().send(batch)
                return results[:1] if len(self.calls) == 1 else results

        notifier = Partial(clock, answer)
        desk = make_desk(notifier, clock)
        open_incident(desk)
        desk.post_update("INC-1", OWNER, "Investigating.")
        first = desk.deliver()
        assert (first.delivered, first.retried) == (1, 2)
        assert "no result for 2" in first.errors[0]
        drain(desk, clock)
        assert notifier.attempts == {
            "INC-1/UPD-1/T-1": 1,
            "INC-1/UPD-1/T-2": 2,
            "INC-1/UPD-1/T-3": 2,
        }
        assert desk.outbox_stats().delivered == 3

    def test_a_raising_notifier_gets_the_whole_batch_again(self, clock: FakeClock) -> None:
        """When ``send`` raises, every notification of the batch is re-sent with the same key."""
        sent: list[list[Notification]] = []

        class Raising:
            def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
                sent.append(list(batch))
                if len(sent) == 1:
                    raise TimeoutError("helpdesk timed out")
                return [DeliveryResult.delivered(n.key) for n in batch]

        desk = make_desk(Raising(), clock)
        open_incident(desk)
        desk.post_update("INC-1", OWNER, "Investigating.")
        first = desk.deliver()
        assert (first.delivered, first.retried) == (0, 3)
        assert first.errors == ("notifier raised TimeoutError: helpdesk timed out",)
        drain(desk, clock)
        assert len(sent) == 2
        assert sorted(sent[1], key=lambda n: n.key) == sorted(sent[0], key=lambda n: n.key)

    def test_internal_updates_never_reach_a_ticket(self, clock: FakeClock) -> None:
        """Internal updates enqueue nothing; only public updates are sent to tickets."""
        notifier = RecordingNotifier()
        desk = make_desk(notifier, clock)
        open_incident(desk)
        desk.post_update("INC-1", OWNER, "SECRET-db-password-rotated", visibility="internal")
        assert desk.outbox_stats().pending == 0
        assert desk.deliver().attempted == 0
        desk.post_update("INC-1", OWNER, "We found the cause.", status="identified")
        desk.post_update("INC-1", OWNER, "SECRET-rollback-plan", visibility="internal")
        drain(desk, clock)
        assert len(notifier.sent) == 3
        assert all(n.topic is Topic.STATUS_UPDATE for n in notifier.sent)
        assert not any("SECRET" in n.body or "SECRET" in n.subject for n in notifier.sent)

    def test_batches_respect_size_and_limit(self, clock: FakeClock) -> None:
        """``deliver`` sends at most ``batch_size`` per batch and stops after ``max_batches``."""
        notifier = RecordingNotifier()
        desk = make_desk(notifier, clock)
        open_incident(desk, [f"T-{n}" for n in range(250)])
        desk.post_update("INC-1", OWNER, "Investigating.")
        report = desk.deliver(batch_size=100, max_batches=2)
        assert (report.batches, report.attempted, report.pending) == (2, 200, 50)
        report = desk.deliver(batch_size=100)
        assert (report.batches, report.attempted, report.pending) == (1, 50, 0)
        assert len(notifier.unique_keys) == len(notifier.sent) == 250

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"batch_size": 0}, "batch_size"),
            ({"batch_size": "10"}, "batch_size"),
            ({"max_batches": 0}, "max_batches"),
        ],
    )
    def test_deliver_checks_its_arguments(
        self, clock: FakeClock, kwargs: dict[str, object], field: str
    ) -> None:
        """A bad batch size or batch limit raises ``InvalidInput`` naming it."""
        desk = make_desk(RecordingNotifier(), clock)
        with pytest.raises(InvalidInput) as caught:
            desk.deliver(**kwargs)  # type: ignore[arg-type]
        assert caught.value.field == field

    def test_per_ticket_order_is_kept_across_retries(self, clock: FakeClock) -> None:
        """A ticket's updates arrive in posting order even when the first one needs retries."""

        def answer(n: Notification, attempt: int) -> DeliveryResult:
            if n.key.endswith("UPD-1/T-1") and attempt < 3:
                return DeliveryResult.retry(n.key, "busy")
            return DeliveryResult.delivered(n.key)

        notifier = ScriptedNotifier(clock, answer)
        desk = make_desk(notifier, clock)
        open_incident(desk, ["T-1", "T-2"])
        for number in range(1, 4):
            desk.post_update("INC-1", OWNER, f"Update {number}.")
        drain(desk, clock)
        for ticket in ("T-1", "T-2"):
            keys = [n.key for n in notifier.delivered if n.recipient == ticket]
            assert keys == [f"INC-1/UPD-{n}/{ticket}" for n in range(1, 4)]

    def test_a_second_relay_does_not_take_leased_notifications(self, clock: FakeClock) -> None:
        """While one relay holds a batch under its lease, another relay finds nothing due."""
        desk = make_desk(RecordingNotifier(), clock)
        open_incident(desk)
        desk.post_update("INC-1", OWNER, "Investigating.")
        with desk.store.transaction() as tx:
            held = tx.claim_due(clock.now(), 100, clock.now() + 2 * MINUTE, "relay-crashed")
        assert len(held) == 3
        other = RecordingNotifier()
        second = Relay(desk.store, other, clock)
        assert second.deliver().attempted == 0
        clock.advance(minutes=2)
        assert second.deliver().delivered == 3
        assert sorted(other.unique_keys) == sorted(e.key for e in held)


def test_delivery_failures_are_logged_on_one_line(caplog: pytest.LogCaptureFixture) -> None:
    """A dead letter is logged as one line, even when the notifier's error spans lines."""
    import logging
    from datetime import UTC, datetime

    from incident_lifecycle import Actor, DeliveryResult, IncidentDesk, InMemoryStore, Role
    from incident_lifecycle.testing import FakeClock

    class Refusing:
        def send(self, batch):  # type: ignore[no-untyped-def]
            return [
                DeliveryResult.rejected(n.key, "no\r\nsuch\x1b[31m ticket\u2028") for n in batch
            ]

    desk = IncidentDesk(
        store=InMemoryStore(),
        notifier=Refusing(),
        ownership={"support": "support-eng"},
        clock=FakeClock(datetime(2026, 1, 1, tzinfo=UTC)),
    )
    desk.declare_incident(
        Actor(name="sam", role=Role.SUPPORT), title="Down", product="support", severity="SEV1"
    )
    with caplog.at_level(logging.WARNING, logger="incident_lifecycle.delivery"):
        desk.deliver()
    messages = [record.getMessage() for record in caplog.records]
    assert messages, "the dead letter was not logged"
    for message in messages:
        assert "dead-lettered" in message
        assert not any(c in message for c in "\r\n\x1b\u2028")
