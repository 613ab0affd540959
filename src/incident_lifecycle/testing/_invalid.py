"""Invalid inputs: cases that must raise ``InvalidInput`` naming one field.

Private module: import :func:`invalid_inputs`, :data:`INVALID_KINDS` and
:data:`InvalidCase` from :mod:`incident_lifecycle.testing.strategies`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import attrs
from hypothesis import strategies as st

from ..domain.actors import Role
from ..domain.alerts import FINGERPRINT_MAX, SUMMARY_MAX, AlertKind, AlertStatus
from ..domain.checks import (
    ALERT_DESCRIPTION_MAX,
    IDENTIFIER_MAX,
    MAX_LABELS,
    MAX_LINKS,
    SOURCE_KEY_MAX,
    URL_MAX,
)
from ..domain.incidents import TITLE_MAX, IncidentStatus, Visibility
from ..domain.reports import REPORT_SUMMARY_MAX, Channel, Symptom
from ..domain.severity import SeverityScale
from ._basics import (
    EARLIEST,
    LATEST,
    actors,
    aware_datetimes,
    identifiers,
    severity_levels,
    severity_scales,
    texts,
)
from ._entities import (
    LOCALES,
    alert_signals,
    alerts,
    customer_reports,
    handoffs,
    remediation_items,
    service_incidents,
    status_updates,
)
from ._events import domain_events

__all__ = ["INVALID_KINDS", "InvalidCase", "invalid_inputs"]

InvalidCase: TypeAlias = tuple[Callable[..., object], dict[str, Any], str]
"""``(factory, kwargs, field)``: ``factory(**kwargs)`` raises ``InvalidInput`` naming ``field``."""

INVALID_KINDS = (
    "blank",
    "bad_labels",
    "bad_severity_scales",
    "control_characters",
    "naive_datetimes",
    "out_of_range",
    "oversized",
    "unknown_enum_values",
    "wrong_types",
)
"""The kinds of invalid input :func:`invalid_inputs` draws, each one selectable."""


def _case(
    valid: st.SearchStrategy[Any], field: str, bad: st.SearchStrategy[Any]
) -> st.SearchStrategy[InvalidCase]:
    """Take a valid value's constructor arguments and spoil ``field`` with a ``bad`` value."""

    def spoil(pair: tuple[Any, Any]) -> InvalidCase:
        value, wrong = pair
        kwargs = attrs.asdict(value, recurse=False)
        kwargs[field] = wrong
        return type(value), kwargs, field

    return st.tuples(valid, bad).map(spoil)


_BLANK = st.sampled_from(["", " ", "   ", "\t", "\n \r", "\u00a0", "\u2003"])


def _oversized(limit: int) -> st.SearchStrategy[str]:
    """Strings of ``limit + 1`` to ``limit + 64`` characters."""
    return st.tuples(st.sampled_from("xé字-"), st.integers(limit + 1, limit + 64)).map(
        lambda spec: spec[0] * spec[1]
    )


@st.composite
def _with(draw: st.DrawFn, chars: st.SearchStrategy[str], base: st.SearchStrategy[str]) -> str:
    """``base`` with one character of ``chars`` inserted somewhere."""
    text = draw(base)
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(chars) + text[at:]


_CONTROL_CHARS = [chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))]
_CONTROL = st.sampled_from(_CONTROL_CHARS)
"""C0 and C1 control characters and DEL: never allowed in an identifier."""
_CONTROL_IN_TEXT = st.sampled_from([c for c in _CONTROL_CHARS if c not in "\t\n\r"])
"""Control characters that free text refuses (all but tab and line breaks)."""


def _not_member(enum_type: type[enum.Enum]) -> st.SearchStrategy[object]:
    """Values no member of ``enum_type`` has: names in capitals, other words, numbers."""
    values = {str(member.value) for member in enum_type}
    names = [member.name for member in enum_type if member.name not in values]
    return (
        st.sampled_from(["", "unknown", *names])
        | identifiers(max_size=16).map(lambda s: f"unknown:{s}")
        | st.integers()
        | st.none()
    )


