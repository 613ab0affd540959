"""Alert storm: dedup by fingerprint and grouping, in batches of 1,000 signals."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

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
    stopwatch,
    timed_batches,
)
from incident_lifecycle import AlertKind, AlertSignal

BATCH = 1_000


FEEDS = ("random", "stride")
"""The orders a storm's signals come in: shuffled (seeded), or the stride ``i * 7919``."""


def storm_signals(total: int, fingerprints: int, feed: str = "random") -> list[AlertSignal]:
    """``total`` signals over ``fingerprints`` fingerprints, 20 products x 10 regions.

    The distinct signals are built once and repeated by reference (as a
    monitoring feed repeats the same condition). ``feed="random"``: each
    fingerprint comes ``total // fingerprints`` times (the first ``total %
    fingerprints`` once more), in a shuffled order (seed 7), so consecutive
    signals touch unrelated rows, as in a real storm; ``feed="stride"``: the
    ``i * 7919 % fingerprints`` order, which re-touches rows inserted together.
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
    if feed == "stride":
        return [distinct[(i * 7919) % fingerprints] for i in range(total)]
    if feed != "random":
        raise ValueError(f"feed must be one of {FEEDS}, not {feed!r}")
    signals = [distinct[i % fingerprints] for i in range(total)]
    random.Random(7).shuffle(signals)
    return signals


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


def run_storm(
    make_store: MakeStore, signals: Sequence[AlertSignal], batch: int
) -> tuple[float, list[float]]:
    """Receive ``signals`` on a fresh desk; check one potential incident per group key
    and that the counts add up. Returns the seconds and the per-signal latency of each batch."""
    desk = new_desk(make_store())
    seconds, latencies = timed_batches(signals, batch, desk.receive_alerts)
    potential = desk.potential_incidents()
    expected = len({(s.product, s.region) for s in signals})
    counted = sum(a.count for i in potential for a in desk.alerts_of(i.id))
    if len(potential) != expected or len({i.group_key for i in potential}) != expected:
        raise AssertionError(f"{len(potential)} potential incidents for {expected} group keys")
    if counted != len(signals):
        raise AssertionError(f"counts add up to {counted}, not {len(signals)}")
    return seconds, latencies


def bench_storm(make_store: MakeStore, total: int, fingerprints: int, feed: str) -> Run:
    """One storm run, its bare reference, and the peak memory of up to 100,000 signals."""
    signals = storm_signals(total, fingerprints, feed)
    seconds, latencies = run_storm(make_store, signals, BATCH)
    bare = stopwatch(lambda: reference_storm(signals, BATCH))
    sample = signals[:100_000]
    peak = peak_mib(lambda: run_storm(make_store, sample, BATCH))
    return measured(total, seconds, latencies, bare, peak)


def storm_cases(backend: str, make_store: MakeStore, total: int, fingerprints: int) -> list[Case]:
    """The storm rows of ``backend``: the random feed, then the stride feed."""
    n = f"{total:,} signals / {fingerprints:,} fp"
    cases = []
    for feed, scenario in (("random", "alert storm"), ("stride", "alert storm (stride feed)")):
        spec = Spec(scenario, backend, n, "signals")

        def bench(feed: str = feed) -> list[Run]:
            return [bench_storm(make_store, total, fingerprints, feed)]

        cases.append(Case(scenario, (spec,), bench))
    return cases


def scale_storm(make_store: MakeStore, signals: int) -> dict[str, float]:
    """Seconds for ``signals`` signals over ``signals / 100`` fingerprints."""
    feed = storm_signals(signals, max(1, signals // 100))
    seconds, _ = run_storm(make_store, feed, BATCH)
    return {
        "alert storm": seconds,
        f"alert storm{BARE}": stopwatch(lambda: reference_storm(feed, BATCH)),
    }
