"""Incident commands and queries through the desk, from validation to the closing review."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import pytest

import desk_support as support
from desk_support import (
    ENG_CHAT,
    ENG_SUPPORT,
    IM,
    MONITOR,
    START,
    SUPPORT_AGENT,
    delivered_topics,
    link_tickets,
    make_desk,
    open_incident,
    potential_incident,
    signal,
    snapshot,
)
from incident_lifecycle import (
    SEV1,
    SEV2,
    AlertStatus,
    IncidentStatus,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPermitted,
    RemediationItem,
    ReportStatus,
    Review,
    Severity,
    SeverityScale,
    Visibility,
)
from incident_lifecycle.adapters import RecordingNotifier
from incident_lifecycle.commands.intake import AlertOutcome
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.domain.events import (
    IncidentAcknowledged,
    IncidentClosed,
    IncidentDeclared,
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
from incident_lifecycle.metrics import DurationStats
from incident_lifecycle.notifications import Topic
from incident_lifecycle.ports import Store
from incident_lifecycle.testing import FakeClock

store_factory = support.store_factory
store = support.store
clock = support.clock
notifier = support.notifier
desk = support.desk

MINUTE = timedelta(minutes=1)


def names(desk: IncidentDesk, incident_id: str) -> list[str]:
    """The event names of an incident's timeline, in order."""
    return [event.name for event in desk.timeline(incident_id)]


def sent(notifier: RecordingNotifier, topic: Topic) -> Counter[str]:
    """How many notifications of ``topic`` each recipient was sent."""
    return Counter(n.recipient for n in notifier.sent if n.topic is topic)


def resolved_incident(desk: IncidentDesk, **kwargs: str) -> str:
    """An incident opened from an alert and resolved by its owner."""
    incident_id = open_incident(desk, **kwargs)
    desk.resolve_incident(incident_id, IM, "Rolled back the deploy.")
    return incident_id


# -- acknowledge -----------------------------------------------------------------


def test_acknowledge_is_a_timeline_event_not_a_status(desk: IncidentDesk, clock: FakeClock) -> None:
    """Acknowledging stamps the first acknowledgement and records an event; status stays."""
    incident_id = potential_incident(desk)
    first = clock.advance(minutes=2)
    desk.acknowledge(incident_id, ENG_SUPPORT)
    clock.advance(minutes=3)

    incident = desk.acknowledge(incident_id, MONITOR)

    assert incident.status is IncidentStatus.DETECTED
    assert desk.incident(incident_id).acknowledged_at == first
    acks = [e for e in desk.timeline(incident_id) if isinstance(e, IncidentAcknowledged)]
    assert [(a.actor, a.at) for a in acks] == [(ENG_SUPPORT, first), (MONITOR, clock.now())]


def test_acknowledge_refused_after_resolution(desk: IncidentDesk) -> None:
    """A resolved incident can no longer be acknowledged."""
    incident_id = resolved_incident(desk)
    before = snapshot(desk)

    with pytest.raises(InvalidTransition) as info:
        desk.acknowledge(incident_id, ENG_SUPPORT)

    assert info.value.status == "resolved"
    assert snapshot(desk) == before


# -- validate / dismiss ----------------------------------------------------------


def test_validate_opens_incident_with_severity_and_title(
    desk: IncidentDesk, clock: FakeClock
) -> None:
    """Validating opens the incident at a severity, retitles it and validates its alerts."""
    first = desk.receive_alert(signal("fp-1"))
    desk.receive_alert(signal("fp-2"))
    desk.receive_alert(signal("fp-3"))
    desk.clear_alert("fp-3")
    now = clock.advance(minutes=4)

    incident = desk.validate_incident(
        first.incident_id, ENG_SUPPORT, "SEV1", title="Agent workspace slow in pod17"
    )

    stored = desk.incident(first.incident_id)
    assert stored.status is incident.status is IncidentStatus.INVESTIGATING
    assert (stored.severity, stored.title) == (SEV1, "Agent workspace slow in pod17")
    assert stored.opened_at == stored.acknowledged_at == now
    statuses = [(a.fingerprint, a.status) for a in desk.alerts_of(first.incident_id)]
    assert statuses == [
        ("fp-1", AlertStatus.VALIDATED),
        ("fp-2", AlertStatus.VALIDATED),
        ("fp-3", AlertStatus.RECOVERED),
    ]
    event = desk.timeline(first.incident_id)[-1]
    assert isinstance(event, IncidentValidated)
    assert (event.severity, event.title, event.actor) == (
        "SEV1",
        "Agent workspace slow in pod17",
        ENG_SUPPORT,
    )
    assert desk.potential_incidents() == []
    assert [i.id for i in desk.open_incidents()] == [first.incident_id]


