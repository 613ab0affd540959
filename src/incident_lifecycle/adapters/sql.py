"""What the SQL stores share: the row mapping between entities and rows.

``SQLiteStore`` and ``PostgresStore`` keep the same columns for the same
fields, so turning an entity into a row and a row back into an entity is
written once, here; each adapter writes its own SQL and connection handling.

- Times are integers: microseconds since the Unix epoch, in UTC. They sort
  as instants, are exact to the microsecond, and hold every instant Python
  can (up to a day beyond UTC's years 1 to 9999, kept at the offset furthest
  from UTC).
- Structured values (labels, links, incidents, updates, timeline events, the
  settings) are JSON documents with a format version (``codec``); never
  pickle, never ``eval``. A row that does not decode raises
  :class:`DecodeError` naming the column.
- Rows are plain tuples in the order of the ``*_COLUMNS`` strings.
- The rules of the store port that SQL states the same way in both databases
  are written once too (:func:`region_matches`, :func:`incident_order`,
  :data:`DUE`); the store contract checks the results against the domain's
  own functions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from ..codec import decode, encode
from ..domain.alerts import Alert
from ..domain.errors import DecodeError, IncidentLifecycleError
from ..domain.incidents import ACTIVE_STATUSES, ServiceIncident
from ..domain.reports import CustomerReport
from ..notifications import FanOut, Notification, RecipientKind, Topic
from ..ports import OutboxEntry, OutboxState

__all__ = [
    "ALERT_COLUMNS",
    "DUE",
    "ENTRY_COLUMNS",
    "INT64_MAX",
    "REPORT_COLUMNS",
    "alert_from_row",
    "alert_row",
    "decode_document",
    "decode_incident",
    "dump_json",
    "entry_from_row",
    "incident_order",
    "incident_row",
    "instant",
    "load_json",
    "message_row",
    "micros",
    "optional_instant",
    "optional_micros",
    "region_matches",
    "report_from_row",
    "report_row",
]

INT64_MAX = 2**63 - 1
"""The largest integer either database keeps in a 64-bit column."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_FURTHEST = timedelta(hours=23, minutes=59)  # the widest offset a timezone takes


# -- rules of the port, in SQL ---------------------------------------------------------


def region_matches(alias: str, mark: str) -> str:
    """``domain.incidents.regions_compatible`` as a filter on ``alias``: its region is
    unset, or the one bound at ``mark`` (``?`` or ``%s``)."""
    return f"({alias}.region IS NULL OR {alias}.region = {mark})"


def incident_order(alias: str, column: str) -> str:
    """``domain.incidents.incident_order`` as an ORDER BY: detection time, then the id's
    length, then the id (``INC-9`` before ``INC-10``)."""
    return f" ORDER BY {alias}.detected_at, length({alias}.{column}), {alias}.{column}"


DUE = (
    "o.state = 'pending' AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.state = 'pending' "
    "AND p.recipient = o.recipient AND p.seq < o.seq)"
)
"""Per-recipient order, for ``outbox o``: an entry may be due only while no earlier entry
of its recipient is pending (claimed or not); its own ``next_at`` says when."""


# -- times ------------------------------------------------------------------------------


def micros(value: datetime) -> int:
    """Microseconds since the epoch (UTC): sortable, exact."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def optional_micros(value: datetime | None) -> int | None:
    """:func:`micros`, or ``None`` for ``None``."""
    return None if value is None else micros(value)


def instant(value: object, field: str) -> datetime:
    """The time a column of microseconds holds; :class:`DecodeError` naming ``field``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise DecodeError(f"{field}: expected an integer time, got {type(value).__name__}")
    try:
        return _EPOCH + timedelta(microseconds=value)
    except OverflowError:
        return _beyond_utc(value, field)


def _beyond_utc(value: int, field: str) -> datetime:
    """An instant up to a day outside UTC's years 1-9999, which Python holds only in an
    offset (``0001-01-01T00:00+05:00`` is still year 0 in UTC): kept at the offset
    furthest from UTC, to the microsecond. Anything further is not a time we wrote."""
    offset = _FURTHEST if value < 0 else -_FURTHEST
    try:
        local = _NAIVE_EPOCH + (timedelta(microseconds=value) + offset)
    except OverflowError:
        raise DecodeError(f"{field}: {value} is outside the years 1 to 9999") from None
    return local.replace(tzinfo=timezone(offset))


def optional_instant(value: object, field: str) -> datetime | None:
    """:func:`instant`, or ``None`` for a NULL column."""
    return None if value is None else instant(value, field)


# -- documents --------------------------------------------------------------------------


