"""Monitoring signals and the alerts they open.

A signal is what monitoring sends; an alert is the entity that counts the
signals sharing a fingerprint while it is active.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

import attrs

from .checks import (
    FINGERPRINT_MAX,
    SUMMARY_MAX,
    aware,
    check_enum,
    freeze_labels,
    identifier,
    instance,
    integer,
    optional,
    text,
)

__all__ = ["FINGERPRINT_MAX", "SUMMARY_MAX", "Alert", "AlertKind", "AlertSignal", "AlertStatus"]


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


@attrs.frozen(kw_only=True)
class AlertSignal:
    """One signal from monitoring, the input of ``receive_alert``.

    ``fingerprint`` is the deduplication key: signals that share it count on
    one active alert instead of opening new ones.
    """

    fingerprint: str = attrs.field(validator=identifier(FINGERPRINT_MAX))
    product: str = attrs.field(validator=identifier())
    kind: AlertKind = attrs.field(converter=_to_kind)
    summary: str = attrs.field(validator=text(SUMMARY_MAX))
    observed_at: datetime = attrs.field(validator=aware())
    region: str | None = attrs.field(default=None, validator=optional(identifier()))
    labels: Mapping[str, str] = attrs.field(
        factory=lambda: MappingProxyType({}), converter=_to_labels, hash=False
    )


@attrs.define(kw_only=True, eq=False)
class Alert:
    """An alert: the signals of one fingerprint while it is active.

    An alert is *active* while received, or validated with its incident still
    open; repeats of its fingerprint raise ``count`` and ``last_seen_at``.
    Its ``status`` changes only through the alert lifecycle.
    """

    id: str = attrs.field(validator=identifier())
    fingerprint: str = attrs.field(validator=identifier(FINGERPRINT_MAX))
    product: str = attrs.field(validator=identifier())
    kind: AlertKind = attrs.field(converter=_to_kind)
    summary: str = attrs.field(validator=text(SUMMARY_MAX))
    first_seen_at: datetime = attrs.field(validator=aware())
    last_seen_at: datetime = attrs.field(validator=aware())
    region: str | None = attrs.field(default=None, validator=optional(identifier()))
    labels: Mapping[str, str] = attrs.field(
        factory=lambda: MappingProxyType({}), converter=_to_labels
    )
    status: AlertStatus = attrs.field(default=AlertStatus.RECEIVED, converter=_to_alert_status)
    count: int = attrs.field(default=1, validator=integer(1))
    incident_id: str | None = attrs.field(default=None, validator=optional(identifier()))
    active: bool = attrs.field(default=True, validator=instance(bool))
    """Whether repeats of the fingerprint count on this alert (see the class docstring)."""
    version: int = attrs.field(default=0, validator=integer(0))

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
        )

    def record_repeat(self, signal: AlertSignal) -> None:
        """Count a repeat of this alert's fingerprint (last seen never moves back)."""
        self.count += 1
        if signal.observed_at > self.last_seen_at:
            self.last_seen_at = signal.observed_at