def test_validate_keeps_generated_title_when_none_given(desk: IncidentDesk) -> None:
    """Without a title, validation keeps the title grouping gave the incident."""
    incident_id = potential_incident(desk)

    desk.validate_incident(incident_id, IM, SEV2)

    assert desk.incident(incident_id).title == "latency on support in pod17"


@pytest.mark.parametrize(
    ("severity", "title", "field"),
    [("SEV9", None, "severity"), ("P1", None, "severity"), ("SEV1", "", "title")],
)
def test_validate_refuses_bad_input(
    desk: IncidentDesk, severity: str, title: str | None, field: str
) -> None:
    """An unknown severity or an empty title is refused, naming the field; nothing changes."""
    incident_id = potential_incident(desk)
    before = snapshot(desk)

    with pytest.raises(InvalidInput) as info:
        desk.validate_incident(incident_id, ENG_SUPPORT, severity, title=title)

    assert info.value.field == field
    assert snapshot(desk) == before


def test_validate_twice_is_an_invalid_transition(desk: IncidentDesk) -> None:
    """An open incident cannot be validated again."""
    incident_id = open_incident(desk)
    before = snapshot(desk)

    with pytest.raises(InvalidTransition):
        desk.validate_incident(incident_id, ENG_SUPPORT, "SEV3")

    assert snapshot(desk) == before


def test_validate_on_custom_scale(store: Store, clock: FakeClock) -> None:
    """With an application's own scale, its level names are accepted and others refused."""
    minute = timedelta(minutes=1)
    levels = [
        Severity(
            rank=rank,
            name=name,
            description=f"{name} level",
            public=rank == 0,
            first_update=10 * minute,
            update_interval=20 * minute,
            public_review=rank == 0,
        )
        for rank, name in enumerate(["P1", "P2"])
    ]
    desk = make_desk(store, clock=clock, scale=SeverityScale(levels))
    incident_id = potential_incident(desk)

    with pytest.raises(InvalidInput):
        desk.validate_incident(incident_id, IM, "SEV1")
    desk.validate_incident(incident_id, IM, "P2")

    assert desk.incident(incident_id).severity == levels[1]


def test_dismiss_dismisses_incident_and_its_alerts(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """Dismissing a potential incident dismisses its alerts; repeats open new alerts."""
    first = desk.receive_alert(signal("fp-1"))
    desk.receive_alert(signal("fp-2"))

    desk.dismiss_incident(first.incident_id, ENG_SUPPORT, "Load test, not real.")

    incident = desk.incident(first.incident_id)
    assert (incident.status, incident.dismissal_reason) == (
        IncidentStatus.DISMISSED,
        "Load test, not real.",
    )
    alerts = desk.alerts_of(first.incident_id)
    assert [(a.status, a.active) for a in alerts] == [(AlertStatus.DISMISSED, False)] * 2
    event = desk.timeline(first.incident_id)[-1]
    assert isinstance(event, IncidentDismissed)
    assert event.reason == "Load test, not real."
    again = desk.receive_alert(signal("fp-1"))
    assert again.outcome is AlertOutcome.STARTED_INCIDENT
    assert again.alert_id not in {a.id for a in alerts}
    assert delivered_topics(desk, notifier) == [("support-eng", Topic.VALIDATION_REQUEST)] * 2


def test_dismiss_open_incident_is_refused(desk: IncidentDesk) -> None:
    """Only a potential incident can be dismissed."""
    incident_id = open_incident(desk)
    before = snapshot(desk)

    with pytest.raises(InvalidTransition):
        desk.dismiss_incident(incident_id, ENG_SUPPORT, "Not real after all.")

    assert snapshot(desk) == before


# -- declare ---------------------------------------------------------------------


def test_declare_opens_incident_directly(desk: IncidentDesk, clock: FakeClock) -> None:
    """Support declares an incident: detected and open at once, owned by the product's team."""
    now = clock.advance(minutes=7)

    incident = desk.declare_incident(
        SUPPORT_AGENT, title="Chat widget fails to load", product="chat", severity="SEV2"
    )

    stored = desk.incident(incident.id)
    assert stored.status is IncidentStatus.INVESTIGATING
    assert (stored.owner_team, stored.products, stored.severity) == ("chat-eng", ("chat",), SEV2)
    assert stored.detected_at == stored.opened_at == now
    (event,) = desk.timeline(incident.id)
    assert isinstance(event, IncidentDeclared)
    assert (event.title, event.severity, event.actor) == (
        "Chat widget fails to load",
        "SEV2",
        SUPPORT_AGENT,
    )
    joined = desk.receive_alert(signal("chat-1", product="chat", region=None))
    assert (joined.outcome, joined.incident_id) == (AlertOutcome.JOINED_OPEN, incident.id)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"product": "billing"}, "product"),
        ({"severity": "SEV5"}, "severity"),
        ({"title": " "}, "title"),
    ],
)
def test_declare_refuses_bad_input(desk: IncidentDesk, kwargs: dict[str, str], field: str) -> None:
    """Declaring for an unowned product, an unknown severity or a blank title is refused."""
    args = {"title": "Voice calls drop", "product": "talk", "severity": "SEV1"} | kwargs
    before = snapshot(desk)

    with pytest.raises(InvalidInput) as info:
        desk.declare_incident(ENG_CHAT, **args)

    assert info.value.field == field
    assert snapshot(desk) == before


