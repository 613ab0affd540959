"""No command leaves partial state behind (DESIGN sections 6 and 9).

A failure is injected inside a command's transaction, right after a chosen
store call has made its change (or in a message template), and the store,
timelines and outbox must read exactly as before. Refused commands
(``InvalidTransition``, ``NotPermitted``, ``InvalidInput``, ``NotFound``)
must change nothing either. The property test runs random command sequences
on two desks sharing one clock: one whose store and templates fail on plan,
and a shadow that never fails; after every step both must read the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import desk_support as support
from desk_support import (
    ENG_CHAT,
    ENG_SUPPORT,
    IM,
    MONITOR,
    START,
    SUPPORT_AGENT,
    FaultPlan,
    FaultyTemplates,
    InjectedFault,
    ObservedStore,
    canonical,
    link_tickets,
    make_desk,
    signal,
    snapshot,
)
from incident_lifecycle import (
    OPEN_STATUSES,
    Actor,
    IncidentStatus,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPermitted,
    Review,
)
from incident_lifecycle.adapters import RecordingNotifier
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.ports import Store
from incident_lifecycle.testing import FakeClock, FlakyNotifier

store_factory = support.store_factory

REFUSALS = (InvalidTransition, NotPermitted, InvalidInput, NotFound)
TICKETS = tuple(f"T-{n}" for n in range(12))


def rejecting_notifier() -> FlakyNotifier:
    """A notifier that delivers everything except to ticket T-1, which refuses every message."""
    return FlakyNotifier(reject_recipients={"T-1"})


def plain_desk(store: Store, clock: FakeClock) -> IncidentDesk:
    """A desk that never fails on purpose (its notifier still refuses ticket T-1)."""
    return make_desk(store, rejecting_notifier(), clock, seed=7)


def faulty_desk(store: Store, clock: FakeClock, plan: FaultPlan) -> IncidentDesk:
    """A desk whose store and templates report every call to ``plan`` (and fail on it)."""
    return make_desk(
        ObservedStore(store, plan),
        rejecting_notifier(),
        clock,
        templates=FaultyTemplates.shipped(plan),
        seed=7,
    )


def sent_keys(desk: IncidentDesk) -> list[str]:
    """The keys of everything the desk's notifier delivered, in order."""
    notifier = desk.notifier
    assert isinstance(notifier, FlakyNotifier)
    assert isinstance(notifier.inner, RecordingNotifier)
    return [n.key for n in notifier.inner.sent]


# -- every failure point of every command ---------------------------------------


@attrs.frozen
class Scenario:
    """Ids made by :func:`build_scenario`."""

    potential: str
    open: str
    resolved: str
    chat_open: str
    alert: str


def build_scenario(desk: IncidentDesk) -> Scenario:
    """Potential, open (with linked tickets), resolved and a second open incident.

    A public update to the open incident was delivered; ticket T-1 refused it,
    so it is a dead letter.
    """
    potential = desk.receive_alerts([signal("fp-p1"), signal("fp-p2")]).receipts["fp-p1"]
    open_id = desk.receive_alert(signal("fp-o", region="pod2")).incident_id
    desk.validate_incident(open_id, IM, "SEV2")
    link_tickets(desk, open_id, ["T-1", "T-2", "T-3"])
    resolved = desk.receive_alert(signal("fp-r", region="pod3")).incident_id
    desk.validate_incident(resolved, IM, "SEV1")
    link_tickets(desk, resolved, ["T-4"])
    desk.resolve_incident(resolved, IM, "Fixed.")
    chat_open = desk.declare_incident(
        SUPPORT_AGENT, title="Chat down", product="chat", severity="SEV1"
    ).id
    desk.post_update(open_id, IM, "Investigating.")
    desk.deliver()
    assert [entry.notification.recipient for entry in desk.dead_letters()] == ["T-1"]
    return Scenario(potential.incident_id, open_id, resolved, chat_open, potential.alert_id)


