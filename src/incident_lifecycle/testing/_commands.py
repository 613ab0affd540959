"""The strategy for commands: instances of the classes in ``COMMANDS``, built from their fields.

Private module: import :func:`commands` from :mod:`incident_lifecycle.testing.strategies`.

Each field's values are read off the class: a field that names something the
desk keeps (an incident, an alert, a ticket, a product...) draws from the
caller's pool for it; any other field from its type (``Actor``,
``AlertSignal``, ``Review``, an enum, ``Severity | str``...) or, for a string,
from the length limits of its validator.
"""

from __future__ import annotations

import enum
import functools
import operator
import types
import typing
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

import attrs
from hypothesis import strategies as st

from ..commands import COMMANDS, Command, MergeIncidents, Operation
from ..commands.base import CHOICES
from ..domain.actors import Actor
from ..domain.alerts import FINGERPRINT_MAX, AlertSignal
from ..domain.checks import KEY_MAX, Optional, Validator, check_identifier, check_text
from ..domain.incidents import Review
from ..domain.reports import CustomerReport, ReportStatus
from ..domain.severity import DEFAULT_SCALE, Severity
from ..triage import TriageDecision
from ._basics import actors, aware_datetimes, identifiers, maybe, members, severities, texts
from ._entities import alert_signals, customer_reports, reviews

__all__ = ["commands"]

AnyCommand = Command[Any] | Operation[Any]
Strategy = st.SearchStrategy[Any]

_REFERENCES: Mapping[str, str] = {
    "incident_id": "incident_ids",
    "source_id": "incident_ids",
    "into": "incident_ids",
    "alert_id": "alert_ids",
    "ticket_id": "ticket_ids",
    "fingerprint": "fingerprints",
    "fingerprints": "fingerprints",
    "product": "products",
    "region": "regions",
    "team": "teams",
    "to_team": "teams",
}
"""Fields that name something kept by the desk (or its configuration), and their pool."""

_DISTINCT: Mapping[type, tuple[tuple[str, str], ...]] = {MergeIncidents: (("source_id", "into"),)}
"""Pairs of fields a class refuses to construct with equal values."""

_REDRAWS = 3
"""How often a field that must differ from another is drawn again before a fresh id."""

_BATCH = 4
"""The most signals or reports in one drawn batch."""


@attrs.frozen(kw_only=True)
class _Pools:
    """Where each kind of value comes from (the caller's pools, else free values)."""

    incident_ids: Strategy
    alert_ids: Strategy
    ticket_ids: Strategy
    products: Strategy
    fingerprints: Strategy
    regions: Strategy
    teams: Strategy
    notification_keys: Strategy
    by: Strategy
    times: Strategy


@attrs.frozen
class _Field:
    """What a command field takes: its type (``None`` stripped), nullability, validator."""

    name: str
    kind: Any
    nullable: bool
    validator: Any
    choices: tuple[object, ...] | None


def _strip_none(kind: Any) -> tuple[Any, bool]:
    """``(T, True)`` for ``T | None``; ``(kind, False)`` otherwise."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        args = tuple(a for a in typing.get_args(kind) if a is not type(None))
        nullable = len(args) < len(typing.get_args(kind))
        return (args[0] if len(args) == 1 else functools.reduce(operator.or_, args)), nullable
    return kind, False


@functools.cache
def _fields(cls: type) -> tuple[_Field, ...]:
    """The fields of a command class with their resolved types."""
    hints = typing.get_type_hints(cls)
    out = []
    for field in attrs.fields(cls):
        kind, nullable = _strip_none(hints[field.name])
        out.append(_Field(field.name, kind, nullable, field.validator, field.metadata.get(CHOICES)))
    return tuple(out)


def _string(validator: Any) -> Strategy | None:
    """Strings within the limits a field's validator enforces, if it is one we know."""
    while isinstance(validator, Optional):
        validator = validator.validator
    if isinstance(validator, Validator):
        if validator.check is check_identifier:
            return identifiers(max_size=validator.options.get("max_len", 128))
        if validator.check is check_text:
            options = validator.options
            return texts(max_size=options["max_len"], min_size=options.get("min_len", 1))
    return None


