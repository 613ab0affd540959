"""Benchmarks of incident_lifecycle, each against a bare reference measured in the same run.

Usage: ``python -m benchmarks`` (full sizes) or ``python -m benchmarks --quick``
(small sizes, to prove the scenarios work). Every scenario prints throughput,
median latency, peak memory and the ratio to a reference implementation made
of plain dicts and tuples doing the same work without validation. Nothing
here asserts a time: the figures are for people to read.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from incident_lifecycle import Actor, AlertKind, AlertSignal, Role
from incident_lifecycle.adapters import InMemoryStore, RecordingNotifier
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.testing import FakeClock

START = datetime(2026, 1, 1, tzinfo=UTC)


@attrs.frozen
class Figure:
    """One measured scenario."""

    name: str
    items: int
    seconds: float
    latencies_us: Sequence[float]
    peak_mib: float
    reference_seconds: float
    unit: str = "items"

    def show(self) -> str:
        rate = self.items / self.seconds if self.seconds else float("inf")
        ratio = self.seconds / self.reference_seconds if self.reference_seconds else float("inf")
        median = statistics.median(self.latencies_us) if self.latencies_us else 0.0
        return (
            f"{self.name:<34} {rate:>12,.0f} {self.unit}/s  median {median:>10,.1f} us"
            f"  peak {self.peak_mib:>7.1f} MiB  {ratio:>5.1f}x reference"
        )


def _peak(fn: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


# -- alert storm ----------------------------------------------------------------

PRODUCTS = [f"product{p}" for p in range(20)]
REGIONS = [f"pod{r}" for r in range(10)]


def storm_signals(total: int, fingerprints: int) -> list[AlertSignal]:
    """``total`` signals over ``fingerprints`` fingerprints (built once, reused by reference)."""
    distinct = []
    for n in range(fingerprints):
        distinct.append(
            AlertSignal(
                fingerprint=f"fp-{n}",
                product=PRODUCTS[n % len(PRODUCTS)],
                region=REGIONS[(n // len(PRODUCTS)) % len(REGIONS)],
                kind=AlertKind.LATENCY,
                summary="p99 latency above threshold",
                observed_at=START + timedelta(seconds=n % 60),
            )
        )
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


def bench_storm(total: int, fingerprints: int, batch: int) -> Figure:
    signals = storm_signals(total, fingerprints)
    ownership = {p: f"{p}-eng" for p in PRODUCTS}

    def run() -> tuple[float, list[float], IncidentDesk]:
        desk = IncidentDesk(
            store=InMemoryStore(),
            notifier=RecordingNotifier(),
            clock=FakeClock(START),
            ownership=ownership,
        )
        lat = []
        gc.collect()
        t0 = time.perf_counter()
        for start in range(0, total, batch):
            b0 = time.perf_counter()
            desk.receive_alerts(signals[start : start + batch])
            lat.append((time.perf_counter() - b0) * 1e6)
        return time.perf_counter() - t0, lat, desk

    seconds, lat, desk = run()
    potential = desk.potential_incidents()
    keys = {i.group_key for i in potential}
    expected = len({(s.product, s.region) for s in signals})
    counts = sum(a.count for i in potential for a in desk.alerts_of(i.id))
    assert len(potential) == len(keys) == expected, (len(potential), expected)
    assert counts == total, (counts, total)
    gc.collect()
    r0 = time.perf_counter()
    reference_storm(signals, batch)
    ref = time.perf_counter() - r0
    peak = _peak(lambda: run()) if total <= 200_000 else _peak(lambda: bench_peak(signals, batch))
    return Figure(
        f"alert storm ({total:,} / {fingerprints:,} fp)",
        total,
        seconds,
        [x / batch for x in lat],
        peak,
        ref,
        "signals",
    )


def bench_peak(signals: Sequence[AlertSignal], batch: int) -> None:
    """The storm's memory, measured on its first 200,000 signals (tracemalloc is slow)."""
    desk = IncidentDesk(
        store=InMemoryStore(),
        notifier=RecordingNotifier(),
        clock=FakeClock(START),
        ownership={p: f"{p}-eng" for p in PRODUCTS},
    )
    for start in range(0, min(len(signals), 200_000), batch):
        desk.receive_alerts(signals[start : start + batch])


# -- single commands ----------------------------------------------------------------

ENG = Actor(name="ana", role=Role.ENGINEERING, team="support-eng")


def bench_commands(rounds: int) -> list[Figure]:
    clock = FakeClock(START)
    desk = IncidentDesk(
        store=InMemoryStore(),
        notifier=RecordingNotifier(),
        clock=clock,
        ownership={"support": "support-eng"},
    )
    ids = []
    for n in range(rounds):
        receipt = desk.receive_alert(
            AlertSignal(
                fingerprint=f"cmd-{n}",
                product="support",
                region=f"r{n}",
                kind=AlertKind.ERROR_RATE,
                summary="errors",
                observed_at=START,
            )
        )
        ids.append(receipt.incident_id)
    figures = []
    for name, command in (
        ("validate_incident", lambda i: desk.validate_incident(i, ENG, "SEV2")),
        ("post_update (public)", lambda i: desk.post_update(i, ENG, "Investigating.")),
        ("resolve_incident", lambda i: desk.resolve_incident(i, ENG, "Fixed.")),
    ):
        lat = []
        t0 = time.perf_counter()
        for incident_id in ids:
            c0 = time.perf_counter()
            command(incident_id)
            lat.append((time.perf_counter() - c0) * 1e6)
        seconds = time.perf_counter() - t0
        ref = _reference_command(rounds)
        figures.append(Figure(name, rounds, seconds, lat, 0.0, ref, "commands"))
    return figures


def _reference_command(rounds: int) -> float:
    """A dict-of-dicts incident updated in place: the floor of a command."""
    rows = {f"INC-{n}": {"status": "detected", "version": 0, "events": []} for n in range(rounds)}
    t0 = time.perf_counter()
    for key, row in rows.items():
        row["status"] = "investigating"
        row["version"] += 1  # type: ignore[operator]
        row["events"].append((key, "validated", START))  # type: ignore[attr-defined]
    return time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, to check it runs")
    parser.add_argument("--only", choices=["storm", "commands"], help="run one scenario")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}; {'quick' if args.quick else 'full'} sizes")
    figures: list[Figure] = []
    if args.only in (None, "storm"):
        if args.quick:
            figures.append(bench_storm(20_000, 1_000, 1_000))
        else:
            figures.append(bench_storm(1_000_000, 10_000, 1_000))
    if args.only in (None, "commands"):
        figures.extend(bench_commands(200 if args.quick else 2_000))
    for figure in figures:
        print(figure.show())
    return 0
