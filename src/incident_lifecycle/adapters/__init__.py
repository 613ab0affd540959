"""Adapters for the ports: stores and notifiers that ship with the library."""

from .memory import InMemoryStore
from .notifiers import JsonLinesNotifier, RecordingNotifier
from .sqlite import SQLiteStore

__all__ = ["InMemoryStore", "JsonLinesNotifier", "RecordingNotifier", "SQLiteStore"]