# -- updates ---------------------------------------------------------------------


def test_public_update_reaches_every_unsolved_linked_ticket(
    desk: IncidentDesk, notifier: RecordingNotifier, clock: FakeClock
) -> None:
    """A public update sends one notification per linked ticket not yet solved."""
    incident_id = open_incident(desk)
    link_tickets(
        desk,
        incident_id,
        {"T-1": ReportStatus.LINKED, "T-2": ReportStatus.SOLVED, "T-3": ReportStatus.LINKED},
    )
    now = clock.advance(minutes=6)

    update = desk.post_update(incident_id, ENG_SUPPORT, "We are looking into slow pages.")

    assert (update.visibility, update.status, update.posted_at) == (
        Visibility.PUBLIC,
        IncidentStatus.INVESTIGATING,
        now,
    )
    incident = desk.incident(incident_id)
    assert incident.first_public_update_at == incident.last_public_update_at == now
    assert incident.last_public_update == "We are looking into slow pages."
    desk.deliver()
    assert sent(notifier, Topic.STATUS_UPDATE) == {"T-1": 1, "T-3": 1}
    bodies = {n.body for n in notifier.sent if n.topic is Topic.STATUS_UPDATE}
    assert bodies == {"We are looking into slow pages."}


def test_public_update_is_rendered_in_each_tickets_locale(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """A French ticket gets the French subject; an English one the English subject."""
    incident_id = open_incident(desk)
    link_tickets(desk, incident_id, ["T-en"])
    link_tickets(desk, incident_id, ["T-fr"], locale="fr")

    desk.post_update(incident_id, IM, "Nous enquêtons.", status="identified")

    desk.deliver()
    subjects = {n.recipient: n.subject for n in notifier.sent if n.topic is Topic.STATUS_UPDATE}
    assert subjects == {
        "T-en": f"Update on service incident {incident_id}: identified",
        "T-fr": f"Mise à jour de l'incident de service {incident_id} : cause identifiée",
    }


def test_update_moves_between_open_phases(desk: IncidentDesk, clock: FakeClock) -> None:
    """Updates move the incident to identified, monitoring and back to investigating."""
    incident_id = open_incident(desk)
    stamps = {}
    for phase in ("identified", "monitoring", "investigating", "monitoring"):
        stamps[phase] = clock.advance(minutes=5)
        update = desk.post_update(incident_id, ENG_SUPPORT, f"Now {phase}.", status=phase)
        assert update.status is desk.incident(incident_id).status is IncidentStatus(phase)

    incident = desk.incident(incident_id)
    assert incident.identified_at == stamps["identified"]
    assert incident.monitoring_at == START + 10 * MINUTE  # the first entry is kept
    assert [u.status.value for u in desk.updates(incident_id)] == [
        "identified",
        "monitoring",
        "investigating",
        "monitoring",
    ]
    posted = [e for e in desk.timeline(incident_id) if isinstance(e, UpdatePosted)]
    assert [p.status for p in posted] == [u.status.value for u in desk.updates(incident_id)]


def test_update_without_status_keeps_the_phase(desk: IncidentDesk) -> None:
    """An update naming no status, or the current one, leaves the phase as it is."""
    incident_id = open_incident(desk)
    desk.post_update(incident_id, ENG_SUPPORT, "Identified.", status="identified")

    desk.post_update(incident_id, ENG_SUPPORT, "Still on it.")
    desk.post_update(incident_id, ENG_SUPPORT, "Same.", status=IncidentStatus.IDENTIFIED)

    assert desk.incident(incident_id).status is IncidentStatus.IDENTIFIED
    assert [u.status for u in desk.updates(incident_id)] == [IncidentStatus.IDENTIFIED] * 3


def test_internal_update_never_reaches_a_customer(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """An internal update is recorded but sends nothing and leaves the public text alone."""
    incident_id = open_incident(desk)
    link_tickets(desk, incident_id, ["T-1", "T-2"])
    desk.post_update(incident_id, ENG_SUPPORT, "Public: investigating.")
    stats = desk.outbox_stats()

    update = desk.post_update(
        incident_id, SUPPORT_AGENT, "Internal: db primary failing over.", visibility="internal"
    )

    assert update.visibility is Visibility.INTERNAL
    assert desk.outbox_stats() == stats
    incident = desk.incident(incident_id)
    assert incident.last_public_update == "Public: investigating."
    assert incident.last_update_at == update.posted_at
    event = desk.timeline(incident_id)[-1]
    assert isinstance(event, UpdatePosted)
    assert (event.visibility, event.update_id) == ("internal", update.id)
    desk.deliver()
    assert all("Internal" not in n.body for n in notifier.sent)
    assert sent(notifier, Topic.STATUS_UPDATE) == {"T-1": 1, "T-2": 1}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"status": "resolved"}, "status"),
        ({"status": "detected"}, "status"),
        ({"status": "fixed"}, "status"),
        ({"visibility": "secret"}, "visibility"),
        ({"body": ""}, "body"),
    ],
)
def test_update_refuses_bad_input(desk: IncidentDesk, kwargs: dict[str, str], field: str) -> None:
    """An update to a non-open status, an unknown visibility or an empty body is refused."""
    incident_id = open_incident(desk)
    before = snapshot(desk)
    args = {"body": "Update."} | kwargs

    with pytest.raises(InvalidInput) as info:
        desk.post_update(incident_id, ENG_SUPPORT, **args)

    assert info.value.field == field
    assert snapshot(desk) == before


