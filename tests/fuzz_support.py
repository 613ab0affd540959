"""Worlds, junk values, snapshots and the step runner of ``test_fuzz_public_api``.

A plain module, imported explicitly (like ``desk_support``). A :class:`World`
is a desk over one store, seeded with a little of everything (a potential
incident, an open one, triaged reports, pending notifications, a dead
letter), with a clock and a notifier that a step may switch: to year 1, to
year 9999, to a notifier answering ``retry_after=timedelta.max``.

Calls name the world's entities symbolically (:class:`Ref`: "the second
incident"), so one drawn sequence runs on several worlds whose stores number
their ids differently, and :func:`run_step` checks every rule of the fuzz
test on each world, then compares the worlds' outcomes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from desk_support import (
    ENG_CHAT,
    ENG_SUPPORT,
    IM,
    MONITOR,
    OWNERSHIP,
    START,
    SUPPORT_AGENT,
    canonical,
    signal,
)
from incident_lifecycle import (
    Alert,
    ConcurrencyConflict,
    CustomerReport,
    DeliveryError,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPermitted,
    StatusUpdate,
    StoreError,
    Symptom,
    TriageDecision,
    Visibility,
)
from incident_lifecycle.adapters import InMemoryStore, RecordingNotifier
from incident_lifecycle.adapters.sqlite import SQLiteStore
from incident_lifecycle.desk import ClearReceipt, IncidentDesk
from incident_lifecycle.notifications import DeliveryResult, Notification
from incident_lifecycle.ports import Notifier, Store
from incident_lifecycle.testing import FakeClock, FlakyNotifier

__all__ = [
    "EARLIEST",
    "LATEST",
    "REFUSALS",
    "SEED_TICKETS",
    "STORE_KINDS",
    "TICKETS",
    "Build",
    "Call",
    "Control",
    "FuzzFailure",
    "Ref",
    "SwitchableClock",
    "SwitchableNotifier",
    "World",
    "build_world",
    "build_worlds",
    "close_world",
    "check_refusal",
    "junk_values",
    "open_store",
    "plain",
    "read_back",
    "report",
    "run_step",
    "short",
]

EARLIEST = datetime.min.replace(tzinfo=UTC)
"""0001-01-01 00:00 UTC: the first moment a ``datetime`` can hold."""
LATEST = datetime.max.replace(tzinfo=UTC)
"""9999-12-31 23:59:59.999999 UTC: the last one."""

REFUSALS = (InvalidInput, NotFound, NotPermitted, InvalidTransition)
"""The only errors a public call may refuse with."""
_NEVER = (StoreError, ConcurrencyConflict, DeliveryError)
"""Library errors that are not refusals (single-threaded: there is no real conflict)."""

SEED_TICKETS = ("T-1", "T-2", "T-3", "T-4")
"""The tickets every world is seeded with (T-1 linked, T-2 and T-3 in troubleshooting)."""
TICKETS = (*SEED_TICKETS, "T-5", "T-6", "T-7", "T-8", "T-9", "T-404", "T-junk")
"""Every ticket the fuzz calls name; each world's snapshot reads the report of each."""

STORE_KINDS = ("memory", "sqlite")


class FuzzFailure(AssertionError):
    """A rule of the fuzz test broken by one call (the raw error, if any, is the cause)."""

    failures: Sequence[FuzzFailure] = ()
    """Each store's failure, when the call broke a rule on several."""


# -- switchable clock and notifier ---------------------------------------------


class SwitchableClock:
    """A ``FakeClock`` that a step may swap for one standing at another time (even earlier).

    ``advance`` moves the normal timeline on and returns to it; ``jump``
    stands at ``when`` until the next ``advance`` or ``back``.
    """

    def __init__(self, start: datetime) -> None:
        self.normal = FakeClock(start)
        self.current = self.normal

    def now(self) -> datetime:
        """The time of the clock in use."""
        return self.current.now()

    def advance(self, delta: timedelta) -> None:
        """Move the normal timeline on by ``delta`` (at most to :data:`LATEST`) and use it again."""
        try:
            self.normal.advance(delta)
        except OverflowError:
            self.normal = FakeClock(LATEST)
        self.current = self.normal

    def jump(self, when: datetime) -> None:
        """Stand at ``when`` (a fresh ``FakeClock``)."""
        self.current = FakeClock(when)

    def back(self) -> None:
        """Use the normal timeline again."""
        self.current = self.normal


