"""The store contract's reference model of the outbox: a rule-based state machine running
the outbox methods on a store and on a plain model (private: see
:mod:`incident_lifecycle.testing.contracts`)."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from ..ports import OutboxState, OutboxStats
from ._contract_kit import (
    HOUR,
    HUGE_LIMITS,
    LIMITS,
    MICROSECOND,
    T0,
    StoreHarness,
    Write,
    make_fanout,
    make_note,
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

    @rule(limit=st.integers(0, 4) | HUGE_LIMITS, lease=st.integers(1, 300))
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

    @rule(limit=LIMITS)
    def read_dead_letters(self, limit: int | None) -> None:
        with self.store.transaction() as tx:
            dead = [e.key for e in tx.dead_letters(limit)]
        assert dead == self.dead_order[:limit]

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
