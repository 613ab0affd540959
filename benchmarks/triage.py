"""Triage of customer reports against many open incidents, with a small and a large history."""

from __future__ import annotations

import random
import time

from benchmarks.common import START, Figure, peak_mib
from incident_lifecycle import Actor, CustomerReport, Role, ServiceIncident
from incident_lifecycle.adapters import InMemoryStore, RecordingNotifier
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.testing import FakeClock

PRODUCTS = [f"product{p}" for p in range(20)]
MANAGER = Actor(name="im", role=Role.INCIDENT_MANAGER)
AGENT = Actor(name="sam", role=Role.SUPPORT)


def _desk(open_incidents: int, history: int) -> IncidentDesk:
    desk = IncidentDesk(
        store=InMemoryStore(),
        notifier=RecordingNotifier(),
        clock=FakeClock(START),
        ownership={p: f"{p}-eng" for p in PRODUCTS},
    )
    for n in range(history):
        old = desk.declare_incident(
            MANAGER, title=f"Old outage {n}", product=PRODUCTS[n % 20], severity="SEV3"
        )
        desk.resolve_incident(old.id, MANAGER, "Fixed.")
    for n in range(open_incidents):
        desk.declare_incident(
            MANAGER,
            title=f"Slow pages and errors on checkout {n}",
            product=PRODUCTS[n % 20],
            severity="SEV2",
            region=f"pod{n % 10}",
        )
    return desk


def _reports(count: int, seed: int) -> list[CustomerReport]:
    rng = random.Random(seed)
    symptoms = ["slow", "errors", "unavailable", "other"]
    return [
        CustomerReport(
            ticket_id=f"T{seed}-{n}",
            account_id=f"A{rng.randrange(50_000)}",
            product=PRODUCTS[n % 20],
            symptom=symptoms[rng.randrange(4)],
            summary="Checkout pages are slow and sometimes fail with errors",
            reported_at=START,
            region=f"pod{rng.randrange(10)}",
        )
        for n in range(count)
    ]


def reference_triage(reports: list[CustomerReport], incidents: list[ServiceIncident]) -> float:
    """Plain dicts: candidates by product, best score wins, link recorded, message queued."""
    by_product: dict[str, list[tuple[str, str | None]]] = {}
    for incident in incidents:
        by_product.setdefault(incident.products[0], []).append((incident.id, incident.region))
    links: dict[str, str] = {}
    outbox: list[tuple[str, str]] = []
    started = time.perf_counter()
    for report in reports:
        best = None
        for incident_id, region in by_product.get(report.product, ()):
            score = 1 + (1.5 if region == report.region else 0)
            if region is not None and report.region is not None and region != report.region:
                continue
            if best is None or score > best[0]:
                best = (score, incident_id)
        if best is not None:
            links[report.ticket_id] = best[1]
            outbox.append((report.ticket_id, best[1]))
    return time.perf_counter() - started


def bench_triage(reports: int, open_incidents: int, history: int) -> Figure:
    """Triage ``reports`` reports end to end (stored, assessed, linked, notification queued)."""
    desk = _desk(open_incidents, history)
    batch = _reports(reports, history)
    latencies = []
    started = time.perf_counter()
    for report in batch:
        tick = time.perf_counter()
        desk.triage_report(report, AGENT)
        latencies.append((time.perf_counter() - tick) * 1e6)
    seconds = time.perf_counter() - started
    reference = reference_triage(batch, list(desk.open_incidents()))
    sample = _reports(min(reports, 2_000), history + 1)

    def memory_run() -> None:
        for report in sample:
            desk.triage_report(report, AGENT)

    return Figure(
        f"triage ({open_incidents:,} open, {history:,} resolved)",
        reports,
        seconds,
        latencies,
        peak_mib(memory_run),
        reference,
        "reports",
    )