@st.composite
def _signals(draw: st.DrawFn, pools: _Pools) -> AlertSignal:
    """Signals whose product, fingerprint, region and time come from the pools."""
    signal = draw(
        alert_signals(
            draw(pools.products),
            fingerprint=draw(pools.fingerprints),
            observed_at=draw(pools.times),
        )
    )
    return attrs.evolve(signal, region=draw(maybe(pools.regions)))


@st.composite
def _reports(draw: st.DrawFn, pools: _Pools) -> CustomerReport:
    """Reports to triage (received), on tickets, products and regions of the pools."""
    report = draw(customer_reports(ReportStatus.RECEIVED))
    return attrs.evolve(
        report,
        ticket_id=draw(pools.ticket_ids),
        product=draw(pools.products),
        region=draw(maybe(pools.regions)),
        reported_at=draw(pools.times),
    )


def _decisions(pools: _Pools) -> st.SearchStrategy[TriageDecision]:
    """An agent's triage decision: link to an incident of the pool, open, or troubleshoot."""
    reasons = st.lists(texts(max_size=200), max_size=2).map(tuple)
    levels = st.sampled_from([level.name for level in DEFAULT_SCALE.levels])
    return st.one_of(
        st.builds(lambda i, r: TriageDecision.link(i, *r), pools.incident_ids, reasons),
        st.builds(lambda s, r: TriageDecision.open_new(s, *r), levels, reasons),
        reasons.map(lambda r: TriageDecision.troubleshoot(*r)),
    )


def _batch(strategy: Strategy) -> Strategy:
    return st.lists(strategy, min_size=1, max_size=_BATCH).map(tuple)


def _by_type(kind: Any, pools: _Pools) -> Strategy | None:
    """Values of a field's type, for the types commands use; ``None`` for a type we do not know."""
    table: Mapping[Any, Callable[[], Strategy]] = {
        Actor: lambda: pools.by,
        AlertSignal: lambda: _signals(pools),
        tuple[AlertSignal, ...]: lambda: _batch(_signals(pools)),
        CustomerReport: lambda: _reports(pools),
        tuple[CustomerReport, ...]: lambda: _batch(_reports(pools)),
        TriageDecision: lambda: _decisions(pools),
        Review: reviews,
        Severity | str: lambda: severities() | severities().map(operator.attrgetter("name")),
        tuple[str, ...]: lambda: st.lists(pools.notification_keys, max_size=3).map(tuple),
        int: lambda: st.integers(1, 100),
        datetime: lambda: pools.times,
    }
    if kind in table:
        return table[kind]()
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return members(kind)
    return None


def _strategy(cls: type, field: _Field, pools: _Pools) -> Strategy:
    """Valid values of one field of ``cls``."""
    pool = _REFERENCES.get(field.name)
    if field.choices is not None:
        choices = field.choices
        if isinstance(field.kind, type) and issubclass(field.kind, enum.Enum):
            choices = tuple(field.kind(c) for c in choices)
        strategy: Strategy | None = st.sampled_from(choices)
    elif pool is not None and field.kind is str:
        strategy = getattr(pools, pool)
    elif pool is not None and field.kind == tuple[str, ...]:
        strategy = _batch(getattr(pools, pool))
    else:
        strategy = _by_type(field.kind, pools)
        if strategy is None and field.kind is str:
            strategy = _string(field.validator)
    if strategy is None:  # a new field type: this module must learn its values
        raise NotImplementedError(
            f"no strategy for {cls.__name__}.{field.name} ({field.kind!r}); teach _commands"
        )
    return maybe(strategy) if field.nullable else strategy


@st.composite
def _instances(
    draw: st.DrawFn, cls: type[AnyCommand], fields: Mapping[str, Strategy]
) -> AnyCommand:
    """An instance of ``cls`` from one draw of each field (equal pairs it refuses made distinct)."""
    kwargs = {name: draw(strategy) for name, strategy in fields.items()}
    for first, second in _DISTINCT.get(cls, ()):
        for _ in range(_REDRAWS):
            if kwargs[first] == kwargs[second]:
                kwargs[second] = draw(fields[second])
        if kwargs[first] == kwargs[second]:
            other = functools.partial(operator.ne, kwargs[first])
            kwargs[second] = draw(identifiers().filter(other))
    return cls(**kwargs)


def _or(pool: Strategy | None, free: Strategy) -> Strategy:
    """The caller's pool, or free values when there is none."""
    return free if pool is None else pool


