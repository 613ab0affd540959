"""``IncidentDesk.triage_reports``: a batch of customer reports triaged in one transaction.

Every test runs on each store of ``desk_support.STORE_FACTORIES`` (in memory
and SQLite). The property test checks a batch against the same reports
triaged one by one with ``triage_report``; the other tests pin a surge within
a batch, idempotence, bad input, all-or-nothing under a fault, and who may
triage.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import desk_support as support
from desk_support import (
    ENG_SUPPORT,
    IM,
    MONITOR,
    OWNERSHIP,
    START,
    SUPPORT_AGENT,
    InjectedFault,
    ObservedStore,
    Snapshot,
    canonical,
    make_desk,
    snapshot,
)
from incident_lifecycle import (
    SEV2,
    Actor,
    CustomerReport,
    IncidentStatus,
    InvalidInput,
    NotPermitted,
    ReportStatus,
    ServiceIncident,
    Symptom,
    TriageOutcome,
    TriageResult,
)
from incident_lifecycle.adapters import RecordingNotifier
from incident_lifecycle.adapters.sqlite import SQLiteStore
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.domain.events import DomainEvent, ReportTriaged
from incident_lifecycle.notifications import Notification, RecipientKind, Topic
from incident_lifecycle.ports import Store
from incident_lifecycle.testing import FakeClock
from incident_lifecycle.testing.strategies import customer_reports
from incident_lifecycle.triage import DefaultTriagePolicy, TriageDecision, TriagePolicy

store_factory = support.store_factory
store = support.store
clock = support.clock
notifier = support.notifier
desk = support.desk

NOW = START + timedelta(minutes=10)
"""Where the clock stands while reports are triaged (incidents are opened at START)."""


def make_report(
    ticket_id: str,
    *,
    account_id: str | None = None,
    product: str = "support",
    symptom: Symptom | str = Symptom.SLOW,
    summary: str = "Pages take ages to load",
    region: str | None = "pod17",
    at: datetime = NOW,
) -> CustomerReport:
    """A received report (its own account unless one is given)."""
    return CustomerReport(
        ticket_id=ticket_id,
        account_id=account_id or f"acct-{ticket_id}",
        product=product,
        symptom=symptom,
        summary=summary,
        reported_at=at,
        region=region,
    )


def chat_errors(ticket_id: str, **fields: Any) -> CustomerReport:
    """A report of errors on chat in pod17 (no chat incident is open there)."""
    return make_report(ticket_id, product="chat", symptom=Symptom.ERRORS, **fields)


def surge_batch() -> list[CustomerReport]:
    """Five accounts report chat errors (a surge), one slow support page, then chat errors again.

    Triaged by the default policy from :func:`new_world`: T-0 to T-3 troubleshoot,
    T-4 opens a chat incident linking T-0 to T-4, T-5 links to the support
    incident, T-6 links to the new chat incident.
    """
    return [
        *(chat_errors(f"T-{n}") for n in range(5)),
        make_report("T-5"),
        chat_errors("T-6"),
    ]


def new_world(
    store: Store, policy: TriagePolicy | None = None, notifier: RecordingNotifier | None = None
) -> IncidentDesk:
    """A desk at NOW with two open SEV2 incidents with latency alerts, opened at START.

    One is on support in pod17, one on chat in pod1. They are stored straight
    through the store (one transaction, nothing notified), which keeps each
    hypothesis example cheap.
    """
    desk = make_desk(store, notifier=notifier, clock=FakeClock(NOW), **_policy(policy))
    with desk.store.transaction() as tx:
        for product, region in (("support", "pod17"), ("chat", "pod1")):
            tx.add_incident(
                ServiceIncident(
                    id=tx.new_id("INC"),
                    title=f"Latency alert on {product}",
                    products=(product,),
                    owner_team=OWNERSHIP[product],
                    detected_at=START,
                    region=region,
                    group_key=desk.grouping.key(product, region),
                    signal_kinds=("latency",),
                    severity=SEV2,
                    status=IncidentStatus.INVESTIGATING,
                    opened_at=START,
                )
            )
    return desk


def _policy(policy: TriagePolicy | None) -> dict[str, Any]:
    return {} if policy is None else {"policy": policy}


def delivered(desk: IncidentDesk, notifier: RecordingNotifier) -> list[Notification]:
    """Deliver the outbox; return everything the notifier has received so far."""
    desk.deliver()
    return list(notifier.sent)


def seen(result: TriageResult) -> tuple[object, ...]:
    """What a result says, as comparable values."""
    return (
        result.decision,
        result.incident_id,
        result.applied,
        result.overridden,
        result.report.ticket_id,
        result.report.status,
        result.report.incident_id,
    )


@attrs.frozen
class State:
    """What a batch may write, as plain comparable values."""

    snapshot: Snapshot
    """Incidents, timelines, links, the tickets' reports and the outbox counts."""
    support: tuple[DomainEvent, ...]
    """The timeline of events about no incident (reports sent to troubleshooting)."""
    reports: tuple[tuple[str, ReportStatus | None, str | None], ...]
    """Each ticket's stored status and incident (``None``: not stored)."""


