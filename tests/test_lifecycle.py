"""Unit tests of the three lifecycles: structure, the table, ``fire`` and ``fire_many``."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from incident_lifecycle import (
    FINAL_STATUSES,
    Alert,
    AlertStatus,
    CustomerReport,
    IncidentStatus,
    InvalidInput,
    InvalidTransition,
    ReportStatus,
    ServiceIncident,
)
from incident_lifecycle.lifecycle import (
    ALERT_LIFECYCLE,
    DEFAULT_REOPEN_WINDOW,
    INCIDENT_LIFECYCLE,
    REPORT_LIFECYCLE,
    Lifecycle,
)

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)

# What the design (section 4) says, written out by hand: (source, event, target).
ALERT_EDGES = {
    ("received", "validate", "validated"),
    ("received", "dismiss", "dismissed"),
    ("received", "recover", "recovered"),
    ("validated", "recover", "recovered"),  # the monitor cleared while its incident is open
    ("validated", "regroup", "received"),
}
INCIDENT_EDGES = {
    ("detected", "validate", "investigating"),
    ("detected", "dismiss", "dismissed"),
    ("investigating", "identify", "identified"),
    ("investigating", "monitor", "monitoring"),
    ("investigating", "resolve", "resolved"),
    ("investigating", "merge", "merged"),
    ("identified", "investigate", "investigating"),
    ("identified", "monitor", "monitoring"),
    ("identified", "resolve", "resolved"),
    ("identified", "merge", "merged"),
    ("monitoring", "investigate", "investigating"),
    ("monitoring", "identify", "identified"),
    ("monitoring", "resolve", "resolved"),
    ("monitoring", "merge", "merged"),
    ("resolved", "reopen", "investigating"),
    ("resolved", "close", "closed"),
}
REPORT_EDGES = {
    ("received", "link", "linked"),
    ("received", "troubleshoot", "troubleshooting"),
    ("troubleshooting", "link", "linked"),
    ("linked", "unlink", "troubleshooting"),
    ("linked", "solve", "solved"),
    ("troubleshooting", "solve", "solved"),
    ("troubleshooting", "transfer", "transferred"),
}

UNKNOWN_EVENTS = ["", "VALIDATE", "validate ", "close-it", "__initial__", "frobnicate"]


def make_alert(alert_id: str = "AL-1", **fields: Any) -> Alert:
    return Alert(
        id=alert_id,
        fingerprint=f"fp-{alert_id}",
        product="mail",
        kind="latency",
        summary="Mail answers slowly",
        first_seen_at=T0,
        last_seen_at=T0,
        **fields,
    )


def make_incident(incident_id: str = "INC-1", **fields: Any) -> ServiceIncident:
    return ServiceIncident(
        id=incident_id,
        title="Mail is slow",
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
        symptom="slow",
        summary="My mail takes minutes to load",
        reported_at=T0,
        **fields,
    )


CASES = [
    pytest.param(ALERT_LIFECYCLE, make_alert, AlertStatus, ALERT_EDGES, id="alert"),
    pytest.param(INCIDENT_LIFECYCLE, make_incident, IncidentStatus, INCIDENT_EDGES, id="incident"),
    pytest.param(REPORT_LIFECYCLE, make_report, ReportStatus, REPORT_EDGES, id="report"),
]


def snapshot(entity: Any) -> dict[str, Any]:
    return attrs.asdict(entity, recurse=False)


def refused_pairs() -> list[Any]:
    """Every (status, declared-or-unknown event) pair the design does not allow."""
    params = []
    for lifecycle, factory, status_type, edges, name in (
        (ALERT_LIFECYCLE, make_alert, AlertStatus, ALERT_EDGES, "alert"),
        (INCIDENT_LIFECYCLE, make_incident, IncidentStatus, INCIDENT_EDGES, "incident"),
        (REPORT_LIFECYCLE, make_report, ReportStatus, REPORT_EDGES, "report"),
    ):
        events = [*sorted({event for _, event, _ in edges}), "frobnicate"]
        for status in status_type:
            allowed = {event for source, event, _ in edges if source == status.value}
            for event in events:
                if event not in allowed:
                    params.append(
                        pytest.param(
                            lifecycle, factory, status, event, id=f"{name}-{status}-{event}"
                        )
                    )
    return params


def fire_path(lifecycle: Lifecycle[Any], entity: Any, events: list[str], start: datetime) -> None:
    for step, event in enumerate(events):
        lifecycle.fire(entity, event, now=start + step * HOUR)


# --- structure -------------------------------------------------------------------------------


@pytest.mark.parametrize(("lifecycle", "factory", "status_type", "edges"), CASES)
def test_statuses_are_the_status_enum_in_order(lifecycle, factory, status_type, edges):
    """A lifecycle's statuses are its entity's status enum values, in declaration order."""
    assert lifecycle.statuses == tuple(member.value for member in status_type)


@pytest.mark.parametrize(("lifecycle", "factory", "status_type", "edges"), CASES)
def test_initial_status_is_the_entity_default(lifecycle, factory, status_type, edges):
    """The initial status of a lifecycle is the status a new entity starts in."""
    assert lifecycle.initial == factory().status.value


@pytest.mark.parametrize(("lifecycle", "factory", "status_type", "edges"), CASES)
def test_transitions_are_exactly_the_designed_edges(lifecycle, factory, status_type, edges):
    """The compiled transitions are exactly the edges of the design, none more, none fewer."""
    compiled = [(t.source, t.event, t.target) for t in lifecycle.transitions]
    assert len(compiled) == len(set(compiled))
    assert set(compiled) == edges


@pytest.mark.parametrize(("lifecycle", "factory", "status_type", "edges"), CASES)
def test_events_are_the_edge_labels(lifecycle, factory, status_type, edges):
    """A lifecycle's events are exactly the labels of its edges."""
    assert lifecycle.events == {event for _, event, _ in edges}


