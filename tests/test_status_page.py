"""The status page recipient and the routing notifier."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incident_lifecycle import Actor, IncidentDesk, InvalidInput
from incident_lifecycle.adapters import InMemoryStore, RecordingNotifier, RoutingNotifier
from incident_lifecycle.delivery import Relay
from incident_lifecycle.notifications import (
    DeliveryResult,
    Notification,
    RecipientKind,
    StatusPageUpdate,
    Topic,
)
from incident_lifecycle.ports import Notifier
from incident_lifecycle.testing import FakeClock, FlakyNotifier
from incident_lifecycle.testing.contracts import NotifierContract

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWNER = Actor(name="ana", role="engineering", team="support-eng")


def desk_with(notifier: Notifier | None = None, status_page: bool | None = True) -> IncidentDesk:
    return IncidentDesk(
        store=InMemoryStore(),
        notifier=notifier or RecordingNotifier(),
        ownership={"support": "support-eng", "chat": "chat-eng"},
        clock=FakeClock(T0),
        status_page=status_page,
    )


def page_notes(desk: IncidentDesk) -> list[Notification]:
    desk.deliver()
    notifier = desk.notifier
    assert isinstance(notifier, RecordingNotifier)
    return [n for n in notifier.sent if n.recipient_kind is RecipientKind.STATUS_PAGE]


def test_public_updates_of_a_public_severity_reach_the_status_page() -> None:
    """Each public update of a SEV1 incident, and its resolution, is one status-page
    notification to the incident: phase, impact from the severity, components from the
    products, the public text; the internal update never goes there."""
    desk = desk_with()
    incident = desk.declare_incident(
        OWNER, title="Slow agent workspace", product="support", severity="SEV1"
    )
    desk.post_update(incident.id, OWNER, "We are investigating slow pages.")
    desk.post_update(incident.id, OWNER, "Primary DB at 95% CPU.", visibility="internal")
    desk.post_update(incident.id, OWNER, "A database overload.", status="identified")
    desk.resolve_incident(incident.id, OWNER, "A rollback fixed it.")
    notes = page_notes(desk)
    assert [(n.recipient, n.topic) for n in notes] == [
        (incident.id, Topic.STATUS_UPDATE),
        (incident.id, Topic.STATUS_UPDATE),
        (incident.id, Topic.RESOLUTION),
    ]
    pages = [StatusPageUpdate.of(n) for n in notes]
    assert [(p.phase, p.text) for p in pages] == [
        ("investigating", "We are investigating slow pages."),
        ("identified", "A database overload."),
        ("resolved", "A rollback fixed it."),
    ]
    assert {(p.title, p.impact, p.severity, p.components) for p in pages} == {
        ("Slow agent workspace", "major", "SEV1", ("support",))
    }
    assert all("95% CPU" not in n.body for n in notes)


def test_a_private_severity_never_reaches_the_status_page() -> None:
    """A SEV3 incident's public updates and resolution go to tickets only."""
    desk = desk_with()
    incident = desk.declare_incident(OWNER, title="Slow export", product="support", severity="SEV3")
    desk.post_update(incident.id, OWNER, "Looking into it.")
    desk.resolve_incident(incident.id, OWNER, "Fixed.")
    assert page_notes(desk) == []


