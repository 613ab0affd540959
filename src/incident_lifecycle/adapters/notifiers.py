"""Notifiers that ship with the library: one that records, one that writes JSON Lines, and
one that routes each recipient kind to its own notifier."""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from ..delivery import read_answers
from ..domain.checks import check_enum, check_methods
from ..domain.errors import InvalidInput
from ..logs import fields
from ..notifications import DeliveryResult, Notification, RecipientKind, one_line
from ..ports import Notifier

__all__ = ["JsonLinesNotifier", "RecordingNotifier", "RoutingNotifier", "notification_to_dict"]

LOG = logging.getLogger(__name__)
"""A batch ``JsonLinesNotifier`` could not write (record ``jsonl_write_failed``)."""


def notification_to_dict(notification: Notification) -> dict[str, str | None]:
    """A notification as a JSON-ready dict (times in ISO 8601)."""
    return {
        "key": notification.key,
        "recipient": notification.recipient,
        "recipient_kind": notification.recipient_kind.value,
        "topic": notification.topic.value,
        "incident_id": notification.incident_id,
        "subject": notification.subject,
        "body": notification.body,
        "created_at": notification.created_at.isoformat(),
        "locale": notification.locale,
    }


class RecordingNotifier:
    """Delivers everything and keeps what it was sent, in order (thread-safe).

    ``sent`` holds every notification received, re-sends included;
    ``unique_keys`` the distinct keys, as a recipient honouring the
    idempotency key would see them.
    """

    def __init__(self) -> None:
        self.sent: list[Notification] = []
        self.batches = 0
        self._lock = threading.Lock()

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        """Record ``batch`` and report every notification delivered."""
        with self._lock:
            self.sent.extend(batch)
            self.batches += 1
        return [DeliveryResult.delivered(n.key) for n in batch]

    @property
    def unique_keys(self) -> set[str]:
        """Distinct idempotency keys received."""
        with self._lock:
            return {n.key for n in self.sent}

    def to(self, recipient: str) -> list[Notification]:
        """Everything sent to ``recipient``, in order, re-sends included."""
        with self._lock:
            return [n for n in self.sent if n.recipient == recipient]

    def clear(self) -> None:
        """Forget what was sent."""
        with self._lock:
            self.sent.clear()
            self.batches = 0


class JsonLinesNotifier:
    """Appends each notification as one JSON line to a file, and reports it delivered.

    Each batch is synced to disk before ``send`` returns. The file only ever
    holds whole lines: when a write fails (the disk is full, a size limit), what
    was written of the batch is cut off again and the batch is answered "retry"
    (logged as ``jsonl_write_failed``), and a line left torn by a crash in the
    middle of a write is cut off before the next batch is written.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        """Write ``batch`` to the file; every notification is delivered once written."""
        data = "".join(
            json.dumps(notification_to_dict(n), ensure_ascii=False, sort_keys=True) + "\n"
            for n in batch
        ).encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                start = _whole_lines(fd)
                try:
                    _write_all(fd, data)
                    os.fsync(fd)
                except OSError as error:
                    _cut(fd, start)
                    return self._failed(batch, error)
            finally:
                os.close(fd)
        return [DeliveryResult.delivered(n.key) for n in batch]

    def _failed(self, batch: Sequence[Notification], error: OSError) -> list[DeliveryResult]:
        text = f"could not write {self.path.name}: {error.strerror or error}"
        LOG.warning(
            "%s; what was written of the batch is cut off, it will be sent again",
            one_line(text),
            extra=fields("jsonl_write_failed", path=str(self.path), error=text),
        )
        return [DeliveryResult.retry(n.key, text) for n in batch]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _whole_lines(fd: int) -> int:
    """The file's size once a torn last line (a crash mid-write) is cut off."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    end = size
    while end > 0:
        begin = max(0, end - 65536)
        newline = os.pread(fd, end - begin, begin).rfind(b"\n")
        if newline >= 0:
            return _cut(fd, begin + newline + 1)
        end = begin
    return _cut(fd, 0)


def _cut(fd: int, size: int) -> int:
    """Truncate the file back to ``size`` bytes, synced; return ``size``."""
    os.ftruncate(fd, size)
    os.fsync(fd)
    return size


class RoutingNotifier:
    """Sends each recipient kind to its own notifier: tickets to the helpdesk, teams to the
    chat, the status page to its outlet.

    ``routes`` must name a notifier for every :class:`RecipientKind`: an unrouted kind is
    an ``InvalidInput`` naming ``routes`` here, at construction, not a dead letter at run
    time. A batch is split by kind, each part sent in order to its notifier; what one
    notifier raises (or leaves unanswered) is answered ``retry`` ("outcome unknown") for
    its part only. ``route()`` prefixes the kind to the inner notifier's route, so a
    throttle of the helpdesk never pauses the chat; ``group_batches`` is true when any
    inner notifier asks for grouped batches.
    """

    def __init__(self, routes: Mapping[RecipientKind | str, Notifier]) -> None:
        if not isinstance(routes, Mapping):
            raise InvalidInput("routes", "must map each recipient kind to a notifier")
        table: dict[RecipientKind, Notifier] = {}
        for kind, notifier in routes.items():
            member = check_enum("routes", RecipientKind, kind)
            check_methods("routes", notifier, "send")
            table[member] = notifier
        missing = [kind.value for kind in RecipientKind if kind not in table]
        if missing:
            raise InvalidInput("routes", f"no notifier for {', '.join(missing)}")
        self.routes: Mapping[RecipientKind, Notifier] = MappingProxyType(table)
        self.recipient_kinds = frozenset(table)
        """The kinds routed: all of them (a desk reads it: it tells the status page)."""
        self.group_batches = any(getattr(n, "group_batches", False) is True for n in table.values())

    def route(self, notification: Notification) -> str:
        """``kind:`` and the route the kind's notifier gives (if it has routes)."""
        inner = self.routes[notification.recipient_kind]
        route = getattr(inner, "route", None)
        return f"{notification.recipient_kind.value}:{route(notification) if route else ''}"

    def already_delivered(self, batch: Sequence[Notification]) -> list[str]:
        """The keys the kinds' notifiers (those that can tell) find delivered already."""
        found: list[str] = []
        for kind, part in self._split(batch).items():
            check = getattr(self.routes[kind], "already_delivered", None)
            if check is not None:
                found.extend(check(part))
        return found

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        """Send each kind's part of ``batch`` to its notifier; one answer per notification."""
        results: list[DeliveryResult] = []
        for kind, part in self._split(batch).items():
            notifier = self.routes[kind]
            answers = read_answers(part, functools.partial(notifier.send, part))
            results.extend(answers.results.values())
            for key, error in answers.unknown.items():
                results.append(DeliveryResult.retry(key, f"{kind.value} notifier: {error}"))
        return results

    def close(self) -> None:
        """Close every routed notifier that can be closed."""
        for notifier in self.routes.values():
            close = getattr(notifier, "close", None)
            if callable(close):
                close()

    @staticmethod
    def _split(batch: Sequence[Notification]) -> dict[RecipientKind, list[Notification]]:
        parts: dict[RecipientKind, list[Notification]] = {}
        for notification in batch:
            parts.setdefault(notification.recipient_kind, []).append(notification)
        return parts
