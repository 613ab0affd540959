"""Adapters for the ports: stores and notifiers that ship with the library.

``PostgresStore`` needs the ``postgres`` extra (psycopg 3, psycopg_pool), and the HTTP
outlets (``ZendeskNotifier``, ``StatuspageNotifier``, ``SlackNotifier``) the ``http``
extra (httpx); they are imported on first use, so the rest works without them.
"""

from typing import TYPE_CHECKING, Any

from .memory import InMemoryStore
from .notifiers import JsonLinesNotifier, RecordingNotifier, RoutingNotifier
from .sqlite import SQLiteStore

__all__ = [
    "InMemoryStore",
    "JsonLinesNotifier",
    "PostgresStore",
    "RecordingNotifier",
    "RoutingNotifier",
    "SQLiteStore",
    "SlackNotifier",
    "StatuspageNotifier",
    "ZendeskNotifier",
]

_LAZY = {
    "PostgresStore": "postgres",
    "SlackNotifier": "slack",
    "StatuspageNotifier": "statuspage",
    "ZendeskNotifier": "zendesk",
}

if TYPE_CHECKING:
    from .postgres import PostgresStore
    from .slack import SlackNotifier
    from .statuspage import StatuspageNotifier
    from .zendesk import ZendeskNotifier


def __getattr__(name: str) -> Any:
    """``PostgresStore`` and the HTTP outlets, imported on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)
