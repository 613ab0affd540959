"""The delivery engine: throttled routes, per-recipient order in few round trips, grouped
batches, and answers read inside the relay's error handling."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_lifecycle.adapters import InMemoryStore
from incident_lifecycle.delivery import Relay, RetryPolicy, plan_batches
from incident_lifecycle.notifications import DeliveryResult, DeliveryStatus, Notification
from incident_lifecycle.ports import OutboxEntry, OutboxState
from incident_lifecycle.testing import FakeClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
TOPICS = ("ticket_linked", "status_update", "resolution")

Verdict = Callable[[Notification], DeliveryResult]


def note(
    key: str, recipient: str, topic: str = "status_update", locale: str = "en"
) -> Notification:
    return Notification(
        key=key,
        recipient=recipient,
        recipient_kind="ticket",
        topic=topic,
        incident_id="INC-1",
        subject="Update",
        body=f"Message {key}.",
        created_at=T0,
        locale=locale,
    )


class Outlet:
    """A notifier keeping the order contract: ``verdict`` answers each message; after a
    non-delivered one, that recipient's later messages in the batch are answered ``retry``
    untried. Routes are the recipient's first letter."""

    def __init__(self, verdict: Verdict | None = None, *, grouped: bool = False) -> None:
        self.verdict: Verdict = verdict or (lambda n: DeliveryResult.delivered(n.key))
        self.group_batches = grouped
        self.calls: list[list[Notification]] = []
        self.delivered: list[Notification] = []

    def route(self, notification: Notification) -> str:
        return notification.recipient[0]

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        self.calls.append(list(batch))
        stopped: set[str] = set()
        results = []
        for n in batch:
            if n.recipient in stopped:
                results.append(DeliveryResult.retry(n.key, "held"))
                continue
            result = self.verdict(n)
            if result.status is DeliveryStatus.DELIVERED:
                self.delivered.append(n)
            elif result.status is not DeliveryStatus.REJECTED:
                stopped.add(n.recipient)
            results.append(result)
        return results


def outbox(*notes: Notification) -> InMemoryStore:
    store = InMemoryStore()
    with store.transaction() as tx:
        tx.enqueue(list(notes), T0)
    return store


def entry(store: InMemoryStore, key: str) -> OutboxEntry:
    with store.transaction() as tx:
        found = tx.outbox_entry(key)
    assert found is not None
    return found


def drain(relay: Relay, clock: FakeClock, rounds: int = 500) -> None:
    for _ in range(rounds):
        report = relay.deliver()
        if report.pending == 0:
            return
        assert report.next_due_at is not None
        clock.set(max(report.next_due_at, clock.now()))
    raise AssertionError("the outbox did not drain")  # pragma: no cover


class TestThrottles:
    def test_a_throttle_pauses_its_route_not_one_entry(self) -> None:
        """After a 429 on route A, nothing more of route A is sent before its retry-after
        ends, while route B goes on; no attempt is counted for the throttled ones."""
        clock = FakeClock(T0)
        throttled = {"once": True}

        def verdict(n: Notification) -> DeliveryResult:
            if n.recipient.startswith("A") and throttled.pop("once", False):
                return DeliveryResult.throttled(n.key, 30 * SECOND, "429")
            if n.recipient.startswith("A") and clock.now() < T0 + 30 * SECOND:
                return DeliveryResult.throttled(n.key, 30 * SECOND, "429 again")
            return DeliveryResult.delivered(n.key)

        outlet = Outlet(verdict)
        store = outbox(*(note(f"k{n}", f"{'AB'[n % 2]}-{n}") for n in range(6)))
        relay = Relay(store, outlet, clock, seed=1)
        first = relay.deliver(batch_size=2)
        assert (first.delivered, first.throttled, first.retried) == (3, 3, 0)
        assert [n.key for call in outlet.calls for n in call] == ["k0", "k1", "k3", "k5"]
        assert relay.paused == {"A": T0 + 30 * SECOND}
        assert all(entry(store, f"k{n}").attempts == 0 for n in (0, 2, 4))
        assert first.next_due_at == T0 + 30 * SECOND
        clock.set(T0 + 30 * SECOND)
        second = relay.deliver()
        assert (second.delivered, second.pending) == (3, 0)

    def test_throttles_never_dead_letter(self) -> None:
        """Twenty throttles in a row with ``max_attempts=2`` end delivered, not dead."""
        clock = FakeClock(T0)
        answers = iter([DeliveryStatus.THROTTLED] * 20)

        def verdict(n: Notification) -> DeliveryResult:
            if next(answers, None) is DeliveryStatus.THROTTLED:
                return DeliveryResult.throttled(n.key, MINUTE)
            return DeliveryResult.delivered(n.key)

        outlet = Outlet(verdict)
        store = outbox(note("k1", "A-1"))
        drain(Relay(store, outlet, clock, RetryPolicy(max_attempts=2), seed=1), clock)
        assert entry(store, "k1").state is OutboxState.DELIVERED
        assert len(outlet.calls) == 21

    def test_a_retry_after_is_capped(self) -> None:
        """A throttle asking for ``timedelta.max`` pauses its route ``max_retry_after``."""
        clock = FakeClock(T0)
        outlet = Outlet(lambda n: DeliveryResult.throttled(n.key, timedelta.max))
        store = outbox(note("k1", "A-1"))
        relay = Relay(store, outlet, clock, RetryPolicy(max_retry_after=5 * MINUTE))
        report = relay.deliver()
        assert report.next_due_at == T0 + 5 * MINUTE
        assert entry(store, "k1").next_attempt_at == T0 + 5 * MINUTE

    def test_without_routes_a_throttle_pauses_the_whole_notifier(self) -> None:
        """A notifier without ``route()`` is one channel: its throttle pauses everything."""
        clock = FakeClock(T0)
        calls: list[int] = []

        class Plain:
            def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
                calls.append(len(batch))
                return [DeliveryResult.throttled(n.key, MINUTE) for n in batch]

        store = outbox(*(note(f"k{n}", f"T-{n}") for n in range(5)))
        report = Relay(store, Plain(), clock).deliver(batch_size=2)
        assert (calls, report.throttled, report.batches) == ([2], 5, 1)


