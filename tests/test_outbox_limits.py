"""``limit``, ``batch_size`` and ``max_batches`` mean the same on every store; junk is refused.

The store contract (``StoreContract``) checks ``dead_letters`` and ``claim_due`` limits
on any store; here the relay's arguments run on both shipped stores.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_lifecycle import InvalidInput
from incident_lifecycle.adapters import InMemoryStore
from incident_lifecycle.adapters.sqlite import SQLiteStore
from incident_lifecycle.delivery import Relay
from incident_lifecycle.notifications import DeliveryResult, Notification
from incident_lifecycle.ports import OutboxState, Store
from incident_lifecycle.testing import FakeClock
from incident_lifecycle.testing._contract_kit import HOUR, T0, make_note

STORES: dict[str, Callable[[], Store]] = {
    "memory": InMemoryStore,
    "sqlite": lambda: SQLiteStore(":memory:"),
}
HUGE = st.integers(2**62, 2**80)
JUNK_COUNT = st.one_of(
    st.integers(max_value=0),
    st.booleans(),
    st.floats(),
    st.text(max_size=3),
    st.just([1]),
)
"""Not an int of at least one."""


class BatchNotifier:
    """Delivers everything and remembers the size of each batch it was sent."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        self.sizes.append(len(batch))
        return [DeliveryResult.delivered(n.key) for n in batch]


def filled(make: Callable[[], Store], count: int) -> Store:
    """A store with ``count`` notifications due now, each to its own recipient."""
    store = make()
    with store.transaction() as tx:
        tx.enqueue([make_note(f"k{n}", f"team-{n}") for n in range(count)], T0)
    return store


@pytest.mark.parametrize("backend", sorted(STORES))
@given(
    count=st.integers(0, 12),
    batch_size=st.integers(1, 5) | HUGE,
    max_batches=st.none() | st.integers(1, 4) | HUGE,
)
def test_any_batch_size_and_batch_limit_drain_as_promised(
    backend: str, count: int, batch_size: int, max_batches: int | None
) -> None:
    """``deliver`` sends batches of at most ``batch_size``, at most ``max_batches`` of them,
    however large either is, until nothing is due."""
    store = filled(STORES[backend], count)
    notifier = BatchNotifier()
    report = Relay(store, notifier, FakeClock(T0)).deliver(batch_size, max_batches)
    batches = math.ceil(count / batch_size)
    if max_batches is not None:
        batches = min(batches, max_batches)
    sent = min(count, batches * batch_size)
    assert (report.batches, report.attempted, report.delivered) == (batches, sent, sent)
    assert report.pending == count - sent
    assert len(notifier.sizes) == batches
    assert all(1 <= size <= batch_size for size in notifier.sizes)


@pytest.mark.parametrize("backend", sorted(STORES))
@pytest.mark.parametrize("field", ["batch_size", "max_batches"])
@given(junk=JUNK_COUNT)
def test_a_junk_batch_size_or_limit_is_refused_before_anything_is_claimed(
    backend: str, field: str, junk: object
) -> None:
    """A bool, a number below one or a non-int raises ``InvalidInput`` naming the argument,
    and no notification is claimed or sent."""
    store = filled(STORES[backend], 3)
    notifier = BatchNotifier()
    with pytest.raises(InvalidInput) as caught:
        Relay(store, notifier, FakeClock(T0)).deliver(**{field: junk})  # type: ignore[arg-type]
    assert caught.value.field == field
    assert notifier.sizes == []
    with store.transaction() as tx:
        entries = [tx.outbox_entry(f"k{n}") for n in range(3)]
    assert all(e is not None and (e.state, e.attempts) == (OutboxState.PENDING, 0) for e in entries)


@pytest.mark.parametrize("backend", sorted(STORES))
def test_a_claim_without_a_limit_takes_every_due_head(backend: str) -> None:
    """``claim_due(limit=None)`` claims every due entry, like ``dead_letters(None)`` lists all."""
    store = filled(STORES[backend], 5)
    with store.transaction() as tx:
        claimed = tx.claim_due(T0, None, T0 + HOUR, "relay")
    assert [e.key for e in claimed] == [f"k{n}" for n in range(5)]


@pytest.mark.parametrize("backend", sorted(STORES))
def test_a_negative_dead_letter_limit_is_refused_not_read_as_all_but_the_last(
    backend: str,
) -> None:
    """``dead_letters(limit=-1)`` used to mean "all but the last" in memory and "all" on
    SQLite: it is ``InvalidInput`` on both now."""
    store = filled(STORES[backend], 2)
    with store.transaction() as tx:
        tx.mark_dead("k0", "refused", T0)
        tx.mark_dead("k1", "refused", T0 + HOUR)
    with pytest.raises(InvalidInput, match="limit"), store.transaction() as tx:
        tx.dead_letters(limit=-1)
