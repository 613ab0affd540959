"""Adapters for the ports: stores and notifiers that ship with the library."""

from .memory import InMemoryStore
from .notifiers import JsonLinesNotifier, RecordingNotifier, RoutingNotifier
from .sqlite import SQLiteStore

__all__ = [
    "InMemoryStore",
    "JsonLinesNotifier",
    "RecordingNotifier",
    "RoutingNotifier",
    "SQLiteStore",
]
