"""Alert intake through the desk: dedup, grouping, clearing and detaching alerts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import desk_support as support
from desk_support import (
    ENG_SUPPORT,
    IM,
    MONITOR,
    START,
    ObservedStore,
    delivered_topics,
    make_desk,
    open_incident,
    potential_incident,
    signal,
    snapshot,
)
from incident_lifecycle import (
    AlertSignal,
    AlertStatus,
    IncidentStatus,
    InvalidInput,
    InvalidTransition,
    Review,
)
from incident_lifecycle.adapters import RecordingNotifier
from incident_lifecycle.commands import ClearOutcome
from incident_lifecycle.commands.intake import AlertOutcome
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.domain.events import (
    AlertDetached,
    AlertJoined,
    AlertRecovered,
    IncidentDetected,
    IncidentDismissed,
    SignalsDigestSent,
)
from incident_lifecycle.grouping import GroupingPolicy
from incident_lifecycle.notifications import Topic
from incident_lifecycle.ports import Store
from incident_lifecycle.testing import FakeClock

store_factory = support.store_factory
store = support.store
clock = support.clock
notifier = support.notifier
desk = support.desk


def names(desk: IncidentDesk, incident_id: str) -> list[str]:
    """The event names of an incident's timeline, in order."""
    return [event.name for event in desk.timeline(incident_id)]


# -- deduplication -------------------------------------------------------------


def test_repeat_of_active_alert_counts_and_changes_nothing_else(
    desk: IncidentDesk, clock: FakeClock
) -> None:
    """A repeat of an active alert's fingerprint raises its count and last_seen_at only."""
    first = desk.receive_alert(signal("fp-1"))
    incident_before = desk.incident(first.incident_id)
    before = snapshot(desk)
    later = clock.advance(minutes=3)

    receipt = desk.receive_alert(signal("fp-1", at=later))

    assert receipt.outcome is AlertOutcome.DEDUPLICATED
    assert (receipt.alert_id, receipt.incident_id) == (first.alert_id, first.incident_id)
    alert = desk.alert(first.alert_id)
    assert (alert.count, alert.first_seen_at, alert.last_seen_at) == (2, START, later)
    after = snapshot(desk)
    assert desk.incident(first.incident_id).version == incident_before.version
    assert after.timelines == before.timelines
    assert after.outbox == before.outbox
    assert after.incidents == before.incidents


def test_repeat_on_open_incident_only_counts(desk: IncidentDesk, clock: FakeClock) -> None:
    """A repeat of a validated alert whose incident is open counts on it: no join, no digest."""
    incident_id = open_incident(desk)
    before = snapshot(desk)
    clock.advance(minutes=10)

    receipt = desk.receive_alert(signal("fp-1", at=clock.now()))

    assert receipt.outcome is AlertOutcome.DEDUPLICATED
    assert receipt.incident_id == incident_id
    assert desk.alert(receipt.alert_id).count == 2
    after = snapshot(desk)
    assert (after.incidents, after.timelines, after.outbox) == (
        before.incidents,
        before.timelines,
        before.outbox,
    )


def test_last_seen_never_moves_back(desk: IncidentDesk) -> None:
    """A late repeat observed before the last one still counts but keeps the later last_seen."""
    receipt = desk.receive_alert(signal("fp-1", at=START + timedelta(minutes=5)))
    desk.receive_alert(signal("fp-1", at=START))

    alert = desk.alert(receipt.alert_id)
    assert alert.count == 2
    assert alert.last_seen_at == START + timedelta(minutes=5)


def test_repeats_within_one_batch_open_one_alert(desk: IncidentDesk) -> None:
    """Three signals of one fingerprint in a batch open one alert counted three times."""
    times = [START + timedelta(seconds=s) for s in (20, 0, 10)]
    report = desk.receive_alerts([signal("fp-1", at=t) for t in times])

    assert (report.signals, report.new_alerts, report.deduplicated) == (3, 1, 2)
    alert = desk.alert(report.receipts["fp-1"].alert_id)
    assert (alert.count, alert.first_seen_at, alert.last_seen_at) == (3, times[0], times[0])


# -- grouping ------------------------------------------------------------------


