"""A long-lived relay: delivers the outbox as it fills, waits when nothing is due.

:class:`RelayWorker` wraps the relay engine (``IncidentDesk.deliver``, one batch
at a time) with the waiting around it:

- while batches come, it delivers them back to back;
- when nothing is due it waits until the next pending entry is due, at most
  ``idle_seconds``; a store that can wake it (``PostgresStore``, which
  ``LISTEN``s for enqueues) ends the wait as soon as something is enqueued,
  by any process;
- a failed round (the store unreachable, say) is logged and retried after
  ``idle_seconds``: the worker outlives a database restart;
- :meth:`RelayWorker.stop` (the command line calls it on SIGTERM) lets the
  batch in flight finish and be recorded, then :meth:`RelayWorker.run` returns;
- with ``prune_after`` set, delivered entries older than that are pruned
  every ``prune_every_seconds`` (``Store.prune_delivered``).

Several workers may run against one PostgreSQL database: claims skip each
other's rows, so each entry goes to one relay at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Protocol

import attrs

from .desk import IncidentDesk
from .domain.checks import check_int, check_non_negative
from .domain.errors import IncidentLifecycleError, InvalidInput
from .logs import fields

__all__ = ["RelayTotals", "RelayWorker", "Waker"]

LOG = logging.getLogger(__name__)


class Waker(Protocol):
    """Ends a relay's idle wait early when something is enqueued (a store may offer one
    through a ``waker()`` method)."""

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; ``True`` if woken by an enqueue."""
        ...

    def close(self) -> None:
        """Release what the waker holds (a connection)."""
        ...


class _Sleeper:
    """The waker of a store that cannot tell: sleeps, unless the worker is stopped."""

    def __init__(self, stopping: threading.Event) -> None:
        self._stopping = stopping

    def wait(self, timeout: float) -> bool:
        self._stopping.wait(timeout)
        return False

    def close(self) -> None:
        return None


@attrs.define
class RelayTotals:
    """What a worker did since it started."""

    rounds: int = 0
    batches: int = 0
    delivered: int = 0
    retried: int = 0
    dead_lettered: int = 0
    failed_rounds: int = 0
    wakeups: int = 0
    pruned: int = 0


class RelayWorker:
    """Runs ``desk``'s relay until stopped (see the module docstring)."""

    def __init__(
        self,
        desk: IncidentDesk,
        *,
        batch_size: int = 100,
        idle_seconds: float = 5.0,
        prune_after: timedelta | None = None,
        prune_every_seconds: float = 3600.0,
    ) -> None:
        check_int("batch_size", batch_size, minimum=1)
        for name, value in (("idle_seconds", idle_seconds), ("prune_every", prune_every_seconds)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InvalidInput(name, "must be a number of seconds above zero")
        if prune_after is not None:
            check_non_negative("prune_after", prune_after)
        self.desk = desk
        self.batch_size = batch_size
        self.idle_seconds = float(idle_seconds)
        self.prune_after = prune_after
        self.prune_every_seconds = float(prune_every_seconds)
        self.totals = RelayTotals()
        self._stopping = threading.Event()
        self._last_prune = float("-inf")

    def stop(self) -> None:
        """Finish the batch in flight, then return from :meth:`run` (safe from a signal
        handler or another thread)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopping.is_set()

    def _waker(self) -> Waker:
        make = getattr(self.desk.store, "waker", None)
        if callable(make):
            try:
                waker: Waker = make()
                return waker
            except IncidentLifecycleError as error:
                LOG.warning(
                    "cannot listen for enqueues, polling: %s",
                    error,
                    extra=fields("worker_listen_failed", error=error),
                )
        return _Sleeper(self._stopping)

    def run(self, max_rounds: int | None = None) -> RelayTotals:
        """Deliver until :meth:`stop` (or ``max_rounds`` rounds); return the totals."""
        waker: Waker | None = None
        try:
            while not self.stopping and (max_rounds is None or self.totals.rounds < max_rounds):
                self.totals.rounds += 1
                wait = self._round()
                if wait <= 0 or self.stopping:
                    continue
                if waker is None:
                    waker = self._waker()
                if self._wait(waker, wait):
                    self.totals.wakeups += 1
        finally:
            if waker is not None:
                waker.close()
        return self.totals

    def _wait(self, waker: Waker, seconds: float) -> bool:
        """Wait in slices of at most a second, so a stop is seen promptly."""
        end = time.monotonic() + seconds
        while not self.stopping:
            left = end - time.monotonic()
            if left <= 0:
                return False
            try:
                if waker.wait(min(left, 1.0)):
                    return True
            except IncidentLifecycleError as error:
                LOG.warning(
                    "listening for enqueues failed, polling: %s",
                    error,
                    extra=fields("worker_listen_failed", error=error),
                )
                waker.close()
                self._stopping.wait(min(left, 1.0))
        return False

    def _round(self) -> float:
        """One batch (or a prune); how long to wait before the next round."""
        try:
            self._maybe_prune()
            report = self.desk.deliver(batch_size=self.batch_size, max_batches=1)
        except IncidentLifecycleError as error:
            self.totals.failed_rounds += 1
            LOG.warning(
                "relay round failed, retrying: %s",
                error,
                extra=fields("worker_round_failed", error=error),
            )
            return self.idle_seconds
        self.totals.batches += report.batches
        self.totals.delivered += report.delivered
        self.totals.retried += report.retried
        self.totals.dead_lettered += report.dead_lettered
        if report.attempted:
            return 0.0
        if report.next_due_at is None:
            return self.idle_seconds
        until = (report.next_due_at - self.desk.clock.now()).total_seconds()
        return min(self.idle_seconds, max(until, 0.01))

    def _maybe_prune(self) -> None:
        if self.prune_after is None:
            return
        now = time.monotonic()
        if now - self._last_prune < self.prune_every_seconds:
            return
        self._last_prune = now
        pruned = self.desk.prune_delivered(self.prune_after)
        self.totals.pruned += pruned
        if pruned:
            LOG.info(
                "pruned %d delivered notification(s)",
                pruned,
                extra=fields("worker_pruned", pruned=pruned),
            )
