"""Contract test suites for adapters of the ports: subclass one, name it ``Test...``.

:class:`StoreContract` checks a :class:`~incident_lifecycle.ports.Store` and
:class:`NotifierContract` a :class:`~incident_lifecycle.ports.Notifier`
against every promise the ports' docstrings make. Both are plain classes, so
pytest collects nothing from them until a subclass with a ``Test`` name
implements the factory method::

    from incident_lifecycle.testing.contracts import StoreContract

    class TestPostgresStore(StoreContract):
        def make_store(self):
            return PostgresStore(dsn=DSN, schema=fresh_schema())

Every test builds its own, empty store (or notifier) through the factory --
once per example in the property-based ones -- and releases it with
:meth:`StoreContract.close_store` (:meth:`NotifierContract.close_notifier`),
which calls ``close()`` when the adapter has one: override it to drop a
schema or delete a file.

Entities are compared field by field (:func:`canonical`). A store may hand
datetimes back in another offset (SQLite and PostgreSQL return UTC) as long
as it keeps the instant to the microsecond.

Property-based tests run as many examples as the loaded hypothesis profile
asks for, without a deadline (a database round trip is slow). Two kinds are
capped at 50 examples: those that draw one entity of every status or event
type per example, and the model-based outbox test. A subclass may lower every
property's examples further with ``max_examples`` (a store that is slow to
make, say), never raise them above the profile.

This module needs the ``test`` extra (pytest and hypothesis); the package
``incident_lifecycle`` itself never imports it.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ..adapters.memory import InMemoryStore
from ..delivery import Relay, RetryPolicy
from ..notifications import DeliveryResult, DeliveryStatus, Notification
from ..ports import Notifier, OutboxState
from ._contract_kit import (
    MINUTE,
    T0,
    any_notifications,
    canonical,
    contract_settings,
    make_note,
)
from ._store_claims import ClaimChecks
from ._store_entities import EntityChecks
from ._store_outbox import OutboxChecks
from ._store_times import TimeChecks
from .fakes import FakeClock

__all__ = ["NotifierContract", "StoreContract", "canonical"]


class StoreContract(EntityChecks, OutboxChecks, ClaimChecks, TimeChecks):
    """Every promise of :class:`~incident_lifecycle.ports.Store` and ``StoreTransaction``.

    Subclass it as ``Test<YourStore>`` and implement :meth:`make_store`; override
    :meth:`close_store` to release what a store holds, and set ``max_examples`` to
    run fewer examples per property if a store is slow to make.
    """


# -- the notifier contract ------------------------------------------------------------------


class NotifierContract(abc.ABC):
    """Every promise of :class:`~incident_lifecycle.ports.Notifier`.

    Subclass it as ``Test<YourNotifier>`` and implement :meth:`make_notifier`.
    The notifier may deliver, retry or reject each notification: the contract
    checks the shape of its answers, not the verdicts.
    """

    max_examples: ClassVar[int | None] = None
    """At most this many examples per property-based test (``None``: as the profile says)."""

    @abc.abstractmethod
    def make_notifier(self) -> Notifier:
        """A new notifier (called once per test, and per example in property tests)."""

    def close_notifier(self, notifier: Notifier) -> None:
        """Release a notifier made by :meth:`make_notifier` (calls ``close()``, if any)."""
        close = getattr(notifier, "close", None)
        if callable(close):
            close()

    @contextmanager
    def opened(self) -> Iterator[Notifier]:
        """A notifier from :meth:`make_notifier`, closed when the block ends."""
        notifier = self.make_notifier()
        try:
            yield notifier
        finally:
            self.close_notifier(notifier)

    def notification(self, key: str, n: int) -> Notification:
        """A notification this notifier takes, keyed ``key``, to its ``n``-th recipient
        (default: a team hand-off to ``T-n``); override it for an outlet that takes only
        some kinds (a helpdesk: a ticket update)."""
        return make_note(key, f"T-{n}")

    def make_throttled_notifier(self) -> Notifier | None:
        """A notifier whose outlet answers "too many requests" (HTTP 429 with a Retry-After)
        to everything for now; ``None`` (the default) skips the throttling checks."""
        return None

    def make_failing_notifier(self, recipients: frozenset[str]) -> Notifier | None:
        """A notifier whose outlet fails, transiently (a 5xx, say), every message to one of
        ``recipients`` and accepts the others; ``None`` (the default) skips those checks."""
        return None

    def test_a_recipients_messages_keep_their_order(self) -> None:
        """Several messages to one recipient in a batch are answered by the order rule: none
        delivered after an earlier one of that recipient was not (rejections aside), and a
        throttled answer says how long to wait."""

        @contract_settings(self.max_examples)
        @given(st.lists(st.integers(0, 2), min_size=1, max_size=9))
        def check(recipients: list[int]) -> None:
            batch = [self.notification(f"INC-1/UPD-{n}/T-{r}", r) for n, r in enumerate(recipients)]
            with self.opened() as notifier:
                _check_answer(batch, notifier.send(batch))

        check()

    def test_routes_name_a_channel(self) -> None:
        """A notifier with ``route()`` answers a string for every notification."""
        with self.opened() as notifier:
            route = getattr(notifier, "route", None)
            if route is None:
                pytest.skip("this notifier has no routes: a throttle pauses all of it")
            for n in range(3):
                assert isinstance(route(self.notification(f"k{n}", n)), str)

    def test_a_throttled_outlet_is_answered_throttled(self) -> None:
        """When the outlet throttles, nothing is delivered or failed: every notification is
        answered throttled with a retry-after; a relay counts no attempt and dead-letters
        nothing, however often it is throttled."""
        notifier = self.make_throttled_notifier()
        if notifier is None:
            pytest.skip("make_throttled_notifier() is not implemented")
        batch = [self.notification(f"INC-1/UPD-{n}/T-{n % 2}", n % 2) for n in range(4)]
        try:
            results = list(notifier.send(batch))
            _check_answer(batch, results)
            assert {r.status for r in results} == {DeliveryStatus.THROTTLED}, results
            store = InMemoryStore()
            with store.transaction() as tx:
                tx.enqueue(batch, T0)
            clock = FakeClock(T0)
            relay = Relay(store, notifier, clock, RetryPolicy(max_attempts=1), seed=1)
            for _ in range(3):
                report = relay.deliver()
                assert (report.delivered, report.dead_lettered, report.retried) == (0, 0, 0)
                assert report.throttled + report.held == 4
                assert report.next_due_at is not None
                clock.set(report.next_due_at)
            with store.transaction() as tx:
                entries = [tx.outbox_entry(n.key) for n in batch]
            assert all(e is not None and e.attempts == 0 for e in entries)
        finally:
            self.close_notifier(notifier)

    def test_partial_failures_are_answered_one_by_one(self) -> None:
        """When the outlet fails some recipients, their messages are not delivered, the
        others are, and the relay delivers the rest in order once the outlet recovers."""
        failing = self.notification("probe", 1).recipient
        notifier = self.make_failing_notifier(frozenset({failing}))
        if notifier is None:
            pytest.skip("make_failing_notifier() is not implemented")
        batch = [self.notification(f"INC-1/UPD-{n}/T-{n % 3}", n % 3) for n in range(6)]
        try:
            results = {r.key: r for r in notifier.send(batch)}
            _check_answer(batch, list(results.values()))
            for n in batch:
                delivered = results[n.key].status is DeliveryStatus.DELIVERED
                assert delivered == (n.recipient != failing), results[n.key]
            store = InMemoryStore()
            with store.transaction() as tx:
                tx.enqueue(batch, T0)
            report = Relay(store, notifier, FakeClock(T0), seed=1).deliver()
            assert report.delivered == 4
            with store.transaction() as tx:
                left = [e for n in batch if (e := tx.outbox_entry(n.key)) is not None]
            pending = [e.key for e in left if e.state is OutboxState.PENDING]
            assert pending == [n.key for n in batch if n.recipient == failing]
        finally:
            self.close_notifier(notifier)

    def test_one_result_per_notification_with_its_key(self) -> None:
        """``send`` answers one ``DeliveryResult`` per notification, by key, in any order."""

        @contract_settings(self.max_examples)
        @given(st.lists(any_notifications(), min_size=1, max_size=8, unique_by=lambda n: n.key))
        def check(batch: list[Notification]) -> None:
            with self.opened() as notifier:
                _check_answer(batch, notifier.send(batch))

        check()

    def test_an_empty_batch_gets_no_results(self) -> None:
        """Sending an empty batch answers an empty sequence."""
        with self.opened() as notifier:
            assert list(notifier.send([])) == []

    def test_a_resent_key_is_accepted(self) -> None:
        """The same notifications sent again (delivery is at least once) get answers again."""
        batch = [self.notification(f"INC-1/UPD-{n}/T-{n}", n) for n in range(3)]
        with self.opened() as notifier:
            _check_answer(batch, notifier.send(batch))
            _check_answer(batch, notifier.send(batch))
            _check_answer(batch[1:], notifier.send(batch[1:]))

    def test_a_large_batch_to_one_recipient_is_answered_in_full(self) -> None:
        """A batch of a hundred notifications to one ticket gets a hundred answers."""
        batch = [
            Notification(
                key=f"INC-1/UPD-{n}/T-1",
                recipient="T-1",
                recipient_kind="ticket",
                topic="status_update",
                incident_id="INC-1",
                subject=f"Update {n}",
                body="We are still investigating.",
                created_at=T0 + n * MINUTE,
            )
            for n in range(100)
        ]
        with self.opened() as notifier:
            _check_answer(batch, notifier.send(batch))

    def test_a_relay_records_a_verdict_for_every_notification(self) -> None:
        """Draining an outbox through the notifier gives every notification a verdict."""
        store = InMemoryStore()
        notes = [self.notification(f"k-{n}", n % 4) for n in range(25)]  # 6 or 7 each
        with store.transaction() as tx:
            tx.enqueue(notes, T0)
        with self.opened() as notifier:
            relay = Relay(store, notifier, FakeClock(T0), RetryPolicy(max_attempts=2), seed=1)
            report = relay.deliver(batch_size=10)
        assert report.errors == ()  # every answer matched its batch
        assert report.attempted == (
            report.delivered
            + report.retried
            + report.dead_lettered
            + report.throttled
            + report.held
        )
        with store.transaction() as tx:
            entries = [e for note in notes if (e := tx.outbox_entry(note.key)) is not None]
        assert len(entries) == len(notes)
        for recipient in {note.recipient for note in notes}:  # a verdict up to the first pending
            queue = [e for e in entries if e.notification.recipient == recipient]
            waiting = [e for e in queue if e.state is OutboxState.PENDING]
            if waiting:
                assert waiting[0].attempts >= 1 or waiting[0].next_attempt_at > T0, waiting[0]
                assert all(e.state is OutboxState.PENDING for e in queue[queue.index(waiting[0]) :])


def _check_answer(batch: Sequence[Notification], answer: Sequence[DeliveryResult]) -> None:
    """The answer holds exactly one ``DeliveryResult`` per notification of ``batch``, keeps
    the order rule per recipient, and each throttled answer has a retry-after."""
    results = list(answer)
    assert all(isinstance(result, DeliveryResult) for result in results), results
    assert sorted(result.key for result in results) == sorted(n.key for n in batch)
    by_key = {result.key: result for result in results}
    stopped: set[str] = set()
    for n in batch:
        result = by_key[n.key]
        if result.status is DeliveryStatus.THROTTLED:
            assert result.retry_after is not None, result
        if n.recipient in stopped:
            assert result.status is not DeliveryStatus.DELIVERED, (
                f"{n.key} delivered after an earlier message to {n.recipient} was not"
            )
        if result.status in (DeliveryStatus.RETRY, DeliveryStatus.THROTTLED):
            stopped.add(n.recipient)
