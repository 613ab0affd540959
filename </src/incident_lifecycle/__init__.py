"""incident_lifecycle: the life of a service incident, as a library.

From the first signal (a monitoring alert or a customer's report) to
validation, an open incident with a severity, status updates to every linked
ticket, resolution and the post-incident review.

Everything listed in ``__all__`` is the public API; other names may change.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from .domain import (
    DEFAULT_SCALE,
    EVENT_TYPES,
    FINAL_STATUSES,
    OPEN_STATUSES,
    SEV0,
    SEV1,
    SEV2,
    SEV3,
    SEV4,
    Action,
    Actor,
    Alert,
    AlertKind,
    AlertSignal,
    AlertStatus,
    Channel,
    ConcurrencyConflict,
    CustomerReport,
    DecodeError,
    DeliveryError,
    DomainEvent,
    Handoff,
    IncidentLifecycleError,
    IncidentStatus,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPermitted,
    RemediationItem,
    ReportStatus,
    Review,
    Role,
    ServiceIncident,
    Severity,
    SeverityScale,
    StatusUpdate,
    StoreError,
    Symptom,
    TriageOutcome,
    Visibility,
    check_permitted,
    events,
    is_permitted,
)

if TYPE_CHECKING:
    from .lifecycle import (
        ALERT_LIFECYCLE,
        INCIDENT_LIFECYCLE,
        REPORT_LIFECYCLE,
        AlertLifecycle,
        IncidentLifecycle,
        Lifecycle,
        ReportLifecycle,
        Transition,
    )

# Names loaded on first use, so that importing the pure domain
# (``incident_lifecycle.domain``) never pulls in the engine or the adapters.
_LAZY = {
    "ALERT_LIFECYCLE": "lifecycle",
    "INCIDENT_LIFECYCLE": "lifecycle",
    "REPORT_LIFECYCLE": "lifecycle",
    "AlertLifecycle": "lifecycle",
    "IncidentLifecycle": "lifecycle",
    "Lifecycle": "lifecycle",
    "ReportLifecycle": "lifecycle",
    "Transition": "lifecycle",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'incident_lifecycle' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


try:
    __version__ = version("incident-lifecycle")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "ALERT_LIFECYCLE",
    "Action",
    "Actor",
    "Alert",
    "AlertKind",
    "AlertLifecycle",
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
    "INCIDENT_LIFECYCLE",
    "IncidentLifecycle",
    "IncidentLifecycleError",
    "IncidentStatus",
    "InvalidInput",
    "InvalidTransition",
    "Lifecycle",
    "NotFound",
    "NotPermitted",
    "OPEN_STATUSES",
    "REPORT_LIFECYCLE",
    "RemediationItem",
    "ReportLifecycle",
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
    "Transition",
    "TriageOutcome",
    "Visibility",
    "__version__",
    "check_permitted",
    "events",
    "is_permitted",
]
