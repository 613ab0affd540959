"""Alert storm (dedup and grouping) and single-command latency."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from benchmarks.common import START, Figure, peak_mib
from incident_lifecycle import Actor, AlertKind, AlertSignal, Role
from incident_lifecycle.adapters import InMemoryStore, RecordingNotifier
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.ports import Store
from incident_lifecycle.testing import FakeClock

PRODUCTS = [f"product{p}" for p in range(20)]
REGIONS = [f"pod{r}" for r in range(10)]
OWNERSHIP = {p: f"{p}-eng" for p in PRODUCTS}


def storm_signals(total: int, fingerprints: int) -> list[AlertSignal]:
    """``total`` signals over ``fingerprints`` fingerprints, 20 products x 10 regions.

    The distinct signals are built once and repeated by reference (as a
    monitoring feed repeats the same condition).
    """
    distinct = [
        AlertSignal(
            fingerprint=f"fp-{n}",
            product=PRODUCTS[n % len(PRODUCTS)],
            region=REGIONS[(n // len(PRODUCTS)) % len(REGIONS)],
            kind=AlertKind.LATENCY,
            summary="p99 latency above threshold",
            observed_at=START + timedelta(seconds=n % 60),
        )
        for n in range(fingerprints)
    ]
    return [distinct[(i * 7919) % fingerprints] for i in range(total)]


def reference_storm(signals: Sequence[AlertSignal], batch: int) -> dict[str, list[Any]]:
    """The same work with plain dicts and lists, no validation: the floor any implementation pays.

    Per batch (a transaction): count each repeat on its active alert and keep
    its latest time, remember each touched alert's old values (to roll the
    batch back), and group each new fingerprint into one incident per
    (product, region).
    """
    active: dict[str, list[Any]] = {}
    groups: dict[tuple[str, str | None], int] = {}
    for start in range(0, len(signals), batch):
        undo: dict[str, tuple[int, datetime]] = {}
        for s in signals[start : start + batch]:
            hit = active.get(s.fingerprint)
            if hit is not None:
                if s.fingerprint not in undo:
                    undo[s.fingerprint] = (hit[0], hit[1])
                hit[0] += 1
                if s.observed_at > hit[1]:
                    hit[1] = s.observed_at
                continue
            key = (s.product, s.region)
            if key not in groups:
                groups[key] = len(groups)
            active[s.fingerprint] = [1, s.observed_at, groups[key]]
    return active


def _storm_desk(store: Store) -> IncidentDesk:
    return IncidentDesk(
        store=store, notifier=RecordingNotifier(), clock=FakeClock(START), ownership=OWNERSHIP
    )


def bench_storm(
    total: int, fingerprints: int, batch: int, make_store: Callable[[], Store], label: str
) -> Figure:
    """Run the storm on a fresh store; check one potential incident per group key."""
    signals = storm_signals(total, fingerprints)
    desk = _storm_desk(make_store())
    latencies = []
    gc.collect()
    started = time.perf_counter()
    for start in range(0, total, batch):
        tick = time.perf_counter()
        desk.receive_alerts(signals[start : start + batch])
        latencies.append((time.perf_counter() - tick) * 1e6 / batch)
    seconds = time.perf_counter() - started
    potential = desk.potential_incidents()
    expected = len({(s.product, s.region) for s in signals})
    counted = sum(a.count for i in potential for a in desk.alerts_of(i.id))
    if len(potential) != expected or len({i.group_key for i in potential}) != expected:
        raise AssertionError(f"{len(potential)} potential incidents for {expected} group keys")
    if counted != total:
        raise AssertionError(f"counts add up to {counted}, not {total}")
    gc.collect()
    tick = time.perf_counter()
    reference_storm(signals, batch)
    reference = time.perf_counter() - tick
    sample = signals[: min(total, 100_000)]

    def memory_run() -> None:
        sampled = _storm_desk(make_store())
        for start in range(0, len(sample), batch):
            sampled.receive_alerts(sample[start : start + batch])

    return Figure(
        f"{label} ({total:,} / {fingerprints:,} fp)",
        total,
        seconds,
        latencies,
        peak_mib(memory_run),
        reference,
        "signals",
        f"{expected} potential incidents, counts add up",
    )


ENGINEER = Actor(name="ana", role=Role.ENGINEERING, team="support-eng")


def bench_commands(rounds: int) -> list[Figure]:
    """Latency of single commands on the in-memory store."""
    desk = IncidentDesk(
        store=InMemoryStore(),
        notifier=RecordingNotifier(),
        clock=FakeClock(START),
        ownership={"support": "support-eng"},
    )
    ids = [
        desk.receive_alert(
            AlertSignal(
                fingerprint=f"cmd-{n}",
                product="support",
                region=f"r{n}",
                kind=AlertKind.ERROR_RATE,
                summary="errors",
                observed_at=START,
            )
        ).incident_id
        for n in range(rounds)
    ]
    figures = []
    commands: list[tuple[str, Callable[[str], object]]] = [
        ("validate_incident", lambda i: desk.validate_incident(i, ENGINEER, "SEV2")),
        ("post_update (public)", lambda i: desk.post_update(i, ENGINEER, "Investigating.")),
        ("resolve_incident", lambda i: desk.resolve_incident(i, ENGINEER, "Fixed.")),
    ]
    for name, command in commands:
        latencies = []
        started = time.perf_counter()
        for incident_id in ids:
            tick = time.perf_counter()
            command(incident_id)
            latencies.append((time.perf_counter() - tick) * 1e6)
        seconds = time.perf_counter() - started
        figures.append(
            Figure(name, rounds, seconds, latencies, 0.0, _reference_command(rounds), "commands")
        )
    return figures


def _reference_command(rounds: int) -> float:
    """A dict-of-dicts incident updated in place, with an event appended: a command's floor."""
    rows: dict[str, dict[str, Any]] = {
        f"INC-{n}": {"status": "detected", "version": 0, "events": []} for n in range(rounds)
    }
    started = time.perf_counter()
    for key, row in rows.items():
        row["status"] = "investigating"
        row["version"] += 1
        row["events"].append((key, "validated", START))
    return time.perf_counter() - started