def _naive() -> st.SearchStrategy[datetime]:
    return st.datetimes(min_value=EARLIEST, max_value=LATEST)


def _too_many_labels() -> st.SearchStrategy[dict[str, str]]:
    return st.integers(MAX_LABELS + 1, MAX_LABELS + 40).map(
        lambda n: {f"label-{i}": "value" for i in range(n)}
    )


def _wrong_labels() -> st.SearchStrategy[object]:
    """Labels with a non-string key or value, a blank key, or no mapping at all."""
    return (
        st.dictionaries(identifiers(max_size=16), st.integers() | st.none(), min_size=1)
        | st.dictionaries(st.integers(), identifiers(max_size=16), min_size=1)
        | st.lists(identifiers(max_size=16), max_size=3)
        | st.just({"": "blank key"})
    )


def _bad_links() -> st.SearchStrategy[object]:
    """Links that are not http(s) URLs, too many, or not a mapping of strings at all."""
    not_urls = st.sampled_from(
        ["javascript:alert(1)", "ftp://host/file", "/relative/path", "https://", "http://a b/c"]
    )
    return (
        st.dictionaries(identifiers(max_size=16), not_urls, min_size=1, max_size=2)
        | st.integers(MAX_LINKS + 1, MAX_LINKS + 8).map(
            lambda n: {f"link-{i}": f"https://example.com/{i}" for i in range(n)}
        )
        | st.just({"runbook": 42})
        | st.just({"runbook": "https://example.com/" + "x" * URL_MAX})
        | st.lists(identifiers(max_size=16), max_size=2)
    )


@st.composite
def _duplicate_levels(draw: st.DrawFn) -> InvalidCase:
    """A scale listing one name twice (or one rank twice)."""
    scale = draw(severity_scales(max_levels=4))
    level = draw(st.sampled_from(scale.levels))
    twin = attrs.evolve(level, rank=max(lv.rank for lv in scale.levels) + 1)
    if draw(st.booleans()):
        twin = attrs.evolve(level, name=f"{level.name[:30]}+")
    levels = draw(st.permutations([*scale.levels, twin]))
    return SeverityScale, {"levels": levels}, "levels"


def _scale_cases() -> list[st.SearchStrategy[InvalidCase]]:
    negative = st.timedeltas(min_value=-timedelta(days=9), max_value=-timedelta(microseconds=1))
    not_levels: st.SearchStrategy[object] = st.sampled_from([(), [], "SEV1", ("SEV1",), None])
    return [
        st.builds(lambda e: (SeverityScale, {"levels": e}, "levels"), not_levels),
        _duplicate_levels(),
        _case(severity_levels(), "first_update", negative),
        _case(severity_levels(), "update_interval", negative | st.just(timedelta(0))),
    ]