def state(desk: IncidentDesk, tickets: Sequence[str] = ()) -> State:
    """Read everything a batch of ``tickets`` may have written."""
    unique = tuple(dict.fromkeys(tickets))
    shot = snapshot(desk, unique)
    with desk.store.transaction() as tx:
        events = tuple(tx.timeline(None))  # type: ignore[arg-type]
        stored = [(t, tx.report(t)) for t in unique]
    return State(
        snapshot=shot,
        support=events,
        reports=tuple(
            (t, None, None) if r is None else (t, r.status, r.incident_id) for t, r in stored
        ),
    )


def triaged_tickets(state: State) -> list[str]:
    """The ticket of every ``ReportTriaged`` event, on incidents' timelines or none."""
    events = [e for _, timeline in state.snapshot.timelines for e in timeline]
    return [e.ticket_id for e in (*events, *state.support) if isinstance(e, ReportTriaged)]


def new_incidents(before: State, after: State) -> list[str]:
    """The ids of the incidents in ``after`` that ``before`` did not have."""
    known = {dict(fields)["id"] for fields in before.snapshot.incidents}
    ids = [str(dict(fields)["id"]) for fields in after.snapshot.incidents]
    return [i for i in ids if i not in known]


# -- the property: a batch ends as the same reports triaged one by one ------------------------

_SUMMARIES = (
    "Pages are slow to load",
    "Latency alert pages in the workspace",
    "Errors when saving a ticket",
    "Chat widget shows errors",
    "How do I export my data?",
)
_PRODUCTS = ("chat", "chat", "support")
# Repeats weight the choice: mostly symptoms that make surges.
_SYMPTOMS = (Symptom.ERRORS, Symptom.ERRORS, Symptom.SLOW, Symptom.UNAVAILABLE, Symptom.OTHER)
_REGIONS = ("pod17", "pod17", "pod1", None)
_LOCALES = ("en", "en", "fr", "fr-CA", "de")


@st.composite
def batches(draw: st.DrawFn) -> list[CustomerReport]:
    """3 to 25 received reports on support and chat from a few accounts, tickets repeating.

    Fields are drawn from small pools, most reports on one product and
    symptom, so that links, troubleshooting and surges (five accounts within
    15 minutes) all happen.
    """
    pool = draw(st.integers(5, 25))
    accounts = draw(st.integers(5, 9))
    focus = (draw(st.sampled_from(_PRODUCTS)), draw(st.sampled_from(_SYMPTOMS[:-1])))
    reports = []
    for _ in range(draw(st.integers(3, 25))):
        product, symptom = (
            focus
            if draw(st.integers(0, 3))
            else (draw(st.sampled_from(_PRODUCTS)), draw(st.sampled_from(_SYMPTOMS)))
        )
        reports.append(
            CustomerReport(
                ticket_id=f"T-{draw(st.integers(0, pool - 1))}",
                account_id=f"acct-{draw(st.integers(0, accounts - 1))}",
                product=product,
                symptom=symptom,
                summary=draw(st.sampled_from(_SUMMARIES)),
                reported_at=NOW - timedelta(minutes=draw(st.integers(0, 16))),
                region=draw(st.sampled_from(_REGIONS)),
                locale=draw(st.sampled_from(_LOCALES)),
            )
        )
    return reports


