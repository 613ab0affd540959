"""Benchmarks of incident_lifecycle, each against a bare reference measured in the same run.

Usage: ``python -m benchmarks`` (full sizes) or ``python -m benchmarks --quick``
(small sizes, to prove every scenario works). Each line prints throughput,
median latency, peak memory and the ratio to a reference made of plain dicts
and tuples doing the same work without validation. Nothing asserts a time:
the figures are for people to read (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import Figure
from benchmarks.fanout import bench_fanout
from benchmarks.sqlite_open import bench_open
from benchmarks.storm import bench_commands, bench_storm
from benchmarks.triage import bench_triage
from incident_lifecycle.adapters import InMemoryStore
from incident_lifecycle.adapters.sqlite import SQLiteStore

SCENARIOS = ("storm", "commands", "triage", "fanout", "sqlite")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen scenarios and print one line per figure."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, to check it runs")
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="run these only")
    args = parser.parse_args(argv)
    chosen = set(args.only or SCENARIOS)
    quick = args.quick
    print(f"python {sys.version.split()[0]}; {'quick' if quick else 'full'} sizes", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        counter = iter(range(1_000_000))

        def sqlite_store() -> SQLiteStore:
            return SQLiteStore(Path(folder) / f"bench-{next(counter)}.db")

        runs: list[tuple[str, object]] = []
        if "storm" in chosen:
            total, fingerprints = (20_000, 1_000) if quick else (1_000_000, 10_000)
            runs.append(
                ("storm", lambda: [bench_storm(total, fingerprints, 1_000, InMemoryStore, "storm")])
            )
            sql_total = 20_000 if quick else 200_000
            runs.append(
                (
                    "storm",
                    lambda: [
                        bench_storm(sql_total, fingerprints, 1_000, sqlite_store, "sqlite storm")
                    ],
                )
            )
        if "commands" in chosen:
            runs.append(("commands", lambda: bench_commands(200 if quick else 2_000)))
        if "triage" in chosen:
            reports = 2_000 if quick else 100_000
            small, large = (100, 1_000) if quick else (1_000, 100_000)
            runs.append(("triage", lambda: [bench_triage(reports, 1_000, small)]))
            runs.append(("triage", lambda: [bench_triage(reports, 1_000, large)]))
        if "fanout" in chosen:
            tickets = 5_000 if quick else 100_000
            runs.append(("fanout", lambda: bench_fanout(InMemoryStore, tickets, "memory")))
            runs.append(("fanout", lambda: bench_fanout(sqlite_store, tickets, "sqlite")))
        if "sqlite" in chosen:
            incidents, alerts = (2_000, 20_000) if quick else (100_000, 1_000_000)
            runs.append(("sqlite", lambda: [bench_open(incidents, alerts)]))
        for _name, run in runs:
            figures: list[Figure] = run()  # type: ignore[operator]
            for figure in figures:
                print(figure.show(), flush=True)
    return 0
