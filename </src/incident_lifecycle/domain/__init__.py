"""The pure core: entities, values, events and errors.

Imports only the standard library and attrs; does no I/O and never reads the
clock (every time is passed in).
"""

from .actors import Action, Actor, Role, check_permitted, is_permitted
from .alerts import Alert, AlertKind, AlertSignal, AlertStatus
from .errors import (
    ConcurrencyConflict,
    DecodeError,
    DeliveryError,
    IncidentLifecycleError,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPermitted,
    StoreError,
)
from .events import EVENT_TYPES, DomainEvent
from .incidents import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    Handoff,
    IncidentStatus,
    RemediationItem,
    Review,
    ServiceIncident,
    StatusUpdate,
    Visibility,
)
from .reports import Channel, CustomerReport, ReportStatus, Symptom, TriageOutcome
from .severity import DEFAULT_SCALE, SEV0, SEV1, SEV2, SEV3, SEV4, Severity, SeverityScale

__all__ = [
    "Action",
    "Actor",
    "Alert",
    "AlertKind",
    "AlertSignal",
    "AlertStatus",
    "Channel",
    "ConcurrencyConflict",
    "CustomerReport",
    "DEFAULT_SCALE",
    "DecodeError",
    "DeliveryError",
    "DomainEvent",
    "EVENT_TYPES",
    "FINAL_STATUSES",
    "Handoff",
    "IncidentLifecycleError",
    "IncidentStatus",
    "InvalidInput",
    "InvalidTransition",
    "NotFound",
    "NotPermitted",
    "OPEN_STATUSES",
    "RemediationItem",
    "ReportStatus",
    "Review",
    "Role",
    "SEV0",
    "SEV1",
    "SEV2",
    "SEV3",
    "SEV4",
    "ServiceIncident",
    "Severity",
    "SeverityScale",
    "StatusUpdate",
    "StoreError",
    "Symptom",
    "TriageOutcome",
    "Visibility",
    "check_permitted",
    "is_permitted",
]
