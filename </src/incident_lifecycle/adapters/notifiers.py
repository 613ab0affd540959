"""Notifiers that ship with the library: one that records, one that writes JSON Lines."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from ..notifications import DeliveryResult, Notification

__all__ = ["JsonLinesNotifier", "RecordingNotifier", "notification_to_dict"]


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

    Each batch is flushed and synced to disk before ``send`` returns.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        """Write ``batch`` to the file; every notification is delivered once written."""
        lines = "".join(
            json.dumps(notification_to_dict(n), ensure_ascii=False, sort_keys=True) + "\n"
            for n in batch
        )
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
        return [DeliveryResult.delivered(n.key) for n in batch]
