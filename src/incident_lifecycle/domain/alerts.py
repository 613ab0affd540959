"""Monitoring signals and the alerts they open.

A signal is what monitoring sends; an alert is the entity that counts the
occurrences of a fingerprint while it is active. An *occurrence* is one
start of the condition: a signal whose source names its start
(``started_at``, Alertmanager's ``startsAt``) repeats an occurrence already
counted when that start is no later than the alert's latest one (a re-sent
webhook), and is a new occurrence otherwise; a signal without a start is an
occurrence of its own (a PagerDuty trigger). See :func:`is_new_occurrence`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType

import attrs

from .checks import (
    ALERT_DESCRIPTION_MAX,
    FINGERPRINT_MAX,
    GROUP_KEY_MAX,
    SEVERITY_NAME_MAX,
    SOURCE_KEY_MAX,
    SUMMARY_MAX,
    aware,
    check_aware,
    check_enum,
    freeze_labels,
    freeze_links,
    identifier,
    instance,
    integer,
    optional,
    text,
)

__all__ = [
    "FINGERPRINT_MAX",
    "SUMMARY_MAX",
    "Alert",
    "AlertKind",
    "AlertSignal",
    "AlertStatus",
    "is_new_occurrence",
    "new_occurrences",
]


class AlertKind(enum.StrEnum):
    """What monitoring saw: the guide's three signals, and anything else."""

    LATENCY = "latency"
    """A product answers slower than expected."""
    ERROR_RATE = "error_rate"
    """Error rates rise."""
    VOLUME = "volume"
    """A service's volume changes faster than expected."""
    OTHER = "other"


class AlertStatus(enum.StrEnum):
    """Where an alert is in its lifecycle (see ``docs/lifecycles.md``)."""

    RECEIVED = "received"
    VALIDATED = "validated"
    DISMISSED = "dismissed"
    RECOVERED = "recovered"


def _to_kind(value: AlertKind | str) -> AlertKind:
    return check_enum("kind", AlertKind, value)


def _to_alert_status(value: AlertStatus | str) -> AlertStatus:
    return check_enum("status", AlertStatus, value)


