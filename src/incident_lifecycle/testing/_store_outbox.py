"""The store contract's checks of the outbox: enqueueing, claiming, leases, retries, dead
letters, redrive, against examples and a reference model (private: see
:mod:`incident_lifecycle.testing.contracts`)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import (
    run_state_machine_as_test,
)

from ..domain.errors import InvalidInput
from ..notifications import FanOut, Notification
from ..ports import OutboxState, OutboxStats, StoreTransaction
from . import strategies as ils
from ._contract_kit import (
    HOUR,
    JUNK_LIMITS,
    LIMITS,
    MICROSECOND,
    MINUTE,
    MODEL_EXAMPLES,
    T0,
    StoreHarness,
    any_fanouts,
    any_notifications,
    canonical,
    claim_keys,
    contract_settings,
    entry_view,
    in_transaction,
    make_fanout,
    make_note,
    outbox_view,
    rolled_back,
)
from ._store_outbox_model import OutboxMachine


class OutboxChecks(StoreHarness):
    """The outbox: idempotent enqueue, per-recipient FIFO claims, leases and dead letters."""

    # -- outbox ----------------------------------------------------------------------------
    def test_notifications_round_trip_field_by_field(self) -> None:
        """Enqueued notifications read back exactly, pending and due at ``now``, in order."""

        @contract_settings(self.max_examples)
        @given(
            st.lists(any_notifications(), min_size=1, max_size=6),
            st.lists(st.integers(0, 5), max_size=3),
            ils.aware_datetimes(),
        )
        def check(notes: list[Notification], repeats: list[int], now: datetime) -> None:
            notes += [notes[i % len(notes)] for i in repeats]  # keys repeated within the call
            first: dict[str, Notification] = {}
            for note in notes:
                first.setdefault(note.key, note)
            with self.opened() as store:
                with store.transaction() as tx:
                    assert tx.enqueue(notes, now) == len(first)
                with store.transaction() as tx:
                    entries = [tx.outbox_entry(key) for key in first]
                    claimed = tx.claim_due(now, 100, now + HOUR, "relay")
                heads: dict[str, str] = {}
                for key, note in first.items():
                    heads.setdefault(note.recipient, key)
                assert [e.key for e in claimed] == list(heads.values())
                for entry, (key, note) in zip(entries, first.items(), strict=True):
                    assert entry is not None
                    assert canonical(entry.notification) == canonical(note)
                    assert (entry.key, entry.state, entry.attempts) == (key, "pending", 0)
                    assert (entry.claim, entry.last_error) == (None, "")
                    assert entry.next_attempt_at == now
                for entry in claimed:
                    assert canonical(entry.notification) == canonical(first[entry.key])
                seqs = [e.seq for e in entries if e is not None]
                assert seqs == sorted(set(seqs))

        check()

    def test_enqueue_skips_keys_already_present(self) -> None:
        """A key enqueued again (even delivered or dead) is skipped and keeps its first text."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue(
                    [make_note("k1"), make_note("k2", "team-b"), make_note("k3", "team-c")], T0
                )
                tx.mark_delivered(["k1"], T0)
                tx.mark_dead("k2", "refused", T0)
            with store.transaction() as tx:
                again = [make_note(k, body="second text") for k in ("k1", "k2", "k3", "k4", "k4")]
                assert tx.enqueue(again, T0 + HOUR) == 1
                assert tx.enqueue([], T0) == 0
                assert tx.outbox_stats() == OutboxStats(pending=2, delivered=1, dead=1)
                for key in ("k1", "k2", "k3"):
                    entry = tx.outbox_entry(key)
                    assert entry is not None
                    assert entry.notification.body == "Over to you."
                entry = tx.outbox_entry("k4")
                assert entry is not None
                assert (entry.notification.body, entry.next_attempt_at) == (
                    "second text",
                    T0 + HOUR,
                )

    def test_a_fanout_is_the_same_as_enqueueing_its_notifications(self) -> None:
        """``enqueue_fanout`` stores and returns what ``enqueue`` of its notifications does."""

        @contract_settings(self.max_examples)
        @given(any_fanouts(), st.sets(st.integers(0, 5)), ils.aware_datetimes())
        def check(fanout: FanOut, present: set[int], now: datetime) -> None:
            earlier = [
                make_note(fanout.key_for(r), r)
                for n, r in enumerate(fanout.recipients)
                if n in present
            ]
            keys = list(dict.fromkeys(fanout.key_for(r) for r in fanout.recipients))

            def bulk(tx: StoreTransaction) -> int:
                return tx.enqueue_fanout(fanout, now)

            def single(tx: StoreTransaction) -> int:
                return tx.enqueue(fanout.notifications(), now)

            views = []
            for enqueue in (bulk, single):
                with self.opened() as store:
                    with store.transaction() as tx:
                        tx.enqueue(earlier, T0)
                        added = enqueue(tx)
                        again = enqueue(tx)
                    with store.transaction() as tx:
                        entries = [entry_view(tx.outbox_entry(k), seq=False) for k in keys]
                        order = [e.key for e in tx.claim_due(now, 100, now + HOUR, "r")]
                        stats = tx.outbox_stats()
                    views.append((added, again, entries, order, stats))
            assert views[0] == views[1]
            assert views[0][0] == len(set(keys) - {n.key for n in earlier})
            assert views[0][1] == 0

        check()

    def test_claims_are_oldest_first_and_limited(self) -> None:
        """``claim_due`` returns at most ``limit`` due entries, by due time then enqueue order."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([make_note(f"k{n}", f"team-{n}") for n in range(4)], T0 + MINUTE)
                tx.enqueue([make_note("k9", "team-9")], T0)
            assert claim_keys(store, T0, limit=3) == ["k9"]
            assert claim_keys(store, T0 + MINUTE, limit=3) == ["k0", "k1", "k2"]
            assert claim_keys(store, T0 + MINUTE, limit=3) == ["k3"]
            assert claim_keys(store, T0 + MINUTE) == []

    def test_nothing_is_due_before_it_is_enqueued(self) -> None:
        """An entry enqueued at ``now`` is not due at an earlier time."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([make_note("k1")], T0)
            assert claim_keys(store, T0 - MICROSECOND) == []
            assert claim_keys(store, T0) == ["k1"]

    def test_per_recipient_fifo(self) -> None:
        """A later notification to a recipient is never claimed while an earlier one is pending."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue(
                    [make_note("a1"), make_note("b1", "team-b"), make_note("a2"), make_note("a3")],
                    T0,
                )
            assert claim_keys(store, T0) == ["a1", "b1"]
            far = T0 + 10 * HOUR
            assert claim_keys(store, far) == ["a1", "b1"]  # leases expired: the same heads again
            with store.transaction() as tx:
                tx.schedule_retry("a1", far + HOUR, "busy", far)
                tx.mark_delivered(["b1"], far)
            assert claim_keys(store, far + 30 * MINUTE) == []  # a1 waits, and a2 behind it
            with store.transaction() as tx:
                tx.mark_delivered(["a1"], far)
            assert claim_keys(store, far) == ["a2"]
            with store.transaction() as tx:
                tx.mark_dead("a2", "refused", far)
            assert claim_keys(store, far) == ["a3"]

    def test_a_claim_counts_an_attempt_and_holds_a_lease(self) -> None:
        """A claim adds one attempt, records its token and keeps the entry until the lease ends."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([make_note("k1")], T0)
            with store.transaction() as tx:
                (entry,) = tx.claim_due(T0, 10, T0 + 2 * MINUTE, "relay-a")
            assert (entry.key, entry.attempts, entry.claim, entry.next_attempt_at) == (
                "k1",
                1,
                "relay-a",
                T0 + 2 * MINUTE,
            )
            assert claim_keys(store, T0 + MINUTE) == []
            assert claim_keys(store, T0 + 2 * MINUTE - MICROSECOND) == []
            with store.transaction() as tx:
                assert tx.next_due_at() == T0 + 2 * MINUTE
                (again,) = tx.claim_due(T0 + 2 * MINUTE, 10, T0 + HOUR, "relay-b")
                stored = tx.outbox_entry("k1")
            assert (again.key, again.attempts, again.claim) == ("k1", 2, "relay-b")
            assert stored is not None
            assert (stored.attempts, stored.claim, stored.next_attempt_at) == (
                2,
                "relay-b",
                T0 + HOUR,
            )

    def test_schedule_retry_releases_the_claim_until_not_before(self) -> None:
        """A retried entry loses its claim, keeps its attempts and is due at ``not_before``."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([make_note("k1")], T0)
            claim_keys(store, T0)
            with store.transaction() as tx:
                tx.schedule_retry("k1", T0 + 5 * MINUTE, "busy", T0)
                entry = tx.outbox_entry("k1")
                assert entry is not None
                assert (entry.claim, entry.last_error, entry.attempts, entry.state) == (
                    None,
                    "busy",
                    1,
                    OutboxState.PENDING,
                )
                assert tx.next_due_at() == T0 + 5 * MINUTE
            assert claim_keys(store, T0 + 5 * MINUTE - MICROSECOND) == []
            assert claim_keys(store, T0 + 5 * MINUTE) == ["k1"]

    def test_marks_ignore_unknown_and_finished_keys(self) -> None:
        """Marking unknown, delivered or dead keys changes nothing: marks are idempotent."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([make_note("k1"), make_note("k2", "team-b")], T0)
                tx.mark_delivered(["k1", "k1", "nope"], T0)
                tx.mark_dead("k2", "refused", T0)
            before = outbox_view(store, ["k1", "k2"])
            with store.transaction() as tx:
                tx.mark_delivered(["k1", "k2", "nope"], T0 + HOUR)
                tx.mark_dead("k1", "late", T0 + HOUR)
                tx.schedule_retry("k2", T0 + HOUR, "late", T0 + HOUR)
                tx.schedule_retry("nope", T0 + HOUR, "late", T0 + HOUR)
                tx.mark_dead("nope", "late", T0 + HOUR)
                assert tx.redrive(["k1", "nope"], T0 + HOUR) == 0
            assert outbox_view(store, ["k1", "k2"]) == before

    def test_dead_letters_are_listed_in_the_order_they_died(self) -> None:
        """Dead entries list oldest dead letter first, are counted, and are no longer due."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([make_note(f"k{n}", f"team-{n}") for n in range(4)], T0)
            with store.transaction() as tx:
                tx.mark_dead("k2", "refused", T0 + MINUTE)
                tx.mark_dead("k0", "gone", T0 + 2 * MINUTE)
                tx.mark_delivered(["k1"], T0)
                assert [e.key for e in tx.dead_letters()] == ["k2", "k0"]
                assert [e.key for e in tx.dead_letters(limit=1)] == ["k2"]
                assert tx.outbox_stats() == OutboxStats(pending=1, delivered=1, dead=2)
                dead = tx.outbox_entry("k0")
                assert dead is not None
                assert (dead.state, dead.last_error, dead.claim) == (OutboxState.DEAD, "gone", None)
            assert claim_keys(store, T0 + HOUR) == ["k3"]
            with store.transaction() as tx:
                assert tx.next_due_at() == T0 + HOUR + 2 * MINUTE  # k3's lease
                tx.mark_delivered(["k3"], T0)
                assert tx.next_due_at() is None

    def test_a_lease_ending_at_the_claim_itself_is_not_claimed_twice(self) -> None:
        """At the end of time a lease cannot outlast its claim (``lease_until == now``): one
        call still claims each entry once, and the next call may claim it again."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([make_note("k1"), make_note("k2", "team-b")], T0)
            with store.transaction() as tx:
                first = [e.key for e in tx.claim_due(T0, 10, T0, "relay")]
            with store.transaction() as tx:
                again = [e.key for e in tx.claim_due(T0, 10, T0, "relay")]
                attempts = {k: tx.outbox_entry(k).attempts for k in ("k1", "k2")}  # type: ignore[union-attr]
            assert (sorted(first), sorted(again)) == (["k1", "k2"], ["k1", "k2"])
            assert attempts == {"k1": 2, "k2": 2}

    def test_outbox_entries_are_listed_by_state_in_enqueue_order(self) -> None:
        """``outbox_entries(state, limit)`` lists the entries in that state, oldest enqueued
        first, at most ``limit``; a junk state is ``InvalidInput`` naming ``state``."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([make_note(f"k{n}", f"team-{n}") for n in range(5)], T0)
            with store.transaction() as tx:
                tx.mark_dead("k3", "refused", T0)
                tx.mark_dead("k1", "refused", T0)
                tx.mark_delivered(["k2"], T0)
                listed = {s: [e.key for e in tx.outbox_entries(s)] for s in OutboxState}
                assert listed == {
                    OutboxState.PENDING: ["k0", "k4"],
                    OutboxState.DELIVERED: ["k2"],
                    OutboxState.DEAD: ["k1", "k3"],
                }
                assert [e.key for e in tx.outbox_entries(OutboxState.PENDING, 1)] == ["k0"]
                assert [e.key for e in tx.outbox_entries("dead", 0)] == []  # type: ignore[arg-type]
                first = tx.outbox_entries(OutboxState.DEAD)[0]
                assert (first.state, first.last_error) == (OutboxState.DEAD, "refused")
                for junk in ("lost", None, 3):
                    with pytest.raises(InvalidInput) as caught:
                        tx.outbox_entries(junk)  # type: ignore[arg-type]
                    assert caught.value.field == "state"
                with pytest.raises(InvalidInput) as caught:
                    tx.outbox_entries(OutboxState.DEAD, -1)
                assert caught.value.field == "limit"

    def test_a_limit_caps_dead_letters_and_claims_alike(self) -> None:
        """``limit`` is ``None`` (all) or an int: at most that many, however large it is."""

        @contract_settings(self.max_examples)
        @given(st.integers(0, 6), st.data())
        def check(count: int, data: st.DataObject) -> None:
            keys = [f"k{n}" for n in range(count)]
            dead = data.draw(st.lists(st.sampled_from(keys), unique=True) if keys else st.just([]))
            limit = data.draw(LIMITS, label="limit")
            with self.opened() as store:
                with store.transaction() as tx:
                    tx.enqueue([make_note(key, f"team-{key}") for key in keys], T0)
                    for n, key in enumerate(dead):
                        tx.mark_dead(key, "refused", T0 + n * MICROSECOND)
                with store.transaction() as tx:
                    listed = [e.key for e in tx.dead_letters(limit)]
                    everything = [e.key for e in tx.dead_letters()]
                assert (listed, everything) == (dead[:limit], dead)
                due = [key for key in keys if key not in dead]
                if limit is not None:  # the port's claim_due takes an int
                    claimed: list[str] = []
                    rolled_back(
                        store,
                        lambda tx: claimed.extend(
                            e.key for e in tx.claim_due(T0, limit, T0 + HOUR, "relay")
                        ),
                    )
                    assert claimed == due[:limit]

        check()

    def test_a_junk_limit_is_invalid_input_and_changes_nothing(self) -> None:
        """A bool, a negative number or a non-int ``limit`` raises ``InvalidInput`` naming
        ``limit``, never a driver or type error, and the outbox is left as it was."""

        @contract_settings(self.max_examples)
        @given(JUNK_LIMITS, st.booleans())
        def check(limit: object, claiming: bool) -> None:
            with self.opened() as store:
                with store.transaction() as tx:
                    tx.enqueue([make_note("k1"), make_note("k2", "team-b")], T0)
                    tx.mark_dead("k2", "refused", T0)
                before = outbox_view(store, ["k1", "k2"])

                def read(tx: StoreTransaction) -> object:
                    if claiming:
                        return tx.claim_due(T0, limit, T0 + HOUR, "relay")  # type: ignore[arg-type]
                    return tx.dead_letters(limit)  # type: ignore[arg-type]

                with pytest.raises(InvalidInput) as caught:
                    in_transaction(store, read)
                assert caught.value.field == "limit"
                assert outbox_view(store, ["k1", "k2"]) == before
                assert claim_keys(store, T0) == ["k1"]  # and the store still works

        check()

    def test_redrive_keeps_keys_and_per_recipient_order(self) -> None:
        """A redriven entry keeps key, seq and text, restarts its attempts and rejoins in order."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([make_note("a1"), make_note("a2"), make_note("a3")], T0)
            assert claim_keys(store, T0) == ["a1"]
            with store.transaction() as tx:
                original = tx.outbox_entry("a1")
                tx.mark_dead("a1", "refused", T0)
            assert claim_keys(store, T0) == ["a2"]
            with store.transaction() as tx:
                tx.schedule_retry("a2", T0 + MINUTE, "busy", T0)
                assert tx.redrive(["a1", "a3", "unknown"], T0 + 2 * MINUTE) == 1
                entry = tx.outbox_entry("a1")
                assert list(tx.dead_letters()) == []
            assert original is not None
            assert entry is not None
            assert (entry.key, entry.seq) == (original.key, original.seq)
            assert canonical(entry.notification) == canonical(original.notification)
            assert (entry.state, entry.attempts, entry.claim, entry.next_attempt_at) == (
                OutboxState.PENDING,
                0,
                None,
                T0 + 2 * MINUTE,
            )
            assert claim_keys(store, T0 + 2 * MINUTE) == ["a1"]  # back at the head, before a2
            with store.transaction() as tx:
                tx.mark_delivered(["a1"], T0 + 2 * MINUTE)
            assert claim_keys(store, T0 + 2 * MINUTE) == ["a2"]

    def test_redrive_behind_an_in_flight_entry_keeps_order(self) -> None:
        """Redriving an older entry while a newer one is claimed puts the older one first."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue([make_note("a1"), make_note("a2")], T0)
            claim_keys(store, T0)
            with store.transaction() as tx:
                tx.mark_dead("a1", "refused", T0)
            assert claim_keys(store, T0) == ["a2"]  # a2 in flight
            with store.transaction() as tx:
                tx.redrive(["a1"], T0)
            assert claim_keys(store, T0 + HOUR) == ["a1"]  # a2's expired lease does not jump ahead
            with store.transaction() as tx:
                tx.mark_delivered(["a2", "a1"], T0 + HOUR)
                assert tx.outbox_stats() == OutboxStats(pending=0, delivered=2, dead=0)

    def test_next_due_at_is_the_earliest_due_head(self) -> None:
        """``next_due_at`` is when the earliest pending head is due, ``None`` when none is."""
        with self.opened() as store, store.transaction() as tx:
            assert tx.next_due_at() is None
            tx.enqueue([make_note("a1"), make_note("a2")], T0 + HOUR)
            tx.enqueue([make_note("b1", "team-b")], T0 + 2 * HOUR)
            tx.enqueue([make_note("a3")], T0)  # behind a1: not a head, so not due first
            assert tx.next_due_at() == T0 + HOUR
            tx.mark_delivered(["a1"], T0)
            assert tx.next_due_at() == T0 + HOUR  # a2, enqueued at the same time
            tx.mark_delivered(["a2"], T0)
            assert tx.next_due_at() == T0
            tx.mark_dead("a3", "refused", T0)
            assert tx.next_due_at() == T0 + 2 * HOUR
            tx.mark_delivered(["b1"], T0)
            assert tx.next_due_at() is None

    def test_oldest_pending_at_is_the_earliest_creation_of_a_pending_notification(self) -> None:
        """``oldest_pending_at`` is the earliest ``created_at`` of a pending notification
        (compared as times, whatever their offsets), ``None`` when none is pending."""
        east = timezone(timedelta(hours=5))
        with self.opened() as store, store.transaction() as tx:
            assert tx.oldest_pending_at() is None
            late = attrs.evolve(make_note("a1"), created_at=T0 + HOUR)
            early = attrs.evolve(make_note("b1", "team-b"), created_at=T0.astimezone(east))
            tx.enqueue([late, early], T0 + HOUR)
            fanout = attrs.evolve(make_fanout(["T-1", "T-2"]), created_at=T0 + 2 * HOUR)
            tx.enqueue_fanout(fanout, T0 + 2 * HOUR)
            assert tx.oldest_pending_at() == T0
            tx.mark_delivered(["b1"], T0 + HOUR)
            assert tx.oldest_pending_at() == T0 + HOUR
            tx.mark_dead("a1", "refused", T0 + HOUR)
            assert tx.oldest_pending_at() == T0 + 2 * HOUR
            tx.mark_delivered([fanout.key_for("T-1"), fanout.key_for("T-2")], T0 + 2 * HOUR)
            assert tx.oldest_pending_at() is None
            tx.redrive(["a1"], T0 + 3 * HOUR)
            assert tx.oldest_pending_at() == T0 + HOUR

    def test_outbox_agrees_with_a_reference_model(self) -> None:
        """Any sequence of outbox calls leaves the store agreeing with a plain reference model."""

        class Machine(OutboxMachine):
            contract = self

        run_state_machine_as_test(
            Machine, settings=contract_settings(self.max_examples, MODEL_EXAMPLES)
        )