COMMANDS: dict[str, Callable[[IncidentDesk, Scenario], Any]] = {
    "receive_alerts": lambda d, s: d.receive_alerts(
        [
            signal("fp-p1"),
            signal("fp-new1"),
            signal("fp-o", region="pod2"),
            signal("fp-new2", region="pod2"),
            signal("fp-chat", product="chat", region=None),
            signal("fp-talk", product="talk"),
        ]
    ),
    "clear_alert-recover": lambda d, s: d.clear_alert("fp-p1"),
    "clear_alert-noted": lambda d, s: d.clear_alert("fp-o"),
    "detach_alert-own": lambda d, s: d.detach_alert(s.alert, IM),
    "detach_alert-into": lambda d, s: d.detach_alert(s.alert, IM, into=s.open),
    "acknowledge": lambda d, s: d.acknowledge(s.potential, ENG_SUPPORT),
    "validate_incident": lambda d, s: d.validate_incident(s.potential, ENG_SUPPORT, "SEV1"),
    "dismiss_incident": lambda d, s: d.dismiss_incident(s.potential, ENG_SUPPORT, "Noise."),
    "declare_incident": lambda d, s: d.declare_incident(
        ENG_CHAT, title="Calls drop", product="talk", severity="SEV2"
    ),
    "post_update-public": lambda d, s: d.post_update(
        s.open, ENG_SUPPORT, "Identified.", status="identified"
    ),
    "post_update-internal": lambda d, s: d.post_update(
        s.open, MONITOR, "Failover.", visibility="internal"
    ),
    "change_severity": lambda d, s: d.change_severity(s.open, IM, "SEV0"),
    "hand_off": lambda d, s: d.hand_off(s.open, ENG_SUPPORT, "chat-eng", "Chat's bug."),
    "resolve_incident": lambda d, s: d.resolve_incident(s.open, ENG_SUPPORT, "Fixed."),
    "reopen_incident": lambda d, s: d.reopen_incident(s.resolved, SUPPORT_AGENT, "Back."),
    "merge_incidents": lambda d, s: d.merge_incidents(s.open, s.chat_open, IM),
    "close_incident": lambda d, s: d.close_incident(s.resolved, IM, Review(root_cause="dns")),
    "redrive_dead_letters": lambda d, s: d.redrive_dead_letters(),
}


def _calls_of(name: str, store_factory: Callable[[], Store]) -> dict[str, int]:
    """Run command ``name`` once, unfailing, and return how often it called each point."""
    plan = FaultPlan()
    desk = faulty_desk(store_factory(), FakeClock(START), plan)
    scenario = build_scenario(desk)
    plan.arm(None)
    COMMANDS[name](desk, scenario)
    return dict(plan.calls)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_failure_at_every_call_of_a_command_rolls_it_back(
    store_factory: Callable[[], Store], name: str
) -> None:
    """A failure after any store call (or render) of a command leaves everything as before."""
    calls = _calls_of(name, store_factory)
    clean = plain_desk(store_factory(), FakeClock(START))
    COMMANDS[name](clean, build_scenario(clean))
    expected = canonical(snapshot(clean, TICKETS))
    assert calls, "the command made no store call"

    for point, count in sorted(calls.items()):
        for at in range(1, count + 1):
            plan = FaultPlan()
            desk = faulty_desk(store_factory(), FakeClock(START), plan)
            scenario = build_scenario(desk)
            before = snapshot(desk, TICKETS)
            plan.arm(point, at)

            with pytest.raises(InjectedFault):
                COMMANDS[name](desk, scenario)

            assert snapshot(desk, TICKETS) == before, f"{point} call {at} left state behind"
            COMMANDS[name](desk, scenario)  # the same command, no longer failing
            retried = canonical(snapshot(desk, TICKETS))
            assert retried == expected, f"retry after {point} call {at} differs"


# -- random command sequences -----------------------------------------------------

