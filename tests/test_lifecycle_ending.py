"""``lifecycle.ending``: the one rule for which statuses stamp ``ended_at``."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from incident_lifecycle.domain.incidents import IncidentStatus
from incident_lifecycle.domain.reports import ReportStatus
from incident_lifecycle.lifecycle import (
    INCIDENT_LIFECYCLE,
    REPORT_LIFECYCLE,
    Transition,
    ending,
    stamp_milestone,
)
from incident_lifecycle.testing._contract_kit import T0, make_incident, make_report


def test_the_ending_statuses() -> None:
    """Reports end when solved or transferred; incidents when dismissed or merged."""
    assert {s for s in ReportStatus if ending(s)} == {ReportStatus.SOLVED, ReportStatus.TRANSFERRED}
    assert {s for s in IncidentStatus if ending(s)} == {
        IncidentStatus.DISMISSED,
        IncidentStatus.MERGED,
    }


def test_a_status_of_one_kind_never_counts_for_another() -> None:
    """A raw string, or a status value another enum shares, is not an ending status."""
    assert not ending(IncidentStatus.RESOLVED)
    assert not ending("solved")  # type: ignore[arg-type]


@given(
    st.sampled_from(REPORT_LIFECYCLE.transitions),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
)
def test_a_report_edge_stamps_ended_at_exactly_when_its_target_ends(
    edge: Transition, later: timedelta
) -> None:
    """Firing any report event sets ``ended_at`` to its time iff ``ending`` says its target ends."""
    report = make_report("T-1", status=ReportStatus(edge.source))
    REPORT_LIFECYCLE.fire(report, edge.event, now=T0 + later)
    assert report.status is ReportStatus(edge.target)
    assert report.ended_at == (T0 + later if ending(report.status) else None)


@given(st.sampled_from(tuple(IncidentStatus)), st.sampled_from(tuple(ReportStatus)))
def test_stamp_milestone_asks_ending_for_both_kinds(
    incident_status: IncidentStatus, report_status: ReportStatus
) -> None:
    """``stamp_milestone`` sets ``ended_at`` on entering a status exactly when ``ending`` holds."""
    incident = make_incident("INC-1")
    stamp_milestone(incident, incident_status, T0)
    assert (incident.ended_at == T0) is ending(incident_status)
    report = make_report("T-1")
    stamp_milestone(report, report_status, T0)
    assert (report.ended_at == T0) is ending(report_status)


def test_an_incident_keeps_its_first_end() -> None:
    """An incident's ``ended_at`` is its first end; a report's moves with each end."""
    incident = make_incident("INC-1")
    INCIDENT_LIFECYCLE.fire(incident, "dismiss", now=T0)
    stamp_milestone(incident, IncidentStatus.MERGED, T0 + timedelta(hours=1))
    assert incident.ended_at == T0
    report = make_report("T-1", status=ReportStatus.SOLVED)
    stamp_milestone(report, ReportStatus.TRANSFERRED, T0 + timedelta(hours=1))
    assert report.ended_at == T0 + timedelta(hours=1)
