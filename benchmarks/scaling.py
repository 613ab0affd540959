"""How the per-item cost grows with the work: the storm, triage and fan-out at growing sizes."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence

import attrs

from benchmarks.common import BACKENDS, BARE, MakeStore, Stores
from benchmarks.fanout import scale_fanout
from benchmarks.storm import scale_storm
from benchmarks.triage import scale_triage

Probe = Callable[[MakeStore, int], dict[str, float]]
"""Does the work for ``n`` items on fresh desks; returns the timed seconds of each measure."""

PROBES: dict[str, Probe] = {"storm": scale_storm, "triage": scale_triage, "fanout": scale_fanout}
FULL_SIZES = (10**3, 10**4, 10**5, 10**6)
QUICK_SIZES = (10**2, 10**3, 10**4)
MIN_SECONDS = 0.2
"""Small sizes are repeated on fresh desks until this much work was timed..."""
MAX_WALL_SECONDS = 3.0
"""...or until this much time went by, setup included."""
NOTE = (
    f"Per-item cost in us: timed work / items. Each point repeats its size on fresh desks "
    f"until >= {MIN_SECONDS} s of work is timed; * marks a point stopped after "
    f"{MAX_WALL_SECONDS:.0f} s of wall time with less. Objects alive before the scaling "
    f"starts are frozen (gc.freeze), so that the collection before each timed run is cheap. "
    f"Rows marked 'bare' time the bare reference of the same work at the same sizes: "
    f"its growth is what the machine's caches and allocator add, whatever the code."
)


@attrs.frozen
class Point:
    """The work timed at one size: ``repeats`` runs of ``items`` items."""

    items: int
    repeats: int
    seconds: float

    @property
    def per_item_us(self) -> float:
        """Microseconds per item."""
        return self.seconds / (self.items * self.repeats) * 1e6

    @property
    def short(self) -> bool:
        """Less work was timed than ``MIN_SECONDS``."""
        return self.seconds < MIN_SECONDS


@attrs.frozen
class Curve:
    """One measure's per-item cost at each size."""

    scenario: str
    backend: str
    points: tuple[Point, ...]

    @property
    def growth(self) -> float:
        """Per-item cost at the largest size over the smallest."""
        return self.points[-1].per_item_us / self.points[0].per_item_us

    @property
    def trend(self) -> str:
        """``flat`` when the growth is close to 1.0."""
        return "grows" if self.growth > 1.25 else "falls" if self.growth < 0.8 else "flat"


def measure_point(
    probe: Probe, make_store: MakeStore, items: int, stores: Stores
) -> dict[str, Point]:
    """Run ``probe`` on ``items`` items until enough work was timed; a point per measure."""
    totals: dict[str, float] = {}
    repeats = 0
    started = time.perf_counter()
    while not totals or (
        min(v for k, v in totals.items() if not k.endswith(BARE)) < MIN_SECONDS
        and time.perf_counter() - started < MAX_WALL_SECONDS
    ):
        try:
            for name, seconds in probe(make_store, items).items():
                totals[name] = totals.get(name, 0.0) + seconds
        finally:
            stores.clear()
        repeats += 1
    return {name: Point(items, repeats, seconds) for name, seconds in totals.items()}


def run_scaling(
    names: Sequence[str],
    backends: Sequence[str],
    sizes: Sequence[int],
    stores: Stores,
    progress: Callable[[str], None],
) -> list[Curve]:
    """The curves of the chosen scenarios on each backend."""
    gc.collect()
    gc.freeze()
    try:
        return [
            curve
            for name in names
            for backend in backends
            for curve in _curves(name, backend, sizes, stores, progress)
        ]
    finally:
        gc.unfreeze()


def _curves(
    name: str,
    backend: str,
    sizes: Sequence[int],
    stores: Stores,
    progress: Callable[[str], None],
) -> list[Curve]:
    """The curves of one scenario on one backend (the fan-out has two)."""
    points: dict[str, list[Point]] = {}
    for items in sizes:
        started = time.perf_counter()
        found = measure_point(PROBES[name], stores.maker(backend), items, stores)
        for measure, point in found.items():
            points.setdefault(measure, []).append(point)
        elapsed = time.perf_counter() - started
        progress(f"scaling {name} ({backend}) at {items:,}: {elapsed:.1f} s")
    # The bare references do not depend on the store: shown once, with the memory curves.
    return [
        Curve(measure.removesuffix(BARE), "bare" if measure.endswith(BARE) else backend, tuple(p))
        for measure, p in points.items()
        if backend == BACKENDS[0] or not measure.endswith(BARE)
    ]