NOTIFIER_MODES: Mapping[str, Callable[[], Notifier]] = {
    "deliver": RecordingNotifier,
    "retry": lambda: FlakyNotifier(failure_rate=1.0),
    "retry_after_max": lambda: FlakyNotifier(failure_rate=1.0, retry_after=timedelta.max),
    "reject": lambda: FlakyNotifier(permanent_rate=1.0),
    "send_then_raise": lambda: FlakyNotifier(ambiguous_rate=1.0),
    "reject_support": lambda: FlakyNotifier(reject_recipients={"support-eng"}),
}
"""What a ``SwitchableNotifier`` may answer, by name."""


class SwitchableNotifier:
    """A notifier whose behaviour (one of :data:`NOTIFIER_MODES`) a step may change."""

    def __init__(self, mode: str = "deliver") -> None:
        self.mode = mode
        self.inner = NOTIFIER_MODES[mode]()

    def switch(self, mode: str) -> None:
        """Answer as ``mode`` from now on."""
        self.mode = mode
        self.inner = NOTIFIER_MODES[mode]()

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        """Send through the current mode's notifier."""
        return self.inner.send(batch)


# -- plain values ----------------------------------------------------------------


_SCALARS = (str, int, float, bytes, datetime, timedelta, date, type(None))


def plain(value: object) -> object:
    """``value`` as nested tuples of built-in values, comparable with ``==`` and by ``repr``.

    Aware datetimes are given in UTC: a store may keep the offset it was given
    or not, the instant is what is kept.
    """
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, str) and type(value) is not str:
        return str(value)
    if isinstance(value, _SCALARS):
        return value
    if attrs.has(type(value)):
        fields = attrs.fields(type(value))  # type: ignore[arg-type]  # attrs.has said so
        return (
            type(value).__name__,
            tuple((f.name, plain(getattr(value, f.name))) for f in fields),
        )
    if isinstance(value, ClearReceipt):
        return ("ClearReceipt", value.outcome, value.alert_id, value.incident_id)
    if isinstance(value, Mapping):
        return ("map", tuple(sorted(((plain(k), plain(v)) for k, v in value.items()), key=repr)))
    if isinstance(value, set | frozenset):
        return ("set", tuple(sorted((plain(v) for v in value), key=repr)))
    if isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray):
        return tuple(plain(v) for v in value)
    return value


_RELAY = re.compile(r"relay-[0-9a-f]{12}")
_SEQ = re.compile(r"\('seq', \d+\)|\bseq=\d+")


def _canonical(value: object) -> str:
    """``comparable`` of a value that is already plain (a snapshot)."""
    return _SEQ.sub("seq=*", _RELAY.sub("relay-*", canonical(value)))


def comparable(value: object) -> str:
    """The canonical form of ``plain(value)``: store ids ranked, relay names and seqs blanked.

    An outbox ``seq`` only orders entries (like ids, each store numbers its own).
    """
    return _canonical(plain(value))


# -- symbolic arguments --------------------------------------------------------------


@attrs.frozen
class Ref:
    """The ``index``-th (modulo how many there are) known entity of ``kind`` in a world.

    Kinds: ``incident``, ``alert``, ``update`` (ids, in id order), ``dead``
    (dead-letter keys, oldest first), ``fingerprint`` (of known alerts).
    """

    kind: str
    index: int

    def __repr__(self) -> str:
        return f"<{self.kind} #{self.index}>"


@attrs.frozen
class Build:
    """A value built in each world at call time: ``factory(*args, **kwargs)``, refs resolved."""

    factory: Callable[..., object]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        name = getattr(self.factory, "__qualname__", repr(self.factory))
        return f"{name}({', '.join(parts)})"


