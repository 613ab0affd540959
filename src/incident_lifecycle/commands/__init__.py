"""Commands as data: one frozen attrs class per use case.

Build a command and run it with ``IncidentDesk.handle(command)``; every desk
method that changes something is a short wrapper that does exactly that. A
command's fields are checked when it is built (``InvalidInput`` names the
field), its class-level ``op`` is its wire name (:data:`COMMANDS` maps each to
its class) and ``action`` the permission it needs. See ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .alerts import (
    ClearAlert,
    ClearAlerts,
    ClearOutcome,
    ClearReceipt,
    DetachAlert,
    ReceiveAlert,
    ReceiveAlerts,
)
from .base import (
    MONITORING_ACTOR,
    Command,
    Context,
    DeskConfig,
    Operation,
    Services,
    read,
    run,
    wants_status_page,
)
from .escalation import EscalationsDue, SendEscalations
from .incidents import (
    Acknowledge,
    ChangeSeverity,
    CloseIncident,
    DeclareIncident,
    DismissIncident,
    HandOff,
    MergeIncidents,
    PostUpdate,
    ReopenIncident,
    ResolveIncident,
    ValidateIncident,
)
from .intake import AlertOutcome, AlertReceipt, IntakeReport
from .messages import Messages
from .outbox import Deliver, PruneDelivered, RedriveDeadLetters
from .ownership import Own
from .queries import DeskQueries
from .reminders import SendUpdateReminders, UpdatesDue
from .reports import (
    REPORT_CLOCK_SKEW,
    AssessReport,
    LinkTicket,
    ResolveReport,
    TransferReport,
    TriageReport,
    TriageReports,
    TriageResult,
    UnlinkTicket,
)

__all__ = [
    "Acknowledge",
    "AlertOutcome",
    "AlertReceipt",
    "AssessReport",
    "COMMANDS",
    "ChangeSeverity",
    "ClearAlert",
    "ClearAlerts",
    "ClearOutcome",
    "ClearReceipt",
    "CloseIncident",
    "Command",
    "Context",
    "DeclareIncident",
    "Deliver",
    "DeskConfig",
    "DeskQueries",
    "DetachAlert",
    "DismissIncident",
    "EscalationsDue",
    "HandOff",
    "IntakeReport",
    "LinkTicket",
    "MONITORING_ACTOR",
    "MergeIncidents",
    "Messages",
    "Operation",
    "Own",
    "PostUpdate",
    "PruneDelivered",
    "REPORT_CLOCK_SKEW",
    "ReceiveAlert",
    "ReceiveAlerts",
    "RedriveDeadLetters",
    "ReopenIncident",
    "ResolveIncident",
    "ResolveReport",
    "SendEscalations",
    "SendUpdateReminders",
    "Services",
    "TransferReport",
    "TriageReport",
    "TriageReports",
    "TriageResult",
    "UnlinkTicket",
    "UpdatesDue",
    "ValidateIncident",
    "read",
    "run",
    "wants_status_page",
]

_ALL: tuple[type[Command[object]] | type[Operation[object]], ...] = (
    Own,
    ReceiveAlert,
    ReceiveAlerts,
    ClearAlert,
    ClearAlerts,
    Acknowledge,
    ValidateIncident,
    DismissIncident,
    DeclareIncident,
    PostUpdate,
    ChangeSeverity,
    HandOff,
    ResolveIncident,
    ReopenIncident,
    MergeIncidents,
    CloseIncident,
    DetachAlert,
    TriageReport,
    TriageReports,
    ResolveReport,
    TransferReport,
    LinkTicket,
    UnlinkTicket,
    SendUpdateReminders,
    SendEscalations,
    RedriveDeadLetters,
    Deliver,
)

COMMANDS: Mapping[str, type[Command[object]] | type[Operation[object]]] = MappingProxyType(
    {cls.op: cls for cls in _ALL}
)
"""Every command class by its wire name (``op``), in the order the docs list them."""
