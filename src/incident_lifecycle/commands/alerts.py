"""Monitoring's commands: take signals, clear them, move a wrongly grouped alert."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import ClassVar

import attrs

from ..domain.actors import Action, Actor, check_permitted
from ..domain.alerts import Alert, AlertSignal, AlertStatus
from ..domain.checks import FINGERPRINT_MAX, check_identifier, identifier, instance, optional
from ..domain.errors import InvalidInput, InvalidTransition
from ..domain.events import (
    AlertDetached,
    AlertJoined,
    AlertRecovered,
    IncidentDetected,
    IncidentDismissed,
    SignalsCleared,
)
from ..domain.incidents import ACTIVE_STATUSES, OPEN_STATUSES, IncidentStatus, ServiceIncident
from ..lifecycle import ALERT_LIFECYCLE
from .base import MONITORING_ACTOR, WIRE, Command, Context, or_monitoring
from .intake import AlertReceipt, IntakeReport, potential_incident, receive

__all__ = [
    "ClearAlert",
    "ClearAlerts",
    "ClearOutcome",
    "ClearReceipt",
    "DetachAlert",
    "ReceiveAlert",
    "ReceiveAlerts",
]


def _to_signals(value: object) -> tuple[AlertSignal, ...]:
    if isinstance(value, AlertSignal | str | bytes) or not isinstance(value, Sequence):
        raise InvalidInput("signals", "must be a sequence of AlertSignal")
    for index, signal in enumerate(value):
        if not isinstance(signal, AlertSignal):
            raise InvalidInput("signals", f"item {index} is not an AlertSignal")
    return tuple(value)


@attrs.frozen(kw_only=True)
class ReceiveAlerts(Command[IntakeReport]):
    """A batch of signals, in one transaction: repeats counted, new alerts grouped.

    A new signal of a product no team owns (and no default team) is refused on its own:
    the intake report names it and the product (``refused``); the rest is received.
    """

    op: ClassVar[str] = "alerts"
    action: ClassVar[Action | None] = Action.RECEIVE_ALERT

    signals: tuple[AlertSignal, ...] = attrs.field(converter=_to_signals)
    by: Actor = attrs.field(
        default=MONITORING_ACTOR, converter=or_monitoring, validator=instance(Actor)
    )

    def execute(self, ctx: Context) -> IntakeReport:
        """Deduplicate and group the signals (see :mod:`.intake`)."""
        check_permitted(self.by, Action.RECEIVE_ALERT)
        config = ctx.config
        report, notifications = receive(
            ctx.tx,
            self.signals,
            now=ctx.now,
            actor=self.by,
            grouping=config.grouping,
            owner_of=config.owner_of,
            messenger=config.messages,
        )
        ctx.notify(*notifications)
        return report


@attrs.frozen(kw_only=True)
class ReceiveAlert(Command[AlertReceipt]):
    """One monitoring signal: counted on its active alert, or grouped as a new alert."""

    op: ClassVar[str] = "alert"
    action: ClassVar[Action | None] = Action.RECEIVE_ALERT

    signal: AlertSignal = attrs.field(validator=instance(AlertSignal), metadata={WIRE: "*"})
    """On the wire, the signal's fields are the line's own."""
    by: Actor = attrs.field(
        default=MONITORING_ACTOR, converter=or_monitoring, validator=instance(Actor)
    )

    def execute(self, ctx: Context) -> AlertReceipt:
        """Receive the signal as a batch of one; return where it went."""
        report = ReceiveAlerts(signals=(self.signal,), by=self.by).execute(ctx)
        refused = report.refused.get(self.signal.fingerprint)
        if refused is not None:
            raise InvalidInput("product", refused)
        return report.receipt(self.signal.fingerprint)


class ClearOutcome(enum.StrEnum):
    """What clearing a fingerprint did."""

    NO_ACTIVE_ALERT = "no_active_alert"
    """No active alert has that fingerprint: nothing changed."""
    RECOVERED = "recovered"
    """The alert of a potential incident recovered."""
    INCIDENT_DISMISSED = "incident_dismissed"
    """It recovered, and so had every other alert of its potential incident: dismissed."""
    NOTED = "noted"
    """The alert was no longer one a recovery changes: the recovery is only on the timeline."""
    ALL_SIGNALS_CLEARED = "all_signals_cleared"
    """It recovered, and so had every other alert of its open incident: the owner team is
    told, once (the incident stays open: people resolve incidents)."""


@attrs.frozen(kw_only=True)
class ClearReceipt:
    """What ``clear_alert`` did."""

    outcome: ClearOutcome
    alert_id: str | None = None
    incident_id: str | None = None


@attrs.frozen(kw_only=True)
class ClearAlert(Command[ClearReceipt]):
    """Monitoring reports that the condition behind a fingerprint cleared."""

    op: ClassVar[str] = "clear"
    action: ClassVar[Action | None] = Action.RECEIVE_ALERT

    fingerprint: str = attrs.field(validator=identifier(FINGERPRINT_MAX))
    by: Actor = attrs.field(
        default=MONITORING_ACTOR, converter=or_monitoring, validator=instance(Actor)
    )

    def execute(self, ctx: Context) -> ClearReceipt:
        """Recover the active alert; dismiss its potential incident once all recovered."""
        check_permitted(self.by, Action.RECEIVE_ALERT)
        alert = ctx.tx.active_alerts([self.fingerprint]).get(self.fingerprint)
        return clear(ctx, self.fingerprint, alert, self.by)


def _to_fingerprints(value: object) -> tuple[str, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InvalidInput("fingerprints", "must be a sequence of fingerprints")
    for index, fingerprint in enumerate(value):
        try:
            check_identifier("fingerprints", fingerprint, max_len=FINGERPRINT_MAX)
        except InvalidInput as error:
            raise InvalidInput("fingerprints", f"item {index} {error.reason}") from None
    return tuple(value)


@attrs.frozen(kw_only=True)
class ClearAlerts(Command[Mapping[str, ClearReceipt]]):
    """A batch of cleared fingerprints (a resolved webhook), in one transaction.

    Each fingerprint is cleared as ``clear`` would, in order; the result maps
    each one (once, however often it is given) to its receipt.
    """

    op: ClassVar[str] = "clear_alerts"
    action: ClassVar[Action | None] = Action.RECEIVE_ALERT

    fingerprints: tuple[str, ...] = attrs.field(converter=_to_fingerprints)
    by: Actor = attrs.field(
        default=MONITORING_ACTOR, converter=or_monitoring, validator=instance(Actor)
    )

    def execute(self, ctx: Context) -> Mapping[str, ClearReceipt]:
        """Clear each fingerprint's active alert (one bulk lookup for the batch)."""
        check_permitted(self.by, Action.RECEIVE_ALERT)
        unique = list(dict.fromkeys(self.fingerprints))
        active = ctx.tx.active_alerts(unique)
        return {fp: clear(ctx, fp, active.get(fp), self.by) for fp in unique}