@pytest.mark.parametrize(("lifecycle", "factory", "status_type", "edges"), CASES)
def test_allowed_events_lists_the_events_leaving_each_status(
    lifecycle, factory, status_type, edges
):
    """``allowed_events`` names, for every status, the events of the edges leaving it."""
    for status in status_type:
        expected = {event for source, event, _ in edges if source == status.value}
        assert lifecycle.allowed_events(status) == expected
        assert lifecycle.allowed_events(status.value) == expected


@pytest.mark.parametrize(("lifecycle", "factory", "status_type", "edges"), CASES)
def test_final_statuses_are_those_with_no_way_out(lifecycle, factory, status_type, edges):
    """The final statuses are exactly the statuses no edge leaves."""
    sources = {source for source, _, _ in edges}
    assert lifecycle.final == {m.value for m in status_type if m.value not in sources}
    for status in lifecycle.final:
        assert lifecycle.allowed_events(status) == frozenset()


def test_alert_final_statuses():
    """An alert ends dismissed or recovered; a validated alert can still be regrouped."""
    assert ALERT_LIFECYCLE.final == {"dismissed", "recovered"}


def test_incident_final_statuses_match_the_domain():
    """The incident lifecycle's final statuses are the domain's ``FINAL_STATUSES``."""
    assert INCIDENT_LIFECYCLE.final == {status.value for status in FINAL_STATUSES}


def test_report_final_statuses():
    """A report ends solved or transferred."""
    assert REPORT_LIFECYCLE.final == {"solved", "transferred"}


def test_only_reopen_is_guarded_and_by_the_reopen_window():
    """The one guarded edge is ``reopen``, guarded by ``within_reopen_window``."""
    guarded = [
        (t.source, t.event, t.guards)
        for lifecycle in (ALERT_LIFECYCLE, INCIDENT_LIFECYCLE, REPORT_LIFECYCLE)
        for t in lifecycle.transitions
        if t.guards
    ]
    assert guarded == [("resolved", "reopen", (("within_reopen_window", True),))]


