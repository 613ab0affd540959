"""What every input format shares: a payload in, commands and a report of what was dropped out.

A format is pure: it reads parsed JSON (``object``: dicts, lists, strings,
numbers, as ``json.loads`` gives them) and returns a :class:`Decoded`. It
stores nothing and reads no clock; the caller runs the commands
(``IncidentDesk.handle``). A payload it cannot read at all raises
:class:`FormatError` naming the field path (``alerts[3].labels.service``); a
part it can skip (one alert over a limit, a truncated list) is reported in
``Decoded.dropped`` and the rest is still decoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ..commands import Command
from ..domain.errors import InvalidInput

__all__ = ["Decoded", "Dropped", "FormatError"]


class FormatError(InvalidInput):
    """A payload that is not of its format; ``field`` is the path of the first bad field."""


@attrs.frozen(kw_only=True)
class Dropped:
    """A part of a payload that was not turned into a command, and why."""

    path: str
    """Where it was in the payload (``alerts[3]``)."""
    reason: str


@attrs.frozen(kw_only=True)
class Decoded:
    """What a payload became."""

    commands: tuple[Command[Any], ...]
    """The commands to run, in order (each one transaction)."""
    dropped: tuple[Dropped, ...] = ()
    """What was left out, each with its reason: never silently ignored."""
    facts: Mapping[str, object] = attrs.field(factory=dict)
    """What the source said about the payload as a whole (a group key, a dedup key for
    PagerDuty's answer, the number of truncated alerts), for the caller's answer and logs."""
