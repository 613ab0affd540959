"""The support side of the desk: triage of customer reports, ticket links, cadence.

Mixed into :class:`~incident_lifecycle.desk.IncidentDesk`; see its docs. Linking
and troubleshooting are the volume path of a storm of customer reports, so they
move reports with the lifecycle's compiled table (``fire_many``), never building
a machine per ticket; the table is compiled from ``ReportLifecycle`` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar, overload

import attrs

from ._copies import clone
from .cadence import UpdateDue, update_due
from .domain.actors import Action, Actor, check_permitted
from .domain.checks import check_aware, check_identifier, check_text
from .domain.errors import InvalidInput, InvalidTransition, NotFound
from .domain.events import (
    DomainEvent,
    IncidentDeclared,
    ReportResolved,
    ReportTransferred,
    ReportTriaged,
    TicketLinked,
    TicketUnlinked,
    UpdateReminderSent,
)
from .domain.incidents import OPEN_STATUSES, ServiceIncident
from .domain.reports import CustomerReport, ReportStatus, TriageOutcome
from .fanout import Messenger, incident_values
from .lifecycle import INCIDENT_LIFECYCLE, REPORT_LIFECYCLE
from .notifications import Notification, Topic
from .ports import StoreTransaction
from .triage import TriageDecision, TriagePolicy

if TYPE_CHECKING:
    from .domain.severity import Severity
    from .grouping import GroupingPolicy

__all__ = ["ReportCommands", "TriageResult"]

R = TypeVar("R")


@attrs.frozen(kw_only=True)
class TriageResult:
    """What ``triage_report`` did with a report."""

    decision: TriageDecision
    """The decision applied (the policy's, or the agent's override)."""
    report: CustomerReport
    incident_id: str | None
    """The incident the ticket is linked to, if any (a new one for ``OPEN_NEW``)."""
    applied: bool
    """False when the ticket had been triaged before: nothing was changed."""
    overridden: bool = False


def _check_report(report: object) -> CustomerReport:
    if not isinstance(report, CustomerReport):
        raise InvalidInput("report", f"must be a CustomerReport, not {type(report).__name__}")
    if report.status is not ReportStatus.RECEIVED:
        raise InvalidInput("status", "a report to triage must be received, not yet triaged")
    return report


class ReportCommands:
    """Customer reports: assess, triage, link, unlink, end troubleshooting; update cadence."""

    if TYPE_CHECKING:
        policy: TriagePolicy
        messenger: Messenger
        grouping: GroupingPolicy

        def _run(self, work: Callable[[StoreTransaction], R]) -> R: ...
        def _now(self) -> datetime: ...
        def owner_of(self, product: str) -> str: ...
        def _severity(self, severity: Severity | str) -> Severity: ...

    # -- triage -----------------------------------------------------------
    def _assess(
        self, tx: StoreTransaction, report: CustomerReport, now: datetime
    ) -> TriageDecision:
        return self._assess_among(tx, report, now)[0]

    def _assess_among(
        self, tx: StoreTransaction, report: CustomerReport, now: datetime
    ) -> tuple[TriageDecision, list[ServiceIncident]]:
        """The policy's decision, and the candidates it chose among (read in ``tx``)."""
        candidates = [
            i
            for i in tx.active_incidents(product=report.product, region=report.region)
            if i.status in OPEN_STATUSES
        ]
        since = max(now, report.reported_at) - self.policy.lookback
        recent = _RecentReports(tx, report, since)
        decision = self.policy.assess(report, candidates, recent, now)
        if not isinstance(decision, TriageDecision):
            raise InvalidInput("policy", "a triage policy must return a TriageDecision")
        return decision, candidates

    def assess_report(self, report: CustomerReport) -> TriageDecision:
        """The policy's suggestion for ``report``: reasons included, nothing stored."""
        _check_report(report)
        now = self._now()
        return self._run(lambda tx: self._assess(tx, report, now))

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
        actor = _actor(by)
        check_permitted(actor, Action.TRIAGE)
        _check_report(report)
        if decision is not None and not isinstance(decision, TriageDecision):
            raise InvalidInput("decision", "must be a TriageDecision")

        def work(tx: StoreTransaction) -> TriageResult:
            now = self._now()
            events: list[DomainEvent] = []
            notes: list[Notification] = []
            result = self._triage_in(tx, report, actor, decision, now, events, notes)
            if events:
                tx.append(events)
                tx.enqueue(notes, now)
            return result

        return self._run(work)

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
        actor = _actor(by)
        check_permitted(actor, Action.TRIAGE)
        if isinstance(reports, CustomerReport | str) or not isinstance(reports, Sequence):
            raise InvalidInput("reports", "must be a sequence of CustomerReport")
        for index, report in enumerate(reports):
            try:
                _check_report(report)
            except InvalidInput as error:
                raise InvalidInput(f"reports[{index}]", error.reason) from None
        if not reports:
            return []

        def work(tx: StoreTransaction) -> list[TriageResult]:
            now = self._now()
            events: list[DomainEvent] = []
            notes: list[Notification] = []
            results = []
            for index, report in enumerate(reports):
                try:
                    results.append(self._triage_in(tx, report, actor, None, now, events, notes))
                except InvalidInput as error:  # e.g. a surge on a product no team owns
                    raise InvalidInput(
                        f"reports[{index}]", f"{error.field}: {error.reason}"
                    ) from error
                except Exception as error:
                    error.add_note(f"while triaging reports[{index}] ({report.ticket_id})")
                    raise
            if events:
                tx.append(events)
                tx.enqueue(notes, now)
            return results

        return self._run(work)

    def _triage_in(
        self,
        tx: StoreTransaction,
        report: CustomerReport,
        actor: Actor,
        decision: TriageDecision | None,
        now: datetime,
        events: list[DomainEvent],
        notes: list[Notification],
    ) -> TriageResult:
        """Triage one report inside ``tx``; its events and notifications join the lists."""
        existing = tx.report(report.ticket_id)
        if existing is not None:
            return _already_triaged(existing)
        if decision is None:
            chosen, candidates = self._assess_among(tx, report, now)
        else:
            chosen, candidates = decision, []
        stored = clone(report)
        stored.version = 0  # not stored yet: whatever version it came with means nothing
        incident: ServiceIncident | None = None
        if chosen.outcome is TriageOutcome.LINK_EXISTING:
            # The policy chose among incidents read in this transaction:
            # no need to read the chosen one again.
            incident = next(
                (i for i in candidates if i.id == chosen.incident_id), None
            ) or tx.incident(chosen.incident_id or "")
            if incident.status not in OPEN_STATUSES:
                raise InvalidTransition(
                    "incident", incident.id, "link a ticket to", incident.status.value
                )
        elif chosen.outcome is TriageOutcome.OPEN_NEW:
            incident = self._open_from_report(tx, stored, chosen, actor, now, events, notes)
        events.append(
            ReportTriaged(
                incident_id=incident.id if incident else None,
                actor=actor,
                at=now,
                ticket_id=stored.ticket_id,
                outcome=chosen.outcome.value,
                overridden=decision is not None,
                reasons=chosen.reasons,
            )
        )
        if incident is None:
            REPORT_LIFECYCLE.fire_many([stored], "troubleshoot", now=now)
            tx.add_report(stored)
        else:
            tx.add_report(stored)
            self._link(tx, stored, incident, actor, now, events, notes)
            tx.save_reports([stored])
            if chosen.outcome is TriageOutcome.OPEN_NEW:
                self._link_surge(tx, stored, incident, actor, now, events, notes)
        return TriageResult(
            decision=chosen,
            report=stored,
            incident_id=incident.id if incident else None,
            applied=True,
            overridden=decision is not None,
        )

    def _open_from_report(
        self,
        tx: StoreTransaction,
        report: CustomerReport,
        decision: TriageDecision,
        actor: Actor,
        now: datetime,
        events: list[DomainEvent],
        notes: list[Notification],
    ) -> ServiceIncident:
        level = self._severity(decision.severity or "")
        team = self.owner_of(report.product)
        where = f" in {report.region}" if report.region else ""
        title = f"Customers report {report.symptom.value} on {report.product}{where}"
        incident = ServiceIncident(
            id=tx.new_id("INC"),
            title=title,
            products=(report.product,),
            region=report.region,
            owner_team=team,
            detected_at=now,
            group_key=self.grouping.key(report.product, report.region),
            severity=level,
        )
        INCIDENT_LIFECYCLE.fire(incident, "validate", now=now)
        tx.add_incident(incident)
        events.append(
            IncidentDeclared(
                incident_id=incident.id, actor=actor, at=now, severity=level.name, title=title
            )
        )
        notes.append(
            self.messenger.to_team(
                Topic.INCIDENT_DECLARED,
                team,
                f"{incident.id}/declared",
                incident.id,
                now,
                incident_values(incident) | {"summary": report.summary, "by": actor.name},
            )
        )
        return incident

    def _link_surge(
        self,
        tx: StoreTransaction,
        report: CustomerReport,
        incident: ServiceIncident,
        actor: Actor,
        now: datetime,
        events: list[DomainEvent],
        notes: list[Notification],
    ) -> None:
        """Link the reports in troubleshooting that were part of the surge to the new incident."""
        since = max(now, report.reported_at) - self.policy.lookback
        surge = [
            r
            for r in tx.reports_since(report.product, since)
            if r.status is ReportStatus.TROUBLESHOOTING
            and r.symptom is report.symptom
            and (r.region is None or report.region is None or r.region == report.region)
        ]
        for other in surge:
            self._link(tx, other, incident, actor, now, events, notes)
        tx.save_reports(surge)

    def _link(
        self,
        tx: StoreTransaction,
        report: CustomerReport,
        incident: ServiceIncident,
        actor: Actor,
        now: datetime,
        events: list[DomainEvent],
        notes: list[Notification],
    ) -> None:
        """Link ``report`` to ``incident`` and tell the customer the current status."""
        if report.status is not ReportStatus.LINKED:
            REPORT_LIFECYCLE.fire_many([report], "link", now=now)
        report.incident_id = incident.id
        tx.link(report.ticket_id, incident.id)
        if report.symptom not in incident.reported_symptoms:
            incident.reported_symptoms = (*incident.reported_symptoms, report.symptom)
            tx.save_incident(incident)
        for fanout in self.messenger.to_tickets(
            Topic.TICKET_LINKED,
            [(report.ticket_id, report.locale)],
            f"{incident.id}/link/v{report.version}",
            incident,
            now,
            incident_values(incident),
        ):
            notes.extend(fanout.notifications())
        events.append(
            TicketLinked(incident_id=incident.id, actor=actor, at=now, ticket_id=report.ticket_id)
        )

    # -- manual corrections -----------------------------------------------
    def link_ticket(self, ticket_id: str, incident_id: str, by: Actor) -> CustomerReport:
        """Link a triaged ticket to an open incident (moving it from another, if linked)."""
        actor = _actor(by)
        check_permitted(actor, Action.LINK_TICKET)
        check_identifier("ticket_id", ticket_id)
        check_identifier("incident_id", incident_id)

        def work(tx: StoreTransaction) -> CustomerReport:
            report = _report(tx, ticket_id)
            incident = tx.incident(incident_id)
            if incident.status not in OPEN_STATUSES:
                raise InvalidTransition(
                    "incident", incident.id, "link a ticket to", incident.status.value
                )
            if report.incident_id == incident.id and report.status is ReportStatus.LINKED:
                return report
            now = self._now()
            events: list[DomainEvent] = []
            notes: list[Notification] = []
            if report.status is ReportStatus.LINKED and report.incident_id is not None:
                events.append(
                    TicketUnlinked(
                        incident_id=report.incident_id,
                        actor=actor,
                        at=now,
                        ticket_id=ticket_id,
                        reason=f"moved to {incident.id}",
                    )
                )
            self._link(tx, report, incident, actor, now, events, notes)
            tx.save_reports([report])
            tx.append(events)
            tx.enqueue(notes, now)
            return report

        return self._run(work)

    def unlink_ticket(self, ticket_id: str, by: Actor, reason: str = "") -> CustomerReport:
        """Unlink a ticket from its incident: it goes back to troubleshooting."""
        actor = _actor(by)
        check_permitted(actor, Action.LINK_TICKET)
        check_identifier("ticket_id", ticket_id)
        check_text("reason", reason, max_len=2_000, min_len=0)

        def work(tx: StoreTransaction) -> CustomerReport:
            report = _report(tx, ticket_id)
            now = self._now()
            previous = report.incident_id
            REPORT_LIFECYCLE.fire(report, "unlink", now=now)
            report.incident_id = None
            tx.unlink(ticket_id)
            tx.save_reports([report])
            tx.append(
                [
                    TicketUnlinked(
                        incident_id=previous,
                        actor=actor,
                        at=now,
                        ticket_id=ticket_id,
                        reason=reason,
                    )
                ]
            )
            return report

        return self._run(work)

    def resolve_report(self, ticket_id: str, by: Actor, note: str) -> CustomerReport:
        """Troubleshooting solved the customer's problem (not a service incident)."""
        actor = _actor(by)
        check_permitted(actor, Action.END_TROUBLESHOOTING)
        check_identifier("ticket_id", ticket_id)
        check_text("note", note, max_len=10_000)

        def work(tx: StoreTransaction) -> CustomerReport:
            report = _report(tx, ticket_id)
            if report.status is not ReportStatus.TROUBLESHOOTING:
                raise InvalidTransition("report", ticket_id, "resolve", report.status.value)
            now = self._now()
            REPORT_LIFECYCLE.fire(report, "solve", now=now)
            tx.save_reports([report])
            tx.append(
                [
                    ReportResolved(
                        incident_id=None, actor=actor, at=now, ticket_id=ticket_id, note=note
                    )
                ]
            )
            return report

        return self._run(work)

    def transfer_report(
        self, ticket_id: str, by: Actor, to_team: str, reason: str
    ) -> CustomerReport:
        """Troubleshooting escalates the report to ``to_team``, which is notified."""
        actor = _actor(by)
        check_permitted(actor, Action.END_TROUBLESHOOTING)
        check_identifier("ticket_id", ticket_id)
        check_identifier("to_team", to_team)
        check_text("reason", reason, max_len=2_000)

        def work(tx: StoreTransaction) -> CustomerReport:
            report = _report(tx, ticket_id)
            now = self._now()
            REPORT_LIFECYCLE.fire(report, "transfer", now=now)
            tx.save_reports([report])
            note = self.messenger.to_team(
                Topic.REPORT_TRANSFERRED,
                to_team,
                f"report/{ticket_id}/transfer",
                None,
                now,
                {
                    "ticket_id": ticket_id,
                    "product": report.product,
                    "to_team": to_team,
                    "reason": reason,
                },
            )
            tx.append(
                [
                    ReportTransferred(
                        incident_id=None,
                        actor=actor,
                        at=now,
                        ticket_id=ticket_id,
                        to_team=to_team,
                        reason=reason,
                    )
                ]
            )
            tx.enqueue([note], now)
            return report

        return self._run(work)

    # -- cadence ----------------------------------------------------------
    def updates_due(self, now: datetime | None = None) -> Sequence[UpdateDue]:
        """Open incidents whose first or next customer update is due, most overdue first."""
        when = self._now() if now is None else check_aware("now", now)
        incidents = self._run(lambda tx: tx.active_incidents())
        due = [d for d in (update_due(i, when) for i in incidents) if d is not None]
        due.sort(key=lambda d: (-d.overdue, d.incident_id))
        return due

    def send_update_reminders(self, by: Actor | None = None) -> int:
        """Remind owner teams of due updates: one reminder per missed interval, never a stream.

        Returns how many reminders were enqueued. Once an update is posted,
        nothing is due, so no reminder follows.
        """
        actor = _actor(by) if by is not None else None

        def work(tx: StoreTransaction) -> int:
            now = self._now()
            sent = 0
            for incident in tx.active_incidents():
                due = update_due(incident, now)
                if due is None:
                    continue
                missed_at = due.missed_at
                if incident.last_reminder_at is not None and incident.last_reminder_at >= missed_at:
                    continue
                from .desk import MONITORING_ACTOR

                who = actor or MONITORING_ACTOR
                note = self.messenger.to_team(
                    Topic.UPDATE_REMINDER,
                    incident.owner_team,
                    f"{incident.id}/reminder/{missed_at.isoformat()}",
                    incident.id,
                    now,
                    incident_values(incident)
                    | {"due_at": due.due_at.isoformat(), "overdue": str(due.overdue)},
                )
                incident.last_reminder_at = now
                tx.save_incident(incident)
                tx.append(
                    [
                        UpdateReminderSent(
                            incident_id=incident.id, actor=who, at=now, due_at=due.due_at
                        )
                    ]
                )
                sent += tx.enqueue([note], now)
            return sent

        return self._run(work)