class TestOrder:
    def test_a_recipients_queue_goes_in_one_round_trip(self) -> None:
        """Eighteen tickets with three queued messages each: 54 notifications, one ``send``."""
        notes = [note(f"INC-1/UPD-{u}/T-{t}", f"T-{t}") for u in range(3) for t in range(18)]
        outlet = Outlet()
        report = Relay(outbox(*notes), outlet, FakeClock(T0)).deliver()
        assert (report.batches, report.delivered) == (1, 54)
        for t in range(18):
            assert [n.key for n in outlet.delivered if n.recipient == f"T-{t}"] == [
                f"INC-1/UPD-{u}/T-{t}" for u in range(3)
            ]

    def test_a_failure_holds_the_recipients_later_messages(self) -> None:
        """When a ticket's first message fails, its later ones are held (no attempt counted)
        and arrive after it, in order."""
        clock = FakeClock(T0)
        failures = {"k0": 2}

        def verdict(n: Notification) -> DeliveryResult:
            if failures.get(n.key, 0):
                failures[n.key] -= 1
                return DeliveryResult.retry(n.key, "busy")
            return DeliveryResult.delivered(n.key)

        outlet = Outlet(verdict)
        store = outbox(*(note(f"k{n}", "T-1") for n in range(3)), note("x", "T-2"))
        relay = Relay(store, outlet, clock, seed=3)
        first = relay.deliver()
        assert (first.retried, first.held, first.delivered) == (1, 2, 1)
        assert (entry(store, "k1").attempts, entry(store, "k2").attempts) == (0, 0)
        drain(relay, clock)
        assert [n.key for n in outlet.delivered if n.recipient == "T-1"] == ["k0", "k1", "k2"]

    def test_a_notifier_breaking_the_order_is_reported_and_sent_one_at_a_time(self) -> None:
        """A notifier delivering a later message after an earlier one failed is reported, and
        the relay then sends it one message per recipient per round."""
        clock = FakeClock(T0)
        seen: list[list[str]] = []

        class Careless:
            def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
                seen.append([n.key for n in batch])
                first = len(seen) == 1
                return [
                    DeliveryResult.retry(n.key)
                    if first and n.key == "k0"
                    else DeliveryResult.delivered(n.key)
                    for n in batch
                ]

        store = outbox(*(note(f"k{n}", "T-1") for n in range(3)), note("k3", "T-1"))
        relay = Relay(store, Careless(), clock, RetryPolicy(jitter=False))
        report = relay.deliver()
        assert any("order contract" in error for error in report.errors)
        assert relay.order_broken
        clock.set(T0 + MINUTE)
        relay.deliver()
        assert seen[1:] == [["k0"]]

    def test_a_rejected_message_does_not_hold_the_next(self) -> None:
        """A rejection dead-letters that message only: the recipient's next one goes on."""
        outlet = Outlet(
            lambda n: (
                DeliveryResult.rejected(n.key, "gone")
                if n.key == "k0"
                else DeliveryResult.delivered(n.key)
            )
        )
        store = outbox(note("k0", "T-1"), note("k1", "T-1"))
        report = Relay(store, outlet, FakeClock(T0)).deliver()
        assert (report.dead_lettered, report.delivered, report.batches) == (1, 1, 1)


