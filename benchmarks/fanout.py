"""Fan-out of one public update to very many linked tickets, and its delivery."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from benchmarks.common import START, Figure, retained_bytes
from incident_lifecycle import Actor, CustomerReport, ReportStatus, Role
from incident_lifecycle.adapters import RecordingNotifier
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.ports import Store
from incident_lifecycle.testing import FakeClock

ENGINEER = Actor(name="ana", role=Role.ENGINEERING, team="support-eng")


def linked_desk(make_store: Callable[[], Store], tickets: int) -> tuple[IncidentDesk, str]:
    """A desk with one open incident and ``tickets`` linked reports (loaded in bulk)."""
    desk = IncidentDesk(
        store=make_store(),
        notifier=RecordingNotifier(),
        clock=FakeClock(START),
        ownership={"support": "support-eng"},
    )
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
    """Plain tuples: one (key, ticket, text) row per linked ticket appended to a list."""
    linked = [f"T{n}" for n in range(tickets)]
    outbox: list[tuple[str, str, str]] = []
    started = time.perf_counter()
    text = "We are investigating."
    outbox.extend((f"INC-1/UPD-1/{ticket}", ticket, text) for ticket in linked)
    return time.perf_counter() - started


def reference_delivery(tickets: int, batch: int) -> float:
    """Plain lists: pop a batch, 'send' it, mark each delivered in a dict."""
    pending = [(f"k{n}", f"T{n}") for n in range(tickets)]
    state: dict[str, str] = {}
    started = time.perf_counter()
    for start in range(0, tickets, batch):
        for key, _ticket in pending[start : start + batch]:
            state[key] = "delivered"
    return time.perf_counter() - started


def _retained_by_enqueue(make_store: Callable[[], Store], tickets: int) -> int:
    """Bytes one public update to ``tickets`` tickets leaves allocated (on its own desk)."""
    desk, incident_id = linked_desk(make_store, tickets)
    _, retained = retained_bytes(
        lambda: desk.post_update(incident_id, ENGINEER, "We are investigating.")
    )
    return retained


def bench_fanout(make_store: Callable[[], Store], tickets: int, label: str) -> list[Figure]:
    """Enqueue one public update to ``tickets`` tickets; then deliver two, in batches of 100.

    The enqueue is timed on a fresh desk and its retained memory measured on
    another one; the delivery drains both updates (``2 * tickets``).
    """
    retained = _retained_by_enqueue(make_store, tickets)
    gc.collect()  # the measured desk is gone: time the next one on a clean heap
    desk, incident_id = linked_desk(make_store, tickets)
    gc.collect()
    started = time.perf_counter()
    desk.post_update(incident_id, ENGINEER, "We are investigating.")
    enqueue_seconds = time.perf_counter() - started
    desk.post_update(incident_id, ENGINEER, "We found the cause.")
    figures = [
        Figure(
            f"{label} fan-out enqueue ({tickets:,} tickets)",
            tickets,
            enqueue_seconds,
            [enqueue_seconds * 1e6],
            retained / 2**20,
            reference_fanout(tickets),
            "notifications",
            f"{retained / tickets:,.0f} bytes per ticket retained",
        )
    ]
    latencies = []
    delivered = 0
    started = time.perf_counter()
    while True:
        tick = time.perf_counter()
        report = desk.deliver(batch_size=100, max_batches=100)
        latencies.append((time.perf_counter() - tick) * 1e6 / max(report.attempted, 1))
        delivered += report.delivered
        if not report.attempted:
            break
    seconds = time.perf_counter() - started
    if delivered != 2 * tickets:
        raise AssertionError(f"delivered {delivered}, expected {2 * tickets}")
    figures.append(
        Figure(
            f"{label} delivery (batches of 100)",
            delivered,
            seconds,
            latencies,
            0.0,
            reference_delivery(delivered, 100),
            "notifications",
        )
    )
    return figures
