"""Shallow copies of attrs entities, shared by the stores.

A store hands out copies so that a caller changing what it read (as the
lifecycle does when it fires an event) never changes what is stored. The
fields of an entity are immutable values (strings, times, tuples, frozen
objects), so a shallow copy is enough, and it skips the validators that
already ran when the original was built.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

T = TypeVar("T")

# Per class: its field names, and one getter returning all their values.
_FIELDS: dict[type, tuple[tuple[str, ...], Callable[[Any], Any]]] = {}


def clone(entity: T) -> T:
    """A shallow copy of an attrs entity, without running its validators again."""
    cls = type(entity)
    known = _FIELDS.get(cls)
    if known is None:
        names = tuple(f.name for f in attrs.fields(cls))  # type: ignore[arg-type]
        getter: Callable[[Any], Any] = operator.attrgetter(*names)
        if len(names) == 1:
            single = getter
            getter = lambda e: (single(e),)  # noqa: E731
        known = _FIELDS[cls] = (names, getter)
    names, getter = known
    new = object.__new__(cls)
    set_field = object.__setattr__
    for name, value in zip(names, getter(entity), strict=True):
        set_field(new, name, value)
    return new
