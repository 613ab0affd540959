"""Log records: a logger per module, one line per record, each named, with its fields.

Every module that logs does it on ``logging.getLogger(__name__)`` (so
``incident_lifecycle.delivery``, ``incident_lifecycle.web.app``, ...), and the
package's logger ``incident_lifecycle`` holds a ``logging.NullHandler``: nothing
is printed unless the application configures logging. A record's message is one
line: text that came from a user, a payload or a notifier is neutralised
(control characters, line breaks, bidirectional marks; capped in length). Each
record also carries its name as the attribute ``event`` and its fields as
attributes of their own (``record.key``, ``record.attempts``), for handlers that
write structured logs; ``docs/observability.md`` lists every record.

>>> import logging
>>> record = logging.makeLogRecord(fields("notification_dead_lettered", key="INC-1/x\\nforged"))
>>> record.event, record.key
('notification_dead_lettered', 'INC-1/x forged')
"""

from __future__ import annotations

from .notifications import one_line

__all__ = ["EVENT", "FIELD_MAX", "fields"]

EVENT = "event"
"""The record attribute that names it (``notification_dead_lettered``, ``http_request``, ...)."""

FIELD_MAX = 300
"""A text field of a record is at most this long (cut with an ellipsis)."""


def fields(event: str, **values: object) -> dict[str, object]:
    """The ``extra`` of a record named ``event``: its fields, text neutralised to one line.

    Numbers, booleans and ``None`` are kept as they are; anything else becomes one
    neutralised line of at most :data:`FIELD_MAX` characters.
    """
    out: dict[str, object] = {EVENT: event}
    for name, value in values.items():
        plain = value is None or isinstance(value, bool | int | float)
        out[name] = value if plain else one_line(value, FIELD_MAX)
    return out
