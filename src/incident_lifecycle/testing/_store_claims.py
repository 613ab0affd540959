"""The store contract's checks of claims of several entries per recipient and of ``defer``
(private: see :mod:`incident_lifecycle.testing.contracts`)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ..domain.errors import InvalidInput
from ._contract_kit import (
    HOUR,
    MINUTE,
    T0,
    StoreHarness,
    claim_keys,
    contract_settings,
    make_note,
    rolled_back,
)


class ClaimChecks(StoreHarness):
    """``claim_due(per_recipient=n)``: a recipient's oldest pending entries, consecutive."""

    def test_a_head_brings_its_followers_in_order(self) -> None:
        """With ``per_recipient=3`` each recipient's three oldest entries are claimed, heads
        first, then each head's followers in enqueue order."""
        with self.opened() as store:
            with store.transaction() as tx:
                notes = [make_note(f"a{n}") for n in range(5)]
                notes.insert(2, make_note("b0", "team-b"))
                tx.enqueue(notes, T0)
            assert claim_keys(store, T0, per_recipient=3) == ["a0", "b0", "a1", "a2"]
            assert claim_keys(store, T0, per_recipient=3) == []  # all under the lease
            with store.transaction() as tx:
                tx.mark_delivered(["a0", "a1", "a2", "b0"], T0)
            assert claim_keys(store, T0, per_recipient=3) == ["a3", "a4"]

    def test_followers_stop_at_the_limit_and_at_the_first_not_due(self) -> None:
        """Followers fill what ``limit`` leaves after the heads, and stop at one not due."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([make_note(f"a{n}") for n in range(4)], T0)
                tx.enqueue([make_note("b0", "team-b"), make_note("b1", "team-b")], T0)
            assert claim_keys(store, T0, limit=3, per_recipient=4) == ["a0", "b0", "a1"]
            with store.transaction() as tx:
                tx.defer(["a0", "a1", "b0"], T0, T0)
                tx.defer(["a2"], T0 + HOUR, T0)  # not claimed: only its due time moves
            assert claim_keys(store, T0, per_recipient=4) == ["a0", "b0", "a1", "b1"]

    def test_per_recipient_is_checked(self) -> None:
        """A ``per_recipient`` below one raises ``InvalidInput`` naming it."""
        with (
            self.opened() as store,
            pytest.raises(InvalidInput, match="per_recipient"),
            store.transaction() as tx,
        ):
            tx.claim_due(T0, 10, T0 + HOUR, "relay", per_recipient=0)

    def test_claims_are_the_oldest_pending_entries_of_each_recipient(self) -> None:
        """Whatever the queues, limit and depth, each recipient's claimed entries are its
        oldest pending ones, consecutive, at most ``per_recipient``, and heads come first."""

        @contract_settings(self.max_examples)
        @given(
            st.lists(st.sampled_from("abc"), min_size=1, max_size=12),
            st.integers(1, 8),
            st.integers(1, 4),
            st.sets(st.integers(0, 11), max_size=4),
        )
        def check(recipients: list[str], limit: int, depth: int, finished: set[int]) -> None:
            notes = [make_note(f"k{n}", f"team-{r}") for n, r in enumerate(recipients)]
            with self.opened() as store:
                with store.transaction() as tx:
                    tx.enqueue(notes, T0)
                    tx.mark_delivered([f"k{n}" for n in finished], T0)
                claimed = claim_keys(store, T0, limit=limit, per_recipient=depth)
            queues: dict[str, list[str]] = {}
            for n, note in enumerate(notes):
                if n not in finished:
                    queues.setdefault(note.recipient, []).append(note.key)
            heads = sorted((q[0] for q in queues.values()), key=lambda k: int(k[1:]))[:limit]
            expected = list(heads)
            for head in heads:
                queue = queues[notes[int(head[1:])].recipient]
                for key in queue[1:depth]:
                    if len(expected) < limit:
                        expected.append(key)
            assert claimed == expected

        check()

    def test_defer_gives_the_attempt_back_and_keeps_the_error(self) -> None:
        """A deferred entry loses its claim and the claim's attempt, keeps its last error,
        and is due at ``not_before``; a finished or unknown key is ignored."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([make_note("k1"), make_note("k2", "team-b")], T0)
            claim_keys(store, T0)
            with store.transaction() as tx:
                tx.schedule_retry("k1", T0, "busy", T0)
                tx.mark_delivered(["k2"], T0)
            claim_keys(store, T0)
            with store.transaction() as tx:
                tx.defer(["k1", "k2", "nope"], T0 + 5 * MINUTE, T0 + MINUTE)
                entry = tx.outbox_entry("k1")
                done = tx.outbox_entry("k2")
                assert tx.next_due_at() == T0 + 5 * MINUTE
            assert entry is not None
            assert done is not None
            assert (entry.claim, entry.attempts, entry.last_error) == (None, 1, "busy")
            assert (entry.next_attempt_at, entry.updated_at) == (T0 + 5 * MINUTE, T0 + MINUTE)
            assert done.state == "delivered"
            assert claim_keys(store, T0 + 5 * MINUTE - MINUTE) == []
            assert claim_keys(store, T0 + 5 * MINUTE) == ["k1"]
            with store.transaction() as tx:
                tx.defer(["k1"], T0, T0)
                tx.defer(["k1"], T0, T0)  # never below zero attempts
                again = tx.outbox_entry("k1")
            assert again is not None
            assert again.attempts == 0

    def test_a_defer_rolls_back_with_its_transaction(self) -> None:
        """A ``defer`` in a transaction that raises changes nothing."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([make_note("k1")], T0)
            claim_keys(store, T0)
            with store.transaction() as tx:
                before = tx.outbox_entry("k1")
            rolled_back(store, lambda tx: tx.defer(["k1"], T0 + HOUR, T0))
            with store.transaction() as tx:
                assert tx.outbox_entry("k1") == before
