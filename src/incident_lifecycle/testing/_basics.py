"""The small strategies everything else is built from: strings, times, actors, levels.

Private module: import these names from :mod:`incident_lifecycle.testing.strategies`.
The helpers without a leading underscore (``given_or_draw``, ``maybe``,
``members``, ``EARLIEST``, ``LATEST``) are shared with the other strategy
modules of this package.
"""

from __future__ import annotations

import enum
import functools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

from hypothesis import strategies as st

from ..domain.actors import Actor, Role
from ..domain.checks import IDENTIFIER_MAX, LABEL_MAX, LINK_NAME_MAX, MAX_LABELS, MAX_LINKS
from ..domain.severity import DEFAULT_SCALE, Severity, SeverityScale

__all__ = [
    "EARLIEST",
    "LATEST",
    "actors",
    "aware_datetimes",
    "given_or_draw",
    "identifiers",
    "labels",
    "links",
    "maybe",
    "members",
    "severities",
    "severity_levels",
    "severity_scales",
    "texts",
    "urls",
]

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)

# Identifiers: no control character (Cc), no lone surrogate (Cs); at least one
# character that is not whitespace (whitespace is Zs, Zl, Zp or Cc in Unicode).
_NAME_CHARS = st.characters(exclude_categories=("Cc", "Cs"))
_SOLID_CHARS = st.characters(exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"))
_TEXT_CHARS = st.characters(exclude_categories=("Cc", "Cs"), include_characters="\t\n\r")


@st.composite
def _anchored(draw: st.DrawFn, body: st.SearchStrategy[str]) -> str:
    """A string from ``body`` with one non-blank character inserted, so never blank."""
    text = draw(body)
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(_SOLID_CHARS) + text[at:]


@functools.cache
def _strings(chars: st.SearchStrategy[str], min_size: int, max_size: int) -> st.SearchStrategy[str]:
    """Non-blank strings, built once per size range (strategies are immutable, so reusable)."""
    return _anchored(st.text(chars, min_size=max(min_size - 1, 0), max_size=max_size - 1))


def identifiers(*, min_size: int = 1, max_size: int = IDENTIFIER_MAX) -> st.SearchStrategy[str]:
    """Single-line, non-blank strings of ``min_size..max_size`` characters (any script)."""
    return _strings(_NAME_CHARS, min_size, max_size)


def texts(*, max_size: int, min_size: int = 1) -> st.SearchStrategy[str]:
    """Free text of at most ``max_size`` characters; tabs and line breaks included.

    With ``min_size=0`` it may be empty; otherwise it is never blank.
    """
    if min_size == 0:
        return st.text(_TEXT_CHARS, max_size=max_size)
    return _strings(_TEXT_CHARS, min_size, max_size)


_OFFSETS = st.just(UTC) | st.builds(
    timezone, st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timedelta(minutes=m))
)
EARLIEST = datetime(2000, 1, 1)
LATEST = datetime(2099, 12, 31)
"""The naive bounds of :func:`aware_datetimes` by default (and of the naive invalid cases)."""


@functools.cache
def _datetimes(min_value: datetime, max_value: datetime) -> st.SearchStrategy[datetime]:
    return st.datetimes(min_value=min_value, max_value=max_value, timezones=_OFFSETS)


def aware_datetimes(
    *, min_value: datetime = EARLIEST, max_value: datetime = LATEST
) -> st.SearchStrategy[datetime]:
    """Timezone-aware datetimes (UTC or a fixed offset) between two naive bounds."""
    return _datetimes(min_value, max_value)


def given_or_draw(draw: st.DrawFn, value: T | None, strategy: st.SearchStrategy[T]) -> T:
    """``value`` if the caller pinned it, else a draw from ``strategy``."""
    return draw(strategy) if value is None else value


@functools.cache
def maybe(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    """``None`` or a value of ``strategy`` (one strategy per argument, cached)."""
    return st.none() | strategy


@functools.cache
def members(enum_type: type[E]) -> st.SearchStrategy[E]:
    """Any member of ``enum_type``."""
    return st.sampled_from(tuple(enum_type))


_SEVERITIES = st.sampled_from(DEFAULT_SCALE.levels)


def severities() -> st.SearchStrategy[Severity]:
    """Levels of :data:`DEFAULT_SCALE` (SEV0 to SEV4)."""
    return _SEVERITIES


_LEVEL_FIELDS: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "description": texts(max_size=500),
        "public": st.booleans(),
        "first_update": st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=1)),
        "update_interval": st.timedeltas(
            min_value=timedelta(seconds=1), max_value=timedelta(days=2)
        ),
        "public_review": st.booleans(),
    }
)
"""Everything in a level but its rank and name."""
_RANKS = st.integers(0, 99)
_LEVEL_NAMES = identifiers(max_size=32)


@st.composite
def severity_levels(
    draw: st.DrawFn, *, rank: int | None = None, name: str | None = None
) -> Severity:
    """Valid :class:`Severity` values of any rank, name and cadence (or the given ones)."""
    return Severity(
        rank=given_or_draw(draw, rank, _RANKS),
        name=given_or_draw(draw, name, _LEVEL_NAMES),
        **draw(_LEVEL_FIELDS),
    )


@st.composite
def severity_scales(draw: st.DrawFn, *, min_levels: int = 1, max_levels: int = 8) -> SeverityScale:
    """Custom :class:`SeverityScale` values: unique names and ranks, in any given order."""
    size = draw(st.integers(min_levels, max_levels))
    names = draw(st.lists(_LEVEL_NAMES, min_size=size, max_size=size, unique=True))
    ranks = draw(st.lists(_RANKS, min_size=size, max_size=size, unique=True))
    return SeverityScale(
        [
            Severity(rank=rank, name=name, **draw(_LEVEL_FIELDS))
            for rank, name in zip(ranks, names, strict=True)
        ]
    )


@st.composite
def actors(draw: st.DrawFn, role: Role | None = None, *, team: str | None = None) -> Actor:
    """Actors of ``role`` (any role by default); engineering actors always have a team."""
    chosen = given_or_draw(draw, role, members(Role))
    if team is None:
        team = draw(identifiers() if chosen is Role.ENGINEERING else maybe(identifiers()))
    return Actor(name=draw(identifiers()), role=chosen, team=team)


@functools.cache
def _labels(max_size: int) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(
        identifiers(max_size=LABEL_MAX), texts(max_size=LABEL_MAX, min_size=0), max_size=max_size
    )


def labels(*, max_size: int = 4) -> st.SearchStrategy[dict[str, str]]:
    """Label mappings (at most ``max_size`` entries, never more than the limit of 64)."""
    return _labels(min(max_size, MAX_LABELS))


_HOSTS = st.from_regex(
    r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){0,2}(:[0-9]{2,5})?", fullmatch=True
)
_PATH_CHARS = st.characters(exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"))


@functools.cache
def urls(*, max_path: int = 300) -> st.SearchStrategy[str]:
    """Absolute http(s) URLs: a host of letters, digits and dots, then any printable path."""
    return st.builds(
        lambda scheme, host, path: f"{scheme}://{host}/{path}",
        st.sampled_from(["http", "https", "HTTPS"]),
        _HOSTS,
        st.text(_PATH_CHARS, max_size=max_path),
    )


@functools.cache
def _links(max_size: int) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(identifiers(max_size=LINK_NAME_MAX), urls(), max_size=max_size)


def links(*, max_size: int = 3) -> st.SearchStrategy[dict[str, str]]:
    """Link mappings, name to URL (at most ``max_size`` entries, never more than 16)."""
    return _links(min(max_size, MAX_LINKS))
