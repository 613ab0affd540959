"""The strategy for timeline events: any class of ``EVENT_TYPES``, every field valid.

Private module: import :func:`domain_events` from
:mod:`incident_lifecycle.testing.strategies`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from ..domain.alerts import FINGERPRINT_MAX
from ..domain.events import EVENT_TYPES, DomainEvent
from ..domain.incidents import Visibility
from ..domain.reports import TriageOutcome
from ._basics import actors, aware_datetimes, identifiers, maybe, severities, texts
from ._entities import UPDATE_PHASES

__all__ = ["domain_events"]


def _fields(**strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(strategies)


def _event_fields() -> Mapping[str, st.SearchStrategy[dict[str, Any]]]:
    """The fields each event class adds to :class:`DomainEvent`, by class name."""
    ids, text = identifiers(), texts(max_size=10_000)
    note = texts(max_size=2_000, min_size=0)
    counts = st.integers(0, 10_000)
    level = severities().map(str)
    return {
        "AlertDetached": _fields(alert_id=ids, into=ids),
        "AlertJoined": _fields(alert_id=ids, fingerprint=identifiers(max_size=FINGERPRINT_MAX)),
        "AlertRecovered": _fields(alert_id=ids, fingerprint=identifiers(max_size=FINGERPRINT_MAX)),
        "DeadLettersRedriven": _fields(count=counts),
        "IncidentAcknowledged": _fields(),
        "IncidentClosed": _fields(root_cause=text, remediation_items=counts),
        "IncidentDeclared": _fields(severity=level, title=text),
        "IncidentDetected": _fields(alert_id=ids, group_key=text),
        "IncidentDismissed": _fields(reason=text),
        "IncidentHandedOff": _fields(from_team=ids, to_team=ids, reason=text),
        "IncidentMerged": _fields(into=ids),
        "IncidentReopened": _fields(reason=text),
        "IncidentResolved": _fields(resolution=text, tickets_solved=counts),
        "IncidentValidated": _fields(severity=level, title=text),
        "IncidentsMergedIn": _fields(source=ids, alerts_moved=counts, tickets_moved=counts),
        "NotificationDeadLettered": _fields(
            key=identifiers(max_size=512), recipient=ids, error=note
        ),
        "ReportResolved": _fields(ticket_id=ids, note=text),
        "ReportTransferred": _fields(ticket_id=ids, to_team=ids, reason=text),
        "ReportTriaged": _fields(
            ticket_id=ids,
            outcome=st.sampled_from([o.value for o in TriageOutcome]),
            overridden=st.booleans(),
            reasons=st.lists(texts(max_size=500), max_size=3).map(tuple),
            score=st.floats(-1e6, 1e6, allow_nan=False),
            suggested_outcome=maybe(st.sampled_from([o.value for o in TriageOutcome])),
            suggested_incident=maybe(ids),
            suggested_score=maybe(st.floats(-1e6, 1e6, allow_nan=False)),
            suggested_reasons=st.lists(texts(max_size=500), max_size=3).map(tuple),
            retriaged=st.booleans(),
            previous=maybe(texts(max_size=2_000)),
        ),
        "SeverityChanged": _fields(previous=level, severity=level, reason=note),
        "SignalsCleared": _fields(alerts=counts),
        "SignalsDigestSent": _fields(alerts=counts),
        "TicketLinked": _fields(ticket_id=ids),
        "TicketUnlinked": _fields(ticket_id=ids, reason=note),
        "UpdatePosted": _fields(
            update_id=ids,
            visibility=st.sampled_from([v.value for v in Visibility]),
            status=st.sampled_from([s.value for s in UPDATE_PHASES]),
            body=text,
        ),
        "UpdateReminderSent": _fields(due_at=aware_datetimes()),
        "ValidationEscalated": _fields(
            step=st.integers(1, 10_000),
            due_at=aware_datetimes(),
            to_teams=st.lists(ids, max_size=2).map(tuple),
        ),
    }


_EVENT_FIELDS = _event_fields()


@st.composite
def domain_events(draw: st.DrawFn, event_type: type[DomainEvent] | None = None) -> DomainEvent:
    """Events of any class in ``EVENT_TYPES`` (or of ``event_type``), all fields valid."""
    if event_type is None:
        name = draw(st.sampled_from(sorted(EVENT_TYPES)))
    elif EVENT_TYPES.get(event_type.__name__) is event_type:
        name = event_type.__name__
    else:
        raise ValueError(f"{event_type.__name__} is not in EVENT_TYPES")
    if name not in _EVENT_FIELDS:  # a new event class: this module must learn its fields
        raise NotImplementedError(f"no strategy for the fields of {name}; add it to _event_fields")
    return EVENT_TYPES[name](
        incident_id=draw(maybe(identifiers())),
        actor=draw(actors()),
        at=draw(aware_datetimes()),
        **draw(_EVENT_FIELDS[name]),
    )