def test_default_reopen_window_is_a_day():
    """Unless configured, an incident may be reopened for 24 hours after it resolved."""
    assert timedelta(hours=24) == DEFAULT_REOPEN_WINDOW


def test_mermaid_draws_every_edge_from_the_class():
    """``mermaid()`` draws the start, every edge with its guard, and every final status."""
    text = INCIDENT_LIFECYCLE.mermaid()
    lines = text.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert "    [*] --> detected" in lines
    assert "    resolved --> investigating : reopen [within_reopen_window]" in lines
    assert "    investigating --> resolved : resolve" in lines
    assert {f"    {status} --> [*]" for status in ("closed", "dismissed", "merged")} <= set(lines)
    assert len(lines) == 2 + len(INCIDENT_EDGES) + 3


# --- fire: allowed events --------------------------------------------------------------------


def test_fire_moves_an_alert_through_its_lifecycle():
    """An alert is validated, regrouped back to received, then recovered."""
    alert = make_alert()
    ALERT_LIFECYCLE.fire(alert, "validate", now=T0)
    assert alert.status is AlertStatus.VALIDATED
    ALERT_LIFECYCLE.fire(alert, "regroup", now=T0 + HOUR)
    assert alert.status is AlertStatus.RECEIVED
    ALERT_LIFECYCLE.fire(alert, "recover", now=T0 + 2 * HOUR)
    assert alert.status is AlertStatus.RECOVERED


def test_fire_dismisses_a_received_alert():
    """A received alert can be dismissed with its potential incident."""
    alert = make_alert()
    ALERT_LIFECYCLE.fire(alert, "dismiss", now=T0)
    assert alert.status is AlertStatus.DISMISSED


def test_fire_stores_the_enum_member():
    """After ``fire`` the entity holds a member of its status enum, not a bare string."""
    incident = make_incident()
    INCIDENT_LIFECYCLE.fire(incident, "validate", now=T0)
    assert type(incident.status) is IncidentStatus


def test_fire_changes_only_the_status_and_its_milestone():
    """A fired event changes the status and stamps one milestone; version and the rest stay."""
    incident = make_incident()
    before = snapshot(incident)
    INCIDENT_LIFECYCLE.fire(incident, "validate", now=T0 + HOUR)
    after = snapshot(incident)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"status", "opened_at"}
    assert after["version"] == before["version"]


def test_validate_stamps_opened_at():
    """Validating a potential incident opens it and stamps ``opened_at``."""
    incident = make_incident()
    INCIDENT_LIFECYCLE.fire(incident, "validate", now=T0 + HOUR)
    assert incident.status is IncidentStatus.INVESTIGATING
    assert incident.opened_at == T0 + HOUR


def test_opened_at_is_kept_when_investigating_again():
    """Investigating again (from monitoring, or by reopening) keeps the first ``opened_at``."""
    incident = make_incident()
    fire_path(INCIDENT_LIFECYCLE, incident, ["validate", "monitor", "investigate"], T0)
    assert incident.status is IncidentStatus.INVESTIGATING
    INCIDENT_LIFECYCLE.fire(incident, "resolve", now=T0 + 5 * HOUR)
    INCIDENT_LIFECYCLE.fire(incident, "reopen", now=T0 + 6 * HOUR)
    assert incident.opened_at == T0


def test_identified_and_monitoring_are_stamped_on_first_entry_only():
    """``identified_at`` and ``monitoring_at`` record the first entry into those phases."""
    incident = make_incident()
    fire_path(
        INCIDENT_LIFECYCLE,
        incident,
        ["validate", "identify", "monitor", "investigate", "identify", "monitor"],
        T0,
    )
    assert incident.status is IncidentStatus.MONITORING
    assert incident.identified_at == T0 + HOUR
    assert incident.monitoring_at == T0 + 2 * HOUR


