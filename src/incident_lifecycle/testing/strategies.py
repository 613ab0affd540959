"""Hypothesis strategies for every input and entity of ``incident_lifecycle``.

Use them in your own property tests (this module needs the ``test`` extra)::

    from hypothesis import given
    from incident_lifecycle.testing import strategies as ils

    @given(ils.alert_signals(product="chat"))
    def test_every_chat_signal_is_received(signal):
        ...

Every strategy builds values through the library's own constructors, so each
value it draws is valid: small strategies are combined with ``|``, larger ones
are ``@st.composite`` builders whose arguments pin a part of the value
(``actors(role=Role.SUPPORT)``, ``service_incidents(status="resolved")``).
Entities come in any status, with the fields that status implies
(``resolved_at`` for a resolved incident, ``ended_at`` for a solved report...)
and milestone timestamps in order.

:func:`invalid_inputs` draws the opposite: ``(factory, kwargs, field)`` cases
where ``factory(**kwargs)`` must raise ``InvalidInput`` naming ``field``.

No strategy filters heavily; all of them stay fast enough for large
``max_examples``.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, TypeAlias, TypeVar

import attrs
from hypothesis import strategies as st

from ..domain.actors import Actor, Role
from ..domain.alerts import FINGERPRINT_MAX, SUMMARY_MAX, Alert, AlertKind, AlertSignal, AlertStatus
from ..domain.checks import IDENTIFIER_MAX, LABEL_MAX, MAX_LABELS
from ..domain.events import EVENT_TYPES, DomainEvent
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
from ..domain.reports import (
    REPORT_SUMMARY_MAX,
    Channel,
    CustomerReport,
    ReportStatus,
    Symptom,
    TriageOutcome,
)
from ..domain.severity import DEFAULT_SCALE, Severity, SeverityScale

__all__ = [
    "INVALID_KINDS",
    "InvalidCase",
    "actors",
    "alert_signals",
    "alerts",
    "aware_datetimes",
    "customer_reports",
    "domain_events",
    "handoffs",
    "identifiers",
    "invalid_inputs",
    "labels",
    "remediation_items",
    "reviews",
    "service_incidents",
    "severities",
    "severity_levels",
    "severity_scales",
    "status_updates",
    "texts",
]

T = TypeVar("T")

InvalidCase: TypeAlias = tuple[Callable[..., object], dict[str, Any], str]
"""``(factory, kwargs, field)``: ``factory(**kwargs)`` raises ``InvalidInput`` naming ``field``."""

_STEP = timedelta(days=3)
"""The longest gap the strategies put between two milestones of one entity."""

# Identifiers: no control character (Cc), no lone surrogate (Cs); at least one
# character that is not whitespace (whitespace is Zs, Zl, Zp or Cc in Unicode).
_NAME_CHARS = st.characters(exclude_categories=("Cc", "Cs"))
_SOLID_CHARS = st.characters(exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"))
_TEXT_CHARS = st.characters(exclude_categories=("Cc", "Cs"), include_characters="\t\n\r")


@st.composite
def _anchored(draw: st.DrawFn, body: st.SearchStrategy[str]) -> str:
    """A string from ``body`` with one non-blank character inserted, so never blank."""
    text = draw(body)
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(_SOLID_CHARS) + text[at:]


@functools.cache
def _strings(chars: st.SearchStrategy[str], min_size: int, max_size: int) -> st.SearchStrategy[str]:
    """Non-blank strings, built once per size range (strategies are immutable, so reusable)."""
    return _anchored(st.text(chars, min_size=max(min_size - 1, 0), max_size=max_size - 1))


def identifiers(*, min_size: int = 1, max_size: int = IDENTIFIER_MAX) -> st.SearchStrategy[str]:
    """Single-line, non-blank strings of ``min_size..max_size`` characters (any script)."""
    return _strings(_NAME_CHARS, min_size, max_size)


def texts(*, max_size: int, min_size: int = 1) -> st.SearchStrategy[str]:
    """Free text of at most ``max_size`` characters; tabs and line breaks included.

    With ``min_size=0`` it may be empty; otherwise it is never blank.
    """
    if min_size == 0:
        return st.text(_TEXT_CHARS, max_size=max_size)
    return _strings(_TEXT_CHARS, min_size, max_size)


_OFFSETS = st.just(UTC) | st.builds(
    timezone, st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timedelta(minutes=m))
)
_EARLIEST = datetime(2000, 1, 1)
_LATEST = datetime(2099, 12, 31)


@functools.cache
def _datetimes(min_value: datetime, max_value: datetime) -> st.SearchStrategy[datetime]:
    return st.datetimes(min_value=min_value, max_value=max_value, timezones=_OFFSETS)


def aware_datetimes(
    *, min_value: datetime = _EARLIEST, max_value: datetime = _LATEST
) -> st.SearchStrategy[datetime]:
    """Timezone-aware datetimes (UTC or a fixed offset) between two naive bounds."""
    return _datetimes(min_value, max_value)


_GAP = st.timedeltas(min_value=timedelta(0), max_value=_STEP)
"""The gap between two milestones of one entity: zero to three days."""
_FRACTION = st.floats(min_value=0, max_value=1)


def _given(draw: st.DrawFn, value: T | None, strategy: st.SearchStrategy[T]) -> T:
    """``value`` if the caller pinned it, else a draw from ``strategy``."""
    return draw(strategy) if value is None else value


E = TypeVar("E", bound=enum.Enum)


def _as(enum_type: type[E], value: E | str | None) -> E | None:
    """``value`` as a member of ``enum_type`` (``None`` stays ``None``)."""
    return None if value is None else enum_type(value)


@functools.cache
def _maybe(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.none() | strategy


@functools.cache
def _members(enum_type: type[E]) -> st.SearchStrategy[E]:
    return st.sampled_from(tuple(enum_type))


@functools.cache
def _subsets(enum_type: type[E]) -> st.SearchStrategy[tuple[E, ...]]:
    """Distinct members of ``enum_type``, in declaration order."""
    members = tuple(enum_type)
    return st.frozensets(_members(enum_type)).map(
        lambda chosen: tuple(m for m in members if m in chosen)
    )


_SEVERITIES = st.sampled_from(DEFAULT_SCALE.levels)


def severities() -> st.SearchStrategy[Severity]:
    """Levels of :data:`DEFAULT_SCALE` (SEV0 to SEV4)."""
    return _SEVERITIES


_LEVEL_FIELDS: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "description": texts(max_size=500),
        "public": st.booleans(),
        "first_update": st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=1)),
        "update_interval": st.timedeltas(
            min_value=timedelta(seconds=1), max_value=timedelta(days=2)
        ),
        "public_review": st.booleans(),
    }
)
"""Everything in a level but its rank and name."""
_RANKS = st.integers(0, 99)
_LEVEL_NAMES = identifiers(max_size=32)


@st.composite
def severity_levels(
    draw: st.DrawFn, *, rank: int | None = None, name: str | None = None
) -> Severity:
    """Valid :class:`Severity` values of any rank, name and cadence (or the given ones)."""
    return Severity(
        rank=_given(draw, rank, _RANKS),
        name=_given(draw, name, _LEVEL_NAMES),
        **draw(_LEVEL_FIELDS),
    )


@st.composite
def severity_scales(draw: st.DrawFn, *, min_levels: int = 1, max_levels: int = 8) -> SeverityScale:
    """Custom :class:`SeverityScale` values: unique names and ranks, in any given order."""
    size = draw(st.integers(min_levels, max_levels))
    names = draw(st.lists(_LEVEL_NAMES, min_size=size, max_size=size, unique=True))
    ranks = draw(st.lists(_RANKS, min_size=size, max_size=size, unique=True))
    return SeverityScale(
        [
            Severity(rank=rank, name=name, **draw(_LEVEL_FIELDS))
            for rank, name in zip(ranks, names, strict=True)
        ]
    )


@st.composite
def actors(draw: st.DrawFn, role: Role | None = None, *, team: str | None = None) -> Actor:
    """Actors of ``role`` (any role by default); engineering actors always have a team."""
    chosen = _given(draw, role, _members(Role))
    if team is None:
        team = draw(identifiers() if chosen is Role.ENGINEERING else _maybe(identifiers()))
    return Actor(name=draw(identifiers()), role=chosen, team=team)


@functools.cache
def _labels(max_size: int) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(
        identifiers(max_size=LABEL_MAX), texts(max_size=LABEL_MAX, min_size=0), max_size=max_size
    )


def labels(*, max_size: int = 4) -> st.SearchStrategy[dict[str, str]]:
    """Label mappings (at most ``max_size`` entries, never more than the limit of 64)."""
    return _labels(min(max_size, MAX_LABELS))


@st.composite
def alert_signals(
    draw: st.DrawFn,
    product: str | None = None,
    *,
    fingerprint: str | None = None,
    kind: AlertKind | None = None,
    observed_at: datetime | None = None,
) -> AlertSignal:
    """Signals from monitoring; each argument given pins that field."""
    return AlertSignal(
        fingerprint=_given(draw, fingerprint, identifiers(max_size=FINGERPRINT_MAX)),
        product=_given(draw, product, identifiers()),
        kind=_given(draw, kind, _members(AlertKind)),
        summary=draw(texts(max_size=SUMMARY_MAX)),
        observed_at=_given(draw, observed_at, aware_datetimes()),
        region=draw(_maybe(identifiers())),
        labels=draw(labels()),
    )


@st.composite
def alerts(draw: st.DrawFn, status: AlertStatus | str | None = None) -> Alert:
    """Alerts in any status: a lone signal is seen once; one in an incident names it.

    A received alert is active; a dismissed or recovered one is not; a validated
    one may be either (active while its incident is open).
    """
    chosen = _given(draw, _as(AlertStatus, status), _members(AlertStatus))
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
    )


_LOCALES = ("en", "en-GB", "fr", "fr-CA", "de", "es-419", "ja", "pt_BR")


@st.composite
def customer_reports(draw: st.DrawFn, status: ReportStatus | str | None = None) -> CustomerReport:
    """Reports in any status: linked ones name an incident; solved or transferred ones ended."""
    chosen = _given(draw, _as(ReportStatus, status), _members(ReportStatus))
    reported_at = draw(aware_datetimes())
    if chosen is ReportStatus.LINKED:
        incident_id: str | None = draw(identifiers())
    elif chosen is ReportStatus.SOLVED:
        incident_id = draw(_maybe(identifiers()))
    else:
        incident_id = None
    ended = chosen in (ReportStatus.SOLVED, ReportStatus.TRANSFERRED)
    return CustomerReport(
        ticket_id=draw(identifiers()),
        account_id=draw(identifiers()),
        product=draw(identifiers()),
        symptom=draw(_members(Symptom)),
        summary=draw(texts(max_size=REPORT_SUMMARY_MAX)),
        reported_at=reported_at,
        region=draw(_maybe(identifiers())),
        channel=draw(_members(Channel)),
        locale=draw(st.sampled_from(_LOCALES)),
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
    chosen = _given(draw, _as(IncidentStatus, status), _members(IncidentStatus))
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
        region=draw(_maybe(identifiers())),
        group_key=draw(_maybe(texts(max_size=1_000))),
        signal_kinds=draw(_subsets(AlertKind)),
        reported_symptoms=draw(_subsets(Symptom)),
        severity=draw(severities()) if validated else None,
        status=chosen,
        version=draw(st.integers(0, 1_000)),
        **fields,
    )


_UPDATE_PHASES = (*sorted(OPEN_STATUSES), IncidentStatus.RESOLVED)


@functools.cache
def status_updates() -> st.SearchStrategy[StatusUpdate]:
    """Public or internal updates announcing an open phase or the resolution."""
    return st.builds(
        StatusUpdate,
        id=identifiers(),
        incident_id=identifiers(),
        body=texts(max_size=UPDATE_BODY_MAX),
        visibility=_members(Visibility),
        status=st.sampled_from(_UPDATE_PHASES),
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
        ),
        "SeverityChanged": _fields(previous=level, severity=level, reason=note),
        "SignalsDigestSent": _fields(alerts=counts),
        "TicketLinked": _fields(ticket_id=ids),
        "TicketUnlinked": _fields(ticket_id=ids, reason=note),
        "UpdatePosted": _fields(
            update_id=ids,
            visibility=st.sampled_from([v.value for v in Visibility]),
            status=st.sampled_from([s.value for s in _UPDATE_PHASES]),
            body=text,
        ),
        "UpdateReminderSent": _fields(due_at=aware_datetimes()),
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
        incident_id=draw(_maybe(identifiers())),
        actor=draw(actors()),
        at=draw(aware_datetimes()),
        **draw(_EVENT_FIELDS[name]),
    )


# --- invalid inputs -----------------------------------------------------------------------

INVALID_KINDS = (
    "blank",
    "bad_labels",
    "bad_severity_scales",
    "control_characters",
    "naive_datetimes",
    "out_of_range",
    "oversized",
    "unknown_enum_values",
    "wrong_types",
)
"""The kinds of invalid input :func:`invalid_inputs` draws, each one selectable."""


def _case(
    valid: st.SearchStrategy[Any], field: str, bad: st.SearchStrategy[Any]
) -> st.SearchStrategy[InvalidCase]:
    """Take a valid value's constructor arguments and spoil ``field`` with a ``bad`` value."""

    def spoil(pair: tuple[Any, Any]) -> InvalidCase:
        value, wrong = pair
        kwargs = attrs.asdict(value, recurse=False)
        kwargs[field] = wrong
        return type(value), kwargs, field

    return st.tuples(valid, bad).map(spoil)


