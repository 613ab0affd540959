"""Triage as a support agent meets it, on every store: the policy sees every candidate, a
question is not an incident, a region-less report is not from another region, overrides are
recorded, a re-triage moves the ticket, and a ticket's history is complete."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import desk_support as support
from desk_support import SUPPORT_AGENT, make_desk, open_incident
from incident_lifecycle import CustomerReport, ReportStatus, TriageOutcome
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.domain.events import ReportTriaged, TicketLinked, TicketUnlinked
from incident_lifecycle.ports import Store
from incident_lifecycle.testing import FakeClock
from incident_lifecycle.triage import TriageDecision

store_factory = support.store_factory
store = support.store
clock = support.clock
notifier = support.notifier
desk = support.desk

MINUTE = timedelta(minutes=1)


def report(
    desk: IncidentDesk,
    ticket_id: str,
    *,
    symptom: str = "slow",
    summary: str = "Pages take ages to load",
    region: str | None = "pod99",
    account: str | None = None,
) -> CustomerReport:
    """A report of ``support`` made now."""
    return CustomerReport(
        ticket_id=ticket_id,
        account_id=account or f"acct-{ticket_id}",
        product="support",
        symptom=symptom,
        summary=summary,
        reported_at=desk.clock.now(),
        region=region,
    )


# -- the scenarios -------------------------------------------------------------------


def test_the_policy_sees_an_open_incident_of_another_region_and_says_why(
    desk: IncidentDesk,
) -> None:
    """A SEV1 open in pod17 is a candidate for a pod99 report, excluded with its reason."""
    incident_id = open_incident(desk, region="pod17", severity="SEV1")

    decision = desk.assess_report(report(desk, "T-1"))

    assert f"{incident_id} excluded: region pod17 is not pod99" in decision.reasons
    assert "no open incident on support" not in decision.reasons


def test_a_how_to_question_is_not_linked_on_product_and_region(desk: IncidentDesk) -> None:
    """A question (``other``) sharing no term with the incident goes to troubleshooting."""
    open_incident(desk, region="pod99")

    result = desk.triage_report(
        report(desk, "T-1", symptom="other", summary="How do I export my macros to CSV?"),
        SUPPORT_AGENT,
    )

    assert result.decision.outcome is TriageOutcome.TROUBLESHOOT
    assert any("no evidence about the problem" in r for r in result.decision.reasons)


def test_a_region_less_surge_joins_the_declared_incident_instead_of_a_duplicate(
    desk: IncidentDesk, clock: FakeClock
) -> None:
    """Support declares a SEV2 with no region; a surge of region-less reports links to it,
    and no SEV3 is opened beside it."""
    declared = desk.declare_incident(
        SUPPORT_AGENT, title="Agents see slow ticket views", product="support", severity="SEV2"
    )
    clock.advance(MINUTE)

    results = [
        desk.triage_report(
            report(desk, f"T-{n}", region=None, summary="The workspace hangs"), SUPPORT_AGENT
        )
        for n in range(8)
    ]

    assert [i.id for i in desk.open_incidents("support")] == [declared.id]
    assert results[4].incident_id == declared.id
    assert (
        "compatible symptom: link to it rather than open a duplicate"
        in (results[4].decision.reasons[-1])
    )
    assert all(r.incident_id == declared.id for r in results[4:])  # then by its symptom


# -- properties ----------------------------------------------------------------------

_DECISIONS = st.sampled_from(["policy", "link-1", "link-2", "open", "troubleshoot"])


def _decision(name: str, incidents: list[str]) -> TriageDecision | None:
    if name == "policy":
        return None
    if name.startswith("link"):
        return TriageDecision.link(incidents[int(name[-1]) - 1], "the agent knows")
    if name == "open":
        return TriageDecision.open_new("SEV3", "the agent opens one")
    return TriageDecision.troubleshoot("the agent troubleshoots")


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    steps=st.lists(st.tuples(st.sampled_from(["T-1", "T-2"]), _DECISIONS), max_size=8),
    summaries=st.lists(st.sampled_from(["slow pages", "How do I print?", "latency"]), min_size=2),
)
def test_retriage_moves_the_ticket_and_its_history_is_complete(
    store_factory: Callable[[], Store], steps: list[tuple[str, str]], summaries: list[str]
) -> None:
    """After any sequence of triages and agents' decisions, each ticket is where its last
    applied decision put it, its link index agrees, and its history holds one ReportTriaged
    per applied triage (an agent's with the policy's suggestion), each link and each unlink."""
    desk = make_desk(store=store_factory(), clock=FakeClock(support.START))
    incidents = [open_incident(desk, "fp-1", region="pod99"), open_incident(desk, "fp-2")]
    applied: dict[str, int] = {}
    for index, (ticket, name) in enumerate(steps):
        desk.clock.advance(MINUTE)  # type: ignore[attr-defined]
        subject = report(desk, ticket, summary=summaries[index % len(summaries)])
        result = desk.triage_report(subject, SUPPORT_AGENT, decision=_decision(name, incidents))
        stored = desk.report(ticket)
        assert stored is not None
        if result.applied:
            applied[ticket] = applied.get(ticket, 0) + 1
        if stored.status is ReportStatus.LINKED:
            assert result.incident_id == stored.incident_id
            assert ticket in desk.linked_tickets(stored.incident_id or "")
        else:
            assert stored.incident_id is None
    for ticket, count in applied.items():
        history = desk.ticket_history(ticket)
        triaged = [e for e in history if isinstance(e, ReportTriaged)]
        assert len(triaged) == count
        assert all(e.suggested_outcome is not None for e in triaged if e.overridden)
        assert all(e.retriaged for e in triaged[1:])
        assert not triaged[0].retriaged
        links = sum(isinstance(e, TicketLinked) for e in history)
        unlinks = sum(isinstance(e, TicketUnlinked) for e in history)
        stored = desk.report(ticket)
        assert stored is not None
        assert links - unlinks == (1 if stored.status is ReportStatus.LINKED else 0)
        for incident_id in {e.incident_id for e in history if e.incident_id}:
            assert set(desk.timeline(incident_id)) >= {
                e for e in history if e.incident_id == incident_id
            }
