"""Who may do what (DESIGN section 8), through every desk command.

The expected table is written out here by hand, not derived from
``incident_lifecycle.domain.actors``: monitoring takes alerts, the owning
engineering team (or an incident manager) validates, dismisses, updates
publicly, changes severity, hands off, resolves, merges and closes; support
declares and reopens; anyone working the incident may acknowledge it or post
an internal update.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import attrs
import pytest

import desk_support as support
from desk_support import (
    ENG_CHAT,
    ENG_SUPPORT,
    IM,
    MONITOR,
    SUPPORT_AGENT,
    Snapshot,
    link_tickets,
    make_desk,
    open_incident,
    potential_incident,
    signal,
    snapshot,
)
from incident_lifecycle import (
    Actor,
    NotPermitted,
    RemediationItem,
    Review,
    Role,
)
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.ports import Store
from incident_lifecycle.testing import FakeClock

store_factory = support.store_factory
store = support.store
clock = support.clock
notifier = support.notifier
desk = support.desk

ACTORS = {
    "owner-eng": ENG_SUPPORT,
    "other-eng": ENG_CHAT,
    "support": SUPPORT_AGENT,
    "monitoring": MONITOR,
    "incident-manager": IM,
}
TICKETS = ("T-1", "T-2")


@attrs.frozen
class World:
    """Incidents of product ``support`` (owned by support-eng) in every state a command needs."""

    potential: str
    potential_alert: str
    open: str
    resolved: str
    chat_open: str


def build_world(desk: IncidentDesk) -> World:
    """Create one incident of each kind the commands act on."""
    potential = potential_incident(desk, fp="fp-p", region="pod1")
    open_id = open_incident(desk, fp="fp-o", region="pod2")
    link_tickets(desk, open_id, list(TICKETS))
    resolved = open_incident(desk, fp="fp-r", region="pod3")
    desk.resolve_incident(resolved, IM, "Fixed.")
    chat_open = open_incident(desk, fp="fp-c", product="chat")
    (alert,) = desk.alerts_of(potential)
    return World(potential, alert.id, open_id, resolved, chat_open)


REVIEW = Review(
    root_cause="A bad deploy.",
    remediation=(
        RemediationItem(description="Canary it.", owner_team="support-eng", due=date(2026, 5, 1)),
    ),
)

Command = Callable[[IncidentDesk, World, Actor], Any]

COMMANDS: dict[str, tuple[Command, set[str]]] = {
    "receive_alert": (
        lambda d, w, a: d.receive_alert(signal("fp-new", region="pod9"), by=a),
        {"monitoring", "incident-manager"},
    ),
    "receive_alerts": (
        lambda d, w, a: d.receive_alerts([signal("fp-p"), signal("fp-new")], by=a),
        {"monitoring", "incident-manager"},
    ),
    "clear_alert": (
        lambda d, w, a: d.clear_alert("fp-p", by=a),
        {"monitoring", "incident-manager"},
    ),
    "detach_alert": (
        lambda d, w, a: d.detach_alert(w.potential_alert, a, into=w.open),
        {"owner-eng", "other-eng", "monitoring", "incident-manager"},
    ),
    "acknowledge": (
        lambda d, w, a: d.acknowledge(w.potential, a),
        {"owner-eng", "other-eng", "monitoring", "incident-manager"},
    ),
    "validate_incident": (
        lambda d, w, a: d.validate_incident(w.potential, a, "SEV2"),
        {"owner-eng", "incident-manager"},
    ),
    "dismiss_incident": (
        lambda d, w, a: d.dismiss_incident(w.potential, a, "Noise."),
        {"owner-eng", "incident-manager"},
    ),
    "declare_incident": (
        lambda d, w, a: d.declare_incident(
            a, title="Pages fail", product="support", severity="SEV1", region="pod9"
        ),
        {"owner-eng", "other-eng", "support", "incident-manager"},
    ),
    "post_update-public": (
        lambda d, w, a: d.post_update(w.open, a, "Investigating.", status="identified"),
        {"owner-eng", "incident-manager"},
    ),
    "post_update-internal": (
        lambda d, w, a: d.post_update(w.open, a, "Db failover.", visibility="internal"),
        {"owner-eng", "other-eng", "support", "monitoring", "incident-manager"},
    ),
    "change_severity": (
        lambda d, w, a: d.change_severity(w.open, a, "SEV0", reason="Spreading."),
        {"owner-eng", "incident-manager"},
    ),
    "hand_off": (
        lambda d, w, a: d.hand_off(w.open, a, "talk-eng", "Talk's bug."),
        {"owner-eng", "incident-manager"},
    ),
    "resolve_incident": (
        lambda d, w, a: d.resolve_incident(w.open, a, "Fixed."),
        {"owner-eng", "incident-manager"},
    ),
    "reopen_incident": (
        lambda d, w, a: d.reopen_incident(w.resolved, a, "Customers report it again."),
        {"owner-eng", "other-eng", "support", "incident-manager"},
    ),
    "merge_incidents": (
        lambda d, w, a: d.merge_incidents(w.open, w.chat_open, a),
        {"owner-eng", "incident-manager"},
    ),
    "close_incident": (
        lambda d, w, a: d.close_incident(w.resolved, a, REVIEW),
        {"owner-eng", "incident-manager"},
    ),
}
OWNER_ONLY = [
    name for name, (_, allowed) in COMMANDS.items() if allowed == {"owner-eng", "incident-manager"}
]

CASES = [
    pytest.param(name, role, role in allowed, id=f"{name}-{role}")
    for name, (_, allowed) in COMMANDS.items()
    for role in ACTORS
]


def assert_unchanged(desk: IncidentDesk, before: Snapshot) -> None:
    """Incident versions, timelines and the outbox (and everything else kept) are as before."""
    after = snapshot(desk, TICKETS)
    assert [dict(i)["version"] for i in after.incidents] == [
        dict(i)["version"] for i in before.incidents
    ]
    assert [len(t) for _, t in after.timelines] == [len(t) for _, t in before.timelines]
    assert after.outbox == before.outbox
    assert after == before


@pytest.mark.parametrize(("command", "role", "allowed"), CASES)
def test_permission_table(desk: IncidentDesk, command: str, role: str, allowed: bool) -> None:
    """Each command runs for the roles section 8 allows and is refused, changing nothing, else."""
    world = build_world(desk)
    run, _ = COMMANDS[command]
    actor = ACTORS[role]
    before = snapshot(desk, TICKETS)

    if allowed:
        run(desk, world, actor)
        assert snapshot(desk, TICKETS) != before
        return
    with pytest.raises(NotPermitted) as info:
        run(desk, world, actor)
    assert info.value.actor == str(actor)
    assert_unchanged(desk, before)


@pytest.mark.parametrize("command", OWNER_ONLY)
def test_owner_rights_follow_a_hand_off(store: Store, clock: FakeClock, command: str) -> None:
    """After a hand-off the new owner team has the owner-only rights and the old one loses them."""
    desk = make_desk(store, clock=clock)
    world = build_world(desk)
    desk.hand_off(world.potential, ENG_SUPPORT, "chat-eng", "Chat's alert.")
    desk.hand_off(world.open, ENG_SUPPORT, "chat-eng", "Chat's bug.")
    resolved = open_incident(desk, fp="fp-r2", region="pod4")
    desk.hand_off(resolved, IM, "chat-eng", "Chat's bug.")
    desk.resolve_incident(resolved, ENG_CHAT, "Fixed.")
    world = attrs.evolve(
        world, resolved=resolved, chat_open=open_incident(desk, fp="t", product="talk")
    )
    run, _ = COMMANDS[command]
    before = snapshot(desk, TICKETS)

    with pytest.raises(NotPermitted):
        run(desk, world, ENG_SUPPORT)
    assert_unchanged(desk, before)

    run(desk, world, ENG_CHAT)
    assert snapshot(desk, TICKETS) != before


@pytest.mark.parametrize("product", ["support", "chat", "talk", "guide"])
def test_only_the_owning_team_validates(desk: IncidentDesk, product: str) -> None:
    """Of all engineering teams, only the one owning the product validates its incident."""
    incident_id = potential_incident(desk, fp=f"fp-{product}", product=product)
    teams = sorted(set(support.OWNERSHIP.values()))
    before = snapshot(desk)

    for team in teams:
        engineer = Actor(name=f"eng-{team}", role=Role.ENGINEERING, team=team)
        if team == support.OWNERSHIP[product]:
            continue
        with pytest.raises(NotPermitted, match=f"the owner team is {support.OWNERSHIP[product]}"):
            desk.validate_incident(incident_id, engineer, "SEV2")
        with pytest.raises(NotPermitted):
            desk.dismiss_incident(incident_id, engineer, "Noise.")

    assert snapshot(desk) == before
    owner = Actor(name="owner", role=Role.ENGINEERING, team=support.OWNERSHIP[product])
    assert desk.validate_incident(incident_id, owner, "SEV2").severity is not None


def test_ownership_map_is_configuration(store: Store, clock: FakeClock) -> None:
    """With support owned by chat-eng, chat-eng validates support's incidents, not support-eng."""
    desk = make_desk(store, clock=clock, ownership={"support": "chat-eng"})
    incident_id = potential_incident(desk)
    assert desk.incident(incident_id).owner_team == "chat-eng"

    with pytest.raises(NotPermitted):
        desk.validate_incident(incident_id, ENG_SUPPORT, "SEV2")
    desk.validate_incident(incident_id, ENG_CHAT, "SEV2")

    assert desk.incident(incident_id).is_open


def test_alert_intake_defaults_to_the_monitoring_actor(desk: IncidentDesk) -> None:
    """Without an actor, intake and clearing run as monitoring and are permitted."""
    receipt = desk.receive_alert(signal("fp-1"))
    desk.clear_alert("fp-1")

    (detected, recovered, dismissed) = desk.timeline(receipt.incident_id)
    assert {e.actor.role for e in (detected, recovered, dismissed)} == {Role.MONITORING}
