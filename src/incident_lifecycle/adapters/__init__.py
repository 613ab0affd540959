"""Adapters for the ports: stores and notifiers that ship with the library.

The HTTP outlets (``ZendeskNotifier``, ``StatuspageNotifier``, ``SlackNotifier``) need
the ``http`` extra (httpx); they are imported on first use, so the rest works without it.
"""

from typing import TYPE_CHECKING, Any

from .memory import InMemoryStore
from .notifiers import JsonLinesNotifier, RecordingNotifier, RoutingNotifier
from .sqlite import SQLiteStore

__all__ = [
    "InMemoryStore",
    "JsonLinesNotifier",
    "RecordingNotifier",
    "RoutingNotifier",
    "SQLiteStore",
    "SlackNotifier",
    "StatuspageNotifier",
    "ZendeskNotifier",
]

_OUTLETS = {
    "SlackNotifier": "slack",
    "StatuspageNotifier": "statuspage",
    "ZendeskNotifier": "zendesk",
}

if TYPE_CHECKING:
    from .slack import SlackNotifier
    from .statuspage import StatuspageNotifier
    from .zendesk import ZendeskNotifier


def __getattr__(name: str) -> Any:
    """The HTTP outlets, imported on first use."""
    module = _OUTLETS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)
