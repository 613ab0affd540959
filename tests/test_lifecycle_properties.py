"""Property tests of the lifecycles.

(a) The table compiled from each class agrees with the python-statemachine
engine on random event sequences. (b) One hypothesis state machine per
lifecycle drives ``Lifecycle.fire`` and checks every step against a reference
table written out here by hand, not derived from the classes.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from statemachine.exceptions import TransitionNotAllowed

from incident_lifecycle import (
    Alert,
    AlertStatus,
    CustomerReport,
    IncidentStatus,
    InvalidTransition,
    ReportStatus,
    ServiceIncident,
)
from incident_lifecycle.lifecycle import (
    ALERT_LIFECYCLE,
    INCIDENT_LIFECYCLE,
    REPORT_LIFECYCLE,
    Lifecycle,
)

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(hours=24)

# The reference: status -> {event: target}, from the design (DESIGN.md section 4).
ALERT_REFERENCE: dict[str, dict[str, str]] = {
    "received": {"validate": "validated", "dismiss": "dismissed", "recover": "recovered"},
    "validated": {"regroup": "received", "recover": "recovered"},
    "dismissed": {},
    "recovered": {},
}
INCIDENT_REFERENCE: dict[str, dict[str, str]] = {
    "detected": {"validate": "investigating", "dismiss": "dismissed"},
    "investigating": {
        "identify": "identified",
        "monitor": "monitoring",
        "resolve": "resolved",
        "merge": "merged",
    },
    "identified": {
        "investigate": "investigating",
        "monitor": "monitoring",
        "resolve": "resolved",
        "merge": "merged",
    },
    "monitoring": {
        "investigate": "investigating",
        "identify": "identified",
        "resolve": "resolved",
        "merge": "merged",
    },
    "resolved": {"reopen": "investigating", "close": "closed"},  # reopen: within the window
    "closed": {},
    "dismissed": {},
    "merged": {},
}
REPORT_REFERENCE: dict[str, dict[str, str]] = {
    "received": {"link": "linked", "troubleshoot": "troubleshooting"},
    "linked": {"unlink": "troubleshooting", "solve": "solved"},
    "troubleshooting": {"link": "linked", "solve": "solved", "transfer": "transferred"},
    "solved": {},
    "transferred": {},
}
# Events of every lifecycle, plus names none declares: each lifecycle sees the others' as unknown.
EVENT_NAMES = [
    "validate",
    "dismiss",
    "recover",
    "regroup",
    "investigate",
    "identify",
    "monitor",
    "resolve",
    "reopen",
    "close",
    "merge",
    "link",
    "unlink",
    "troubleshoot",
    "solve",
    "transfer",
    "",
    "Resolve",
    "frobnicate",
]
OPEN_PHASES = {"investigating", "identified", "monitoring"}
REOPEN_WINDOWS = [None, timedelta(hours=1), DAY, timedelta(hours=48)]
# How far the clock moves before an event, in seconds: often right at a window's edge.
EDGES_OF_WINDOWS = [hours * 3600 + delta for hours in (1, 24, 48) for delta in (-1, 0, 1)]
CLOCK_TICKS = st.one_of(
    st.integers(min_value=0, max_value=3600),
    st.integers(min_value=0, max_value=48 * 3600),
    st.sampled_from(EDGES_OF_WINDOWS),
)


def make_alert(alert_id: str = "AL-1", **fields: Any) -> Alert:
    return Alert(
        id=alert_id,
        fingerprint=f"fp-{alert_id}",
        product="mail",
        kind="error_rate",
        summary="Mail returns 500s",
        first_seen_at=T0,
        last_seen_at=T0,
        **fields,
    )


def make_incident(incident_id: str = "INC-1", **fields: Any) -> ServiceIncident:
    return ServiceIncident(
        id=incident_id,
        title="Mail returns errors",
        products=("mail",),
        owner_team="mail-team",
        detected_at=T0,
        **fields,
    )


def make_report(ticket_id: str = "T-1", **fields: Any) -> CustomerReport:
    return CustomerReport(
        ticket_id=ticket_id,
        account_id="acct-1",
        product="mail",
        symptom="errors",
        summary="I get an error page",
        reported_at=T0,
        **fields,
    )


def snapshot(entity: Any) -> dict[str, Any]:
    return attrs.asdict(entity, recurse=False)


# --- (a) the compiled table agrees with the engine -------------------------------------------


def unknown_events(lifecycle: Lifecycle[Any]) -> st.SearchStrategy[str]:
    """Event names the lifecycle does not declare.

    Two kinds of name are left out because the raw engine does not refuse them
    with ``TransitionNotAllowed`` (``fire`` refuses both from the table first,
    see ``test_names_the_raw_engine_mishandles_are_refused``): dotted names,
    which SCXML matching accepts as sub-events of a declared event
    (``validate.x``), and names of other machine attributes (``send``), which
    raise ``AttributeError``.
    """
    return st.text(alphabet=string.ascii_letters + "_- ", max_size=12).filter(
        lambda name: name not in lifecycle.events and not hasattr(lifecycle.machine, name)
    )


def event_sequences(lifecycle: Lifecycle[Any]) -> st.SearchStrategy[list[Any]]:
    """Steps of (event, seconds the clock moves, reopen window or None for the default)."""
    events = st.one_of(st.sampled_from(sorted(lifecycle.events)), unknown_events(lifecycle))
    seconds = st.one_of(CLOCK_TICKS, st.integers(min_value=-7200, max_value=0))
    windows = st.sampled_from(REOPEN_WINDOWS)
    return st.lists(st.tuples(events, seconds, windows), max_size=30)


@pytest.mark.parametrize(
    ("lifecycle", "factory", "status_type"),
    [
        pytest.param(ALERT_LIFECYCLE, make_alert, AlertStatus, id="alert"),
        pytest.param(INCIDENT_LIFECYCLE, make_incident, IncidentStatus, id="incident"),
        pytest.param(REPORT_LIFECYCLE, make_report, ReportStatus, id="report"),
    ],
)
@given(data=st.data())
def test_compiled_table_agrees_with_the_engine(lifecycle, factory, status_type, data):
    """On random event sequences, ``next_status`` predicts every engine decision and status."""
    start = data.draw(st.sampled_from(list(status_type)), label="start")
    resolved_ago = data.draw(st.integers(min_value=0, max_value=48 * 60), label="resolved_ago")
    fields: dict[str, Any] = {"status": start}
    if start is IncidentStatus.RESOLVED:
        fields["resolved_at"] = T0 - timedelta(minutes=resolved_ago)
    entity = factory(**fields)
    table_side = factory(**fields)
    engine = lifecycle.machine(model=entity, state_field="status")
    now = T0
    for event, seconds, window in data.draw(event_sequences(lifecycle), label="steps"):
        now += timedelta(seconds=seconds)
        context: dict[str, Any] = {"now": now}
        if window is not None:
            context["reopen_window"] = window
        predicted = lifecycle.next_status(entity, event, **context)
        before = entity.status
        try:
            lifecycle.fire(table_side, event, **context)
        except InvalidTransition:
            table_refused = True
        else:
            table_refused = False
        try:
            engine.send(event, **context)
        except TransitionNotAllowed:
            assert predicted is None, f"engine refused {event!r} from {before}"
            assert table_refused
            assert entity.status is before
        else:
            assert predicted is not None, f"engine accepted {event!r} from {before}"
            assert not table_refused
            assert entity.status == predicted
            assert type(entity.status) is status_type
        # ``fire`` (the table) leaves exactly what the engine leaves: status and milestones.
        assert snapshot(table_side) == snapshot(entity)


# --- (b) one state machine per lifecycle against the reference -------------------------------


@attrs.define
class Expected:
    """What the reference says one entity should look like."""

    status: str
    stamps: dict[str, datetime | None]


class LifecycleMachine(RuleBasedStateMachine):
    """Drives ``Lifecycle.fire`` on a few entities and checks each step against the reference."""

    lifecycle: ClassVar[Lifecycle[Any]]
    reference: ClassVar[dict[str, dict[str, str]]]
    initial: ClassVar[str]
    final: ClassVar[frozenset[str]]
    first_entry: ClassVar[dict[str, str]]  # status -> milestone stamped on first entry only
    latest_entry: ClassVar[dict[str, str]] = {}  # status -> milestone moved to the latest entry
    milestones: ClassVar[tuple[str, ...]] = ()

    entities = Bundle("entities")

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.made = 0
        self.live: list[Any] = []
        self.expected: dict[str, Expected] = {}
        self.previous: dict[str, dict[str, Any]] = {}
        self.reopened_in_window: set[str] = set()

    def make(self, number: int) -> Any:
        raise NotImplementedError

    def _new(self) -> Any:
        entity = self.make(self.made)
        self.made += 1
        self.live.append(entity)
        self.expected[entity.id] = Expected(self.initial, dict.fromkeys(self.milestones))
        return entity

    @initialize(target=entities)
    def first_entity(self) -> Any:
        return self._new()

    @precondition(lambda self: len(self.live) < 4)
    @rule(target=entities)
    def another_entity(self) -> Any:
        return self._new()

    @rule(
        entity=entities,
        event=st.sampled_from(EVENT_NAMES),
        seconds=CLOCK_TICKS,
        window=st.sampled_from(REOPEN_WINDOWS),
    )
    def fire_any_event(self, entity: Any, event: str, seconds: int, window: Any) -> None:
        """Any event name, declared by some lifecycle or by none, after the clock moves on."""
        self._fire(entity, event, seconds, window)

    @rule(
        entity=entities,
        data=st.data(),
        seconds=CLOCK_TICKS,
        window=st.sampled_from(REOPEN_WINDOWS),
    )
    def fire_a_declared_event(self, entity: Any, data: Any, seconds: int, window: Any) -> None:
        """An event the reference declares from the entity's status, to get deep into the graph."""
        declared = sorted(self.reference[self.expected[entity.id].status])
        event = data.draw(st.sampled_from(declared or ["frobnicate"]), label="event")
        self._fire(entity, event, seconds, window)

    def _reference_target(self, expected: Expected, event: str, window: Any) -> str | None:
        target = self.reference[expected.status].get(event)
        if event == "reopen" and target is not None:
            resolved_at = expected.stamps["resolved_at"]
            if resolved_at is None or self.now - resolved_at > (window or DAY):
                return None
        return target

    def _fire(self, entity: Any, event: str, seconds: int, window: Any) -> None:
        self.now += timedelta(seconds=seconds)
        expected = self.expected[entity.id]
        target = self._reference_target(expected, event, window)
        context = {} if window is None else {"reopen_window": window}
        before = snapshot(entity)
        if target is None:
            with pytest.raises(InvalidTransition) as caught:
                self.lifecycle.fire(entity, event, now=self.now, **context)
            assert (caught.value.entity_id, caught.value.event) == (entity.id, event)
            assert caught.value.status == expected.status
            assert snapshot(entity) == before
            return
        self.lifecycle.fire(entity, event, now=self.now, **context)
        if event == "reopen":
            self.reopened_in_window.add(entity.id)
        expected.status = target
        first = self.first_entry.get(target)
        if first is not None and expected.stamps[first] is None:
            expected.stamps[first] = self.now
        latest = self.latest_entry.get(target)
        if latest is not None:
            previous = expected.stamps[latest]
            expected.stamps[latest] = self.now if previous is None else max(previous, self.now)
        after = snapshot(entity)
        changed = {name for name in before if before[name] != after[name]}
        assert changed <= {"status", *self.milestones}

    @invariant()
    def entities_match_the_reference(self) -> None:
        """Every entity's status and milestones are what the reference computed."""
        for entity in self.live:
            expected = self.expected[entity.id]
            assert entity.status.value == expected.status
            assert {name: getattr(entity, name) for name in self.milestones} == expected.stamps
            assert self.lifecycle.allowed_events(entity.status) == set(
                self.reference[expected.status]
            )

    @invariant()
    def finals_stay_final_and_milestones_never_go_back(self) -> None:
        """Finals stay final; resolved goes back to investigating only by a reopen in the window."""
        for entity in self.live:
            now = snapshot(entity)
            was = self.previous.get(entity.id)
            self.previous[entity.id] = now
            if was is None:
                continue
            if was["status"].value in self.final:
                assert now["status"] is was["status"]
            if was["status"].value == "resolved" and now["status"].value == "investigating":
                assert entity.id in self.reopened_in_window
            for name in self.milestones:
                if was[name] is not None:
                    assert now[name] is not None
                    assert now[name] >= was[name]
                    if name not in self.latest_entry.values():
                        assert now[name] == was[name]
            self.reopened_in_window.discard(entity.id)


