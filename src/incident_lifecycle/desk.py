"""``IncidentDesk``: every use case of the incident workflow, one method each.

Each method that changes something builds its command
(:mod:`incident_lifecycle.commands`) and runs it with :meth:`IncidentDesk.handle`:
one store transaction in which the command checks who may run it, applies the
lifecycle, appends the timeline and enqueues its notifications; all of it
commits, or none of it. A command that meets a concurrent change
(``ConcurrencyConflict``) is retried from fresh data a bounded number of times.
The queries read through one transaction each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from .cadence import UpdateDue, update_due
from .commands import (
    MONITORING_ACTOR,
    Acknowledge,
    ChangeSeverity,
    ClearAlert,
    ClearReceipt,
    CloseIncident,
    Command,
    DeclareIncident,
    Deliver,
    DeskConfig,
    DetachAlert,
    DismissIncident,
    HandOff,
    LinkTicket,
    MergeIncidents,
    Messages,
    Operation,
    PostUpdate,
    ReceiveAlert,
    ReceiveAlerts,
    RedriveDeadLetters,
    ReopenIncident,
    ResolveIncident,
    ResolveReport,
    SendUpdateReminders,
    TransferReport,
    TriageReport,
    TriageReports,
    TriageResult,
    UnlinkTicket,
    ValidateIncident,
    run,
)
from .commands.base import Context, read_now
from .commands.intake import AlertReceipt, IntakeReport
from .commands.reports import assess, check_received
from .delivery import DeliveryReport, Relay, RetryPolicy
from .domain.actors import Actor
from .domain.alerts import Alert, AlertSignal
from .domain.checks import (
    check_aware,
    check_identifier,
    check_int,
    check_limit,
    check_ownership,
    optional_identifier,
)
from .domain.errors import ConcurrencyConflict, InvalidInput
from .domain.events import DomainEvent
from .domain.incidents import (
    OPEN_STATUSES,
    Handoff,
    IncidentStatus,
    Review,
    ServiceIncident,
    StatusUpdate,
    Visibility,
)
from .domain.reports import CustomerReport
from .domain.severity import DEFAULT_SCALE, Severity, SeverityScale
from .grouping import DEFAULT_GROUPING, GroupingPolicy
from .lifecycle import DEFAULT_REOPEN_WINDOW
from .metrics import Metrics, compute_metrics
from .notifications import DEFAULT_TEMPLATES, Templates
from .ports import Clock, Notifier, OutboxEntry, OutboxStats, Store, StoreTransaction, SystemClock
from .triage import DefaultTriagePolicy, TriageDecision, TriagePolicy

__all__ = ["MONITORING_ACTOR", "ClearReceipt", "IncidentDesk"]

T = TypeVar("T")


def _require(name: str, value: object, *methods: str) -> None:
    """Refuse a collaborator that lacks one of ``methods`` (before it fails later)."""
    missing = [m for m in methods if not callable(getattr(value, m, None))]
    if missing:
        raise InvalidInput(name, f"{type(value).__name__} has no {', '.join(missing)}()")


class IncidentDesk:
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
        _require("store", store, "transaction")
        _require("notifier", notifier, "send")
        clock = clock if clock is not None else SystemClock()
        _require("clock", clock, "now")
        retry = retry if retry is not None else RetryPolicy()
        policy = policy if policy is not None else DefaultTriagePolicy()
        for name, value, kind in (
            ("scale", scale, SeverityScale),
            ("grouping", grouping, GroupingPolicy),
            ("retry", retry, RetryPolicy),
            ("templates", templates, Templates),
        ):
            if not isinstance(value, kind):
                raise InvalidInput(name, f"must be a {kind.__name__}, not {type(value).__name__}")
        if not isinstance(reopen_window, timedelta) or reopen_window < timedelta(0):
            raise InvalidInput("reopen_window", "must be a timedelta of zero or more")
        if not isinstance(policy, TriagePolicy):
            raise InvalidInput("policy", "must implement TriagePolicy (lookback and assess)")
        if seed is not None:
            check_int("seed", seed)
        self.max_conflict_retries = check_int("max_conflict_retries", max_conflict_retries)
        self.store = store
        self.notifier = notifier
        self.clock: Clock = clock
        self.retry = retry
        self.config = DeskConfig(
            ownership=check_ownership("ownership", ownership),
            scale=scale,
            grouping=grouping,
            reopen_window=reopen_window,
            messages=Messages(templates),
            policy=policy,
        )
        self.relay = Relay(store, notifier, self.clock, self.retry, seed=seed)

    # -- configuration, as attributes --------------------------------------
    @property
    def ownership(self) -> dict[str, str]:
        """Product name to the engineering team that owns it (the ``own`` command changes it)."""
        owners = self.config.ownership
        assert isinstance(owners, dict)
        return owners

    @property
    def scale(self) -> SeverityScale:
        """The severity scale."""
        return self.config.scale

    @property
    def grouping(self) -> GroupingPolicy:
        """How alerts are grouped into incidents."""
        return self.config.grouping

    @property
    def policy(self) -> TriagePolicy:
        """The triage policy."""
        return self.config.policy

    @property
    def reopen_window(self) -> timedelta:
        """How long after resolution an incident may be reopened."""
        return self.config.reopen_window

    def owner_of(self, product: str) -> str:
        """The engineering team that owns ``product``; ``InvalidInput`` if none does."""
        return self.config.owner_of(product)

    # -- running commands -----------------------------------------------------
    def handle(self, command: Command[T] | Operation[T]) -> T:
        """Run any command: one transaction, retried after a conflict (see ``commands``)."""
        if isinstance(command, Operation):
            return command.apply(self)
        if not isinstance(command, Command):
            raise InvalidInput("command", f"must be a Command, not {type(command).__name__}")
        return run(
            command,
            store=self.store,
            clock=self.clock,
            config=self.config,
            max_conflict_retries=self.max_conflict_retries,
        )

    def _read(self, query: Callable[[StoreTransaction], T]) -> T:
        """Run a read in one transaction, again after a conflict."""
        attempt = 0
        while True:
            try:
                with self.store.transaction() as tx:
                    return query(tx)
            except ConcurrencyConflict:
                attempt += 1
                if attempt > self.max_conflict_retries:
                    raise

    # -- alerts -------------------------------------------------------------
    def receive_alert(self, signal: AlertSignal, by: Actor | None = None) -> AlertReceipt:
        """Take one monitoring signal: count it on its active alert, or group a new alert.

        Returns where it went (alert, incident, outcome).
        """
        return self.handle(ReceiveAlert(signal=signal, by=MONITORING_ACTOR if by is None else by))

    def receive_alerts(
        self, signals: Sequence[AlertSignal], by: Actor | None = None
    ) -> IntakeReport:
        """Take a batch of signals in one transaction (see :mod:`incident_lifecycle.commands`).

        Raises:
            InvalidInput: a signal is not an ``AlertSignal`` or names a product no
                team owns; nothing of the batch is kept.
        """
        return self.handle(
            ReceiveAlerts(signals=signals, by=MONITORING_ACTOR if by is None else by)
        )

    def clear_alert(self, fingerprint: str, by: Actor | None = None) -> ClearReceipt:
        """Monitoring reports that the condition behind ``fingerprint`` cleared.

        An alert of a potential incident becomes recovered, and a potential
        incident whose alerts have all recovered is dismissed. On an open
        incident the recovery is only noted on the timeline: people resolve
        incidents. With no active alert it is a no-op (reported, not an error).
        """
        return self.handle(
            ClearAlert(fingerprint=fingerprint, by=MONITORING_ACTOR if by is None else by)
        )

    def detach_alert(self, alert_id: str, by: Actor, into: str | None = None) -> str:
        """Move a wrongly grouped alert to its own potential incident, or ``into`` another.

        Returns the id of the incident the alert now belongs to.
        """
        return self.handle(DetachAlert(alert_id=alert_id, by=by, into=into))

    # -- validation ---------------------------------------------------------
    def acknowledge(self, incident_id: str, by: Actor) -> ServiceIncident:
        """Someone is on it: a timestamped timeline event (not a status)."""
        return self.handle(Acknowledge(incident_id=incident_id, by=by))

    def validate_incident(
        self, incident_id: str, by: Actor, severity: Severity | str, title: str | None = None
    ) -> ServiceIncident:
        """The owner team confirms a potential incident: it opens at ``severity``."""
        return self.handle(
            ValidateIncident(incident_id=incident_id, by=by, severity=severity, title=title)
        )

    def dismiss_incident(self, incident_id: str, by: Actor, reason: str) -> ServiceIncident:
        """The potential incident is not real: it and its alerts are dismissed.

        Repeats of the dismissed alerts' fingerprints then open new alerts.
        """
        return self.handle(DismissIncident(incident_id=incident_id, by=by, reason=reason))

    # -- open incidents -----------------------------------------------------
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
            DeclareIncident(by=by, title=title, product=product, severity=severity, region=region)
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
        return self.handle(
            PostUpdate(
                incident_id=incident_id,
                by=by,
                body=body,
                visibility=visibility,
                status=status,
            )
        )

    def change_severity(
        self, incident_id: str, by: Actor, severity: Severity | str, reason: str = ""
    ) -> ServiceIncident:
        """Raise or lower an open incident's severity."""
        return self.handle(
            ChangeSeverity(incident_id=incident_id, by=by, severity=severity, reason=reason)
        )

    def hand_off(self, incident_id: str, by: Actor, to_team: str, reason: str) -> Handoff:
        """Pass ownership to another team, which is notified."""
        return self.handle(HandOff(incident_id=incident_id, by=by, to_team=to_team, reason=reason))

    def resolve_incident(self, incident_id: str, by: Actor, resolution: str) -> ServiceIncident:
        """Service is restored: linked tickets not yet solved get the resolution and are solved.

        The incident's alerts stop being active: a repeat of their fingerprints
        opens a new alert.
        """
        return self.handle(ResolveIncident(incident_id=incident_id, by=by, resolution=resolution))

    def reopen_incident(self, incident_id: str, by: Actor, reason: str) -> ServiceIncident:
        """A resolved incident came back, within the reopen window: investigating again."""
        return self.handle(ReopenIncident(incident_id=incident_id, by=by, reason=reason))

    def merge_incidents(self, source_id: str, into: str, by: Actor) -> ServiceIncident:
        """Merge ``source_id`` into ``into``, which takes over its alerts and tickets."""
        return self.handle(MergeIncidents(source_id=source_id, into=into, by=by))

    def close_incident(self, incident_id: str, by: Actor, review: Review) -> ServiceIncident:
        """The post-incident review is done: the resolved incident is closed."""
        return self.handle(CloseIncident(incident_id=incident_id, by=by, review=review))

    # -- customer reports ---------------------------------------------------
    def assess_report(self, report: CustomerReport) -> TriageDecision:
        """The policy's suggestion for ``report``: reasons included, nothing stored."""
        check_received("report", report)

        def query(tx: StoreTransaction) -> TriageDecision:
            return assess(Context(tx, read_now(self.clock), self.config), report)[0]

        return self._read(query)

    def triage_report(
        self, report: CustomerReport, by: Actor, decision: TriageDecision | None = None
    ) -> TriageResult:
        """Store ``report`` and apply the policy's decision, or the agent's ``decision``.

        Linking tells the customer the incident's current status; opening
        declares a new incident at the decided severity and links the ticket
        to it; troubleshooting starts standard troubleshooting. Both the
        decision and an override are recorded on the timeline. Idempotent per
        ticket id: a ticket triaged before is returned as it is, and nobody is
        notified again.
        """
        return self.handle(TriageReport(report=report, by=by, decision=decision))

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
        return self.handle(TriageReports(reports=reports, by=by))

    def link_ticket(self, ticket_id: str, incident_id: str, by: Actor) -> CustomerReport:
        """Link a triaged ticket to an open incident (moving it from another, if linked)."""
        return self.handle(LinkTicket(ticket_id=ticket_id, incident_id=incident_id, by=by))

    def unlink_ticket(self, ticket_id: str, by: Actor, reason: str = "") -> CustomerReport:
        """Unlink a ticket from its incident: it goes back to troubleshooting."""
        return self.handle(UnlinkTicket(ticket_id=ticket_id, by=by, reason=reason))

    def resolve_report(self, ticket_id: str, by: Actor, note: str) -> CustomerReport:
        """Troubleshooting solved the customer's problem (not a service incident)."""
        return self.handle(ResolveReport(ticket_id=ticket_id, by=by, note=note))

    def transfer_report(
        self, ticket_id: str, by: Actor, to_team: str, reason: str
    ) -> CustomerReport:
        """Troubleshooting escalates the report to ``to_team``, which is notified."""
        return self.handle(
            TransferReport(ticket_id=ticket_id, by=by, to_team=to_team, reason=reason)
        )

    # -- cadence ------------------------------------------------------------
    def updates_due(self, now: datetime | None = None) -> Sequence[UpdateDue]:
        """Open incidents whose first or next customer update is due, most overdue first."""
        when = read_now(self.clock) if now is None else check_aware("now", now)
        incidents = self._read(lambda tx: tx.active_incidents())
        due = [d for d in (update_due(i, when) for i in incidents) if d is not None]
        due.sort(key=lambda d: (-d.overdue, d.incident_id))
        return due

    def send_update_reminders(self, by: Actor | None = None) -> int:
        """Remind owner teams of due updates: one reminder per missed interval, never a stream.

        Returns how many reminders were enqueued. Once an update is posted,
        nothing is due, so no reminder follows.
        """
        return self.handle(SendUpdateReminders(by=MONITORING_ACTOR if by is None else by))

    # -- queries ------------------------------------------------------------
    def incident(self, incident_id: str) -> ServiceIncident:
        """The incident ``incident_id``; raises ``NotFound``."""
        check_identifier("incident_id", incident_id)
        return self._read(lambda tx: tx.incident(incident_id))

    def alert(self, alert_id: str) -> Alert:
        """The alert ``alert_id``; raises ``NotFound``."""
        check_identifier("alert_id", alert_id)
        return self._read(lambda tx: tx.alert(alert_id))

    def alerts_of(self, incident_id: str) -> Sequence[Alert]:
        """The incident's alerts, oldest first."""
        check_identifier("incident_id", incident_id)
        return self._read(lambda tx: tx.alerts_of(incident_id))

    def open_incidents(self, product: str | None = None) -> Sequence[ServiceIncident]:
        """Validated, unresolved incidents (optionally of one product), oldest first."""
        optional_identifier("product", product)
        found = self._read(lambda tx: tx.active_incidents(product=product))
        return [i for i in found if i.status in OPEN_STATUSES]

    def potential_incidents(self, product: str | None = None) -> Sequence[ServiceIncident]:
        """Detected incidents awaiting validation (optionally of one product), oldest first."""
        optional_identifier("product", product)
        found = self._read(lambda tx: tx.active_incidents(product=product))
        return [i for i in found if i.status is IncidentStatus.DETECTED]

    def timeline(self, incident_id: str) -> Sequence[DomainEvent]:
        """The incident's events, in order."""
        check_identifier("incident_id", incident_id)
        return self._read(lambda tx: tx.timeline(incident_id))

    def updates(self, incident_id: str) -> Sequence[StatusUpdate]:
        """The incident's status updates, in posting order."""
        check_identifier("incident_id", incident_id)
        return self._read(lambda tx: tx.updates(incident_id))

    def linked_tickets(self, incident_id: str) -> Sequence[str]:
        """Tickets linked to the incident, in link order."""
        check_identifier("incident_id", incident_id)
        return self._read(lambda tx: tx.linked_tickets(incident_id))

    def report(self, ticket_id: str) -> CustomerReport | None:
        """The customer report of ``ticket_id``, if any."""
        check_identifier("ticket_id", ticket_id)
        return self._read(lambda tx: tx.report(ticket_id))

    def metrics(self, since: datetime | None = None, until: datetime | None = None) -> Metrics:
        """Response times of incidents detected in ``[since, until)``: count, median, p90."""
        if since is not None:
            check_aware("since", since)
        if until is not None:
            check_aware("until", until)
        incidents = self._read(lambda tx: tx.incidents_detected_between(since, until))
        return compute_metrics(incidents)

    # -- delivery -----------------------------------------------------------
    def deliver(self, batch_size: int = 100, max_batches: int | None = None) -> DeliveryReport:
        """Drain due notifications through the notifier (see :class:`Relay`)."""
        return self.handle(Deliver(batch_size=batch_size, max_batches=max_batches))

    def outbox_stats(self) -> OutboxStats:
        """How many notifications are pending, delivered and dead-lettered."""
        return self._read(lambda tx: tx.outbox_stats())

    def dead_letters(self, limit: int | None = None) -> Sequence[OutboxEntry]:
        """Dead-lettered notifications, oldest first (``limit``: at most that many)."""
        check_limit("limit", limit)
        return self._read(lambda tx: tx.dead_letters(limit))

    def redrive_dead_letters(
        self, keys: Iterable[str] | None = None, by: Actor | None = None
    ) -> int:
        """Put dead letters (all, or those of ``keys``) back in the outbox, same keys."""
        return self.handle(RedriveDeadLetters(keys=keys, by=MONITORING_ACTOR if by is None else by))