@pytest.mark.parametrize("visibility", ["public", "internal"])
def test_update_on_potential_incident_is_refused(desk: IncidentDesk, visibility: str) -> None:
    """A potential incident takes no updates until it is validated."""
    incident_id = potential_incident(desk)
    before = snapshot(desk)

    with pytest.raises(InvalidTransition):
        desk.post_update(incident_id, IM, "Too early.", visibility=visibility)

    assert snapshot(desk) == before


# -- severity and hand-off -------------------------------------------------------


def test_change_severity_records_previous_and_reason(desk: IncidentDesk) -> None:
    """Raising the severity changes it and records the previous level and the reason."""
    incident_id = open_incident(desk, severity="SEV3")

    incident = desk.change_severity(incident_id, ENG_SUPPORT, "SEV1", reason="All pods hit.")

    assert incident.severity == desk.incident(incident_id).severity == SEV1
    event = desk.timeline(incident_id)[-1]
    assert isinstance(event, SeverityChanged)
    assert (event.previous, event.severity, event.reason) == ("SEV3", "SEV1", "All pods hit.")


def test_change_severity_refused_when_same_or_not_open(desk: IncidentDesk) -> None:
    """The same severity is invalid input; a potential incident has no severity to change."""
    open_id = open_incident(desk, severity="SEV2")
    potential_id = potential_incident(desk, fp="fp-2", product="chat")
    before = snapshot(desk)

    with pytest.raises(InvalidInput) as info:
        desk.change_severity(open_id, ENG_SUPPORT, SEV2)
    with pytest.raises(InvalidTransition):
        desk.change_severity(potential_id, IM, "SEV1")

    assert info.value.field == "severity"
    assert snapshot(desk) == before


