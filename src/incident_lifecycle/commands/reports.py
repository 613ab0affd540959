"""Support's commands: triage customer reports, correct ticket links, end troubleshooting.

Linking and troubleshooting are the volume path of a storm of customer
reports, so they move reports with the lifecycle's compiled table
(``fire_many``), never building a machine per ticket.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, overload

import attrs

from ..domain.actors import Action, Actor, check_permitted
from ..domain.checks import BODY_MAX, REASON_MAX, identifier, instance, optional, shifted_back, text
from ..domain.copies import clone
from ..domain.errors import InvalidInput, InvalidTransition, NotFound
from ..domain.events import (
    ReportResolved,
    ReportTransferred,
    ReportTriaged,
    TicketLinked,
    TicketUnlinked,
)
from ..domain.incidents import OPEN_STATUSES, ServiceIncident, regions_compatible
from ..domain.reports import CustomerReport, ReportStatus, TriageOutcome
from ..lifecycle import REPORT_LIFECYCLE
from ..ports import StoreTransaction
from ..triage import TriageDecision
from .base import WIRE, Command, Context
from .incidents import open_incident

__all__ = [
    "AssessReport",
    "LinkTicket",
    "ResolveReport",
    "TransferReport",
    "TriageReport",
    "TriageReports",
    "REPORT_CLOCK_SKEW",
    "TriageResult",
    "UnlinkTicket",
    "assess",
    "check_not_future",
    "check_received",
]


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


def check_received(field: str, report: object) -> CustomerReport:
    """``report`` if it is a ``CustomerReport`` not yet triaged; else ``InvalidInput``."""
    if not isinstance(report, CustomerReport):
        raise InvalidInput(field, f"must be a CustomerReport, not {type(report).__name__}")
    if report.status is not ReportStatus.RECEIVED:
        raise InvalidInput("status", "a report to triage must be received, not yet triaged")
    return report


def _check_report(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_received(attribute.name, value)


def _to_reports(value: object) -> tuple[CustomerReport, ...]:
    if isinstance(value, CustomerReport | str | bytes) or not isinstance(value, Sequence):
        raise InvalidInput("reports", "must be a sequence of CustomerReport")
    for index, report in enumerate(value):
        try:
            check_received("report", report)
        except InvalidInput as error:
            raise InvalidInput(f"reports[{index}]", error.reason) from None
    return tuple(value)


REPORT_CLOCK_SKEW = timedelta(minutes=5)
"""How far after the desk's clock a report may be stamped (the helpdesk's clock runs a little
ahead): later than that, it is refused with ``InvalidInput`` naming ``reported_at``."""


def check_not_future(ctx: Context, report: CustomerReport) -> None:
    """Refuse a report stamped more than :data:`REPORT_CLOCK_SKEW` after ``ctx.now``."""
    if report.reported_at - ctx.now > REPORT_CLOCK_SKEW:  # a difference never overflows
        raise InvalidInput(
            "reported_at",
            f"{report.reported_at.isoformat()} is more than {REPORT_CLOCK_SKEW} after the "
            f"desk's clock ({ctx.now.isoformat()}): a report cannot come from the future",
        )


def _since(ctx: Context, report: CustomerReport) -> datetime:
    """The start of the policy's look-back for ``report``."""
    return shifted_back(max(ctx.now, report.reported_at), ctx.config.policy.lookback)


def assess(ctx: Context, report: CustomerReport) -> tuple[TriageDecision, list[ServiceIncident]]:
    """The policy's decision for ``report``, and the candidates it chose among: every open
    incident of the product, whatever its region (the policy says why it excludes one)."""
    candidates = [
        i for i in ctx.tx.active_incidents(product=report.product) if i.status in OPEN_STATUSES
    ]
    recent = _RecentReports(ctx.tx, report, _since(ctx, report))
    decision = ctx.config.policy.assess(report, candidates, recent, ctx.now)
    if not isinstance(decision, TriageDecision):
        raise InvalidInput("policy", "a triage policy must return a TriageDecision")
    return decision, candidates


def _triaged(
    ctx: Context,
    ticket_id: str,
    by: Actor,
    chosen: TriageDecision,
    incident: ServiceIncident | None,
    suggestion: TriageDecision | None,
    previous: str | None = None,
) -> ReportTriaged:
    """The timeline event of a triage: the decision applied and, for an agent's decision,
    the policy's suggestion beside it."""
    suggested: dict[str, Any] = {}
    if suggestion is not None:
        suggested = {
            "suggested_outcome": suggestion.outcome.value,
            "suggested_incident": suggestion.incident_id,
            "suggested_score": suggestion.score,
            "suggested_reasons": suggestion.reasons,
        }
    return ReportTriaged(
        incident_id=incident.id if incident else None,
        actor=by,
        at=ctx.now,
        ticket_id=ticket_id,
        outcome=chosen.outcome.value,
        overridden=suggestion is not None,
        reasons=chosen.reasons,
        score=chosen.score,
        retriaged=previous is not None,
        previous=previous,
        **suggested,
    )


