"""Fakes that implement the library's ports for tests."""

from __future__ import annotations

import random
import threading
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta

from ..adapters.notifiers import RecordingNotifier
from ..domain.checks import check_aware
from ..domain.errors import InvalidInput
from ..notifications import DeliveryResult, Notification
from ..ports import Notifier

__all__ = ["FakeClock", "FlakyNotifier", "SendThenRaiseError"]


class FakeClock:
    """A clock that stands still until a test moves it (thread-safe).

    >>> clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    >>> clock.advance(minutes=5).isoformat()
    '2026-01-01T00:05:00+00:00'
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = datetime(2026, 1, 1, tzinfo=UTC) if start is None else start
        self._now = check_aware("start", start).astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The current fake time (aware, UTC)."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move time forward by ``delta`` or by ``timedelta(**kwargs)``; return the new time."""
        step = delta if delta is not None else timedelta(**kwargs)
        if step < timedelta(0):
            raise ValueError("a FakeClock never goes back")
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (never backwards)."""
        when = check_aware("when", when).astimezone(UTC)
        with self._lock:
            if when < self._now:
                raise ValueError("a FakeClock never goes back")
            self._now = when


class SendThenRaiseError(ConnectionError):
    """Raised by :class:`FlakyNotifier` after it delivered a batch (an ambiguous failure)."""


class FlakyNotifier:
    """A notifier that fails some notifications, deterministically from ``seed``.

    Each notification sent is, in this order of checks:
    - answered "throttled" for ``throttle`` while that is set (an outlet
      answering 429 with that Retry-After);
    - answered "retry" if its recipient is in ``fail_recipients``;
    - rejected (permanent) if its recipient is in ``reject_recipients`` or if
      its key was drawn permanent (``permanent_rate``; a key drawn permanent
      stays so);
    - answered "retry" (transient) with probability ``failure_rate``, with
      ``retry_after`` if given;
    - otherwise delivered to ``inner`` (a :class:`RecordingNotifier` by default).
    After a "retry", the later notifications of that recipient in the batch are
    answered "retry" too, untried (the order contract of ``Notifier``).
    With probability ``ambiguous_rate`` a whole batch is delivered and then
    ``send`` raises :class:`SendThenRaiseError`, as a timeout after the side
    effect would.
    """

    def __init__(
        self,
        *,
        failure_rate: float = 0.0,
        permanent_rate: float = 0.0,
        ambiguous_rate: float = 0.0,
        reject_recipients: Collection[str] = (),
        fail_recipients: Collection[str] = (),
        retry_after: timedelta | None = None,
        throttle: timedelta | None = None,
        seed: int = 0,
        inner: Notifier | None = None,
    ) -> None:
        for name, rate in (
            ("failure_rate", failure_rate),
            ("permanent_rate", permanent_rate),
            ("ambiguous_rate", ambiguous_rate),
        ):
            if not 0.0 <= rate <= 1.0:
                raise InvalidInput(name, "must be between 0 and 1")
        self.failure_rate = failure_rate
        self.permanent_rate = permanent_rate
        self.ambiguous_rate = ambiguous_rate
        self.reject_recipients = frozenset(reject_recipients)
        self.fail_recipients = frozenset(fail_recipients)
        self.throttle = throttle
        self.retry_after = retry_after
        self.inner: Notifier = inner if inner is not None else RecordingNotifier()
        self.calls = 0
        self.attempts: dict[str, int] = {}
        self._permanent: dict[str, bool] = {}
        self._random = random.Random(seed)  # noqa: S311 - test fake, not cryptography
        self._lock = threading.Lock()

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        """Fail some of ``batch`` as configured; deliver the rest to ``inner``."""
        with self._lock:
            self.calls += 1
            results: dict[str, DeliveryResult] = {}
            passing: list[Notification] = []
            failed: set[str] = set()
            for notification in batch:
                key = notification.key
                if self.throttle is not None:
                    results[key] = DeliveryResult.throttled(key, self.throttle, "slow down")
                    continue
                if notification.recipient in failed:  # the order contract: hold what follows
                    results[key] = DeliveryResult.retry(key, "held behind an earlier message")
                    continue
                if notification.recipient in self.fail_recipients:
                    results[key] = DeliveryResult.retry(key, "recipient unavailable")
                    failed.add(notification.recipient)
                    continue
                self.attempts[key] = self.attempts.get(key, 0) + 1
                if key not in self._permanent:
                    self._permanent[key] = self._random.random() < self.permanent_rate
                if notification.recipient in self.reject_recipients or self._permanent[key]:
                    results[key] = DeliveryResult.rejected(key, "recipient refused it")
                elif self._random.random() < self.failure_rate:
                    results[key] = DeliveryResult.retry(
                        key, "temporarily unavailable", self.retry_after
                    )
                    failed.add(notification.recipient)
                else:
                    passing.append(notification)
            ambiguous = self._random.random() < self.ambiguous_rate
        for result in self.inner.send(passing) if passing else ():
            results[result.key] = result
        if ambiguous:
            raise SendThenRaiseError("the connection dropped after the batch was sent")
        return [results[n.key] for n in batch]
