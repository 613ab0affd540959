"""Every public call refuses junk with a typed error and leaves the store as it was.

Random sequences of calls, each argument valid or junk (wrong types, huge
ints, control characters, lone surrogates, over-long strings, naive and
extreme datetimes, unknown ids, the wrong actor), with the clock now and then
at year 1 or 9999 and a notifier now and then answering
``retry_after=timedelta.max``, run on a seeded desk over the in-memory store
and, in lockstep, over SQLite. After every call:

- a refusal is ``InvalidInput`` naming a field, ``NotFound``, ``NotPermitted``
  or ``InvalidTransition``: never a raw ``TypeError``/``OverflowError``/...,
  a ``sqlite3`` error, ``StoreError`` or ``ConcurrencyConflict``;
- after a refusal, everything the desk's queries reach reads as before;
- both stores give the same outcome (the same value, or the same refusal) and
  hold the same things (ids ranked, datetimes as instants, labels unordered,
  outbox sequence numbers and relay names left out: see ``fuzz_support``).

``IncidentDesk(...)`` must refuse a parameter of the wrong kind with
``InvalidInput``, and a desk it builds must survive a probe of calls; the
public value types must refuse junk fields with ``InvalidInput``.

Each example runs :data:`CALLS_PER_EXAMPLE` steps; for a longer run set
``FUZZ_CALLS`` to the calls wanted per store (e.g. ``FUZZ_CALLS=50000``).
"""

from __future__ import annotations

import inspect
import os
import random
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_support as fz
from desk_support import (
    ENG_CHAT,
    ENG_GUIDE,
    ENG_SUPPORT,
    ENG_TALK,
    IM,
    MONITOR,
    OWNERSHIP,
    START,
    SUPPORT_AGENT,
    signal,
)
from fuzz_support import EARLIEST, LATEST, Build, Call, Control, Ref
from incident_lifecycle import (
    DEFAULT_GROUPING,
    DEFAULT_SCALE,
    DEFAULT_TEMPLATES,
    SEV1,
    SEV3,
    Actor,
    AlertKind,
    AlertSignal,
    Channel,
    CustomerReport,
    DefaultTriagePolicy,
    DeliveryResult,
    FanOut,
    GroupingPolicy,
    IncidentDesk,
    IncidentStatus,
    MessageTemplate,
    Notification,
    RecipientKind,
    RemediationItem,
    ReportStatus,
    RetryPolicy,
    Review,
    Role,
    Severity,
    SeverityScale,
    Symptom,
    Templates,
    Topic,
    TriageDecision,
    TriageOutcome,
    TriagePolicy,
    Visibility,
)
from incident_lifecycle.adapters import InMemoryStore, RecordingNotifier
from incident_lifecycle.commands import COMMANDS
from incident_lifecycle.escalation import EscalationPolicy
from incident_lifecycle.ports import OutboxState
from incident_lifecycle.telemetry import Telemetry
from incident_lifecycle.testing import FakeClock
from incident_lifecycle.testing import strategies as ils

CALLS_PER_EXAMPLE = 14
"""Steps per example, about 11 of them calls: some 550 calls per store in dev (50 examples),
2,200 in ci (200 examples)."""