def _invalid_table() -> dict[str, list[st.SearchStrategy[InvalidCase]]]:
    """Every invalid case, by kind: each spoils one field of otherwise valid arguments."""
    signal, report, actor, alert = alert_signals(), customer_reports(), actors(), alerts()
    incident, update, handoff = service_incidents(), status_updates(), handoffs()
    level = severity_levels()
    names = [
        (signal, "product"),
        (report, "ticket_id"),
        (actor, "name"),
        (incident, "id"),
        (update, "incident_id"),
        (handoff, "to_team"),
    ]
    prose = [(signal, "summary"), (report, "summary"), (incident, "title")]
    control_name = _with(_CONTROL, identifiers(max_size=32))
    locales = st.sampled_from(LOCALES)
    enums = [
        (signal, "kind", AlertKind),
        (report, "symptom", Symptom),
        (report, "channel", Channel),
        (actor, "role", Role),
        (alert, "status", AlertStatus),
        (incident, "status", IncidentStatus),
        (update, "visibility", Visibility),
    ]
    moments = [
        (signal, "observed_at"),
        (signal, "started_at"),
        (report, "reported_at"),
        (incident, "detected_at"),
        (update, "posted_at"),
        (handoff, "at"),
        (domain_events(), "at"),
    ]
    return {
        "blank": [_case(v, f, _BLANK) for v, f in [(signal, "fingerprint"), *names, *prose]],
        "oversized": [
            _case(signal, "fingerprint", _oversized(FINGERPRINT_MAX)),
            _case(signal, "summary", _oversized(SUMMARY_MAX)),
            _case(signal, "description", _oversized(ALERT_DESCRIPTION_MAX)),
            _case(signal, "dedup_key", _oversized(SOURCE_KEY_MAX)),
            _case(report, "summary", _oversized(REPORT_SUMMARY_MAX)),
            _case(incident, "title", _oversized(TITLE_MAX)),
            _case(level, "name", _oversized(32)),
            _case(report, "locale", _oversized(35)),
            *(_case(v, f, _oversized(IDENTIFIER_MAX)) for v, f in names),
        ],
        "control_characters": [
            _case(signal, "fingerprint", control_name),
            _case(report, "locale", _with(_CONTROL, locales) | locales.map(lambda t: f"{t}\n")),
            *(_case(v, f, control_name) for v, f in names),
            *(_case(v, f, _with(_CONTROL_IN_TEXT, texts(max_size=32))) for v, f in prose),
        ],
        "naive_datetimes": [_case(v, f, _naive()) for v, f in moments],
        "unknown_enum_values": [_case(v, f, _not_member(e)) for v, f, e in enums],
        "bad_labels": [
            *(
                _case(v, "labels", bad)
                for v in (signal, alert)
                for bad in (_too_many_labels(), _wrong_labels())
            ),
            *(_case(v, "links", _bad_links()) for v in (signal, alert)),
        ],
        "bad_severity_scales": _scale_cases(),
        "wrong_types": [
            *(_case(v, f, st.integers() | st.none() | st.just(b"id")) for v, f in names),
            _case(incident, "products", st.just("chat")),
            _case(incident, "severity", st.sampled_from(["SEV1", 1])),
            _case(update, "author", identifiers(max_size=16)),
            _case(remediation_items(), "due", aware_datetimes() | st.just("2026-01-01")),
            _case(level, "rank", st.booleans()),
        ],
        "out_of_range": [
            _case(alert, "count", st.integers(max_value=0)),
            _case(report, "version", st.integers(max_value=-1)),
            _case(incident, "reopen_count", st.integers(max_value=-1)),
            _case(incident, "products", st.sampled_from([(), ["chat", "chat"]])),
            _case(level, "rank", st.integers(max_value=-1)),
        ],
    }


_INVALID: dict[str, list[st.SearchStrategy[InvalidCase]]] = {}


def invalid_inputs(*kinds: str) -> st.SearchStrategy[InvalidCase]:
    """Cases ``(factory, kwargs, field)`` where ``factory(**kwargs)`` raises ``InvalidInput``.

    Each case spoils exactly one field of otherwise valid arguments, so the
    error's ``field`` is the expected one. ``kinds`` (any of
    :data:`INVALID_KINDS`; all of them by default) selects what is spoiled:
    blank, oversized or control-character strings (fingerprints of 1-255
    characters, alert summaries up to 1,024, report summaries up to 10,000,
    identifiers up to 128), naive datetimes, unknown enum values, bad labels
    (non-string, more than 64), bad severity scales (no levels, duplicate names
    or ranks, negative intervals), wrong types and out-of-range numbers.
    """
    if not _INVALID:
        _INVALID.update(_invalid_table())
    unknown = sorted(set(kinds) - set(_INVALID))
    if unknown:
        raise ValueError(f"unknown kinds {unknown}; choose from {', '.join(INVALID_KINDS)}")
    chosen = kinds or INVALID_KINDS
    return st.one_of([case for kind in chosen for case in _INVALID[kind]])