def _triage(
    ctx: Context, report: CustomerReport, by: Actor, override: TriageDecision | None
) -> TriageResult:
    """Triage one report inside ``ctx`` (a ticket triaged before: re-triage it by
    ``override``, or return it as it is)."""
    tx = ctx.tx
    check_not_future(ctx, report)
    existing = tx.report(report.ticket_id)
    if existing is not None:
        if override is None:
            return _already_triaged(existing)
        return _retriage(ctx, existing, by, override)
    suggestion, candidates = assess(ctx, report)
    chosen = suggestion if override is None else override
    stored = clone(report)
    stored.version = 0  # not stored yet: whatever version it came with means nothing
    incident: ServiceIncident | None = None
    if chosen.outcome is TriageOutcome.LINK_EXISTING:
        # The policy chose among incidents read in this transaction: no need to read again.
        incident = next((i for i in candidates if i.id == chosen.incident_id), None) or tx.incident(
            chosen.incident_id or ""
        )
        Context.require(incident, OPEN_STATUSES, "link a ticket to")
    elif chosen.outcome is TriageOutcome.OPEN_NEW:
        incident = _open_from(ctx, stored, chosen, by)
    ctx.record(
        _triaged(
            ctx, stored.ticket_id, by, chosen, incident, None if override is None else suggestion
        )
    )
    if incident is None:
        REPORT_LIFECYCLE.fire_many([stored], "troubleshoot", now=ctx.now)
        tx.add_report(stored)
    else:
        tx.add_report(stored)
        _link(ctx, stored, incident, by)
        tx.save_reports([stored])
        if chosen.outcome is TriageOutcome.OPEN_NEW:
            _link_surge(ctx, stored, incident, by)
    return TriageResult(
        decision=chosen,
        report=stored,
        incident_id=incident.id if incident else None,
        applied=True,
        overridden=override is not None,
    )


def _retriage(
    ctx: Context, stored: CustomerReport, by: Actor, decision: TriageDecision
) -> TriageResult:
    """Move a ticket triaged before as the agent decides: link it (moving it from another
    incident), open a new incident for it, or send it back to troubleshooting. The policy's
    suggestion is recorded beside the decision. Already where the decision puts it: nothing
    changes (``applied`` false)."""
    tx = ctx.tx
    if stored.status not in (ReportStatus.LINKED, ReportStatus.TROUBLESHOOTING):
        raise InvalidTransition("report", stored.ticket_id, "re-triage", stored.status.value)
    was = stored.incident_id if stored.status is ReportStatus.LINKED else None
    if (decision.outcome is TriageOutcome.TROUBLESHOOT and was is None) or (
        decision.outcome is TriageOutcome.LINK_EXISTING and was == decision.incident_id
    ):
        return attrs.evolve(_already_triaged(stored), decision=decision, overridden=True)
    suggestion = assess(ctx, stored)[0]
    previous = stored.status.value + (f" on {was}" if was else "")
    incident: ServiceIncident | None = None
    if decision.outcome is TriageOutcome.LINK_EXISTING:
        incident = tx.incident(decision.incident_id or "")
        Context.require(incident, OPEN_STATUSES, "link a ticket to")
    elif decision.outcome is TriageOutcome.OPEN_NEW:
        incident = _open_from(ctx, stored, decision, by)
    if was is not None:
        moved = f"re-triaged: {decision.outcome.value}" + (f" {incident.id}" if incident else "")
        ctx.record(
            TicketUnlinked(
                incident_id=was, actor=by, at=ctx.now, ticket_id=stored.ticket_id, reason=moved
            )
        )
    ctx.record(_triaged(ctx, stored.ticket_id, by, decision, incident, suggestion, previous))
    if incident is None:
        REPORT_LIFECYCLE.fire(stored, "unlink", now=ctx.now)
        stored.incident_id = None
        tx.unlink(stored.ticket_id)
    else:
        _link(ctx, stored, incident, by)
    tx.save_reports([stored])
    return TriageResult(
        decision=decision,
        report=stored,
        incident_id=incident.id if incident else None,
        applied=True,
        overridden=True,
    )