def test_hand_off_changes_owner_and_notifies_receiving_team(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """A hand-off moves ownership, tells the receiving team, and moves owner-only rights."""
    incident_id = open_incident(desk)

    handoff = desk.hand_off(incident_id, ENG_SUPPORT, "chat-eng", "Root cause is in chat.")

    assert (handoff.from_team, handoff.to_team) == ("support-eng", "chat-eng")
    assert desk.incident(incident_id).owner_team == "chat-eng"
    event = desk.timeline(incident_id)[-1]
    assert isinstance(event, IncidentHandedOff)
    assert (event.from_team, event.to_team, event.reason) == (
        "support-eng",
        "chat-eng",
        "Root cause is in chat.",
    )
    assert delivered_topics(desk, notifier)[-1] == ("chat-eng", Topic.HANDOFF)
    assert "Root cause is in chat." in notifier.sent[-1].body
    before = snapshot(desk)
    with pytest.raises(NotPermitted):
        desk.post_update(incident_id, ENG_SUPPORT, "Old owner speaking.")
    with pytest.raises(NotPermitted):
        desk.resolve_incident(incident_id, ENG_SUPPORT, "Old owner resolving.")
    assert snapshot(desk) == before
    desk.post_update(incident_id, ENG_CHAT, "New owner speaking.")
    desk.resolve_incident(incident_id, ENG_CHAT, "Fixed in chat.")
    assert desk.incident(incident_id).status is IncidentStatus.RESOLVED


def test_hand_off_to_current_owner_is_refused(desk: IncidentDesk) -> None:
    """Handing an incident to the team that already owns it is invalid input."""
    incident_id = open_incident(desk)
    before = snapshot(desk)

    with pytest.raises(InvalidInput) as info:
        desk.hand_off(incident_id, ENG_SUPPORT, "support-eng", "No change.")

    assert info.value.field == "to_team"
    assert snapshot(desk) == before


# -- resolve and reopen ----------------------------------------------------------


def test_resolve_solves_linked_tickets_and_sends_resolution_once(
    desk: IncidentDesk, notifier: RecordingNotifier, clock: FakeClock
) -> None:
    """Resolving solves every linked ticket and sends each unsolved one the resolution once."""
    incident_id = open_incident(desk)
    desk.receive_alert(signal("fp-2"))
    tickets = {f"T-{n}": ReportStatus.LINKED for n in range(5)} | {"T-old": ReportStatus.SOLVED}
    link_tickets(desk, incident_id, tickets)
    now = clock.advance(minutes=30)

    incident = desk.resolve_incident(incident_id, ENG_SUPPORT, "A config rollback fixed it.")

    assert incident.status is IncidentStatus.RESOLVED
    assert (incident.resolved_at, incident.resolution) == (now, "A config rollback fixed it.")
    for ticket in tickets:
        report = desk.report(ticket)
        assert report is not None
        assert report.status is ReportStatus.SOLVED
    assert desk.report("T-0").ended_at == now  # type: ignore[union-attr]
    assert [(a.active, a.status) for a in desk.alerts_of(incident_id)] == [
        (False, AlertStatus.VALIDATED)
    ] * 2
    event = desk.timeline(incident_id)[-1]
    assert isinstance(event, IncidentResolved)
    assert event.tickets_solved == 5
    desk.deliver()
    assert sent(notifier, Topic.RESOLUTION) == {f"T-{n}": 1 for n in range(5)}
    assert {n.body for n in notifier.sent if n.topic is Topic.RESOLUTION} == {
        "A config rollback fixed it."
    }
    assert desk.open_incidents() == []


@pytest.mark.parametrize("state", ["potential", "resolved"])
def test_resolve_refused_unless_open(desk: IncidentDesk, state: str) -> None:
    """Only an open incident can be resolved."""
    incident_id = potential_incident(desk) if state == "potential" else resolved_incident(desk)
    before = snapshot(desk)

    with pytest.raises(InvalidTransition):
        desk.resolve_incident(incident_id, IM, "Again.")

    assert snapshot(desk) == before


@pytest.mark.parametrize(
    ("window", "wait", "allowed"),
    [
        (None, timedelta(hours=23, minutes=59), True),
        (None, timedelta(hours=24), True),
        (None, timedelta(hours=24, seconds=1), False),
        (timedelta(hours=2), timedelta(hours=2), True),
        (timedelta(hours=2), timedelta(hours=2, seconds=1), False),
        (timedelta(days=7), timedelta(days=3), True),
    ],
    ids=["default-inside", "default-edge", "default-outside", "2h-edge", "2h-outside", "7d"],
)
def test_reopen_only_within_window(
    store: Store,
    clock: FakeClock,
    window: timedelta | None,
    wait: timedelta,
    allowed: bool,
) -> None:
    """A resolved incident reopens within the reopen window (24 h by default, configurable)."""
    kwargs = {} if window is None else {"reopen_window": window}
    desk = make_desk(store, clock=clock, **kwargs)
    incident_id = resolved_incident(desk)
    clock.advance(wait)
    before = snapshot(desk)

    if not allowed:
        with pytest.raises(InvalidTransition) as info:
            desk.reopen_incident(incident_id, SUPPORT_AGENT, "Customers report it again.")
        assert info.value.event == "reopen"
        assert snapshot(desk) == before
        return
    incident = desk.reopen_incident(incident_id, SUPPORT_AGENT, "Customers report it again.")
    assert incident.status is IncidentStatus.INVESTIGATING
    assert incident.reopen_count == 1
    assert incident.opened_at == START  # the first opening is kept
    event = desk.timeline(incident_id)[-1]
    assert isinstance(event, IncidentReopened)
    assert event.reason == "Customers report it again."


def test_reopened_incident_resolves_again_without_repeating_resolutions(
    desk: IncidentDesk, notifier: RecordingNotifier, clock: FakeClock
) -> None:
    """After a reopen, a second resolution reaches only tickets linked since."""
    incident_id = open_incident(desk)
    link_tickets(desk, incident_id, ["T-1"])
    desk.resolve_incident(incident_id, IM, "Fixed.")
    clock.advance(hours=1)
    desk.reopen_incident(incident_id, ENG_SUPPORT, "It is back.")
    link_tickets(desk, incident_id, ["T-2"])
    later = clock.advance(hours=1)

    incident = desk.resolve_incident(incident_id, IM, "Fixed for good.")

    assert (incident.resolved_at, incident.reopen_count) == (later, 1)
    desk.deliver()
    assert sent(notifier, Topic.RESOLUTION) == {"T-1": 1, "T-2": 1}
    assert [
        e.tickets_solved for e in desk.timeline(incident_id) if isinstance(e, IncidentResolved)
    ] == [1, 1]


def test_repeat_after_reopen_joins_the_reopened_incident(desk: IncidentDesk) -> None:
    """A resolved incident's alerts stay closed when it reopens; a repeat joins it anew."""
    incident_id = resolved_incident(desk)
    (old,) = desk.alerts_of(incident_id)
    desk.reopen_incident(incident_id, IM, "Back.")

    receipt = desk.receive_alert(signal("fp-1"))

    assert (receipt.outcome, receipt.incident_id) == (AlertOutcome.JOINED_OPEN, incident_id)
    assert receipt.alert_id != old.id


# -- merge -----------------------------------------------------------------------


def test_merge_moves_alerts_links_and_products_to_target(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """The target takes the source's alerts, tickets and products; the source is merged."""
    target_id = open_incident(desk, fp="chat-1", product="chat")
    link_tickets(desk, target_id, ["T-1"], product="chat")
    source_id = open_incident(desk, fp="sup-1")
    desk.receive_alert(signal("sup-2"))
    link_tickets(desk, source_id, ["T-2", "T-3"])

    target = desk.merge_incidents(source_id, target_id, ENG_SUPPORT)

    assert target.id == target_id
    source = desk.incident(source_id)
    assert (source.status, source.merged_into) == (IncidentStatus.MERGED, target_id)
    assert source.ended_at is not None
    assert desk.incident(target_id).products == ("chat", "support")
    assert [a.fingerprint for a in desk.alerts_of(target_id)] == ["chat-1", "sup-1", "sup-2"]
    assert desk.alerts_of(source_id) == []
    assert desk.linked_tickets(target_id) == ["T-1", "T-2", "T-3"]
    assert desk.linked_tickets(source_id) == []
    assert [desk.report(t).incident_id for t in ("T-2", "T-3")] == [target_id] * 2  # type: ignore[union-attr]
    merged = desk.timeline(source_id)[-1]
    merged_in = desk.timeline(target_id)[-1]
    assert isinstance(merged, IncidentMerged)
    assert isinstance(merged_in, IncidentsMergedIn)
    assert merged.into == target_id
    assert (merged_in.source, merged_in.alerts_moved, merged_in.tickets_moved) == (
        source_id,
        2,
        2,
    )
    assert [i.id for i in desk.open_incidents()] == [target_id]
    assert [i.id for i in desk.open_incidents(product="support")] == [target_id]
    repeat = desk.receive_alert(signal("sup-1"))
    assert (repeat.outcome, repeat.incident_id) == (AlertOutcome.DEDUPLICATED, target_id)
    desk.resolve_incident(target_id, ENG_CHAT, "Fixed.")
    desk.deliver()
    assert sent(notifier, Topic.RESOLUTION) == {"T-1": 1, "T-2": 1, "T-3": 1}


@pytest.mark.parametrize("case", ["itself", "into-potential", "from-potential", "into-resolved"])
def test_merge_refused(desk: IncidentDesk, case: str) -> None:
    """Merging into itself, into or from a non-open incident is refused and changes nothing."""
    open_id = open_incident(desk)
    potential_id = potential_incident(desk, fp="chat-1", product="chat")
    resolved_id = resolved_incident(desk, fp="talk-1", product="talk")
    source, into, error = {
        "itself": (open_id, open_id, InvalidInput),
        "into-potential": (open_id, potential_id, InvalidTransition),
        "from-potential": (potential_id, open_id, InvalidTransition),
        "into-resolved": (open_id, resolved_id, InvalidTransition),
    }[case]
    before = snapshot(desk)

    with pytest.raises(error):
        desk.merge_incidents(source, into, IM)

    assert snapshot(desk) == before


# -- close -----------------------------------------------------------------------


def test_close_stores_review(desk: IncidentDesk, clock: FakeClock) -> None:
    """Closing a resolved incident with its review stores the review and records the event."""
    incident_id = resolved_incident(desk)
    now = clock.advance(days=2)
    review = Review(
        root_cause="A config push disabled the cache.",
        impact="Pages slow for 40 minutes in pod17.",
        remediation=(
            RemediationItem(
                description="Canary config pushes.", owner_team="support-eng", due=date(2026, 4, 1)
            ),
            RemediationItem(
                description="Alert on cache hit rate.", owner_team="sre", due=date(2026, 3, 20)
            ),
        ),
    )

    incident = desk.close_incident(incident_id, ENG_SUPPORT, review)

    stored = desk.incident(incident_id)
    assert incident.status is stored.status is IncidentStatus.CLOSED
    assert (stored.review, stored.closed_at) == (review, now)
    event = desk.timeline(incident_id)[-1]
    assert isinstance(event, IncidentClosed)
    assert (event.root_cause, event.remediation_items) == ("A config push disabled the cache.", 2)


@pytest.mark.parametrize("review", [None, "root cause: dns", {"root_cause": "dns"}])
def test_close_requires_a_review(desk: IncidentDesk, review: object) -> None:
    """Closing without a Review is refused, naming the review; the incident stays resolved."""
    incident_id = resolved_incident(desk)
    before = snapshot(desk)

    with pytest.raises(InvalidInput) as info:
        desk.close_incident(incident_id, ENG_SUPPORT, review)  # type: ignore[arg-type]

    assert info.value.field == "review"
    assert snapshot(desk) == before


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Review(root_cause=""), "root_cause"),
        (lambda: Review(root_cause="dns", remediation=("fix it",)), "remediation"),
        (
            lambda: RemediationItem(description="Fix", owner_team=None, due=date(2026, 4, 1)),
            "owner_team",
        ),
        (
            lambda: RemediationItem(description="Fix", owner_team="", due=date(2026, 4, 1)),
            "owner_team",
        ),
        (lambda: RemediationItem(description="Fix", owner_team="sre", due=None), "due"),
        (
            lambda: RemediationItem(description="Fix", owner_team="sre", due=datetime(2026, 4, 1)),
            "due",
        ),
        (
            lambda: RemediationItem(description="", owner_team="sre", due=date(2026, 4, 1)),
            "description",
        ),
    ],
    ids=[
        "no-root-cause",
        "item-not-remediation",
        "no-owner-team",
        "blank-owner-team",
        "no-due-date",
        "due-is-datetime",
        "no-description",
    ],
)
def test_review_parts_are_required(build: object, field: str) -> None:
    """A review needs a root cause, and each remediation item an owner team and a due date."""
    with pytest.raises(InvalidInput) as info:
        build()  # type: ignore[operator]

    assert info.value.field == field


