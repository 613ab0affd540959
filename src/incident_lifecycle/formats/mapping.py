"""What every source's mapping shares: product names, kind rules, the severity map.

Each format's mapping (``AlertmanagerMapping``, ``PagerDutyMapping``,
``OpsgenieMapping``) extends :class:`SignalMapping` with the fields of its
payload that give the product, the region and the rest. A mapping checks
itself when it is built and refuses, with ``InvalidInput`` naming the
field, one that cannot work (no way to name a product, a severity that is
not a level of its scale, a kind rule without keywords...). See
``docs/intake.md`` for the defaults and how to map your own labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from ..domain.alerts import AlertKind
from ..domain.checks import (
    IDENTIFIER_MAX,
    LABEL_MAX,
    SEVERITY_NAME_MAX,
    check_enum,
    check_identifier,
)
from ..domain.errors import InvalidInput
from ..domain.severity import DEFAULT_SCALE, SeverityScale

__all__ = [
    "DEFAULT_KIND_RULES",
    "DEFAULT_SEVERITIES",
    "KindRule",
    "SignalMapping",
    "label_names",
    "name_map",
    "severity_map",
]


def _to_keywords(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        raise InvalidInput("keywords", "must be a non-empty sequence of words")
    out = []
    for word in value:
        if not isinstance(word, str) or not word.strip():
            raise InvalidInput("keywords", f"{word!r} is not a word")
        out.append(word.strip().lower())
    return tuple(out)


_KINDS = frozenset(kind.value for kind in AlertKind)


def _to_kind(value: object) -> AlertKind:
    return check_enum("kind", AlertKind, value)


def _to_default_kind(value: object) -> AlertKind:
    return check_enum("default_kind", AlertKind, value)


@attrs.frozen(kw_only=True)
class KindRule:
    """A signal whose text holds one of ``keywords`` (any case, anywhere) is of ``kind``."""

    kind: AlertKind = attrs.field(converter=_to_kind)
    keywords: tuple[str, ...] = attrs.field(converter=_to_keywords)

    def matches(self, text: str) -> bool:
        """Whether ``text`` (already lower case) holds one of the keywords."""
        return any(word in text for word in self.keywords)


DEFAULT_KIND_RULES: tuple[KindRule, ...] = (
    KindRule(
        kind=AlertKind.LATENCY,
        keywords=("latency", "slow", "duration", "response time", "timeout", "p95", "p99"),
    ),
    KindRule(
        kind=AlertKind.ERROR_RATE,
        keywords=("error", "5xx", "fail", "exception", "unavailable", "crash"),
    ),
    KindRule(
        kind=AlertKind.VOLUME,
        keywords=("volume", "traffic", "throughput", "request rate", "rps", "qps", "backlog"),
    ),
)
"""Latency, then error rate, then volume: the first rule whose keyword appears wins."""

DEFAULT_SEVERITIES: Mapping[str, str] = MappingProxyType(
    {
        "critical": "SEV1",
        "page": "SEV1",
        "high": "SEV2",
        "error": "SEV2",
        "major": "SEV2",
        "warning": "SEV3",
        "warn": "SEV3",
        "medium": "SEV3",
        "minor": "SEV3",
        "low": "SEV4",
        "info": "SEV4",
        "informational": "SEV4",
    }
)
"""A source's severity word (any case) to a level of the default scale. SEV0 is left to
people: no source suggests it unless a mapping says so."""


def label_names(field: str, value: object, *, empty: bool = True) -> tuple[str, ...]:
    """A sequence of label (or field) names, each checked; ``empty=False`` needs one."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise InvalidInput(field, "must be a sequence of names")
    if not value and not empty:
        raise InvalidInput(field, "must name at least one")
    names = tuple(check_identifier(field, name, max_len=LABEL_MAX) for name in value)
    if len(set(names)) != len(names):
        raise InvalidInput(field, "names one twice")
    return names