def deliveries(desk: IncidentDesk, notifier: RecordingNotifier) -> list[tuple[object, ...]]:
    """Deliver the outbox: what was sent, in order for each recipient, as plain values."""
    sent = sorted(enumerate(delivered(desk, notifier)), key=lambda p: (p[1].recipient, p[0]))
    return [
        (n.recipient, n.key, n.topic, n.incident_id, n.locale, n.subject, n.body) for _, n in sent
    ]


@pytest.fixture
def example_stores(store_factory: Callable[[], Store]) -> Iterator[Callable[[], Store]]:
    """``store_factory`` for hypothesis examples: SQLite in memory rather than in a file.

    Creating and closing a database file costs more than a whole example;
    the same SQL runs on ``SQLiteStore(":memory:")``. Other stores come from
    ``store_factory`` as they are.
    """
    if not isinstance(store_factory(), SQLiteStore):
        yield store_factory
        return
    made: list[SQLiteStore] = []

    def build() -> Store:
        made.append(SQLiteStore(":memory:"))
        return made[-1]

    yield build
    for built in made:
        built.close()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reports=batches())
def test_a_batch_ends_as_the_same_reports_triaged_one_by_one(
    example_stores: Callable[[], Store], reports: list[CustomerReport]
) -> None:
    """Same results, reports, links, incidents, timelines and notifications as one by one."""
    one_by_one_sent, batch_sent = RecordingNotifier(), RecordingNotifier()
    one_by_one = new_world(example_stores(), notifier=one_by_one_sent)
    batched = new_world(example_stores(), notifier=batch_sent)
    tickets = [r.ticket_id for r in reports]
    before = state(batched, tickets)

    singles = [one_by_one.triage_report(r, SUPPORT_AGENT) for r in reports]
    results = batched.triage_reports(reports, SUPPORT_AGENT)

    assert [seen(r) for r in results] == [seen(r) for r in singles]
    after = state(batched, tickets)
    assert after == state(one_by_one, tickets)
    # Each ticket is applied the first time it comes, and recorded once.
    assert [r.applied for r in results] == [t not in tickets[:n] for n, t in enumerate(tickets)]
    assert not any(r.overridden for r in results)
    assert all(status is not None for _, status, _ in after.reports)
    triaged = triaged_tickets(after)
    assert Counter(triaged) == dict.fromkeys(tickets, 1)
    # One incident per OPEN_NEW, declared once, at the decided severity.
    opened = new_incidents(before, after)
    decided = {
        r.incident_id: r.decision.severity
        for r in results
        if r.applied and r.decision.outcome is TriageOutcome.OPEN_NEW
    }
    assert set(opened) == set(decided)
    assert len(opened) == len(decided)
    for incident_id in opened:
        incident = batched.incident(incident_id)
        assert incident.severity is not None
        assert (incident.status, incident.severity.name) == (
            IncidentStatus.INVESTIGATING,
            decided[incident_id],
        )
        names = [e.name for e in batched.timeline(incident_id)]
        assert (names[0], names.count("IncidentDeclared")) == ("IncidentDeclared", 1)
    # The same notifications, each ticket told of its link once.
    sent = deliveries(batched, batch_sent)
    assert sent == deliveries(one_by_one, one_by_one_sent)
    links = Counter(n[0] for n in sent if n[2] is Topic.TICKET_LINKED)
    assert set(links.values()) <= {1}
    assert batched.outbox_stats() == one_by_one.outbox_stats()
    assert batched.outbox_stats().dead == 0

    outcomes = Counter(r.decision.outcome for r in results if r.applied)
    for outcome in TriageOutcome:
        event(f"{outcome.value}: {min(outcomes[outcome], 2)}+")
    event(f"repeated ticket: {len(set(tickets)) < len(tickets)}")
    troubleshot = {r.report.ticket_id for r in results if r.applied and r.incident_id is None}
    linked_later = [t for t, s, _ in after.reports if t in troubleshot and s is ReportStatus.LINKED]
    event(f"a surge linked reports troubleshot earlier in the batch: {bool(linked_later)}")


# -- a surge within one batch ------------------------------------------------------------------