_BLANK = st.sampled_from(["", " ", "   ", "\t", "\n \r", "\u00a0", "\u2003"])


def _oversized(limit: int) -> st.SearchStrategy[str]:
    """Strings of ``limit + 1`` to ``limit + 64`` characters."""
    return st.tuples(st.sampled_from("xé字-"), st.integers(limit + 1, limit + 64)).map(
        lambda spec: spec[0] * spec[1]
    )


@st.composite
def _with(draw: st.DrawFn, chars: st.SearchStrategy[str], base: st.SearchStrategy[str]) -> str:
    """``base`` with one character of ``chars`` inserted somewhere."""
    text = draw(base)
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(chars) + text[at:]


_CONTROL_CHARS = [chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))]
_CONTROL = st.sampled_from(_CONTROL_CHARS)
"""C0 and C1 control characters and DEL: never allowed in an identifier."""
_CONTROL_IN_TEXT = st.sampled_from([c for c in _CONTROL_CHARS if c not in "\t\n\r"])
"""Control characters that free text refuses (all but tab and line breaks)."""


def _not_member(enum_type: type[enum.Enum]) -> st.SearchStrategy[object]:
    """Values no member of ``enum_type`` has: names in capitals, other words, numbers."""
    values = {str(member.value) for member in enum_type}
    names = [member.name for member in enum_type if member.name not in values]
    return (
        st.sampled_from(["", "unknown", *names])
        | identifiers(max_size=16).map(lambda s: f"unknown:{s}")
        | st.integers()
        | st.none()
    )