def test_phases_may_follow_each_other_in_any_order():
    """The three open phases may follow any other, and resolve from any of them."""
    for phase_events in (["identify"], ["monitor"], ["identify", "monitor"], []):
        incident = make_incident()
        fire_path(INCIDENT_LIFECYCLE, incident, ["validate", *phase_events, "resolve"], T0)
        assert incident.status is IncidentStatus.RESOLVED


def test_resolve_stamps_resolved_at():
    """Resolving stamps ``resolved_at``."""
    incident = make_incident()
    fire_path(INCIDENT_LIFECYCLE, incident, ["validate", "resolve"], T0)
    assert incident.resolved_at == T0 + HOUR


def test_resolved_at_moves_forward_on_re_resolve():
    """Resolving a reopened incident moves ``resolved_at`` to the latest resolution."""
    incident = make_incident()
    fire_path(INCIDENT_LIFECYCLE, incident, ["validate", "resolve", "reopen", "resolve"], T0)
    assert incident.resolved_at == T0 + 3 * HOUR


def test_resolved_at_never_moves_backwards():
    """A resolution stamped before the recorded one (clock went back) keeps ``resolved_at``."""
    incident = make_incident()
    fire_path(INCIDENT_LIFECYCLE, incident, ["validate", "resolve", "reopen"], T0)
    INCIDENT_LIFECYCLE.fire(incident, "resolve", now=T0 - HOUR)
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.resolved_at == T0 + HOUR


def test_close_stamps_closed_at():
    """Closing a resolved incident stamps ``closed_at``."""
    incident = make_incident()
    fire_path(INCIDENT_LIFECYCLE, incident, ["validate", "resolve", "close"], T0)
    assert incident.status is IncidentStatus.CLOSED
    assert incident.closed_at == T0 + 2 * HOUR


def test_dismiss_stamps_ended_at():
    """Dismissing a potential incident stamps ``ended_at`` and nothing else."""
    incident = make_incident()
    INCIDENT_LIFECYCLE.fire(incident, "dismiss", now=T0 + HOUR)
    assert incident.status is IncidentStatus.DISMISSED
    assert incident.ended_at == T0 + HOUR
    assert incident.opened_at is None


@pytest.mark.parametrize("phase", ["investigating", "identified", "monitoring"])
def test_merge_from_any_open_phase_stamps_ended_at(phase):
    """Merging an open incident, whatever its phase, stamps ``ended_at``."""
    incident = make_incident(status=phase, opened_at=T0)
    INCIDENT_LIFECYCLE.fire(incident, "merge", now=T0 + HOUR)
    assert incident.status is IncidentStatus.MERGED
    assert incident.ended_at == T0 + HOUR


@pytest.mark.parametrize(
    ("path", "final"),
    [
        (["link", "solve"], ReportStatus.SOLVED),
        (["troubleshoot", "solve"], ReportStatus.SOLVED),
        (["troubleshoot", "transfer"], ReportStatus.TRANSFERRED),
        (["troubleshoot", "link", "unlink", "transfer"], ReportStatus.TRANSFERRED),
    ],
)
def test_report_ended_at_is_stamped_on_solve_or_transfer(path, final):
    """A report's ``ended_at`` is stamped when it is solved or transferred, not before."""
    report = make_report()
    fire_path(REPORT_LIFECYCLE, report, path[:-1], T0)
    assert report.ended_at is None
    REPORT_LIFECYCLE.fire(report, path[-1], now=T0 + 10 * HOUR)
    assert report.status is final
    assert report.ended_at == T0 + 10 * HOUR


# --- fire: refused events --------------------------------------------------------------------


