"""incident_lifecycle: the life of a service incident, as a library.

From the first signal (a monitoring alert or a customer's report) to
validation, an open incident with a severity, status updates to every linked
ticket, resolution and the post-incident review.

Everything listed in ``__all__`` is the public API; other names may change.
"""

import logging
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
    from .adapters.memory import (
        InMemoryStore,
    )
    from .adapters.notifiers import (
        JsonLinesNotifier,
        RecordingNotifier,
        RoutingNotifier,
    )
    from .adapters.postgres import (
        PostgresStore,
    )
    from .adapters.sqlite import (
        SQLiteStore,
    )
    from .cadence import (
        UpdateDue,
    )
    from .commands import (
        COMMANDS,
        MONITORING_ACTOR,
        REPORT_CLOCK_SKEW,
        ClearOutcome,
        ClearReceipt,
        Command,
        TriageResult,
    )
    from .commands.intake import (
        AlertOutcome,
        AlertReceipt,
        IntakeReport,
    )
    from .delivery import (
        DeliveryReport,
        Relay,
        RetryPolicy,
    )
    from .desk import (
        IncidentDesk,
    )
    from .escalation import (
        DEFAULT_ESCALATION_DELAY,
        EscalationDue,
        EscalationPolicy,
    )
    from .grouping import (
        DEFAULT_GROUPING,
        GroupingPolicy,
    )
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
    from .metrics import (
        DurationStats,
        Metrics,
    )
    from .notifications import (
        DEFAULT_TEMPLATES,
        DeliveryResult,
        DeliveryStatus,
        FanOut,
        MessageTemplate,
        Notification,
        RecipientKind,
        StatusPageUpdate,
        Templates,
        Topic,
    )
    from .ports import (
        Clock,
        Notifier,
        OutboxEntry,
        OutboxState,
        OutboxStats,
        Store,
        StoreTransaction,
        SystemClock,
    )
    from .triage import (
        DefaultTriagePolicy,
        TriageDecision,
        TriagePolicy,
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
    "AlertOutcome": "commands",
    "AlertReceipt": "commands",
    "COMMANDS": "commands",
    "ClearOutcome": "commands",
    "ClearReceipt": "commands",
    "Command": "commands",
    "Clock": "ports",
    "DEFAULT_GROUPING": "grouping",
    "DEFAULT_TEMPLATES": "notifications",
    "DEFAULT_ESCALATION_DELAY": "escalation",
    "DefaultTriagePolicy": "triage",
    "EscalationDue": "escalation",
    "EscalationPolicy": "escalation",
    "DeliveryReport": "delivery",
    "DeliveryResult": "notifications",
    "DeliveryStatus": "notifications",
    "DurationStats": "metrics",
    "FanOut": "notifications",
    "GroupingPolicy": "grouping",
    "InMemoryStore": "adapters.memory",
    "IncidentDesk": "desk",
    "IntakeReport": "commands",
    "JsonLinesNotifier": "adapters.notifiers",
    "MONITORING_ACTOR": "commands",
    "REPORT_CLOCK_SKEW": "commands",
    "MessageTemplate": "notifications",
    "Metrics": "metrics",
    "Notification": "notifications",
    "Notifier": "ports",
    "OutboxEntry": "ports",
    "OutboxState": "ports",
    "OutboxStats": "ports",
    "PostgresStore": "adapters.postgres",
    "RecipientKind": "notifications",
    "RecordingNotifier": "adapters.notifiers",
    "RoutingNotifier": "adapters.notifiers",
    "Relay": "delivery",
    "RetryPolicy": "delivery",
    "SQLiteStore": "adapters.sqlite",
    "StatusPageUpdate": "notifications",
    "Store": "ports",
    "StoreTransaction": "ports",
    "SystemClock": "ports",
    "Templates": "notifications",
    "Topic": "notifications",
    "TriageDecision": "triage",
    "TriagePolicy": "triage",
    "TriageResult": "commands",
    "UpdateDue": "cadence",
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


# The library logs and configures nothing: without the application's handlers, nothing
# is printed (see ``incident_lifecycle.logs``).
logging.getLogger(__name__).addHandler(logging.NullHandler())

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
    "AlertOutcome",
    "AlertReceipt",
    "AlertSignal",
    "AlertStatus",
    "COMMANDS",
    "Channel",
    "ClearOutcome",
    "ClearReceipt",
    "Clock",
    "Command",
    "ConcurrencyConflict",
    "CustomerReport",
    "DEFAULT_ESCALATION_DELAY",
    "DEFAULT_GROUPING",
    "DEFAULT_SCALE",
    "DEFAULT_TEMPLATES",
    "DecodeError",
    "DefaultTriagePolicy",
    "DeliveryError",
    "DeliveryReport",
    "DeliveryResult",
    "DeliveryStatus",
    "DomainEvent",
    "DurationStats",
    "EVENT_TYPES",
    "EscalationDue",
    "EscalationPolicy",
    "FINAL_STATUSES",
    "FanOut",
    "GroupingPolicy",
    "Handoff",
    "INCIDENT_LIFECYCLE",
    "InMemoryStore",
    "IncidentDesk",
    "IncidentLifecycle",
    "IncidentLifecycleError",
    "IncidentStatus",
    "IntakeReport",
    "InvalidInput",
    "InvalidTransition",
    "JsonLinesNotifier",
    "Lifecycle",
    "MONITORING_ACTOR",
    "MessageTemplate",
    "Metrics",
    "NotFound",
    "NotPermitted",
    "Notification",
    "Notifier",
    "OPEN_STATUSES",
    "OutboxEntry",
    "OutboxState",
    "OutboxStats",
    "PostgresStore",
    "REPORT_CLOCK_SKEW",
    "REPORT_LIFECYCLE",
    "RecipientKind",
    "RecordingNotifier",
    "Relay",
    "RemediationItem",
    "ReportLifecycle",
    "ReportStatus",
    "RetryPolicy",
    "Review",
    "Role",
    "RoutingNotifier",
    "SEV0",
    "SEV1",
    "SEV2",
    "SEV3",
    "SEV4",
    "SQLiteStore",
    "ServiceIncident",
    "Severity",
    "SeverityScale",
    "StatusPageUpdate",
    "StatusUpdate",
    "Store",
    "StoreError",
    "StoreTransaction",
    "Symptom",
    "SystemClock",
    "Templates",
    "Topic",
    "Transition",
    "TriageDecision",
    "TriageOutcome",
    "TriagePolicy",
    "TriageResult",
    "UpdateDue",
    "Visibility",
    "__version__",
    "check_permitted",
    "events",
    "is_permitted",
]
