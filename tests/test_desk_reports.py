"""Customer reports through the desk: triage, ticket links, troubleshooting, cadence, fan-out.

Every test runs on each store of ``desk_support.STORE_FACTORIES`` (in memory
and SQLite). Customers are told things through the outbox, so most tests
deliver it and look at what a ``RecordingNotifier`` received.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import desk_support as support
from desk_support import (
    ENG_CHAT,
    ENG_SUPPORT,
    IM,
    START,
    SUPPORT_AGENT,
    link_tickets,
    make_desk,
    open_incident,
    potential_incident,
    snapshot,
)
from incident_lifecycle import (
    REPORT_LIFECYCLE,
    SEV2,
    Actor,
    CustomerReport,
    IncidentStatus,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPermitted,
    ReportStatus,
    Review,
    Role,
    ServiceIncident,
    Symptom,
    TriageOutcome,
)
from incident_lifecycle.adapters import RecordingNotifier
from incident_lifecycle.cadence import UpdateDue
from incident_lifecycle.commands.reports import REPORT_CLOCK_SKEW
from incident_lifecycle.delivery import RetryPolicy
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.domain.events import (
    DomainEvent,
    IncidentDeclared,
    ReportResolved,
    ReportTransferred,
    ReportTriaged,
    TicketLinked,
    TicketUnlinked,
    UpdateReminderSent,
)
from incident_lifecycle.notifications import DeliveryResult, Notification, RecipientKind, Topic
from incident_lifecycle.ports import Store
from incident_lifecycle.testing import FakeClock, FlakyNotifier
from incident_lifecycle.triage import DefaultTriagePolicy, TriageDecision

store_factory = support.store_factory
store = support.store
clock = support.clock
notifier = support.notifier
desk = support.desk

MINUTE = timedelta(minutes=1)
BILLING = "billing-eng"


def make_report(
    ticket_id: str,
    *,
    at: datetime,
    account_id: str | None = None,
    product: str = "support",
    symptom: Symptom | str = Symptom.SLOW,
    summary: str = "Pages take ages to load",
    region: str | None = "pod17",
    locale: str = "en",
) -> CustomerReport:
    """A received report (its own account unless one is given)."""
    return CustomerReport(
        ticket_id=ticket_id,
        account_id=account_id or f"acct-{ticket_id}",
        product=product,
        symptom=symptom,
        summary=summary,
        reported_at=at,
        region=region,
        locale=locale,
    )


def triage(
    desk: IncidentDesk, ticket_id: str, decision: TriageDecision | None = None, **fields: Any
) -> Any:
    """Triage a fresh report of ``ticket_id`` made now, as the support agent."""
    report = make_report(ticket_id, at=desk.clock.now(), **fields)
    return desk.triage_report(report, SUPPORT_AGENT, decision=decision)


def support_events(desk: IncidentDesk) -> list[DomainEvent]:
    """Events about reports that belong to no incident (troubleshooting, transfers)."""
    with desk.store.transaction() as tx:
        return list(tx.timeline(None))  # type: ignore[arg-type]


def delivered(desk: IncidentDesk, notifier: RecordingNotifier) -> list[Notification]:
    """Deliver the outbox; return everything the notifier has received so far."""
    desk.deliver()
    return list(notifier.sent)


def to_ticket(
    notes: Sequence[Notification], ticket: str, topic: Topic | None = None
) -> list[Notification]:
    """The notifications sent to ``ticket`` (of ``topic``), in order."""
    return [n for n in notes if n.recipient == ticket and (topic is None or n.topic is topic)]


def status_of(desk: IncidentDesk, ticket: str) -> tuple[ReportStatus, str | None]:
    """The stored report's status and incident."""
    report = desk.report(ticket)
    assert report is not None
    return report.status, report.incident_id


# -- assess_report -----------------------------------------------------------------


def test_assess_report_suggests_a_decision_and_stores_nothing(
    desk: IncidentDesk, clock: FakeClock
) -> None:
    """``assess_report`` returns the policy's decision with reasons and changes nothing."""
    incident_id = open_incident(desk)
    report = make_report("T-1", at=clock.now())
    before = snapshot(desk, ("T-1",))

    decision = desk.assess_report(report)

    assert (decision.outcome, decision.incident_id) == (TriageOutcome.LINK_EXISTING, incident_id)
    assert decision.reasons
    assert snapshot(desk, ("T-1",)) == before
    assert desk.report("T-1") is None
    assert report.status is ReportStatus.RECEIVED


@pytest.mark.parametrize(
    ("value", "field"),
    [("T-1", "report"), (None, "report")],
)
def test_assess_report_refuses_what_is_not_a_report(
    desk: IncidentDesk, value: object, field: str
) -> None:
    """Anything but a ``CustomerReport`` is refused naming ``report``."""
    with pytest.raises(InvalidInput) as caught:
        desk.assess_report(value)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_only_received_reports_are_assessed_or_triaged(
    desk: IncidentDesk, clock: FakeClock
) -> None:
    """A report already in troubleshooting is refused naming ``status``."""
    report = attrs.evolve(make_report("T-1", at=clock.now()), status=ReportStatus.TROUBLESHOOTING)

    for command in (
        lambda: desk.assess_report(report),
        lambda: desk.triage_report(report, SUPPORT_AGENT),
    ):
        with pytest.raises(InvalidInput) as caught:
            command()
        assert caught.value.field == "status"
    assert desk.report("T-1") is None


# -- triage_report: the policy's three outcomes ----------------------------------------


def test_triage_links_a_matching_report_and_tells_the_customer_the_current_status(
    desk: IncidentDesk, notifier: RecordingNotifier, clock: FakeClock
) -> None:
    """LINK_EXISTING stores the report linked, records why, and sends the current status."""
    incident_id = open_incident(desk)
    desk.post_update(incident_id, ENG_SUPPORT, "Pages are slow in pod 17; we are on it.")
    now = clock.advance(minutes=2)

    result = triage(desk, "T-1", locale="fr-CA")

    assert (result.applied, result.overridden, result.incident_id) == (True, False, incident_id)
    assert result.decision.outcome is TriageOutcome.LINK_EXISTING
    assert status_of(desk, "T-1") == (ReportStatus.LINKED, incident_id)
    assert desk.linked_tickets(incident_id) == ["T-1"]
    assert Symptom.SLOW in desk.incident(incident_id).reported_symptoms
    triaged, linked = desk.timeline(incident_id)[-2:]
    assert isinstance(triaged, ReportTriaged)
    assert isinstance(linked, TicketLinked)
    assert (triaged.ticket_id, triaged.outcome, triaged.overridden, triaged.at) == (
        "T-1",
        "link_existing",
        False,
        now,
    )
    assert triaged.reasons == result.decision.reasons
    assert triaged.actor == SUPPORT_AGENT
    (note,) = to_ticket(delivered(desk, notifier), "T-1")
    assert (note.topic, note.incident_id, note.locale) == (
        Topic.TICKET_LINKED,
        incident_id,
        "fr-CA",
    )
    assert "Statut actuel : en cours d'analyse" in note.body
    assert "Pages are slow in pod 17; we are on it." in note.body


