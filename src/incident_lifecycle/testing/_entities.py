"""Strategies for the domain's entities and values, each coherent with its status.

Private module: import these names from :mod:`incident_lifecycle.testing.strategies`.
"""

from __future__ import annotations

import enum
import functools
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from hypothesis import strategies as st

from ..domain.alerts import FINGERPRINT_MAX, SUMMARY_MAX, Alert, AlertKind, AlertSignal, AlertStatus
from ..domain.checks import (
    ALERT_DESCRIPTION_MAX,
    GROUP_KEY_MAX,
    SEVERITY_NAME_MAX,
    SOURCE_KEY_MAX,
    shifted,
)
from ..domain.incidents import (
    OPEN_STATUSES,
    TITLE_MAX,
    UPDATE_BODY_MAX,
    Handoff,
    IncidentStatus,
    RemediationItem,
    Review,
    ServiceIncident,
    StatusUpdate,
    Visibility,
)
from ..domain.reports import REPORT_SUMMARY_MAX, Channel, CustomerReport, ReportStatus, Symptom
from ._basics import (
    actors,
    aware_datetimes,
    given_or_draw,
    identifiers,
    labels,
    links,
    maybe,
    members,
    severities,
    texts,
)

__all__ = [
    "LOCALES",
    "UPDATE_PHASES",
    "alert_signals",
    "alerts",
    "customer_reports",
    "handoffs",
    "remediation_items",
    "reviews",
    "service_incidents",
    "status_updates",
]

E = TypeVar("E", bound=enum.Enum)

_STEP = timedelta(days=3)
"""The longest gap the strategies put between two milestones of one entity."""

_GAP = st.timedeltas(min_value=timedelta(0), max_value=_STEP)
"""The gap between two milestones of one entity: zero to three days."""
_FRACTION = st.floats(min_value=0, max_value=1)


def _as(enum_type: type[E], value: E | str | None) -> E | None:
    """``value`` as a member of ``enum_type`` (``None`` stays ``None``)."""
    return None if value is None else enum_type(value)


@functools.cache
def _subsets(enum_type: type[E]) -> st.SearchStrategy[tuple[E, ...]]:
    """Distinct members of ``enum_type``, in declaration order."""
    declared = tuple(enum_type)
    return st.frozensets(members(enum_type)).map(
        lambda chosen: tuple(m for m in declared if m in chosen)
    )


_HINTS = st.sampled_from(["SEV0", "SEV1", "SEV2", "SEV3", "SEV4"]) | identifiers(
    max_size=SEVERITY_NAME_MAX
)
"""Severity hints: mostly the default scale's level names, sometimes any name."""


@st.composite
def _source_facts(draw: st.DrawFn, observed_at: datetime) -> dict[str, Any]:
    """What a source says besides the signal itself; a start no later than ``observed_at``."""
    return {
        "started_at": draw(
            maybe(st.just(observed_at) | _GAP.map(lambda g: shifted(observed_at, -g)))
        ),
        "severity_hint": draw(maybe(_HINTS)),
        "description": draw(maybe(texts(max_size=ALERT_DESCRIPTION_MAX))),
        "links": draw(links()),
        "dedup_key": draw(maybe(identifiers(max_size=SOURCE_KEY_MAX))),
        "source_group": draw(maybe(identifiers(max_size=GROUP_KEY_MAX))),
    }


@st.composite
def alert_signals(
    draw: st.DrawFn,
    product: str | None = None,
    *,
    fingerprint: str | None = None,
    kind: AlertKind | None = None,
    observed_at: datetime | None = None,
) -> AlertSignal:
    """Signals from monitoring, with or without the source's facts; each argument given pins
    that field."""
    seen = given_or_draw(draw, observed_at, aware_datetimes())
    return AlertSignal(
        fingerprint=given_or_draw(draw, fingerprint, identifiers(max_size=FINGERPRINT_MAX)),
        product=given_or_draw(draw, product, identifiers()),
        kind=given_or_draw(draw, kind, members(AlertKind)),
        summary=draw(texts(max_size=SUMMARY_MAX)),
        observed_at=seen,
        region=draw(maybe(identifiers())),
        labels=draw(labels()),
        **(draw(_source_facts(seen)) if draw(st.booleans()) else {}),
    )