@attrs.frozen
class Call:
    """One public call: ``desk.<method>(**kwargs)`` (``target="desk"``) or a constructor."""

    method: str
    kwargs: Mapping[str, Any]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={short(v)}" for k, v in self.kwargs.items())
        return f"desk.{self.method}({args})"


@attrs.frozen
class Control:
    """A change of the world around the desk: the clock or the notifier."""

    action: str
    """``advance`` (by ``value``), ``jump`` (to ``value``), ``back`` or ``notifier`` (mode)."""
    value: Any = None

    def __repr__(self) -> str:
        return f"<{self.action} {short(self.value)}>"


def short(value: object) -> str:
    """``repr(value)``, cut to about 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}...<{len(text)} chars>"


# -- the world ---------------------------------------------------------------------

_INCIDENT_ID = re.compile(r"\bINC-\d+\b")


def _id_order(entity_id: str) -> tuple[int, str]:
    digits = entity_id.rsplit("-", 1)[-1]
    return (int(digits) if digits.isdigit() else -1, entity_id)


@attrs.define(eq=False)
class World:
    """A desk over one store, with what the fuzz test knows of it."""

    kind: str
    desk: IncidentDesk
    store: Store
    clock: SwitchableClock | None
    notifier: SwitchableNotifier | None
    incidents: set[str] = attrs.field(factory=set)
    tickets: set[str] = attrs.field(factory=set)
    ids: dict[str, list[str]] = attrs.field(factory=dict)
    last: object = None
    """The snapshot taken after the last step."""

    def resolve(self, value: object) -> object:
        """``value`` with every :class:`Ref` and :class:`Build` in it made concrete."""
        if isinstance(value, Ref):
            known = self.ids.get(value.kind, [])
            if not known:
                return f"no-known-{value.kind}"
            return known[value.index % len(known)]
        if isinstance(value, Build):
            args = [self.resolve(a) for a in value.args]
            kwargs = {k: self.resolve(v) for k, v in value.kwargs.items()}
            return value.factory(*args, **kwargs)
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.resolve(v) for v in value)
        return value

    def note(self, result: object) -> None:
        """Learn the incident ids and tickets a successful call returned."""
        self.incidents.update(_INCIDENT_ID.findall(repr(result)))
        self.tickets.update(_tickets(result))

    def snapshot(self) -> object:
        """Everything reachable through the desk's queries, as plain values (ids learnt)."""
        desk = self.desk
        listed = [*desk.open_incidents(), *desk.potential_incidents()]
        self.incidents.update(i.id for i in listed)
        incidents: list[tuple[object, ...]] = []
        alerts: list[Alert] = []
        updates: list[StatusUpdate] = []
        found: list[str] = []
        for incident_id in sorted(self.incidents, key=_id_order):
            try:
                incident = desk.incident(incident_id)
            except NotFound:  # an id some value merely mentioned
                self.incidents.discard(incident_id)
                continue
            found.append(incident_id)
            of = desk.alerts_of(incident_id)
            posted = desk.updates(incident_id)
            alerts += of
            updates += posted
            incidents.append(
                (
                    _row(incident),
                    tuple(_row(e) for e in desk.timeline(incident_id)),
                    tuple(_row(u) for u in posted),
                    tuple(_row(a) for a in of),
                    tuple(desk.linked_tickets(incident_id)),
                )
            )
        reports = tuple((t, _row(desk.report(t))) for t in sorted(self.tickets))
        dead = tuple(desk.dead_letters())
        self.ids = {
            "incident": found,
            "alert": sorted({a.id for a in alerts}, key=_id_order),
            "fingerprint": sorted({a.fingerprint for a in alerts}),
            "update": sorted({u.id for u in updates}, key=_id_order),
            "dead": [e.key for e in dead],
        }
        return (tuple(incidents), reports, desk.outbox_stats(), dead)


def _row(entity: object) -> object:
    """An entity's or event's type and fields (entities compare by identity; fields by value)."""
    if entity is None:
        return None
    fields = attrs.astuple(entity, recurse=False)  # type: ignore[arg-type]
    return (type(entity).__name__, *(_field(v) for v in fields))


