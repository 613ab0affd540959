"""Fan-out of one public update to very many linked tickets, and its delivery."""

from __future__ import annotations

import time

from benchmarks.common import (
    BARE,
    START,
    Case,
    MakeStore,
    Run,
    Spec,
    measured,
    new_desk,
    retained_bytes,
    stopwatch,
)
from incident_lifecycle import Actor, CustomerReport, ReportStatus, Role
from incident_lifecycle.desk import IncidentDesk

ENGINEER = Actor(name="ana", role=Role.ENGINEERING, team="support-eng")
BATCH = 100


def linked_desk(make_store: MakeStore, tickets: int) -> tuple[IncidentDesk, str]:
    """A desk with one open incident and ``tickets`` linked reports (loaded in bulk)."""
    desk = new_desk(make_store())
    incident = desk.declare_incident(
        ENGINEER, title="Support is down", product="support", severity="SEV1"
    )
    with desk.store.transaction() as tx:
        for n in range(tickets):
            report = CustomerReport(
                ticket_id=f"T{n}",
                account_id=f"A{n}",
                product="support",
                symptom="unavailable",
                summary="Cannot reach Support",
                reported_at=START,
                status=ReportStatus.LINKED,
                incident_id=incident.id,
                locale="fr" if n % 5 == 0 else "en",
            )
            tx.add_report(report)
            tx.link(report.ticket_id, incident.id)
    return desk, incident.id


def reference_fanout(tickets: int) -> float:
    """Plain tuples in a dict keyed by idempotency key (the floor of an idempotent outbox):
    one ``(ticket, text)`` row per linked ticket whose key is not there yet."""
    linked = [f"T{n}" for n in range(tickets)]
    outbox: dict[str, tuple[str, str]] = {}
    text = "We are investigating."

    def work() -> None:
        for ticket in linked:
            key = f"INC-1/UPD-1/{ticket}"
            if key not in outbox:
                outbox[key] = (ticket, text)

    return stopwatch(work)


def reference_delivery(notifications: int) -> float:
    """Plain lists: take a batch, 'send' it, mark each delivered in a dict."""
    pending = [(f"k{n}", f"T{n}") for n in range(notifications)]
    state: dict[str, str] = {}

    def work() -> None:
        for start in range(0, notifications, BATCH):
            for key, _ticket in pending[start : start + BATCH]:
                state[key] = "delivered"

    return stopwatch(work)


def deliver_all(desk: IncidentDesk, expected: int) -> tuple[float, list[float]]:
    """Drain the outbox in batches of 100; check ``expected`` were delivered.

    Returns the seconds and the per-notification latency of each call that sent some
    (a call sends up to 100 batches).
    """
    latencies = []
    delivered = 0
    started = time.perf_counter()
    while True:
        tick = time.perf_counter()
        report = desk.deliver(batch_size=BATCH, max_batches=100)
        if not report.attempted:  # the last call, which finds nothing due
            break
        latencies.append((time.perf_counter() - tick) * 1e6 / report.attempted)
        delivered += report.delivered
    seconds = time.perf_counter() - started
    if delivered != expected:
        raise AssertionError(f"delivered {delivered}, expected {expected}")
    return seconds, latencies


def enqueue(desk: IncidentDesk, incident_id: str, text: str) -> float:
    """Seconds to post one public update to every linked ticket."""
    return stopwatch(lambda: desk.post_update(incident_id, ENGINEER, text))


def bytes_per_ticket(make_store: MakeStore, tickets: int) -> float:
    """Bytes one public update to ``tickets`` tickets leaves allocated, per ticket."""
    desk, incident_id = linked_desk(make_store, tickets)
    retained = retained_bytes(lambda: desk.post_update(incident_id, ENGINEER, "Investigating."))
    return retained / tickets


def bench_fanout(make_store: MakeStore, tickets: int, memory: bool) -> list[Run]:
    """Enqueue one update to ``tickets`` tickets; deliver it with a second one (``2 * tickets``).

    With ``memory``, also the bytes retained per ticket, measured on another desk.
    """
    desk, incident_id = linked_desk(make_store, tickets)
    seconds = enqueue(desk, incident_id, "We are investigating.")
    desk.post_update(incident_id, ENGINEER, "We found the cause.")
    runs = [measured(tickets, seconds, [], reference_fanout(tickets))]
    seconds, latencies = deliver_all(desk, 2 * tickets)
    runs.append(measured(2 * tickets, seconds, latencies, reference_delivery(2 * tickets)))
    if memory:
        del desk  # freed before the next desk is built
        runs.append(Run(items=tickets, bytes_per_item=bytes_per_ticket(make_store, tickets)))
    return runs


def fanout_cases(backend: str, make_store: MakeStore, tickets: int) -> list[Case]:
    """Enqueue and delivery rows of ``backend``; in memory, the bytes per linked ticket too."""
    memory = backend == "memory"
    specs: tuple[Spec, ...] = (
        Spec("fan-out enqueue", backend, f"{tickets:,} tickets", "notifications"),
        Spec(
            "delivery, batches of 100",
            backend,
            f"{2 * tickets:,} notifications (2 updates)",
            "notifications",
        ),
    )
    if memory:
        specs += (Spec("memory per linked ticket", backend, f"{tickets:,} tickets", "tickets"),)
    return [Case("fan-out", specs, lambda: bench_fanout(make_store, tickets, memory))]


def scale_fanout(make_store: MakeStore, tickets: int) -> dict[str, float]:
    """Seconds to enqueue one update to ``tickets`` tickets, and to deliver it."""
    desk, incident_id = linked_desk(make_store, tickets)
    seconds = enqueue(desk, incident_id, "We are investigating.")
    delivery, _ = deliver_all(desk, tickets)
    return {
        "fan-out enqueue": seconds,
        "delivery, batches of 100": delivery,
        f"fan-out enqueue{BARE}": reference_fanout(tickets),
        f"delivery, batches of 100{BARE}": reference_delivery(tickets),
    }
