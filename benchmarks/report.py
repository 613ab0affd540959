"""The results table: rows made of several runs, shown as text and written as JSON."""

from __future__ import annotations

import json
import platform
import statistics
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from benchmarks.common import Run, Spec
from benchmarks.scaling import Curve
from benchmarks.targets import TARGETS, Target

HEADER = (
    "scenario",
    "backend",
    "N",
    "throughput",
    "p50 (us)",
    "p99 (us)",
    "time",
    "peak memory",
    "ratio to bare",
    "target",
    "met",
)
RIGHT = {"throughput", "p50 (us)", "p99 (us)", "time", "peak memory", "ratio to bare"}
MEDIANS = ("seconds", "p50_us", "p99_us", "bare_seconds", "ratio", "peak_mib", "bytes_per_item")


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


@attrs.frozen
class Row:
    """One row of the table: what was measured, and its runs."""

    spec: Spec
    runs: tuple[Run, ...]

    @property
    def target(self) -> Target | None:
        """The issue's target for this scenario and backend, if it sets one."""
        return TARGETS.get((self.spec.scenario, self.spec.backend))

    @property
    def median(self) -> Run:
        """Each value's median over the runs."""
        return Run(
            items=self.runs[0].items,
            **{name: _median([getattr(run, name) for run in self.runs]) for name in MEDIANS},
        )

    def met(self) -> bool | None:
        """Whether the median run meets the target (``None``: no target)."""
        return None if self.target is None else self.target.met(self.median)


def _seconds(value: float) -> str:
    return f"{value * 1000:,.1f} ms" if value < 1 else f"{value:,.2f} s"


def _ratio(value: float) -> str:
    return f"{value:.2f}x" if value < 10 else f"{value:,.0f}x"


def _cells(row: Row, quick: bool) -> list[str]:
    run, spec = row.median, row.spec
    memory = "-"
    if run.bytes_per_item is not None:
        memory = f"{run.bytes_per_item:,.0f} B/{spec.unit.removesuffix('s')}"
    elif run.peak_mib is not None:
        memory = f"{run.peak_mib:,.1f} MiB"
    met = row.met()
    counted = spec.unit == "calls"  # a cost row: its items are the count it measured
    return [
        spec.scenario,
        spec.backend,
        f"{run.items:,} calls for {spec.n}" if counted else spec.n,
        "-" if run.throughput is None or counted else f"{run.throughput:,.0f}/s",
        "-" if run.p50_us is None else f"{run.p50_us:,.1f}",
        "-" if run.p99_us is None else f"{run.p99_us:,.1f}",
        "-" if run.seconds is None else _seconds(run.seconds),
        memory,
        "-" if run.ratio is None else _ratio(run.ratio),
        "-" if row.target is None else row.target.text,
        "-" if met is None else "n/a (quick)" if quick else "yes" if met else "no",
    ]


def format_table(header: Sequence[str], lines: Sequence[Sequence[str]], right: set[str]) -> str:
    """Columns padded to their widest cell; those named in ``right`` aligned right."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=True)]
    out = []
    for cells in [header, ["-" * w for w in widths], *lines]:
        padded = [
            cell.rjust(width) if name in right else cell.ljust(width)
            for name, cell, width in zip(header, cells, widths, strict=True)
        ]
        out.append("  ".join(padded).rstrip())
    return "\n".join(out)


def results_table(rows: Sequence[Row], quick: bool) -> str:
    """The one table of results, as text."""
    return format_table(HEADER, [_cells(row, quick) for row in rows], RIGHT)


def scaling_table(curves: Sequence[Curve]) -> str:
    """Per-item cost in microseconds at each size, and how it grows."""
    sizes = sorted({p.items for curve in curves for p in curve.points})
    header = ["scenario", "backend", *(f"{size:,}" for size in sizes), "largest / smallest"]
    lines = []
    for curve in curves:
        at = {p.items: p for p in curve.points}
        cells = [curve.scenario, curve.backend]
        for size in sizes:
            point = at.get(size)
            short = "*" if point and point.short and curve.backend != "bare" else ""
            cells.append(f"{point.per_item_us:,.2f}{short}" if point else "-")
        cells.append(f"{curve.growth:.2f}x {curve.trend}")
        lines.append(cells)
    return format_table(header, lines, set(header[2:]))


def _row_json(row: Row, quick: bool) -> dict[str, Any]:
    run = row.median
    return {
        "scenario": row.spec.scenario,
        "backend": row.spec.backend,
        "n": row.spec.n,
        "unit": row.spec.unit,
        "items": run.items,
        "throughput_per_s": run.throughput,
        "p50_us": run.p50_us,
        "p99_us": run.p99_us,
        "seconds": run.seconds,
        "peak_mib": run.peak_mib,
        "bytes_per_item": run.bytes_per_item,
        "ratio_to_bare": run.ratio,
        "target": None if row.target is None else row.target.text,
        "met": None if quick else row.met(),
        "runs": [attrs.asdict(r) | {"throughput_per_s": r.throughput} for r in row.runs],
    }


def _curve_json(curve: Curve) -> dict[str, Any]:
    return {
        "scenario": curve.scenario,
        "backend": curve.backend,
        "points": [
            {
                "items": p.items,
                "repeats": p.repeats,
                "seconds": p.seconds,
                "per_item_us": p.per_item_us,
            }
            for p in curve.points
        ],
        "largest_over_smallest": curve.growth,
        "trend": curve.trend,
    }


def write_json(
    path: Path, rows: Sequence[Row], curves: Sequence[Curve], quick: bool, repeat: int
) -> None:
    """Write the table (and the scaling, if run) as JSON to ``path``."""
    document = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if quick else "full",
        "repeat": repeat,
        "rows": [_row_json(row, quick) for row in rows],
        "scaling": [_curve_json(curve) for curve in curves],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