@settings(max_examples=40)
@given(
    st.sampled_from(["SEV0", "SEV1", "SEV2", "SEV3", "SEV4"]),
    st.lists(
        st.tuples(
            st.sampled_from(["public", "internal"]),
            st.sampled_from([None, "investigating", "identified", "monitoring"]),
        ),
        max_size=6,
    ),
    st.booleans(),
)
def test_one_page_notification_per_public_update(
    severity: str, updates: list[tuple[str, str | None]], resolve: bool
) -> None:
    """For any updates: one status-page notification per public update (and the
    resolution) exactly when the severity is public, in order, each with the phase the
    update left."""
    desk = desk_with()
    incident = desk.declare_incident(OWNER, title="Outage", product="support", severity=severity)
    expected = []
    phase = "investigating"
    for number, (visibility, status) in enumerate(updates):
        desk.post_update(incident.id, OWNER, f"text {number}", visibility=visibility, status=status)
        phase = status or phase
        if visibility == "public":
            expected.append((phase, f"text {number}"))
    if resolve:
        desk.resolve_incident(incident.id, OWNER, "done")
        expected.append(("resolved", "done"))
    public = severity in ("SEV0", "SEV1", "SEV2")  # the default scale's public levels
    got = [(p.phase, p.text) for p in map(StatusPageUpdate.of, page_notes(desk))]
    assert got == (expected if public else [])


def test_the_status_page_is_on_when_the_notifier_takes_it() -> None:
    """By default a desk tells the status page only if its notifier takes status pages (a
    ``RoutingNotifier`` routing them); ``status_page=`` says so explicitly."""
    routed = RoutingNotifier(dict.fromkeys(RecipientKind, RecordingNotifier()))
    assert desk_with(routed, status_page=None).config.status_page
    assert not desk_with(RecordingNotifier(), status_page=None).config.status_page
    assert not desk_with(routed, status_page=False).config.status_page
    with pytest.raises(InvalidInput, match="status_page"):
        desk_with(status_page="yes")  # type: ignore[arg-type]
    desk = desk_with(status_page=None)
    incident = desk.declare_incident(OWNER, title="Down", product="support", severity="SEV0")
    desk.post_update(incident.id, OWNER, "Investigating.")
    assert page_notes(desk) == []


def test_status_page_documents_are_checked() -> None:
    """A status-page notification carries only status topics; a body that is not a status
    page document is refused naming ``body``."""
    with pytest.raises(InvalidInput, match="topic"):
        Notification(
            key="k",
            recipient="INC-1",
            recipient_kind="status_page",
            topic="handoff",
            incident_id="INC-1",
            subject="s",
            body="b",
            created_at=T0,
        )
    note = Notification(
        key="k",
        recipient="INC-1",
        recipient_kind="status_page",
        topic="status_update",
        incident_id="INC-1",
        subject="s",
        body='{"phase": "up"}',
        created_at=T0,
    )
    with pytest.raises(InvalidInput, match="body"):
        StatusPageUpdate.of(note)
    with pytest.raises(InvalidInput, match="phase"):
        StatusPageUpdate(
            title="t", phase="up", impact="minor", severity="SEV2", components=["x"], text="t"
        )


class Failing:
    """A notifier that raises: the outcome of what it was given is unknown."""

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        raise ConnectionError("helpdesk down")


class Grouping(RecordingNotifier):
    group_batches = True

    def route(self, notification: Notification) -> str:
        return "account-1"