@pytest.mark.parametrize(("lifecycle", "factory", "status", "event"), refused_pairs())
def test_refused_event_raises_and_changes_nothing(lifecycle, factory, status, event):
    """A disallowed event raises ``InvalidTransition`` and leaves the entity exactly as it was."""
    entity = factory(status=status, version=3)
    before = snapshot(entity)
    with pytest.raises(InvalidTransition) as caught:
        lifecycle.fire(entity, event, now=T0 + HOUR)
    assert caught.value.entity_id == entity.id
    assert caught.value.event == event
    assert caught.value.status == status.value
    assert caught.value.kind == lifecycle.kind
    assert snapshot(entity) == before
    assert all(snapshot(entity)[name] is value for name, value in before.items())


@pytest.mark.parametrize("event", UNKNOWN_EVENTS)
def test_unknown_events_are_refused(event):
    """An event no lifecycle declares is refused, in every status."""
    for status in IncidentStatus:
        incident = make_incident(status=status, resolved_at=T0)
        with pytest.raises(InvalidTransition):
            INCIDENT_LIFECYCLE.fire(incident, event, now=T0)
        assert incident.status is status


@pytest.mark.parametrize("event", ["validate.now", "s", "send", "within_reopen_window"])
def test_names_the_raw_engine_mishandles_are_refused(event):
    """Dotted sub-events and machine attribute names are refused like any unknown event."""
    incident = make_incident()
    before = snapshot(incident)
    with pytest.raises(InvalidTransition):
        INCIDENT_LIFECYCLE.fire(incident, event, now=T0)
    assert snapshot(incident) == before


def test_refusal_message_names_the_entity_event_and_status():
    """The refusal message names the event, the kind, the entity and its status."""
    incident = make_incident("INC-7")
    with pytest.raises(InvalidTransition, match=r"^Can't resolve incident INC-7 while detected\.$"):
        INCIDENT_LIFECYCLE.fire(incident, "resolve", now=T0)


def test_report_refusal_names_the_ticket():
    """A refused report event carries the ticket id as ``entity_id``."""
    report = make_report("ZD-42", status="solved")
    with pytest.raises(InvalidTransition) as caught:
        REPORT_LIFECYCLE.fire(report, "link", now=T0)
    assert caught.value.entity_id == "ZD-42"


def test_engine_refusal_is_translated_and_changes_nothing(monkeypatch):
    """An engine refusal becomes ``InvalidTransition`` and the entity is restored."""
    monkeypatch.setattr(INCIDENT_LIFECYCLE, "next_status", lambda *_a, **_k: "closed")
    incident = make_incident()
    before = snapshot(incident)
    with pytest.raises(InvalidTransition) as caught:
        INCIDENT_LIFECYCLE.fire_with_engine(incident, "close", now=T0)
    assert caught.value.status == "detected"
    assert snapshot(incident) == before
    monkeypatch.undo()
    INCIDENT_LIFECYCLE.fire(incident, "validate", now=T0)
    assert incident.status is IncidentStatus.INVESTIGATING


@pytest.mark.parametrize("fire", ["fire", "fire_with_engine"])
def test_a_naive_now_changes_nothing_and_next_fire_works(fire):
    """A naive ``now`` is refused (the table names ``now``; the engine's stamping names the
    milestone) and the entity is as it was; ``fire`` works after."""
    incident = make_incident()
    before = snapshot(incident)
    with pytest.raises(InvalidInput) as caught:
        getattr(INCIDENT_LIFECYCLE, fire)(incident, "validate", now=datetime(2024, 3, 1, 9, 0))
    assert caught.value.field == ("now" if fire == "fire" else "opened_at")
    assert snapshot(incident) == before
    INCIDENT_LIFECYCLE.fire(incident, "validate", now=T0)
    assert incident.status is IncidentStatus.INVESTIGATING
    assert incident.opened_at == T0


