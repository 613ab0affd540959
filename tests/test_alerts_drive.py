"""Alerts drive the incident, unanswered validation requests escalate, and an incident's
timeline never runs backwards: on every store."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import desk_support as support
from desk_support import (
    ENG_SUPPORT,
    IM,
    SUPPORT_AGENT,
    make_desk,
    open_incident,
    potential_incident,
    signal,
    snapshot,
)
from incident_lifecycle import (
    AlertStatus,
    CustomerReport,
    EscalationPolicy,
    IncidentLifecycleError,
    InvalidInput,
    OutboxState,
)
from incident_lifecycle.commands import ClearOutcome
from incident_lifecycle.commands.intake import AlertOutcome
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.domain.events import SignalsCleared, ValidationEscalated
from incident_lifecycle.grouping import GroupingPolicy
from incident_lifecycle.notifications import Topic
from incident_lifecycle.ports import Store
from incident_lifecycle.testing import FakeClock

store_factory = support.store_factory
store = support.store
clock = support.clock
notifier = support.notifier
desk = support.desk

MINUTE = timedelta(minutes=1)


class SteppedClock:
    """A clock that may be stepped back (an NTP step, a replay file with earlier times)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def topics(desk: IncidentDesk, topic: Topic) -> list[str]:
    """Recipients of the pending notifications of ``topic``, in enqueue order."""
    return [
        e.notification.recipient
        for e in desk.outbox_entries(OutboxState.PENDING, None)
        if e.notification.topic is topic
    ]


# -- alerts drive the incident ---------------------------------------------------------


def test_the_last_recovery_clears_all_signals_once(desk: IncidentDesk, clock: FakeClock) -> None:
    """Two alerts: the first clear recovers one, the second clears all signals (one
    notification, one event); a re-fire joins the incident and the next all-clear is told."""
    incident_id = open_incident(desk)
    desk.receive_alert(signal("fp-2"))
    assert desk.clear_alert("fp-1").outcome is ClearOutcome.RECOVERED
    assert desk.clear_alert("fp-2").outcome is ClearOutcome.ALL_SIGNALS_CLEARED
    assert desk.clear_alert("fp-2").outcome is ClearOutcome.NO_ACTIVE_ALERT
    assert topics(desk, Topic.SIGNALS_CLEARED) == ["support-eng"]
    assert sum(isinstance(e, SignalsCleared) for e in desk.timeline(incident_id)) == 1

    clock.advance(timedelta(hours=2))
    again = desk.receive_alert(signal("fp-1"))

    assert (again.outcome, again.incident_id) == (AlertOutcome.JOINED_OPEN, incident_id)
    assert desk.active_alert("fp-1") is not None
    assert desk.active_alert("fp-1").id == again.alert_id  # type: ignore[union-attr]
    assert [a.id for a in desk.active_alerts("support")] == [again.alert_id]
    assert topics(desk, Topic.SIGNALS_DIGEST)[-1] == "support-eng"  # the owner hears it
    assert desk.clear_alert("fp-1").outcome is ClearOutcome.ALL_SIGNALS_CLEARED
    assert topics(desk, Topic.SIGNALS_CLEARED) == ["support-eng", "support-eng"]


def test_a_batch_with_an_unowned_product_refuses_that_signal_only(desk: IncidentDesk) -> None:
    """The signal of a product nobody owns is refused, naming it; the rest is received."""
    report = desk.receive_alerts([signal("fp-1"), signal("fp-x", product="billing")])

    refused = report.receipt("fp-x")
    assert refused.outcome is AlertOutcome.REFUSED
    assert "billing" in refused.reason
    assert report.receipt("fp-1").outcome is AlertOutcome.STARTED_INCIDENT
    assert (report.new_alerts, report.deduplicated) == (1, 0)
    assert desk.active_alert("fp-x") is None
    with pytest.raises(InvalidInput) as caught:
        desk.receive_alert(signal("fp-x", product="billing"))
    assert caught.value.field == "product"


def test_a_default_team_owns_the_products_the_map_does_not_name(
    store: Store, clock: FakeClock
) -> None:
    """With ``default_team``, a signal of an unnamed product starts an incident it owns."""
    desk = make_desk(store=store, clock=clock, default_team="noc")

    receipt = desk.receive_alert(signal("fp-x", product="billing"))

    assert desk.incident(receipt.incident_id).owner_team == "noc"
    with pytest.raises(InvalidInput) as caught:
        make_desk(default_team="a\nb")
    assert caught.value.field == "default_team"


# -- escalation --------------------------------------------------------------------------


def test_an_unanswered_validation_request_escalates_once_per_step(
    desk: IncidentDesk, clock: FakeClock
) -> None:
    """After 15 minutes the owner team and the incident managers are told, once; after 30,
    again (step 2); acknowledging stops it."""
    incident_id = potential_incident(desk)
    clock.advance(14 * MINUTE)
    assert desk.escalations_due() == []
    assert desk.send_escalations() == 0

    clock.advance(MINUTE)
    (due,) = desk.escalations_due()
    assert (due.incident_id, due.step, due.overdue) == (incident_id, 1, timedelta(0))
    assert desk.send_escalations() == 2
    assert desk.send_escalations() == 0
    assert topics(desk, Topic.VALIDATION_ESCALATED) == ["support-eng", "incident-managers"]

    clock.advance(20 * MINUTE)
    assert desk.send_escalations() == 2
    steps = [e.step for e in desk.timeline(incident_id) if isinstance(e, ValidationEscalated)]
    assert steps == [1, 2]
    desk.acknowledge(incident_id, ENG_SUPPORT)
    clock.advance(timedelta(hours=1))
    assert desk.escalations_due() == []
    assert desk.send_escalations() == 0


