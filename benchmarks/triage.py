"""Triage of customer reports against open incidents, with a small and a large history."""

from __future__ import annotations

import random
import time
from datetime import timedelta

from benchmarks.common import (
    BARE,
    PRODUCTS,
    REGIONS,
    START,
    Case,
    MakeStore,
    Run,
    Spec,
    measured,
    new_desk,
    peak_mib,
    timed_each,
)
from incident_lifecycle import (
    Actor,
    CustomerReport,
    IncidentStatus,
    Role,
    ServiceIncident,
    TriageOutcome,
)
from incident_lifecycle.desk import IncidentDesk

AGENT = Actor(name="sam", role=Role.SUPPORT)
OPEN_INCIDENTS = 1_000


def triage_desk(make_store: MakeStore, open_incidents: int, resolved: int) -> IncidentDesk:
    """A desk holding ``resolved`` resolved incidents, then ``open_incidents`` open ones,
    written in bulk in one transaction.

    Open incidents cover every (product, region) pair of the 20 products and 10
    regions, so each report has candidates in its region from the start.
    """
    desk = new_desk(make_store())
    with desk.store.transaction() as tx:
        for n in range(resolved):
            product = PRODUCTS[n % len(PRODUCTS)]
            detected = START - timedelta(days=30) + timedelta(seconds=n)
            incident = ServiceIncident(
                id=tx.new_id("INC"),
                title=f"Old outage {n}",
                products=(product,),
                owner_team=desk.owner_of(product),
                detected_at=detected,
                group_key=desk.grouping.key(product, None),
                severity=desk.scale["SEV3"],
                status=IncidentStatus.RESOLVED,
                opened_at=detected,
                resolved_at=detected + timedelta(hours=1),
                resolution="Fixed.",
            )
            tx.add_incident(incident)
        for n in range(open_incidents):
            product = PRODUCTS[n % len(PRODUCTS)]
            region = REGIONS[(n // len(PRODUCTS)) % len(REGIONS)]
            incident = ServiceIncident(
                id=tx.new_id("INC"),
                title=f"Slow pages and errors on checkout {n}",
                products=(product,),
                region=region,
                owner_team=desk.owner_of(product),
                detected_at=START,
                group_key=desk.grouping.key(product, region),
                severity=desk.scale["SEV2"],
                status=IncidentStatus.INVESTIGATING,
                opened_at=START,
            )
            tx.add_incident(incident)
    return desk


def make_reports(count: int, seed: int) -> list[CustomerReport]:
    """``count`` reports on the 20 products, random regions, symptoms and accounts."""
    rng = random.Random(seed)
    symptoms = ["slow", "errors", "unavailable", "other"]
    return [
        CustomerReport(
            ticket_id=f"T{seed}-{n}",
            account_id=f"A{rng.randrange(50_000)}",
            product=PRODUCTS[n % len(PRODUCTS)],
            symptom=symptoms[rng.randrange(4)],
            summary="Checkout pages are slow and sometimes fail with errors",
            reported_at=START,
            region=REGIONS[rng.randrange(len(REGIONS))],
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


def run_triage(desk: IncidentDesk, reports: list[CustomerReport]) -> tuple[float, list[float]]:
    """Triage each report; check that each was applied and some were linked."""
    outcomes: list[TriageOutcome | None] = []

    def triage(report: CustomerReport) -> None:
        result = desk.triage_report(report, AGENT)
        outcomes.append(result.decision.outcome if result.applied else None)

    seconds, latencies = timed_each(reports, triage)
    if None in outcomes or TriageOutcome.LINK_EXISTING not in outcomes:
        raise AssertionError("a report was not triaged, or none was linked")
    return seconds, latencies


BATCH = 100


def run_batches(desk: IncidentDesk, reports: list[CustomerReport]) -> tuple[float, list[float]]:
    """Triage in batches of ``BATCH`` (one transaction each); latencies are per report."""
    outcomes: list[TriageOutcome | None] = []
    batches = [reports[start : start + BATCH] for start in range(0, len(reports), BATCH)]

    def triage(batch: list[CustomerReport]) -> None:
        results = desk.triage_reports(batch, AGENT)
        outcomes.extend(r.decision.outcome if r.applied else None for r in results)

    seconds, latencies = timed_each(batches, triage)
    if None in outcomes or len(outcomes) != len(reports):
        raise AssertionError("a report of a batch was not triaged")
    if TriageOutcome.LINK_EXISTING not in outcomes:
        raise AssertionError("no report of the batches was linked")
    return seconds, [us / BATCH for us in latencies]


def bench_batches(make_store: MakeStore, reports: int, resolved: int) -> Run:
    """Triage ``reports`` reports in batches of ``BATCH`` on a fresh desk."""
    desk = triage_desk(make_store, OPEN_INCIDENTS, resolved)
    batch = make_reports(reports, 0)
    seconds, latencies = run_batches(desk, batch)
    bare = reference_triage(batch, list(desk.open_incidents()))
    return measured(reports, seconds, latencies, bare)


def bench_triage(make_store: MakeStore, reports: int, resolved: int) -> Run:
    """Triage ``reports`` reports on a fresh desk; then the peak memory of 2,000 more."""
    desk = triage_desk(make_store, OPEN_INCIDENTS, resolved)
    batch = make_reports(reports, 0)
    seconds, latencies = run_triage(desk, batch)
    bare = reference_triage(batch, list(desk.open_incidents()))
    sample = make_reports(min(reports, 2_000), 1)
    peak = peak_mib(lambda: run_triage(desk, sample))
    return measured(reports, seconds, latencies, bare, peak)


def bench_history(make_store: MakeStore, reports: int, small: int, large: int) -> list[Run]:
    """Triage with a small and a large history, and the cost of the large over the small.

    A short warm-up first, so that the first measured run does not pay for the process's
    first triage (the ratio would favour the large history).
    """
    run_triage(triage_desk(make_store, OPEN_INCIDENTS, 0), make_reports(500, 2))
    few, many = bench_triage(make_store, reports, small), bench_triage(make_store, reports, large)
    ratio = many.seconds / few.seconds if many.seconds and few.seconds else None
    return [few, many, Run(items=reports, ratio=ratio)]


def triage_cases(
    backend: str, make_store: MakeStore, reports: int, small: int, large: int
) -> list[Case]:
    """Triage with each history, and the history ratio, for ``backend``."""
    size = f"{reports:,} reports / {OPEN_INCIDENTS:,} open"
    specs = (
        Spec("triage (small history)", backend, f"{size} / {small:,} resolved", "reports"),
        Spec("triage (large history)", backend, f"{size} / {large:,} resolved", "reports"),
        Spec(
            "triage cost, large / small history",
            backend,
            f"{large:,} vs {small:,} resolved",
            "reports",
        ),
    )
    batches = (
        Spec(
            f"triage, batches of {BATCH}",
            backend,
            f"{size} / {small:,} resolved",
            "reports",
        ),
    )
    return [
        Case("triage", specs, lambda: bench_history(make_store, reports, small, large)),
        Case("triage batches", batches, lambda: [bench_batches(make_store, reports, small)]),
    ]


def scale_triage(make_store: MakeStore, reports: int) -> dict[str, float]:
    """Seconds to triage ``reports`` reports against 1,000 open incidents."""
    desk = triage_desk(make_store, OPEN_INCIDENTS, 0)
    batch = make_reports(reports, 0)
    seconds, _ = run_triage(desk, batch)
    return {
        "triage": seconds,
        f"triage{BARE}": reference_triage(batch, list(desk.open_incidents())),
    }