def test_close_refused_before_resolution(desk: IncidentDesk) -> None:
    """An open incident cannot be closed, even with a review."""
    incident_id = open_incident(desk)
    before = snapshot(desk)

    with pytest.raises(InvalidTransition):
        desk.close_incident(incident_id, ENG_SUPPORT, Review(root_cause="dns"))

    assert snapshot(desk) == before


# -- queries ---------------------------------------------------------------------


def test_open_and_potential_incidents_by_product(desk: IncidentDesk) -> None:
    """Queries list open and potential incidents, optionally of one product, oldest first."""
    support_open = open_incident(desk, fp="s-1")
    chat_potential = potential_incident(desk, fp="c-1", product="chat")
    support_potential = potential_incident(desk, fp="s-2", region="pod18")
    chat_open = open_incident(desk, fp="c-2", product="chat", region="pod9")
    resolved_incident(desk, fp="t-1", product="talk")

    assert [i.id for i in desk.open_incidents()] == [support_open, chat_open]
    assert [i.id for i in desk.open_incidents(product="chat")] == [chat_open]
    assert [i.id for i in desk.open_incidents(product="talk")] == []
    assert [i.id for i in desk.potential_incidents()] == [chat_potential, support_potential]
    assert [i.id for i in desk.potential_incidents(product="support")] == [support_potential]
    assert desk.potential_incidents(product="guide") == []