_FINGERPRINTS = {
    "a": ("support", "pod1"),
    "b": ("support", "pod1"),
    "c": ("support", "pod2"),
    "d": ("chat", "pod1"),
    "e": ("talk", None),
    "x": ("billing", "pod1"),  # no team owns billing: the whole batch is refused
}
_ACTORS: tuple[Actor, ...] = (
    IM,
    IM,
    IM,
    ENG_SUPPORT,
    ENG_SUPPORT,
    ENG_CHAT,
    SUPPORT_AGENT,
    MONITOR,
)
_POINTS = (  # append and save_incident twice: nearly every command reaches them
    "append",
    "save_incident",
    "new_id",
    "count_repeats",
    "add_alerts",
    "save_alerts",
    "add_incident",
    "save_incident",
    "add_update",
    "save_reports",
    "move_links",
    "append",
    "enqueue",
    "render",
)
_OPS = (
    "receive",
    "clear",
    "detach",
    "acknowledge",
    "validate",
    "dismiss",
    "declare",
    "post",
    "severity",
    "hand_off",
    "resolve",
    "reopen",
    "merge",
    "close",
    "link",
    "advance",
    "deliver",
    "redrive",
)
_LOCAL_OPS = frozenset({"link", "advance", "deliver"})


@attrs.frozen
class Step:
    """One random command: its arguments are picked from the desk's state by index."""

    op: str
    actor: int
    first: int
    second: int
    choice: int
    batch: tuple[str, ...]
    fault: tuple[str, int]
    """Where the command fails (a store call or ``render``), if it gets that far."""


_steps = st.builds(
    Step,
    op=st.sampled_from(_OPS),
    actor=st.integers(0, len(_ACTORS) - 1),
    first=st.integers(0, 7),
    second=st.integers(0, 7),
    choice=st.integers(0, 11),
    batch=st.lists(st.sampled_from("aaabbcde"), min_size=1, max_size=5).map(tuple),
    fault=st.tuples(st.sampled_from(_POINTS), st.sampled_from((1, 1, 1, 2))),
)

_WANTS = {
    "acknowledge": frozenset({IncidentStatus.DETECTED, *OPEN_STATUSES}),
    "validate": frozenset({IncidentStatus.DETECTED}),
    "dismiss": frozenset({IncidentStatus.DETECTED}),
    "reopen": frozenset({IncidentStatus.RESOLVED}),
    "close": frozenset({IncidentStatus.RESOLVED}),
}
"""The incidents a command applies to (by default: the open ones)."""


def _incidents(desk: IncidentDesk, statuses: frozenset[IncidentStatus] | None = None) -> list[str]:
    with desk.store.transaction() as tx:
        found = tx.incidents_detected_between(None, None)
    return [i.id for i in found if statuses is None or i.status in statuses]


def _pick(items: list[str], index: int) -> str:
    return items[index % len(items)] if items else "INC-404"


def _targets(desk: IncidentDesk, step: Step) -> tuple[str, str]:
    """Two incidents for the step: mostly ones it applies to, sometimes any (to be refused)."""
    every = _incidents(desk)
    fitting = _incidents(desk, _WANTS.get(step.op, OPEN_STATUSES)) or every
    pool = every if step.second % 4 == 0 else fitting
    return _pick(pool, step.first), _pick(pool, step.second)


