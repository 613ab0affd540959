"""The owner team's commands on an incident: validate or dismiss it, then work it to review."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import attrs

from ..domain.actors import Action, Actor, check_permitted
from ..domain.alerts import Alert, AlertStatus
from ..domain.checks import (
    BODY_MAX,
    REASON_MAX,
    SEVERITY_NAME_MAX,
    TITLE_MAX,
    check_enum,
    identifier,
    instance,
    optional,
    text,
)
from ..domain.errors import InvalidInput
from ..domain.events import (
    IncidentAcknowledged,
    IncidentClosed,
    IncidentDeclared,
    IncidentDismissed,
    IncidentHandedOff,
    IncidentMerged,
    IncidentReopened,
    IncidentResolved,
    IncidentsMergedIn,
    IncidentValidated,
    SeverityChanged,
    UpdatePosted,
)
from ..domain.incidents import (
    ACTIVE_STATUSES,
    OPEN_STATUSES,
    Handoff,
    IncidentStatus,
    Review,
    ServiceIncident,
    StatusUpdate,
    Visibility,
    with_summary,
)
from ..domain.reports import ReportStatus
from ..domain.severity import Severity, SeverityScale
from ..lifecycle import ALERT_LIFECYCLE, REPORT_LIFECYCLE
from .base import CHOICES, WIRE, Command, Context

__all__ = [
    "Acknowledge",
    "ChangeSeverity",
    "CloseIncident",
    "DeclareIncident",
    "DismissIncident",
    "HandOff",
    "MergeIncidents",
    "PostUpdate",
    "ReopenIncident",
    "ResolveIncident",
    "ValidateIncident",
    "open_incident",
]

_PHASE_EVENTS = {
    IncidentStatus.INVESTIGATING: "investigate",
    IncidentStatus.IDENTIFIED: "identify",
    IncidentStatus.MONITORING: "monitor",
}


def _check_severity(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, Severity):
        identifier(SEVERITY_NAME_MAX)(_inst, attribute, value)


def _to_visibility(value: object) -> Visibility:
    return check_enum("visibility", Visibility, value)


def _to_phase(value: object) -> IncidentStatus | None:
    if value is None:
        return None
    if isinstance(value, IncidentStatus):
        phase = value
    elif isinstance(value, str) and value in {s.value for s in IncidentStatus}:
        phase = IncidentStatus(value)
    else:
        raise InvalidInput("status", f"{value!r} is not an incident status")
    if phase not in OPEN_STATUSES:
        raise InvalidInput(
            "status", "an update may move to investigating, identified or monitoring"
        )
    return phase


def open_incident(
    ctx: Context,
    *,
    by: Actor,
    title: str,
    product: str,
    region: str | None,
    severity: Severity,
    summary: str,
    notify_owner: bool,
) -> ServiceIncident:
    """Open an incident directly, detected and validated at once (declare, a report surge).

    The owner team is told (``incident_declared``) when ``notify_owner``.
    """
    config = ctx.config
    incident = ServiceIncident(
        id=ctx.tx.new_id("INC"),
        title=title,
        products=(product,),
        region=region,
        owner_team=config.owner_of(product),
        detected_at=ctx.now,
        group_key=config.grouping.key(product, region),
        severity=severity,
        summary=with_summary(None, summary),
    )
    ctx.fire(incident, "validate")
    ctx.tx.add_incident(incident)
    ctx.record(
        IncidentDeclared(
            incident_id=incident.id, actor=by, at=ctx.now, severity=severity.name, title=title
        )
    )
    if notify_owner:
        ctx.notify(ctx.messages.incident_declared(incident, summary, by.name, ctx.now))
    return incident


@attrs.frozen(kw_only=True)
class Acknowledge(Command[ServiceIncident]):
    """Someone is on it: a timestamped timeline event (not a status)."""

    op: ClassVar[str] = "acknowledge"
    action: ClassVar[Action | None] = Action.ACKNOWLEDGE

    incident_id: str = attrs.field(validator=identifier(), metadata={WIRE: "incident"})
    by: Actor = attrs.field(validator=instance(Actor))

    def execute(self, ctx: Context) -> ServiceIncident:
        """Stamp the first acknowledgement; record every one."""
        incident = ctx.incident_for(self.incident_id, self.by, Action.ACKNOWLEDGE)
        ctx.require(incident, ACTIVE_STATUSES, "acknowledge")
        if incident.acknowledged_at is None:
            incident.acknowledged_at = ctx.now
        ctx.tx.save_incident(incident)
        ctx.record(IncidentAcknowledged(incident_id=incident.id, actor=self.by, at=ctx.now))
        return incident


@attrs.frozen(kw_only=True)
class ValidateIncident(Command[ServiceIncident]):
    """The owner team confirms a potential incident: it opens at a severity.

    Without ``severity``, at the worst severity hint of its alerts that is a
    level of the desk's scale (what the sources suggested), or refused with
    ``InvalidInput`` naming ``severity`` when none is.
    """

    op: ClassVar[str] = "validate"
    action: ClassVar[Action | None] = Action.VALIDATE

    incident_id: str = attrs.field(validator=identifier(), metadata={WIRE: "incident"})
    by: Actor = attrs.field(validator=instance(Actor))
    severity: Severity | str | None = attrs.field(default=None, validator=optional(_check_severity))
    title: str | None = attrs.field(default=None, validator=optional(text(TITLE_MAX)))

    def execute(self, ctx: Context) -> ServiceIncident:
        """Open the incident; its received alerts are validated with it."""
        given = None if self.severity is None else ctx.config.severity(self.severity)
        incident = ctx.incident_for(self.incident_id, self.by, Action.VALIDATE)
        ctx.fire(incident, "validate")
        alerts = ctx.tx.alerts_of(incident.id)
        level = given or suggested_severity(ctx.config.scale, alerts, incident.id)
        incident.severity = level
        if self.title is not None:
            incident.title = self.title
        if incident.acknowledged_at is None:
            incident.acknowledged_at = ctx.now
        received = [a for a in alerts if a.status is AlertStatus.RECEIVED]
        ALERT_LIFECYCLE.fire_many(received, "validate", now=ctx.now)
        ctx.tx.save_alerts(received)
        ctx.tx.save_incident(incident)
        ctx.record(
            IncidentValidated(
                incident_id=incident.id,
                actor=self.by,
                at=ctx.now,
                severity=level.name,
                title=incident.title,
            )
        )
        return incident


def suggested_severity(scale: SeverityScale, alerts: Iterable[Alert], incident_id: str) -> Severity:
    """The worst severity hint among ``alerts`` that names a level of ``scale``.

    Raises ``InvalidInput`` naming ``severity`` when no alert has such a hint.
    """
    hints = {a.severity_hint for a in alerts if a.severity_hint is not None}
    levels = [level for level in scale if level.name in hints]
    if not levels:
        unknown = f" ({', '.join(sorted(hints))} not on the scale)" if hints else ""
        raise InvalidInput(
            "severity", f"give one: no alert of {incident_id} suggests a level{unknown}"
        )
    return min(levels)


@attrs.frozen(kw_only=True)
class DismissIncident(Command[ServiceIncident]):
    """The potential incident is not real: it and its alerts are dismissed.

    Repeats of the dismissed alerts' fingerprints then open new alerts.
    """

    op: ClassVar[str] = "dismiss"
    action: ClassVar[Action | None] = Action.DISMISS

    incident_id: str = attrs.field(validator=identifier(), metadata={WIRE: "incident"})
    by: Actor = attrs.field(validator=instance(Actor))
    reason: str = attrs.field(validator=text(REASON_MAX))

    def execute(self, ctx: Context) -> ServiceIncident:
        """Dismiss the incident and its received alerts."""
        incident = ctx.incident_for(self.incident_id, self.by, Action.DISMISS)
        ctx.fire(incident, "dismiss")
        incident.dismissal_reason = self.reason
        alerts = [a for a in ctx.tx.alerts_of(incident.id) if a.status is AlertStatus.RECEIVED]
        ALERT_LIFECYCLE.fire_many(alerts, "dismiss", now=ctx.now)
        for alert in alerts:
            alert.active = False
        ctx.tx.save_alerts(alerts)
        ctx.tx.save_incident(incident)
        ctx.record(
            IncidentDismissed(
                incident_id=incident.id, actor=self.by, at=ctx.now, reason=self.reason
            )
        )
        return incident


@attrs.frozen(kw_only=True)
class DeclareIncident(Command[ServiceIncident]):
    """Open an incident directly (e.g. from support): detected and validated at once.

    The owner team is notified unless the declarer belongs to it.
    """

    op: ClassVar[str] = "declare"
    action: ClassVar[Action | None] = Action.DECLARE

    by: Actor = attrs.field(validator=instance(Actor))
    title: str = attrs.field(validator=text(TITLE_MAX))
    product: str = attrs.field(validator=identifier())
    severity: Severity | str = attrs.field(validator=_check_severity)
    region: str | None = attrs.field(default=None, validator=optional(identifier()))

    def execute(self, ctx: Context) -> ServiceIncident:
        """Open the incident at the severity."""
        level = ctx.config.severity(self.severity)
        team = ctx.config.owner_of(self.product)
        check_permitted(self.by, Action.DECLARE, team)
        return open_incident(
            ctx,
            by=self.by,
            title=self.title,
            product=self.product,
            region=self.region,
            severity=level,
            summary=self.title,
            notify_owner=self.by.team != team,
        )


@attrs.frozen(kw_only=True)
class PostUpdate(Command[StatusUpdate]):
    """Post a status update, optionally moving to another open phase.

    A public update is sent to every linked ticket not yet solved (one
    notification each, enqueued in bulk) and, when the desk has a status page
    and the incident's severity is public, to the status page (one
    notification); an internal one never reaches a customer or the page.
    """

    op: ClassVar[str] = "update"
    action: ClassVar[Action | None] = Action.POST_PUBLIC_UPDATE
    """An internal update needs only ``Action.POST_INTERNAL_UPDATE``."""

    incident_id: str = attrs.field(validator=identifier(), metadata={WIRE: "incident"})
    by: Actor = attrs.field(validator=instance(Actor))
    body: str = attrs.field(validator=text(BODY_MAX))
    visibility: Visibility = attrs.field(default=Visibility.PUBLIC, converter=_to_visibility)
    status: IncidentStatus | None = attrs.field(
        default=None,
        converter=_to_phase,
        metadata={CHOICES: tuple(s.value for s in IncidentStatus if s in OPEN_STATUSES)},
    )

    def execute(self, ctx: Context) -> StatusUpdate:
        """Store the update; a public one fans out to the linked tickets."""
        tx, now = ctx.tx, ctx.now
        public = self.visibility is Visibility.PUBLIC
        action = Action.POST_PUBLIC_UPDATE if public else Action.POST_INTERNAL_UPDATE
        incident = ctx.incident_for(self.incident_id, self.by, action)
        ctx.require(incident, OPEN_STATUSES, "post an update to")
        if self.status is not None and self.status is not incident.status:
            ctx.fire(incident, _PHASE_EVENTS[self.status])
        update = StatusUpdate(
            id=tx.new_id("UPD"),
            incident_id=incident.id,
            body=self.body,
            visibility=self.visibility,
            status=incident.status,
            posted_at=now,
            author=self.by,
        )
        tx.add_update(update)
        incident.last_update_at = now
        if public:
            if incident.first_public_update_at is None:
                incident.first_public_update_at = now
            incident.last_public_update_at = now
            incident.last_public_update = self.body
            incident.last_reminder_at = None
            recipients = tx.linked_recipients(incident.id, ReportStatus.LINKED)
            ctx.fan_out(ctx.messages.status_update(incident, update, recipients, now))
            page = ctx.messages.status_page_update(incident, update, now)
            if page is not None and ctx.config.status_page:
                ctx.notify(page)
        tx.save_incident(incident)
        ctx.record(
            UpdatePosted(
                incident_id=incident.id,
                actor=self.by,
                at=now,
                update_id=update.id,
                visibility=self.visibility.value,
                status=incident.status.value,
                body=self.body,
            )
        )
        return update


@attrs.frozen(kw_only=True)
class ChangeSeverity(Command[ServiceIncident]):
    """Raise or lower an open incident's severity."""

    op: ClassVar[str] = "severity"
    action: ClassVar[Action | None] = Action.CHANGE_SEVERITY

    incident_id: str = attrs.field(validator=identifier(), metadata={WIRE: "incident"})
    by: Actor = attrs.field(validator=instance(Actor))
    severity: Severity | str = attrs.field(validator=_check_severity)
    reason: str = attrs.field(default="", validator=text(REASON_MAX, min_len=0))

    def execute(self, ctx: Context) -> ServiceIncident:
        """Set the new level; the same level again is refused."""
        level = ctx.config.severity(self.severity)
        incident = ctx.incident_for(self.incident_id, self.by, Action.CHANGE_SEVERITY)
        ctx.require(incident, OPEN_STATUSES, "change the severity of")
        if incident.severity == level:
            raise InvalidInput("severity", f"the incident is already {level.name}")
        previous = incident.severity.name if incident.severity else "none"
        incident.severity = level
        ctx.tx.save_incident(incident)
        ctx.record(
            SeverityChanged(
                incident_id=incident.id,
                actor=self.by,
                at=ctx.now,
                previous=previous,
                severity=level.name,
                reason=self.reason,
            )
        )
        return incident


