"""A recipient's retry-after is honoured up to ``RetryPolicy.max_retry_after``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_lifecycle import InvalidInput
from incident_lifecycle.adapters import InMemoryStore
from incident_lifecycle.adapters.sqlite import SQLiteStore
from incident_lifecycle.delivery import Relay, RetryPolicy
from incident_lifecycle.domain.checks import LATEST
from incident_lifecycle.notifications import DeliveryResult, Notification
from incident_lifecycle.ports import Store
from incident_lifecycle.testing import FakeClock
from incident_lifecycle.testing._contract_kit import T0, make_note

STORES: dict[str, Callable[[], Store]] = {
    "memory": InMemoryStore,
    "sqlite": lambda: SQLiteStore(":memory:"),
}
HOUR = timedelta(hours=1)
NO_JITTER = RetryPolicy(jitter=False)


class AskingNotifier:
    """Answers "try again after ``after``" to everything."""

    def __init__(self, after: timedelta | None) -> None:
        self.after = after

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        return [DeliveryResult.retry(n.key, "rate limited", self.after) for n in batch]


def next_attempt(
    backend: str, now: datetime, after: timedelta | None, policy: RetryPolicy = NO_JITTER
) -> datetime:
    """When the relay schedules the retry of a notification its recipient asked to delay."""
    store = STORES[backend]()
    with store.transaction() as tx:
        tx.enqueue([make_note("k1")], now)
    report = Relay(store, AskingNotifier(after), FakeClock(now), policy).deliver()
    assert (report.retried, report.errors) == (1, ())
    with store.transaction() as tx:
        entry = tx.outbox_entry("k1")
    assert entry is not None
    return entry.next_attempt_at


def test_the_cap_is_one_hour_by_default() -> None:
    """``max_retry_after`` is one hour unless configured."""
    assert RetryPolicy().max_retry_after == HOUR


@pytest.mark.parametrize("bad", [-timedelta(seconds=1), 3600, "1h", None])
def test_a_bad_cap_names_the_field(bad: object) -> None:
    """A negative or non-``timedelta`` cap raises ``InvalidInput`` naming ``max_retry_after``."""
    with pytest.raises(InvalidInput) as caught:
        RetryPolicy(max_retry_after=bad)  # type: ignore[arg-type]
    assert caught.value.field == "max_retry_after"


@pytest.mark.parametrize("backend", sorted(STORES))
def test_a_retry_after_of_timedelta_max_waits_the_cap(backend: str) -> None:
    """A notifier answering ``retry_after=timedelta.max`` gets its retry an hour later."""
    assert next_attempt(backend, T0, timedelta.max) == T0 + HOUR


@pytest.mark.parametrize("backend", sorted(STORES))
def test_near_the_end_of_the_calendar_the_capped_wait_clamps(backend: str) -> None:
    """With the clock minutes before the last instant, even the capped wait ends at it."""
    now = datetime.max.replace(tzinfo=UTC) - timedelta(minutes=5)
    assert next_attempt(backend, now, timedelta.max) == LATEST


@pytest.mark.parametrize("backend", sorted(STORES))
def test_a_retry_after_under_the_cap_is_honoured_exactly(backend: str) -> None:
    """A retry-after of 50 minutes, longer than the backoff and under the cap, is kept."""
    assert next_attempt(backend, T0, timedelta(minutes=50)) == T0 + timedelta(minutes=50)


@pytest.mark.parametrize("backend", sorted(STORES))
@given(
    after=st.none() | st.timedeltas(),
    cap=st.timedeltas(min_value=timedelta(0), max_value=timedelta.max),
    # Up to the last hour of 9999 (at the last instant no retry can wait: test_time_bounds).
    now=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(9999, 12, 31, 23), timezones=st.just(UTC)
    ),
)
def test_the_wait_is_the_backoff_or_the_capped_retry_after_whichever_is_longer(
    backend: str, after: timedelta | None, cap: timedelta, now: datetime
) -> None:
    """Any retry-after (none, negative, huge) and any cap: the relay waits
    ``max(backoff, min(retry_after, max_retry_after))``, clamped to the calendar."""
    policy = RetryPolicy(jitter=False, max_retry_after=cap)
    wait = policy.base if after is None else max(policy.base, min(after, cap))
    try:
        expected = now + wait
    except OverflowError:
        expected = LATEST
    assert next_attempt(backend, now, after, policy) == expected