def _naive() -> st.SearchStrategy[datetime]:
    return st.datetimes(min_value=_EARLIEST, max_value=_LATEST)


def _too_many_labels() -> st.SearchStrategy[dict[str, str]]:
    return st.integers(MAX_LABELS + 1, MAX_LABELS + 40).map(
        lambda n: {f"label-{i}": "value" for i in range(n)}
    )


def _wrong_labels() -> st.SearchStrategy[object]:
    """Labels with a non-string key or value, a blank key, or no mapping at all."""
    return (
        st.dictionaries(identifiers(max_size=16), st.integers() | st.none(), min_size=1)
        | st.dictionaries(st.integers(), identifiers(max_size=16), min_size=1)
        | st.lists(identifiers(max_size=16), max_size=3)
        | st.just({"": "blank key"})
    )


@st.composite
def _duplicate_levels(draw: st.DrawFn) -> InvalidCase:
    """A scale listing one name twice (or one rank twice)."""
    scale = draw(severity_scales(max_levels=4))
    level = draw(st.sampled_from(scale.levels))
    twin = attrs.evolve(level, rank=max(lv.rank for lv in scale.levels) + 1)
    if draw(st.booleans()):
        twin = attrs.evolve(level, name=f"{level.name[:30]}+")
    levels = draw(st.permutations([*scale.levels, twin]))
    return SeverityScale, {"levels": levels}, "levels"