def dump_json(document: object) -> str:
    """A document as compact JSON text (keys sorted, Unicode kept)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def load_json(text: object, field: str) -> Any:
    """The document a JSON column holds; :class:`DecodeError` naming ``field``."""
    if isinstance(text, bytes):
        raise DecodeError(f"{field}: binary data where a JSON document was expected")
    if not isinstance(text, str):
        raise DecodeError(f"{field}: expected a JSON document, got {type(text).__name__}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise DecodeError(f"{field}: invalid JSON ({error})") from None


def decode_document(cls: type[Any], text: object, field: str) -> Any:
    """An instance of ``cls`` from a JSON column written by ``codec.encode``."""
    return decode(load_json(text, field), cls)


def decode_incident(text: object) -> ServiceIncident:
    """The incident an ``incidents.data`` column holds."""
    incident: ServiceIncident = decode_document(ServiceIncident, text, "incidents.data")
    return incident


# -- alerts -----------------------------------------------------------------------------

ALERT_COLUMNS = (
    "id, fingerprint, product, kind, summary, region, labels, status, count, "
    "first_seen, last_seen, incident_id, active, version, "
    "started_at, severity_hint, description, links, dedup_key, source_group"
)
"""The alert columns, in the order of :func:`alert_row` and :func:`alert_from_row`."""


def alert_row(a: Alert) -> tuple[Any, ...]:
    """The row of a new alert, in :data:`ALERT_COLUMNS` order (version 0)."""
    return (
        a.id,
        a.fingerprint,
        a.product,
        a.kind.value,
        a.summary,
        a.region,
        dump_json(dict(a.labels)),
        a.status.value,
        a.count,
        micros(a.first_seen_at),
        micros(a.last_seen_at),
        a.incident_id,
        bool(a.active),
        0,
        optional_micros(a.started_at),
        a.severity_hint,
        a.description,
        dump_json(dict(a.links)),
        a.dedup_key,
        a.source_group,
    )


def alert_from_row(row: Sequence[Any]) -> Alert:
    """The alert of a row in :data:`ALERT_COLUMNS` order."""
    try:
        return Alert(
            id=row[0],
            fingerprint=row[1],
            product=row[2],
            kind=row[3],
            summary=row[4],
            region=row[5],
            labels=load_json(row[6], "alerts.labels"),
            status=row[7],
            count=row[8],
            first_seen_at=instant(row[9], "alerts.first_seen"),
            last_seen_at=instant(row[10], "alerts.last_seen"),
            incident_id=row[11],
            active=bool(row[12]) if row[12] in (0, 1) else row[12],
            version=row[13],
            started_at=optional_instant(row[14], "alerts.started_at"),
            severity_hint=row[15],
            description=row[16],
            links=load_json(row[17], "alerts.links"),
            dedup_key=row[18],
            source_group=row[19],
        )
    except DecodeError:
        raise
    except (IncidentLifecycleError, TypeError, ValueError) as error:
        raise DecodeError(f"alert {row[0]!r}: {error}") from error


# -- incidents --------------------------------------------------------------------------


def incident_row(incident: ServiceIncident, version: int) -> tuple[Any, ...]:
    """``(id, status, group_key, detected_at, active, data, version, region)`` of an
    incident saved at ``version`` (the document records the version too)."""
    document = encode(incident)
    document["version"] = version
    return (
        incident.id,
        incident.status.value,
        incident.group_key,
        micros(incident.detected_at),
        incident.status in ACTIVE_STATUSES,
        dump_json(document),
        version,
        incident.region,
    )


# -- reports ----------------------------------------------------------------------------

REPORT_COLUMNS = (
    "ticket_id, account_id, product, symptom, summary, reported_at, region, channel, "
    "locale, status, incident_id, ended_at, version"
)
"""The report columns, in the order of :func:`report_row` (plus ``version``)."""


def report_row(r: CustomerReport) -> tuple[Any, ...]:
    """The report's row in :data:`REPORT_COLUMNS` order, without ``version``."""
    return (
        r.ticket_id,
        r.account_id,
        r.product,
        r.symptom.value,
        r.summary,
        micros(r.reported_at),
        r.region,
        r.channel.value,
        r.locale,
        r.status.value,
        r.incident_id,
        optional_micros(r.ended_at),
    )


def report_from_row(row: Sequence[Any]) -> CustomerReport:
    """The report of a row in :data:`REPORT_COLUMNS` order."""
    try:
        return CustomerReport(
            ticket_id=row[0],
            account_id=row[1],
            product=row[2],
            symptom=row[3],
            summary=row[4],
            reported_at=instant(row[5], "reports.reported_at"),
            region=row[6],
            channel=row[7],
            locale=row[8],
            status=row[9],
            incident_id=row[10],
            ended_at=optional_instant(row[11], "reports.ended_at"),
            version=row[12],
        )
    except DecodeError:
        raise
    except (IncidentLifecycleError, TypeError, ValueError) as error:
        raise DecodeError(f"report {row[0]!r}: {error}") from error


# -- outbox -----------------------------------------------------------------------------


def message_row(n: Notification | FanOut, kind: RecipientKind) -> tuple[Any, ...]:
    """``(recipient_kind, topic, incident_id, subject, body, created_at, locale)``: the
    message a notification (or every notification of a fan-out) carries."""
    return (
        kind.value,
        n.topic.value,
        n.incident_id,
        n.subject,
        n.body,
        n.created_at.isoformat(),
        n.locale,
    )


ENTRY_COLUMNS = (
    "o.seq, o.key, o.recipient, o.state, o.attempts, o.next_at, o.claim, o.error, "
    "o.updated_at, m.recipient_kind, m.topic, m.incident_id, m.subject, m.body, "
    "m.created_at, m.locale"
)
"""An outbox entry's columns (``outbox o JOIN messages m``), for :func:`entry_from_row`."""


def entry_from_row(row: Sequence[Any]) -> OutboxEntry:
    """The outbox entry of a row in :data:`ENTRY_COLUMNS` order."""
    try:
        notification = Notification.restore(
            key=row[1],
            recipient=row[2],
            recipient_kind=RecipientKind(row[9]),
            topic=Topic(row[10]),
            incident_id=row[11],
            subject=row[12],
            body=row[13],
            created_at=datetime.fromisoformat(row[14]),
            locale=row[15],
        )
        return OutboxEntry(
            notification=notification,
            seq=row[0],
            state=OutboxState(row[3]),
            attempts=row[4],
            next_attempt_at=instant(row[5], "outbox.next_at"),
            claim=row[6],
            last_error=row[7],
            updated_at=instant(row[8], "outbox.updated_at"),
        )
    except DecodeError:
        raise
    except (TypeError, ValueError) as error:
        raise DecodeError(f"outbox {row[1]!r}: {error}") from error