class AlertMachine(LifecycleMachine):
    """Alerts, against ``ALERT_REFERENCE``."""

    lifecycle = ALERT_LIFECYCLE
    reference = ALERT_REFERENCE
    initial = "received"
    final = frozenset({"dismissed", "recovered"})
    first_entry: ClassVar[dict[str, str]] = {}

    def make(self, number: int) -> Any:
        return make_alert(f"AL-{number}")


class IncidentMachine(LifecycleMachine):
    """Incidents, against ``INCIDENT_REFERENCE`` and the reopen window."""

    lifecycle = INCIDENT_LIFECYCLE
    reference = INCIDENT_REFERENCE
    initial = "detected"
    final = frozenset({"closed", "dismissed", "merged"})
    first_entry: ClassVar[dict[str, str]] = {
        "investigating": "opened_at",
        "identified": "identified_at",
        "monitoring": "monitoring_at",
        "closed": "closed_at",
        "dismissed": "ended_at",
        "merged": "ended_at",
    }
    latest_entry: ClassVar[dict[str, str]] = {"resolved": "resolved_at"}
    milestones = (
        "opened_at",
        "identified_at",
        "monitoring_at",
        "resolved_at",
        "closed_at",
        "ended_at",
    )

    def make(self, number: int) -> Any:
        return make_incident(f"INC-{number}")

    @precondition(lambda self: OPEN_PHASES & {e.status for e in self.expected.values()})
    @rule(
        data=st.data(),
        window=st.sampled_from(REOPEN_WINDOWS),
        offset=st.one_of(st.sampled_from([-1, 0, 1]), st.integers(min_value=-3600, max_value=3600)),
    )
    def resolve_then_reopen_near_the_window_end(self, data: Any, window: Any, offset: int) -> None:
        """Resolve an open incident, then reopen it ``offset`` seconds from its window's end."""
        candidates = [e for e in self.live if self.expected[e.id].status in OPEN_PHASES]
        incident = data.draw(st.sampled_from(candidates), label="incident")
        self._fire(incident, "resolve", 0, None)
        due = incident.resolved_at + (window or DAY) + timedelta(seconds=offset)
        self._fire(incident, "reopen", max(0, int((due - self.now).total_seconds())), window)


class ReportMachine(LifecycleMachine):
    """Reports, against ``REPORT_REFERENCE``."""

    lifecycle = REPORT_LIFECYCLE
    reference = REPORT_REFERENCE
    initial = "received"
    final = frozenset({"solved", "transferred"})
    first_entry: ClassVar[dict[str, str]] = {"solved": "ended_at", "transferred": "ended_at"}
    milestones = ("ended_at",)

    def make(self, number: int) -> Any:
        return make_report(f"T-{number}")


# The loaded profile (tests/conftest.py) decides examples and steps.
TestAlertLifecycle = AlertMachine.TestCase
TestAlertLifecycle.settings = settings(settings.default, deadline=None)
TestIncidentLifecycle = IncidentMachine.TestCase
TestIncidentLifecycle.settings = settings(settings.default, deadline=None)
TestReportLifecycle = ReportMachine.TestCase
TestReportLifecycle.settings = settings(settings.default, deadline=None)
