"""Replaying a JSON Lines file of commands against a desk (used by the command line).

Each line is one JSON object with an ``"op"`` naming the command; its other
fields are the command's arguments. The format is documented in
``docs/cli.md`` and described by the JSON Schema shipped beside this module
(``replay.schema.json``). A bad line raises :class:`ReplayError` naming the
line and the reason; the desk's own refusals (``InvalidInput``,
``InvalidTransition``, ``NotPermitted``, ``NotFound``) pass through. Each line
is one desk command: it is applied entirely or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date, datetime
from importlib import resources
from typing import Any

from .codec import decode_datetime
from .domain.actors import Actor
from .domain.alerts import AlertSignal
from .domain.checks import check_identifier
from .domain.errors import DecodeError, IncidentLifecycleError
from .domain.incidents import RemediationItem, Review
from .domain.reports import CustomerReport
from .triage import TriageDecision

__all__ = ["OPS", "ReplayError", "apply_line", "parse_line", "schema"]

Desk = Any  # IncidentDesk; kept loose to avoid an import cycle with the CLI
MAX_LINE = 1_000_000


class ReplayError(IncidentLifecycleError, ValueError):
    """A line of a replay file is not a valid command."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def schema() -> dict[str, Any]:
    """The JSON Schema of one replay line, as shipped in the package."""
    text = resources.files("incident_lifecycle").joinpath("replay.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _get(obj: Mapping[str, Any], name: str, kind: type | tuple[type, ...] = str) -> Any:
    if name not in obj:
        raise ReplayError(f"missing field {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ReplayError(f"field {name!r} must be {expected}, not {type(value).__name__}")
    return value


def _opt(obj: Mapping[str, Any], name: str, kind: type | tuple[type, ...] = str) -> Any:
    return None if obj.get(name) is None else _get(obj, name, kind)


def _when(obj: Mapping[str, Any], name: str) -> datetime:
    try:
        return decode_datetime(_get(obj, name), name)
    except DecodeError as error:
        raise ReplayError(str(error)) from None


def actor(obj: Mapping[str, Any], default: Actor | None = None) -> Actor:
    """The ``by`` field as an ``Actor`` (``{"name", "role", "team"}``)."""
    raw = obj.get("by")
    if raw is None:
        if default is None:
            raise ReplayError("missing field 'by' (who runs the command)")
        return default
    if not isinstance(raw, dict):
        raise ReplayError("field 'by' must be an object with name, role and team")
    return Actor(name=_get(raw, "name"), role=_get(raw, "role"), team=_opt(raw, "team"))


def signal(obj: Mapping[str, Any]) -> AlertSignal:
    """An alert signal from its JSON fields."""
    labels = obj.get("labels") or {}
    if not isinstance(labels, dict):
        raise ReplayError("field 'labels' must be an object")
    return AlertSignal(
        fingerprint=_get(obj, "fingerprint"),
        product=_get(obj, "product"),
        kind=_get(obj, "kind"),
        summary=_get(obj, "summary"),
        observed_at=_when(obj, "observed_at"),
        region=_opt(obj, "region"),
        labels=labels,
    )


def report(obj: Mapping[str, Any]) -> CustomerReport:
    """A customer report from its JSON fields."""
    return CustomerReport(
        ticket_id=_get(obj, "ticket_id"),
        account_id=_get(obj, "account_id"),
        product=_get(obj, "product"),
        symptom=_get(obj, "symptom"),
        summary=_get(obj, "summary"),
        reported_at=_when(obj, "reported_at"),
        region=_opt(obj, "region"),
        channel=obj.get("channel") or "ticket",
        locale=obj.get("locale") or "en",
    )


def _review(obj: Mapping[str, Any]) -> Review:
    raw = _get(obj, "review", dict)
    items = []
    for item in _opt(raw, "remediation", list) or []:
        if not isinstance(item, dict):
            raise ReplayError("each remediation item must be an object")
        try:
            due = date.fromisoformat(_get(item, "due"))
        except ValueError:
            raise ReplayError("remediation 'due' must be a date such as 2026-06-01") from None
        items.append(
            RemediationItem(
                description=_get(item, "description"), owner_team=_get(item, "owner_team"), due=due
            )
        )
    return Review(
        root_cause=_get(raw, "root_cause"), impact=raw.get("impact") or "", remediation=items
    )


def _decision(obj: Mapping[str, Any]) -> TriageDecision | None:
    raw = obj.get("decision")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ReplayError("field 'decision' must be an object")
    return TriageDecision(
        outcome=_get(raw, "outcome"),
        incident_id=_opt(raw, "incident"),
        severity=_opt(raw, "severity"),
        reasons=tuple(_opt(raw, "reasons", list) or ("agent override",)),
    )


def _alerts(desk: Desk, o: Mapping[str, Any]) -> object:
    raw = _get(o, "signals", list)
    signals = []
    for item in raw:
        if not isinstance(item, dict):
            raise ReplayError("each signal must be an object")
        signals.append(signal(item))
    return desk.receive_alerts(signals)


def _own(desk: Desk, o: Mapping[str, Any]) -> object:
    # Checked like the desk's own ownership map: a bad name kept in the database
    # would make every later command refuse to open it.
    product = check_identifier("product", _get(o, "product"))
    desk.ownership[product] = check_identifier("team", _get(o, "team"))
    return None


OPS: Mapping[str, Callable[[Desk, Mapping[str, Any]], object]] = {
    "own": _own,
    "alert": lambda d, o: d.receive_alert(signal(o)),
    "alerts": _alerts,
    "clear": lambda d, o: d.clear_alert(_get(o, "fingerprint")),
    "acknowledge": lambda d, o: d.acknowledge(_get(o, "incident"), actor(o)),
    "validate": lambda d, o: d.validate_incident(
        _get(o, "incident"), actor(o), _get(o, "severity"), _opt(o, "title")
    ),
    "dismiss": lambda d, o: d.dismiss_incident(_get(o, "incident"), actor(o), _get(o, "reason")),
    "declare": lambda d, o: d.declare_incident(
        actor(o),
        title=_get(o, "title"),
        product=_get(o, "product"),
        severity=_get(o, "severity"),
        region=_opt(o, "region"),
    ),
    "update": lambda d, o: d.post_update(
        _get(o, "incident"),
        actor(o),
        _get(o, "body"),
        o.get("visibility") or "public",
        _opt(o, "status"),
    ),
    "severity": lambda d, o: d.change_severity(
        _get(o, "incident"), actor(o), _get(o, "severity"), o.get("reason") or ""
    ),
    "hand_off": lambda d, o: d.hand_off(
        _get(o, "incident"), actor(o), _get(o, "to_team"), _get(o, "reason")
    ),
    "resolve": lambda d, o: d.resolve_incident(
        _get(o, "incident"), actor(o), _get(o, "resolution")
    ),
    "reopen": lambda d, o: d.reopen_incident(_get(o, "incident"), actor(o), _get(o, "reason")),
    "merge": lambda d, o: d.merge_incidents(_get(o, "incident"), _get(o, "into"), actor(o)),
    "close": lambda d, o: d.close_incident(_get(o, "incident"), actor(o), _review(o)),
    "detach": lambda d, o: d.detach_alert(_get(o, "alert"), actor(o), _opt(o, "into")),
    "report": lambda d, o: d.triage_report(report(_get(o, "report", dict)), actor(o), _decision(o)),
    "resolve_report": lambda d, o: d.resolve_report(_get(o, "ticket"), actor(o), _get(o, "note")),
    "transfer_report": lambda d, o: d.transfer_report(
        _get(o, "ticket"), actor(o), _get(o, "to_team"), _get(o, "reason")
    ),
    "link": lambda d, o: d.link_ticket(_get(o, "ticket"), _get(o, "incident"), actor(o)),
    "unlink": lambda d, o: d.unlink_ticket(_get(o, "ticket"), actor(o), o.get("reason") or ""),
    "remind": lambda d, o: d.send_update_reminders(),
    "deliver": lambda d, o: d.deliver(),
}
"""Every replay operation and the desk command it runs."""


def parse_line(text: str) -> dict[str, Any] | None:
    """Parse one line: ``None`` for a blank line or a ``#`` comment, else the command object."""
    if len(text) > MAX_LINE:
        raise ReplayError(f"the line is longer than {MAX_LINE:,} characters")
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    try:
        obj = json.loads(stripped)
    except ValueError as error:
        raise ReplayError(f"invalid JSON: {error}") from None
    except RecursionError:
        raise ReplayError("invalid JSON: nested too deeply") from None
    if not isinstance(obj, dict):
        raise ReplayError("each line must be a JSON object")
    op = obj.get("op")
    if not isinstance(op, str) or op not in OPS:
        known = ", ".join(sorted(OPS))
        raise ReplayError(f"unknown op {op!r} (one of: {known})")
    return obj


def apply_line(desk: Desk, obj: Mapping[str, Any], set_time: Callable[[datetime], None]) -> object:
    """Apply one parsed command; ``"at"`` (if present) first moves the replay clock."""
    if obj.get("at") is not None:
        set_time(_when(obj, "at"))
    try:
        return OPS[obj["op"]](desk, obj)
    except (TypeError, AttributeError) as error:  # a field of the wrong shape
        raise ReplayError(f"malformed fields: {error}") from None