def test_timeline_keeps_command_order(desk: IncidentDesk, clock: FakeClock) -> None:
    """An incident's timeline lists its events in the order the commands ran."""
    incident_id = potential_incident(desk)
    for step in (
        lambda: desk.receive_alert(signal("fp-2")),
        lambda: desk.acknowledge(incident_id, ENG_SUPPORT),
        lambda: desk.validate_incident(incident_id, ENG_SUPPORT, "SEV2"),
        lambda: desk.post_update(incident_id, ENG_SUPPORT, "Looking.", status="identified"),
        lambda: desk.change_severity(incident_id, ENG_SUPPORT, "SEV1"),
        lambda: desk.hand_off(incident_id, ENG_SUPPORT, "chat-eng", "Chat's bug."),
        lambda: desk.resolve_incident(incident_id, ENG_CHAT, "Fixed."),
        lambda: desk.reopen_incident(incident_id, ENG_CHAT, "Back."),
        lambda: desk.resolve_incident(incident_id, ENG_CHAT, "Fixed again."),
        lambda: desk.close_incident(incident_id, ENG_CHAT, Review(root_cause="dns")),
    ):
        clock.advance(minutes=1)
        step()

    timeline = desk.timeline(incident_id)
    assert [e.name for e in timeline] == [
        "IncidentDetected",
        "AlertJoined",
        "IncidentAcknowledged",
        "IncidentValidated",
        "UpdatePosted",
        "SeverityChanged",
        "IncidentHandedOff",
        "IncidentResolved",
        "IncidentReopened",
        "IncidentResolved",
        "IncidentClosed",
    ]
    assert [e.at for e in timeline] == [START] + [START + n * MINUTE for n in range(1, 11)]
    assert all(e.incident_id == incident_id for e in timeline)


