"""Remembering decoded alerts, so that a re-sent alert is not decoded again.

Alertmanager (and Grafana, which speaks its webhook) re-sends every alert of
a group each ``group_interval`` and on every retry: in a storm almost every
alert in a payload is, field for field, one the service decoded a few
minutes before. A :class:`SignalMemo` maps an alert's own JSON (its fields
and their JSON types, exactly) and what decoding depends on besides (the
mapping object, the group key) to the signal decoding made of it. A hit is
that signal, seen again at the new receive time
(:meth:`~incident_lifecycle.domain.alerts.AlertSignal.seen_again`): the same
value that decoding the alert again would give, without reading, mapping and
checking it again. Only alerts whose decoding dropped nothing are
remembered, so the dropped report of a payload is always complete.

The memo is bounded (the oldest entry goes first) and safe to share between
the threads of one server.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

from ..domain.alerts import AlertSignal
from ..domain.checks import check_int
from ..domain.errors import InvalidInput

__all__ = ["MAX_SIZE", "SignalMemo", "alert_key"]

MAX_SIZE = 10_000_000
"""The most alerts a memo may be asked to remember."""

_SCALARS = (str, int, float, bool, type(None))
_STRINGS = {str}


def _strict(value: object) -> Hashable:
    """A JSON scalar with its type (``1``, ``1.0`` and ``true`` are different JSON)."""
    if type(value) is str:
        return value
    if type(value) in _SCALARS:
        return (type(value).__name__, value)
    raise TypeError("not a JSON scalar")


def alert_key(raw: object, *context: Hashable) -> Hashable | None:
    """A key for one alert's JSON object and ``context``, or ``None`` if it has none.

    Scalars and objects of scalars take part with their JSON types (``"1"``,
    ``1``, ``1.0`` and ``true`` make different keys); an alert holding a list
    or deeper nesting has no key (it is decoded every time).
    """
    if type(raw) is not dict:
        return None
    parts: list[Hashable] = []
    try:
        for name, value in raw.items():
            kind = type(value)
            if kind is str:
                parts.append((name, value))
            elif kind is dict:
                if set(map(type, value.values())) <= _STRINGS:  # labels, annotations
                    parts.append((name, 0, tuple(value.items())))
                else:
                    parts.append((name, 1, tuple((k, _strict(v)) for k, v in value.items())))
            else:
                parts.append((name, 2, _strict(value)))
    except TypeError:
        return None
    return (context, tuple(parts))


class SignalMemo:
    """The signals decoded from the last ``size`` distinct alerts (see the module docstring).

    Args:
        size: how many alerts to remember (``0``: none; each is decoded every time).
            An entry holds the alert's strings and its signal, about 1-2 KB.

    Raises:
        InvalidInput: a size that is not an integer from 0 to 10,000,000.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = check_int("size", size, minimum=0)
        if size > MAX_SIZE:
            raise InvalidInput("size", f"must be at most {MAX_SIZE:,}")
        self._signals: dict[Hashable, tuple[Any, AlertSignal]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        """How many alerts were found here instead of decoded (for tests and metrics)."""

    def __len__(self) -> int:
        return len(self._signals)

    def get(self, key: Hashable, mapping: object) -> AlertSignal | None:
        """The signal remembered for ``key`` decoded with ``mapping`` (the same object)."""
        found = self._signals.get(key)
        if found is None or found[0] is not mapping:
            return None
        self.hits += 1
        return found[1]

    def put(self, key: Hashable, mapping: object, signal: AlertSignal) -> None:
        """Remember ``signal`` as what the alert of ``key`` decodes to with ``mapping``."""
        if not self.size:
            return
        with self._lock:
            if key not in self._signals and len(self._signals) >= self.size:
                del self._signals[next(iter(self._signals))]
            self._signals[key] = (mapping, signal)