def _default_ops() -> tuple[str, ...]:
    return tuple(op for op, cls in COMMANDS.items() if issubclass(cls, Command))


def commands(
    ops: Collection[str] | None = None,
    *,
    incident_ids: st.SearchStrategy[str] | None = None,
    alert_ids: st.SearchStrategy[str] | None = None,
    ticket_ids: st.SearchStrategy[str] | None = None,
    products: st.SearchStrategy[str] | None = None,
    fingerprints: st.SearchStrategy[str] | None = None,
    regions: st.SearchStrategy[str] | None = None,
    teams: st.SearchStrategy[str] | None = None,
    notification_keys: st.SearchStrategy[str] | None = None,
    by: st.SearchStrategy[Actor] | None = None,
    times: st.SearchStrategy[datetime] | None = None,
) -> st.SearchStrategy[AnyCommand]:
    """Command instances of the classes in ``COMMANDS``, every field valid.

    ``ops`` names the commands to draw (wire names, the keys of ``COMMANDS``);
    by default every :class:`~incident_lifecycle.commands.Command`, that is
    all but the two operations, ``own`` (which changes the desk's ownership
    map) and ``deliver`` (which drains the outbox): a test usually runs those
    at moments of its own choosing. Name them in ``ops`` to draw them too.

    Every drawn command constructs; whether the desk accepts it depends on
    what the desk holds. To draw commands about things that exist, give pools
    (strategies) of the values a run knows: ``incident_ids`` (also a merge's
    source and target and a detach's ``into``), ``alert_ids``, ``ticket_ids``
    (also of the reports to triage), ``products`` (of signals, reports,
    declarations and ``own``), ``fingerprints`` (of signals and clears),
    ``regions`` (of signals, reports and declarations; ``None`` is drawn too),
    ``teams`` (``to_team`` of a hand-off or transfer, ``own``'s team),
    ``notification_keys`` (a redrive's keys), ``by`` (the actor of every
    command) and ``times`` (when signals were observed and reports made).
    Anything without a pool is drawn freely. One exception keeps a drawn
    merge constructible: when the pool gives its target the source's id
    again (and again, three times), the target is a fresh identifier instead.

    Severities are levels of ``DEFAULT_SCALE``, as ``Severity`` or by name.

    >>> from hypothesis import given, settings, strategies as st
    >>> from incident_lifecycle.commands import Acknowledge, ResolveIncident
    >>> known = st.sampled_from(["INC-1", "INC-2"])
    >>> @settings(max_examples=20)
    ... @given(commands(["acknowledge", "resolve"], incident_ids=known))
    ... def test_commands_name_known_incidents(command):
    ...     assert isinstance(command, Acknowledge | ResolveIncident)
    ...     assert command.incident_id in ("INC-1", "INC-2")
    >>> test_commands_name_known_incidents()
    """
    chosen = _default_ops() if ops is None else tuple(ops)
    if isinstance(ops, str) or not chosen:
        raise ValueError("ops must be a non-empty collection of op names")
    unknown = sorted(set(chosen) - set(COMMANDS))
    if unknown:
        raise ValueError(f"unknown ops {unknown}; choose from {', '.join(COMMANDS)}")
    pools = _Pools(
        incident_ids=_or(incident_ids, identifiers()),
        alert_ids=_or(alert_ids, identifiers()),
        ticket_ids=_or(ticket_ids, identifiers()),
        products=_or(products, identifiers()),
        fingerprints=_or(fingerprints, identifiers(max_size=FINGERPRINT_MAX)),
        regions=_or(regions, identifiers()),
        teams=_or(teams, identifiers()),
        notification_keys=_or(notification_keys, identifiers(max_size=KEY_MAX)),
        by=_or(by, actors()),
        times=_or(times, aware_datetimes()),
    )
    # In the order of COMMANDS, whatever the order of ops, but operations last: hypothesis
    # favours (and shrinks towards) the first branch, which should be a common command.
    classes = sorted(
        (cls for op, cls in COMMANDS.items() if op in chosen),
        key=lambda cls: issubclass(cls, Operation),
    )
    return st.one_of(
        [
            _instances(cls, {f.name: _strategy(cls, f, pools) for f in _fields(cls)})
            for cls in classes
        ]
    )