def test_new_alert_joins_potential_incident_of_its_group(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """A new fingerprint with the same product and region joins the potential incident."""
    first = desk.receive_alert(signal("fp-1"))
    second = desk.receive_alert(signal("fp-2", kind="error_rate"))

    assert second.outcome is AlertOutcome.JOINED_POTENTIAL
    assert second.incident_id == first.incident_id
    assert second.alert_id != first.alert_id
    assert desk.alert(second.alert_id).status is AlertStatus.RECEIVED
    timeline = desk.timeline(first.incident_id)
    assert [e.name for e in timeline] == ["IncidentDetected", "AlertJoined"]
    joined = timeline[1]
    assert isinstance(joined, AlertJoined)
    assert (joined.alert_id, joined.fingerprint) == (second.alert_id, "fp-2")
    assert delivered_topics(desk, notifier) == [("support-eng", Topic.VALIDATION_REQUEST)]


def test_other_region_starts_its_own_potential_incident(desk: IncidentDesk) -> None:
    """By default the group key is product and region: another region is another incident."""
    first = desk.receive_alert(signal("fp-1", region="pod17"))
    second = desk.receive_alert(signal("fp-2", region="pod18"))
    third = desk.receive_alert(signal("fp-3", product="chat", region="pod17"))

    assert second.outcome is third.outcome is AlertOutcome.STARTED_INCIDENT
    assert len({first.incident_id, second.incident_id, third.incident_id}) == 3
    assert [i.group_key for i in desk.potential_incidents()] == [
        "product=support|region=pod17",
        "product=support|region=pod18",
        "product=chat|region=pod17",
    ]


def test_new_alert_joins_open_incident_and_owner_gets_a_digest(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """A new alert of an open incident's group joins it validated; the owner gets a digest."""
    incident_id = open_incident(desk)
    version = desk.incident(incident_id).version

    receipt = desk.receive_alert(signal("fp-2", summary="error rate 7%"))

    assert receipt.outcome is AlertOutcome.JOINED_OPEN
    assert receipt.incident_id == incident_id
    assert desk.alert(receipt.alert_id).status is AlertStatus.VALIDATED
    assert names(desk, incident_id)[-2:] == ["AlertJoined", "SignalsDigestSent"]
    assert desk.incident(incident_id).version == version + 1
    assert delivered_topics(desk, notifier, "support-eng")[-1] == (
        "support-eng",
        Topic.SIGNALS_DIGEST,
    )
    assert "error rate 7%" in notifier.sent[-1].body


@pytest.mark.parametrize("interval", [timedelta(minutes=5), timedelta(minutes=1)])
def test_owner_gets_at_most_one_digest_per_interval(
    store: Store, clock: FakeClock, interval: timedelta
) -> None:
    """New alerts joining an open incident yield at most one digest per grouping interval."""
    notes = RecordingNotifier()
    desk = make_desk(store, notes, clock, grouping=GroupingPolicy(interval=interval))
    incident_id = open_incident(desk)
    step = interval / 5
    offsets = [0, 1, 2, 4, 5, 6, 9, 10, 11]  # in steps: digests at 0, 5 and 10
    for number, offset in enumerate(offsets):
        clock.set(START + step * offset)
        desk.receive_alert(signal(f"new-{number}", at=clock.now()))

    digests = [e for e in desk.timeline(incident_id) if isinstance(e, SignalsDigestSent)]
    assert [d.at for d in digests] == [START, START + interval, START + 2 * interval]
    assert [d.alerts for d in digests] == [1, 4, 3]  # every joined alert counted once
    topics = Counter(topic for _, topic in delivered_topics(desk, notes, "support-eng"))
    assert topics[Topic.SIGNALS_DIGEST] == 3
    bodies = [n.body for n in notes.sent if n.topic is Topic.SIGNALS_DIGEST]
    assert [b.split(" ")[0] for b in bodies] == ["1", "4", "3"]


def test_new_potential_incident_asks_owner_once(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """A storm over several batches in one group asks the owning team to validate once."""
    first = desk.receive_alerts([signal(f"chat-{n}", product="chat") for n in range(20)])
    second = desk.receive_alerts([signal(f"chat-{n}", product="chat") for n in range(10, 40)])

    assert len(first.incidents_started) == 1
    assert second.incidents_started == ()
    assert second.incidents_joined == first.incidents_started
    (incident_id,) = first.incidents_started
    detected = [e for e in desk.timeline(incident_id) if isinstance(e, IncidentDetected)]
    assert len(detected) == 1
    assert len(desk.alerts_of(incident_id)) == 40
    assert delivered_topics(desk, notifier) == [("chat-eng", Topic.VALIDATION_REQUEST)]
    assert "potential incident " + incident_id in notifier.sent[0].subject


def test_potential_incidents_list_in_creation_order(desk: IncidentDesk) -> None:
    """Incidents detected at the same instant are listed oldest first, INC-9 before INC-10."""
    report = desk.receive_alerts([signal(f"fp-{n}", region=f"pod{n}") for n in range(12)])

    listed = [i.id for i in desk.potential_incidents(product="support")]

    assert listed == list(report.incidents_started)
    assert listed[8:10] == ["INC-9", "INC-10"]


def test_new_alert_joins_the_latest_open_incident_of_its_group(desk: IncidentDesk) -> None:
    """With two open incidents of one group opened at once, a new alert joins the later one."""
    desk.receive_alerts([signal(f"fp-{n}", product="chat", region=f"p{n}") for n in range(8)])
    older = desk.declare_incident(IM, title="Slow", product="support", severity="SEV2", region="eu")
    newer = desk.declare_incident(
        IM, title="Slower", product="support", severity="SEV1", region="eu"
    )
    assert (older.id, newer.id) == ("INC-9", "INC-10")

    receipt = desk.receive_alert(signal("fp-eu", region="eu"))

    assert (receipt.outcome, receipt.incident_id) == (AlertOutcome.JOINED_OPEN, newer.id)


def test_alert_after_incident_resolved_starts_new_potential_incident(
    desk: IncidentDesk,
) -> None:
    """Once a group's incident is resolved, a new alert of that group starts a new one."""
    incident_id = open_incident(desk)
    desk.resolve_incident(incident_id, IM, "Rolled back the deploy.")

    receipt = desk.receive_alert(signal("fp-9"))

    assert receipt.outcome is AlertOutcome.STARTED_INCIDENT
    assert receipt.incident_id != incident_id
    assert desk.incident(receipt.incident_id).status is IncidentStatus.DETECTED


# -- one transaction per batch -----------------------------------------------------


def test_batch_runs_in_one_transaction(
    store: Store, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    """A batch of many signals over several groups is taken in exactly one transaction."""
    observed = ObservedStore(store)
    desk = make_desk(observed, notifier, clock)
    batch = [signal(f"{p}-{n}", product=p) for n in range(5) for p in ("support", "chat", "talk")]

    report = desk.receive_alerts(batch)

    assert observed.transactions == 1
    assert (report.new_alerts, len(report.incidents_started)) == (15, 3)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ("not a signal", "signals"),
        (None, "signals"),
    ],
    ids=["string", "none"],
)
def test_batch_with_one_bad_signal_stores_nothing(
    desk: IncidentDesk, bad: object, field: str
) -> None:
    """A batch holding one bad item is refused whole: no alert, incident or outbox entry."""
    open_incident(desk, fp="fp-0")
    desk.receive_alert(signal("fp-1", region="pod18"))
    before = snapshot(desk)
    batch = [signal("fp-0"), signal("fp-1", region="pod18"), signal("fp-2"), bad]

    with pytest.raises(InvalidInput) as info:
        desk.receive_alerts(batch)  # type: ignore[list-item]

    assert info.value.field == field
    assert snapshot(desk) == before


# -- closed alerts ---------------------------------------------------------------


def _dismissed(desk: IncidentDesk) -> str:
    incident_id = potential_incident(desk)
    desk.dismiss_incident(incident_id, ENG_SUPPORT, "Synthetic check misfired.")
    return incident_id


def _recovered(desk: IncidentDesk) -> str:
    incident_id = potential_incident(desk)
    desk.clear_alert("fp-1")
    return incident_id


def _resolved(desk: IncidentDesk) -> str:
    incident_id = open_incident(desk)
    desk.resolve_incident(incident_id, ENG_SUPPORT, "Fixed.")
    return incident_id


def _closed(desk: IncidentDesk) -> str:
    incident_id = _resolved(desk)
    desk.close_incident(incident_id, ENG_SUPPORT, Review(root_cause="A bad deploy."))
    return incident_id


@pytest.mark.parametrize(
    ("setup", "status"),
    [
        (_dismissed, AlertStatus.DISMISSED),
        (_recovered, AlertStatus.RECOVERED),
        (_resolved, AlertStatus.VALIDATED),
        (_closed, AlertStatus.VALIDATED),
    ],
    ids=["dismissed", "recovered", "resolved", "closed"],
)
def test_repeat_after_alert_closed_opens_new_alert(
    desk: IncidentDesk, setup: Callable[[IncidentDesk], str], status: AlertStatus
) -> None:
    """A repeat of a dismissed, recovered or resolved alert's fingerprint opens a new alert."""
    old_incident = setup(desk)
    (old,) = desk.alerts_of(old_incident)

    receipt = desk.receive_alert(signal("fp-1"))

    assert receipt.outcome is AlertOutcome.STARTED_INCIDENT
    assert receipt.alert_id != old.id
    assert receipt.incident_id != old_incident
    new = desk.alert(receipt.alert_id)
    assert (new.count, new.active, new.status) == (1, True, AlertStatus.RECEIVED)
    unchanged = desk.alert(old.id)
    assert (unchanged.count, unchanged.active, unchanged.status) == (1, False, status)


# -- clearing alerts -------------------------------------------------------------


def test_clear_recovers_alert_of_potential_incident(desk: IncidentDesk) -> None:
    """Clearing one of two alerts of a potential incident recovers it; the incident stays."""
    first = desk.receive_alert(signal("fp-1"))
    desk.receive_alert(signal("fp-2"))

    receipt = desk.clear_alert("fp-1")

    assert (receipt.outcome, receipt.alert_id, receipt.incident_id) == (
        ClearOutcome.RECOVERED,
        first.alert_id,
        first.incident_id,
    )
    alert = desk.alert(first.alert_id)
    assert (alert.status, alert.active) == (AlertStatus.RECOVERED, False)
    assert desk.incident(first.incident_id).status is IncidentStatus.DETECTED
    recovered = desk.timeline(first.incident_id)[-1]
    assert isinstance(recovered, AlertRecovered)
    assert (recovered.alert_id, recovered.fingerprint) == (first.alert_id, "fp-1")


def test_clear_of_every_alert_dismisses_potential_incident(
    desk: IncidentDesk, clock: FakeClock
) -> None:
    """When every alert of a potential incident recovered, the incident is dismissed."""
    first = desk.receive_alert(signal("fp-1"))
    desk.receive_alert(signal("fp-2"))
    desk.clear_alert("fp-1")
    clock.advance(minutes=2)

    receipt = desk.clear_alert("fp-2")

    assert receipt.outcome == ClearOutcome.INCIDENT_DISMISSED
    incident = desk.incident(first.incident_id)
    assert incident.status is IncidentStatus.DISMISSED
    assert incident.dismissal_reason == "every signal recovered before validation"
    assert incident.ended_at == clock.now()
    last = desk.timeline(first.incident_id)[-1]
    assert isinstance(last, IncidentDismissed)
    assert last.reason == incident.dismissal_reason
    assert desk.potential_incidents() == []


def test_clear_on_open_incident_recovers_the_alert_and_tells_the_owner_once(
    desk: IncidentDesk,
) -> None:
    """Clearing the only alert of an open incident recovers it (no longer active) and the
    owner team hears "all signals cleared" once, on the timeline; the incident stays open."""
    incident_id = open_incident(desk)
    (alert,) = desk.alerts_of(incident_id)

    receipt = desk.clear_alert("fp-1", by=IM)

    assert (receipt.outcome, receipt.alert_id, receipt.incident_id) == (
        ClearOutcome.ALL_SIGNALS_CLEARED,
        alert.id,
        incident_id,
    )
    assert desk.alert(alert.id).status is AlertStatus.RECOVERED
    assert desk.active_alert("fp-1") is None
    assert names(desk, incident_id)[-2:] == ["AlertRecovered", "SignalsCleared"]
    assert desk.incident(incident_id).status is IncidentStatus.INVESTIGATING
    cleared = [e for e in desk.outbox_entries() if e.notification.topic is Topic.SIGNALS_CLEARED]
    assert [e.notification.recipient for e in cleared] == ["support-eng"]


@pytest.mark.parametrize("fingerprint", ["never-seen", "fp-1"])
def test_clear_without_active_alert_is_a_noop(desk: IncidentDesk, fingerprint: str) -> None:
    """Clearing a fingerprint with no active alert reports so and changes nothing."""
    potential_incident(desk)
    desk.clear_alert("fp-1")
    desk.receive_alert(signal("fp-2", region="pod18"))
    before = snapshot(desk)

    receipt = desk.clear_alert(fingerprint, by=MONITOR)

    assert (receipt.outcome, receipt.alert_id, receipt.incident_id) == (
        ClearOutcome.NO_ACTIVE_ALERT,
        None,
        None,
    )
    assert snapshot(desk) == before


# -- detaching alerts ------------------------------------------------------------


def test_detach_into_own_potential_incident(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """A wrongly grouped alert detached on its own starts a potential incident, owner asked."""
    source = desk.receive_alert(signal("fp-1"))
    stray = desk.receive_alert(signal("fp-2", kind="volume"))
    desk.deliver()
    notifier.clear()

    target = desk.detach_alert(stray.alert_id, ENG_SUPPORT)

    assert target != source.incident_id
    incident = desk.incident(target)
    assert (incident.status, incident.owner_team, incident.products) == (
        IncidentStatus.DETECTED,
        "support-eng",
        ("support",),
    )
    assert [a.id for a in desk.alerts_of(source.incident_id)] == [source.alert_id]
    assert [a.id for a in desk.alerts_of(target)] == [stray.alert_id]
    assert desk.alert(stray.alert_id).status is AlertStatus.RECEIVED
    detached = desk.timeline(source.incident_id)[-1]
    assert isinstance(detached, AlertDetached)
    assert (detached.alert_id, detached.into) == (stray.alert_id, target)
    assert names(desk, target) == ["IncidentDetected", "AlertJoined"]
    assert delivered_topics(desk, notifier) == [("support-eng", Topic.VALIDATION_REQUEST)]
    assert target in notifier.sent[0].subject


def test_detach_validated_alert_from_open_incident_regroups_it(desk: IncidentDesk) -> None:
    """An alert detached from an open incident into a new potential one is received again."""
    incident_id = open_incident(desk)
    joined = desk.receive_alert(signal("fp-2"))
    assert desk.alert(joined.alert_id).status is AlertStatus.VALIDATED

    target = desk.detach_alert(joined.alert_id, MONITOR)

    alert = desk.alert(joined.alert_id)
    assert (alert.status, alert.incident_id, alert.active) == (
        AlertStatus.RECEIVED,
        target,
        True,
    )
    assert desk.incident(target).status is IncidentStatus.DETECTED
    assert [a.fingerprint for a in desk.alerts_of(incident_id)] == ["fp-1"]
    assert desk.receive_alert(signal("fp-2")).incident_id == target


def test_detach_received_alert_into_open_incident_validates_it(desk: IncidentDesk) -> None:
    """An alert moved from a potential incident into an open one becomes validated."""
    open_id = open_incident(desk, fp="fp-open", product="chat")
    stray = desk.receive_alert(signal("fp-1"))

    target = desk.detach_alert(stray.alert_id, ENG_SUPPORT, into=open_id)

    assert target == open_id
    assert desk.alert(stray.alert_id).status is AlertStatus.VALIDATED
    assert [a.fingerprint for a in desk.alerts_of(open_id)] == ["fp-open", "fp-1"]
    assert desk.alerts_of(stray.incident_id) == []
    assert names(desk, stray.incident_id)[-1] == "AlertDetached"
    assert names(desk, open_id)[-1] == "AlertJoined"


def test_detach_into_another_potential_incident_keeps_it_received(desk: IncidentDesk) -> None:
    """An alert moved between potential incidents stays received."""
    other = potential_incident(desk, fp="fp-9", region="pod18")
    stray = desk.receive_alert(signal("fp-1"))

    desk.detach_alert(stray.alert_id, IM, into=other)

    alert = desk.alert(stray.alert_id)
    assert (alert.status, alert.incident_id) == (AlertStatus.RECEIVED, other)


def test_detach_into_its_own_incident_is_refused(desk: IncidentDesk) -> None:
    """Detaching an alert into the incident it already belongs to is invalid input."""
    receipt = desk.receive_alert(signal("fp-1"))
    before = snapshot(desk)

    with pytest.raises(InvalidInput) as info:
        desk.detach_alert(receipt.alert_id, ENG_SUPPORT, into=receipt.incident_id)

    assert info.value.field == "into"
    assert snapshot(desk) == before


@pytest.mark.parametrize("case", ["inactive-alert", "resolved-target"])
def test_detach_refused_when_alert_or_target_is_closed(desk: IncidentDesk, case: str) -> None:
    """An inactive alert cannot be detached, nor can an alert go into a resolved incident."""
    if case == "inactive-alert":
        incident_id = _resolved(desk)
        alert_id, into = desk.alerts_of(incident_id)[0].id, None
    else:
        into = _resolved(desk)
        alert_id = desk.receive_alert(signal("fp-2", region="pod18")).alert_id
    before = snapshot(desk)

    with pytest.raises(InvalidTransition):
        desk.detach_alert(alert_id, ENG_SUPPORT, into=into)

    assert snapshot(desk) == before


# -- grouping policies -------------------------------------------------------------


def test_grouping_by_product_only_ignores_region(store: Store, clock: FakeClock) -> None:
    """With ``by=("product",)`` alerts of every region join one potential incident."""
    desk = make_desk(store, clock=clock, grouping=GroupingPolicy(by=("product",)))

    report = desk.receive_alerts(
        [signal(f"fp-{r}", region=r) for r in ("pod1", "pod2", "pod3")]
        + [signal("fp-none", region=None), signal("fp-chat", product="chat")]
    )

    assert [i.group_key for i in desk.potential_incidents()] == [
        "product=support",
        "product=chat",
    ]
    support_id = report.receipts["fp-pod1"].incident_id
    assert [a.region for a in desk.alerts_of(support_id)] == ["pod1", "pod2", "pod3", None]


def test_grouping_by_label_groups_on_its_value(store: Store, clock: FakeClock) -> None:
    """With ``label:cluster`` alerts group by that label's value; a missing label reads ``*``."""
    policy = GroupingPolicy(by=("product", "label:cluster"))
    desk = make_desk(store, clock=clock, grouping=policy)

    report = desk.receive_alerts(
        [
            signal("a", region="pod1", labels={"cluster": "eu-1"}),
            signal("b", region="pod2", labels={"cluster": "eu-1", "host": "h2"}),
            signal("c", region="pod1", labels={"cluster": "us-3"}),
            signal("d", region="pod1"),
        ]
    )

    receipts = report.receipts
    assert receipts["a"].incident_id == receipts["b"].incident_id
    assert receipts["b"].outcome is AlertOutcome.JOINED_POTENTIAL
    assert len({receipts[fp].incident_id for fp in "acd"}) == 3
    assert sorted(i.group_key or "" for i in desk.potential_incidents()) == [
        "product=support|label:cluster=*",
        "product=support|label:cluster=eu-1",
        "product=support|label:cluster=us-3",
    ]


def test_grouping_by_kind_separates_kinds(store: Store, clock: FakeClock) -> None:
    """With ``kind`` in the key, a latency and an error-rate alert start separate incidents."""
    desk = make_desk(store, clock=clock, grouping=GroupingPolicy(by=("product", "kind")))

    report = desk.receive_alerts(
        [signal("a"), signal("b", region="pod2"), signal("c", kind="error_rate")]
    )

    assert report.receipts["b"].incident_id == report.receipts["a"].incident_id
    assert report.receipts["c"].incident_id != report.receipts["a"].incident_id
    assert len(report.incidents_started) == 2


# -- property ------------------------------------------------------------------

_PRODUCTS = ("support", "chat", "talk")
_REGIONS = ("pod1", "pod2", None)


@st.composite
def _signal_batches(draw: st.DrawFn) -> list[list[AlertSignal]]:
    fingerprints = draw(st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=6, unique=True))
    # A fingerprint always comes from one source: the same product and region.
    origin = {
        fp: (draw(st.sampled_from(_PRODUCTS)), draw(st.sampled_from(_REGIONS)))
        for fp in fingerprints
    }
    offsets = st.integers(0, 600).map(lambda s: START + timedelta(seconds=s))
    batches = st.lists(
        st.lists(st.tuples(st.sampled_from(fingerprints), offsets), min_size=1, max_size=20),
        min_size=1,
        max_size=3,
    )
    return [
        [signal(fp, product=origin[fp][0], region=origin[fp][1], at=at) for fp, at in batch]
        for batch in draw(batches)
    ]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=_signal_batches())
def test_intake_counts_every_signal_once(
    store_factory: Callable[[], Store], batches: list[list[AlertSignal]]
) -> None:
    """For any batches, active alerts match distinct fingerprints, counts sum to the signals,
    and each group key has exactly one potential incident."""
    desk = make_desk(store_factory(), clock=FakeClock(START))
    signals = [s for batch in batches for s in batch]
    for batch in batches:
        desk.receive_alerts(batch)

    potential = desk.potential_incidents()
    alerts = [a for incident in potential for a in desk.alerts_of(incident.id)]
    assert all(a.active for a in alerts)
    assert sorted(a.fingerprint for a in alerts) == sorted({s.fingerprint for s in signals})
    assert sum(a.count for a in alerts) == len(signals)
    keys = [incident.group_key for incident in potential]
    expected = {desk.grouping.key_of(s) for s in signals}
    assert sorted(k or "" for k in keys) == sorted(expected)
    for alert in alerts:
        last = max(s.observed_at for s in signals if s.fingerprint == alert.fingerprint)
        assert alert.last_seen_at == last