def _field(value: object) -> object:
    """A field as compared: by value (a ``str`` subclass as a ``str``), datetimes in UTC,
    mappings (labels) in key order."""
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, str) and type(value) is not str:
        return str(value)
    if isinstance(value, Mapping):
        return ("map", tuple(sorted(((_field(k), _field(v)) for k, v in value.items()), key=repr)))
    if isinstance(value, tuple):
        return tuple(_field(v) for v in value)
    return value


def _utc(value: datetime) -> datetime:
    """An aware datetime in UTC (the same instant); a naive one as it is."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(fold=0)


def _tickets(value: object) -> set[str]:
    """The ticket ids of the customer reports in a result (a report, a triage result, lists)."""
    if isinstance(value, CustomerReport):
        return {value.ticket_id}
    report = getattr(value, "report", None)
    if isinstance(report, CustomerReport):
        return {report.ticket_id}
    if isinstance(value, list | tuple):
        return {ticket for item in value for ticket in _tickets(item)}
    return set()


def open_store(kind: str, scratch: Path) -> Store:
    """A fresh store: ``memory``, or ``sqlite`` on a file in ``scratch`` (made if need be)."""
    if kind == "memory":
        return InMemoryStore()
    scratch.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(scratch / "fuzz.db")


def build_world(kind: str, scratch: Path, start: datetime = START) -> World:
    """A desk over a fresh store of ``kind``, seeded at ``start`` with a little of everything.

    INC-1 is a potential incident (alert ``fp-1`` on support); INC-2 an open
    SEV2 incident on chat (alert ``fp-2``), with a public update; INC-3 an
    open SEV3 incident on talk, declared by triage. T-1 is linked to INC-2,
    T-2 and T-3 are in troubleshooting, T-4 is linked to INC-3. The
    validation request to support-eng is dead-lettered; the rest is pending.
    The seed takes three minutes of the clock.

    Raises:
        FuzzFailure: seeding raised (at an extreme ``start``, the desk may fail
            already there), naming the call.
    """
    store = open_store(kind, scratch)
    clock = SwitchableClock(start)
    try:
        return _seed(kind, store, clock)
    except Exception as error:
        close = getattr(store, "close", None)
        if callable(close):
            close()
        frame = error.__traceback__
        while frame is not None and frame.tb_frame.f_code.co_name != "_seed":
            frame = frame.tb_next
        line = frame.tb_lineno if frame is not None else "?"
        raise FuzzFailure(
            f"[{kind}] seeding a world at {start.isoformat()} raised at fuzz_support.py:{line} "
            f"{type(error).__module__}.{type(error).__name__}: {error}"
        ) from error


def _seed(kind: str, store: Store, clock: SwitchableClock) -> World:
    at = clock.now()
    notifier = SwitchableNotifier("reject_support")
    desk = IncidentDesk(store=store, notifier=notifier, ownership=OWNERSHIP, clock=clock, seed=0)
    desk.receive_alert(signal("fp-1", product="support", at=at))
    chat = desk.receive_alert(signal("fp-2", product="chat", at=at)).incident_id
    clock.advance(timedelta(minutes=1))
    desk.validate_incident(chat, ENG_CHAT, "SEV2")
    desk.deliver()
    notifier.switch("deliver")
    clock.advance(timedelta(minutes=1))
    desk.triage_report(report("T-1", "chat", Symptom.SLOW, clock.now()), SUPPORT_AGENT)
    desk.triage_report(report("T-2", "talk", Symptom.OTHER, clock.now()), SUPPORT_AGENT)
    desk.triage_report(report("T-3", "guide", Symptom.ERRORS, clock.now()), SUPPORT_AGENT)
    desk.triage_report(
        report("T-4", "talk", Symptom.UNAVAILABLE, clock.now()),
        SUPPORT_AGENT,
        TriageDecision.open_new("SEV3", "agent: the talk widget is down"),
    )
    desk.post_update(chat, ENG_CHAT, "We are looking into slow pages.", Visibility.PUBLIC)
    clock.advance(timedelta(minutes=1))
    world = World(kind=kind, desk=desk, store=store, clock=clock, notifier=notifier)
    world.tickets.update(TICKETS)
    world.last = world.snapshot()
    return world


def report(
    ticket: str,
    product: str,
    symptom: Symptom,
    at: datetime,
    region: str | None = "pod17",
    **fields: Any,
) -> CustomerReport:
    """A received customer report (``fields`` override the rest)."""
    values: dict[str, Any] = {
        "ticket_id": ticket,
        "account_id": f"acct-{ticket}",
        "product": product,
        "symptom": symptom,
        "summary": "pages load slowly since this morning",
        "reported_at": at,
        "region": region,
    }
    values.update(fields)
    return CustomerReport(**values)


def build_worlds(scratch: Path, start: datetime = START) -> list[World]:
    """One seeded world per store kind (:data:`STORE_KINDS`), each in its own directory."""
    worlds = []
    try:
        for kind in STORE_KINDS:
            (scratch / kind).mkdir()
            worlds.append(build_world(kind, scratch / kind, start))
    except BaseException:
        for world in worlds:
            close_world(world)
        raise
    return worlds


def close_world(world: World) -> None:
    """Close the world's store (SQLite keeps connections)."""
    close = getattr(world.store, "close", None)
    if callable(close):
        close()