@st.composite
def alerts(draw: st.DrawFn, status: AlertStatus | str | None = None) -> Alert:
    """Alerts in any status: a lone signal is seen once; one in an incident names it.

    A received alert is active; a dismissed or recovered one is not; a validated
    one may be either (active while its incident is open).
    """
    chosen = given_or_draw(draw, _as(AlertStatus, status), members(AlertStatus))
    signal = draw(alert_signals())
    count = draw(st.integers(1, 10_000))
    last_seen = signal.observed_at if count == 1 else signal.observed_at + draw(_GAP)
    grouped = chosen is not AlertStatus.RECEIVED or draw(st.booleans())
    return Alert(
        id=draw(identifiers()),
        fingerprint=signal.fingerprint,
        product=signal.product,
        kind=signal.kind,
        summary=signal.summary,
        first_seen_at=signal.observed_at,
        last_seen_at=last_seen,
        region=signal.region,
        labels=signal.labels,
        status=chosen,
        count=count,
        incident_id=draw(identifiers()) if grouped else None,
        active=chosen is AlertStatus.RECEIVED
        or (chosen is AlertStatus.VALIDATED and draw(st.booleans())),
        version=draw(st.integers(0, 1_000)),
        started_at=signal.started_at,
        severity_hint=signal.severity_hint,
        description=signal.description,
        links=signal.links,
        dedup_key=signal.dedup_key,
        source_group=signal.source_group,
    )


LOCALES = ("en", "en-GB", "fr", "fr-CA", "de", "es-419", "ja", "pt_BR")
"""The locales drawn reports are written in."""


@st.composite
def customer_reports(draw: st.DrawFn, status: ReportStatus | str | None = None) -> CustomerReport:
    """Reports in any status: linked ones name an incident; solved or transferred ones ended."""
    chosen = given_or_draw(draw, _as(ReportStatus, status), members(ReportStatus))
    reported_at = draw(aware_datetimes())
    if chosen is ReportStatus.LINKED:
        incident_id: str | None = draw(identifiers())
    elif chosen is ReportStatus.SOLVED:
        incident_id = draw(maybe(identifiers()))
    else:
        incident_id = None
    ended = chosen in (ReportStatus.SOLVED, ReportStatus.TRANSFERRED)
    return CustomerReport(
        ticket_id=draw(identifiers()),
        account_id=draw(identifiers()),
        product=draw(identifiers()),
        symptom=draw(members(Symptom)),
        summary=draw(texts(max_size=REPORT_SUMMARY_MAX)),
        reported_at=reported_at,
        region=draw(maybe(identifiers())),
        channel=draw(members(Channel)),
        locale=draw(st.sampled_from(LOCALES)),
        status=chosen,
        incident_id=incident_id,
        ended_at=reported_at + draw(_GAP) if ended else None,
        version=draw(st.integers(0, 1_000)),
    )


@functools.cache
def remediation_items() -> st.SearchStrategy[RemediationItem]:
    """Follow-up work items: a description, an owner team and a due date."""
    return st.builds(
        RemediationItem,
        description=texts(max_size=2_000),
        owner_team=identifiers(),
        due=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    )


@functools.cache
def reviews() -> st.SearchStrategy[Review]:
    """Post-incident reviews with a root cause and up to four remediation items."""
    return st.builds(
        Review,
        root_cause=texts(max_size=20_000),
        impact=texts(max_size=20_000, min_size=0),
        remediation=st.lists(remediation_items(), max_size=4).map(tuple),
    )


def _milestones(status: IncidentStatus, reopened: bool) -> dict[str, bool | None]:
    """Each milestone of an incident now in ``status``: required (True) or optional (None).

    Milestones left out are never stamped.
    """
    if status in (IncidentStatus.DETECTED, IncidentStatus.DISMISSED):
        return {}
    resolved = status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED) or reopened
    found: dict[str, bool | None] = {
        "opened_at": True,
        "identified_at": True if status is IncidentStatus.IDENTIFIED else None,
        "monitoring_at": True if status is IncidentStatus.MONITORING else None,
    }
    if resolved or status is IncidentStatus.MERGED:
        found["resolved_at"] = True if resolved else None
    if status is IncidentStatus.CLOSED:
        found["closed_at"] = True
    return found


@st.composite
def _stamps(draw: st.DrawFn, status: IncidentStatus, detected_at: datetime) -> dict[str, Any]:
    """Milestone fields for an incident in ``status``, each at or after the one before."""
    reopened = status in OPEN_STATUSES and draw(st.booleans())
    out: dict[str, Any] = {}
    now = detected_at
    for name, required in _milestones(status, reopened).items():
        if required or draw(st.booleans()):
            now = out[name] = now + draw(_GAP)
    if status in (IncidentStatus.DISMISSED, IncidentStatus.MERGED):
        now = out["ended_at"] = now + draw(_GAP)
    was_reopened = reopened or ("resolved_at" in out and draw(st.booleans()))
    out["reopen_count"] = draw(st.integers(1, 5)) if was_reopened else 0
    if "opened_at" in out:
        out.update(draw(_updates(out["opened_at"], now)))
    return out


