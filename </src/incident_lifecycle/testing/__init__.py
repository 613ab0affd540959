"""Tools for testing code that uses ``incident_lifecycle`` (and for our own suite).

``strategies`` holds hypothesis strategies; it needs the ``test`` extra.
"""

from .fakes import FakeClock, FlakyNotifier, SendThenRaiseError

__all__ = ["FakeClock", "FlakyNotifier", "SendThenRaiseError"]