def test_the_delay_follows_the_severity_the_alerts_suggest(store: Store, clock: FakeClock) -> None:
    """A SEV1 hint escalates after its own 5 minutes; a validated incident never escalates."""
    policy = EscalationPolicy(by_severity={"SEV1": 5 * MINUTE}, manager_team="im-oncall")
    desk = make_desk(store=store, clock=clock, escalation=policy)
    urgent = desk.receive_alert(attrs.evolve(signal("fp-1"), severity_hint="SEV1")).incident_id
    calm = desk.receive_alert(signal("fp-2", region="pod3")).incident_id
    desk.validate_incident(calm, IM, "SEV3")

    clock.advance(5 * MINUTE)

    assert [(d.incident_id, d.severity, d.delay) for d in desk.escalations_due()] == [
        (urgent, "SEV1", 5 * MINUTE)
    ]
    assert desk.send_escalations() == 2
    assert topics(desk, Topic.VALIDATION_ESCALATED) == ["support-eng", "im-oncall"]
    for bad in ({"by_severity": {"SEV1": timedelta(0)}}, {"delay": 5}, {"manager_team": ""}):
        with pytest.raises(InvalidInput):
            EscalationPolicy(**bad)  # type: ignore[arg-type]


# -- time never runs backwards ----------------------------------------------------------


def test_a_reopen_before_the_resolution_is_refused(store: Store) -> None:
    """A clock 400 days behind the resolution is InvalidInput naming ``now``; nothing changes."""
    clock = SteppedClock(support.START)
    desk = make_desk(store=store, clock=clock)  # type: ignore[arg-type]
    incident_id = open_incident(desk)
    clock.at += timedelta(hours=1)
    desk.resolve_incident(incident_id, IM, "Fixed")
    before = snapshot(desk)
    clock.at -= timedelta(days=400)

    with pytest.raises(InvalidInput) as caught:
        desk.reopen_incident(incident_id, IM, "back")

    assert caught.value.field == "now"
    assert snapshot(desk) == before


def test_intake_and_triage_behind_the_timeline_are_refused(store: Store) -> None:
    """A signal joining, or a ticket linking to, an incident whose last event is later than
    the clock is refused with InvalidInput naming ``now``."""
    clock = SteppedClock(support.START)
    desk = make_desk(store=store, clock=clock)  # type: ignore[arg-type]
    incident_id = open_incident(desk)
    desk.triage_report(
        CustomerReport(
            ticket_id="T-1",
            account_id="acme",
            product="chat",
            symptom="slow",
            summary="Slow",
            reported_at=support.START,
        ),
        SUPPORT_AGENT,
    )
    clock.at += timedelta(hours=1)
    desk.post_update(incident_id, IM, "Looking", visibility="internal")
    clock.at -= timedelta(minutes=30)
    before = snapshot(desk, ("T-1",))

    with pytest.raises(InvalidInput) as caught:
        desk.receive_alert(signal("fp-2"))
    assert caught.value.field == "now"
    with pytest.raises(InvalidInput) as caught:
        desk.link_ticket("T-1", incident_id, SUPPORT_AGENT)
    assert caught.value.field == "now"
    assert snapshot(desk, ("T-1",)) == before


_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["alert", "clear", "update", "ack", "resolve", "reopen", "escalate"]),
        st.integers(-90, 90),
    ),
    max_size=10,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=_STEPS)
def test_every_timeline_is_in_time_order_whatever_the_clock_does(
    store_factory: Callable[[], Store], steps: list[tuple[str, int]]
) -> None:
    """Commands run with a clock that jumps back and forth: each either runs or is refused,
    and every incident's timeline stays in time order."""
    clock = SteppedClock(support.START)
    desk = make_desk(store=store_factory(), clock=clock, grouping=GroupingPolicy())  # type: ignore[arg-type]
    incident_id = open_incident(desk)
    for name, minutes in steps:
        clock.at = max(support.START, clock.at + timedelta(minutes=minutes))
        calls: dict[str, Callable[[], object]] = {
            "alert": lambda: desk.receive_alert(signal("fp-1")),
            "clear": lambda: desk.clear_alert("fp-1"),
            "update": lambda: desk.post_update(incident_id, IM, "News"),
            "ack": lambda: desk.acknowledge(incident_id, IM),
            "resolve": lambda: desk.resolve_incident(incident_id, IM, "Fixed"),
            "reopen": lambda: desk.reopen_incident(incident_id, IM, "Back"),
            "escalate": lambda: desk.send_escalations(),
        }
        with contextlib.suppress(IncidentLifecycleError):  # refused: a typed error of ours
            calls[name]()
    for incident in desk.potential_incidents() + list(desk.open_incidents()):
        times = [e.at for e in desk.timeline(incident.id)]
        assert times == sorted(times)
    times = [e.at for e in desk.timeline(incident_id)]
    assert times == sorted(times)
    assert all(
        a.status is not AlertStatus.RECEIVED or a.active for a in desk.alerts_of(incident_id)
    )