@attrs.frozen(kw_only=True)
class HandOff(Command[Handoff]):
    """Pass ownership to another team, which is notified."""

    op: ClassVar[str] = "hand_off"
    action: ClassVar[Action | None] = Action.HAND_OFF

    incident_id: str = attrs.field(validator=identifier(), metadata={WIRE: "incident"})
    by: Actor = attrs.field(validator=instance(Actor))
    to_team: str = attrs.field(validator=identifier())
    reason: str = attrs.field(validator=text(REASON_MAX))

    def execute(self, ctx: Context) -> Handoff:
        """Move the ownership; tell the receiving team."""
        incident = ctx.incident_for(self.incident_id, self.by, Action.HAND_OFF)
        ctx.require(incident, ACTIVE_STATUSES, "hand off")
        handoff = Handoff(
            incident_id=incident.id,
            from_team=incident.owner_team,
            to_team=self.to_team,
            reason=self.reason,
            at=ctx.now,
        )
        incident.owner_team = self.to_team
        ctx.tx.save_incident(incident)
        ctx.notify(ctx.messages.handoff(incident, handoff, ctx.now))
        ctx.record(
            IncidentHandedOff(
                incident_id=incident.id,
                actor=self.by,
                at=ctx.now,
                from_team=handoff.from_team,
                to_team=self.to_team,
                reason=self.reason,
            )
        )
        return handoff


