"""What every benchmark shares: desks, fresh stores, timing, memory and the values of a run."""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import attrs

from incident_lifecycle.adapters import InMemoryStore, RecordingNotifier
from incident_lifecycle.adapters.sqlite import SQLiteStore
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.ports import Store
from incident_lifecycle.testing import FakeClock

T = TypeVar("T")

START = datetime(2026, 1, 1, tzinfo=UTC)
PRODUCTS = tuple(f"product{p}" for p in range(20))
REGIONS = tuple(f"pod{r}" for r in range(10))
OWNERSHIP = {p: f"{p}-eng" for p in PRODUCTS} | {"support": "support-eng"}
BACKENDS = ("memory", "sqlite")

MakeStore = Callable[[], Store]


def new_desk(store: Store) -> IncidentDesk:
    """A desk on ``store`` with a fake clock at ``START`` and a recording notifier."""
    return IncidentDesk(
        store=store, notifier=RecordingNotifier(), clock=FakeClock(START), ownership=OWNERSHIP
    )


class Stores:
    """Hands out fresh stores of a backend; SQLite ones are files in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._count = 0
        self._open: list[SQLiteStore] = []

    def maker(self, backend: str) -> MakeStore:
        """A function that returns a new, empty store of ``backend`` each call."""
        return InMemoryStore if backend == "memory" else self._sqlite

    def _sqlite(self) -> SQLiteStore:
        self._count += 1
        store = SQLiteStore(self.folder / f"bench-{self._count}.db")
        self._open.append(store)
        return store

    def clear(self) -> None:
        """Close every SQLite store handed out and delete its files."""
        for store in self._open:
            store.close()
            for suffix in ("", "-wal", "-shm"):
                Path(store.path + suffix).unlink(missing_ok=True)
        self._open.clear()


BARE = ", bare reference"
"""Suffix of a scaling measure that times the bare reference (run with the memory curves)."""


@attrs.frozen
class Run:
    """The raw values of one run of one table row (``None``: not measured)."""

    items: int
    seconds: float | None = None
    p50_us: float | None = None
    p99_us: float | None = None
    bare_seconds: float | None = None
    ratio: float | None = None
    """Time over the bare reference's time (or over what the row compares with)."""
    peak_mib: float | None = None
    bytes_per_item: float | None = None

    @property
    def throughput(self) -> float | None:
        """Items per second."""
        return self.items / self.seconds if self.seconds else None


@attrs.frozen
class Spec:
    """What one table row measures: ``n`` says the size in words, ``unit`` names an item."""

    scenario: str
    backend: str
    n: str
    unit: str


@attrs.frozen
class Case:
    """Rows measured together: each call of ``bench()`` returns one run per spec, in order."""

    name: str
    specs: tuple[Spec, ...]
    bench: Callable[[], Sequence[Run]]


def measured(
    items: int,
    seconds: float,
    latencies_us: Sequence[float],
    bare_seconds: float | None,
    peak: float | None = None,
) -> Run:
    """A run from its timings: the median latency, and the ratio to the bare time."""
    return Run(
        items=items,
        seconds=seconds,
        p50_us=statistics.median(latencies_us) if latencies_us else None,
        bare_seconds=bare_seconds,
        ratio=seconds / bare_seconds if bare_seconds else None,
        peak_mib=peak,
    )


def stopwatch(work: Callable[[], object]) -> float:
    """Seconds ``work()`` takes, after a garbage collection."""
    gc.collect()
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def timed_batches(
    items: Sequence[T], batch: int, work: Callable[[Sequence[T]], object]
) -> tuple[float, list[float]]:
    """Call ``work`` on each batch of ``items``: total seconds, and per-item microseconds
    of each batch."""
    latencies = []
    gc.collect()
    started = time.perf_counter()
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        tick = time.perf_counter()
        work(chunk)
        latencies.append((time.perf_counter() - tick) * 1e6 / len(chunk))
    return time.perf_counter() - started, latencies


def timed_each(items: Sequence[T], work: Callable[[T], object]) -> tuple[float, list[float]]:
    """Call ``work`` on each item: total seconds, and microseconds of each call."""
    latencies = []
    gc.collect()
    started = time.perf_counter()
    for item in items:
        tick = time.perf_counter()
        work(item)
        latencies.append((time.perf_counter() - tick) * 1e6)
    return time.perf_counter() - started, latencies


def peak_mib(work: Callable[[], object]) -> float:
    """Peak traced memory of ``work()`` in MiB (tracemalloc slows it: never timed together)."""
    gc.collect()
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def retained_bytes(work: Callable[[], object]) -> int:
    """The bytes ``work()`` left allocated."""
    gc.collect()
    tracemalloc.start()
    work()
    gc.collect()
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return current
