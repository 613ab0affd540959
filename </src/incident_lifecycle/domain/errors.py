"""The exception hierarchy of the library.

Every error the library raises derives from :class:`IncidentLifecycleError`.
Leaves also subclass the natural built-in where there is one, so callers who
already catch ``ValueError`` or ``LookupError`` keep working.
"""

from __future__ import annotations

__all__ = [
    "ConcurrencyConflict",
    "DecodeError",
    "DeliveryError",
    "IncidentLifecycleError",
    "InvalidInput",
    "InvalidTransition",
    "NotFound",
    "NotPermitted",
    "StoreError",
]


class IncidentLifecycleError(Exception):
    """Root of every error raised by ``incident_lifecycle``."""


class InvalidInput(IncidentLifecycleError, ValueError):
    """A value was refused at construction; ``field`` names the offending field."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class NotFound(IncidentLifecycleError, LookupError):
    """No entity of ``kind`` has the key ``key``."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"No {kind} {key!r}.")


class InvalidTransition(IncidentLifecycleError):
    """An event is not allowed in the entity's current status.

    The entity is left exactly as it was.
    """

    def __init__(self, kind: str, entity_id: str, event: str, status: str) -> None:
        self.kind = kind
        self.entity_id = entity_id
        self.event = event
        self.status = status
        super().__init__(f"Can't {event} {kind} {entity_id} while {status}.")


class NotPermitted(IncidentLifecycleError):
    """The actor may not run this command; nothing was changed."""

    def __init__(self, actor: str, action: str, reason: str) -> None:
        self.actor = actor
        self.action = action
        self.reason = reason
        super().__init__(f"{actor} may not {action}: {reason}")


class ConcurrencyConflict(IncidentLifecycleError):
    """An aggregate was saved from a stale version; reload and retry."""

    def __init__(self, kind: str, entity_id: str, expected: int, actual: int | None) -> None:
        self.kind = kind
        self.entity_id = entity_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{kind} {entity_id} was changed concurrently "
            f"(saved from version {expected}, stored version is {actual})."
        )


class DeliveryError(IncidentLifecycleError):
    """A notifier broke its contract (for example, returned the wrong number of results)."""


class StoreError(IncidentLifecycleError):
    """A store adapter failed (the driver's own error is chained as ``__cause__``)."""


class DecodeError(StoreError, ValueError):
    """A stored row could not be decoded into a domain value (tampered or foreign data)."""
