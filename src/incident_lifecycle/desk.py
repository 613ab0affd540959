"""``IncidentDesk``: every use case of the incident workflow, one method each.

Each method that changes something builds its command (:mod:`.commands`) and
runs it with :meth:`IncidentDesk.handle`: one transaction, all of it or none,
retried after a conflict. The queries read through one transaction each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from . import commands as c
from .cadence import UpdateDue
from .commands import MONITORING_ACTOR, ClearReceipt, Command, Operation, TriageResult
from .commands.intake import AlertReceipt, IntakeReport
from .commands.queries import DeskQueries
from .delivery import DeliveryReport, Relay, RetryPolicy
from .domain import checks
from .domain.actors import Actor
from .domain.alerts import AlertSignal
from .domain.errors import InvalidInput
from .domain.incidents import (
    Handoff,
    IncidentStatus,
    Review,
    ServiceIncident,
    StatusUpdate,
    Visibility,
)
from .domain.reports import CustomerReport
from .domain.severity import DEFAULT_SCALE, Severity, SeverityScale
from .escalation import EscalationDue, EscalationPolicy
from .grouping import DEFAULT_GROUPING, GroupingPolicy
from .lifecycle import DEFAULT_REOPEN_WINDOW
from .notifications import DEFAULT_TEMPLATES, Templates
from .ports import Clock, Notifier, Store, SystemClock
from .telemetry import Telemetry
from .triage import DefaultTriagePolicy, TriageDecision, TriagePolicy

__all__ = ["MONITORING_ACTOR", "ClearReceipt", "IncidentDesk"]

T = TypeVar("T")


class IncidentDesk(DeskQueries):
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
        telemetry: the counters and tracer of this desk (a new ``Telemetry`` by default).
        escalation: when unanswered validation requests are escalated (15 minutes).
        default_team: the team that owns every product ``ownership`` does not name.
        status_page: also tell the status page (``None``: if the notifier takes status pages).
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
        telemetry: Telemetry | None = None,
        escalation: EscalationPolicy | None = None,
        default_team: str | None = None,
        status_page: bool | None = None,
    ) -> None:
        checks.check_methods("store", store, "transaction")
        checks.check_methods("notifier", notifier, "send")
        clock = SystemClock() if clock is None else clock
        checks.check_methods("clock", clock, "now")
        retry = RetryPolicy() if retry is None else retry
        telemetry = Telemetry() if telemetry is None else telemetry
        checks.check_instance("retry", retry, RetryPolicy)
        checks.check_instance("telemetry", telemetry, Telemetry)
        checks.check_int("seed", 0 if seed is None else seed)
        self.max_conflict_retries = checks.check_int("max_conflict_retries", max_conflict_retries)
        self.config = c.DeskConfig(
            ownership=ownership,
            scale=scale,
            grouping=grouping,
            reopen_window=reopen_window,
            messages=c.Messages(templates),
            policy=DefaultTriagePolicy() if policy is None else policy,
            escalation=EscalationPolicy() if escalation is None else escalation,
            default_team=default_team,
            status_page=c.wants_status_page(notifier, status_page),
        )
        self.store, self.notifier, self.retry, self.telemetry = store, notifier, retry, telemetry
        self.clock: Clock = clock
        self.relay = Relay(store, notifier, clock, retry, seed=seed, telemetry=self.telemetry)
        self.ownership = self.config.ownership  # the map the ``own`` command changes
        self.scale, self.grouping = self.config.scale, self.config.grouping
        self.policy, self.reopen_window = self.config.policy, self.config.reopen_window

    def owner_of(self, product: str) -> str:
        """The engineering team that owns ``product``; ``InvalidInput`` if none does."""
        return self.config.owner_of(product)

    def handle(self, command: Command[T] | Operation[T]) -> T:
        """Run any command: one transaction, retried after a conflict (see ``commands``);
        traced and counted by :attr:`telemetry` (one span ``incident_lifecycle.<op>``)."""
        if isinstance(command, Operation):
            return self.telemetry.observe(command, self.store, partial(command.apply, self))
        if not isinstance(command, Command):
            raise InvalidInput("command", f"must be a Command, not {type(command).__name__}")
        run = partial(c.run, command, store=self.store, clock=self.clock, config=self.config)
        retries = partial(run, max_conflict_retries=self.max_conflict_retries)
        return self.telemetry.observe(command, self.store, retries)

    def receive_alert(self, signal: AlertSignal, by: Actor | None = None) -> AlertReceipt:
        """Take one signal: seen on its active alert (counted if a new occurrence), or grouped
        as a new alert. Returns where it went (alert, incident, outcome)."""
        return self.handle(c.ReceiveAlert(signal=signal, by=by))

    def receive_alerts(
        self, signals: Sequence[AlertSignal], by: Actor | None = None
    ) -> IntakeReport:
        """Take a batch of signals in one transaction (see :mod:`incident_lifecycle.commands`).

        Raises:
            InvalidInput: a signal is not an ``AlertSignal`` or names a product no
                team owns; nothing of the batch is kept.
        """
        return self.handle(c.ReceiveAlerts(signals=signals, by=by))

    def clear_alert(self, fingerprint: str, by: Actor | None = None) -> ClearReceipt:
        """Monitoring reports that the condition behind ``fingerprint`` cleared.

        An alert of a potential incident becomes recovered, and a potential incident whose
        alerts have all recovered is dismissed. On an open incident the recovery is only noted
        on the timeline: people resolve incidents. No active alert: a no-op (reported).
        """
        return self.handle(c.ClearAlert(fingerprint=fingerprint, by=by))

    def clear_alerts(
        self, fingerprints: Sequence[str], by: Actor | None = None
    ) -> Mapping[str, ClearReceipt]:
        """:meth:`clear_alert` for many fingerprints, one transaction: receipts in given order."""
        return self.handle(c.ClearAlerts(fingerprints=fingerprints, by=by))

    def detach_alert(self, alert_id: str, by: Actor, into: str | None = None) -> str:
        """Move a wrongly grouped alert to its own potential incident, or ``into`` another;
        returns the id of the incident the alert now belongs to."""
        return self.handle(c.DetachAlert(alert_id=alert_id, by=by, into=into))

    def acknowledge(self, incident_id: str, by: Actor) -> ServiceIncident:
        """Someone is on it: a timestamped timeline event (not a status)."""
        return self.handle(c.Acknowledge(incident_id=incident_id, by=by))

    def validate_incident(
        self,
        incident_id: str,
        by: Actor,
        severity: Severity | str | None = None,
        title: str | None = None,
    ) -> ServiceIncident:
        """The owner team confirms a potential incident: it opens at ``severity``, by default
        the worst hint of its alerts (``InvalidInput`` naming ``severity`` if none is)."""
        return self.handle(
            c.ValidateIncident(incident_id=incident_id, by=by, severity=severity, title=title)
        )

    def dismiss_incident(self, incident_id: str, by: Actor, reason: str) -> ServiceIncident:
        """The potential incident is not real: it and its alerts are dismissed (repeats
        of the dismissed alerts' fingerprints then open new alerts)."""
        return self.handle(c.DismissIncident(incident_id=incident_id, by=by, reason=reason))

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
        return self.handle(
            c.DeclareIncident(by=by, title=title, product=product, severity=severity, region=region)
        )

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
        command = c.PostUpdate(
            incident_id=incident_id, by=by, body=body, visibility=visibility, status=status
        )
        return self.handle(command)

    def change_severity(
        self, incident_id: str, by: Actor, severity: Severity | str, reason: str = ""
    ) -> ServiceIncident:
        """Raise or lower an open incident's severity."""
        return self.handle(
            c.ChangeSeverity(incident_id=incident_id, by=by, severity=severity, reason=reason)
        )

    def hand_off(self, incident_id: str, by: Actor, to_team: str, reason: str) -> Handoff:
        """Pass ownership to another team, which is notified."""
        return self.handle(
            c.HandOff(incident_id=incident_id, by=by, to_team=to_team, reason=reason)
        )

    def resolve_incident(self, incident_id: str, by: Actor, resolution: str) -> ServiceIncident:
        """Service is restored: unsolved linked tickets get the resolution; its alerts end."""
        return self.handle(c.ResolveIncident(incident_id=incident_id, by=by, resolution=resolution))

    def reopen_incident(self, incident_id: str, by: Actor, reason: str) -> ServiceIncident:
        """A resolved incident came back, within the reopen window: investigating again."""
        return self.handle(c.ReopenIncident(incident_id=incident_id, by=by, reason=reason))

    def merge_incidents(self, source_id: str, into: str, by: Actor) -> ServiceIncident:
        """Merge ``source_id`` into ``into``, which takes over its alerts and tickets."""
        return self.handle(c.MergeIncidents(source_id=source_id, into=into, by=by))

    def close_incident(self, incident_id: str, by: Actor, review: Review) -> ServiceIncident:
        """The post-incident review is done: the resolved incident is closed."""
        return self.handle(c.CloseIncident(incident_id=incident_id, by=by, review=review))

    def assess_report(self, report: CustomerReport) -> TriageDecision:
        """The policy's suggestion for ``report``: reasons included, nothing stored."""
        return self.handle(c.AssessReport(report=report))

    def triage_report(
        self, report: CustomerReport, by: Actor, decision: TriageDecision | None = None
    ) -> TriageResult:
        """Store ``report`` and apply the policy's decision, or the agent's ``decision``.

        Linking tells the customer the incident's current status; opening
        declares a new incident at the decided severity and links the ticket
        to it; troubleshooting starts standard troubleshooting. The decision is
        recorded on the timeline, and an agent's ``decision`` with the policy's
        suggestion beside it. A ticket triaged before is returned as it is
        (``applied`` false, nobody notified again), unless ``decision`` moves it:
        a re-triage (unlinked, linked elsewhere, or back to troubleshooting),
        recorded the same way. A report stamped more than ``REPORT_CLOCK_SKEW``
        after the desk's clock is refused (``InvalidInput`` naming ``reported_at``).
        """
        return self.handle(c.TriageReport(report=report, by=by, decision=decision))

    def triage_reports(self, reports: Sequence[CustomerReport], by: Actor) -> list[TriageResult]:
        """Triage a batch of reports in one transaction, in order, by the policy.

        The bulk form of :meth:`triage_report` for a flood of tickets: each
        report is assessed in turn and sees the reports and incidents of the
        ones before it (so a surge within the batch opens one incident, and
        the reports after it link to that incident). One transaction per
        batch: all the batch is kept, or none of it. A ticket triaged before,
        or twice in the batch, is returned as it is (``applied`` false).

        Raises:
            InvalidInput: ``reports`` is not a sequence of received
                ``CustomerReport``, or a report cannot be applied (say a surge
                on a product no team owns); the field names the item
                (``reports[3]``). Nothing of the batch is kept. Any other
                error carries a note naming the report it stopped at.
        """
        return self.handle(c.TriageReports(reports=reports, by=by))

    def link_ticket(self, ticket_id: str, incident_id: str, by: Actor) -> CustomerReport:
        """Link a triaged ticket to an open incident (moving it from another, if linked)."""
        return self.handle(c.LinkTicket(ticket_id=ticket_id, incident_id=incident_id, by=by))

    def unlink_ticket(self, ticket_id: str, by: Actor, reason: str = "") -> CustomerReport:
        """Unlink a ticket from its incident: it goes back to troubleshooting."""
        return self.handle(c.UnlinkTicket(ticket_id=ticket_id, by=by, reason=reason))

    def resolve_report(self, ticket_id: str, by: Actor, note: str) -> CustomerReport:
        """Troubleshooting solved the customer's problem (not a service incident)."""
        return self.handle(c.ResolveReport(ticket_id=ticket_id, by=by, note=note))

    def transfer_report(
        self, ticket_id: str, by: Actor, to_team: str, reason: str
    ) -> CustomerReport:
        """Troubleshooting escalates the report to ``to_team``, which is notified."""
        return self.handle(
            c.TransferReport(ticket_id=ticket_id, by=by, to_team=to_team, reason=reason)
        )

    def updates_due(self, now: datetime | None = None) -> Sequence[UpdateDue]:
        """Open incidents whose first or next customer update is due, most overdue first."""
        return self.handle(c.UpdatesDue(now=now))

    def send_update_reminders(self, by: Actor | None = None) -> int:
        """Remind owner teams of due updates: one reminder per missed interval, never a stream.

        Returns how many reminders were enqueued. Once an update is posted,
        nothing is due, so no reminder follows.
        """
        return self.handle(c.SendUpdateReminders(by=by))

    def escalations_due(self, now: datetime | None = None) -> Sequence[EscalationDue]:
        """Potential incidents whose unanswered validation request is due to be escalated,
        most overdue first (see ``EscalationPolicy``)."""
        return self.handle(c.EscalationsDue(now=now))

    def send_escalations(self, by: Actor | None = None) -> int:
        """Escalate every validation request due: the owner team is told again and the
        incident managers are told, once per step, on the timeline. Returns how many
        notifications were enqueued (run it from a scheduler, like the reminders)."""
        return self.handle(c.SendEscalations(by=by))

    def deliver(self, batch_size: int = 100, max_batches: int | None = None) -> DeliveryReport:
        """Drain due notifications through the notifier (see :class:`Relay`)."""
        return self.handle(c.Deliver(batch_size=batch_size, max_batches=max_batches))

    def redrive_dead_letters(
        self, keys: Iterable[str] | None = None, by: Actor | None = None
    ) -> int:
        """Put dead letters (all, or those of ``keys``) back in the outbox, same keys."""
        return self.handle(c.RedriveDeadLetters(keys=keys, by=by))

    def prune_delivered(self, older_than: timedelta) -> int:
        """Forget notifications delivered over ``older_than`` ago (``PruneDelivered``)."""
        return self.handle(c.PruneDelivered(older_than=older_than))