class TestGrouping:
    def test_grouped_batches_are_homogeneous_and_keep_order(self) -> None:
        """With grouping, each ``send`` holds one (kind, topic, locale), and a recipient's
        messages still arrive in enqueue order."""
        notes = [
            note("a1", "T-1", "ticket_linked"),
            note("b1", "T-2", "status_update", "fr"),
            note("a2", "T-1", "status_update"),
            note("c1", "T-3", "status_update"),
            note("a3", "T-1", "resolution"),
            note("b2", "T-2", "status_update", "fr"),
        ]
        outlet = Outlet(grouped=True)
        relay = Relay(outbox(*notes), outlet, FakeClock(T0))
        assert relay.group_batches
        report = relay.deliver()
        assert [[n.key for n in call] for call in outlet.calls] == [
            ["a1"],
            ["b1", "b2"],
            ["a2", "c1"],
            ["a3"],
        ]
        assert report.batches == 4

    @given(
        st.lists(
            st.tuples(st.integers(0, 3), st.sampled_from(TOPICS), st.sampled_from(["en", "fr"])),
            min_size=1,
            max_size=30,
        )
    )
    def test_plans_keep_each_recipients_order(self, drawn: list[tuple[int, str, str]]) -> None:
        """Whatever the mix, a plan's batches are homogeneous, hold every entry once, and
        give each recipient's entries in enqueue order."""
        store = outbox(*(note(f"k{n}", f"T-{r}", t, loc) for n, (r, t, loc) in enumerate(drawn)))
        with store.transaction() as tx:
            claimed = tx.claim_due(T0, 100, T0 + MINUTE, "r", per_recipient=100)
        plan = plan_batches(claimed, grouped=True)
        flat = [e for batch in plan for e in batch]
        assert sorted(e.seq for e in flat) == sorted(e.seq for e in claimed)
        for batch in plan:
            kinds = {(e.notification.topic, e.notification.locale) for e in batch}
            assert len(kinds) == 1
        for r in range(4):
            seqs = [e.seq for e in flat if e.notification.recipient == f"T-{r}"]
            assert seqs == sorted(seqs)


class TestAnswers:
    def test_a_raising_iterator_keeps_what_it_answered(self) -> None:
        """Answers yielded before an iterator raises are kept; the rest are "outcome unknown"
        and the dead letter keeps the error's text."""

        class Half:
            def send(self, batch: Sequence[Notification]) -> Iterator[DeliveryResult]:
                yield DeliveryResult.delivered(batch[0].key)
                raise ConnectionResetError("peer reset")

        store = outbox(note("k0", "T-0"), note("k1", "T-1"))
        report = Relay(store, Half(), FakeClock(T0), RetryPolicy(max_attempts=1)).deliver()  # type: ignore[arg-type]
        assert (report.delivered, report.dead_lettered) == (1, 1)
        assert report.errors == ("notifier raised ConnectionResetError: peer reset",)
        dead = entry(store, "k1")
        assert (
            dead.last_error == "outcome unknown: notifier raised ConnectionResetError: peer reset"
        )

    def test_valid_answers_survive_a_bad_one(self) -> None:
        """A foreign key in an answer is reported; the valid answers beside it are kept."""

        class Odd:
            def send(self, batch: Sequence[Notification]) -> list[object]:
                return [DeliveryResult.delivered(batch[0].key), "junk"]

        store = outbox(note("k0", "T-0"), note("k1", "T-1"))
        report = Relay(store, Odd(), FakeClock(T0)).deliver()  # type: ignore[arg-type]
        assert (report.delivered, report.retried) == (1, 1)
        assert "unknown result 'junk'" in report.errors[0]
        assert "no result for 1" in report.errors[0]
        assert len(report.errors) == 1

    def test_contradictory_duplicates_are_reported_and_unknown(self) -> None:
        """A key answered delivered and rejected is reported; its outcome is unknown (it is
        retried, never dead-lettered on a guess); an identical duplicate is harmless."""

        class Twice:
            def send(self, batch: Sequence[Notification]) -> list[DeliveryResult]:
                a, b = batch
                return [
                    DeliveryResult.delivered(a.key),
                    DeliveryResult.rejected(a.key, "no"),
                    DeliveryResult.delivered(b.key),
                    DeliveryResult.delivered(b.key),
                ]

        store = outbox(note("k0", "T-0"), note("k1", "T-1"))
        report = Relay(store, Twice(), FakeClock(T0), RetryPolicy(max_attempts=1)).deliver()
        assert (report.delivered, report.dead_lettered) == (1, 1)
        assert "twice" in report.errors[0]
        assert entry(store, "k0").last_error == "outcome unknown: contradictory answers"

    def test_dead_letters_keep_the_last_error(self) -> None:
        """A notification dead-lettered for a raising notifier carries the raise's text."""
        clock = FakeClock(T0)

        class Down:
            def send(self, batch: Sequence[Notification]) -> list[DeliveryResult]:
                raise TimeoutError(f"read timed out at {clock.now():%H:%M:%S}")

        store = outbox(note("k0", "T-0"))
        drain(Relay(store, Down(), clock, RetryPolicy(max_attempts=2, jitter=False)), clock)
        with store.transaction() as tx:
            (dead,) = tx.dead_letters()
        assert (
            dead.last_error
            == "outcome unknown: notifier raised TimeoutError: read timed out at 09:00:10"
        )


