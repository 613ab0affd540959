"""``IncidentDesk``: every use case of the incident workflow, one method each.

Each command checks its input and who may run it, applies the lifecycle,
appends the timeline and enqueues its notifications in one store
transaction: all of it commits, or none of it. A command that meets a
concurrent change (``ConcurrencyConflict``) is retried from fresh data a
bounded number of times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from .delivery import DeliveryReport, Relay, RetryPolicy
from .desk_reports import ReportCommands
from .domain.actors import Action, Actor, Role, check_permitted
from .domain.alerts import Alert, AlertSignal, AlertStatus
from .domain.checks import check_aware, check_enum, check_identifier, check_int, check_text
from .domain.errors import ConcurrencyConflict, InvalidInput, InvalidTransition
from .domain.events import (
    AlertDetached,
    AlertJoined,
    AlertRecovered,
    DeadLettersRedriven,
    DomainEvent,
    IncidentAcknowledged,
    IncidentClosed,
    IncidentDeclared,
    IncidentDetected,
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
from .domain.incidents import (
    OPEN_STATUSES,
    Handoff,
    IncidentStatus,
    Review,
    ServiceIncident,
    StatusUpdate,
    Visibility,
)
from .domain.reports import CustomerReport, ReportStatus
from .domain.severity import DEFAULT_SCALE, Severity, SeverityScale
from .fanout import Messenger, incident_values
from .grouping import DEFAULT_GROUPING, GroupingPolicy
from .intake import AlertReceipt, IntakeReport, receive
from .lifecycle import (
    ALERT_LIFECYCLE,
    DEFAULT_REOPEN_WINDOW,
    INCIDENT_LIFECYCLE,
    REPORT_LIFECYCLE,
)
from .metrics import Metrics, compute_metrics
from .notifications import DEFAULT_TEMPLATES, FanOut, Notification, Templates, Topic
from .ports import Clock, Notifier, OutboxEntry, OutboxStats, Store, StoreTransaction, SystemClock
from .triage import DefaultTriagePolicy, TriagePolicy

__all__ = ["MONITORING_ACTOR", "ClearReceipt", "IncidentDesk"]

R = TypeVar("R")

MONITORING_ACTOR = Actor(name="monitoring", role=Role.MONITORING)
"""The actor of alert intake when none is given."""

_PHASE_EVENTS = {
    IncidentStatus.INVESTIGATING: "investigate",
    IncidentStatus.IDENTIFIED: "identify",
    IncidentStatus.MONITORING: "monitor",
}


class ClearReceipt:
    """What ``clear_alert`` did: ``outcome`` is one of the class constants."""

    NO_ACTIVE_ALERT = "no_active_alert"
    RECOVERED = "recovered"
    INCIDENT_DISMISSED = "incident_dismissed"
    NOTED = "noted"

    __slots__ = ("alert_id", "incident_id", "outcome")

    def __init__(self, outcome: str, alert_id: str | None, incident_id: str | None) -> None:
        self.outcome = outcome
        self.alert_id = alert_id
        self.incident_id = incident_id

    def __repr__(self) -> str:
        return f"ClearReceipt({self.outcome!r}, {self.alert_id!r}, {self.incident_id!r})"


def _check_actor(by: object) -> Actor:
    if not isinstance(by, Actor):
        raise InvalidInput("by", f"must be an Actor, not {type(by).__name__}")
    return by


def _to_ownership(value: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidInput("ownership", "must map each product to its engineering team")
    out = {}
    for product, team in value.items():
        out[check_identifier("ownership", product)] = check_identifier("ownership", team)
    return out


class IncidentDesk(ReportCommands):
    """The incident workflow over a store, a notifier and a clock.

    Args:
        store: where everything is kept (``InMemoryStore``, ``SQLiteStore``, yours).
        notifier: where notifications go when :meth:`deliver` drains the outbox.
        ownership: product name to the engineering team that owns it.
        clock: the time source (``SystemClock`` by default).
        scale: the severity scale (the guide's five levels by default).
        grouping: how alerts are grouped into incidents.
        retry: backoff and limits of delivery.
        reopen_window: how long after resolution an incident may be reopened.
        templates: the message templates.
        max_conflict_retries: how often a command is retried after a conflict.
        policy: the triage policy (``DefaultTriagePolicy`` by default).
        seed: seeds the delivery jitter, for reproducible runs.
    """

    def __init__(
        self,
        *,
        store: Store,
        notifier: Notifier,
        ownership: Mapping[str, str],
        clock: Clock | None = None,
        scale: SeverityScale = DEFAULT_SCALE,
        grouping: GroupingPolicy = DEFAULT_GROUPING,
        retry: RetryPolicy | None = None,
        reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
        templates: Templates = DEFAULT_TEMPLATES,
        max_conflict_retries: int = 5,
        policy: TriagePolicy | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(scale, SeverityScale):
            raise InvalidInput("scale", "must be a SeverityScale")
        if not isinstance(grouping, GroupingPolicy):
            raise InvalidInput("grouping", "must be a GroupingPolicy")
        if not isinstance(reopen_window, timedelta) or reopen_window < timedelta(0):
            raise InvalidInput("reopen_window", "must be a timedelta of zero or more")
        self.store = store
        self.notifier = notifier
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.scale = scale
        self.grouping = grouping
        self.ownership = _to_ownership(ownership)
        self.retry = retry if retry is not None else RetryPolicy()
        self.reopen_window = reopen_window
        self.messenger = Messenger(templates)
        self.max_conflict_retries = check_int("max_conflict_retries", max_conflict_retries)
        self.relay = Relay(store, notifier, self.clock, self.retry, seed=seed)
        self.policy: TriagePolicy = policy if policy is not None else DefaultTriagePolicy()
        if not isinstance(self.policy, TriagePolicy):
            raise InvalidInput("policy", "must implement TriagePolicy (lookback and assess)")

    # -- plumbing ---------------------------------------------------------
    def _now(self) -> datetime:
        return check_aware("now", self.clock.now()).astimezone(UTC)

    def _run(self, work: Callable[[StoreTransaction], R]) -> R:
        """Run ``work`` in a transaction, retrying it from scratch after a conflict."""
        attempt = 0
        while True:
            try:
                with self.store.transaction() as tx:
                    return work(tx)
            except ConcurrencyConflict:
                attempt += 1
                if attempt > self.max_conflict_retries:
                    raise

    def owner_of(self, product: str) -> str:
        """The engineering team that owns ``product``; ``InvalidInput`` if none does."""
        team = self.ownership.get(product)
        if team is None:
            raise InvalidInput("product", f"no engineering team owns {product!r}")
        return team

    @staticmethod
    def _incident_for(
        tx: StoreTransaction, incident_id: str, actor: Actor, action: Action
    ) -> ServiceIncident:
        """Load an incident for a command ``actor`` runs; ``NotPermitted`` if they may not."""
        incident = tx.incident(check_identifier("incident_id", incident_id))
        check_permitted(actor, action, incident.owner_team)
        return incident

    def _severity(self, severity: Severity | str) -> Severity:
        return self.scale.resolve(severity)

    def _fire(self, incident: ServiceIncident, event: str, now: datetime) -> None:
        INCIDENT_LIFECYCLE.fire(incident, event, now=now, reopen_window=self.reopen_window)

    @staticmethod
    def _require(incident: ServiceIncident, statuses: Iterable[IncidentStatus], act: str) -> None:
        if incident.status not in set(statuses):
            raise InvalidTransition("incident", incident.id, act, incident.status.value)

    def _commit(
        self,
        tx: StoreTransaction,
        now: datetime,
        events: Sequence[DomainEvent] = (),
        notifications: Sequence[Notification] = (),
        fanouts: Sequence[FanOut] = (),
    ) -> None:
        tx.append(events)
        if notifications:
            tx.enqueue(notifications, now)
        for fanout in fanouts:
            tx.enqueue_fanout(fanout, now)

    # -- alerts -----------------------------------------------------------
    def receive_alert(self, signal: AlertSignal, by: Actor | None = None) -> AlertReceipt:
        """Take one monitoring signal: count it on its active alert, or group a new alert.

        Returns where it went (alert, incident, outcome).
        """
        report = self.receive_alerts([signal], by=by)
        return report.receipt(signal.fingerprint)

    def receive_alerts(
        self, signals: Sequence[AlertSignal], by: Actor | None = None
    ) -> IntakeReport:
        """Take a batch of signals in one transaction (see :mod:`incident_lifecycle.intake`).

        Raises:
            InvalidInput: a signal is not an ``AlertSignal`` or names a product no
                team owns; nothing of the batch is kept.
        """
        actor = _check_actor(by if by is not None else MONITORING_ACTOR)
        check_permitted(actor, Action.RECEIVE_ALERT)
        if isinstance(signals, AlertSignal | str) or not isinstance(signals, Sequence):
            raise InvalidInput("signals", "must be a sequence of AlertSignal")
        for index, signal in enumerate(signals):
            if not isinstance(signal, AlertSignal):
                raise InvalidInput("signals", f"item {index} is not an AlertSignal")
        now = self._now()

        def work(tx: StoreTransaction) -> IntakeReport:
            report, notifications = receive(
                tx,
                signals,
                now=now,
                actor=actor,
                grouping=self.grouping,
                owner_of=self.owner_of,
                messenger=self.messenger,
            )
            if notifications:
                tx.enqueue(notifications, now)
            return report

        return self._run(work)

    def clear_alert(self, fingerprint: str, by: Actor | None = None) -> ClearReceipt:
        """Monitoring reports that the condition behind ``fingerprint`` cleared.

        An alert of a potential incident becomes recovered, and a potential
        incident whose alerts have all recovered is dismissed. On an open
        incident the recovery is only noted on the timeline: people resolve
        incidents. With no active alert it is a no-op (reported, not an error).
        """
        actor = _check_actor(by if by is not None else MONITORING_ACTOR)
        check_permitted(actor, Action.RECEIVE_ALERT)
        check_identifier("fingerprint", fingerprint, max_len=255)
        now = self._now()

        def work(tx: StoreTransaction) -> ClearReceipt:
            alert = tx.active_alerts([fingerprint]).get(fingerprint)
            if alert is None:
                return ClearReceipt(ClearReceipt.NO_ACTIVE_ALERT, None, None)
            incident_id = alert.incident_id or ""
            events: list[DomainEvent] = [
                AlertRecovered(
                    incident_id=incident_id,
                    actor=actor,
                    at=now,
                    alert_id=alert.id,
                    fingerprint=fingerprint,
                )
            ]
            if alert.status is not AlertStatus.RECEIVED:
                self._commit(tx, now, events)
                return ClearReceipt(ClearReceipt.NOTED, alert.id, incident_id)
            ALERT_LIFECYCLE.fire(alert, "recover", now=now)
            alert.active = False
            tx.save_alerts([alert])
            outcome = ClearReceipt.RECOVERED
            incident = tx.incident(incident_id)
            if incident.status is IncidentStatus.DETECTED and all(
                a.status is AlertStatus.RECOVERED for a in tx.alerts_of(incident_id)
            ):
                reason = "every signal recovered before validation"
                self._fire(incident, "dismiss", now)
                incident.dismissal_reason = reason
                tx.save_incident(incident)
                events.append(
                    IncidentDismissed(incident_id=incident_id, actor=actor, at=now, reason=reason)
                )
                outcome = ClearReceipt.INCIDENT_DISMISSED
            self._commit(tx, now, events)
            return ClearReceipt(outcome, alert.id, incident_id)

        return self._run(work)

    def detach_alert(self, alert_id: str, by: Actor, into: str | None = None) -> str:
        """Move a wrongly grouped alert to its own potential incident, or ``into`` another.

        Returns the id of the incident the alert now belongs to.
        """
        actor = _check_actor(by)
        check_identifier("alert_id", alert_id)
        if into is not None:
            check_identifier("into", into)
        now = self._now()
        active = {IncidentStatus.DETECTED, *OPEN_STATUSES}

        def work(tx: StoreTransaction) -> str:
            alert = tx.alert(alert_id)
            source = tx.incident(alert.incident_id or "")
            check_permitted(actor, Action.DETACH_ALERT, source.owner_team)
            if not alert.active or source.status not in active:
                raise InvalidTransition("alert", alert.id, "detach", alert.status.value)
            notifications: list[Notification] = []
            events: list[DomainEvent] = []
            if into is None:
                target = ServiceIncident(
                    id=tx.new_id("INC"),
                    title=f"{alert.kind.value.replace('_', ' ')} on {alert.product}",
                    products=(alert.product,),
                    region=alert.region,
                    owner_team=self.owner_of(alert.product),
                    detected_at=now,
                    group_key=f"{source.group_key or alert.product}|detached={alert.id}",
                )
                tx.add_incident(target)
                events.append(
                    IncidentDetected(
                        incident_id=target.id,
                        actor=actor,
                        at=now,
                        alert_id=alert.id,
                        group_key=target.group_key or "",
                    )
                )
                notifications.append(self._validation_request(target, alert.summary, now))
            else:
                if into == source.id:
                    raise InvalidInput("into", "the alert already belongs to that incident")
                target = tx.incident(into)
                self._require(target, active, "take an alert into")
                tx.save_incident(target)
            self._move_alert(alert, target, now)
            tx.save_alerts([alert])
            tx.save_incident(source)
            events += [
                AlertDetached(
                    incident_id=source.id, actor=actor, at=now, alert_id=alert.id, into=target.id
                ),
                AlertJoined(
                    incident_id=target.id,
                    actor=actor,
                    at=now,
                    alert_id=alert.id,
                    fingerprint=alert.fingerprint,
                ),
            ]
            self._commit(tx, now, events, notifications)
            return target.id

        return self._run(work)

    @staticmethod
    def _move_alert(alert: Alert, target: ServiceIncident, now: datetime) -> None:
        if target.status is IncidentStatus.DETECTED and alert.status is AlertStatus.VALIDATED:
            ALERT_LIFECYCLE.fire(alert, "regroup", now=now)
        elif target.status in OPEN_STATUSES and alert.status is AlertStatus.RECEIVED:
            ALERT_LIFECYCLE.fire(alert, "validate", now=now)
        alert.incident_id = target.id

    def _validation_request(
        self, incident: ServiceIncident, summary: str, now: datetime
    ) -> Notification:
        return self.messenger.to_team(
            Topic.VALIDATION_REQUEST,
            incident.owner_team,
            f"{incident.id}/validation-request",
            incident.id,
            now,
            {
                "incident_id": incident.id,
                "product": ", ".join(incident.products),
                "region": incident.region or "all regions",
                "summary": summary,
            },
        )

    # -- validation -------------------------------------------------------
    def acknowledge(self, incident_id: str, by: Actor) -> ServiceIncident:
        """Someone is on it: a timestamped timeline event (not a status)."""
        actor = _check_actor(by)

        def work(tx: StoreTransaction) -> ServiceIncident:
            incident = self._incident_for(tx, incident_id, actor, Action.ACKNOWLEDGE)
            self._require(incident, {IncidentStatus.DETECTED, *OPEN_STATUSES}, "acknowledge")
            now = self._now()
            if incident.acknowledged_at is None:
                incident.acknowledged_at = now
            tx.save_incident(incident)
            self._commit(
                tx, now, [IncidentAcknowledged(incident_id=incident.id, actor=actor, at=now)]
            )
            return incident

        return self._run(work)

    def validate_incident(
        self, incident_id: str, by: Actor, severity: Severity | str, title: str | None = None
    ) -> ServiceIncident:
        """The owner team confirms a potential incident: it opens at ``severity``."""
        actor = _check_actor(by)
        level = self._severity(severity)
        if title is not None:
            check_text("title", title, max_len=200)

        def work(tx: StoreTransaction) -> ServiceIncident:
            incident = self._incident_for(tx, incident_id, actor, Action.VALIDATE)
            now = self._now()
            self._fire(incident, "validate", now)
            incident.severity = level
            if title is not None:
                incident.title = title
            if incident.acknowledged_at is None:
                incident.acknowledged_at = now
            alerts = [a for a in tx.alerts_of(incident.id) if a.status is AlertStatus.RECEIVED]
            ALERT_LIFECYCLE.fire_many(alerts, "validate", now=now)
            tx.save_alerts(alerts)
            tx.save_incident(incident)
            event = IncidentValidated(
                incident_id=incident.id,
                actor=actor,
                at=now,
                severity=level.name,
                title=incident.title,
            )
            self._commit(tx, now, [event])
            return incident

        return self._run(work)

    def dismiss_incident(self, incident_id: str, by: Actor, reason: str) -> ServiceIncident:
        """The potential incident is not real: it and its alerts are dismissed.

        Repeats of the dismissed alerts' fingerprints then open new alerts.
        """
        actor = _check_actor(by)
        check_text("reason", reason, max_len=2_000)

        def work(tx: StoreTransaction) -> ServiceIncident:
            incident = self._incident_for(tx, incident_id, actor, Action.DISMISS)
            now = self._now()
            self._fire(incident, "dismiss", now)
            incident.dismissal_reason = reason
            alerts = [a for a in tx.alerts_of(incident.id) if a.status is AlertStatus.RECEIVED]
            ALERT_LIFECYCLE.fire_many(alerts, "dismiss", now=now)
            for alert in alerts:
                alert.active = False
            tx.save_alerts(alerts)
            tx.save_incident(incident)
            event = IncidentDismissed(incident_id=incident.id, actor=actor, at=now, reason=reason)
            self._commit(tx, now, [event])
            return incident

        return self._run(work)

    # -- open incidents ---------------------------------------------------
    def declare_incident(
        self,
        by: Actor,
        *,
        title: str,
        product: str,
        severity: Severity | str,
        region: str | None = None,
    ) -> ServiceIncident:
        """Open an incident directly (e.g. from support): detected and validated at once.

        The owner team is notified unless the declarer belongs to it.
        """
        actor = _check_actor(by)
        level = self._severity(severity)
        check_text("title", title, max_len=200)
        team = self.owner_of(check_identifier("product", product))
        if region is not None:
            check_identifier("region", region)
        check_permitted(actor, Action.DECLARE, team)

        def work(tx: StoreTransaction) -> ServiceIncident:
            now = self._now()
            incident = ServiceIncident(
                id=tx.new_id("INC"),
                title=title,
                products=(product,),
                region=region,
                owner_team=team,
                detected_at=now,
                group_key=self.grouping.key(product, region),
                severity=level,
            )
            self._fire(incident, "validate", now)
            tx.add_incident(incident)
            event = IncidentDeclared(
                incident_id=incident.id, actor=actor, at=now, severity=level.name, title=title
            )
            notes = []
            if actor.team != team:  # someone else declared it: the owner team must know
                notes.append(
                    self.messenger.to_team(
                        Topic.INCIDENT_DECLARED,
                        team,
                        f"{incident.id}/declared",
                        incident.id,
                        now,
                        incident_values(incident) | {"summary": title, "by": actor.name},
                    )
                )
            self._commit(tx, now, [event], notes)
            return incident

        return self._run(work)

    def post_update(
        self,
        incident_id: str,
        by: Actor,
        body: str,
        visibility: Visibility | str = Visibility.PUBLIC,
        status: IncidentStatus | str | None = None,
    ) -> StatusUpdate:
        """Post a status update, optionally moving to another open phase.

        A public update is sent to every linked ticket not yet solved (one
        notification each, enqueued in bulk); an internal one never reaches a
        customer.
        """
        actor = _check_actor(by)
        check_text("body", body, max_len=10_000)
        seen = check_enum("visibility", Visibility, visibility)
        phase = None
        if status is not None:
            try:
                phase = IncidentStatus(status)
            except ValueError:
                raise InvalidInput("status", f"{status!r} is not an incident status") from None
            if phase not in OPEN_STATUSES:
                raise InvalidInput(
                    "status", "an update may move to investigating, identified or monitoring"
                )

        def work(tx: StoreTransaction) -> StatusUpdate:
            incident = tx.incident(check_identifier("incident_id", incident_id))
            action = (
                Action.POST_PUBLIC_UPDATE
                if seen is Visibility.PUBLIC
                else Action.POST_INTERNAL_UPDATE
            )
            check_permitted(actor, action, incident.owner_team)
            self._require(incident, OPEN_STATUSES, "post an update to")
            now = self._now()
            if phase is not None and phase is not incident.status:
                self._fire(incident, _PHASE_EVENTS[phase], now)
            update = StatusUpdate(
                id=tx.new_id("UPD"),
                incident_id=incident.id,
                body=body,
                visibility=seen,
                status=incident.status,
                posted_at=now,
                author=actor,
            )
            tx.add_update(update)
            incident.last_update_at = now
            fanouts: list[FanOut] = []
            if seen is Visibility.PUBLIC:
                if incident.first_public_update_at is None:
                    incident.first_public_update_at = now
                incident.last_public_update_at = now
                incident.last_public_update = body
                incident.last_reminder_at = None
                recipients = tx.linked_recipients(incident.id, ReportStatus.LINKED)
                values = incident_values(incident) | {"body": body}
                prefix = f"{incident.id}/{update.id}"
                fanouts = self.messenger.to_tickets(
                    Topic.STATUS_UPDATE, recipients, prefix, incident, now, values
                )
            tx.save_incident(incident)
            event = UpdatePosted(
                incident_id=incident.id,
                actor=actor,
                at=now,
                update_id=update.id,
                visibility=seen.value,
                status=incident.status.value,
                body=body,
            )
            self._commit(tx, now, [event], fanouts=fanouts)
            return update

        return self._run(work)

    def change_severity(
        self, incident_id: str, by: Actor, severity: Severity | str, reason: str = ""
    ) -> ServiceIncident:
        """Raise or lower an open incident's severity."""
        actor = _check_actor(by)
        level = self._severity(severity)
        check_text("reason", reason, max_len=2_000, min_len=0)

        def work(tx: StoreTransaction) -> ServiceIncident:
            incident = self._incident_for(tx, incident_id, actor, Action.CHANGE_SEVERITY)
            self._require(incident, OPEN_STATUSES, "change the severity of")
            if incident.severity == level:
                raise InvalidInput("severity", f"the incident is already {level.name}")
            now = self._now()
            previous = incident.severity.name if incident.severity else "none"
            incident.severity = level
            tx.save_incident(incident)
            event = SeverityChanged(
                incident_id=incident.id,
                actor=actor,
                at=now,
                previous=previous,
                severity=level.name,
                reason=reason,
            )
            self._commit(tx, now, [event])
            return incident

        return self._run(work)

    def hand_off(self, incident_id: str, by: Actor, to_team: str, reason: str) -> Handoff:
        """Pass ownership to another team, which is notified."""
        actor = _check_actor(by)
        check_identifier("to_team", to_team)
        check_text("reason", reason, max_len=2_000)

        def work(tx: StoreTransaction) -> Handoff:
            incident = self._incident_for(tx, incident_id, actor, Action.HAND_OFF)
            self._require(incident, {IncidentStatus.DETECTED, *OPEN_STATUSES}, "hand off")
            now = self._now()
            handoff = Handoff(
                incident_id=incident.id,
                from_team=incident.owner_team,
                to_team=to_team,
                reason=reason,
                at=now,
            )
            incident.owner_team = to_team
            tx.save_incident(incident)
            note = self.messenger.to_team(
                Topic.HANDOFF,
                to_team,
                f"{incident.id}/handoff/{incident.version}",
                incident.id,
                now,
                {
                    "incident_id": incident.id,
                    "title": incident.title,
                    "from_team": handoff.from_team,
                    "to_team": to_team,
                    "reason": reason,
                },
            )
            event = IncidentHandedOff(
                incident_id=incident.id,
                actor=actor,
                at=now,
                from_team=handoff.from_team,
                to_team=to_team,
                reason=reason,
            )
            self._commit(tx, now, [event], [note])
            return handoff

        return self._run(work)

    def resolve_incident(self, incident_id: str, by: Actor, resolution: str) -> ServiceIncident:
        """Service is restored: linked tickets not yet solved get the resolution and are solved.

        The incident's alerts stop being active: a repeat of their fingerprints
        opens a new alert.
        """
        actor = _check_actor(by)
        check_text("resolution", resolution, max_len=10_000)

        def work(tx: StoreTransaction) -> ServiceIncident:
            incident = self._incident_for(tx, incident_id, actor, Action.RESOLVE)
            now = self._now()
            self._fire(incident, "resolve", now)
            incident.resolution = resolution
            alerts = [a for a in tx.alerts_of(incident.id) if a.active]
            for alert in alerts:
                alert.active = False
            tx.save_alerts(alerts)
            solved = REPORT_LIFECYCLE.target_of(ReportStatus.LINKED, "solve")
            assert solved is not None  # declared by ReportLifecycle
            recipients = tx.transition_linked_reports(
                incident.id, ReportStatus.LINKED, ReportStatus(solved), now
            )
            values = incident_values(incident) | {"resolution": resolution}
            fanouts = self.messenger.to_tickets(
                Topic.RESOLUTION, recipients, f"{incident.id}/resolution", incident, now, values
            )
            tx.save_incident(incident)
            event = IncidentResolved(
                incident_id=incident.id,
                actor=actor,
                at=now,
                resolution=resolution,
                tickets_solved=len(recipients),
            )
            self._commit(tx, now, [event], fanouts=fanouts)
            return incident

        return self._run(work)

    def reopen_incident(self, incident_id: str, by: Actor, reason: str) -> ServiceIncident:
        """A resolved incident came back, within the reopen window: investigating again."""
        actor = _check_actor(by)
        check_text("reason", reason, max_len=2_000)

        def work(tx: StoreTransaction) -> ServiceIncident:
            incident = self._incident_for(tx, incident_id, actor, Action.REOPEN)
            now = self._now()
            self._fire(incident, "reopen", now)
            incident.reopen_count += 1
            tx.save_incident(incident)
            event = IncidentReopened(incident_id=incident.id, actor=actor, at=now, reason=reason)
            self._commit(tx, now, [event])
            return incident

        return self._run(work)

    def merge_incidents(self, source_id: str, into: str, by: Actor) -> ServiceIncident:
        """Merge ``source_id`` into ``into``, which takes over its alerts and tickets."""
        actor = _check_actor(by)
        check_identifier("source_id", source_id)
        check_identifier("into", into)
        if source_id == into:
            raise InvalidInput("into", "an incident cannot be merged into itself")

        def work(tx: StoreTransaction) -> ServiceIncident:
            source = tx.incident(source_id)
            target = tx.incident(into)
            check_permitted(actor, Action.MERGE, source.owner_team)
            self._require(target, OPEN_STATUSES, "merge into")
            now = self._now()
            self._fire(source, "merge", now)
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
            events: list[DomainEvent] = [
                IncidentMerged(incident_id=source.id, actor=actor, at=now, into=target.id),
                IncidentsMergedIn(
                    incident_id=target.id,
                    actor=actor,
                    at=now,
                    source=source.id,
                    alerts_moved=len(alerts),
                    tickets_moved=moved,
                ),
            ]
            self._commit(tx, now, events)
            return target

        return self._run(work)

    def close_incident(self, incident_id: str, by: Actor, review: Review) -> ServiceIncident:
        """The post-incident review is done: the resolved incident is closed."""
        actor = _check_actor(by)
        if not isinstance(review, Review):
            raise InvalidInput("review", "a Review with a root cause is required to close")

        def work(tx: StoreTransaction) -> ServiceIncident:
            incident = self._incident_for(tx, incident_id, actor, Action.CLOSE)
            now = self._now()
            self._fire(incident, "close", now)
            incident.review = review
            tx.save_incident(incident)
            event = IncidentClosed(
                incident_id=incident.id,
                actor=actor,
                at=now,
                root_cause=review.root_cause,
                remediation_items=len(review.remediation),
            )
            self._commit(tx, now, [event])
            return incident

        return self._run(work)

    # -- queries ----------------------------------------------------------
    def incident(self, incident_id: str) -> ServiceIncident:
        """The incident ``incident_id``; raises ``NotFound``."""
        check_identifier("incident_id", incident_id)
        return self._run(lambda tx: tx.incident(incident_id))

    def alert(self, alert_id: str) -> Alert:
        """The alert ``alert_id``; raises ``NotFound``."""
        check_identifier("alert_id", alert_id)
        return self._run(lambda tx: tx.alert(alert_id))

    def alerts_of(self, incident_id: str) -> Sequence[Alert]:
        """The incident's alerts, oldest first."""
        check_identifier("incident_id", incident_id)
        return self._run(lambda tx: tx.alerts_of(incident_id))

    def open_incidents(self, product: str | None = None) -> Sequence[ServiceIncident]:
        """Validated, unresolved incidents (optionally of one product), oldest first."""
        found = self._run(lambda tx: tx.active_incidents(product=product))
        return [i for i in found if i.status in OPEN_STATUSES]

    def potential_incidents(self, product: str | None = None) -> Sequence[ServiceIncident]:
        """Detected incidents awaiting validation (optionally of one product), oldest first."""
        found = self._run(lambda tx: tx.active_incidents(product=product))
        return [i for i in found if i.status is IncidentStatus.DETECTED]

    def timeline(self, incident_id: str) -> Sequence[DomainEvent]:
        """The incident's events, in order."""
        check_identifier("incident_id", incident_id)
        return self._run(lambda tx: tx.timeline(incident_id))

    def updates(self, incident_id: str) -> Sequence[StatusUpdate]:
        """The incident's status updates, in posting order."""
        check_identifier("incident_id", incident_id)
        return self._run(lambda tx: tx.updates(incident_id))

    def linked_tickets(self, incident_id: str) -> Sequence[str]:
        """Tickets linked to the incident, in link order."""
        check_identifier("incident_id", incident_id)
        return self._run(lambda tx: tx.linked_tickets(incident_id))

    def report(self, ticket_id: str) -> CustomerReport | None:
        """The customer report of ``ticket_id``, if any."""
        check_identifier("ticket_id", ticket_id)
        return self._run(lambda tx: tx.report(ticket_id))

    def metrics(self, since: datetime | None = None, until: datetime | None = None) -> Metrics:
        """Response times of incidents detected in ``[since, until)``: count, median, p90."""
        if since is not None:
            check_aware("since", since)
        if until is not None:
            check_aware("until", until)
        incidents = self._run(lambda tx: tx.incidents_detected_between(since, until))
        return compute_metrics(incidents)

    # -- delivery ---------------------------------------------------------
    def deliver(self, batch_size: int = 100, max_batches: int | None = None) -> DeliveryReport:
        """Drain due notifications through the notifier (see :class:`Relay`)."""
        return self.relay.deliver(batch_size=batch_size, max_batches=max_batches)

    def outbox_stats(self) -> OutboxStats:
        """How many notifications are pending, delivered and dead-lettered."""
        return self._run(lambda tx: tx.outbox_stats())

    def dead_letters(self, limit: int | None = None) -> Sequence[OutboxEntry]:
        """Dead-lettered notifications, oldest first."""
        return self._run(lambda tx: tx.dead_letters(limit))

    def redrive_dead_letters(
        self, keys: Iterable[str] | None = None, by: Actor | None = None
    ) -> int:
        """Put dead letters (all, or those of ``keys``) back in the outbox, same keys."""
        actor = _check_actor(by if by is not None else MONITORING_ACTOR)
        wanted = None if keys is None else [check_identifier("keys", k, max_len=512) for k in keys]

        def work(tx: StoreTransaction) -> int:
            now = self._now()
            entries = tx.dead_letters()
            if wanted is not None:
                chosen = set(wanted)
                entries = [e for e in entries if e.key in chosen]
            count = tx.redrive([e.key for e in entries], now)
            per_incident: dict[str | None, int] = {}
            for entry in entries:
                per_incident[entry.notification.incident_id] = (
                    per_incident.get(entry.notification.incident_id, 0) + 1
                )
            self._commit(
                tx,
                now,
                [
                    DeadLettersRedriven(incident_id=i, actor=actor, at=now, count=n)
                    for i, n in per_incident.items()
                ],
            )
            return count

        return self._run(work)