def clear(ctx: Context, fingerprint: str, alert: Alert | None, by: Actor) -> ClearReceipt:
    """Clear ``fingerprint`` whose active alert is ``alert`` (``None``: it has none)."""
    if alert is None:
        return ClearReceipt(outcome=ClearOutcome.NO_ACTIVE_ALERT)
    tx, now = ctx.tx, ctx.now
    incident_id = alert.incident_id or ""
    ctx.record(
        AlertRecovered(
            incident_id=incident_id,
            actor=by,
            at=now,
            alert_id=alert.id,
            fingerprint=fingerprint,
        )
    )
    receipt = ClearReceipt(outcome=ClearOutcome.NOTED, alert_id=alert.id, incident_id=incident_id)
    if alert.status not in (AlertStatus.RECEIVED, AlertStatus.VALIDATED):
        return receipt
    ALERT_LIFECYCLE.fire(alert, "recover", now=now)
    alert.active = False
    tx.save_alerts([alert])
    incident = tx.incident(incident_id)
    alerts = tx.alerts_of(incident_id)
    if not all(a.status is AlertStatus.RECOVERED for a in alerts):
        return attrs.evolve(receipt, outcome=ClearOutcome.RECOVERED)
    if incident.status in OPEN_STATUSES:
        return _all_clear(ctx, incident, len(alerts), by, receipt)
    if incident.status is not IncidentStatus.DETECTED:
        return attrs.evolve(receipt, outcome=ClearOutcome.RECOVERED)
    reason = "every signal recovered before validation"
    ctx.fire(incident, "dismiss")
    incident.dismissal_reason = reason
    tx.save_incident(incident)
    ctx.record(IncidentDismissed(incident_id=incident_id, actor=by, at=now, reason=reason))
    return attrs.evolve(receipt, outcome=ClearOutcome.INCIDENT_DISMISSED)