@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=25),
    st.lists(st.sampled_from(list(DeliveryStatus)), min_size=1, max_size=60),
    st.integers(1, 4),
    st.booleans(),
)
def test_the_engine_keeps_order_and_loses_nothing(
    recipients: list[int], verdicts: list[DeliveryStatus], depth: int, grouped: bool
) -> None:
    """Whatever a contract-keeping notifier answers: per recipient, messages are delivered in
    enqueue order; every one ends delivered or dead; only failures count as attempts."""
    clock = FakeClock(T0)
    script = iter(verdicts)

    def verdict(n: Notification) -> DeliveryResult:
        status = next(script, DeliveryStatus.DELIVERED)
        if status is DeliveryStatus.THROTTLED:
            return DeliveryResult.throttled(n.key, 5 * SECOND)
        return DeliveryResult(key=n.key, status=status, error=status.value)

    notes = [note(f"k{n}", f"{'AB'[r % 2]}-{r}", TOPICS[n % 3]) for n, r in enumerate(recipients)]
    outlet = Outlet(verdict, grouped=grouped)
    store = outbox(*notes)
    policy = RetryPolicy(max_attempts=3, jitter=False, base=SECOND, cap=4 * SECOND)
    drain(Relay(store, outlet, clock, policy, per_recipient=depth), clock)
    order = {n.key: i for i, n in enumerate(notes)}
    for r in set(recipients):
        got = [order[n.key] for n in outlet.delivered if n.recipient.endswith(f"-{r}")]
        assert got == sorted(got)
    for n in notes:
        found = entry(store, n.key)
        assert found.state in (OutboxState.DELIVERED, OutboxState.DEAD)
        assert found.attempts <= 3
    assert len({n.key for n in outlet.delivered}) == len(outlet.delivered)
    if grouped:
        for call in outlet.calls:
            assert len({(n.topic, n.locale) for n in call}) == 1


def test_per_recipient_is_checked() -> None:
    """A relay refuses a ``per_recipient`` below one, naming it."""
    with pytest.raises(ValueError, match="per_recipient"):
        Relay(InMemoryStore(), Outlet(), FakeClock(T0), per_recipient=0)


class Remembering(Outlet):
    """An outlet that can tell what it already shows (as a marker on a ticket would)."""

    def __init__(self, shown: set[str], broken: bool = False) -> None:
        super().__init__()
        self.shown = shown
        self.broken = broken
        self.asked: list[list[str]] = []

    def already_delivered(self, batch: Sequence[Notification]) -> list[str]:
        self.asked.append([n.key for n in batch])
        if self.broken:
            raise TimeoutError("lookup timed out")
        return [n.key for n in batch if n.key in self.shown]


def test_a_retried_notification_the_outlet_shows_is_not_sent_again() -> None:
    """Only notifications tried before are looked up; one the outlet shows is recorded
    delivered without a send; a lookup that fails sends nothing and retries later."""
    clock = FakeClock(T0)
    store = outbox(note("k0", "T-0"), note("k1", "T-1"), note("k2", "T-2"))
    with store.transaction() as tx:
        tx.claim_due(T0, 2, T0, "crashed-relay")  # k0 and k1 were tried, outcome unknown
    outlet = Remembering({"k0"})
    report = Relay(store, outlet, clock).deliver()
    assert outlet.asked == [["k0", "k1"]]
    assert [n.key for call in outlet.calls for n in call] == ["k1", "k2"]
    assert (report.delivered, report.batches) == (3, 1)
    broken = Remembering(set(), broken=True)
    store = outbox(note("k0", "T-0"), note("k1", "T-1"))
    with store.transaction() as tx:
        tx.claim_due(T0, 1, T0, "crashed-relay")
    report = Relay(store, broken, clock).deliver()
    assert [n.key for call in broken.calls for n in call] == ["k1"]
    assert (report.delivered, report.retried) == (1, 1)
    assert entry(store, "k0").last_error.startswith("outcome unknown: could not check")