def _open_from(
    ctx: Context, report: CustomerReport, decision: TriageDecision, by: Actor
) -> ServiceIncident:
    where = f" in {report.region}" if report.region else ""
    return open_incident(
        ctx,
        by=by,
        title=f"Customers report {report.symptom.value} on {report.product}{where}",
        product=report.product,
        region=report.region,
        severity=ctx.config.severity(decision.severity or ""),
        summary=report.summary,
        notify_owner=True,
    )


def _link_surge(ctx: Context, report: CustomerReport, incident: ServiceIncident, by: Actor) -> None:
    """Link the reports in troubleshooting that were part of the surge to the new incident."""
    surge = [
        r
        for r in ctx.tx.reports_since(report.product, _since(ctx, report))
        if r.status is ReportStatus.TROUBLESHOOTING
        and r.symptom is report.symptom
        and regions_compatible(r.region, report.region)
    ]
    for other in surge:
        _link(ctx, other, incident, by)
    ctx.tx.save_reports(surge)


def _link(ctx: Context, report: CustomerReport, incident: ServiceIncident, by: Actor) -> None:
    """Link ``report`` to ``incident`` and tell the customer the current status."""
    if report.status is not ReportStatus.LINKED:
        REPORT_LIFECYCLE.fire_many([report], "link", now=ctx.now)
    report.incident_id = incident.id
    ctx.tx.link(report.ticket_id, incident.id)
    if report.symptom not in incident.reported_symptoms:
        incident.reported_symptoms = (*incident.reported_symptoms, report.symptom)
        ctx.tx.save_incident(incident)
    ctx.notify(*ctx.messages.ticket_linked(report, incident, ctx.now))
    ctx.record(
        TicketLinked(incident_id=incident.id, actor=by, at=ctx.now, ticket_id=report.ticket_id)
    )


@attrs.frozen(kw_only=True)
class AssessReport(Command[TriageDecision]):
    """The policy's suggestion for a report, reasons included: a query, nothing is stored."""

    op: ClassVar[str] = "assess"
    action: ClassVar[Action | None] = None

    report: CustomerReport = attrs.field(validator=_check_report)

    def execute(self, ctx: Context) -> TriageDecision:
        """Ask the policy, with the candidates and recent reports read in ``ctx``."""
        check_not_future(ctx, self.report)
        return assess(ctx, self.report)[0]


@attrs.frozen(kw_only=True)
class TriageReport(Command[TriageResult]):
    """Triage a customer report (the policy decides unless a decision overrides it).

    Linking tells the customer the incident's current status; opening
    declares a new incident at the decided severity and links the ticket to
    it; troubleshooting starts standard troubleshooting. Idempotent per ticket
    id: a ticket triaged before is returned as it is, nobody notified again.
    """

    op: ClassVar[str] = "report"
    action: ClassVar[Action | None] = Action.TRIAGE

    report: CustomerReport = attrs.field(validator=_check_report)
    by: Actor = attrs.field(validator=instance(Actor))
    decision: TriageDecision | None = attrs.field(
        default=None, validator=optional(instance(TriageDecision))
    )

    def execute(self, ctx: Context) -> TriageResult:
        """Store the report and apply the decision."""
        check_permitted(self.by, Action.TRIAGE)
        return _triage(ctx, self.report, self.by, self.decision)


@attrs.frozen(kw_only=True)
class TriageReports(Command[list[TriageResult]]):
    """Triage a batch of reports in order, in one transaction, by the policy.

    Each report sees the reports and incidents of the ones before it (a surge
    within the batch opens one incident, and the reports after it link to
    it). All the batch is kept, or none of it; an error names the report.
    """

    op: ClassVar[str] = "reports"
    action: ClassVar[Action | None] = Action.TRIAGE

    reports: tuple[CustomerReport, ...] = attrs.field(converter=_to_reports)
    by: Actor = attrs.field(validator=instance(Actor))

    def execute(self, ctx: Context) -> list[TriageResult]:
        """Triage each report in turn."""
        check_permitted(self.by, Action.TRIAGE)
        results = []
        for index, report in enumerate(self.reports):
            try:
                results.append(_triage(ctx, report, self.by, None))
            except InvalidInput as error:  # e.g. a surge on a product no team owns
                raise InvalidInput(f"reports[{index}]", f"{error.field}: {error.reason}") from error
            except Exception as error:
                error.add_note(f"while triaging reports[{index}] ({report.ticket_id})")
                raise
        return results


