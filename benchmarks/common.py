"""What every benchmark shares: the figure it prints and how memory is measured."""

from __future__ import annotations

import gc
import statistics
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import attrs

START = datetime(2026, 1, 1, tzinfo=UTC)


@attrs.frozen
class Figure:
    """One measured scenario, with its bare reference measured in the same run."""

    name: str
    items: int
    seconds: float
    latencies_us: Sequence[float]
    peak_mib: float
    reference_seconds: float
    unit: str = "items"
    note: str = ""

    def show(self) -> str:
        rate = self.items / self.seconds if self.seconds else float("inf")
        ratio = self.seconds / self.reference_seconds if self.reference_seconds else float("inf")
        median = statistics.median(self.latencies_us) if self.latencies_us else 0.0
        line = (
            f"{self.name:<40} {rate:>11,.0f} {self.unit}/s  median {median:>9,.1f} us"
            f"  peak {self.peak_mib:>7.1f} MiB  {ratio:>6.1f}x reference"
        )
        return f"{line}  {self.note}" if self.note else line


def peak_mib(fn: Callable[[], object]) -> float:
    """Peak traced memory of ``fn()`` in MiB (tracemalloc slows it: never timed together)."""
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def retained_bytes(fn: Callable[[], object]) -> tuple[object, int]:
    """What ``fn()`` returns, and the bytes it left allocated."""
    gc.collect()
    tracemalloc.start()
    result = fn()
    gc.collect()
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, current