def test_a_failing_stamp_rolls_the_status_and_milestones_back(monkeypatch):
    """Whatever fails while the table's transition is applied, the entity is restored."""
    import incident_lifecycle.lifecycle as module

    def half_stamp(model, status, now):
        model.opened_at = now
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(module, "stamp_milestone", half_stamp)
    incident = make_incident()
    before = snapshot(incident)
    with pytest.raises(RuntimeError):
        INCIDENT_LIFECYCLE.fire(incident, "validate", now=T0)
    assert snapshot(incident) == before


# --- the reopen window -----------------------------------------------------------------------


def resolved_incident(resolved_at: datetime = T0) -> ServiceIncident:
    incident = make_incident()
    INCIDENT_LIFECYCLE.fire(incident, "validate", now=resolved_at - HOUR)
    INCIDENT_LIFECYCLE.fire(incident, "resolve", now=resolved_at)
    return incident


def test_reopen_within_the_default_window():
    """A resolved incident may be reopened up to and including 24 hours after it resolved."""
    incident = resolved_incident()
    INCIDENT_LIFECYCLE.fire(incident, "reopen", now=T0 + DEFAULT_REOPEN_WINDOW)
    assert incident.status is IncidentStatus.INVESTIGATING


def test_reopen_after_the_default_window_is_refused():
    """Past the 24-hour window, ``reopen`` is refused and the incident stays resolved."""
    incident = resolved_incident()
    before = snapshot(incident)
    late = T0 + DEFAULT_REOPEN_WINDOW + timedelta(microseconds=1)
    with pytest.raises(InvalidTransition) as caught:
        INCIDENT_LIFECYCLE.fire(incident, "reopen", now=late)
    assert caught.value.status == "resolved"
    assert snapshot(incident) == before
    INCIDENT_LIFECYCLE.fire(incident, "close", now=late)
    assert incident.status is IncidentStatus.CLOSED


def test_reopen_window_is_configurable_per_call():
    """``reopen_window=`` passed to ``fire`` widens or narrows the window."""
    wide = resolved_incident()
    INCIDENT_LIFECYCLE.fire(wide, "reopen", now=T0 + 47 * HOUR, reopen_window=timedelta(days=2))
    assert wide.status is IncidentStatus.INVESTIGATING
    narrow = resolved_incident()
    with pytest.raises(InvalidTransition):
        INCIDENT_LIFECYCLE.fire(narrow, "reopen", now=T0 + 2 * HOUR, reopen_window=HOUR)
    assert narrow.status is IncidentStatus.RESOLVED


def test_reopen_without_a_resolution_time_is_refused():
    """A resolved incident with no ``resolved_at`` cannot be reopened: the guard needs it."""
    incident = make_incident(status="resolved")
    with pytest.raises(InvalidTransition):
        INCIDENT_LIFECYCLE.fire(incident, "reopen", now=T0)
    assert incident.status is IncidentStatus.RESOLVED


def test_can_and_next_status_evaluate_the_guard():
    """``can`` and ``next_status`` answer from the table, guards included."""
    incident = resolved_incident()
    assert INCIDENT_LIFECYCLE.can(incident, "reopen", now=T0 + HOUR)
    assert INCIDENT_LIFECYCLE.next_status(incident, "reopen", now=T0 + HOUR) == "investigating"
    assert not INCIDENT_LIFECYCLE.can(incident, "reopen", now=T0 + 25 * HOUR)
    assert INCIDENT_LIFECYCLE.can(
        incident, "reopen", now=T0 + 25 * HOUR, reopen_window=timedelta(days=2)
    )
    assert not INCIDENT_LIFECYCLE.can(incident, "reopen")
    assert INCIDENT_LIFECYCLE.next_status(incident, "close") == "closed"
    assert INCIDENT_LIFECYCLE.next_status(incident, "frobnicate") is None


