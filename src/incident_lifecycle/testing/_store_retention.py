"""The store contract's checks of retention: ``prune_delivered`` forgets delivered entries
and nothing else (private: see :mod:`incident_lifecycle.testing.contracts`)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from ..notifications import FanOut
from ..ports import OutboxStats
from ._contract_kit import (
    HOUR,
    MICROSECOND,
    MINUTE,
    T0,
    StoreHarness,
    contract_settings,
    make_note,
    rolled_back,
    store_view,
)


class RetentionChecks(StoreHarness):
    """``prune_delivered``: delivered entries older than the cut-off go, the rest stays."""

    def test_prune_forgets_only_entries_delivered_before_the_cutoff(self) -> None:
        """Delivered before the cut-off: gone (the key may come again). Delivered at it or
        later, pending, claimed and dead entries, incidents and timelines: all kept."""
        with self.populated() as store:
            with store.transaction() as tx:
                tx.enqueue([make_note(f"p-{n}", f"team-p{n}") for n in range(5)], T0)
                tx.claim_due(T0, 5, T0 + MINUTE, "relay")
                tx.mark_delivered(["p-0", "p-1"], T0 + HOUR)
                tx.mark_delivered(["p-2"], T0 + 2 * HOUR)
                tx.mark_dead("p-3", "refused", T0 + HOUR)
            with store.transaction() as tx:
                before = tx.outbox_stats()
            keep = store_view(store)
            with store.transaction() as tx:
                assert tx.prune_delivered(T0 + 2 * HOUR) == before.delivered - 1
                assert tx.prune_delivered(T0 + 2 * HOUR) == 0
            with store.transaction() as tx:
                assert tx.outbox_stats() == OutboxStats(
                    pending=before.pending, delivered=1, dead=before.dead
                )
                assert tx.outbox_entry("p-0") is None
                assert tx.outbox_entry("p-2") is not None
                dead = tx.outbox_entry("p-3")
                assert dead is not None
                assert dead.state == "dead"
                assert tx.outbox_entry("p-4") is not None
            after = store_view(store)
            for part in ("alerts", "incidents", "reports", "links", "updates", "timeline"):
                assert after[part] == keep[part], part
            with store.transaction() as tx:
                assert tx.enqueue([make_note("p-0", "team-p0", body="again")], T0 + 3 * HOUR)
                entry = tx.outbox_entry("p-0")
                assert entry is not None
                assert (entry.state, entry.notification.body) == ("pending", "again")

    def test_prune_keeps_a_fanout_message_other_entries_still_use(self) -> None:
        """Pruning some entries of a fan-out leaves the others whole (their shared text)."""
        fanout = FanOut(
            key_prefix="INC-1/UPD-1",
            recipients=("T-1", "T-2", "T-3"),
            topic="status_update",
            incident_id="INC-1",
            subject="Update",
            body="We are on it.",
            created_at=T0,
        )
        with self.opened() as store:
            with store.transaction() as tx:
                assert tx.enqueue_fanout(fanout, T0) == 3
                tx.mark_delivered(["INC-1/UPD-1/T-1"], T0)
                tx.mark_delivered(["INC-1/UPD-1/T-2"], T0 + HOUR)
            with store.transaction() as tx:
                assert tx.prune_delivered(T0 + MICROSECOND) == 1
            with store.transaction() as tx:
                for key in ("INC-1/UPD-1/T-2", "INC-1/UPD-1/T-3"):
                    entry = tx.outbox_entry(key)
                    assert entry is not None
                    assert entry.notification.body == "We are on it."
                claimed = tx.claim_due(T0 + HOUR, 10, T0 + 2 * HOUR, "relay")
                assert [e.key for e in claimed] == ["INC-1/UPD-1/T-3"]

    def test_a_rolled_back_prune_keeps_everything(self) -> None:
        """A prune in a transaction that fails changes nothing."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([make_note("k1"), make_note("k2", "team-b")], T0)
                tx.mark_delivered(["k1", "k2"], T0)
            before = store_view(store)
            rolled_back(store, lambda tx: tx.prune_delivered(T0 + HOUR))
            assert store_view(store) == before
            with store.transaction() as tx:
                assert tx.outbox_stats() == OutboxStats(pending=0, delivered=2, dead=0)

    def test_prune_agrees_with_delivery_times(self) -> None:
        """For any delivery times and cut-off, exactly the entries delivered before it go."""

        @contract_settings(self.max_examples, 25)
        @given(
            st.lists(st.integers(0, 120), min_size=1, max_size=8),
            st.integers(0, 130),
        )
        def check(minutes: list[int], cut: int) -> None:
            times = [T0 + timedelta(minutes=m) for m in minutes]
            cutoff = T0 + timedelta(minutes=cut)
            with self.opened() as store:
                with store.transaction() as tx:
                    tx.enqueue([make_note(f"k{i}", f"r{i}") for i in range(len(times))], T0)
                    for i, when in enumerate(times):
                        tx.mark_delivered([f"k{i}"], when)
                with store.transaction() as tx:
                    gone = tx.prune_delivered(cutoff)
                    kept = {f"k{i}" for i in range(len(times)) if tx.outbox_entry(f"k{i}")}
                expected = {f"k{i}" for i, when in enumerate(times) if not when < cutoff}
                assert kept == expected
                assert gone == len(times) - len(expected)

        check()