def test_a_surge_within_a_batch_opens_one_incident_and_later_reports_link_to_it(
    store: Store, notifier: RecordingNotifier
) -> None:
    """The fifth account opens a SEV3 chat incident linking the surge; later reports join it."""
    desk = new_world(store, notifier=notifier)
    (support_incident,) = desk.open_incidents("support")
    before = state(desk)
    batch = surge_batch()

    results = desk.triage_reports(batch, SUPPORT_AGENT)

    assert [r.report.ticket_id for r in results] == [r.ticket_id for r in batch]
    assert all(r.applied for r in results)
    assert {(r.status, r.incident_id, r.version) for r in batch} == {
        (ReportStatus.RECEIVED, None, 0)
    }  # the reports passed in are left as they were
    outcomes = [r.decision.outcome for r in results]
    assert outcomes == [
        *[TriageOutcome.TROUBLESHOOT] * 4,
        TriageOutcome.OPEN_NEW,
        TriageOutcome.LINK_EXISTING,
        TriageOutcome.LINK_EXISTING,
    ]
    (opened,) = new_incidents(before, state(desk))
    assert [r.incident_id for r in results] == [
        *[None] * 4,
        opened,
        support_incident.id,
        opened,
    ]
    assert results[4].decision.severity == "SEV3"
    incident = desk.incident(opened)
    assert (incident.status, incident.owner_team, incident.products, incident.region) == (
        IncidentStatus.INVESTIGATING,
        "chat-eng",
        ("chat",),
        "pod17",
    )
    assert incident.severity is not None
    assert incident.severity.name == "SEV3"
    surge = ["T-4", "T-0", "T-1", "T-2", "T-3", "T-6"]
    assert desk.linked_tickets(opened) == surge
    assert desk.linked_tickets(support_incident.id) == ["T-5"]
    for ticket in surge:
        report = desk.report(ticket)
        assert report is not None
        assert (report.status, report.incident_id) == (ReportStatus.LINKED, opened)
    names = [e.name for e in desk.timeline(opened)]
    assert names == [
        "IncidentDeclared",
        "ReportTriaged",
        *["TicketLinked"] * 5,
        "ReportTriaged",
        "TicketLinked",
    ]
    troubleshot = [e for e in state(desk).support if isinstance(e, ReportTriaged)]
    assert [(e.ticket_id, e.outcome) for e in troubleshot] == [
        (f"T-{n}", "troubleshoot") for n in range(4)
    ]
    sent = delivered(desk, notifier)
    linked = Counter(n.recipient for n in sent if n.topic is Topic.TICKET_LINKED)
    assert linked == dict.fromkeys([*surge, "T-5"], 1)
    declared = [n for n in sent if n.topic is Topic.INCIDENT_DECLARED]
    assert [(n.recipient, n.recipient_kind, n.incident_id) for n in declared] == [
        ("chat-eng", RecipientKind.TEAM, opened)
    ]


def test_results_tell_each_report_as_it_was_triaged_in_its_turn(store: Store) -> None:
    """A report troubleshot early in the batch and linked by a later surge: its result says
    troubleshoot (as ``triage_report`` would have said then); the store says linked."""
    desk = new_world(store)

    results = desk.triage_reports(surge_batch(), SUPPORT_AGENT)

    first = results[0]
    assert (first.decision.outcome, first.incident_id, first.report.status) == (
        TriageOutcome.TROUBLESHOOT,
        None,
        ReportStatus.TROUBLESHOOTING,
    )
    stored = desk.report("T-0")
    assert stored is not None
    assert (stored.status, stored.incident_id) == (ReportStatus.LINKED, results[4].incident_id)


# -- idempotence -------------------------------------------------------------------------------