# --- the per-thread machine ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lifecycle", "factory", "to_final", "then"),
    [
        pytest.param(ALERT_LIFECYCLE, make_alert, ["dismiss"], "validate", id="alert"),
        pytest.param(
            INCIDENT_LIFECYCLE, make_incident, ["validate", "merge"], "validate", id="incident"
        ),
        pytest.param(REPORT_LIFECYCLE, make_report, ["link", "solve"], "troubleshoot", id="report"),
    ],
)
def test_next_entity_works_after_one_reaches_a_final_status(lifecycle, factory, to_final, then):
    """After an entity enters a final status, ``fire`` still works on the next entities."""
    for number in range(3):
        finished = factory(f"E-{number}")
        fire_path(lifecycle, finished, to_final, T0)
        assert finished.status.value in lifecycle.final
        fresh = factory(f"F-{number}")
        lifecycle.fire(fresh, then, now=T0)
        assert fresh.status.value == lifecycle.next_status(factory(), then)


def test_interleaved_entities_do_not_share_state():
    """Firing on one entity, then another, then the first again, moves each from its own status."""
    first, second = make_incident("INC-A"), make_incident("INC-B")
    INCIDENT_LIFECYCLE.fire(first, "validate", now=T0)
    INCIDENT_LIFECYCLE.fire(second, "dismiss", now=T0 + HOUR)
    INCIDENT_LIFECYCLE.fire(first, "identify", now=T0 + 2 * HOUR)
    assert first.status is IncidentStatus.IDENTIFIED
    assert second.status is IncidentStatus.DISMISSED
    assert second.opened_at is None
    assert first.ended_at is None


def test_fire_from_many_threads_at_once():
    """Eight threads firing on 200 incidents each get their own results, with no cross-talk."""
    threads_n, per_thread = 8, 200
    path = ["validate", "identify", "monitor", "resolve", "close"]
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []
    results: dict[int, list[ServiceIncident]] = {}

    def work(worker: int) -> None:
        try:
            barrier.wait()
            start = T0 + timedelta(days=worker)
            mine = [make_incident(f"INC-{worker}-{n}") for n in range(per_thread)]
            for n, incident in enumerate(mine):
                fire_path(INCIDENT_LIFECYCLE, incident, path[: 1 + n % len(path)], start)
                with pytest.raises(InvalidTransition) as caught:
                    INCIDENT_LIFECYCLE.fire(incident, "dismiss", now=start)
                assert caught.value.entity_id == incident.id
            results[worker] = mine
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expected = ["investigating", "identified", "monitoring", "resolved", "closed"]
    for worker, incidents in results.items():
        start = T0 + timedelta(days=worker)
        for n, incident in enumerate(incidents):
            steps = 1 + n % len(path)
            assert incident.status.value == expected[steps - 1]
            assert incident.opened_at == start
            if steps >= 2:
                assert incident.identified_at == start + HOUR
            if steps >= 4:
                assert incident.resolved_at == start + 3 * HOUR
            if steps == 5:
                assert incident.closed_at == start + 4 * HOUR
    assert len(results) == threads_n


# --- fire_many -------------------------------------------------------------------------------


def test_fire_many_applies_the_event_to_every_entity():
    """``fire_many`` moves every entity and stamps the same milestones as ``fire``."""
    reports = [make_report(f"T-{n}", status="linked") for n in range(5)]
    REPORT_LIFECYCLE.fire_many(reports, "solve", now=T0 + HOUR)
    assert all(report.status is ReportStatus.SOLVED for report in reports)
    assert all(report.ended_at == T0 + HOUR for report in reports)


def test_fire_many_stamps_incident_milestones():
    """``fire_many`` stamps incident milestones under the same first-entry rule as ``fire``."""
    incidents = [make_incident(f"INC-{n}") for n in range(3)]
    INCIDENT_LIFECYCLE.fire_many(incidents, "validate", now=T0)
    INCIDENT_LIFECYCLE.fire_many(incidents, "resolve", now=T0 + HOUR)
    INCIDENT_LIFECYCLE.fire_many(incidents, "reopen", now=T0 + 2 * HOUR)
    assert all(i.status is IncidentStatus.INVESTIGATING for i in incidents)
    assert all(i.opened_at == T0 and i.resolved_at == T0 + HOUR for i in incidents)


