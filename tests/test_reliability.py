"""Reliability scenarios 1-4 and 7-10 of ``reliability-anchors.md`` section 6, on the desk.

Each test is named after its scenario and asserts the scenario's pass criterion.
Randomness is seeded; time is a ``FakeClock``; the store is ``InMemoryStore``.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import attrs
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from incident_lifecycle import (
    Actor,
    AlertSignal,
    CustomerReport,
    IncidentStatus,
    InvalidInput,
    ReportStatus,
    StoreError,
)
from incident_lifecycle.adapters import InMemoryStore, RecordingNotifier
from incident_lifecycle.commands import ClearOutcome
from incident_lifecycle.commands.intake import AlertOutcome
from incident_lifecycle.delivery import RetryPolicy
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.domain.events import DeadLettersRedriven, NotificationDeadLettered
from incident_lifecycle.notifications import DeliveryResult, DeliveryStatus, Notification
from incident_lifecycle.ports import OutboxState, StoreTransaction
from incident_lifecycle.testing import FakeClock, FlakyNotifier

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
OWNERSHIP = {"support": "support-eng", "chat": "chat-eng"}
OWNER = Actor(name="ana", role="engineering", team="support-eng")
MONITOR = Actor(name="noc", role="monitoring")


# -- helpers -------------------------------------------------------------------


def make_desk(
    notifier: object,
    clock: FakeClock,
    retry: RetryPolicy | None = None,
    store: object | None = None,
) -> IncidentDesk:
    return IncidentDesk(
        store=store if store is not None else InMemoryStore(),  # type: ignore[arg-type]
        notifier=notifier,  # type: ignore[arg-type]
        ownership=OWNERSHIP,
        clock=clock,
        retry=retry,
        seed=5,
    )


def signal(fingerprint: str, clock: FakeClock, region: str = "pod1") -> AlertSignal:
    return AlertSignal(
        fingerprint=fingerprint,
        product="support",
        kind="latency",
        summary="p99 latency above 2 s",
        observed_at=clock.now(),
        region=region,
    )


def link_tickets(desk: IncidentDesk, incident_id: str, tickets: Sequence[str]) -> None:
    """Link customer reports to an incident directly through the store."""
    with desk.store.transaction() as tx:
        for ticket in tickets:
            tx.add_report(
                CustomerReport(
                    ticket_id=ticket,
                    account_id=f"acct-{ticket}",
                    product="support",
                    symptom="slow",
                    summary="Everything is slow.",
                    reported_at=desk.clock.now(),
                    status=ReportStatus.LINKED,
                    incident_id=incident_id,
                )
            )
            tx.link(ticket, incident_id)


def declare(desk: IncidentDesk, tickets: Sequence[str]) -> str:
    incident = desk.declare_incident(OWNER, title="Slow pages", product="support", severity="SEV2")
    link_tickets(desk, incident.id, tickets)
    return incident.id


def drain(desk: IncidentDesk, clock: FakeClock, rounds: int = 10_000) -> int:
    """Deliver, jumping the clock to each next due time, until nothing is pending."""
    for done in range(rounds):
        report = desk.deliver()
        if report.pending == 0:
            return done + 1
        assert report.next_due_at is not None
        clock.set(max(report.next_due_at, clock.now()))
    raise AssertionError("the outbox did not drain")  # pragma: no cover


def outbox_states(desk: IncidentDesk, keys: Sequence[str]) -> dict[str, OutboxState | None]:
    with desk.store.transaction() as tx:
        entries = {key: tx.outbox_entry(key) for key in keys}
    return {key: None if e is None else e.state for key, e in entries.items()}


class RaisingNotifier:
    """Raises before sending on a seeded fraction of calls; otherwise passes to ``inner``."""

    def __init__(self, inner: FlakyNotifier, rate: float, seed: int) -> None:
        self.inner = inner
        self.rate = rate
        self.random = random.Random(seed)
        self.raised = 0
        self.attempts: Counter[str] = Counter()

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        self.attempts.update(n.key for n in batch)
        if self.random.random() < self.rate:
            self.raised += 1
            raise ConnectionError("503 from the helpdesk")
        return self.inner.send(batch)


class TimedPort:
    """Answers per recipient from a script and records when each key was sent."""

    def __init__(self, clock: FakeClock, answers: dict[str, DeliveryResult | None]) -> None:
        self.clock = clock
        self.answers = answers
        self.sent: dict[str, list[datetime]] = defaultdict(list)
        self.calls: list[datetime] = []

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        self.calls.append(self.clock.now())
        out = []
        failed: set[str] = set()  # the order contract: nothing after a recipient's failure
        for n in batch:
            if n.recipient in failed:
                out.append(DeliveryResult.retry(n.key, "held"))
                continue
            self.sent[n.key].append(self.clock.now())
            template = self.answers.get(n.recipient)
            out.append(
                DeliveryResult.delivered(n.key)
                if template is None
                else attrs.evolve(template, key=n.key)
            )
            if template is not None and template.status is not DeliveryStatus.REJECTED:
                failed.add(n.recipient)
        return out


# -- scenario 1 ----------------------------------------------------------------------


@pytest.mark.parametrize("groups", [50, 10])
def test_scenario_1_alert_dedup_under_concurrency(groups: int) -> None:
    """20,000 shuffled signals of 50 fingerprints from 8 threads: one alert per fingerprint,
    one potential incident per group key, counts summing to 20,000, no error."""
    clock = FakeClock(T0)
    desk = make_desk(RecordingNotifier(), clock)
    signals = [signal(f"fp-{n % 50}", clock, region=f"pod{n % 50 % groups}") for n in range(20_000)]
    random.Random(1).shuffle(signals)
    errors: list[BaseException] = []
    outcomes: Counter[AlertOutcome] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def work(chunk: Sequence[AlertSignal]) -> None:
        seen: Counter[AlertOutcome] = Counter()
        try:
            barrier.wait()
            for item in chunk:
                seen[desk.receive_alert(item).outcome] += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        with lock:
            outcomes.update(seen)

    threads = [threading.Thread(target=work, args=(signals[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    incidents = desk.potential_incidents()
    assert len(incidents) == groups
    assert len({i.group_key for i in incidents}) == groups  # 0 duplicate incidents
    assert desk.open_incidents() == []
    alerts = [a for i in incidents for a in desk.alerts_of(i.id)]
    assert len(alerts) == len({a.fingerprint for a in alerts}) == 50
    assert all(a.active for a in alerts)
    assert sum(a.count for a in alerts) == 20_000
    assert outcomes[AlertOutcome.STARTED_INCIDENT] == groups
    assert outcomes[AlertOutcome.JOINED_POTENTIAL] == 50 - groups
    assert outcomes[AlertOutcome.DEDUPLICATED] == 20_000 - 50
    assert desk.outbox_stats().pending == groups  # each owner team asked once per incident


# -- scenario 2 ----------------------------------------------------------------------


def test_scenario_2_a_trigger_after_resolve_opens_a_new_incident() -> None:
    """trigger -> resolve -> trigger of one key opens a new alert and incident; the old stays
    resolved."""
    clock = FakeClock(T0)
    desk = make_desk(RecordingNotifier(), clock)
    first = desk.receive_alert(signal("fp-db", clock))
    desk.validate_incident(first.incident_id, OWNER, "SEV2")
    desk.receive_alert(signal("fp-db", clock))
    resolved = desk.resolve_incident(first.incident_id, OWNER, "Fixed the index.")
    clock.advance(minutes=10)
    second = desk.receive_alert(signal("fp-db", clock))
    assert second.outcome is AlertOutcome.STARTED_INCIDENT
    assert (second.incident_id, second.alert_id) != (first.incident_id, first.alert_id)
    old = desk.incident(first.incident_id)
    assert (old.status, old.version) == (IncidentStatus.RESOLVED, resolved.version)
    old_alert = desk.alert(first.alert_id)
    assert (old_alert.count, old_alert.active) == (2, False)
    new_alert = desk.alert(second.alert_id)
    assert (new_alert.count, new_alert.active, new_alert.incident_id) == (
        1,
        True,
        second.incident_id,
    )


def _state(desk: IncidentDesk, incident_ids: Sequence[str]) -> object:
    return (
        desk.outbox_stats(),
        [attrs.asdict(i) for i in desk.potential_incidents()],
        [attrs.asdict(i) for i in desk.open_incidents()],
        [attrs.asdict(desk.incident(i)) for i in incident_ids],
        [list(desk.timeline(i)) for i in incident_ids],
        [[attrs.asdict(a) for a in desk.alerts_of(i)] for i in incident_ids],
    )


def test_scenario_2_clearing_unknown_or_resolved_keys_is_a_recorded_no_op() -> None:
    """Clearing a key never seen, or one whose incident is resolved, reports why and changes
    nothing."""
    clock = FakeClock(T0)
    desk = make_desk(RecordingNotifier(), clock)
    receipt = desk.receive_alert(signal("fp-db", clock))
    desk.validate_incident(receipt.incident_id, OWNER, "SEV3")
    desk.resolve_incident(receipt.incident_id, OWNER, "Fixed.")
    before = _state(desk, [receipt.incident_id])
    for key in ("fp-never-seen", "fp-db", "fp-db"):
        cleared = desk.clear_alert(key)
        assert (cleared.outcome, cleared.alert_id, cleared.incident_id) == (
            ClearOutcome.NO_ACTIVE_ALERT,
            None,
            None,
        )
    assert _state(desk, [receipt.incident_id]) == before


@pytest.mark.parametrize("fingerprint", ["", "   ", None])
def test_scenario_2_a_trigger_without_a_key_is_refused(fingerprint: object) -> None:
    """A signal without a dedup key is refused naming ``fingerprint``: it can never merge."""
    clock = FakeClock(T0)
    desk = make_desk(RecordingNotifier(), clock)
    with pytest.raises(InvalidInput) as caught:
        AlertSignal(
            fingerprint=fingerprint,  # type: ignore[arg-type]
            product="support",
            kind="latency",
            summary="slow",
            observed_at=T0,
        )
    assert caught.value.field == "fingerprint"
    assert desk.potential_incidents() == []
    assert desk.outbox_stats().pending == 0


# -- scenarios 3 and 4 ---------------------------------------------------------------


def _fan_out_load(desk: IncidentDesk, incidents: int = 200) -> list[str]:
    """``incidents`` incidents x 3 tickets x 5 public updates; return the expected keys."""
    expected = []
    for number in range(incidents):
        tickets = [f"T-{number}-{t}" for t in range(3)]
        incident_id = declare(desk, tickets)
        for u in range(5):
            update = desk.post_update(incident_id, OWNER, f"Update {u} on {incident_id}.")
            expected += [f"{incident_id}/{update.id}/{ticket}" for ticket in tickets]
    return expected


@pytest.mark.parametrize("fault", ["answers retry", "raises"])
def test_scenario_3_flaky_notifier_with_retries(fault: str) -> None:
    """3,000 (ticket, update) keys through a port failing 30% of the time: all delivered once,
    none lost, at most 8 attempts each."""
    clock = FakeClock(T0)
    flaky = FlakyNotifier(failure_rate=0.3 if fault == "answers retry" else 0.0, seed=3)
    port = flaky if fault == "answers retry" else RaisingNotifier(flaky, rate=0.3, seed=3)
    desk = make_desk(port, clock)
    expected = _fan_out_load(desk)
    assert len(set(expected)) == 3_000
    drain(desk, clock)
    recorder = flaky.inner
    assert isinstance(recorder, RecordingNotifier)
    assert recorder.unique_keys == set(expected)  # every key delivered, 0 lost
    assert len(recorder.sent) == 3_000  # and each exactly once at the port
    stats = desk.outbox_stats()
    assert (stats.pending, stats.delivered, stats.dead) == (0, 3_000, 0)
    attempts = port.attempts if isinstance(port, RaisingNotifier) else flaky.attempts
    assert max(attempts.values()) <= 8
    assert sum(attempts.values()) > 3_000  # there were failures to retry


def test_scenario_4_ambiguous_failures_only_duplicate_keys() -> None:
    """With 5% "sent then raised" failures, re-sends carry the same key: 0 duplicates after
    key dedup, 0 lost."""
    clock = FakeClock(T0)
    flaky = FlakyNotifier(failure_rate=0.3, ambiguous_rate=0.05, seed=4)
    # 12 attempts: a 35% failure chance per attempt leaves ~0.01 of 3,000 dead (8: ~0.7).
    desk = make_desk(flaky, clock, RetryPolicy(max_attempts=12))
    expected = _fan_out_load(desk)
    drain(desk, clock)
    recorder = flaky.inner
    assert isinstance(recorder, RecordingNotifier)
    assert len(recorder.sent) > 3_000  # the ambiguous failures did re-send something
    by_key: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for n in recorder.sent:
        by_key[n.key].add((n.recipient, n.subject, n.body))
    assert set(by_key) == set(expected)  # 0 lost
    assert all(len(versions) == 1 for versions in by_key.values())  # a re-send is identical
    messages = {(n.recipient, n.body) for n in recorder.sent}
    assert len(messages) == len(by_key) == 3_000  # one key per (ticket, update)
    assert desk.outbox_stats().delivered == 3_000


# -- scenario 7 ----------------------------------------------------------------------


class FailingCommitStore:
    """An ``InMemoryStore`` whose next commit fails after the work ran (then rolls back)."""

    def __init__(self) -> None:
        self.inner = InMemoryStore()
        self.fail_next_commit = False
        self.refused = 0

    @contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        with self.inner.transaction() as tx:
            yield tx
            if self.fail_next_commit:
                self.fail_next_commit = False
                self.refused += 1
                raise StoreError("disk full at commit")


def _everything_about(desk: IncidentDesk, incident_id: str, tickets: Sequence[str]) -> object:
    with desk.store.transaction() as tx:
        reports = [tx.report(t) for t in tickets]
        updates = list(tx.updates(incident_id))
        entries = [tx.outbox_entry(f"{incident_id}/resolution/{t}") for t in tickets]
        entries += [tx.outbox_entry(f"{incident_id}/UPD-1/{t}") for t in tickets]
    return (
        attrs.asdict(desk.incident(incident_id)),
        list(desk.timeline(incident_id)),
        updates,
        [attrs.asdict(r) for r in reports if r is not None],
        entries,
        desk.outbox_stats(),
    )


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(
            lambda desk, i: desk.post_update(i, OWNER, "Found it.", status="identified"),
            id="public update moving to identified",
        ),
        pytest.param(lambda desk, i: desk.resolve_incident(i, OWNER, "Fixed."), id="resolve"),
    ],
)
def test_scenario_7_atomic_save(command: Callable[[IncidentDesk, str], object]) -> None:
    """A commit failing after a transition with 3 linked tickets leaves version, status,
    timeline and outbox unchanged, and the port gets 0 calls."""
    clock = FakeClock(T0)
    store = FailingCommitStore()
    notifier = RecordingNotifier()
    desk = make_desk(notifier, clock, store=store)
    tickets = ["T-a", "T-b", "T-c"]
    incident_id = declare(desk, tickets)
    before = _everything_about(desk, incident_id, tickets)
    clock.advance(minutes=1)
    store.fail_next_commit = True
    with pytest.raises(StoreError, match="disk full"):
        command(desk, incident_id)
    assert store.refused == 1
    assert _everything_about(desk, incident_id, tickets) == before
    assert desk.deliver().attempted == 0
    assert (notifier.batches, notifier.sent) == (0, [])
    command(desk, incident_id)  # the same command, committed
    assert desk.deliver().delivered == 3


# -- scenario 8 ----------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["rejects", "keeps failing"])
def test_scenario_8_partial_fan_out_isolation(failure: str) -> None:
    """Ticket B's port fails for good while A and C work: A and C get each update exactly once,
    only B is retried, and B ends dead-lettered within 8 attempts."""
    clock = FakeClock(T0)
    answers: dict[str, DeliveryResult | None] = {
        "T-B": DeliveryResult.rejected("x", "ticket deleted")
        if failure == "rejects"
        else DeliveryResult.retry("x", "502 bad gateway")
    }
    port = TimedPort(clock, answers)
    desk = make_desk(port, clock)
    incident_id = declare(desk, ["T-A", "T-B", "T-C"])
    updates = [desk.post_update(incident_id, OWNER, f"Update {u}.").id for u in range(3)]
    drain(desk, clock)
    for ticket in ("T-A", "T-C"):
        for update in updates:
            assert len(port.sent[f"{incident_id}/{update}/{ticket}"]) == 1
    expected_attempts = 1 if failure == "rejects" else 8
    b_keys = [f"{incident_id}/{update}/T-B" for update in updates]
    assert [len(port.sent[key]) for key in b_keys] == [expected_attempts] * 3
    assert set(outbox_states(desk, b_keys).values()) == {OutboxState.DEAD}
    dead_events = [e for e in desk.timeline(incident_id) if isinstance(e, NotificationDeadLettered)]
    assert sorted(e.key for e in dead_events) == sorted(b_keys)
    stats = desk.outbox_stats()
    assert (stats.pending, stats.delivered, stats.dead) == (0, 6, 3)


# -- scenario 9 ----------------------------------------------------------------------


def test_scenario_9_backoff_and_rate_limits() -> None:
    """With retry-after 30 s and 5xx answers, nothing is re-sent early, delays are capped
    exponential within [base, cap], and frequent relay runs cause no busy loop."""
    clock = FakeClock(T0)
    policy = RetryPolicy(base=5 * SECOND, cap=2 * MINUTE, max_attempts=8)
    answers: dict[str, DeliveryResult | None] = {
        "T-limited": DeliveryResult.retry("x", "429 too many requests", after=30 * SECOND),
        "T-5xx": DeliveryResult.retry("x", "503 unavailable"),
    }
    port = TimedPort(clock, answers)
    desk = make_desk(port, clock, policy)
    incident_id = declare(desk, ["T-limited", "T-5xx"])
    desk.post_update(incident_id, OWNER, "Investigating.")
    tick = SECOND
    while desk.outbox_stats().pending:  # a relay running every second
        desk.deliver()
        clock.advance(tick)
        assert clock.now() - T0 < policy.horizon + 30 * SECOND * policy.max_attempts
    limited = port.sent[f"{incident_id}/UPD-1/T-limited"]
    failing = port.sent[f"{incident_id}/UPD-1/T-5xx"]
    assert len(limited) == len(failing) == policy.max_attempts
    for n, (sent, again) in enumerate(pairwise(failing), start=1):
        ceiling = min(policy.cap, policy.base * 2 ** (n - 1))
        assert max(policy.base, ceiling / 2) <= again - sent < ceiling + tick
        assert policy.base <= again - sent < policy.cap + tick
    for n, (sent, again) in enumerate(pairwise(limited), start=1):
        ceiling = min(policy.cap, policy.base * 2 ** (n - 1))
        assert again - sent >= 30 * SECOND  # never before the retry-after
        assert again - sent < max(ceiling, 30 * SECOND) + tick
    for times in (limited, failing):
        per_minute = max(sum(1 for t in times if start <= t < start + MINUTE) for start in times)
        assert per_minute <= 120  # the budget
        assert per_minute <= MINUTE // policy.base + 1  # what the backoff allows
    assert len(port.calls) <= 2 * policy.max_attempts  # each call carried a due notification


# -- scenario 10 ---------------------------------------------------------------------


def test_scenario_10_dead_letter_redrive() -> None:
    """10 deliveries that exhausted their retries are redriven with their original keys, each
    delivered once, leaving the DLQ empty and both steps on the timeline."""
    clock = FakeClock(T0)
    down = True

    class Helpdesk:
        def __init__(self) -> None:
            self.delivered: list[Notification] = []
            self.attempts: Counter[str] = Counter()

        def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
            self.attempts.update(n.key for n in batch)
            if down:
                return [DeliveryResult.retry(n.key, "maintenance") for n in batch]
            self.delivered.extend(batch)
            return [DeliveryResult.delivered(n.key) for n in batch]

    port = Helpdesk()
    desk = make_desk(port, clock)
    tickets = [f"T-{n}" for n in range(10)]
    incident_id = declare(desk, tickets)
    desk.post_update(incident_id, OWNER, "Investigating.")
    drain(desk, clock)
    dead = [e.key for e in desk.dead_letters()]
    assert sorted(dead) == sorted(f"{incident_id}/UPD-1/{t}" for t in tickets)
    assert set(port.attempts.values()) == {8}
    down = False
    assert desk.redrive_dead_letters() == 10
    assert desk.dead_letters() == []
    drain(desk, clock)
    assert sorted(n.key for n in port.delivered) == sorted(dead)  # original keys, once each
    assert desk.dead_letters() == []
    stats = desk.outbox_stats()
    assert (stats.pending, stats.delivered, stats.dead) == (0, 10, 0)
    timeline = desk.timeline(incident_id)
    dead_lettered = [e.key for e in timeline if isinstance(e, NotificationDeadLettered)]
    assert sorted(dead_lettered) == sorted(dead)
    assert [e.count for e in timeline if isinstance(e, DeadLettersRedriven)] == [10]


# -- property: nothing is ever lost ----------------------------------------------------


COMMANDS = st.lists(
    st.tuples(
        st.sampled_from(["validate", "public", "phase", "internal", "resolve", "deliver"]),
        st.integers(0, 2),
        st.integers(0, 600),
    ),
    max_size=14,
)


@given(
    commands=COMMANDS,
    tickets_per_incident=st.lists(st.integers(0, 3), min_size=3, max_size=3),
    failure_rate=st.floats(0, 0.6),
    permanent_rate=st.floats(0, 0.3),
    ambiguous_rate=st.sampled_from([0.0, 0.0, 0.1, 0.3]),
    seed=st.integers(0, 2**16),
)
def test_no_notification_is_ever_lost(
    commands: list[tuple[str, int, int]],
    tickets_per_incident: list[int],
    failure_rate: float,
    permanent_rate: float,
    ambiguous_rate: float,
    seed: int,
) -> None:
    """Whatever the commands and failure pattern, after draining every enqueued notification
    is delivered or dead-lettered, and the delivered keys are the enqueued minus the dead."""
    clock = FakeClock(T0)
    flaky = FlakyNotifier(
        failure_rate=failure_rate,
        permanent_rate=permanent_rate,
        ambiguous_rate=ambiguous_rate,
        seed=seed,
    )
    desk = make_desk(flaky, clock)
    intake = desk.receive_alerts([signal(f"fp-{n}", clock, region=f"pod{n}") for n in range(3)])
    incident_ids = [intake.receipts[f"fp-{n}"].incident_id for n in range(3)]
    expected = {f"{i}/validation-request" for i in incident_ids}
    tickets: dict[str, list[str]] = {}
    for number, (incident_id, count) in enumerate(
        zip(incident_ids, tickets_per_incident, strict=True)
    ):
        tickets[incident_id] = [f"T-{number}-{t}" for t in range(count)]
        link_tickets(desk, incident_id, tickets[incident_id])
    status = dict.fromkeys(incident_ids, "detected")
    phases = ["identified", "monitoring", "investigating"]

    for kind, which, seconds in commands:
        incident_id = incident_ids[which]
        clock.advance(seconds=seconds)
        if kind == "deliver":
            desk.deliver()
        elif kind == "validate" and status[incident_id] == "detected":
            desk.validate_incident(incident_id, OWNER, "SEV2")
            status[incident_id] = "open"
        elif kind in ("public", "phase", "internal") and status[incident_id] == "open":
            visibility = "internal" if kind == "internal" else "public"
            phase = phases[seconds % 3] if kind == "phase" else None
            update = desk.post_update(
                incident_id, OWNER, f"{kind} {seconds}", visibility=visibility, status=phase
            )
            if visibility == "public":
                expected |= {f"{incident_id}/{update.id}/{t}" for t in tickets[incident_id]}
        elif kind == "resolve" and status[incident_id] == "open":
            desk.resolve_incident(incident_id, OWNER, "Fixed.")
            expected |= {f"{incident_id}/resolution/{t}" for t in tickets[incident_id]}
            status[incident_id] = "resolved"

    drain(desk, clock)
    states = outbox_states(desk, sorted(expected))
    delivered = {k for k, s in states.items() if s is OutboxState.DELIVERED}
    dead = {k for k, s in states.items() if s is OutboxState.DEAD}
    stats = desk.outbox_stats()
    assert stats.pending == 0
    assert delivered | dead == expected  # 0 lost
    assert stats.delivered + stats.dead == len(expected)  # and nothing unexpected
    recorder = flaky.inner
    assert isinstance(recorder, RecordingNotifier)
    at_port = recorder.unique_keys
    assert delivered <= at_port <= expected
    assert at_port - delivered <= dead  # only ambiguous sends that later died
    if ambiguous_rate == 0:
        assert at_port == delivered == expected - dead
    assert max(flaky.attempts.values(), default=0) <= 8
    dead_events = {
        e.key
        for i in incident_ids
        for e in desk.timeline(i)
        if isinstance(e, NotificationDeadLettered)
    }
    assert dead_events == dead
    event(f"dead letters: {'some' if dead else 'none'}")
    event(f"re-sent to the port: {'some' if len(recorder.sent) > len(at_port) else 'none'}")