class TestRoutingNotifier:
    def test_an_unrouted_kind_is_refused_at_construction(self) -> None:
        """Every recipient kind needs a notifier: a missing one is named at construction."""
        with pytest.raises(InvalidInput, match="status_page") as caught:
            RoutingNotifier({"ticket": RecordingNotifier(), "team": RecordingNotifier()})
        assert caught.value.field == "routes"
        with pytest.raises(InvalidInput, match="routes"):
            RoutingNotifier({"ticket": RecordingNotifier(), "teams": RecordingNotifier()})
        with pytest.raises(InvalidInput, match="routes"):
            RoutingNotifier(dict.fromkeys(RecipientKind, object()))  # type: ignore[arg-type]

    def test_each_kind_goes_to_its_notifier(self) -> None:
        """A desk's tickets, team and page notifications reach their own notifiers; a raising
        one leaves its part unknown (retried) and the others delivered."""
        tickets, teams = RecordingNotifier(), Grouping()
        routing = RoutingNotifier({"ticket": tickets, "team": teams, "status_page": Failing()})
        assert routing.group_batches
        desk = desk_with(routing)
        incident = desk.declare_incident(
            Actor(name="sam", role="support", team="tier1"),
            title="Chat is down",
            product="chat",
            severity="SEV1",
        )
        desk.post_update(
            incident.id, Actor(name="cy", role="engineering", team="chat-eng"), "Down."
        )
        report = desk.deliver()
        assert {n.recipient_kind for n in teams.sent} == {RecipientKind.TEAM}
        assert tickets.sent == []
        assert (report.retried, report.dead_lettered) == (1, 0)
        with desk.store.transaction() as tx:
            (page,) = [
                e
                for e in (tx.outbox_entry(f"{incident.id}/UPD-{n}/status-page") for n in (1, 2, 3))
                if e
            ]
        cause = "outcome unknown: notifier raised ConnectionError: helpdesk down"
        assert page.last_error == f"status_page notifier: {cause}"

    def test_routes_name_the_kind(self) -> None:
        """A route is the kind and the inner notifier's route: a helpdesk throttle never pauses
        the chat."""
        routing = RoutingNotifier(
            {"ticket": Grouping(), "team": RecordingNotifier(), "status_page": RecordingNotifier()}
        )
        ticket = Notification(
            key="k",
            recipient="T-1",
            recipient_kind="ticket",
            topic="resolution",
            incident_id="INC-1",
            subject="s",
            body="b",
            created_at=T0,
        )
        assert routing.route(ticket) == "ticket:account-1"
        team = Notification(
            key="k2",
            recipient="eng",
            recipient_kind="team",
            topic="handoff",
            incident_id="INC-1",
            subject="s",
            body="b",
            created_at=T0,
        )
        assert routing.route(team) == "team:"

    def test_a_throttled_kind_does_not_pause_the_others(self) -> None:
        """A throttle from the ticket notifier pauses ``ticket:...`` only."""
        routing = RoutingNotifier(
            {
                "ticket": FlakyNotifier(throttle=timedelta(minutes=1)),
                "team": RecordingNotifier(),
                "status_page": RecordingNotifier(),
            }
        )
        desk = desk_with(routing)
        incident = desk.declare_incident(OWNER, title="Slow", product="support", severity="SEV1")
        with desk.store.transaction() as tx:
            tx.link("T-1", incident.id)
        relay = Relay(desk.store, routing, desk.clock)
        desk.post_update(incident.id, OWNER, "Investigating.")
        report = relay.deliver()
        assert report.delivered >= 1
        assert set(relay.paused) <= {"ticket:"}


class TestRoutingNotifierContract(NotifierContract):
    """``RoutingNotifier`` keeps the notifier contract."""

    def make_notifier(self) -> Notifier:
        return RoutingNotifier(dict.fromkeys(RecipientKind, RecordingNotifier()))

    def make_throttled_notifier(self) -> Notifier | None:
        return RoutingNotifier(
            dict.fromkeys(RecipientKind, FlakyNotifier(throttle=timedelta(seconds=30)))
        )

    def make_failing_notifier(self, recipients: frozenset[str]) -> Notifier | None:
        return RoutingNotifier(
            dict.fromkeys(RecipientKind, FlakyNotifier(fail_recipients=recipients))
        )


def test_a_routed_status_page_document_reads_back() -> None:
    """What the page notifier receives reads back as the update it was made from."""
    page = RecordingNotifier()
    desk = desk_with(
        RoutingNotifier(
            {"ticket": RecordingNotifier(), "team": RecordingNotifier(), "status_page": page}
        )
    )
    incident = desk.declare_incident(
        OWNER, title="Sign-in fails", product="support", severity="SEV0"
    )
    desk.post_update(incident.id, OWNER, "Sign-in fails for <all> & some.")
    desk.deliver()
    (note,) = page.sent
    assert StatusPageUpdate.of(note).impact == "critical"
    assert StatusPageUpdate.of(note).text == "Sign-in fails for <all> & some."