def _command(desk: IncidentDesk, step: Step) -> Callable[[IncidentDesk], object]:
    """The step as a call, its arguments chosen from ``desk``'s current state."""
    by = _ACTORS[step.actor]
    one, two = _targets(desk, step)
    severity = f"SEV{step.choice % 5}"
    text = f"Step text {step.choice}."
    op = step.op
    if op == "receive":
        batch = step.batch + (("x",) if step.choice == 11 else ())
        signals = [signal(fp, *_FINGERPRINTS[fp]) for fp in batch]
        return lambda d: d.receive_alerts(signals, by=by if step.choice % 3 else None)
    if op == "clear":
        return lambda d: d.clear_alert(step.batch[0], by=by if step.choice % 3 else None)
    if op == "detach":
        alerts = [a.id for i in _incidents(desk) for a in desk.alerts_of(i) if a.active]
        into = None if step.choice % 2 else two
        return lambda d: d.detach_alert(_pick(alerts, step.first), by, into=into)
    if op == "redrive":
        return lambda d: d.redrive_dead_letters(by=by)
    if op == "declare":
        product = ("support", "chat", "talk", "support", "chat", "billing")[step.choice % 6]
        return lambda d: d.declare_incident(by, title=text, product=product, severity=severity)
    if op == "post":
        status = (None, "investigating", "identified", "monitoring", "resolved")[step.choice % 5]
        visibility = "internal" if step.choice % 3 == 0 else "public"
        return lambda d: d.post_update(one, by, text, visibility=visibility, status=status)
    team = ("support-eng", "chat-eng", "talk-eng")[step.choice % 3]
    simple: dict[str, Callable[[IncidentDesk], object]] = {
        "acknowledge": lambda d: d.acknowledge(one, by),
        "validate": lambda d: d.validate_incident(one, by, severity),
        "dismiss": lambda d: d.dismiss_incident(one, by, text),
        "severity": lambda d: d.change_severity(one, by, severity, reason=text),
        "hand_off": lambda d: d.hand_off(one, by, team, text),
        "resolve": lambda d: d.resolve_incident(one, by, text),
        "reopen": lambda d: d.reopen_incident(one, by, text),
        "merge": lambda d: d.merge_incidents(one, two, by),
        "close": lambda d: d.close_incident(one, by, Review(root_cause=text)),
    }
    return simple[op]


def _local(desks: tuple[IncidentDesk, IncidentDesk], clock: FakeClock, step: Step) -> None:
    """Steps outside the commands under test, applied to both desks alike."""
    if step.op == "advance":
        clock.advance(minutes=[1, 5, 30, 600, 1500][step.choice % 5])
        return
    for desk in desks:
        if step.op == "deliver":
            desk.deliver()
            continue
        incidents = _incidents(desk)
        ticket = TICKETS[step.choice]
        if incidents and desk.report(ticket) is None:
            link_tickets(desk, _pick(incidents, step.first), [ticket])


def _outcome(run: Callable[[IncidentDesk], object], desk: IncidentDesk) -> type | None:
    try:
        run(desk)
    except REFUSALS as refusal:
        return type(refusal)
    return None


def _seed(desk: IncidentDesk) -> None:
    """A small starting world: two potential incidents and an open one with two tickets."""
    signals = [signal(fp, *_FINGERPRINTS[fp]) for fp in "acd"]
    opened = desk.receive_alerts(signals).receipts["a"].incident_id
    desk.validate_incident(opened, IM, "SEV1")
    link_tickets(desk, opened, list(TICKETS[:2]))


@settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
)
@given(steps=st.lists(_steps, min_size=1, max_size=20))
def test_random_commands_never_leave_partial_state(
    store_factory: Callable[[], Store], steps: list[Step]
) -> None:
    """For any command sequence, a failed or refused command changes nothing, and the
    failing desk ends up reading the same as a shadow desk that never fails."""
    clock = FakeClock(START)
    plan = FaultPlan()
    desk = faulty_desk(store_factory(), clock, plan)
    shadow = plain_desk(store_factory(), clock)
    _seed(desk)
    _seed(shadow)

    for step in steps:
        if step.op in _LOCAL_OPS:
            _local((desk, shadow), clock, step)
            continue
        run = _command(desk, step)
        before = snapshot(desk, TICKETS)
        plan.arm(*step.fault)
        try:
            outcome = _outcome(run, desk)
        except InjectedFault:
            assert snapshot(desk, TICKETS) == before, f"{step} left state behind"
            plan.disarm()
            outcome = _outcome(run, desk)  # the retry behaves as if nothing had happened
        finally:
            plan.disarm()
        if outcome is not None:
            assert snapshot(desk, TICKETS) == before, f"refused {step} changed state"
        assert _outcome(_command(shadow, step), shadow) is outcome, step

    assert canonical(snapshot(desk, TICKETS)) == canonical(snapshot(shadow, TICKETS))
    assert canonical(sent_keys(desk)) == canonical(sent_keys(shadow))