def _fuzz_settings(calls_per_example: int, factor: int = 1) -> settings:
    """The loaded profile (``max_examples`` times ``factor``), or as many as ``FUZZ_CALLS`` asks."""
    wanted = os.environ.get("FUZZ_CALLS")
    examples = settings().max_examples * factor
    if wanted:
        examples = max(examples, -(-int(wanted) // calls_per_example))
    extra: dict[str, Any] = {"max_examples": examples}
    return settings(
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        deadline=None,
        **extra,
    )


# -- argument strategies ----------------------------------------------------------

_NAMED_JUNK = st.sampled_from(fz.junk_values()).map(lambda make: make())
_RANDOM_JUNK = st.integers() | st.floats() | st.text(max_size=12) | st.binary(max_size=4)
JUNK: st.SearchStrategy[object] = st.integers(0, 3).flatmap(
    lambda n: _NAMED_JUNK if n < 3 else _RANDOM_JUNK
)
"""Anything but a valid argument (junk may, rarely, happen to be valid): mostly named junk."""

INCIDENTS = st.builds(Ref, st.just("incident"), st.integers(0, 15)) | st.sampled_from(
    ["INC-404", "inc-1", " INC-2", "INC-02"]
)
ALERTS = st.builds(Ref, st.just("alert"), st.integers(0, 15)) | st.just("ALR-404")
FINGERPRINTS = st.builds(Ref, st.just("fingerprint"), st.integers(0, 15)) | st.sampled_from(
    ["fp-1", "fp-2", "fp-3", "fp-new", "f" * 255]
)
OTHER_ENG = Actor(name="olga", role=Role.ENGINEERING, team="billing-eng")
TEAMLESS_SUPPORT = Actor(name="sue", role=Role.SUPPORT)
ACTORS = (
    st.sampled_from(
        [
            ENG_SUPPORT,
            ENG_CHAT,
            ENG_TALK,
            ENG_GUIDE,
            SUPPORT_AGENT,
            IM,
            MONITOR,
            OTHER_ENG,
            TEAMLESS_SUPPORT,
        ]
    )
    | ils.actors()
)
PRODUCTS = st.sampled_from([*OWNERSHIP, "billing"]) | ils.identifiers(max_size=24)
REGIONS = st.sampled_from([None, "pod17", "pod18"]) | ils.identifiers(max_size=24)
TEAMS = st.sampled_from([*OWNERSHIP.values(), "billing-eng"]) | ils.identifiers(max_size=24)
ODD_LEVEL = Severity(
    rank=9,
    name="SEV9",
    description="Not on the default scale.",
    public=False,
    first_update=timedelta(hours=1),
    update_interval=timedelta(hours=2),
    public_review=False,
)
SEVERITIES = st.sampled_from(
    ["SEV0", "SEV1", "SEV2", "SEV3", "SEV4", SEV1, SEV3, "SEV9", "sev1", ODD_LEVEL]
)
LEVEL_NAMES = st.sampled_from(["SEV0", "SEV1", "SEV2", "SEV3", "SEV4", "SEV9"])
TEXTS = st.sampled_from(["Checking the load balancers.", "é" * 200, "line one\nline two"])
TIMES = (
    st.sampled_from(
        [START, START + timedelta(minutes=5), START - timedelta(days=1), EARLIEST, LATEST]
    )
    | ils.aware_datetimes()
)
TICKETS = st.sampled_from(fz.TICKETS)


def texts(max_size: int) -> st.SearchStrategy[str]:
    """Valid text: a few fixed sentences, or any text up to ``max_size``."""
    return TEXTS | ils.texts(max_size=max_size)


SIGNALS = st.builds(
    lambda fields: Build(AlertSignal, kwargs=fields),
    st.fixed_dictionaries(
        {
            "fingerprint": FINGERPRINTS,
            "product": PRODUCTS,
            "kind": st.sampled_from(AlertKind),
            "summary": texts(1024),
            "observed_at": TIMES,
        },
        optional={
            "region": REGIONS,
            "labels": ils.labels(),
            "started_at": st.none() | TIMES,
            "severity_hint": st.none() | LEVEL_NAMES,
            "description": texts(2000),
            "links": ils.links(),
            "dedup_key": st.none() | ils.identifiers(max_size=64),
            "source_group": st.none() | ils.identifiers(max_size=64),
        },
    ),
)
REPORTS = st.builds(
    lambda fields: Build(CustomerReport, kwargs=fields),
    st.fixed_dictionaries(
        {
            "ticket_id": TICKETS,
            "account_id": st.sampled_from(["acct-1", "acct-2"]) | ils.identifiers(max_size=16),
            "product": PRODUCTS,
            "symptom": st.sampled_from(Symptom),
            "summary": texts(10_000),
            "reported_at": TIMES,
        },
        optional={
            "region": REGIONS,
            "channel": st.sampled_from(Channel),
            "locale": st.sampled_from(["en", "fr", "fr-CA", "pt_BR"]),
            "status": st.sampled_from(ReportStatus),
            "incident_id": INCIDENTS,
            "version": st.sampled_from([0, 7, 2**63, 2**64]),
        },
    ),
)
DECISIONS = (
    st.builds(lambda i: Build(TriageDecision.link, (i, "agent: same outage")), INCIDENTS)
    | st.builds(lambda s: Build(TriageDecision.open_new, (s,)), LEVEL_NAMES)
    | st.just(TriageDecision.troubleshoot("agent: a local problem"))
    | st.builds(
        lambda o, s: Build(TriageDecision, kwargs={"outcome": o, "severity": s, "score": 1e308}),
        st.just(TriageOutcome.OPEN_NEW),
        LEVEL_NAMES,
    )
)
REVIEWS = st.just(Review(root_cause="A bad deploy.")) | ils.reviews()
DEAD_KEYS = st.lists(
    st.builds(Ref, st.just("dead"), st.integers(0, 3)) | st.just("no-such-key"), max_size=3
)


@attrs.frozen
class Param:
    """How to draw one parameter: valid values, and whether it may be left out."""

    valid: st.SearchStrategy[Any]
    optional: bool = False


def opt(valid: st.SearchStrategy[Any]) -> Param:
    """A parameter with a default."""
    return Param(valid, optional=True)


P = Param
METHODS: dict[str, dict[str, Param]] = {
    "owner_of": {"product": P(PRODUCTS)},
    "receive_alert": {"signal": P(SIGNALS), "by": opt(ACTORS)},
    "receive_alerts": {"signals": P(st.lists(SIGNALS, max_size=4)), "by": opt(ACTORS)},
    "clear_alert": {"fingerprint": P(FINGERPRINTS), "by": opt(ACTORS)},
    "clear_alerts": {"fingerprints": P(st.lists(FINGERPRINTS, max_size=4)), "by": opt(ACTORS)},
    "detach_alert": {"alert_id": P(ALERTS), "by": P(ACTORS), "into": opt(INCIDENTS)},
    "acknowledge": {"incident_id": P(INCIDENTS), "by": P(ACTORS)},
    "validate_incident": {
        "incident_id": P(INCIDENTS),
        "by": P(ACTORS),
        "severity": P(SEVERITIES),
        "title": opt(texts(200)),
    },
    "dismiss_incident": {"incident_id": P(INCIDENTS), "by": P(ACTORS), "reason": P(texts(2000))},
    "declare_incident": {
        "by": P(ACTORS),
        "title": P(texts(200)),
        "product": P(PRODUCTS),
        "severity": P(SEVERITIES),
        "region": opt(REGIONS),
    },
    "post_update": {
        "incident_id": P(INCIDENTS),
        "by": P(ACTORS),
        "body": P(texts(10_000)),
        "visibility": opt(st.sampled_from([*Visibility, "public", "internal"])),
        "status": opt(st.sampled_from([None, *IncidentStatus, "identified", "monitoring"])),
    },
    "change_severity": {
        "incident_id": P(INCIDENTS),
        "by": P(ACTORS),
        "severity": P(SEVERITIES),
        "reason": opt(texts(2000)),
    },
    "hand_off": {
        "incident_id": P(INCIDENTS),
        "by": P(ACTORS),
        "to_team": P(TEAMS),
        "reason": P(texts(2000)),
    },
    "resolve_incident": {
        "incident_id": P(INCIDENTS),
        "by": P(ACTORS),
        "resolution": P(texts(10_000)),
    },
    "reopen_incident": {"incident_id": P(INCIDENTS), "by": P(ACTORS), "reason": P(texts(2000))},
    "merge_incidents": {"source_id": P(INCIDENTS), "into": P(INCIDENTS), "by": P(ACTORS)},
    "close_incident": {"incident_id": P(INCIDENTS), "by": P(ACTORS), "review": P(REVIEWS)},
    "incident": {"incident_id": P(INCIDENTS)},
    "alert": {"alert_id": P(ALERTS)},
    "alerts_of": {"incident_id": P(INCIDENTS)},
    "open_incidents": {"product": opt(PRODUCTS)},
    "potential_incidents": {"product": opt(PRODUCTS)},
    "timeline": {"incident_id": P(INCIDENTS)},
    "updates": {"incident_id": P(INCIDENTS)},
    "linked_tickets": {"incident_id": P(INCIDENTS)},
    "report": {"ticket_id": P(TICKETS)},
    "ticket_history": {"ticket_id": P(TICKETS)},
    "active_alert": {"fingerprint": P(FINGERPRINTS)},
    "active_alerts": {"product": P(PRODUCTS)},
    "outbox_entries": {
        "state": opt(st.sampled_from([*OutboxState, "pending", "delivered", "dead"])),
        "limit": opt(st.sampled_from([None, 0, 1, 5])),
    },
    "metrics": {"since": opt(st.none() | TIMES), "until": opt(st.none() | TIMES)},
    "deliver": {
        "batch_size": opt(st.sampled_from([1, 2, 3, 100])),
        "max_batches": opt(st.sampled_from([None, 1, 2])),
    },
    "outbox_stats": {},
    "dead_letters": {"limit": opt(st.sampled_from([None, 0, 1, 2, 5]))},
    "redrive_dead_letters": {"keys": opt(st.none() | DEAD_KEYS), "by": opt(ACTORS)},
    "prune_delivered": {
        "older_than": P(
            st.sampled_from([timedelta(0), timedelta(hours=1), timedelta(days=7), timedelta.max])
        )
    },
    "assess_report": {"report": P(REPORTS)},
    "triage_report": {"report": P(REPORTS), "by": P(ACTORS), "decision": opt(DECISIONS)},
    "triage_reports": {"reports": P(st.lists(REPORTS, max_size=4)), "by": P(ACTORS)},
    "link_ticket": {"ticket_id": P(TICKETS), "incident_id": P(INCIDENTS), "by": P(ACTORS)},
    "unlink_ticket": {"ticket_id": P(TICKETS), "by": P(ACTORS), "reason": opt(texts(2000))},
    "resolve_report": {"ticket_id": P(TICKETS), "by": P(ACTORS), "note": P(texts(10_000))},
    "transfer_report": {
        "ticket_id": P(TICKETS),
        "by": P(ACTORS),
        "to_team": P(TEAMS),
        "reason": P(texts(2000)),
    },
    "updates_due": {"now": opt(st.none() | TIMES)},
    "send_update_reminders": {"by": opt(st.none() | ACTORS)},
    "escalations_due": {"now": opt(st.none() | TIMES)},
    "send_escalations": {"by": opt(st.none() | ACTORS)},
    "handle": {"command": P(st.deferred(lambda: COMMAND_VALUES))},
}
"""Every public method of ``IncidentDesk``, with how to draw each of its parameters."""

OPERATIONS: dict[str, dict[str, Param]] = {"own": {"product": P(PRODUCTS), "team": P(TEAMS)}}
"""Commands that no desk method wraps, with their fields (``handle`` runs them)."""


def _method_of(command: type[object]) -> str:
    """The desk method a command class stands for: ``HandOff`` -> ``hand_off``."""
    name = command.__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


@st.composite
def calls(draw: st.DrawFn, method: str | None = None) -> Call:
    """One call of a public method: all arguments valid, one junk, or several junk."""
    name = method if method is not None else draw(st.sampled_from(sorted(METHODS)))
    params = METHODS[name] if name in METHODS else OPERATIONS[name]
    spoil = draw(st.sampled_from(["none", "one", "some"]))
    spoiled = draw(st.sampled_from(sorted(params))) if spoil == "one" and params else None
    kwargs: dict[str, Any] = {}
    for param, spec in params.items():
        junk = param == spoiled or (spoil == "some" and draw(st.integers(0, 2)) == 0)
        if junk:
            kwargs[param] = draw(JUNK)
        elif not spec.optional or draw(st.booleans()):
            kwargs[param] = draw(spec.valid)
    return Call(name, kwargs)


COMMAND_VALUES: st.SearchStrategy[Build] = st.sampled_from(sorted(COMMANDS)).flatmap(
    lambda op: calls(_method_of(COMMANDS[op])).map(
        lambda call: Build(COMMANDS[op], kwargs=call.kwargs)
    )
)
"""A command of ``COMMANDS``, built in each world from fields drawn like the method's
arguments (so, now and then, from junk: its constructor must refuse that)."""


CONTROLS: st.SearchStrategy[Control | None] = (
    st.none()
    | st.builds(
        Control,
        st.just("advance"),
        st.sampled_from(
            [timedelta(minutes=1), timedelta(minutes=20), timedelta(hours=3), timedelta(days=400)]
        ),
    )
    | st.builds(
        Control,
        st.just("jump"),
        st.sampled_from([EARLIEST, LATEST, datetime(9999, 12, 31, tzinfo=UTC)]),
    )
    | st.just(Control("back"))
    | st.builds(
        Control,
        st.just("notifier"),
        st.sampled_from(["deliver", "retry", "retry_after_max", "reject", "send_then_raise"]),
    )
)
"""Now and then, before a call: move or swap the clock, or change how the notifier answers."""

STEP: st.SearchStrategy[tuple[Control | None, Call] | None] = st.integers(0, 255).flatmap(
    lambda n: st.none() if n == 0 else st.tuples(CONTROLS, calls())
)
"""A step: a call with, now and then, a control before it; rarely none at all.

The "none" is what a failing sequence shrinks its irrelevant steps to
(a fixed-length list cannot drop them), so that shrinking stays quick.
"""
STEPS = st.lists(STEP, min_size=CALLS_PER_EXAMPLE, max_size=CALLS_PER_EXAMPLE)
EPOCHS = st.integers(0, 5).map(
    lambda n: {4: LATEST - timedelta(minutes=10), 5: EARLIEST + timedelta(minutes=20)}.get(n, START)
)
"""When a world is seeded: mostly 2026; now and then minutes from the end or the start of time.

The seed itself runs then: a desk that cannot work minutes from year 1 fails
in the seed, which the failure names (the call and the raw error).
"""


# -- the catalogue is complete ---------------------------------------------------------


def _public_methods() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(IncidentDesk, callable)
        if not name.startswith("_") and not isinstance(member, type)
    }


def test_every_public_method_of_the_desk_is_fuzzed() -> None:
    """The fuzz catalogue names every public method of the desk and each of its parameters."""
    methods = _public_methods()
    assert sorted(METHODS) == sorted(methods)
    for name, signature in methods.items():
        params = [p for p in signature.parameters if p != "self"]
        assert sorted(METHODS[name]) == sorted(params), name


def test_every_command_is_fuzzed_through_handle() -> None:
    """Each command of ``COMMANDS`` has the fields of the desk method (or operation) it names."""
    for command in COMMANDS.values():
        name = _method_of(command)
        params = METHODS[name] if name in METHODS else OPERATIONS[name]
        fields = attrs.fields(cast(Any, command))
        assert sorted(params) == sorted(f.name for f in fields), name


# -- call sequences on both stores -------------------------------------------------------


@_fuzz_settings(CALLS_PER_EXAMPLE)
@given(epoch=EPOCHS, steps=STEPS)
def test_public_calls_refuse_junk_with_typed_errors_and_change_nothing(
    epoch: datetime, steps: list[tuple[Control | None, Call] | None]
) -> None:
    """Each call succeeds or refuses with a typed error, changing nothing; both stores agree."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as scratch:
        worlds = fz.build_worlds(Path(scratch), epoch)
        try:
            for step in steps:
                if step is None:
                    continue
                control, call = step
                if control is not None:
                    fz.run_step(worlds, control)
                fz.run_step(worlds, call)
        finally:
            for world in worlds:
                fz.close_world(world)


# -- the constructor ---------------------------------------------------------------------

_HUGE = timedelta.max
_EXTREME_LEVEL = Severity(
    rank=2**64,
    name="S" * 32,
    description="Extreme cadence.",
    public=True,
    first_update=_HUGE,
    update_interval=_HUGE,
    public_review=True,
)
_FINE_LEVEL = Severity(
    rank=0,
    name="FINE",
    description="The worst level: a cadence counted to the microsecond, a million days long.",
    public=False,
    first_update=timedelta(days=10**6, microseconds=1),
    update_interval=timedelta(days=10**6, microseconds=3),
    public_review=False,
)


@attrs.frozen
class Fresh:
    """A valid constructor argument made anew for each store's desk (a clock, a notifier)."""

    make: Callable[[], object]
    label: str

    def __repr__(self) -> str:
        return self.label


EACH_STORE = Fresh(lambda: None, "<each store>")
"""The ``store`` argument when it is valid: each kind of store in turn."""


def _fake_clock(at: datetime) -> Fresh:
    return Fresh(lambda: FakeClock(at), f"FakeClock({at.isoformat()})")


def _notifier(mode: str) -> Fresh:
    return Fresh(lambda: fz.SwitchableNotifier(mode), f"<notifier: {mode}>")


@attrs.frozen
class CtorParam:
    """A constructor parameter: valid values, and whether a value is of the right kind at all."""

    valid: st.SearchStrategy[Any]
    well_typed: Callable[[object], bool]


def _is(*types: type) -> Callable[[object], bool]:
    return lambda value: isinstance(value, types) and not isinstance(value, type)


def _has(method: str) -> Callable[[object], bool]:
    return lambda value: not isinstance(value, type) and callable(getattr(value, method, None))


def _optional(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or check(value)


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


CTOR: dict[str, CtorParam] = {
    "store": CtorParam(st.just(EACH_STORE), _has("transaction")),
    "notifier": CtorParam(
        st.sampled_from(["deliver", "retry_after_max", "reject"]).map(_notifier),
        _has("send"),
    ),
    "ownership": CtorParam(
        st.sampled_from([OWNERSHIP, {"support": "support-eng"}, {}])
        | st.dictionaries(ils.identifiers(max_size=8), ils.identifiers(max_size=8), max_size=3),
        _is(Mapping),
    ),
    "clock": CtorParam(
        st.sampled_from([START, EARLIEST, LATEST]).map(_fake_clock), _optional(_has("now"))
    ),
    "scale": CtorParam(
        st.sampled_from(
            [DEFAULT_SCALE, SeverityScale([_EXTREME_LEVEL]), SeverityScale([SEV1, _FINE_LEVEL])]
        )
        | ils.severity_scales(max_levels=3),
        _is(SeverityScale),
    ),
    "grouping": CtorParam(
        st.sampled_from(
            [
                DEFAULT_GROUPING,
                GroupingPolicy(interval=_HUGE),
                GroupingPolicy(by=("kind", "product")),
            ]
        ),
        _is(GroupingPolicy),
    ),
    "retry": CtorParam(
        st.sampled_from(
            [
                None,
                RetryPolicy(),
                RetryPolicy(base=timedelta(0), cap=timedelta(0), max_attempts=1),
                RetryPolicy(base=_HUGE, cap=_HUGE),
                RetryPolicy(lease=_HUGE),
                RetryPolicy(max_attempts=2**64),
            ]
        ),
        _optional(_is(RetryPolicy)),
    ),
    "reopen_window": CtorParam(
        st.sampled_from([timedelta(days=7), timedelta(0), _HUGE]), _is(timedelta)
    ),
    "templates": CtorParam(st.just(DEFAULT_TEMPLATES), _is(Templates)),
    "max_conflict_retries": CtorParam(st.sampled_from([0, 5, 2**64]), _integer),
    "policy": CtorParam(
        st.sampled_from(
            [
                None,
                DefaultTriagePolicy(),
                DefaultTriagePolicy(grace=_HUGE, surge_window=_HUGE, surge_accounts=1),
                DefaultTriagePolicy(threshold=0.0, surge_accounts=1),
            ]
        ),
        _optional(_is(TriagePolicy)),
    ),
    "seed": CtorParam(st.sampled_from([None, 0, -1, 2**64]), _optional(_integer)),
    "escalation": CtorParam(
        st.sampled_from(
            [
                None,
                EscalationPolicy(),
                EscalationPolicy(delay=timedelta(microseconds=1)),
                EscalationPolicy(delay=_HUGE, by_severity={"SEV1": timedelta(seconds=1)}),
            ]
        ),
        _optional(_is(EscalationPolicy)),
    ),
    "default_team": CtorParam(st.sampled_from([None, "support-eng", "noc"]), _optional(_is(str))),
    "telemetry": CtorParam(st.sampled_from([None, Telemetry()]), _optional(_is(Telemetry))),
    "status_page": CtorParam(st.sampled_from([None, True, False]), _optional(_is(bool))),
}
"""Every parameter of ``IncidentDesk(...)``: valid values, and what is of the right kind."""

CTOR_JUNK: st.SearchStrategy[object] = (
    JUNK
    | st.sampled_from(
        [
            InMemoryStore,
            RecordingNotifier,
            FakeClock,
            RetryPolicy,
            {"support": 5},
            {5: "x"},
            {"": "x"},
            {"support": "a\nb"},
            {"support": "x" * 200},
        ]
    )
    | st.builds(object)
)


def test_every_constructor_parameter_is_fuzzed() -> None:
    """The constructor catalogue names every parameter of ``IncidentDesk``."""
    params = inspect.signature(IncidentDesk).parameters
    assert sorted(CTOR) == sorted(params)


@st.composite
def ctor_kwargs(draw: st.DrawFn) -> dict[str, Any]:
    """Constructor arguments: the required ones always, the rest sometimes; one or two junk.

    The clock is always a ``FakeClock`` when valid (both stores' desks must see
    the same times); junk may be any object, a real ``SystemClock`` included.
    """
    spoiled = draw(st.lists(st.sampled_from(sorted(CTOR)), min_size=0, max_size=2, unique=True))
    kwargs: dict[str, Any] = {}
    for name, spec in CTOR.items():
        if name in spoiled:
            kwargs[name] = draw(CTOR_JUNK)
        elif name in ("store", "notifier", "ownership", "clock") or draw(st.booleans()):
            kwargs[name] = draw(spec.valid)
    return kwargs


PROBE_CALLS = 20
"""Calls of the probe run on each desk the constructor accepts."""


def _probe(desk: IncidentDesk) -> list[Call | Control]:
    """Calls that reach intake, validation, triage, delivery, cadence and the queries."""
    scale = desk.scale if isinstance(desk.scale, SeverityScale) else DEFAULT_SCALE
    level = scale.worst.name
    report = Build(fz.report, ("T-1", "chat", Symptom.SLOW, START))
    surge = [Build(fz.report, (f"T-{n}", "talk", Symptom.ERRORS, START)) for n in range(2, 5)]
    chat = Build(signal, ("fp-1",), {"product": "chat"})
    incident = Ref("incident", 0)
    return [
        Call("receive_alert", {"signal": chat}),
        Call("receive_alert", {"signal": Build(signal, ("fp-2",))}),
        Call("validate_incident", {"incident_id": incident, "by": IM, "severity": level}),
        Call("change_severity", {"incident_id": incident, "by": IM, "severity": level}),
        Call("triage_report", {"report": report, "by": SUPPORT_AGENT}),
        Call("triage_reports", {"reports": surge, "by": SUPPORT_AGENT}),
        Call(
            "triage_report",
            {
                "report": Build(fz.report, ("T-9", "guide", Symptom.SLOW, START)),
                "by": SUPPORT_AGENT,
                "decision": TriageDecision.open_new(level),
            },
        ),
        Call("post_update", {"incident_id": incident, "by": IM, "body": "Looking."}),
        Call("deliver", {}),
        Call("deliver", {"batch_size": 1, "max_batches": 1}),
        Call("updates_due", {}),
        Call("send_update_reminders", {}),
        Call("escalations_due", {}),
        Call("send_escalations", {}),
        Call("clear_alert", {"fingerprint": "fp-2"}),
        Call("resolve_incident", {"incident_id": incident, "by": IM, "resolution": "ok"}),
        Call("reopen_incident", {"incident_id": incident, "by": IM, "reason": "back"}),
        Call("metrics", {}),
        Call("open_incidents", {"product": "chat"}),
        Call("dead_letters", {"limit": 5}),
        Call("redrive_dead_letters", {}),
        Call("outbox_stats", {}),
    ]


@_fuzz_settings(PROBE_CALLS)
@given(kwargs=ctor_kwargs())
def test_the_constructor_refuses_junk_and_what_it_accepts_works(kwargs: dict[str, Any]) -> None:
    """``IncidentDesk(...)`` refuses a parameter of the wrong kind with ``InvalidInput``;
    the desks it builds, one per store, work and agree."""
    where = f"IncidentDesk({', '.join(f'{k}={fz.short(v)}' for k, v in kwargs.items())})"
    kinds = fz.STORE_KINDS if kwargs.get("store") is EACH_STORE else ("junk store",)
    with tempfile.TemporaryDirectory(prefix="fuzz-ctor-") as scratch:
        worlds: list[fz.World] = []
        try:
            for kind in kinds:
                world = _construct(kind, kwargs, Path(scratch), where)
                if world is not None:
                    worlds.append(world)
            if len(worlds) not in (0, len(kinds)):
                raise fz.FuzzFailure(f"{where} built a desk over only one of the stores")
            # Without a fake clock (junk None: the system clock) the desks see different times.
            same_time = isinstance(kwargs.get("clock"), Fresh)
            for step in _probe(worlds[0].desk) if worlds else ():
                fz.run_step(worlds, step, compare=same_time)
        finally:
            for world in worlds:
                fz.close_world(world)


def _construct(kind: str, drawn: dict[str, Any], scratch: Path, where: str) -> fz.World | None:
    """Build the desk over a fresh store of ``kind``; ``None`` if it refused (as it should)."""
    kwargs: dict[str, Any] = {
        name: value.make() if isinstance(value, Fresh) else value for name, value in drawn.items()
    }
    store = kwargs["store"] = (
        fz.open_store(kind, scratch / kind) if drawn.get("store") is EACH_STORE else drawn["store"]
    )
    ill_typed = sorted(n for n, v in kwargs.items() if not CTOR[n].well_typed(v))
    try:
        desk = IncidentDesk(**kwargs)
    except Exception as error:
        refusal = fz.check_refusal(error, f"[{kind}] {where}")
        if refusal[0] != "InvalidInput":
            raise fz.FuzzFailure(f"{where} refused with {refusal[0]}, not InvalidInput") from error
        _close(store)
        return None
    if ill_typed:
        _close(store)
        raise fz.FuzzFailure(f"[{kind}] {where} accepted junk for {', '.join(ill_typed)}")
    world = fz.World(kind=kind, desk=desk, store=store, clock=None, notifier=None)
    world.tickets.update(fz.TICKETS)
    world.last = fz.read_back(world, where)
    return world


def _close(store: object) -> None:
    close = getattr(store, "close", None)
    if callable(close) and not isinstance(store, type):
        close()


# -- the value types -------------------------------------------------------------------------


def _kwargs(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(fields)


_NOTIFICATION = {
    "key": st.just("INC-1/validation-request"),
    "recipient": st.just("support-eng"),
    "recipient_kind": st.sampled_from([RecipientKind.TEAM, "team"]),
    "topic": st.sampled_from([Topic.VALIDATION_REQUEST, "handoff"]),
    "incident_id": st.sampled_from([None, "INC-1"]),
    "subject": st.just("Please validate"),
    "body": st.just("A new alert."),
    "created_at": TIMES,
}
VALUE_TYPES: dict[str, tuple[Callable[..., object], st.SearchStrategy[dict[str, Any]]]] = {
    "AlertSignal": (
        AlertSignal,
        _kwargs(
            fingerprint=FINGERPRINTS.filter(lambda f: isinstance(f, str)),
            product=PRODUCTS,
            kind=st.sampled_from([*AlertKind, "latency"]),
            summary=texts(1024),
            observed_at=TIMES,
            region=REGIONS,
            labels=st.none() | ils.labels(),
            started_at=st.none() | TIMES,
            severity_hint=st.none() | LEVEL_NAMES,
            description=st.none() | texts(2000),
            links=ils.links(),
            dedup_key=st.none() | ils.identifiers(max_size=64),
            source_group=st.none() | ils.identifiers(max_size=64),
        ),
    ),
    "CustomerReport": (
        CustomerReport,
        _kwargs(
            ticket_id=TICKETS,
            account_id=st.just("acct-1"),
            product=PRODUCTS,
            symptom=st.sampled_from([*Symptom, "slow"]),
            summary=texts(10_000),
            reported_at=TIMES,
            region=REGIONS,
            channel=st.sampled_from([*Channel, "chat"]),
            locale=st.sampled_from(["en", "fr-CA"]),
            status=st.sampled_from([*ReportStatus, "received"]),
            incident_id=st.sampled_from([None, "INC-1"]),
            ended_at=st.none() | TIMES,
            version=st.sampled_from([0, 2**64]),
        ),
    ),
    "Actor": (
        Actor,
        _kwargs(
            name=st.just("ana"),
            role=st.sampled_from([*Role, "support"]),
            team=st.sampled_from([None, "support-eng"]),
        ),
    ),
    "RemediationItem": (
        RemediationItem,
        _kwargs(
            description=texts(2000),
            owner_team=TEAMS,
            due=st.sampled_from([date(2026, 4, 1), date.min, date.max]),
        ),
    ),
    "Review": (
        Review,
        _kwargs(
            root_cause=texts(20_000),
            impact=st.just(""),
            remediation=st.lists(ils.remediation_items(), max_size=2).map(tuple),
        ),
    ),
    "TriageDecision": (
        TriageDecision,
        _kwargs(
            outcome=st.sampled_from([TriageOutcome.TROUBLESHOOT, "troubleshoot"]),
            incident_id=st.sampled_from([None, "INC-1"]),
            severity=st.sampled_from([None, "SEV2"]),
            score=st.floats(allow_nan=False, allow_infinity=False),
            reasons=st.lists(texts(100), max_size=2).map(tuple),
        ),
    ),
    "TriageDecision.link": (TriageDecision.link, _kwargs(incident_id=st.just("INC-1"))),
    "TriageDecision.open_new": (TriageDecision.open_new, _kwargs(severity=LEVEL_NAMES)),
    "Severity": (
        Severity,
        _kwargs(
            rank=st.sampled_from([0, 7, 2**64]),
            name=st.just("SEV7"),
            description=texts(500),
            public=st.booleans(),
            first_update=st.sampled_from([timedelta(0), timedelta(minutes=15), _HUGE]),
            update_interval=st.sampled_from([timedelta(minutes=30), _HUGE]),
            public_review=st.booleans(),
        ),
    ),
    "SeverityScale": (SeverityScale, _kwargs(levels=st.just([SEV1, SEV3, _EXTREME_LEVEL]))),
    "SeverityScale.resolve": (DEFAULT_SCALE.resolve, _kwargs(severity=SEVERITIES)),
    "SeverityScale.by_rank": (DEFAULT_SCALE.by_rank, _kwargs(rank=st.integers(-2, 6))),
    "SeverityScale[...]": (DEFAULT_SCALE.__getitem__, _kwargs(name=LEVEL_NAMES)),
    "Notification": (Notification, st.fixed_dictionaries(_NOTIFICATION)),
    "FanOut": (
        FanOut,
        _kwargs(
            key_prefix=st.just("INC-1/update"),
            recipients=st.sampled_from([("T-1",), ("T-1", "T-2"), ()]),
            topic=st.sampled_from([Topic.STATUS_UPDATE, "resolution"]),
            incident_id=st.just("INC-1"),
            subject=st.just("Update"),
            body=texts(20_000),
            created_at=TIMES,
        ),
    ),
    "DeliveryResult": (
        DeliveryResult,
        _kwargs(
            key=st.just("k"),
            status=st.sampled_from(["delivered", "retry", "rejected"]),
            retry_after=st.sampled_from([None, timedelta(seconds=5), _HUGE]),
            error=st.just(""),
        ),
    ),
    "DeliveryResult.delivered": (DeliveryResult.delivered, _kwargs(key=st.just("k"))),
    "DeliveryResult.retry": (
        DeliveryResult.retry,
        _kwargs(key=st.just("k"), error=st.just("busy"), after=st.sampled_from([None, _HUGE])),
    ),
    "DeliveryResult.rejected": (
        DeliveryResult.rejected,
        _kwargs(key=st.just("k"), error=st.just("gone")),
    ),
    "RetryPolicy": (
        RetryPolicy,
        _kwargs(
            base=st.sampled_from([timedelta(0), timedelta(seconds=10), _HUGE]),
            cap=st.sampled_from([timedelta(minutes=15), _HUGE]),
            max_attempts=st.sampled_from([1, 8, 2**64]),
            lease=st.sampled_from([timedelta(minutes=2), _HUGE]),
            jitter=st.booleans(),
        ),
    ),
    "GroupingPolicy": (
        GroupingPolicy,
        _kwargs(
            by=st.sampled_from([("product",), ["product", "region"], ("product", "label:team")]),
            interval=st.sampled_from([timedelta(0), _HUGE]),
        ),
    ),
    "DefaultTriagePolicy": (
        DefaultTriagePolicy,
        _kwargs(
            threshold=st.sampled_from([0.0, 3.0, 1e308]),
            grace=st.sampled_from([timedelta(0), _HUGE]),
            surge_accounts=st.sampled_from([1, 2**64]),
            surge_window=st.sampled_from([timedelta(minutes=15), _HUGE]),
            surge_symptoms=st.sampled_from([frozenset(), {Symptom.SLOW}, ["errors"]]),
            reach_severity=st.sampled_from([((0, "SEV3"),), ((2**64, "SEV1"), (0, "SEV4"))]),
            unavailable_bump=st.sampled_from([{}, {"SEV3": "SEV2"}]),
        ),
    ),
    "MessageTemplate": (MessageTemplate, _kwargs(source=st.sampled_from(["{status}", "a {{b}}"]))),
    "FakeClock": (FakeClock, _kwargs(start=st.none() | TIMES)),
}
"""Public value types (and their value-building methods), with valid arguments."""
VALUE_EXAMPLES_FACTOR = 10
"""Values are cheap to build: this many times the profile's examples (dev 500; ci 2,000)."""


@_fuzz_settings(1, factor=VALUE_EXAMPLES_FACTOR)
@given(
    case=st.sampled_from(sorted(VALUE_TYPES)).flatmap(
        lambda name: st.tuples(st.just(name), VALUE_TYPES[name][1])
    ),
    spoiled=st.lists(st.integers(0, 20), max_size=2),
    junk=st.lists(JUNK, min_size=2, max_size=2),
)
def test_value_types_refuse_junk_with_invalid_input(
    case: tuple[str, dict[str, Any]], spoiled: list[int], junk: list[object]
) -> None:
    """A public value refuses junk fields with ``InvalidInput`` naming one; what it takes works."""
    name, kwargs = case
    factory = VALUE_TYPES[name][0]
    fields = sorted(kwargs)
    for position, bad in zip(spoiled, junk, strict=False):
        if fields:
            kwargs[fields[position % len(fields)]] = bad
    where = f"{name}({', '.join(f'{k}={fz.short(v)}' for k, v in kwargs.items())})"
    try:
        value = factory(**kwargs)
    except Exception as error:
        refusal = fz.check_refusal(error, where)
        if refusal[0] != "InvalidInput":
            raise fz.FuzzFailure(f"{where} refused with {refusal[0]}, not InvalidInput") from error
        return
    _use(value, where)


def _use(value: object, where: str) -> None:
    """What every accepted value must support: its repr and the values derived from it."""
    try:
        repr(value)
        if isinstance(value, RetryPolicy):
            if value.max_attempts <= 1_000:  # horizon sums every attempt's wait, one by one
                _ = value.horizon
            value.delay(1, random.Random(0))
            value.delay(2**63, random.Random(0))
    except Exception as error:
        raise fz.FuzzFailure(
            f"{where} was accepted, then {type(error).__name__}: {error}"
        ) from error


@pytest.mark.parametrize("kind", fz.STORE_KINDS)
def test_the_seeded_world_is_what_the_fuzz_test_expects(kind: str, tmp_path: Path) -> None:
    """The seed holds a potential and two open incidents, triaged tickets and a dead letter."""
    world = fz.build_world(kind, tmp_path)
    try:
        desk = world.desk
        assert [i.id for i in desk.potential_incidents()] == ["INC-1"]
        assert sorted(i.id for i in desk.open_incidents()) == ["INC-2", "INC-3"]
        assert desk.linked_tickets("INC-2") == ["T-1"]
        assert len(desk.dead_letters()) == 1
        stats = desk.outbox_stats()
        assert stats.pending > 0
        assert stats.dead == 1
    finally:
        fz.close_world(world)