@attrs.frozen(kw_only=True)
class LinkTicket(Command[CustomerReport]):
    """Link a triaged ticket to an open incident (moving it from another, if linked)."""

    op: ClassVar[str] = "link"
    action: ClassVar[Action | None] = Action.LINK_TICKET

    ticket_id: str = attrs.field(validator=identifier(), metadata={WIRE: "ticket"})
    incident_id: str = attrs.field(validator=identifier(), metadata={WIRE: "incident"})
    by: Actor = attrs.field(validator=instance(Actor))

    def execute(self, ctx: Context) -> CustomerReport:
        """Link the ticket; the customer is told the incident's status."""
        check_permitted(self.by, Action.LINK_TICKET)
        report = _report(ctx.tx, self.ticket_id)
        incident = ctx.tx.incident(self.incident_id)
        ctx.require(incident, OPEN_STATUSES, "link a ticket to")
        if report.incident_id == incident.id and report.status is ReportStatus.LINKED:
            return report
        if report.status is ReportStatus.LINKED and report.incident_id is not None:
            ctx.record(
                TicketUnlinked(
                    incident_id=report.incident_id,
                    actor=self.by,
                    at=ctx.now,
                    ticket_id=self.ticket_id,
                    reason=f"moved to {incident.id}",
                )
            )
        _link(ctx, report, incident, self.by)
        ctx.tx.save_reports([report])
        return report


@attrs.frozen(kw_only=True)
class UnlinkTicket(Command[CustomerReport]):
    """Unlink a ticket from its incident: it goes back to troubleshooting."""

    op: ClassVar[str] = "unlink"
    action: ClassVar[Action | None] = Action.LINK_TICKET

    ticket_id: str = attrs.field(validator=identifier(), metadata={WIRE: "ticket"})
    by: Actor = attrs.field(validator=instance(Actor))
    reason: str = attrs.field(default="", validator=text(REASON_MAX, min_len=0))

    def execute(self, ctx: Context) -> CustomerReport:
        """Unlink; the timeline of the incident it left says so."""
        check_permitted(self.by, Action.LINK_TICKET)
        report = _report(ctx.tx, self.ticket_id)
        previous = report.incident_id
        REPORT_LIFECYCLE.fire(report, "unlink", now=ctx.now)
        report.incident_id = None
        ctx.tx.unlink(self.ticket_id)
        ctx.tx.save_reports([report])
        ctx.record(
            TicketUnlinked(
                incident_id=previous,
                actor=self.by,
                at=ctx.now,
                ticket_id=self.ticket_id,
                reason=self.reason,
            )
        )
        return report


@attrs.frozen(kw_only=True)
class ResolveReport(Command[CustomerReport]):
    """Troubleshooting solved the customer's problem (not a service incident)."""

    op: ClassVar[str] = "resolve_report"
    action: ClassVar[Action | None] = Action.END_TROUBLESHOOTING

    ticket_id: str = attrs.field(validator=identifier(), metadata={WIRE: "ticket"})
    by: Actor = attrs.field(validator=instance(Actor))
    note: str = attrs.field(validator=text(BODY_MAX))

    def execute(self, ctx: Context) -> CustomerReport:
        """Solve the report."""
        check_permitted(self.by, Action.END_TROUBLESHOOTING)
        report = _report(ctx.tx, self.ticket_id)
        if report.status is not ReportStatus.TROUBLESHOOTING:
            raise InvalidTransition("report", self.ticket_id, "resolve", report.status.value)
        REPORT_LIFECYCLE.fire(report, "solve", now=ctx.now)
        ctx.tx.save_reports([report])
        ctx.record(
            ReportResolved(
                incident_id=None,
                actor=self.by,
                at=ctx.now,
                ticket_id=self.ticket_id,
                note=self.note,
            )
        )
        return report


@attrs.frozen(kw_only=True)
class TransferReport(Command[CustomerReport]):
    """Troubleshooting escalates the report to another team, which is notified."""

    op: ClassVar[str] = "transfer_report"
    action: ClassVar[Action | None] = Action.END_TROUBLESHOOTING

    ticket_id: str = attrs.field(validator=identifier(), metadata={WIRE: "ticket"})
    by: Actor = attrs.field(validator=instance(Actor))
    to_team: str = attrs.field(validator=identifier())
    reason: str = attrs.field(validator=text(REASON_MAX))

    def execute(self, ctx: Context) -> CustomerReport:
        """Transfer the report; tell the team."""
        check_permitted(self.by, Action.END_TROUBLESHOOTING)
        report = _report(ctx.tx, self.ticket_id)
        REPORT_LIFECYCLE.fire(report, "transfer", now=ctx.now)
        ctx.tx.save_reports([report])
        ctx.notify(ctx.messages.report_transferred(report, self.to_team, self.reason, ctx.now))
        ctx.record(
            ReportTransferred(
                incident_id=None,
                actor=self.by,
                at=ctx.now,
                ticket_id=self.ticket_id,
                to_team=self.to_team,
                reason=self.reason,
            )
        )
        return report


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