def test_fire_many_is_all_or_nothing():
    """If one entity refuses the event, ``fire_many`` raises for it and changes no entity."""
    reports = [make_report(f"T-{n}", status="linked") for n in range(4)]
    reports.insert(2, make_report("T-odd", status="received"))
    before = [snapshot(report) for report in reports]
    with pytest.raises(InvalidTransition) as caught:
        REPORT_LIFECYCLE.fire_many(reports, "solve", now=T0)
    assert caught.value.entity_id == "T-odd"
    assert caught.value.status == "received"
    assert [snapshot(report) for report in reports] == before


def test_fire_many_honours_the_reopen_guard():
    """``fire_many`` refuses ``reopen`` for every incident when one is past the window."""
    recent = resolved_incident(T0 + 10 * HOUR)
    old = resolved_incident(T0)
    before = [snapshot(recent), snapshot(old)]
    with pytest.raises(InvalidTransition) as caught:
        INCIDENT_LIFECYCLE.fire_many([recent, old], "reopen", now=T0 + 30 * HOUR)
    assert caught.value.status == "resolved"
    assert [snapshot(recent), snapshot(old)] == before


def test_fire_many_with_a_naive_now_changes_nothing():
    """A naive ``now`` is refused as ``InvalidInput`` naming ``now`` before any entity changes."""
    incidents = [make_incident(f"INC-{n}") for n in range(3)]
    before = [snapshot(incident) for incident in incidents]
    with pytest.raises(InvalidInput) as caught:
        INCIDENT_LIFECYCLE.fire_many(incidents, "validate", now=datetime(2024, 3, 1))
    assert caught.value.field == "now"
    assert [snapshot(incident) for incident in incidents] == before


def test_fire_many_of_nothing_is_a_no_op():
    """``fire_many`` with no entities does nothing and raises nothing."""
    ALERT_LIFECYCLE.fire_many([], "validate", now=T0)


def test_fire_many_refuses_unknown_events():
    """``fire_many`` refuses an event the lifecycle does not declare."""
    alerts = [make_alert(f"AL-{n}") for n in range(2)]
    with pytest.raises(InvalidTransition):
        ALERT_LIFECYCLE.fire_many(alerts, "explode", now=T0)
    assert all(alert.status is AlertStatus.RECEIVED for alert in alerts)


# --- invalid status values -------------------------------------------------------------------


@pytest.mark.parametrize("bogus", ["bogus", "", None, 3, "RECEIVED"])
@pytest.mark.parametrize(("lifecycle", "factory", "status_type", "edges"), CASES)
def test_allowed_events_of_a_non_status_is_invalid_input(
    lifecycle, factory, status_type, edges, bogus
):
    """``allowed_events`` of a non-status raises ``InvalidInput`` naming ``status``."""
    with pytest.raises(InvalidInput) as caught:
        lifecycle.allowed_events(bogus)
    assert caught.value.field == "status"


@pytest.mark.parametrize(("lifecycle", "factory", "status_type", "edges"), CASES)
def test_fire_on_a_corrupt_status_is_invalid_input(lifecycle, factory, status_type, edges):
    """``fire`` and ``fire_many`` on an entity with a corrupt status raise ``InvalidInput``."""
    entity = factory()
    object.__setattr__(entity, "status", "bogus")  # bypass the converter, like a corrupt row
    event = sorted(lifecycle.allowed_events(lifecycle.initial))[0]
    with pytest.raises(InvalidInput) as caught:
        lifecycle.fire(entity, event, now=T0)
    assert caught.value.field == "status"
    assert entity.status == "bogus"
    healthy = factory("OK-1")
    with pytest.raises(InvalidInput) as caught:
        lifecycle.fire_many([healthy, entity], event, now=T0)
    assert caught.value.field == "status"
    assert healthy.status.value == lifecycle.initial