class _RecentReports(Sequence[CustomerReport]):
    """The recent reports of a product, read from the store only if the policy looks."""

    def __init__(self, tx: StoreTransaction, report: CustomerReport, since: datetime) -> None:
        self._tx = tx
        self._report = report
        self._since = since
        self._rows: list[CustomerReport] | None = None

    def _load(self) -> list[CustomerReport]:
        if self._rows is None:
            self._rows = [
                r
                for r in self._tx.reports_since(self._report.product, self._since)
                if r.ticket_id != self._report.ticket_id
            ]
        return self._rows

    def __len__(self) -> int:
        return len(self._load())

    @overload
    def __getitem__(self, index: int) -> CustomerReport: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[CustomerReport]: ...
    def __getitem__(self, index: int | slice) -> CustomerReport | Sequence[CustomerReport]:
        return self._load()[index]

    def __iter__(self) -> Iterator[CustomerReport]:
        return iter(self._load())


def _actor(by: object) -> Actor:
    if not isinstance(by, Actor):
        raise InvalidInput("by", f"must be an Actor, not {type(by).__name__}")
    return by


def _report(tx: StoreTransaction, ticket_id: str) -> CustomerReport:
    report = tx.report(ticket_id)
    if report is None:
        raise NotFound("report", ticket_id)
    return report


def _already_triaged(report: CustomerReport) -> TriageResult:
    reason = (
        f"ticket {report.ticket_id} was triaged before ({report.status.value}); nothing changed"
    )
    if report.status is ReportStatus.LINKED and report.incident_id is not None:
        decision = TriageDecision.link(report.incident_id, reason)
    else:
        decision = TriageDecision.troubleshoot(reason)
    return TriageResult(
        decision=decision, report=report, incident_id=report.incident_id, applied=False
    )
