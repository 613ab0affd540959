"""Fakes that implement the library's ports for tests."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from ..domain._checks import check_aware

__all__ = ["FakeClock"]


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
