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

from hypothesis import given
from hypothesis import strategies as st

from ..adapters.memory import InMemoryStore
from ..delivery import Relay, RetryPolicy
from ..notifications import DeliveryResult, Notification
from ..ports import Notifier
from ._contract_kit import (
    MINUTE,
    T0,
    any_notifications,
    canonical,
    contract_settings,
    make_note,
)
from ._store_entities import EntityChecks
from ._store_outbox import OutboxChecks
from ._store_retention import RetentionChecks
from ._store_times import TimeChecks
from .fakes import FakeClock

__all__ = ["NotifierContract", "StoreContract", "canonical"]


class StoreContract(EntityChecks, OutboxChecks, RetentionChecks, TimeChecks):
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
        batch = [make_note(f"INC-1/UPD-{n}/T-{n}", f"T-{n}") for n in range(3)]
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
        notes = [make_note(f"k-{n}", f"team-{n % 4}") for n in range(25)]
        with store.transaction() as tx:
            tx.enqueue(notes, T0)
        with self.opened() as notifier:
            relay = Relay(store, notifier, FakeClock(T0), RetryPolicy(max_attempts=2), seed=1)
            report = relay.deliver(batch_size=10)
        assert report.errors == ()  # every answer matched its batch
        assert report.attempted == report.delivered + report.retried + report.dead_lettered
        with store.transaction() as tx:
            entries = [tx.outbox_entry(note.key) for note in notes]
        assert all(entry is not None and entry.attempts >= 1 for entry in entries)


def _check_answer(batch: Sequence[Notification], answer: Sequence[DeliveryResult]) -> None:
    """The answer holds exactly one ``DeliveryResult`` per notification of ``batch``."""
    results = list(answer)
    assert all(isinstance(result, DeliveryResult) for result in results), results
    assert sorted(result.key for result in results) == sorted(n.key for n in batch)
