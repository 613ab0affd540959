"""What every command of the command line shares: the store it opens, the desk over it.

``--db`` is a store URL (``adapters.urls``): ``sqlite:///path`` or a bare path
for SQLite, ``postgresql://...`` for PostgreSQL, ``memory:`` for a store that
lasts as long as the command. The ownership map the ``own`` replay lines set is
kept in the store itself (``SettingsStore``), on every kind.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path

from ..adapters.notifiers import JsonLinesNotifier
from ..adapters.urls import open_store, sqlite_path
from ..desk import IncidentDesk
from ..ports import Clock, SettingsStore, Store

__all__ = ["ReplayClock", "default_db", "open_desk", "open_store_of", "outbox_path"]

DEFAULT_OUTBOX = "incidents-outbox.jsonl"
"""Where notifications go by default when the store is not a SQLite file."""


class ReplayClock:
    """The system clock, or the replay's own time once a line has set it (never backwards)."""

    def __init__(self) -> None:
        self.fixed: datetime | None = None

    def now(self) -> datetime:
        """The replay's time if one was set, else the system's."""
        return self.fixed if self.fixed is not None else datetime.now(UTC)

    def set(self, when: datetime) -> None:
        """Move the replay's time to ``when`` (ignored if earlier)."""
        when = when.astimezone(UTC)
        if self.fixed is None or when > self.fixed:
            self.fixed = when


def default_db() -> str:
    """``$INCIDENT_LIFECYCLE_DB``, or ``incidents.db``."""
    return os.environ.get("INCIDENT_LIFECYCLE_DB", "incidents.db")


def outbox_path(db: str) -> Path:
    """The default JSON Lines outbox of a store: ``<file>-outbox.jsonl`` beside a SQLite
    file, :data:`DEFAULT_OUTBOX` for any other store."""
    path = sqlite_path(db)
    if path is None or path == ":memory:":
        return Path(DEFAULT_OUTBOX)
    file = Path(path)
    return file.with_name(file.stem + "-outbox.jsonl")


def open_store_of(args: argparse.Namespace) -> Store:
    """The store ``--db`` names (created only when the command says ``create``)."""
    return open_store(args.db, create=getattr(args, "create", False))


def open_desk(args: argparse.Namespace, clock: Clock | None = None) -> IncidentDesk:
    """A desk over ``--db``, with the ownership the store keeps, delivering to ``--outbox``
    (or the store's default JSON Lines file)."""
    store = open_store_of(args)
    ownership = (store.get_setting("ownership") if isinstance(store, SettingsStore) else None) or {}
    outbox = getattr(args, "outbox", None) or outbox_path(args.db)
    return IncidentDesk(
        store=store,
        notifier=JsonLinesNotifier(outbox),
        ownership=ownership,
        clock=clock or ReplayClock(),
    )
