"""The store contract's checks of the outbox: enqueueing, claiming, leases, retries, dead
letters, redrive, against examples and a reference model (private: see
:mod:`incident_lifecycle.testing.contracts`)."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ..notifications import FanOut, Notification
from ..ports import OutboxState, OutboxStats, StoreTransaction
from . import strategies as ils
from ._contract_kit import (
    HOUR,
    MICROSECOND,
    MINUTE,
    MODEL_EXAMPLES,
    T0,
    StoreHarness,
    Write,
    any_fanouts,
    any_notifications,
    canonical,
    claim_keys,
    contract_settings,
    entry_view,
    make_fanout,
    make_note,
    outbox_view,
    rolled_back,
)

# -- the outbox against a reference model ----------------------------------------------------

RECIPIENTS = ("team-a", "team-b", "team-c")


@attrs.define
class ModelEntry:
    key: str
    recipient: str
    order: int
    next_at: datetime
    state: OutboxState = OutboxState.PENDING
    attempts: int = 0
    claim: str | None = None
    error: str = ""


class OutboxMachine(RuleBasedStateMachine):
    """Runs the outbox methods on a store and on a plain model, and compares them after each step.

    Time only moves forward, by at least a microsecond per step, so that
    dead letters are never dead-lettered at the same instant.
    """

    contract: StoreHarness

    def __init__(self) -> None:
        super().__init__()
        self.store = self.contract.make_store()
        self.now = T0
        self.model: dict[str, ModelEntry] = {}
        self.dead_order: list[str] = []
        self.claims = 0

    def teardown(self) -> None:
        self.contract.close_store(self.store)

    def _tick(self) -> datetime:
        self.now += MICROSECOND
        return self.now

    def _heads(self) -> list[ModelEntry]:
        heads: dict[str, ModelEntry] = {}
        for entry in self.model.values():
            if entry.state is OutboxState.PENDING:
                best = heads.get(entry.recipient)
                if best is None or entry.order < best.order:
                    heads[entry.recipient] = entry
        return sorted(heads.values(), key=lambda e: (e.next_at, e.order))

    def _finish(self, key: str, state: OutboxState, error: str) -> None:
        entry = self.model.get(key)
        if entry is not None and entry.state is OutboxState.PENDING:
            entry.state, entry.claim, entry.error = state, None, error
            if state is OutboxState.DEAD:
                self.dead_order.append(key)

    @rule(recipient=st.sampled_from(RECIPIENTS), count=st.integers(1, 3), repeat=st.booleans())
    def enqueue(self, recipient: str, count: int, repeat: bool) -> None:
        now = self._tick()
        fresh = [f"k{len(self.model) + n}" for n in range(count)]
        notes = [make_note(key, recipient) for key in fresh]
        if repeat:
            notes.append(
                notes[0] if not self.model else make_note(sorted(self.model)[0], recipient)
            )
        with self.store.transaction() as tx:
            added = tx.enqueue(notes, now)
        assert added == count
        for key in fresh:
            self.model[key] = ModelEntry(key, recipient, len(self.model), next_at=now)

    @rule(limit=st.integers(1, 4), lease=st.integers(1, 300))
    def claim_due(self, limit: int, lease: int) -> None:
        now = self._tick()
        until = now + timedelta(seconds=lease)
        self.claims += 1
        token = f"relay-{self.claims}"
        with self.store.transaction() as tx:
            claimed = tx.claim_due(now, limit, until, token)
        expected = [e for e in self._heads() if e.next_at <= now][:limit]
        assert [e.key for e in claimed] == [e.key for e in expected]
        for entry in expected:
            entry.attempts += 1
            entry.next_at, entry.claim = until, token

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def mark_delivered(self, data: st.DataObject) -> None:
        keys = data.draw(st.lists(st.sampled_from(sorted(self.model)), max_size=3))
        now = self._tick()
        with self.store.transaction() as tx:
            tx.mark_delivered([*keys, "unknown"], now)
        for key in keys:
            self._finish(key, OutboxState.DELIVERED, "")

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), delay=st.integers(0, 600))
    def schedule_retry(self, data: st.DataObject, delay: int) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        now = self._tick()
        when = now + timedelta(seconds=delay)
        with self.store.transaction() as tx:
            tx.schedule_retry(key, when, f"busy {delay}", now)
        entry = self.model[key]
        if entry.state is OutboxState.PENDING:
            entry.next_at, entry.claim, entry.error = when, None, f"busy {delay}"

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def mark_dead(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        now = self._tick()
        with self.store.transaction() as tx:
            tx.mark_dead(key, "refused", now)
        self._finish(key, OutboxState.DEAD, "refused")

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def redrive(self, data: st.DataObject) -> None:
        keys = data.draw(st.lists(st.sampled_from(sorted(self.model)), max_size=3, unique=True))
        now = self._tick()
        with self.store.transaction() as tx:
            count = tx.redrive([*keys, "unknown"], now)
        dead = [key for key in keys if self.model[key].state is OutboxState.DEAD]
        assert count == len(dead)
        for key in dead:
            entry = self.model[key]
            entry.state, entry.attempts, entry.next_at, entry.claim = (
                OutboxState.PENDING,
                0,
                now,
                None,
            )
            self.dead_order.remove(key)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def rolled_back_work(self, data: st.DataObject) -> None:
        """Any mix of outbox calls in a transaction that raises changes nothing."""
        keys = data.draw(st.lists(st.sampled_from(sorted(self.model)), min_size=1, max_size=3))
        now, later = self.now, self.now + HOUR
        steps: list[Write] = [
            lambda tx: tx.enqueue([make_note("k-rolled-back", "team-a")], now),
            lambda tx: tx.enqueue_fanout(make_fanout(["T-rolled-back"], "rolled-back"), now),
            lambda tx: tx.claim_due(later, 10, later + HOUR, "other"),
            lambda tx: tx.mark_delivered(keys[:1], now),
            lambda tx: tx.mark_dead(keys[-1], "x", now),
            lambda tx: tx.redrive(keys, now),
            lambda tx: tx.schedule_retry(keys[0], later, "x", now),
            lambda tx: tx.next_due_at(),
        ]
        rolled_back(self.store, *data.draw(st.lists(st.sampled_from(steps), max_size=10)))

    @rule(seconds=st.sampled_from([1, 30, 60, 120, 301, 900]))
    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @invariant()
    def agrees_with_the_model(self) -> None:
        with self.store.transaction() as tx:
            stats = tx.outbox_stats()
            entries = {key: tx.outbox_entry(key) for key in self.model}
            dead = [e.key for e in tx.dead_letters()]
            first_dead = [e.key for e in tx.dead_letters(limit=1)]
            next_due = tx.next_due_at()
            assert tx.outbox_entry("k-rolled-back") is None
            assert tx.outbox_entry("rolled-back/T-rolled-back") is None
        counts = dict.fromkeys(OutboxState, 0)
        for expected in self.model.values():
            counts[expected.state] += 1
        assert stats == OutboxStats(
            pending=counts[OutboxState.PENDING],
            delivered=counts[OutboxState.DELIVERED],
            dead=counts[OutboxState.DEAD],
        )
        seqs = []
        for key, expected in self.model.items():
            found = entries[key]
            assert found is not None
            assert found.key == key
            assert (found.state, found.attempts, found.notification.recipient) == (
                expected.state,
                expected.attempts,
                expected.recipient,
            )
            assert found.last_error == expected.error
            if expected.state is OutboxState.PENDING:
                assert (found.next_attempt_at, found.claim) == (expected.next_at, expected.claim)
            else:
                assert found.claim is None
            seqs.append(found.seq)
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
        assert dead == self.dead_order
        assert first_dead == self.dead_order[:1]
        heads = self._heads()
        assert next_due == (min(e.next_at for e in heads) if heads else None)


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

    def test_outbox_agrees_with_a_reference_model(self) -> None:
        """Any sequence of outbox calls leaves the store agreeing with a plain reference model."""

        class Machine(OutboxMachine):
            contract = self

        run_state_machine_as_test(
            Machine, settings=contract_settings(self.max_examples, MODEL_EXAMPLES)
        )