def test_a_ticket_linked_before_any_public_update_is_told_none_yet(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """The link message says there is no update yet, and never shows an internal one."""
    incident_id = open_incident(desk)
    desk.post_update(incident_id, ENG_SUPPORT, "SECRET-rollback-plan", visibility="internal")

    triage(desk, "T-1")

    (note,) = to_ticket(delivered(desk, notifier), "T-1")
    assert "Latest update: none yet" in note.body
    assert "SECRET" not in note.body + note.subject


def test_triage_troubleshoots_a_report_matching_nothing(
    desk: IncidentDesk, notifier: RecordingNotifier, clock: FakeClock
) -> None:
    """TROUBLESHOOT stores the report in troubleshooting, records why, and tells nobody."""
    open_incident(desk)

    result = triage(desk, "T-1", product="chat")

    assert (result.applied, result.incident_id) == (True, None)
    assert result.decision.outcome is TriageOutcome.TROUBLESHOOT
    assert status_of(desk, "T-1") == (ReportStatus.TROUBLESHOOTING, None)
    (event,) = support_events(desk)
    assert isinstance(event, ReportTriaged)
    assert (event.ticket_id, event.outcome, event.overridden) == ("T-1", "troubleshoot", False)
    assert event.reasons == result.decision.reasons
    assert to_ticket(delivered(desk, notifier), "T-1") == []


def test_a_surge_opens_an_incident_and_links_the_surge(
    desk: IncidentDesk, notifier: RecordingNotifier, clock: FakeClock
) -> None:
    """The fifth account reporting errors on chat opens a SEV3 incident linking all five."""
    for n in range(4):
        assert triage(desk, f"T-{n}", product="chat", symptom="errors").incident_id is None
        clock.advance(minutes=2)
    triage(desk, "T-other", product="chat", symptom="slow")
    now = clock.now()

    result = triage(desk, "T-4", product="chat", symptom="errors")

    assert result.decision.outcome is TriageOutcome.OPEN_NEW
    assert result.decision.severity == "SEV3"
    incident = desk.incident(result.incident_id)
    assert (incident.status, incident.severity.name if incident.severity else None) == (
        IncidentStatus.INVESTIGATING,
        "SEV3",
    )
    assert (incident.products, incident.region, incident.owner_team) == (
        ("chat",),
        "pod17",
        "chat-eng",
    )
    assert (incident.opened_at, incident.title) == (now, "Customers report errors on chat in pod17")
    tickets = ["T-4", "T-0", "T-1", "T-2", "T-3"]
    assert desk.linked_tickets(incident.id) == tickets
    assert all(status_of(desk, t) == (ReportStatus.LINKED, incident.id) for t in tickets)
    assert status_of(desk, "T-other") == (ReportStatus.TROUBLESHOOTING, None)
    names = [e.name for e in desk.timeline(incident.id)]
    assert names == ["IncidentDeclared", "ReportTriaged", *["TicketLinked"] * 5]
    sent = delivered(desk, notifier)
    assert {n.recipient for n in sent if n.topic is Topic.TICKET_LINKED} == set(tickets)
    (declared,) = [n for n in sent if n.topic is Topic.INCIDENT_DECLARED]
    assert (declared.recipient, declared.recipient_kind) == ("chat-eng", RecipientKind.TEAM)


def test_a_surge_leaves_other_regions_alone(desk: IncidentDesk, clock: FakeClock) -> None:
    """Troubleshooting reports of another region are not linked to the new incident."""
    triage(desk, "T-far", product="chat", symptom="errors", region="pod1")
    for n in range(3):
        triage(desk, f"T-{n}", product="chat", symptom="errors")

    result = triage(desk, "T-3", product="chat", symptom="errors")

    assert result.decision.outcome is TriageOutcome.OPEN_NEW
    assert "T-far" not in desk.linked_tickets(result.incident_id)
    assert status_of(desk, "T-far") == (ReportStatus.TROUBLESHOOTING, None)


# -- triage_report: the agent's overrides ----------------------------------------------


def test_an_agent_can_link_what_the_policy_would_troubleshoot(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """A LINK override links the ticket and is recorded as overridden, with the agent's reasons."""
    incident_id = open_incident(desk)
    decision = TriageDecision.link(incident_id, "the customer named this outage")
    assert desk.assess_report(make_report("T-1", at=START, region="pod1")).incident_id is None

    result = triage(desk, "T-1", decision, region="pod1")

    assert (result.applied, result.overridden, result.decision) == (True, True, decision)
    assert status_of(desk, "T-1") == (ReportStatus.LINKED, incident_id)
    (event,) = [e for e in desk.timeline(incident_id) if isinstance(e, ReportTriaged)]
    assert (event.outcome, event.overridden, event.reasons) == (
        "link_existing",
        True,
        ("the customer named this outage",),
    )
    assert [n.topic for n in to_ticket(delivered(desk, notifier), "T-1")] == [Topic.TICKET_LINKED]


def test_an_agent_can_open_an_incident_the_policy_would_not(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """An OPEN_NEW override declares an incident at the agent's severity and links the ticket."""
    existing = open_incident(desk)
    decision = TriageDecision.open_new("SEV1", "a different outage")

    result = triage(desk, "T-1", decision)

    assert result.overridden
    assert result.incident_id != existing
    incident = desk.incident(result.incident_id)
    assert (incident.status, incident.severity) == (
        IncidentStatus.INVESTIGATING,
        desk.scale["SEV1"],
    )
    assert desk.linked_tickets(result.incident_id) == ["T-1"]
    declared, triaged = desk.timeline(result.incident_id)[:2]
    assert isinstance(declared, IncidentDeclared)
    assert declared.severity == "SEV1"
    assert isinstance(triaged, ReportTriaged)
    assert triaged.overridden
    assert desk.linked_tickets(existing) == []


def test_an_agent_can_troubleshoot_what_the_policy_would_link(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """A TROUBLESHOOT override keeps the ticket out of the incident the policy suggested."""
    incident_id = open_incident(desk)
    decision = TriageDecision.troubleshoot("a how-to question")

    result = triage(desk, "T-1", decision)

    assert (result.overridden, result.incident_id) == (True, None)
    assert status_of(desk, "T-1") == (ReportStatus.TROUBLESHOOTING, None)
    assert desk.linked_tickets(incident_id) == []
    (event,) = support_events(desk)
    assert isinstance(event, ReportTriaged)
    assert (event.outcome, event.overridden, event.reasons) == (
        "troubleshoot",
        True,
        ("a how-to question",),
    )
    assert to_ticket(delivered(desk, notifier), "T-1") == []


@pytest.mark.parametrize("target", ["potential", "resolved", "unknown"])
def test_linking_to_an_incident_that_is_not_open_is_refused_and_stores_nothing(
    desk: IncidentDesk, target: str
) -> None:
    """A LINK override to a potential, resolved or unknown incident changes nothing."""
    if target == "potential":
        incident_id = potential_incident(desk)
    elif target == "resolved":
        incident_id = open_incident(desk)
        desk.resolve_incident(incident_id, IM, "Fixed.")
    else:
        incident_id = "INC-404"
    before = snapshot(desk, ("T-1",))

    with pytest.raises(NotFound if target == "unknown" else InvalidTransition):
        triage(desk, "T-1", TriageDecision.link(incident_id, "agent says so"))

    assert snapshot(desk, ("T-1",)) == before
    assert desk.report("T-1") is None


def test_opening_at_a_severity_outside_the_scale_is_refused(desk: IncidentDesk) -> None:
    """An OPEN_NEW override at an unknown level raises ``InvalidInput`` naming ``severity``."""
    before = snapshot(desk, ("T-1",))

    with pytest.raises(InvalidInput) as caught:
        triage(desk, "T-1", TriageDecision.open_new("SEV9", "worst ever"))

    assert caught.value.field == "severity"
    assert snapshot(desk, ("T-1",)) == before


def test_a_decision_must_be_a_triage_decision(desk: IncidentDesk) -> None:
    """An override that is not a ``TriageDecision`` is refused naming ``decision``."""
    with pytest.raises(InvalidInput) as caught:
        triage(desk, "T-1", "link_existing")  # type: ignore[arg-type]
    assert caught.value.field == "decision"


# -- idempotency -------------------------------------------------------------------------


def test_triaging_a_ticket_again_links_nothing_twice_and_notifies_nobody_twice(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """A second triage of a linked ticket by the policy, or to where it already is, returns it
    unchanged: one link, one message, one event."""
    incident_id = open_incident(desk)
    first = triage(desk, "T-1")
    desk.deliver()
    before = snapshot(desk, ("T-1",))

    again = triage(desk, "T-1")
    same = triage(desk, "T-1", TriageDecision.link(incident_id, "yes, that one"))

    for result in (again, same):
        assert (result.applied, result.incident_id) == (False, incident_id)
        assert result.decision.outcome is TriageOutcome.LINK_EXISTING
    assert "triaged before" in again.decision.reasons[0]
    assert first.applied
    assert snapshot(desk, ("T-1",)) == before
    assert desk.linked_tickets(incident_id) == ["T-1"]
    assert len(to_ticket(delivered(desk, notifier), "T-1")) == 1


def test_a_retriage_moves_a_linked_ticket_and_records_the_override(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """An agent's decision on a linked ticket moves it (to a new incident here): unlinked
    from the first, linked to the new one, the policy's suggestion recorded beside it."""
    incident_id = open_incident(desk)
    triage(desk, "T-1")

    moved = triage(desk, "T-1", TriageDecision.open_new("SEV1", "agent changed their mind"))

    assert moved.applied
    assert moved.overridden
    assert moved.incident_id not in (None, incident_id)
    assert status_of(desk, "T-1") == (ReportStatus.LINKED, moved.incident_id)
    assert desk.linked_tickets(incident_id) == []
    assert desk.linked_tickets(moved.incident_id or "") == ["T-1"]
    unlinked = [e for e in desk.timeline(incident_id) if isinstance(e, TicketUnlinked)]
    assert [e.ticket_id for e in unlinked] == ["T-1"]
    retriaged = [e for e in desk.ticket_history("T-1") if isinstance(e, ReportTriaged)][-1]
    assert (retriaged.retriaged, retriaged.overridden, retriaged.outcome) == (
        True,
        True,
        "open_new",
    )
    assert retriaged.previous == f"linked on {incident_id}"
    assert (retriaged.suggested_outcome, retriaged.suggested_incident) == (
        "link_existing",
        incident_id,
    )
    assert retriaged.suggested_reasons
    assert retriaged.actor == SUPPORT_AGENT


def test_a_retriage_links_a_troubleshooting_ticket_and_unlinks_a_linked_one(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """Troubleshooting -> linked, then linked -> troubleshooting, each recorded on the ticket."""
    incident_id = open_incident(desk)
    triage(desk, "T-1", product="chat")

    linked = triage(desk, "T-1", TriageDecision.link(incident_id, "now it matches"))
    back = triage(desk, "T-1", TriageDecision.troubleshoot("not this one after all"))
    still = triage(desk, "T-1", TriageDecision.troubleshoot("really"))

    assert (linked.applied, linked.incident_id) == (True, incident_id)
    assert (back.applied, back.incident_id) == (True, None)
    assert still.applied is False
    assert status_of(desk, "T-1") == (ReportStatus.TROUBLESHOOTING, None)
    names = [e.name for e in desk.ticket_history("T-1")]
    assert names == [
        "ReportTriaged",
        "ReportTriaged",
        "TicketLinked",
        "TicketUnlinked",
        "ReportTriaged",
    ]


def test_a_retriage_of_a_solved_ticket_is_refused(desk: IncidentDesk) -> None:
    """A ticket whose troubleshooting ended cannot be moved: InvalidTransition, nothing kept."""
    incident_id = open_incident(desk)
    triage(desk, "T-1", product="chat")
    desk.resolve_report("T-1", SUPPORT_AGENT, "cleared the cache")
    before = snapshot(desk, ("T-1",))

    with pytest.raises(InvalidTransition):
        triage(desk, "T-1", TriageDecision.link(incident_id, "maybe"))

    assert snapshot(desk, ("T-1",)) == before


def test_a_ticket_history_holds_troubleshooting_and_its_end(desk: IncidentDesk) -> None:
    """Triage, resolution and transfer of reports with no incident are in their history."""
    triage(desk, "T-1", product="chat")
    triage(desk, "T-2", product="chat")
    desk.resolve_report("T-1", SUPPORT_AGENT, "cleared the cache")
    desk.transfer_report("T-2", SUPPORT_AGENT, "billing-eng", "a billing question")

    assert [e.name for e in desk.ticket_history("T-1")] == ["ReportTriaged", "ReportResolved"]
    assert [e.name for e in desk.ticket_history("T-2")] == [
        "ReportTriaged",
        "ReportTransferred",
    ]
    assert desk.ticket_history("T-9") == []


def test_a_first_override_records_the_policys_suggestion(desk: IncidentDesk) -> None:
    """An agent's decision at first triage keeps the policy's outcome, incident, score and
    reasons beside the agent's own."""
    incident_id = open_incident(desk)

    result = triage(desk, "T-1", TriageDecision.troubleshoot("a known browser bug"))

    assert (result.applied, result.overridden) == (True, True)
    [event] = [e for e in desk.ticket_history("T-1") if isinstance(e, ReportTriaged)]
    assert (event.outcome, event.reasons, event.actor) == (
        "troubleshoot",
        ("a known browser bug",),
        SUPPORT_AGENT,
    )
    assert (event.suggested_outcome, event.suggested_incident) == ("link_existing", incident_id)
    assert event.suggested_score is not None
    assert event.suggested_score >= 3
    assert any(incident_id in r for r in event.suggested_reasons)


def test_a_report_from_the_future_is_refused(desk: IncidentDesk) -> None:
    """A report stamped beyond the clock skew is InvalidInput naming reported_at; within it,
    it is triaged."""
    now = desk.clock.now()
    early = make_report("T-1", at=now + REPORT_CLOCK_SKEW + MINUTE)

    with pytest.raises(InvalidInput) as caught:
        desk.triage_report(early, SUPPORT_AGENT)

    assert caught.value.field == "reported_at"
    assert desk.report("T-1") is None
    assert desk.triage_report(make_report("T-2", at=now + REPORT_CLOCK_SKEW), SUPPORT_AGENT)


def test_retriaging_the_surge_does_not_open_a_second_incident(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """Triaging a surge's tickets again neither opens nor links anything more."""
    for n in range(5):
        result = triage(desk, f"T-{n}", product="chat", symptom="errors")
    incident_id = result.incident_id
    desk.deliver()
    before = snapshot(desk, tuple(f"T-{n}" for n in range(5)))

    for n in range(5):
        assert triage(desk, f"T-{n}", product="chat", symptom="errors").applied is False

    assert snapshot(desk, tuple(f"T-{n}" for n in range(5))) == before
    assert [i.id for i in desk.open_incidents("chat")] == [incident_id]
    counts = Counter(
        n.recipient for n in delivered(desk, notifier) if n.topic is Topic.TICKET_LINKED
    )
    assert counts == {f"T-{n}": 1 for n in range(5)}


# -- permissions ---------------------------------------------------------------------------

_COMMANDS: dict[str, Callable[[IncidentDesk, Actor, str], object]] = {
    "triage": lambda d, a, i: d.triage_report(make_report("T-9", at=START), a),
    "link": lambda d, a, i: d.link_ticket("T-1", i, a),
    "unlink": lambda d, a, i: d.unlink_ticket("T-1", a),
    "resolve": lambda d, a, i: d.resolve_report("T-2", a, "Cleared the cache."),
    "transfer": lambda d, a, i: d.transfer_report("T-2", a, BILLING, "Invoice question."),
}


@pytest.mark.parametrize("command", sorted(_COMMANDS))
@pytest.mark.parametrize(
    "actor",
    [ENG_SUPPORT, Actor(name="noc", role=Role.MONITORING)],
    ids=["engineering", "monitoring"],
)
def test_report_commands_are_supports_and_change_nothing_when_refused(
    desk: IncidentDesk, command: str, actor: Actor
) -> None:
    """Only support (or an incident manager) triages, links and ends troubleshooting."""
    incident_id = open_incident(desk)
    triage(desk, "T-1")
    triage(desk, "T-2", product="chat")
    tickets = ("T-1", "T-2", "T-9")
    before = snapshot(desk, tickets)

    with pytest.raises(NotPermitted):
        _COMMANDS[command](desk, actor, incident_id)

    assert snapshot(desk, tickets) == before
    _COMMANDS[command](desk, IM, incident_id)


# -- link_ticket / unlink_ticket -------------------------------------------------------------


def test_link_ticket_links_a_troubleshooting_ticket(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """A ticket found to be part of an incident after all is linked and told the status."""
    incident_id = open_incident(desk)
    triage(desk, "T-1", TriageDecision.troubleshoot("looked unrelated"))

    report = desk.link_ticket("T-1", incident_id, SUPPORT_AGENT)

    assert (report.status, report.incident_id) == (ReportStatus.LINKED, incident_id)
    assert status_of(desk, "T-1") == (ReportStatus.LINKED, incident_id)
    assert isinstance(desk.timeline(incident_id)[-1], TicketLinked)
    notes = to_ticket(delivered(desk, notifier), "T-1")
    assert [(n.topic, n.incident_id) for n in notes] == [(Topic.TICKET_LINKED, incident_id)]


def test_link_ticket_moves_a_ticket_between_incidents(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """Moving a ticket unlinks it from the first incident; only the second one's news reaches it."""
    first = open_incident(desk, "fp-1")
    second = open_incident(desk, "fp-2", product="chat", severity="SEV1")
    triage(desk, "T-1")
    triage(desk, "T-2")

    desk.link_ticket("T-1", second, SUPPORT_AGENT)
    desk.post_update(first, ENG_SUPPORT, "First incident news.")
    desk.post_update(second, ENG_CHAT, "Second incident news.")

    assert desk.linked_tickets(first) == ["T-2"]
    assert desk.linked_tickets(second) == ["T-1"]
    assert status_of(desk, "T-1") == (ReportStatus.LINKED, second)
    unlinked = desk.timeline(first)[-2]
    assert isinstance(unlinked, TicketUnlinked)
    assert (unlinked.ticket_id, unlinked.reason) == ("T-1", f"moved to {second}")
    notes = to_ticket(delivered(desk, notifier), "T-1")
    assert [(n.topic, n.incident_id) for n in notes] == [
        (Topic.TICKET_LINKED, first),
        (Topic.TICKET_LINKED, second),
        (Topic.STATUS_UPDATE, second),
    ]


def test_linking_a_ticket_to_its_own_incident_again_is_a_no_op(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """Re-linking a ticket where it already is changes nothing and sends nothing."""
    incident_id = open_incident(desk)
    triage(desk, "T-1")
    before = snapshot(desk, ("T-1",))

    desk.link_ticket("T-1", incident_id, SUPPORT_AGENT)

    assert snapshot(desk, ("T-1",)) == before
    assert len(to_ticket(delivered(desk, notifier), "T-1")) == 1


@pytest.mark.parametrize("state", ["potential", "resolved", "closed"])
def test_link_ticket_is_refused_unless_the_incident_is_open(desk: IncidentDesk, state: str) -> None:
    """A ticket cannot be linked to a potential, resolved or closed incident."""
    target = potential_incident(desk, "fp-9", product="chat")
    if state != "potential":
        target = open_incident(desk, "fp-8", product="talk")
        desk.resolve_incident(target, IM, "Fixed.")
    if state == "closed":
        desk.close_incident(target, IM, Review(root_cause="A bad deploy."))
    triage(desk, "T-1", TriageDecision.troubleshoot("unrelated"))
    before = snapshot(desk, ("T-1",))

    with pytest.raises(InvalidTransition):
        desk.link_ticket("T-1", target, SUPPORT_AGENT)

    assert snapshot(desk, ("T-1",)) == before


@pytest.mark.parametrize("ending", ["solved", "transferred"])
def test_a_ticket_whose_troubleshooting_ended_cannot_be_linked(
    desk: IncidentDesk, ending: str
) -> None:
    """A solved or transferred ticket stays where it ended."""
    incident_id = open_incident(desk)
    triage(desk, "T-1", product="chat")
    if ending == "solved":
        desk.resolve_report("T-1", SUPPORT_AGENT, "Cleared the cache.")
    else:
        desk.transfer_report("T-1", SUPPORT_AGENT, BILLING, "Invoice question.")
    before = snapshot(desk, ("T-1",))

    with pytest.raises(InvalidTransition):
        desk.link_ticket("T-1", incident_id, SUPPORT_AGENT)

    assert snapshot(desk, ("T-1",)) == before


def test_unlink_ticket_sends_it_back_to_troubleshooting(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """An unlinked ticket is troubleshot again and no longer hears from the incident."""
    incident_id = open_incident(desk)
    triage(desk, "T-1")

    report = desk.unlink_ticket("T-1", SUPPORT_AGENT, reason="different problem")
    desk.post_update(incident_id, ENG_SUPPORT, "News after the unlink.")

    assert (report.status, report.incident_id) == (ReportStatus.TROUBLESHOOTING, None)
    assert status_of(desk, "T-1") == (ReportStatus.TROUBLESHOOTING, None)
    assert desk.linked_tickets(incident_id) == []
    unlinked = [e for e in desk.timeline(incident_id) if isinstance(e, TicketUnlinked)]
    assert [(e.ticket_id, e.reason) for e in unlinked] == [("T-1", "different problem")]
    assert [n.topic for n in to_ticket(delivered(desk, notifier), "T-1")] == [Topic.TICKET_LINKED]


def test_unlink_refuses_tickets_that_are_not_linked(desk: IncidentDesk) -> None:
    """Unlinking a troubleshooting ticket is an invalid transition; an unknown one is not found."""
    triage(desk, "T-1", product="chat")

    with pytest.raises(InvalidTransition):
        desk.unlink_ticket("T-1", SUPPORT_AGENT)
    with pytest.raises(NotFound):
        desk.unlink_ticket("T-404", SUPPORT_AGENT)
    with pytest.raises(NotFound):
        desk.link_ticket("T-404", open_incident(desk), SUPPORT_AGENT)


# -- resolve_report / transfer_report ---------------------------------------------------------


def test_resolve_report_ends_troubleshooting(
    desk: IncidentDesk, notifier: RecordingNotifier, clock: FakeClock
) -> None:
    """Troubleshooting that solves the problem marks the report solved, on the record."""
    triage(desk, "T-1", product="chat")
    now = clock.advance(minutes=20)

    report = desk.resolve_report("T-1", SUPPORT_AGENT, "Cleared the browser cache.")

    assert (report.status, report.ended_at) == (ReportStatus.SOLVED, now)
    stored = desk.report("T-1")
    assert stored is not None
    assert (stored.status, stored.ended_at) == (ReportStatus.SOLVED, now)
    event = support_events(desk)[-1]
    assert isinstance(event, ReportResolved)
    assert (event.ticket_id, event.note, event.at) == ("T-1", "Cleared the browser cache.", now)
    assert to_ticket(delivered(desk, notifier), "T-1") == []


def test_transfer_report_escalates_and_notifies_the_team(
    desk: IncidentDesk, notifier: RecordingNotifier, clock: FakeClock
) -> None:
    """A transfer ends troubleshooting and tells the receiving team why."""
    triage(desk, "T-1", product="chat")
    now = clock.advance(minutes=20)

    report = desk.transfer_report("T-1", SUPPORT_AGENT, BILLING, "Charged twice for March.")

    assert (report.status, report.ended_at) == (ReportStatus.TRANSFERRED, now)
    event = support_events(desk)[-1]
    assert isinstance(event, ReportTransferred)
    assert (event.ticket_id, event.to_team, event.reason) == (
        "T-1",
        BILLING,
        "Charged twice for March.",
    )
    (note,) = [n for n in delivered(desk, notifier) if n.recipient == BILLING]
    assert (note.topic, note.recipient_kind) == (Topic.REPORT_TRANSFERRED, RecipientKind.TEAM)
    assert "T-1" in note.subject
    assert "Charged twice for March." in note.body
    with pytest.raises(InvalidTransition):
        desk.transfer_report("T-1", SUPPORT_AGENT, BILLING, "Again.")


@pytest.mark.parametrize("command", ["resolve", "transfer"])
def test_a_linked_ticket_is_not_ended_by_support(desk: IncidentDesk, command: str) -> None:
    """A linked ticket ends with its incident, not by resolve_report or transfer_report."""
    open_incident(desk)
    triage(desk, "T-1")
    before = snapshot(desk, ("T-1",))

    end: Callable[[], object] = (
        (lambda: desk.resolve_report("T-1", SUPPORT_AGENT, "Done."))
        if command == "resolve"
        else (lambda: desk.transfer_report("T-1", SUPPORT_AGENT, BILLING, "Escalate."))
    )

    with pytest.raises(InvalidTransition):
        end()

    assert snapshot(desk, ("T-1",)) == before


def test_ending_troubleshooting_checks_its_input(desk: IncidentDesk) -> None:
    """Unknown tickets are not found; blank notes and team names are refused by field."""
    triage(desk, "T-1", product="chat")

    with pytest.raises(NotFound):
        desk.resolve_report("T-404", SUPPORT_AGENT, "Done.")
    with pytest.raises(InvalidInput) as note:
        desk.resolve_report("T-1", SUPPORT_AGENT, "  ")
    with pytest.raises(InvalidInput) as team:
        desk.transfer_report("T-1", SUPPORT_AGENT, "", "Escalate.")
    assert (note.value.field, team.value.field) == ("note", "to_team")
    assert status_of(desk, "T-1") == (ReportStatus.TROUBLESHOOTING, None)


# -- candidate lookup and history -------------------------------------------------------------


class RecordingPolicy:
    """The default policy, remembering the candidates it was shown."""

    def __init__(self) -> None:
        self.inner = DefaultTriagePolicy()
        self.shown: list[list[str]] = []

    @property
    def lookback(self) -> timedelta:
        """The inner policy's look-back."""
        return self.inner.lookback

    def assess(
        self,
        report: CustomerReport,
        candidates: Sequence[ServiceIncident],
        recent_reports: Sequence[CustomerReport],
        now: datetime,
    ) -> TriageDecision:
        """Remember the candidates' ids, then decide as the default policy."""
        self.shown.append([c.id for c in candidates])
        return self.inner.assess(report, candidates, recent_reports, now)


def _add_history(desk: IncidentDesk, count: int) -> None:
    """Store ``count`` resolved incidents of support in pod17, just like the open one."""
    with desk.store.transaction() as tx:
        for n in range(count):
            at = START - timedelta(days=1) + n * MINUTE
            tx.add_incident(
                ServiceIncident(
                    id=f"OLD-{n}",
                    title="Latency alert on support",
                    products=("support",),
                    owner_team="support-eng",
                    detected_at=at,
                    region="pod17",
                    signal_kinds=("latency",),
                    reported_symptoms=("slow",),
                    severity=SEV2,
                    status=IncidentStatus.RESOLVED,
                    opened_at=at,
                    resolved_at=at + MINUTE,
                    resolution="Fixed.",
                )
            )


def test_triage_does_not_depend_on_resolved_incidents_in_history(
    store_factory: Callable[[], Store],
) -> None:
    """With 0 or 200 resolved incidents of the product, the policy sees and decides the same."""
    decisions = []
    for history in (0, 200):
        policy = RecordingPolicy()
        desk = make_desk(store_factory(), clock=FakeClock(START), policy=policy)
        _add_history(desk, history)
        incident_id = open_incident(desk)
        for n in range(3):
            triage(desk, f"T-{n}", summary="Latency alert pages slow")
        triage(desk, "T-chat", product="chat")
        decisions.append([desk.assess_report(make_report(f"N-{n}", at=START)) for n in range(2)])
        assert policy.shown == [[incident_id]] * 3 + [[]] + [[incident_id]] * 2
    assert decisions[0] == decisions[1]


# -- cadence: updates_due ----------------------------------------------------------------------


def test_the_first_update_is_due_the_severitys_first_update_time_after_opening(
    desk: IncidentDesk, clock: FakeClock
) -> None:
    """A SEV2 opened at START owes its first update at START + 15 min, and it is listed then."""
    incident_id = open_incident(desk, severity="SEV2")

    assert desk.updates_due(START + 14 * MINUTE) == []
    (due,) = desk.updates_due(START + 15 * MINUTE)
    assert due == UpdateDue(
        incident_id=incident_id,
        owner_team="support-eng",
        severity="SEV2",
        first=True,
        due_at=START + 15 * MINUTE,
        overdue=timedelta(0),
        missed_intervals=0,
        interval=30 * MINUTE,
    )
    (late,) = desk.updates_due(START + 50 * MINUTE)
    assert (late.overdue, late.missed_intervals) == (35 * MINUTE, 1)
    clock.advance(minutes=16)
    assert [d.incident_id for d in desk.updates_due()] == [incident_id]


def test_after_an_update_the_next_is_due_one_interval_later(
    desk: IncidentDesk, clock: FakeClock
) -> None:
    """A public update at +20 min moves the next deadline to +50 min; an internal one does not."""
    incident_id = open_incident(desk)
    clock.advance(minutes=20)
    desk.post_update(incident_id, ENG_SUPPORT, "We are investigating.")
    clock.advance(minutes=10)
    desk.post_update(incident_id, ENG_SUPPORT, "Internal chatter.", visibility="internal")

    assert desk.updates_due(START + 49 * MINUTE) == []
    (due,) = desk.updates_due(START + 50 * MINUTE)
    assert (due.first, due.due_at, due.overdue) == (False, START + 50 * MINUTE, timedelta(0))


@pytest.mark.parametrize(
    ("severity", "first", "interval"),
    [("SEV3", 60, 120), ("SEV4", 240, 480)],
)
def test_non_public_severities_have_a_cadence_too(
    desk: IncidentDesk, clock: FakeClock, severity: str, first: int, interval: int
) -> None:
    """Low severities are not announced publicly, but their linked tickets are still owed news."""
    incident_id = open_incident(desk, severity=severity)

    assert desk.updates_due(START + (first - 1) * MINUTE) == []
    (due,) = desk.updates_due(START + first * MINUTE)
    assert (due.severity, due.interval, due.first) == (severity, interval * MINUTE, True)
    clock.advance(minutes=first)
    desk.post_update(incident_id, ENG_SUPPORT, "Still looking.")
    assert desk.updates_due(START + (first + interval - 1) * MINUTE) == []
    assert len(desk.updates_due(START + (first + interval) * MINUTE)) == 1


def test_nothing_is_due_for_potential_or_resolved_incidents(
    desk: IncidentDesk, clock: FakeClock
) -> None:
    """Only open incidents owe updates: a potential or a resolved one never appears."""
    potential_incident(desk, "fp-9", product="chat")
    incident_id = open_incident(desk)
    clock.advance(minutes=5)
    desk.resolve_incident(incident_id, IM, "Fixed quickly.")

    assert desk.updates_due(START + timedelta(days=1)) == []


def test_updates_due_lists_the_most_overdue_first(desk: IncidentDesk, clock: FakeClock) -> None:
    """Incidents are listed most overdue first."""
    older = open_incident(desk, "fp-1")
    clock.advance(minutes=10)
    newer = open_incident(desk, "fp-2", product="chat")

    due = desk.updates_due(START + 40 * MINUTE)

    assert [d.incident_id for d in due] == [older, newer]
    assert due[0].overdue - due[1].overdue == 10 * MINUTE


def test_updates_due_needs_an_aware_time(desk: IncidentDesk) -> None:
    """A naive ``now`` is refused naming ``now``."""
    with pytest.raises(InvalidInput) as caught:
        desk.updates_due(datetime(2026, 3, 2, 9, 0))
    assert caught.value.field == "now"


# -- cadence: send_update_reminders -----------------------------------------------------------


def test_one_reminder_per_missed_interval_never_a_stream(
    desk: IncidentDesk, notifier: RecordingNotifier, clock: FakeClock
) -> None:
    """Checked every minute for 80 minutes, a silent SEV2 reminds its owner at 15, 45 and 75."""
    incident_id = open_incident(desk)
    sent_at = []

    for _ in range(80):
        if desk.send_update_reminders():
            sent_at.append(clock.now() - START)
        clock.advance(minutes=1)

    assert sent_at == [15 * MINUTE, 45 * MINUTE, 75 * MINUTE]
    reminders = [n for n in delivered(desk, notifier) if n.topic is Topic.UPDATE_REMINDER]
    assert [n.recipient for n in reminders] == ["support-eng"] * 3
    assert len({n.key for n in reminders}) == 3
    events = [e for e in desk.timeline(incident_id) if isinstance(e, UpdateReminderSent)]
    assert [e.due_at for e in events] == [START + 15 * MINUTE] * 3


def test_no_reminder_once_an_update_is_posted(
    desk: IncidentDesk, notifier: RecordingNotifier, clock: FakeClock
) -> None:
    """After the first reminder, a public update silences reminders until the next deadline."""
    incident_id = open_incident(desk)
    clock.advance(minutes=15)
    assert desk.send_update_reminders() == 1
    clock.advance(minutes=5)
    desk.post_update(incident_id, ENG_SUPPORT, "We are investigating.")

    counts = []
    for _ in range(29):
        clock.advance(minutes=1)
        counts.append(desk.send_update_reminders())

    assert counts == [0] * 29
    clock.advance(minutes=1)
    assert desk.send_update_reminders() == 1


def test_no_reminder_after_resolution(desk: IncidentDesk, clock: FakeClock) -> None:
    """A resolved incident is owed nothing, however long it stays resolved."""
    incident_id = open_incident(desk)
    desk.resolve_incident(incident_id, IM, "Fixed.")
    clock.advance(hours=5)

    assert desk.send_update_reminders() == 0


def test_reminders_go_to_each_owner_team(
    desk: IncidentDesk, notifier: RecordingNotifier, clock: FakeClock
) -> None:
    """Two overdue incidents remind their own owner teams, once each."""
    open_incident(desk, "fp-1")
    open_incident(desk, "fp-2", product="chat")
    clock.advance(minutes=15)

    assert desk.send_update_reminders(by=IM) == 2
    assert desk.send_update_reminders(by=IM) == 0
    recipients = [
        n.recipient for n in delivered(desk, notifier) if n.topic is Topic.UPDATE_REMINDER
    ]
    assert sorted(recipients) == ["chat-eng", "support-eng"]


# -- fan-out -------------------------------------------------------------------------------------


def test_a_public_update_enqueues_one_notification_per_unsolved_linked_ticket(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """Each linked, unsolved ticket gets the update once; solved and unlinked tickets nothing."""
    incident_id = open_incident(desk)
    for n in range(4):
        triage(desk, f"T-{n}")
    link_tickets(desk, incident_id, {"T-old": ReportStatus.SOLVED})
    desk.unlink_ticket("T-3", SUPPORT_AGENT)
    pending = desk.outbox_stats().pending

    update = desk.post_update(incident_id, ENG_SUPPORT, "We found the cause.", status="identified")

    assert desk.outbox_stats().pending == pending + 3
    notes = [n for n in delivered(desk, notifier) if n.topic is Topic.STATUS_UPDATE]
    assert sorted(n.recipient for n in notes) == ["T-0", "T-1", "T-2"]
    assert {n.key for n in notes} == {f"{incident_id}/{update.id}/T-{n}" for n in range(3)}
    assert {(n.body, n.incident_id) for n in notes} == {("We found the cause.", incident_id)}
    assert all("identified" in n.subject for n in notes)


def test_an_internal_update_enqueues_nothing_for_customers(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """An internal update adds nothing to the outbox."""
    incident_id = open_incident(desk)
    for n in range(3):
        triage(desk, f"T-{n}")
    before = desk.outbox_stats()

    desk.post_update(incident_id, ENG_SUPPORT, "SECRET-db-password", visibility="internal")

    assert desk.outbox_stats() == before
    assert all("SECRET" not in n.body + n.subject for n in delivered(desk, notifier))


def test_resolution_solves_linked_reports_in_bulk_and_tells_each_unsolved_ticket(
    desk: IncidentDesk,
    notifier: RecordingNotifier,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Resolving solves linked reports in bulk (no machine per ticket); solved ones hear nothing."""
    incident_id = open_incident(desk)
    tickets = {f"T-{n}": ReportStatus.LINKED for n in range(30)}
    link_tickets(desk, incident_id, {**tickets, "T-done": ReportStatus.SOLVED}, locale="fr")
    fired: list[str] = []
    real_fire = REPORT_LIFECYCLE.fire
    monkeypatch.setattr(
        REPORT_LIFECYCLE, "fire", lambda e, ev, **kw: (fired.append(ev), real_fire(e, ev, **kw))
    )
    now = clock.advance(minutes=40)

    desk.resolve_incident(incident_id, ENG_SUPPORT, "Nous avons annulé le changement.")

    assert fired == []
    for ticket in tickets:
        report = desk.report(ticket)
        assert report is not None
        assert (report.status, report.ended_at, report.incident_id) == (
            ReportStatus.SOLVED,
            now,
            incident_id,
        )
    notes = [n for n in delivered(desk, notifier) if n.topic is Topic.RESOLUTION]
    assert Counter(n.recipient for n in notes) == dict.fromkeys(tickets, 1)
    assert {n.body for n in notes} == {"Nous avons annulé le changement."}
    assert {n.subject for n in notes} == {f"L'incident de service {incident_id} est résolu"}


def test_merge_moves_the_links_and_later_news_follows_them(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """After a merge, the source's tickets are linked to the target and hear its updates."""
    source = open_incident(desk, "fp-1")
    target = open_incident(desk, "fp-2", region="pod1")
    triage(desk, "T-a", region="pod1")
    for n in range(3):
        triage(desk, f"T-{n}")
    assert desk.linked_tickets(source) == ["T-0", "T-1", "T-2"]

    desk.merge_incidents(source, target, IM)
    desk.post_update(target, ENG_SUPPORT, "Merged news.")

    assert desk.linked_tickets(source) == []
    assert desk.linked_tickets(target) == ["T-a", "T-0", "T-1", "T-2"]
    assert all(status_of(desk, f"T-{n}") == (ReportStatus.LINKED, target) for n in range(3))
    news = [n for n in delivered(desk, notifier) if n.topic is Topic.STATUS_UPDATE]
    assert sorted(n.recipient for n in news) == ["T-0", "T-1", "T-2", "T-a"]
    assert {n.incident_id for n in news} == {target}


# -- the fan-out property (issue 4) -------------------------------------------------------------


class Tape:
    """A notifier that fails some sends (``FlakyNotifier``) and logs every attempt and delivery."""

    def __init__(self, failure_rate: float, seed: int) -> None:
        self.log: list[tuple[str, str]] = []
        self.delivered: list[Notification] = []
        self.flaky = FlakyNotifier(failure_rate=failure_rate, seed=seed, inner=self)

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        """The flaky notifier calls this with what it lets through: delivered."""
        self.log.extend(("delivered", n.key) for n in batch)
        self.delivered.extend(batch)
        return [DeliveryResult.delivered(n.key) for n in batch]

    def port(self) -> Any:
        """The notifier to give the desk: logs the attempt, then goes through the flaky one."""
        tape = self

        class Port:
            def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
                tape.log.extend(("attempt", n.key) for n in batch)
                return tape.flaky.send(batch)

        return Port()


@attrs.define
class Expected:
    """What one ticket must receive: ``(topic, incident, text that must appear)``, in order."""

    messages: list[tuple[Topic, str, str]] = attrs.field(factory=list)


_PHASES = (None, "investigating", "identified", "monitoring")
_OP_STRATEGIES: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "new": st.tuples(st.just("new"), st.integers(0, 1)),
    "move": st.tuples(st.just("move"), st.integers(0, 7), st.integers(0, 1)),
    "unlink": st.tuples(st.just("unlink"), st.integers(0, 7)),
    "public": st.tuples(st.just("public"), st.integers(0, 1), st.sampled_from(_PHASES)),
    "internal": st.tuples(st.just("internal"), st.integers(0, 1), st.sampled_from(_PHASES)),
    "resolve": st.tuples(st.just("resolve"), st.integers(0, 1)),
    "merge": st.tuples(st.just("merge"), st.integers(0, 1)),
    "deliver": st.tuples(st.just("deliver"), st.integers(1, 3)),
}
# Repeats weight the choice: mostly links and public updates, a few endings.
_WEIGHTED = (
    *["new"] * 4,
    *["public"] * 4,
    *["move"] * 2,
    *["deliver"] * 2,
    "internal",
    "internal",
    "unlink",
    "resolve",
    "merge",
)
_ops = st.lists(
    st.sampled_from(_WEIGHTED).flatmap(_OP_STRATEGIES.__getitem__), min_size=8, max_size=30
)


def _drain(desk: IncidentDesk, clock: FakeClock) -> None:
    for _ in range(1_000):
        report = desk.deliver(batch_size=7)
        if report.pending == 0:
            return
        assert report.next_due_at is not None
        clock.set(max(clock.now(), report.next_due_at))
    raise AssertionError("the outbox did not drain")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_ops, seed=st.integers(0, 2**16), failure_rate=st.sampled_from([0.0, 0.3, 0.6]))
def test_every_linked_ticket_hears_everything_once_in_order_and_nothing_else(
    store_factory: Callable[[], Store], ops: list[tuple[Any, ...]], seed: int, failure_rate: float
) -> None:
    """Each ticket receives, once per key and in order, its link status, the public updates
    posted while linked and the resolution; nothing from other incidents; no internal text."""
    clock = FakeClock(START)
    tape = Tape(failure_rate, seed)
    retry = RetryPolicy(base=timedelta(seconds=1), cap=timedelta(seconds=8), max_attempts=200)
    desk = make_desk(store_factory(), notifier=tape.port(), clock=clock, retry=retry, seed=seed)
    incidents = [open_incident(desk, "fp-a"), open_incident(desk, "fp-b", region="pod1")]
    phase = dict.fromkeys(incidents, "investigating")
    last_public: dict[str, str | None] = dict.fromkeys(incidents)
    open_ = dict.fromkeys(incidents, True)
    link: dict[str, str | None] = {}  # ticket -> incident (None: troubleshooting)
    solved: set[str] = set()
    expected: defaultdict[str, Expected] = defaultdict(Expected)

    def tell_link(ticket: str, incident_id: str) -> None:
        shown = last_public[incident_id] or "none yet"
        text = f"Current status: {phase[incident_id]}. Latest update: {shown}"
        expected[ticket].messages.append((Topic.TICKET_LINKED, incident_id, text))

    for number, op in enumerate(ops):
        clock.advance(seconds=7)
        kind = op[0]
        if kind == "new":
            ticket, target = f"T-{len(link)}", incidents[op[1]]
            decision = TriageDecision.link(target, "agent")
            if not open_[target]:
                with pytest.raises(InvalidTransition):
                    triage(desk, ticket, decision)
                continue
            triage(desk, ticket, decision)
            link[ticket] = target
            tell_link(ticket, target)
        elif kind == "move" and op[1] < len(link):
            ticket, target = f"T-{op[1]}", incidents[op[2]]
            if not open_[target] or ticket in solved:
                with pytest.raises(InvalidTransition):
                    desk.link_ticket(ticket, target, SUPPORT_AGENT)
                continue
            desk.link_ticket(ticket, target, SUPPORT_AGENT)
            if link[ticket] != target:
                link[ticket] = target
                tell_link(ticket, target)
        elif kind == "unlink" and op[1] < len(link):
            ticket = f"T-{op[1]}"
            if link[ticket] is None or ticket in solved:
                with pytest.raises(InvalidTransition):
                    desk.unlink_ticket(ticket, SUPPORT_AGENT)
                continue
            desk.unlink_ticket(ticket, SUPPORT_AGENT)
            link[ticket] = None
        elif kind in ("public", "internal"):
            target, status = incidents[op[1]], op[2]
            body = f"PUBLIC-{number}" if kind == "public" else f"SECRET-{number}"
            if not open_[target]:
                with pytest.raises(InvalidTransition):
                    desk.post_update(target, IM, body, visibility=kind, status=status)
                continue
            desk.post_update(target, IM, body, visibility=kind, status=status)
            phase[target] = status or phase[target]
            if kind == "public":
                last_public[target] = body
                for ticket, where in link.items():
                    if where == target and ticket not in solved:
                        expected[ticket].messages.append((Topic.STATUS_UPDATE, target, body))
        elif kind == "resolve":
            target = incidents[op[1]]
            text = f"RESOLVED-{number}"
            if not open_[target]:
                with pytest.raises(InvalidTransition):
                    desk.resolve_incident(target, IM, text)
                continue
            desk.resolve_incident(target, IM, text)
            open_[target] = False
            for ticket, where in link.items():
                if where == target and ticket not in solved:
                    solved.add(ticket)
                    expected[ticket].messages.append((Topic.RESOLUTION, target, text))
        elif kind == "merge":
            source, target = incidents[op[1]], incidents[1 - op[1]]
            if not (open_[source] and open_[target]):
                with pytest.raises(InvalidTransition):
                    desk.merge_incidents(source, target, IM)
                continue
            desk.merge_incidents(source, target, IM)
            open_[source] = False
            for ticket, where in link.items():
                if where == source:
                    link[ticket] = target
        elif kind == "deliver":
            desk.deliver(batch_size=3, max_batches=op[1])
    _drain(desk, clock)

    assert desk.outbox_stats().dead == 0
    assert all("SECRET" not in n.subject + n.body for n in tape.delivered)
    to_tickets = [n for n in tape.delivered if n.recipient_kind is RecipientKind.TICKET]
    assert len({n.key for n in to_tickets}) == len(to_tickets)  # transient failures: no duplicates
    assert {n.recipient for n in to_tickets} <= set(link)
    event(f"ticket notifications: {min(len(to_tickets) // 5 * 5, 20)}+")
    event(f"retried: {tape.flaky.calls > len({n.key for n in tape.delivered})}")
    for ticket in link:
        received = [n for n in to_tickets if n.recipient == ticket]
        wanted = expected[ticket].messages
        assert [(n.topic, n.incident_id) for n in received] == [(t, i) for t, i, _ in wanted]
        for note, (_topic, _incident, text) in zip(received, wanted, strict=True):
            assert text in note.body
        # Per ticket, nothing is delivered before the previous notification was (several
        # may travel in one batch, in order: a later one is attempted only in a batch that
        # also carries, before it, every earlier one not yet delivered).
        keys = [n.key for n in received]
        delivered_at = {key: tape.log.index(("delivered", key)) for key in keys}
        for earlier, later in itertools.pairwise(keys):
            assert delivered_at[earlier] < delivered_at[later]
            first_attempt = tape.log.index(("attempt", later))
            assert (
                delivered_at[earlier] < first_attempt
                or tape.log.index(("attempt", earlier), 0, first_attempt + 1) <= first_attempt
            )