def test_unknown_ids_raise_not_found(desk: IncidentDesk) -> None:
    """Queries and commands on an unknown incident or alert raise NotFound."""
    with pytest.raises(NotFound):
        desk.incident("INC-404")
    with pytest.raises(NotFound):
        desk.alert("ALR-404")
    with pytest.raises(NotFound):
        desk.acknowledge("INC-404", IM)
    assert desk.timeline("INC-404") == []
    assert desk.report("T-404") is None


def test_metrics_count_median_and_p90_of_known_durations(
    desk: IncidentDesk, clock: FakeClock
) -> None:
    """Metrics give count, median and p90 of each response time over incidents detected."""
    a, b, c, d = (
        potential_incident(desk, fp=f"fp-{p}", product=p)
        for p in ("support", "chat", "talk", "guide")
    )
    for minutes, command in [
        (1, lambda: desk.acknowledge(a, IM)),
        (2, lambda: desk.validate_incident(a, IM, "SEV2")),
        (4, lambda: desk.validate_incident(b, IM, "SEV2")),
        (5, lambda: desk.post_update(a, IM, "Investigating.")),
        (5, lambda: desk.dismiss_incident(d, IM, "Noise.")),
        (10, lambda: desk.validate_incident(c, IM, "SEV3")),
        (12, lambda: desk.post_update(b, IM, "Investigating.")),
        (15, lambda: desk.declare_incident(IM, title="Talk", product="talk", severity="SEV4")),
        (20, lambda: desk.resolve_incident(a, IM, "Fixed.")),
        (60, lambda: desk.resolve_incident(b, IM, "Fixed.")),
    ]:
        clock.set(START + minutes * MINUTE)
        command()

    early = desk.metrics(until=START + 15 * MINUTE)

    assert early.incidents == 4
    assert early.time_to_acknowledge == DurationStats(count=3, median=4 * MINUTE, p90=10 * MINUTE)
    assert early.time_to_validate == DurationStats(count=3, median=4 * MINUTE, p90=10 * MINUTE)
    assert early.time_to_first_public_update == DurationStats(
        count=2, median=timedelta(minutes=5, seconds=30), p90=8 * MINUTE
    )
    assert early.time_to_resolve == DurationStats(count=2, median=40 * MINUTE, p90=60 * MINUTE)
    everything = desk.metrics()
    assert everything.incidents == 5
    assert everything.time_to_validate == DurationStats(count=4, median=3 * MINUTE, p90=10 * MINUTE)
    late = desk.metrics(since=START + 15 * MINUTE)
    assert late.incidents == 1
    assert late.time_to_validate == DurationStats(count=1, median=timedelta(0), p90=timedelta(0))
    assert desk.metrics(since=START + 16 * MINUTE).incidents == 0