def test_a_ticket_triaged_before_or_twice_in_the_batch_is_not_applied_again(
    store: Store, notifier: RecordingNotifier
) -> None:
    """Already triaged, or a second time in the batch: ``applied`` false, nothing changed,
    and nobody is told twice."""
    desk = new_world(store, notifier=notifier)
    (incident,) = desk.open_incidents("support")
    first = desk.triage_report(make_report("T-1"), SUPPORT_AGENT)
    assert first.applied
    desk.deliver()
    batch = [
        make_report("T-1", summary="Something else entirely"),
        make_report("T-2"),
        make_report("T-3", product="chat", symptom=Symptom.OTHER),
        chat_errors("T-2"),  # the same ticket again, with other content
        make_report("T-3"),
        make_report("T-2"),
    ]

    results = desk.triage_reports(batch, SUPPORT_AGENT)

    assert [r.applied for r in results] == [False, True, True, False, False, False]
    assert [(r.decision.outcome, r.incident_id) for r in results] == [
        (TriageOutcome.LINK_EXISTING, incident.id),
        (TriageOutcome.LINK_EXISTING, incident.id),
        (TriageOutcome.TROUBLESHOOT, None),
        (TriageOutcome.LINK_EXISTING, incident.id),
        (TriageOutcome.TROUBLESHOOT, None),
        (TriageOutcome.LINK_EXISTING, incident.id),
    ]
    for result in results:
        if not result.applied:
            assert "triaged before" in result.decision.reasons[0]
    t2 = desk.report("T-2")
    assert t2 is not None
    assert (t2.product, t2.symptom) == ("support", Symptom.SLOW)  # the first one is kept
    assert desk.linked_tickets(incident.id) == ["T-1", "T-2"]
    sent = delivered(desk, notifier)
    after = state(desk, ("T-1", "T-2", "T-3"))
    assert Counter(triaged_tickets(after)) == {"T-1": 1, "T-2": 1, "T-3": 1}

    again = desk.triage_reports(batch, SUPPORT_AGENT)

    assert [r.applied for r in again] == [False] * len(batch)
    assert state(desk, ("T-1", "T-2", "T-3")) == after
    assert delivered(desk, notifier) == sent
    linked = Counter(n.recipient for n in sent if n.topic is Topic.TICKET_LINKED)
    assert linked == {"T-1": 1, "T-2": 1}
    assert {n.recipient for n in sent} == {"T-1", "T-2"}


def test_a_batch_of_tickets_all_triaged_before_writes_nothing(store: Store) -> None:
    """When every ticket was triaged before, no event, report or notification is added."""
    desk = new_world(store)
    batch = surge_batch()
    desk.triage_reports(batch, SUPPORT_AGENT)
    tickets = [r.ticket_id for r in batch]
    before = state(desk, tickets)

    results = desk.triage_reports(list(reversed(batch)), SUPPORT_AGENT)

    assert not any(r.applied for r in results)
    assert state(desk, tickets) == before


# -- bad input ---------------------------------------------------------------------------------

_GOOD = ("T-1", "T-2", "T-3")


def _good() -> list[CustomerReport]:
    return [make_report(t) for t in _GOOD]


_BAD_BATCHES: dict[str, tuple[Callable[[list[CustomerReport]], object], str]] = {
    "None": (lambda good: None, "reports"),
    "a str": (lambda good: "T-1", "reports"),
    "a report alone": (lambda good: good[0], "reports"),
    "an iterator": (lambda good: iter(good), "reports"),
    "a set": (lambda good: set(good), "reports"),
    "a mapping": (lambda good: dict(enumerate(good)), "reports"),
    "a ticket id in the list": (lambda good: [good[0], "T-9"], "reports[1]"),
    "None in the list": (lambda good: [*good, None], "reports[3]"),
    "a decision in the list": (
        lambda good: [TriageDecision.troubleshoot("no"), *good],
        "reports[0]",
    ),
    "a report in troubleshooting": (
        lambda good: [good[0], attrs.evolve(good[1], status=ReportStatus.TROUBLESHOOTING), good[2]],
        "reports[1]",
    ),
    "a linked report": (
        lambda good: [
            *good,
            attrs.evolve(make_report("T-4"), status="linked", incident_id="INC-1"),
        ],
        "reports[3]",
    ),
}