@attrs.frozen(kw_only=True)
class ResolveIncident(Command[ServiceIncident]):
    """Service is restored: linked tickets not yet solved get the resolution and are solved.

    The incident's alerts stop being active: a repeat of their fingerprints
    opens a new alert.
    """

    op: ClassVar[str] = "resolve"
    action: ClassVar[Action | None] = Action.RESOLVE

    incident_id: str = attrs.field(validator=identifier(), metadata={WIRE: "incident"})
    by: Actor = attrs.field(validator=instance(Actor))
    resolution: str = attrs.field(validator=text(BODY_MAX))

    def execute(self, ctx: Context) -> ServiceIncident:
        """Resolve; cascade to the linked tickets in bulk."""
        tx, now = ctx.tx, ctx.now
        incident = ctx.incident_for(self.incident_id, self.by, Action.RESOLVE)
        ctx.fire(incident, "resolve")
        incident.resolution = self.resolution
        alerts = [a for a in tx.alerts_of(incident.id) if a.active]
        for alert in alerts:
            alert.active = False
        tx.save_alerts(alerts)
        solved = REPORT_LIFECYCLE.target_of(ReportStatus.LINKED, "solve")
        assert solved is not None  # declared by ReportLifecycle
        recipients = tx.transition_linked_reports(
            incident.id, ReportStatus.LINKED, ReportStatus(solved), now
        )
        ctx.fan_out(ctx.messages.resolution(incident, recipients, now))
        page = ctx.messages.status_page_resolution(incident, now)
        if page is not None and ctx.config.status_page:
            ctx.notify(page)
        tx.save_incident(incident)
        ctx.record(
            IncidentResolved(
                incident_id=incident.id,
                actor=self.by,
                at=now,
                resolution=self.resolution,
                tickets_solved=len(recipients),
            )
        )
        return incident