# -- junk ------------------------------------------------------------------------


class _Opaque:
    """An object of no type the library knows."""

    def __repr__(self) -> str:
        return "<opaque>"


_JUNK: tuple[Callable[[], object], ...] = (
    lambda: None,
    lambda: 0,
    lambda: 1,
    lambda: -1,
    lambda: 2**31,
    lambda: 2**63 - 1,
    lambda: 2**63,
    lambda: 2**64,
    lambda: -(2**63) - 1,
    lambda: 10**100,
    lambda: 0.0,
    lambda: 1.5,
    lambda: -0.5,
    lambda: math.nan,
    lambda: math.inf,
    lambda: True,
    lambda: False,
    lambda: [],
    lambda: ["support"],
    lambda: [1, 2],
    lambda: (),
    lambda: ("x", "y"),
    lambda: set(),
    lambda: {"support"},
    lambda: frozenset({"chat"}),
    lambda: {},
    lambda: {"support": "support-eng"},
    lambda: {"a": 1},
    lambda: b"",
    lambda: b"INC-1",
    lambda: bytearray(b"x"),
    lambda: "",
    lambda: "   ",
    lambda: "\x00",
    lambda: "INC-2\n",
    lambda: "a\x7fb",
    lambda: "a\x85b",
    lambda: "\ud800",
    lambda: "ok\udfff",
    lambda: "x" * 129,
    lambda: "é" * 600,
    lambda: "x" * 100_000,
    lambda: datetime(2026, 3, 2, 9, 5),  # naive
    lambda: EARLIEST,
    lambda: LATEST,
    lambda: datetime(9999, 12, 31, tzinfo=UTC),
    lambda: date(2026, 3, 2),
    lambda: timedelta.max,
    lambda: timedelta(-1),
    lambda: _Opaque(),
    lambda: IM,
    lambda: ENG_SUPPORT,
    lambda: MONITOR,
    lambda: signal("fp-junk"),
    lambda: report("T-junk", "chat", Symptom.SLOW, START),
    lambda: TriageDecision.troubleshoot(),
    lambda: Visibility.PUBLIC,
)


def junk_values() -> tuple[Callable[[], object], ...]:
    """Factories of junk arguments: wrong types, huge ints, bad strings, odd datetimes."""
    return _JUNK


# -- checking one step ---------------------------------------------------------------


def check_refusal(error: BaseException, where: str) -> tuple[str, str | None]:
    """Raise :class:`FuzzFailure` unless ``error`` is a refusal; else its type and field."""
    if isinstance(error, _NEVER) or not isinstance(error, REFUSALS):
        raise FuzzFailure(
            f"{where} raised {type(error).__module__}.{type(error).__name__}: {error}"
        ) from error
    if isinstance(error, InvalidInput):
        field = getattr(error, "field", None)
        if not isinstance(field, str) or not field.strip():
            raise FuzzFailure(f"{where} raised InvalidInput naming no field: {error}") from error
        return type(error).__name__, field
    return type(error).__name__, None