@pytest.mark.parametrize("case", sorted(_BAD_BATCHES))
def test_bad_input_names_the_item_and_keeps_nothing(
    store: Store, notifier: RecordingNotifier, case: str
) -> None:
    """``InvalidInput`` names ``reports`` or the item (``reports[i]``); nothing is stored."""
    desk = new_world(store, notifier=notifier)
    build, field = _BAD_BATCHES[case]
    tickets = (*_GOOD, "T-4", "T-9")
    before = state(desk, tickets)

    with pytest.raises(InvalidInput) as caught:
        desk.triage_reports(build(_good()), SUPPORT_AGENT)  # type: ignore[arg-type]

    assert caught.value.field == field
    assert state(desk, tickets) == before
    assert all(desk.report(t) is None for t in tickets)
    assert delivered(desk, notifier) == []


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    position=st.integers(0, len(_GOOD)),
    triaged=st.sampled_from([s for s in ReportStatus if s is not ReportStatus.RECEIVED]).flatmap(
        lambda status: customer_reports(status=status)
    ),
)
def test_a_report_that_is_not_received_is_refused_wherever_it_is(
    desk: IncidentDesk, position: int, triaged: CustomerReport
) -> None:
    """Any report past ``received`` (the project's strategy draws them) is refused by index."""
    batch = _good()
    batch.insert(position, triaged)
    tickets = (*_GOOD, triaged.ticket_id)
    before = state(desk, tickets)

    with pytest.raises(InvalidInput) as caught:
        desk.triage_reports(batch, SUPPORT_AGENT)

    assert caught.value.field == f"reports[{position}]"
    assert state(desk, tickets) == before


@pytest.mark.parametrize("empty", [[], ()], ids=["list", "tuple"])
def test_an_empty_batch_returns_nothing_and_writes_nothing(
    store: Store, empty: Sequence[CustomerReport]
) -> None:
    """No reports: an empty list back, and the store as it was."""
    desk = new_world(store)
    before = state(desk)

    assert desk.triage_reports(empty, SUPPORT_AGENT) == []
    assert state(desk) == before


# -- all or nothing ----------------------------------------------------------------------------


class FailingPolicy:
    """The default policy, raising ``InjectedFault`` at its ``fail_at``-th assessment."""

    def __init__(self, fail_at: int | None) -> None:
        self.inner = DefaultTriagePolicy()
        self.fail_at = fail_at
        self.calls = 0

    @property
    def lookback(self) -> timedelta:
        """The inner policy's look-back."""
        return self.inner.lookback

    def assess(
        self,
        report: CustomerReport,
        candidates: Sequence[ServiceIncident],
        recent_reports: Sequence[CustomerReport],
        now: datetime,
    ) -> TriageDecision:
        """Count the call; fail at the planned one, else decide as the default policy."""
        self.calls += 1
        if self.calls == self.fail_at:
            raise InjectedFault(f"policy failed at report {self.calls}")
        return self.inner.assess(report, candidates, recent_reports, now)


def test_the_failing_policy_is_a_triage_policy() -> None:
    """The test's policy satisfies the protocol the desk checks."""
    assert isinstance(FailingPolicy(None), TriagePolicy)


@pytest.mark.parametrize(
    "fail_at",
    [1, 4, 5, 6, 7],
    ids=["first", "before-surge", "at-surge", "after-open", "last"],
)
def test_a_policy_failing_part_way_keeps_nothing_of_the_batch(
    store_factory: Callable[[], Store], fail_at: int
) -> None:
    """The fault propagates; no report, incident, link, event or notification of the batch
    is kept. The same batch then succeeds, ending as on a desk that never failed."""
    policy = FailingPolicy(fail_at)
    sent = RecordingNotifier()
    desk = new_world(store_factory(), policy=policy, notifier=sent)
    batch = surge_batch()
    tickets = [r.ticket_id for r in batch]
    before = state(desk, tickets)

    with pytest.raises(InjectedFault):
        desk.triage_reports(batch, SUPPORT_AGENT)

    assert policy.calls == fail_at
    assert state(desk, tickets) == before
    assert all(desk.report(t) is None for t in tickets)
    assert [i.id for i in desk.open_incidents()] == [
        dict(fields)["id"] for fields in before.snapshot.incidents
    ]
    assert delivered(desk, sent) == []

    policy.fail_at = None
    results = desk.triage_reports(batch, SUPPORT_AGENT)

    assert all(r.applied for r in results)
    reference = new_world(store_factory())
    reference.triage_reports(batch, SUPPORT_AGENT)
    assert canonical(state(desk, tickets)) == canonical(state(reference, tickets))


