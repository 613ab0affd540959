"""Benchmarks of incident_lifecycle, each against a bare reference measured in the same run.

Usage, from the repository root::

    python -m benchmarks                       # full sizes, median of 3 runs
    python -m benchmarks --quick               # small sizes, 1 run: proves each scenario works
    python -m benchmarks --only triage --repeat 5 --json results.json
    python -m benchmarks --scaling --only storm --scaling-backend both

Scenarios: storm, commands, triage, fanout, intake (Alertmanager webhooks through the
HTTP service, in-process and over loopback), sqlite (opening a large database), outlets
(one public update to 10,000 tickets through the Zendesk adapter to a local server:
HTTP calls, unthrottled rate, and the drain under 700 requests/minute, ~10 s; 1,000
tickets with --quick).
Prints one table at the end (progress goes to stderr): throughput, median
per-item latency, time, peak memory, the ratio to a bare reference made of
plain dicts and tuples, and the issue's target with whether the median run
meets it. Targets are checked, never asserted: a missed one prints "no" and
the run still succeeds. Each scenario checks that its work was done and fails
loudly if not. ``--scaling`` adds a second table: the per-item cost of the
storm, triage and fan-out at 10^3 to 10^6 items (10^2 to 10^4 with --quick).
See docs/performance.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.commands import command_cases
from benchmarks.common import BACKENDS, Case, MakeStore, Run, Stores
from benchmarks.fanout import fanout_cases
from benchmarks.intake import intake_cases
from benchmarks.outlets import outlet_cases
from benchmarks.report import Row, results_table, scaling_table, write_json
from benchmarks.scaling import FULL_SIZES, NOTE, PROBES, QUICK_SIZES, Curve, run_scaling
from benchmarks.sqlite_open import open_cases
from benchmarks.storm import storm_cases
from benchmarks.triage import triage_cases

SCENARIOS = ("storm", "commands", "triage", "fanout", "intake", "sqlite", "outlets")


def progress(message: str) -> None:
    """A progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def build_cases(chosen: set[str], quick: bool, stores: Stores) -> list[Case]:
    """The cases of the chosen scenarios, at quick or full sizes, scenario by scenario."""
    total, fingerprints = (20_000, 1_000) if quick else (1_000_000, 10_000)
    reports, small, large = (2_000, 100, 1_000) if quick else (100_000, 1_000, 100_000)
    rounds, tickets = (200, 5_000) if quick else (2_000, 100_000)
    webhook_alerts, webhook_fingerprints = (5_000, 1_000) if quick else (200_000, 10_000)
    on_each_backend: dict[str, Callable[[str, MakeStore], list[Case]]] = {
        "storm": lambda backend, make: storm_cases(backend, make, total, fingerprints),
        "commands": lambda backend, make: command_cases(backend, make, rounds),
        "triage": lambda backend, make: triage_cases(backend, make, reports, small, large),
        "fanout": lambda backend, make: fanout_cases(backend, make, tickets),
        "intake": lambda backend, make: intake_cases(
            backend, make, webhook_alerts, webhook_fingerprints, stores.folder
        ),
    }
    cases: list[Case] = []
    for name, make_cases in on_each_backend.items():
        if name in chosen:
            for backend in BACKENDS:
                cases += make_cases(backend, stores.maker(backend))
    if "sqlite" in chosen:
        cases += open_cases(*((2_000, 20_000) if quick else (100_000, 1_000_000)))
    if "outlets" in chosen:
        cases += outlet_cases(1_000 if quick else 10_000)
    return cases


def measure(cases: Sequence[Case], repeat: int, stores: Stores) -> list[Row]:
    """Run each case ``repeat`` times, on fresh stores; one row per spec."""
    rows = []
    for number, case in enumerate(cases, 1):
        runs: list[list[Run]] = [[] for _ in case.specs]
        backend = case.specs[0].backend
        for attempt in range(1, repeat + 1):
            started = time.perf_counter()
            try:
                measured = case.bench()
            finally:
                stores.clear()
            for slot, run in zip(runs, measured, strict=True):
                slot.append(run)
            progress(
                f"[{number}/{len(cases)}] {case.name} ({backend}) "
                f"run {attempt}/{repeat}: {time.perf_counter() - started:.1f} s"
            )
        rows += [Row(spec, tuple(r)) for spec, r in zip(case.specs, runs, strict=True)]
    return rows


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, to check it runs")
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="run these only")
    parser.add_argument(
        "--repeat", type=int, metavar="K", help="runs per scenario (default 3; 1 with --quick)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the table as JSON")
    parser.add_argument(
        "--scaling", action="store_true", help="add the per-item cost at growing sizes"
    )
    parser.add_argument(
        "--scaling-backend",
        choices=("memory", "sqlite", "both"),
        default="memory",
        help="the stores the scaling runs on (default memory)",
    )
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen scenarios; print the table (and the scaling) at the end."""
    args = parse(argv)
    started = time.perf_counter()
    quick: bool = args.quick
    chosen = set(args.only or SCENARIOS)
    repeat: int = args.repeat or (1 if quick else 3)
    with tempfile.TemporaryDirectory() as folder:
        stores = Stores(Path(folder))
        rows = measure(build_cases(chosen, quick, stores), repeat, stores)
        curves: list[Curve] = []
        if args.scaling:
            backends = BACKENDS if args.scaling_backend == "both" else (args.scaling_backend,)
            names = [name for name in PROBES if name in chosen]
            if not names:
                progress("--scaling: none of storm, triage, fanout chosen; no scaling")
            sizes = QUICK_SIZES if quick else FULL_SIZES
            curves = run_scaling(names, backends, sizes, stores, progress)
    mode = "quick sizes" if quick else "full sizes"
    runs = "1 run" if repeat == 1 else f"median of {repeat} runs"
    print(f"python {sys.version.split()[0]} on {platform.platform()}; {mode}; {runs}")
    print(results_table(rows, quick))
    if quick:
        print("Quick sizes are not the targets' sizes: targets are checked at full size only.")
    if curves:
        print()
        print(scaling_table(curves))
        print(NOTE)
    if args.json is not None:
        write_json(args.json, rows, curves, quick, repeat)
        print(f"JSON written to {args.json}")
    print(f"total wall time {time.perf_counter() - started:.1f} s")
    return 0