def name_map(field: str, value: object, *, max_target: int = IDENTIFIER_MAX) -> Mapping[str, str]:
    """A read-only copy of a mapping of names to names, each checked."""
    if not isinstance(value, Mapping):
        raise InvalidInput(field, "must be a mapping of names")
    return MappingProxyType(
        {
            check_identifier(field, key, max_len=LABEL_MAX): check_identifier(
                field, target, max_len=max_target
            )
            for key, target in value.items()
        }
    )


def _to_products(value: object) -> Mapping[str, str]:
    return name_map("products", value)


def _to_rules(value: object) -> tuple[KindRule, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise InvalidInput("kind_rules", "must be a sequence of KindRule")
    for rule in value:
        if not isinstance(rule, KindRule):
            raise InvalidInput("kind_rules", f"{rule!r} is not a KindRule")
    return tuple(value)


def severity_map(value: object) -> Mapping[str, str]:
    """A source's severity words (lower-cased) to level names, each checked."""
    if not isinstance(value, Mapping):
        raise InvalidInput("severities", "must map the source's severities to level names")
    out: dict[str, str] = {}
    for word, level in value.items():
        if not isinstance(word, str) or not word.strip():
            raise InvalidInput("severities", f"{word!r} is not a severity word")
        out[word.strip().lower()] = check_identifier("severities", level, max_len=SEVERITY_NAME_MAX)
    return MappingProxyType(out)


def _optional_product(value: object) -> str | None:
    return None if value is None else check_identifier("default_product", value)


def _is_scale(_inst: object, _attribute: Any, value: object) -> None:
    if not isinstance(value, SeverityScale):
        raise InvalidInput("scale", f"must be a SeverityScale, not {type(value).__name__}")


@attrs.frozen(kw_only=True)
class SignalMapping:
    """What every source's mapping has: how products are named, kinds found, severities read."""

    default_product: str | None = attrs.field(default=None, converter=_optional_product)
    """The product of a signal whose fields name none (``None``: such a signal is dropped)."""
    products: Mapping[str, str] = attrs.field(factory=dict, converter=_to_products, hash=False)
    """Renames: a value the source gives (``support-api``) to the product it is (``support``)."""
    kind_rules: tuple[KindRule, ...] = attrs.field(default=DEFAULT_KIND_RULES, converter=_to_rules)
    default_kind: AlertKind = attrs.field(default=AlertKind.OTHER, converter=_to_default_kind)
    """The kind when no rule matches."""
    severities: Mapping[str, str] = attrs.field(
        default=DEFAULT_SEVERITIES, converter=severity_map, hash=False
    )
    """The source's severity (any case) to a level name of ``scale``: the alert's hint."""
    scale: SeverityScale = attrs.field(default=DEFAULT_SCALE, validator=_is_scale)
    """The desk's scale: every level ``severities`` names must be one of its levels."""

    def __attrs_post_init__(self) -> None:
        known = {level.name for level in self.scale}
        for word, level in self.severities.items():
            if level not in known:
                names = ", ".join(sorted(known))
                raise InvalidInput(
                    "severities", f"{word!r} maps to {level!r}, not a level of the scale ({names})"
                )

    def product_of(self, value: str | None) -> str | None:
        """The product a source's value names (renamed), else the default product."""
        if value is None:
            return self.default_product
        return self.products.get(value, value)

    def kind_of(self, explicit: str | None, *texts: str | None) -> AlertKind:
        """``explicit`` if it is a kind's value, else the first rule matching the texts."""
        if explicit is not None and explicit.strip().lower() in _KINDS:
            return AlertKind(explicit.strip().lower())
        haystack = " ".join(t for t in (explicit, *texts) if t).lower()
        for rule in self.kind_rules:
            if rule.matches(haystack):
                return rule.kind
        return self.default_kind

    def severity_of(self, value: str | None) -> str | None:
        """The level name the source's severity maps to, or ``None``."""
        return None if value is None else self.severities.get(value.strip().lower())
