"""Severity levels and the scale an application chooses.

The default scale follows the guide: five levels, SEV0 (worst) to SEV4.
SEV0-SEV2 are *high* severity: announced publicly, first public update within
15 minutes, then an update at least every 30 minutes until resolution, and a
public retrospective. SEV3-SEV4 are *low* severity: no public announcement,
but linked customer tickets still receive updates, on a slower cadence.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import attrs

from .checks import (
    DESCRIPTION_MAX,
    SEVERITY_NAME_MAX,
    check_identifier,
    identifier,
    integer,
    non_negative,
    text,
)
from .errors import InvalidInput

__all__ = ["DEFAULT_SCALE", "SEV0", "SEV1", "SEV2", "SEV3", "SEV4", "Severity", "SeverityScale"]


@attrs.frozen(kw_only=True, order=True)
class Severity:
    """One level of a severity scale.

    Levels order by ``rank``: rank 0 is the worst, so ``SEV0 < SEV4`` reads
    "SEV0 comes first in the queue".
    """

    rank: int = attrs.field(validator=integer(0))
    name: str = attrs.field(validator=identifier(SEVERITY_NAME_MAX), order=False)
    description: str = attrs.field(validator=text(DESCRIPTION_MAX), order=False)
    public: bool = attrs.field(order=False)
    """Whether incidents at this level are announced on the public status page."""
    first_update: timedelta = attrs.field(validator=non_negative(), order=False)
    """Time allowed between opening the incident and its first update to customers."""
    update_interval: timedelta = attrs.field(validator=non_negative(), order=False)
    """Longest time between two regular updates until the incident is resolved."""
    public_review: bool = attrs.field(order=False)
    """Whether the retrospective is shared publicly."""

    @public.validator
    @public_review.validator
    def _boolean(self, attribute: attrs.Attribute[bool], value: object) -> None:
        if not isinstance(value, bool):
            raise InvalidInput(attribute.name, f"must be a bool, not {type(value).__name__}")

    @update_interval.validator
    def _positive_interval(self, attribute: attrs.Attribute[timedelta], value: timedelta) -> None:
        if value <= timedelta(0):
            raise InvalidInput(attribute.name, "must be longer than zero")

    def __str__(self) -> str:
        return self.name


def _levels(value: object) -> tuple[Severity, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidInput("levels", f"must be a sequence of Severity, not {type(value).__name__}")
    return tuple(value)


@attrs.frozen
class SeverityScale:
    """An ordered set of severity levels with unique names and ranks.

    >>> DEFAULT_SCALE["SEV1"].public
    True
    >>> DEFAULT_SCALE.by_rank(4).name
    'SEV4'
    """

    levels: tuple[Severity, ...] = attrs.field(converter=_levels)

    @levels.validator
    def _check(
        self, _attribute: attrs.Attribute[tuple[Severity, ...]], value: tuple[Severity, ...]
    ) -> None:
        if not value:
            raise InvalidInput("levels", "a scale needs at least one level")
        for level in value:
            if not isinstance(level, Severity):
                raise InvalidInput("levels", f"{level!r} is not a Severity")
        names = [level.name for level in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InvalidInput("levels", f"duplicate level names: {', '.join(duplicates)}")
        ranks = [level.rank for level in value]
        if len(set(ranks)) != len(ranks):
            raise InvalidInput("levels", "duplicate level ranks")

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(sorted(self.levels)))

    def __getitem__(self, name: str) -> Severity:
        """Return the level called ``name`` or raise ``InvalidInput`` naming ``severity``."""
        check_identifier("severity", name)
        for level in self.levels:
            if level.name == name:
                return level
        known = ", ".join(level.name for level in self.levels)
        raise InvalidInput("severity", f"{name!r} is not a level of this scale ({known})")

    def __iter__(self) -> Iterator[Severity]:
        return iter(self.levels)

    def __len__(self) -> int:
        return len(self.levels)

    def __contains__(self, item: object) -> bool:
        return item in self.levels

    def by_rank(self, rank: int) -> Severity:
        """Return the level of ``rank`` (0 is the worst)."""
        for level in self.levels:
            if level.rank == rank:
                return level
        raise InvalidInput("severity", f"no level has rank {rank}")

    def resolve(self, severity: Severity | str) -> Severity:
        """Return the scale's own level for a level or a level name."""
        if isinstance(severity, Severity):
            if severity not in self.levels:
                raise InvalidInput("severity", f"{severity.name} is not a level of this scale")
            return severity
        return self[severity]

    @property
    def worst(self) -> Severity:
        """The most severe level."""
        return self.levels[0]

    @property
    def least(self) -> Severity:
        """The least severe level."""
        return self.levels[-1]


_MIN = timedelta(minutes=1)

SEV0 = Severity(
    rank=0,
    name="SEV0",
    description="Critical: a product is down or unusable for most customers, or data is at risk.",
    public=True,
    first_update=15 * _MIN,
    update_interval=30 * _MIN,
    public_review=True,
)
SEV1 = Severity(
    rank=1,
    name="SEV1",
    description="Major: a core feature is broken or badly degraded for many customers.",
    public=True,
    first_update=15 * _MIN,
    update_interval=30 * _MIN,
    public_review=True,
)
SEV2 = Severity(
    rank=2,
    name="SEV2",
    description="Significant: a feature is degraded for a subset of customers or one region.",
    public=True,
    first_update=15 * _MIN,
    update_interval=30 * _MIN,
    public_review=True,
)
SEV3 = Severity(
    rank=3,
    name="SEV3",
    description="Minor: limited impact, critical functions work; no public announcement.",
    public=False,
    first_update=60 * _MIN,
    update_interval=120 * _MIN,
    public_review=False,
)
SEV4 = Severity(
    rank=4,
    name="SEV4",
    description="Low: few customers, cosmetic or with a workaround; no public announcement.",
    public=False,
    first_update=240 * _MIN,
    update_interval=480 * _MIN,
    public_review=False,
)

DEFAULT_SCALE = SeverityScale((SEV0, SEV1, SEV2, SEV3, SEV4))
"""The guide's scale: SEV0-SEV2 public (15 min, then every 30 min), SEV3-SEV4 internal."""