def _to_labels(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return freeze_labels(value)


def _to_links(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return freeze_links(value)


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


def is_new_occurrence(latest_start: datetime | None, start: datetime | None) -> bool:
    """Whether a signal started at ``start`` is a new occurrence of an alert whose latest
    counted occurrence started at ``latest_start``.

    A signal without a start always is; one whose start is no later than the
    latest start is that occurrence (or an older one) sent again.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    >>> is_new_occurrence(t, t), is_new_occurrence(t, None), is_new_occurrence(None, t)
    (False, True, True)
    """
    return start is None or latest_start is None or start > latest_start


def new_occurrences(
    latest_start: datetime | None, starts: Iterable[datetime]
) -> tuple[int, datetime | None]:
    """How many distinct ``starts`` are new occurrences after ``latest_start``, and the
    latest start once they are counted (``latest_start`` if none is new)."""
    new = {start for start in starts if is_new_occurrence(latest_start, start)}
    return (len(new), max(new)) if new else (0, latest_start)


@attrs.frozen(kw_only=True)
class AlertSignal:
    """One signal from monitoring, the input of ``receive_alert``.

    ``fingerprint`` is the deduplication key: signals that share it count on
    one active alert instead of opening new ones. The fields after
    ``labels`` are what the source said besides (see ``docs/intake.md``).
    """

    fingerprint: str = attrs.field(validator=identifier(FINGERPRINT_MAX))
    product: str = attrs.field(validator=identifier())
    kind: AlertKind = attrs.field(converter=_to_kind)
    summary: str = attrs.field(validator=text(SUMMARY_MAX))
    observed_at: datetime = attrs.field(validator=aware())
    """When the signal was seen (received): an alert's ``last_seen_at``."""
    region: str | None = attrs.field(default=None, validator=optional(identifier()))
    labels: Mapping[str, str] = attrs.field(factory=_empty, converter=_to_labels, hash=False)
    started_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    """When the condition started, as the source says: signals of one fingerprint with the
    same start are one occurrence, sent again. ``None``: each signal is an occurrence."""
    severity_hint: str | None = attrs.field(
        default=None, validator=optional(identifier(SEVERITY_NAME_MAX))
    )
    """The severity level the source's own severity maps to (``SEV2``): a suggestion."""
    description: str | None = attrs.field(
        default=None, validator=optional(text(ALERT_DESCRIPTION_MAX))
    )
    links: Mapping[str, str] = attrs.field(factory=_empty, converter=_to_links, hash=False)
    """Link name (``runbook``, ``generator``, ``dashboard``) to an http(s) URL."""
    dedup_key: str | None = attrs.field(
        default=None, validator=optional(identifier(SOURCE_KEY_MAX))
    )
    """The source's own deduplication key, when the fingerprint is its hash (too long)."""
    source_group: str | None = attrs.field(
        default=None, validator=optional(identifier(GROUP_KEY_MAX))
    )
    """The source's group of the signal (Alertmanager's ``groupKey``)."""

    def seen_again(self, observed_at: datetime) -> AlertSignal:
        """This signal as seen again at ``observed_at`` (an aware time): the value
        ``attrs.evolve(self, observed_at=observed_at)`` gives, without checking again the
        fields that this signal's construction checked already.

        Raises:
            InvalidInput: ``observed_at`` is not an aware datetime.
        """
        check_aware("observed_at", observed_at)
        twin = object.__new__(AlertSignal)
        put = object.__setattr__
        for name in _SIGNAL_FIELDS:
            put(twin, name, getattr(self, name))
        put(twin, "observed_at", observed_at)
        return twin


_SIGNAL_FIELDS = tuple(field.name for field in attrs.fields(AlertSignal))


@attrs.define(kw_only=True, eq=False)
class Alert:
    """An alert: the signals of one fingerprint while it is active.

    An alert is *active* while received, or validated with its incident still
    open; repeats of its fingerprint raise ``last_seen_at``, and ``count``
    when they are new occurrences (:func:`is_new_occurrence`). Its ``status``
    changes only through the alert lifecycle. The source's facts are those of
    the signal that opened it; ``started_at`` is its latest occurrence's start.
    """

    id: str = attrs.field(validator=identifier())
    fingerprint: str = attrs.field(validator=identifier(FINGERPRINT_MAX))
    product: str = attrs.field(validator=identifier())
    kind: AlertKind = attrs.field(converter=_to_kind)
    summary: str = attrs.field(validator=text(SUMMARY_MAX))
    first_seen_at: datetime = attrs.field(validator=aware())
    last_seen_at: datetime = attrs.field(validator=aware())
    region: str | None = attrs.field(default=None, validator=optional(identifier()))
    labels: Mapping[str, str] = attrs.field(factory=_empty, converter=_to_labels)
    status: AlertStatus = attrs.field(default=AlertStatus.RECEIVED, converter=_to_alert_status)
    count: int = attrs.field(default=1, validator=integer(1))
    incident_id: str | None = attrs.field(default=None, validator=optional(identifier()))
    active: bool = attrs.field(default=True, validator=instance(bool))
    """Whether repeats of the fingerprint count on this alert (see the class docstring)."""
    version: int = attrs.field(default=0, validator=integer(0))
    started_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    severity_hint: str | None = attrs.field(
        default=None, validator=optional(identifier(SEVERITY_NAME_MAX))
    )
    description: str | None = attrs.field(
        default=None, validator=optional(text(ALERT_DESCRIPTION_MAX))
    )
    links: Mapping[str, str] = attrs.field(factory=_empty, converter=_to_links)
    dedup_key: str | None = attrs.field(
        default=None, validator=optional(identifier(SOURCE_KEY_MAX))
    )
    source_group: str | None = attrs.field(
        default=None, validator=optional(identifier(GROUP_KEY_MAX))
    )

    @classmethod
    def from_signal(cls, alert_id: str, signal: AlertSignal) -> Alert:
        """Open a new alert from its first signal."""
        return cls(
            id=alert_id,
            fingerprint=signal.fingerprint,
            product=signal.product,
            kind=signal.kind,
            summary=signal.summary,
            first_seen_at=signal.observed_at,
            last_seen_at=signal.observed_at,
            region=signal.region,
            labels=signal.labels,
            started_at=signal.started_at,
            severity_hint=signal.severity_hint,
            description=signal.description,
            links=signal.links,
            dedup_key=signal.dedup_key,
            source_group=signal.source_group,
        )

    def record_repeat(self, signal: AlertSignal) -> None:
        """Take a repeat of this alert's fingerprint: counted if a new occurrence, and seen.

        Last seen never moves back, nor does the latest start.
        """
        if is_new_occurrence(self.started_at, signal.started_at):
            self.count += 1
            if signal.started_at is not None:
                self.started_at = signal.started_at
        if signal.observed_at > self.last_seen_at:
            self.last_seen_at = signal.observed_at
