"""Time arithmetic at the ends of the calendar: deadlines, leases, retries and look-backs
clamp to years 1 to 9999 (``domain.checks.shifted``) instead of raising ``OverflowError``."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from incident_lifecycle import SEV2
from incident_lifecycle.adapters import InMemoryStore
from incident_lifecycle.adapters.sqlite import SQLiteStore
from incident_lifecycle.cadence import update_due
from incident_lifecycle.delivery import Relay, RetryPolicy
from incident_lifecycle.domain.checks import EARLIEST, LATEST, shifted, shifted_back
from incident_lifecycle.domain.incidents import IncidentStatus
from incident_lifecycle.domain.reports import TriageOutcome
from incident_lifecycle.notifications import DeliveryResult, Notification
from incident_lifecycle.ports import Store
from incident_lifecycle.testing import FakeClock
from incident_lifecycle.testing._contract_kit import make_incident, make_note, make_report
from incident_lifecycle.testing._store_times import ANY_TIME
from incident_lifecycle.triage import DefaultTriagePolicy

STORES: dict[str, Callable[[], Store]] = {
    "memory": InMemoryStore,
    "sqlite": lambda: SQLiteStore(":memory:"),
}
UTC_TIMES = st.sampled_from([EARLIEST, LATEST, LATEST - timedelta(minutes=1)]) | st.datetimes(
    min_value=datetime.min, max_value=datetime.max, timezones=st.just(UTC)
)
"""Any instant of years 1 to 9999 in UTC, the ends more often (what a ``Clock`` returns)."""
SPANS = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta.max)
"""Any positive duration, up to the longest a ``timedelta`` holds."""


def exact_or_clamped(when: datetime, delta: timedelta) -> datetime:
    """``when + delta`` where it exists, else the end of the calendar it ran past."""
    try:
        return when + delta
    except OverflowError:
        return LATEST if delta > timedelta(0) else EARLIEST


# -- the helper ---------------------------------------------------------------------------


@given(UTC_TIMES, st.timedeltas())
def test_shifted_is_exact_where_it_can_be_and_clamps_where_not(
    when: datetime, delta: timedelta
) -> None:
    """``shifted`` adds exactly when the sum exists, else gives the first or last instant."""
    moved = shifted(when, delta)
    assert moved == exact_or_clamped(when, delta)
    assert moved.tzinfo is UTC
    assert EARLIEST <= moved <= LATEST


# -- cadence --------------------------------------------------------------------------------


@given(UTC_TIMES, st.none() | UTC_TIMES, UTC_TIMES, SPANS, SPANS)
def test_update_due_never_overflows(
    opened: datetime,
    last_update: datetime | None,
    now: datetime,
    first_update: timedelta,
    interval: timedelta,
) -> None:
    """Any open time, last update, clock and severity intervals give a deadline (the last
    instant of 9999 when it would fall later) and a reminder time, never an error."""
    severity = attrs.evolve(SEV2, first_update=first_update, update_interval=interval)
    incident = make_incident("INC-1", detected_at=opened, status=IncidentStatus.INVESTIGATING)
    incident.severity = severity
    incident.last_public_update_at = last_update
    due = update_due(incident, now)
    deadline = (
        exact_or_clamped(opened, first_update)
        if last_update is None
        else exact_or_clamped(last_update, interval)
    )
    if now < deadline:
        assert due is None
        return
    assert due is not None
    assert (due.due_at, due.overdue) == (deadline, now - deadline)
    assert due.due_at <= due.missed_at <= now


def test_an_update_due_in_the_year_10000_is_due_at_the_last_instant() -> None:
    """An incident opened in the last minutes of 9999 owes its first update at the last instant."""
    incident = make_incident(
        "INC-1", detected_at=LATEST - timedelta(minutes=1), status=IncidentStatus.INVESTIGATING
    )
    incident.severity = SEV2
    assert update_due(incident, LATEST - timedelta(seconds=1)) is None
    due = update_due(incident, LATEST)
    assert due is not None
    assert (due.due_at, due.overdue, due.missed_at) == (LATEST, timedelta(0), LATEST)


# -- the relay ------------------------------------------------------------------------------


class RetryingNotifier:
    """Answers "try again" to everything, with a retry-after if it was given one."""

    def __init__(self, after: timedelta | None = None) -> None:
        self.after = after
        self.sent = 0

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        self.sent += len(batch)
        return [DeliveryResult.retry(n.key, "busy", self.after) for n in batch]


@pytest.mark.parametrize("backend", sorted(STORES))
@given(now=UTC_TIMES, base=SPANS, spread=SPANS, lease=SPANS)
def test_the_relay_never_overflows_on_leases_or_backoff(
    backend: str, now: datetime, base: timedelta, spread: timedelta, lease: timedelta
) -> None:
    """At any clock before the last instant, with any backoff and lease, a retry is scheduled
    at ``now`` plus the delay, or at the last instant of 9999 if that is later."""
    assume(now < LATEST)  # at the last instant no retry can wait: see the test below
    cap = base + spread if spread <= timedelta.max - base else timedelta.max
    policy = RetryPolicy(base=base, cap=cap, lease=lease, jitter=False)
    store = STORES[backend]()
    with store.transaction() as tx:
        tx.enqueue([make_note("k1"), make_note("k2", "team-b")], now)
    notifier = RetryingNotifier()
    report = Relay(store, notifier, FakeClock(now), policy).deliver()
    assert (report.attempted, report.retried, report.errors) == (2, 2, ())
    with store.transaction() as tx:
        entry = tx.outbox_entry("k1")
    assert entry is not None
    assert entry.next_attempt_at == exact_or_clamped(now, policy.delay(1, random.Random(0)))
    assert report.next_due_at == entry.next_attempt_at
    assert policy.horizon >= lease


@pytest.mark.parametrize("backend", sorted(STORES))
@pytest.mark.parametrize("now", [EARLIEST, LATEST - timedelta(minutes=1)])
def test_the_relay_runs_at_the_ends_of_the_calendar(backend: str, now: datetime) -> None:
    """On 0001-01-01 and in the last minute of 9999 the relay leases and schedules a retry."""
    store = STORES[backend]()
    with store.transaction() as tx:
        tx.enqueue([make_note("k1")], now)
    report = Relay(store, RetryingNotifier(), FakeClock(now)).deliver()
    assert (report.retried, report.pending) == (1, 1)
    assert report.next_due_at == exact_or_clamped(now, RetryPolicy().base)


@pytest.mark.parametrize("backend", sorted(STORES))
def test_at_the_last_instant_retries_cannot_wait_and_end_in_a_dead_letter(backend: str) -> None:
    """At the last instant of 9999 every lease and retry ends then, so a failing notification
    is tried ``max_attempts`` times in one ``deliver`` and dead-lettered: no overflow, no loop."""
    store = STORES[backend]()
    with store.transaction() as tx:
        tx.enqueue([make_note("k1")], LATEST)
    notifier = RetryingNotifier(after=timedelta(hours=1))
    report = Relay(store, notifier, FakeClock(LATEST), RetryPolicy(max_attempts=3)).deliver()
    assert (report.attempted, report.retried, report.dead_lettered) == (3, 2, 1)
    assert (notifier.sent, report.pending, report.next_due_at) == (3, 0, None)


def test_a_huge_lease_has_a_horizon_of_timedelta_max() -> None:
    """A policy whose horizon is longer than a ``timedelta`` holds reports ``timedelta.max``."""
    assert RetryPolicy(lease=timedelta.max).horizon == timedelta.max


# -- triage ---------------------------------------------------------------------------------


@given(ANY_TIME, ANY_TIME, ANY_TIME, SPANS, SPANS)
def test_triage_look_backs_never_overflow(
    reported: datetime, detected: datetime, now: datetime, grace: timedelta, window: timedelta
) -> None:
    """A report, an incident and a clock at any instant, with any grace and surge window, get
    a decision; the grace period excludes exactly the incidents detected more than it later."""
    policy = DefaultTriagePolicy(grace=grace, surge_window=window, surge_accounts=1, threshold=0.0)
    report = make_report("T-1", reported_at=reported)
    incident = make_incident("INC-1", detected_at=detected, status=IncidentStatus.INVESTIGATING)
    earlier = make_report("T-0", reported_at=reported)
    decision = policy.assess(report, [incident], [earlier], now)
    too_late = detected - reported > grace
    # Not excluded, the incident is linked (threshold 0); excluded, one account is a surge.
    expected = TriageOutcome.OPEN_NEW if too_late else TriageOutcome.LINK_EXISTING
    assert decision.outcome is expected


def test_triage_at_the_first_instant_looks_back_to_it() -> None:
    """On 0001-01-01 at midnight the surge window reaches back to that instant, not before."""
    policy = DefaultTriagePolicy(surge_accounts=2)
    report = make_report("T-1", reported_at=EARLIEST)
    other = make_report("T-2", reported_at=EARLIEST)
    decision = policy.assess(report, [], [other], EARLIEST)
    assert decision.outcome is TriageOutcome.OPEN_NEW


@given(
    st.datetimes(
        min_value=datetime.min,
        max_value=datetime.max,
        timezones=st.timedeltas(min_value=-timedelta(hours=23), max_value=timedelta(hours=23)).map(
            timezone
        ),
    ),
    st.timedeltas(),
)
def test_shifted_keeps_the_instant_in_any_zone(when: datetime, delta: timedelta) -> None:
    """In a zone with an offset, ``shifted`` moves the instant; it clamps only past year 1/9999."""
    moved = shifted(when, delta)
    assert moved.tzinfo is UTC
    assert EARLIEST <= moved <= LATEST
    try:
        exact = (when + delta).astimezone(UTC)
    except OverflowError:
        return  # the sum is outside the calendar UTC can write: clamped (checked above)
    assert moved == exact


@given(UTC_TIMES, st.timedeltas())
def test_shifted_back_is_shifted_by_the_opposite(when: datetime, delta: timedelta) -> None:
    """``shifted_back(when, d)`` is ``when - d`` clamped, even for durations whose negation
    is no ``timedelta`` (within a day of ``timedelta.max``): those reach back to year 1."""
    moved = shifted_back(when, delta)
    try:
        expected = exact_or_clamped(when, -delta)
    except OverflowError:
        expected = EARLIEST if delta > timedelta(0) else LATEST
    assert moved == expected


def test_the_relay_refuses_a_naive_clock_with_invalid_input() -> None:
    """A clock answering a naive datetime makes ``deliver`` raise ``InvalidInput('now')`` on
    every store, not a raw ``TypeError`` (found by the public-API fuzz test)."""
    from incident_lifecycle import InvalidInput, RecordingNotifier
    from incident_lifecycle.delivery import Relay, RetryPolicy

    class NaiveClock:
        def now(self) -> datetime:
            return datetime(2026, 5, 2, 14, 0)

    for make in STORES.values():
        relay = Relay(make(), RecordingNotifier(), NaiveClock(), RetryPolicy())
        with pytest.raises(InvalidInput) as caught:
            relay.deliver()
        assert caught.value.field == "now"