def _all_clear(
    ctx: Context, incident: ServiceIncident, count: int, by: Actor, receipt: ClearReceipt
) -> ClearReceipt:
    """Every alert of the open ``incident`` recovered: tell its owner team, once per all-clear
    (a new alert joining resets it), and say so on the timeline. The incident stays open."""
    if incident.all_clear_at is not None:
        return attrs.evolve(receipt, outcome=ClearOutcome.RECOVERED)
    incident.all_clear_at = ctx.now
    ctx.tx.save_incident(incident)
    ctx.notify(ctx.messages.signals_cleared(incident, count, ctx.now))
    ctx.record(SignalsCleared(incident_id=incident.id, actor=by, at=ctx.now, alerts=count))
    return attrs.evolve(receipt, outcome=ClearOutcome.ALL_SIGNALS_CLEARED)


@attrs.frozen(kw_only=True)
class DetachAlert(Command[str]):
    """Move a wrongly grouped alert to its own potential incident, or into another.

    Returns the id of the incident the alert now belongs to.
    """

    op: ClassVar[str] = "detach"
    action: ClassVar[Action | None] = Action.DETACH_ALERT

    alert_id: str = attrs.field(validator=identifier(), metadata={WIRE: "alert"})
    by: Actor = attrs.field(validator=instance(Actor))
    into: str | None = attrs.field(default=None, validator=optional(identifier()))

    def execute(self, ctx: Context) -> str:
        """Detach the alert; the owner team of a new potential incident is asked to validate."""
        tx, now = ctx.tx, ctx.now
        alert = tx.alert(self.alert_id)
        source = tx.incident(alert.incident_id or "")
        check_permitted(self.by, Action.DETACH_ALERT, source.owner_team)
        if not alert.active or source.status not in ACTIVE_STATUSES:
            raise InvalidTransition("alert", alert.id, "detach", alert.status.value)
        if self.into is None:
            target = self._own_incident(ctx, alert, source)
        else:
            if self.into == source.id:
                raise InvalidInput("into", "the alert already belongs to that incident")
            target = tx.incident(self.into)
            ctx.require(target, ACTIVE_STATUSES, "take an alert into")
            tx.save_incident(target)
        _move(alert, target, ctx)
        tx.save_alerts([alert])
        tx.save_incident(source)
        ctx.record(
            AlertDetached(
                incident_id=source.id, actor=self.by, at=now, alert_id=alert.id, into=target.id
            ),
            AlertJoined(
                incident_id=target.id,
                actor=self.by,
                at=now,
                alert_id=alert.id,
                fingerprint=alert.fingerprint,
            ),
        )
        return target.id

    def _own_incident(self, ctx: Context, alert: Alert, source: ServiceIncident) -> ServiceIncident:
        """The alert's own potential incident: the one a detach made before, if it is still
        awaiting validation (one potential incident per group key), else a new one."""
        key = f"{source.group_key or alert.product}|detached={alert.id}"
        for found in ctx.tx.active_incidents(group_key=key):
            if found.status is IncidentStatus.DETECTED and found.id != source.id:
                ctx.tx.save_incident(found)
                return found
        target = potential_incident(
            ctx.tx, alert, team=ctx.config.owner_of(alert.product), now=ctx.now, group_key=key
        )
        ctx.tx.add_incident(target)
        ctx.record(
            IncidentDetected(
                incident_id=target.id, actor=self.by, at=ctx.now, alert_id=alert.id, group_key=key
            )
        )
        ctx.notify(
            ctx.messages.validation_request(
                target,
                alert.summary,
                ctx.now,
                severity_hint=alert.severity_hint,
                links=alert.links,
            )
        )
        return target


def _move(alert: Alert, target: ServiceIncident, ctx: Context) -> None:
    """Point ``alert`` at ``target``, its status following the target's (potential or open)."""
    if target.status is IncidentStatus.DETECTED and alert.status is AlertStatus.VALIDATED:
        ALERT_LIFECYCLE.fire(alert, "regroup", now=ctx.now)
    elif target.status in OPEN_STATUSES and alert.status is AlertStatus.RECEIVED:
        ALERT_LIFECYCLE.fire(alert, "validate", now=ctx.now)
    alert.incident_id = target.id
