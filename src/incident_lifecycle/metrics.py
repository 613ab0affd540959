"""Response metrics computed from incidents' milestone timestamps (pure)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from .domain.incidents import ServiceIncident

__all__ = ["MILESTONES", "DurationStats", "Metrics", "compute_metrics", "milestone_durations"]


@attrs.frozen(kw_only=True)
class DurationStats:
    """Count, median and 90th percentile (nearest rank) of a set of durations."""

    count: int
    median: timedelta | None
    p90: timedelta | None

    @classmethod
    def of(cls, durations: Sequence[timedelta]) -> DurationStats:
        """Summarise ``durations`` (negative ones, from clock skew, are ignored)."""
        values = sorted(d for d in durations if d >= timedelta(0))
        if not values:
            return cls(count=0, median=None, p90=None)
        middle = len(values) // 2
        median = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
        p90 = values[max(0, math.ceil(0.9 * len(values)) - 1)]
        return cls(count=len(values), median=median, p90=p90)


@attrs.frozen(kw_only=True)
class Metrics:
    """How fast incidents detected in a period were handled."""

    incidents: int
    time_to_acknowledge: DurationStats
    """Detection to the first acknowledgement."""
    time_to_validate: DurationStats
    """Detection to validation (the incident opened)."""
    time_to_first_public_update: DurationStats
    """Opening to the first public update."""
    time_to_resolve: DurationStats
    """Detection to the (latest) resolution."""


MILESTONES: Mapping[str, tuple[str, str]] = {
    "time_to_acknowledge": ("detected_at", "acknowledged_at"),
    "time_to_validate": ("detected_at", "opened_at"),
    "time_to_first_public_update": ("opened_at", "first_public_update_at"),
    "time_to_resolve": ("detected_at", "resolved_at"),
}
"""Each response time: the incident's milestone it runs from, and the one it runs to."""


def milestone_durations(incidents: Iterable[ServiceIncident]) -> dict[str, list[timedelta]]:
    """For each name of :data:`MILESTONES`, the durations of the ``incidents`` that reached
    both milestones, in order (negative ones, from clock skew, are kept: callers decide)."""
    out: dict[str, list[timedelta]] = {name: [] for name in MILESTONES}
    pairs = [(out[name], start, end) for name, (start, end) in MILESTONES.items()]
    for incident in incidents:
        for found, start, end in pairs:
            a: datetime | None = getattr(incident, start)
            b: datetime | None = getattr(incident, end)
            if a is not None and b is not None:
                found.append(b - a)
    return out


def compute_metrics(incidents: Sequence[ServiceIncident]) -> Metrics:
    """Metrics of ``incidents`` (those lacking a milestone are left out of its figure)."""
    spans = milestone_durations(incidents)
    return Metrics(
        incidents=len(incidents),
        time_to_acknowledge=DurationStats.of(spans["time_to_acknowledge"]),
        time_to_validate=DurationStats.of(spans["time_to_validate"]),
        time_to_first_public_update=DurationStats.of(spans["time_to_first_public_update"]),
        time_to_resolve=DurationStats.of(spans["time_to_resolve"]),
    )