@st.composite
def _updates(draw: st.DrawFn, opened_at: datetime, until: datetime) -> dict[str, Any]:
    """The update fields: first public <= last public <= last update, between two times."""
    if not draw(st.booleans()):
        return {}
    last_update = opened_at + (until - opened_at) * draw(_FRACTION)
    out: dict[str, Any] = {"last_update_at": last_update}
    if draw(st.booleans()):
        last_public = opened_at + (last_update - opened_at) * draw(_FRACTION)
        out["first_public_update_at"] = opened_at + (last_public - opened_at) * draw(_FRACTION)
        out["last_public_update_at"] = last_public
        out["last_public_update"] = draw(texts(max_size=UPDATE_BODY_MAX))
    return out


@st.composite
def _open_chores(draw: st.DrawFn, opened_at: datetime) -> dict[str, Any]:
    """Digest and reminder bookkeeping, which only an opened incident has."""
    out: dict[str, Any] = {"signals_since_digest": draw(st.integers(0, 50))}
    if draw(st.booleans()):
        out["last_digest_at"] = opened_at + draw(_GAP)
    if draw(st.booleans()):
        out["last_reminder_at"] = opened_at + draw(_GAP)
    return out


@st.composite
def service_incidents(
    draw: st.DrawFn, status: IncidentStatus | str | None = None
) -> ServiceIncident:
    """Incidents in any status, with the fields and milestone order that status implies.

    Potential and dismissed incidents have no severity; every other one has a
    level of :data:`DEFAULT_SCALE` and ``opened_at``. Resolved and closed ones
    carry a resolution, closed ones a review, merged ones the incident they
    were merged into. A reopened incident is open with ``resolved_at`` and a
    positive ``reopen_count``.
    """
    chosen = given_or_draw(draw, _as(IncidentStatus, status), members(IncidentStatus))
    ids = draw(st.lists(identifiers(), min_size=2, max_size=2, unique=True))
    detected_at = draw(aware_datetimes())
    fields = draw(_stamps(chosen, detected_at))
    validated = chosen not in (IncidentStatus.DETECTED, IncidentStatus.DISMISSED)
    if "resolved_at" in fields:
        fields["resolution"] = draw(texts(max_size=UPDATE_BODY_MAX))
    if chosen is IncidentStatus.DISMISSED:
        fields["dismissal_reason"] = draw(texts(max_size=2_000))
    if chosen is IncidentStatus.MERGED:
        fields["merged_into"] = ids[1]
    if chosen is IncidentStatus.CLOSED:
        fields["review"] = draw(reviews())
    if validated and draw(st.booleans()):
        fields["acknowledged_at"] = detected_at + draw(_GAP)
    if "opened_at" in fields:
        fields.update(draw(_open_chores(fields["opened_at"])))
    return ServiceIncident(
        id=ids[0],
        title=draw(texts(max_size=TITLE_MAX)),
        products=draw(st.lists(identifiers(), min_size=1, max_size=4, unique=True)),
        owner_team=draw(identifiers()),
        detected_at=detected_at,
        region=draw(maybe(identifiers())),
        group_key=draw(maybe(texts(max_size=1_000))),
        signal_kinds=draw(_subsets(AlertKind)),
        reported_symptoms=draw(_subsets(Symptom)),
        severity=draw(severities()) if validated else None,
        status=chosen,
        version=draw(st.integers(0, 1_000)),
        **fields,
    )


UPDATE_PHASES = (*sorted(OPEN_STATUSES), IncidentStatus.RESOLVED)
"""The statuses a status update may announce: an open phase or the resolution."""


@functools.cache
def status_updates() -> st.SearchStrategy[StatusUpdate]:
    """Public or internal updates announcing an open phase or the resolution."""
    return st.builds(
        StatusUpdate,
        id=identifiers(),
        incident_id=identifiers(),
        body=texts(max_size=UPDATE_BODY_MAX),
        visibility=members(Visibility),
        status=st.sampled_from(UPDATE_PHASES),
        posted_at=aware_datetimes(),
        author=actors(),
    )


@st.composite
def handoffs(draw: st.DrawFn) -> Handoff:
    """Hand-offs of an incident between two different teams."""
    from_team, to_team = draw(st.lists(identifiers(), min_size=2, max_size=2, unique=True))
    return Handoff(
        incident_id=draw(identifiers()),
        from_team=from_team,
        to_team=to_team,
        reason=draw(texts(max_size=2_000)),
        at=draw(aware_datetimes()),
    )
