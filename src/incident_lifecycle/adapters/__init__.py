"""Adapters for the ports: stores and notifiers that ship with the library.

``PostgresStore`` is loaded on first use, so importing this package never
needs the ``postgres`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .memory import InMemoryStore
from .notifiers import JsonLinesNotifier, RecordingNotifier
from .sqlite import SQLiteStore

if TYPE_CHECKING:
    from .postgres import PostgresStore

__all__ = [
    "InMemoryStore",
    "JsonLinesNotifier",
    "PostgresStore",
    "RecordingNotifier",
    "SQLiteStore",
]


def __getattr__(name: str) -> Any:
    if name == "PostgresStore":
        from .postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