def _apply_control(world: World, step: Control) -> None:
    assert world.clock is not None
    assert world.notifier is not None
    if step.action == "advance":
        world.clock.advance(step.value)
    elif step.action == "jump":
        world.clock.jump(step.value)
    elif step.action == "back":
        world.clock.back()
    elif step.action == "notifier":
        world.notifier.switch(step.value)
    else:  # pragma: no cover - a typo in the strategies
        raise ValueError(step.action)


def _call(world: World, step: Call) -> tuple[str, object]:
    """Run ``step`` on ``world``; its outcome as ``(kind, comparable value)``."""
    where = f"[{world.kind}] {step!r}"
    try:
        kwargs = {k: world.resolve(v) for k, v in step.kwargs.items()}
    except Exception as error:  # a value built for the call refused its fields
        return ("refused-value", check_refusal(error, f"{where} (building an argument)"))
    before = world.last
    try:
        result = getattr(world.desk, step.method)(**kwargs)
    except Exception as error:
        try:
            outcome: tuple[str, object] = ("refused", check_refusal(error, where))
        except FuzzFailure as failure:  # say whether the raw error left changes behind
            changed = _changed_note(world, before)
            if changed:
                failure.args = (f"{failure}\n  ...and it changed the store:\n{changed}",)
            raise
        after = read_back(world, where)
        if after != before:
            raise FuzzFailure(
                f"{where} was refused ({type(error).__name__}: {error}) "
                f"but changed the store:\n{_diff(before, after)}"
            ) from error
    else:
        world.note(result)
        outcome = ("ok", comparable(result))
        after = read_back(world, where)
    world.last = after
    return outcome


def _changed_note(world: World, before: object) -> str:
    """How the store differs from ``before`` ("" if not, or if it cannot be read)."""
    try:
        after = world.snapshot()
    except Exception:
        return ""
    return "" if after == before else _diff(before, after)


def read_back(world: World, where: str) -> object:
    """The world's snapshot; ``FuzzFailure`` (naming ``where``) if reading it raised."""
    try:
        return world.snapshot()
    except Exception as error:
        raise FuzzFailure(
            f"after {where}, reading the store back raised {type(error).__name__}: {error}"
        ) from error


def _diff(before: object, after: object) -> str:
    """Where two values' reprs (or two strings) part, with some context."""
    old = before if isinstance(before, str) else repr(before)
    new = after if isinstance(after, str) else repr(after)
    start = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), 0)
    lo, hi = max(start - 80, 0), start + 160
    return f"  before: ...{old[lo:hi]}\n  after:  ...{new[lo:hi]}"


def run_step(worlds: Iterable[World], step: Call | Control, *, compare: bool = True) -> None:
    """Run one step on every world, check each outcome, then (``compare``) compare the worlds."""
    if isinstance(step, Control):
        for world in worlds:
            _apply_control(world, step)
        return
    outcomes: list[tuple[str, tuple[str, object]]] = []
    failures: list[FuzzFailure] = []
    for world in worlds:
        try:
            outcomes.append((world.kind, _call(world, step)))
        except FuzzFailure as failure:
            failures.append(failure)
    if failures:  # every store's failure in one message; the first one's cause chained
        combined = FuzzFailure("\n".join(str(f) for f in failures))
        combined.failures = failures
        raise combined from failures[0].__cause__
    if not compare:
        return
    if len({repr(o) for _, o in outcomes}) > 1:
        shown = "\n".join(f"  {kind}: {_short_outcome(o)}" for kind, o in outcomes)
        raise FuzzFailure(f"{step!r} gave different outcomes on the stores:\n{shown}")
    states = [(w.kind, _canonical(w.last)) for w in worlds]
    for kind, state in states[1:]:
        if state != states[0][1]:
            raise FuzzFailure(
                f"after {step!r} the stores hold different things "
                f"({states[0][0]} first, then {kind}):\n{_diff(states[0][1], state)}"
            )


def _short_outcome(outcome: tuple[str, object]) -> str:
    text = repr(outcome)
    return text if len(text) <= 600 else text[:600] + "..."
