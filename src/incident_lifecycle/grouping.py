"""How new alerts are grouped into incidents: a pure, configurable policy."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import attrs

from .domain.alerts import AlertSignal
from .domain.checks import check_non_negative
from .domain.errors import InvalidInput

__all__ = ["DEFAULT_GROUPING", "GroupingPolicy"]

_FIELDS = frozenset({"product", "region", "kind"})


def _to_by(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise InvalidInput("by", "must be a sequence of field names")
    return tuple(value)


@attrs.frozen(kw_only=True)
class GroupingPolicy:
    """Which alerts belong together, and how often the owner hears of new ones.

    ``by`` names what the group key is made of: ``product`` (always needed),
    ``region``, ``kind``, or ``label:NAME`` for a label's value. Alerts with
    the same key join the same potential incident, or the open incident of
    that key. ``interval`` is the least time between two "new signals"
    digests to an open incident's owner team.

    >>> DEFAULT_GROUPING.key("support", "pod17")
    'product=support|region=pod17'
    """

    by: tuple[str, ...] = attrs.field(default=("product", "region"), converter=_to_by)
    interval: timedelta = attrs.field(default=timedelta(minutes=5))

    @by.validator
    def _check_by(self, _attribute: object, value: tuple[str, ...]) -> None:
        if "product" not in value:
            raise InvalidInput("by", "the group key must include the product")
        for name in value:
            if name not in _FIELDS and not (name.startswith("label:") and len(name) > 6):
                raise InvalidInput("by", f"{name!r} is not product, region, kind or label:NAME")
        if len(set(value)) != len(value):
            raise InvalidInput("by", "names a field twice")

    @interval.validator
    def _check_interval(self, attribute: attrs.Attribute[timedelta], value: object) -> None:
        check_non_negative(attribute.name, value)

    def key(
        self,
        product: str,
        region: str | None = None,
        kind: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> str:
        """The group key of these values (a missing value reads ``*``)."""
        values = {"product": product, "region": region, "kind": kind}
        parts = []
        for name in self.by:
            value = (labels or {}).get(name[6:]) if name.startswith("label:") else values[name]
            parts.append(f"{name}={value if value is not None else '*'}")
        return "|".join(parts)

    def key_of(self, signal: AlertSignal) -> str:
        """The group key of a monitoring signal."""
        return self.key(signal.product, signal.region, signal.kind.value, signal.labels)


DEFAULT_GROUPING = GroupingPolicy()
"""Group by product and region; a digest at most every 5 minutes."""
