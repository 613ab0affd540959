"""The demo: the guide's whole workflow on an embedded SQLite file, deterministic per seed.

An alert storm on Support's latency in pod 17 is deduplicated into one
potential incident, validated by the owning team as SEV1; a few hundred
customer reports are triaged (most linked, a surge on Chat opening a second
incident, the rest troubleshot and resolved or transferred); public and
internal updates, a hand-off, reminders, resolution with the cascade to every
linked ticket, the reviews and closing; finally the outbox is delivered to a
JSON Lines file through a notifier that fails now and then, and nothing is lost.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from .adapters.notifiers import JsonLinesNotifier
from .adapters.sqlite import SQLiteStore
from .delivery import RetryPolicy
from .desk import IncidentDesk
from .domain.actors import Actor, Role
from .domain.alerts import AlertKind, AlertSignal
from .domain.incidents import RemediationItem, Review, ServiceIncident, Visibility
from .domain.reports import CustomerReport, ReportStatus, TriageOutcome
from .testing.fakes import FakeClock, FlakyNotifier

__all__ = ["DEMO_START", "OWNERSHIP", "run_demo"]

DEMO_START = datetime(2026, 5, 2, 14, 0, tzinfo=UTC)
OWNERSHIP = {
    "support": "support-eng",
    "chat": "chat-eng",
    "talk": "talk-eng",
    "guide": "guide-eng",
}
NOC = Actor(name="znoc", role=Role.MONITORING)
ANA = Actor(name="ana", role=Role.ENGINEERING, team="support-eng")
RAJ = Actor(name="raj", role=Role.ENGINEERING, team="platform-eng")
CHEN = Actor(name="chen", role=Role.ENGINEERING, team="chat-eng")
SAM = Actor(name="sam", role=Role.SUPPORT, team="tier1")
IRIS = Actor(name="iris", role=Role.INCIDENT_MANAGER)

Say = Callable[[str], None]


def _signals(rng: random.Random, at: datetime, count: int) -> list[AlertSignal]:
    hosts = [f"app{n:02d}" for n in range(12)]
    return [
        AlertSignal(
            fingerprint=f"support-latency-pod17-{host}",
            product="support",
            kind=AlertKind.LATENCY,
            summary=f"p99 latency {1.8 + rng.random():.1f} s on {host} (threshold 1.5 s)",
            observed_at=at,
            region="pod17",
            labels={"host": host, "service": "support-web"},
        )
        for host in (rng.choice(hosts) for _ in range(count))
    ]


def _report(rng: random.Random, n: int, at: datetime, kind: str) -> CustomerReport:
    if kind == "support":
        return CustomerReport(
            ticket_id=f"ZD-{10_000 + n}",
            account_id=f"acct-{rng.randrange(400)}",
            product="support",
            symptom="slow",
            summary=rng.choice(
                [
                    "Tickets take forever to load in the agent workspace",
                    "Views are very slow since this afternoon",
                    "Agent pages are slow, sometimes 20 seconds",
                ]
            ),
            reported_at=at,
            region="pod17",
            channel=rng.choice(["ticket", "chat"]),
            locale=rng.choice(["en", "en", "en", "fr", "fr-CA"]),
        )
    if kind == "chat":
        return CustomerReport(
            ticket_id=f"ZD-{10_000 + n}",
            account_id=f"chat-acct-{n}",
            product="chat",
            symptom="unavailable",
            summary="The chat widget does not load for our visitors",
            reported_at=at,
            channel="ticket",
            locale=rng.choice(["en", "fr"]),
        )
    return CustomerReport(
        ticket_id=f"ZD-{10_000 + n}",
        account_id=f"acct-{rng.randrange(400)}",
        product=rng.choice(["guide", "talk"]),
        symptom="other",
        summary=rng.choice(
            [
                "How do I change the colour of my help centre theme?",
                "A call recording is missing from one ticket",
                "Our custom domain certificate shows a warning",
            ]
        ),
        reported_at=at,
        region=None,
    )


def run_demo(db: Path, outbox: Path, seed: int, say: Say) -> dict[str, object]:
    """Run the scenario on ``db`` (created fresh) and deliver to ``outbox``; narrate with ``say``.

    Returns the facts the narration is built from, for tests.
    """
    rng = random.Random(seed)  # noqa: S311 - a reproducible story, not cryptography
    clock = FakeClock(DEMO_START)
    store = SQLiteStore(db)
    store.set_setting("ownership", OWNERSHIP)
    store.set_setting("demo", {"seed": seed})
    notifier = FlakyNotifier(
        failure_rate=0.05, inner=JsonLinesNotifier(outbox), seed=seed, retry_after=None
    )
    desk = IncidentDesk(
        store=store,
        notifier=notifier,
        ownership=OWNERSHIP,
        clock=clock,
        retry=RetryPolicy(base=timedelta(seconds=5), cap=timedelta(minutes=2)),
        seed=seed,
    )

    say("1. Monitoring: an alert storm on Support latency in pod 17")
    total = 0
    intake_ids: set[str] = set()
    for _minute in range(5):
        batch = _signals(rng, clock.now(), 1_000)
        intake = desk.receive_alerts(batch, by=NOC)
        total += intake.signals
        intake_ids.update(intake.incidents_started)
        clock.advance(minutes=1)
    blip = AlertSignal(
        fingerprint="guide-errors-pod3",
        product="guide",
        kind=AlertKind.ERROR_RATE,
        summary="5xx rate 2.1% on help centre pages",
        observed_at=clock.now(),
        region="pod3",
    )
    blip_incident = desk.receive_alert(blip, by=NOC).incident_id
    support = desk.potential_incidents("support")[0]
    alerts = desk.alerts_of(support.id)
    say(
        f"   {total:,} signals -> {len(alerts)} alerts (one per host) -> 1 potential incident "
        f"{support.id}; {sum(a.count for a in alerts):,} signals counted"
    )
    clock.advance(minutes=1)
    cleared = desk.clear_alert("guide-errors-pod3", by=NOC)
    say(f"   a Guide error blip recovered on its own: {blip_incident} {cleared.outcome}")

    say("2. Validation by the owning team")
    clock.advance(minutes=1)
    desk.acknowledge(support.id, ANA)
    clock.advance(minutes=2)
    desk.validate_incident(support.id, ANA, "SEV1", title="Support agent pages slow in pod 17")
    clock.advance(minutes=4)
    desk.post_update(
        support.id,
        ANA,
        "We are investigating slow page loads for Support customers in pod 17.",
    )
    desk.post_update(
        support.id,
        ANA,
        "DB primary at 95% CPU; suspect the 13:50 deploy.",
        visibility=Visibility.INTERNAL,
    )
    say(f"   {support.id} validated as SEV1 by {ANA.name}; public and internal updates posted")

    say("3. Customer reports triaged by support")
    outcomes: Counter[str] = Counter()
    n = 0
    chat_incident: str | None = None
    for minute in range(40):
        clock.advance(minutes=1)
        kinds = ["support"] * rng.randrange(3, 9)
        if 10 <= minute < 18:
            kinds += ["chat"]
        if minute % 3 == 0:
            kinds += ["other"]
        for kind in kinds:
            n += 1
            result = desk.triage_report(_report(rng, n, clock.now(), kind), SAM)
            outcomes[result.decision.outcome.value] += 1
            if kind == "chat" and result.decision.outcome is TriageOutcome.OPEN_NEW:
                chat_incident = result.incident_id
        if minute == 20:
            desk.post_update(
                support.id,
                ANA,
                "We identified a database overload and are rolling back a change.",
                status="identified",
            )
            desk.hand_off(support.id, ANA, "platform-eng", "Database capacity is platform's")
        if minute == 30:
            desk.post_update(
                support.id,
                RAJ,
                "The rollback is complete; page loads are recovering. We are monitoring.",
                status="monitoring",
            )
    troubleshooting = [
        r
        for ticket in (f"ZD-{10_000 + k}" for k in range(1, n + 1))
        if (r := desk.report(ticket)) is not None and r.status is ReportStatus.TROUBLESHOOTING
    ]
    for index, report in enumerate(troubleshooting):
        if index % 2:
            desk.transfer_report(report.ticket_id, SAM, "guide-eng", "Needs an engineer's look")
        else:
            desk.resolve_report(report.ticket_id, SAM, "Answered with the help centre article")
    linked = len(desk.linked_tickets(support.id))
    say(
        f"   {n} reports: {outcomes['link_existing']} linked, {outcomes['open_new']} opened a new "
        f"incident, {outcomes['troubleshoot']} troubleshot "
        f"({len(troubleshooting)} then resolved or transferred)"
    )
    if chat_incident is not None:
        say(
            f"   a surge of Chat reports opened {chat_incident} "
            f"({len(desk.linked_tickets(chat_incident))} tickets linked)"
        )

    say("4. Cadence: reminders for updates that are due")
    clock.advance(minutes=10)
    due = desk.updates_due()
    reminders = desk.send_update_reminders()
    say(f"   {len(due)} incident(s) owe customers an update; {reminders} reminder(s) sent")
    if chat_incident is not None:
        desk.post_update(
            chat_incident, CHEN, "We are investigating reports that the chat widget fails to load."
        )
        clock.advance(minutes=5)

    say("5. Resolution: the cascade to every linked ticket")
    solved = desk.resolve_incident(
        support.id, RAJ, "Support pages are fast again: the faulty change was rolled back."
    )
    if chat_incident is not None:
        clock.advance(minutes=3)
        desk.resolve_incident(chat_incident, CHEN, "The chat widget loads again for all visitors.")
    say(f"   {support.id} resolved; its {linked} linked tickets were sent the resolution")

    say("6. Post-incident review and closing")
    clock.advance(hours=20)
    review = Review(
        root_cause="A schema change added a full-table scan to the ticket view query.",
        impact="Agents in pod 17 saw page loads of 5-20 s for 55 minutes.",
        remediation=(
            RemediationItem(
                description="Add query plan checks to the deploy pipeline",
                owner_team="platform-eng",
                due=date(2026, 5, 30),
            ),
            RemediationItem(
                description="Alert on p99 latency per view, not per pod",
                owner_team="support-eng",
                due=date(2026, 5, 16),
            ),
        ),
    )
    desk.close_incident(support.id, RAJ, review)
    if chat_incident is not None:
        desk.close_incident(
            chat_incident, CHEN, Review(root_cause="An expired CDN certificate for the widget.")
        )
    say(f"   {support.id} closed with {len(review.remediation)} remediation items")

    say("7. Delivery: the outbox drained through a notifier that fails 5% of the time")
    rounds = attempted = 0
    while True:
        delivery = desk.deliver(batch_size=100)
        rounds += 1
        attempted += delivery.attempted
        if delivery.next_due_at is None:
            break
        clock.set(max(delivery.next_due_at, clock.now()))
    stats = desk.outbox_stats()
    say(
        f"   {stats.delivered:,} notifications delivered in {rounds} rounds "
        f"({attempted - stats.delivered} retries), {stats.dead} dead-lettered, "
        f"{stats.pending} pending -> {outbox}"
    )
    store.close()
    return {
        "support": support.id,
        "chat": chat_incident,
        "signals": total,
        "reports": n,
        "delivered": stats.delivered,
        "pending": stats.pending,
        "dead": stats.dead,
        "desk": desk,
        "final": solved,
    }


def incident_summary(incident: ServiceIncident) -> str:
    """One line about an incident for the demo's account."""
    severity = incident.severity.name if incident.severity else "-"
    return f"{incident.id} {severity} {incident.status.value}: {incident.title}"