def test_a_report_the_desk_cannot_apply_fails_the_whole_batch(store: Store) -> None:
    """A surge on a product no team owns cannot open an incident: the batch raises
    ``InvalidInput`` and none of it is kept, not even the reports before that one."""
    desk = new_world(store)
    batch = [make_report("T-ok"), *(make_report(f"B-{n}", product="billing") for n in range(5))]
    tickets = [r.ticket_id for r in batch]
    before = state(desk, tickets)

    with pytest.raises(InvalidInput) as caught:
        desk.triage_reports(batch, SUPPORT_AGENT)

    assert caught.value.field == "reports[5]"  # the fifth billing report makes the surge
    assert caught.value.reason.startswith("product: ")
    assert state(desk, tickets) == before
    assert desk.triage_reports(batch[:5], SUPPORT_AGENT)[0].applied  # four billing: no surge


@pytest.mark.parametrize(
    ("point", "at"),
    [("add_report", 3), ("add_incident", 1), ("link", 2), ("append", 1), ("enqueue", 1)],
)
def test_a_store_failing_part_way_keeps_nothing_of_the_batch(
    store_factory: Callable[[], Store], point: str, at: int
) -> None:
    """A store call failing after it ran (even the last writes, the events and the outbox)
    rolls the whole batch back; the same batch then succeeds."""
    observed = ObservedStore(store_factory())
    sent = RecordingNotifier()
    desk = new_world(observed, notifier=sent)
    batch = surge_batch()
    tickets = [r.ticket_id for r in batch]
    before = state(desk, tickets)
    observed.plan.arm(point, at)

    with pytest.raises(InjectedFault):
        desk.triage_reports(batch, SUPPORT_AGENT)

    assert observed.plan.fired
    assert state(desk, tickets) == before
    assert delivered(desk, sent) == []

    results = desk.triage_reports(batch, SUPPORT_AGENT)

    assert all(r.applied for r in results)
    reference = new_world(store_factory())
    reference.triage_reports(batch, SUPPORT_AGENT)
    assert canonical(state(desk, tickets)) == canonical(state(reference, tickets))


# -- permissions -------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", [ENG_SUPPORT, MONITOR], ids=["engineering", "monitoring"])
def test_only_support_or_an_incident_manager_triages_a_batch(store: Store, actor: Actor) -> None:
    """Engineering and monitoring are refused and nothing is kept; an incident manager may."""
    desk = new_world(store)
    batch = surge_batch()
    tickets = [r.ticket_id for r in batch]
    before = state(desk, tickets)

    with pytest.raises(NotPermitted):
        desk.triage_reports(batch, actor)
    with pytest.raises(NotPermitted):
        desk.triage_reports([], actor)

    assert state(desk, tickets) == before
    results = desk.triage_reports(batch, IM)
    assert all(r.applied for r in results)
    triaged = [e for e in desk.timeline(results[4].incident_id or "") if e.name == "ReportTriaged"]
    assert {e.actor for e in triaged} == {IM}


def test_the_actor_must_be_an_actor(store: Store) -> None:
    """A name instead of an ``Actor`` is refused naming ``by``."""
    desk = new_world(store)
    before = state(desk, ["T-0"])

    with pytest.raises(InvalidInput) as caught:
        desk.triage_reports(surge_batch(), "sam")  # type: ignore[arg-type]

    assert caught.value.field == "by"
    assert state(desk, ["T-0"]) == before


def test_a_report_arriving_with_any_version_is_stored_at_version_zero(store: Store) -> None:
    """The version a received report carries means nothing before it is stored: one at
    version 3 triages like any other, alone or in a batch, on every store."""
    desk = new_world(store)
    alone = desk.triage_report(attrs.evolve(make_report("V-1"), version=3), SUPPORT_AGENT)
    batch = desk.triage_reports(
        [make_report("V-2"), attrs.evolve(make_report("V-3"), version=7)], SUPPORT_AGENT
    )

    assert [r.applied for r in (alone, *batch)] == [True, True, True]
    for result in (alone, *batch):
        assert result.report.status is ReportStatus.LINKED
        stored = desk.report(result.report.ticket_id)
        assert stored is not None
        assert (stored.status, stored.version) == (ReportStatus.LINKED, 1)
