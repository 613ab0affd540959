"""The service's JSON: a customer report in, decisions, receipts and incidents out.

Incoming fields are checked one by one and a wrong one is a 400 problem
naming its path; outgoing entities use :func:`incident_lifecycle.codec.encode`
(tagged with their kind and format version), so the service answers what
the command line's ``--json`` prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from ..codec import encode
from ..commands import AlertOutcome, ClearReceipt, IntakeReport, TriageResult
from ..domain.alerts import Alert
from ..domain.errors import InvalidInput
from ..domain.events import DomainEvent
from ..domain.incidents import ServiceIncident, StatusUpdate
from ..domain.reports import CustomerReport
from ..formats.base import Decoded
from ..triage import TriageDecision
from .problems import Problem

__all__ = [
    "REPORT_FIELDS",
    "decision_json",
    "decode_report",
    "incident_json",
    "intake_json",
    "triage_json",
]

REPORT_FIELDS: Mapping[str, tuple[type, bool]] = {
    "ticket_id": (str, True),
    "account_id": (str, True),
    "product": (str, True),
    "symptom": (str, True),
    "summary": (str, True),
    "reported_at": (datetime, True),
    "region": (str, False),
    "channel": (str, False),
    "locale": (str, False),
}
"""The fields of ``POST /v1/reports``: name -> (type, required)."""


def _invalid(field: str, detail: str) -> Problem:
    return Problem(kind="invalid-payload", detail=detail, field=field)


def _report_value(name: str, kind: type, raw: object) -> object:
    if not isinstance(raw, str):
        raise _invalid(name, f"must be a string, not {_json_type(raw)}")
    if kind is datetime:
        try:
            when = datetime.fromisoformat(raw)
        except ValueError:
            raise _invalid(name, "must be an ISO 8601 time such as 2026-06-01T09:30:00Z") from None
        if when.tzinfo is None:
            raise _invalid(name, "must carry an offset (Z or +02:00)")
        return when
    return raw


def decode_report(payload: object) -> CustomerReport:
    """A received :class:`CustomerReport` from the body of ``POST /v1/reports``."""
    if not isinstance(payload, dict):
        raise _invalid("", f"the body must be a JSON object, not {_json_type(payload)}")
    for name in payload:
        if name not in REPORT_FIELDS:
            raise _invalid(str(name)[:64], "unknown field")
    values: dict[str, Any] = {}
    for name, (kind, required) in REPORT_FIELDS.items():
        raw = payload.get(name)
        if raw is None:
            if required:
                raise _invalid(name, "missing" if name not in payload else "must not be null")
            continue
        values[name] = _report_value(name, kind, raw)
    try:
        return CustomerReport(**values)
    except InvalidInput as error:
        raise _invalid(error.field, error.reason) from None


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def decision_json(decision: TriageDecision) -> dict[str, object]:
    """A triage decision: outcome, incident, severity, score and reasons."""
    return {
        "outcome": decision.outcome.value,
        "incident_id": decision.incident_id,
        "severity": decision.severity,
        "score": decision.score,
        "reasons": list(decision.reasons),
    }


def triage_json(result: TriageResult) -> dict[str, object]:
    """What triaging a report did (``applied`` false: the ticket was triaged before)."""
    return {
        "ticket_id": result.report.ticket_id,
        "applied": result.applied,
        "incident_id": result.incident_id,
        "decision": decision_json(result.decision),
        "report": encode(result.report),
    }


def intake_json(decoded: Decoded, results: Sequence[object]) -> dict[str, object]:
    """What a webhook payload did: signals counted, alerts opened and cleared, parts dropped."""
    totals = {"signals": 0, "new_alerts": 0, "deduplicated": 0}
    started: list[str] = []
    joined: list[str] = []
    cleared: dict[str, int] = {}
    for result in results:
        if isinstance(result, IntakeReport):
            totals["signals"] += result.signals
            totals["new_alerts"] += result.new_alerts
            totals["deduplicated"] += result.deduplicated
            started += [i for i in result.incidents_started if i not in started]
            joined += [i for i in result.incidents_joined if i not in joined]
        elif isinstance(result, ClearReceipt | Mapping):  # clear, clear_alerts
            receipts = result.values() if isinstance(result, Mapping) else [result]
            for receipt in receipts:
                if isinstance(receipt, ClearReceipt):
                    cleared[receipt.outcome.value] = cleared.get(receipt.outcome.value, 0) + 1
        elif hasattr(result, "outcome") and isinstance(result.outcome, AlertOutcome):
            totals["signals"] += 1
            if result.outcome is AlertOutcome.DEDUPLICATED:
                totals["deduplicated"] += 1
            else:
                totals["new_alerts"] += 1
    return {
        "accepted": True,
        "commands": len(results),
        **totals,
        "incidents_started": started,
        "incidents_joined": joined,
        "cleared": cleared,
        "dropped": [{"path": d.path, "reason": d.reason} for d in decoded.dropped],
        "facts": {str(k): _plain(v) for k, v in decoded.facts.items()},
    }


def _plain(value: object) -> object:
    """A fact as JSON (strings, numbers, booleans, lists and objects of them)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if attrs.has(type(value)):
        fields = attrs.asdict(value, recurse=False)  # type: ignore[arg-type]
        return {name: _plain(item) for name, item in fields.items()}
    return str(value)


def incident_json(
    incident: ServiceIncident,
    *,
    alerts: Sequence[Alert] = (),
    tickets: Sequence[str] = (),
    updates: Sequence[StatusUpdate] = (),
    timeline: Sequence[DomainEvent] | None = None,
) -> dict[str, object]:
    """An incident; with ``timeline``, the whole record (alerts, tickets, updates, events)."""
    out: dict[str, object] = {"incident": encode(incident)}
    if timeline is not None:
        out["alerts"] = [encode(a) for a in alerts]
        out["linked_tickets"] = list(tickets)
        out["updates"] = [encode(u) for u in updates]
        out["timeline"] = [encode(e) for e in timeline]
    return out