@attrs.frozen(kw_only=True)
class ReopenIncident(Command[ServiceIncident]):
    """A resolved incident came back, within the reopen window: investigating again."""

    op: ClassVar[str] = "reopen"
    action: ClassVar[Action | None] = Action.REOPEN

    incident_id: str = attrs.field(validator=identifier(), metadata={WIRE: "incident"})
    by: Actor = attrs.field(validator=instance(Actor))
    reason: str = attrs.field(validator=text(REASON_MAX))

    def execute(self, ctx: Context) -> ServiceIncident:
        """Reopen (the lifecycle's guard checks the window)."""
        incident = ctx.incident_for(self.incident_id, self.by, Action.REOPEN)
        ctx.fire(incident, "reopen")
        incident.reopen_count += 1
        ctx.tx.save_incident(incident)
        ctx.record(
            IncidentReopened(incident_id=incident.id, actor=self.by, at=ctx.now, reason=self.reason)
        )
        return incident


@attrs.frozen(kw_only=True)
class MergeIncidents(Command[ServiceIncident]):
    """Merge one incident into another, which takes over its alerts and tickets."""

    op: ClassVar[str] = "merge"
    action: ClassVar[Action | None] = Action.MERGE

    source_id: str = attrs.field(validator=identifier(), metadata={WIRE: "incident"})
    into: str = attrs.field(validator=identifier())
    by: Actor = attrs.field(validator=instance(Actor))

    def __attrs_post_init__(self) -> None:
        if self.source_id == self.into:
            raise InvalidInput("into", "an incident cannot be merged into itself")

    def execute(self, ctx: Context) -> ServiceIncident:
        """Move alerts, reports and links; the source ends as merged."""
        tx, now = ctx.tx, ctx.now
        source = tx.incident(self.source_id)
        target = tx.incident(self.into)
        check_permitted(self.by, Action.MERGE, source.owner_team)
        ctx.require(target, OPEN_STATUSES, "merge into")
        ctx.fire(source, "merge")
        source.merged_into = target.id
        alerts = list(tx.alerts_of(source.id))
        for alert in alerts:
            alert.incident_id = target.id
        tx.save_alerts(alerts)
        reports = list(tx.reports_linked_to(source.id))
        for report in reports:
            report.incident_id = target.id
        tx.save_reports(reports)
        moved = tx.move_links(source.id, target.id)
        extra = tuple(p for p in source.products if p not in target.products)
        if extra:
            target.products = target.products + extra
        target.signal_kinds = (*target.signal_kinds, *source.signal_kinds)
        target.reported_symptoms = (*target.reported_symptoms, *source.reported_symptoms)
        tx.save_incident(source)
        tx.save_incident(target)
        ctx.record(
            IncidentMerged(incident_id=source.id, actor=self.by, at=now, into=target.id),
            IncidentsMergedIn(
                incident_id=target.id,
                actor=self.by,
                at=now,
                source=source.id,
                alerts_moved=len(alerts),
                tickets_moved=moved,
            ),
        )
        return target


@attrs.frozen(kw_only=True)
class CloseIncident(Command[ServiceIncident]):
    """The post-incident review is done: the resolved incident is closed."""

    op: ClassVar[str] = "close"
    action: ClassVar[Action | None] = Action.CLOSE

    incident_id: str = attrs.field(validator=identifier(), metadata={WIRE: "incident"})
    by: Actor = attrs.field(validator=instance(Actor))
    review: Review = attrs.field(validator=instance(Review))

    def execute(self, ctx: Context) -> ServiceIncident:
        """Close with the review."""
        incident = ctx.incident_for(self.incident_id, self.by, Action.CLOSE)
        ctx.fire(incident, "close")
        incident.review = self.review
        ctx.tx.save_incident(incident)
        ctx.record(
            IncidentClosed(
                incident_id=incident.id,
                actor=self.by,
                at=ctx.now,
                root_cause=self.review.root_cause,
                remediation_items=len(self.review.remediation),
            )
        )
        return incident