def _scale_cases() -> list[st.SearchStrategy[InvalidCase]]:
    negative = st.timedeltas(min_value=-timedelta(days=9), max_value=-timedelta(microseconds=1))
    not_levels: st.SearchStrategy[object] = st.sampled_from([(), [], "SEV1", ("SEV1",), None])
    return [
        st.builds(lambda e: (SeverityScale, {"levels": e}, "levels"), not_levels),
        _duplicate_levels(),
        _case(severity_levels(), "first_update", negative),
        _case(severity_levels(), "update_interval", negative | st.just(timedelta(0))),
    ]


def _invalid_table() -> dict[str, list[st.SearchStrategy[InvalidCase]]]:
    """Every invalid case, by kind: each spoils one field of otherwise valid arguments."""
    signal, report, actor, alert = alert_signals(), customer_reports(), actors(), alerts()
    incident, update, handoff = service_incidents(), status_updates(), handoffs()
    level = severity_levels()
    names = [
        (signal, "product"),
        (report, "ticket_id"),
        (actor, "name"),
        (incident, "id"),
        (update, "incident_id"),
        (handoff, "to_team"),
    ]
    prose = [(signal, "summary"), (report, "summary"), (incident, "title")]
    control_name = _with(_CONTROL, identifiers(max_size=32))
    locales = st.sampled_from(_LOCALES)
    enums = [
        (signal, "kind", AlertKind),
        (report, "symptom", Symptom),
        (report, "channel", Channel),
        (actor, "role", Role),
        (alert, "status", AlertStatus),
        (incident, "status", IncidentStatus),
        (update, "visibility", Visibility),
    ]
    moments = [
        (signal, "observed_at"),
        (report, "reported_at"),
        (incident, "detected_at"),
        (update, "posted_at"),
        (handoff, "at"),
        (domain_events(), "at"),
    ]
    return {
        "blank": [_case(v, f, _BLANK) for v, f in [(signal, "fingerprint"), *names, *prose]],
        "oversized": [
            _case(signal, "fingerprint", _oversized(FINGERPRINT_MAX)),
            _case(signal, "summary", _oversized(SUMMARY_MAX)),
            _case(report, "summary", _oversized(REPORT_SUMMARY_MAX)),
            _case(incident, "title", _oversized(TITLE_MAX)),
            _case(level, "name", _oversized(32)),
            _case(report, "locale", _oversized(35)),
            *(_case(v, f, _oversized(IDENTIFIER_MAX)) for v, f in names),
        ],
        "control_characters": [
            _case(signal, "fingerprint", control_name),
            _case(report, "locale", _with(_CONTROL, locales) | locales.map(lambda t: f"{t}\n")),
            *(_case(v, f, control_name) for v, f in names),
            *(_case(v, f, _with(_CONTROL_IN_TEXT, texts(max_size=32))) for v, f in prose),
        ],
        "naive_datetimes": [_case(v, f, _naive()) for v, f in moments],
        "unknown_enum_values": [_case(v, f, _not_member(e)) for v, f, e in enums],
        "bad_labels": [
            _case(v, "labels", bad)
            for v in (signal, alert)
            for bad in (_too_many_labels(), _wrong_labels())
        ],
        "bad_severity_scales": _scale_cases(),
        "wrong_types": [
            *(_case(v, f, st.integers() | st.none() | st.just(b"id")) for v, f in names),
            _case(incident, "products", st.just("chat")),
            _case(incident, "severity", st.sampled_from(["SEV1", 1])),
            _case(update, "author", identifiers(max_size=16)),
            _case(remediation_items(), "due", aware_datetimes() | st.just("2026-01-01")),
            _case(level, "rank", st.booleans()),
        ],
        "out_of_range": [
            _case(alert, "count", st.integers(max_value=0)),
            _case(report, "version", st.integers(max_value=-1)),
            _case(incident, "reopen_count", st.integers(max_value=-1)),
            _case(incident, "products", st.sampled_from([(), ["chat", "chat"]])),
            _case(level, "rank", st.integers(max_value=-1)),
        ],
    }


_INVALID: dict[str, list[st.SearchStrategy[InvalidCase]]] = {}


def invalid_inputs(*kinds: str) -> st.SearchStrategy[InvalidCase]:
    """Cases ``(factory, kwargs, field)`` where ``factory(**kwargs)`` raises ``InvalidInput``.

    Each case spoils exactly one field of otherwise valid arguments, so the
    error's ``field`` is the expected one. ``kinds`` (any of
    :data:`INVALID_KINDS`; all of them by default) selects what is spoiled:
    blank, oversized or control-character strings (fingerprints of 1-255
    characters, alert summaries up to 1,024, report summaries up to 10,000,
    identifiers up to 128), naive datetimes, unknown enum values, bad labels
    (non-string, more than 64), bad severity scales (no levels, duplicate names
    or ranks, negative intervals), wrong types and out-of-range numbers.
    """
    if not _INVALID:
        _INVALID.update(_invalid_table())
    unknown = sorted(set(kinds) - set(_INVALID))
    if unknown:
        raise ValueError(f"unknown kinds {unknown}; choose from {', '.join(INVALID_KINDS)}")
    chosen = kinds or INVALID_KINDS
    return st.one_of([case for kind in chosen for case in _INVALID[kind]])
