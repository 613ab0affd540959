"""The replay format: JSON Lines of commands, decoded by the command classes themselves.

Each line is one JSON object whose ``"op"`` names a command of
:data:`~incident_lifecycle.commands.COMMANDS`; its other fields are the
command's fields, under their wire names (``incident`` for ``incident_id``,
``ticket`` for ``ticket_id``, ...: the field metadata says). Nested values
(the actor ``by``, a signal, a customer report, a review, a decision) are
objects of their own fields. An optional field that is absent or ``null``
takes its default. ``"at"`` (optional) moves the replay clock first.

Decoding and the JSON Schema (:func:`generate_schema`, shipped as
``replay.schema.json``, printed by ``incident-lifecycle schema``) both walk
the command classes' attrs fields, so a new command is a new op with no
code here. A line that is not a command raises :class:`ReplayError` naming
the line's problem; the command's own refusals (``InvalidInput``,
``InvalidTransition``, ``NotPermitted``, ``NotFound``) pass through. Each
line is one command: applied entirely or not at all.
"""

from __future__ import annotations

import enum
import functools
import json
import types
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime
from importlib import resources
from typing import Any, Protocol

import attrs

from .codec import decode_datetime
from .commands import COMMANDS, Command, Operation
from .commands.base import CHOICES, WIRE
from .domain.actors import Actor
from .domain.alerts import AlertSignal
from .domain.checks import MAX_LABELS, MAX_LINKS, Optional, Validator, check_identifier, check_text
from .domain.errors import DecodeError, IncidentLifecycleError
from .domain.incidents import RemediationItem, Review
from .domain.reports import CustomerReport
from .triage import TriageDecision

__all__ = [
    "OPS",
    "ReplayError",
    "apply_line",
    "decode",
    "generate_schema",
    "parse_line",
    "schema",
]

MAX_LINE = 1_000_000
OPS = COMMANDS
"""Every replay op and its command class (the same mapping as ``COMMANDS``)."""

AnyCommand = Command[Any] | Operation[Any]


class Handler(Protocol):
    """What runs a decoded command (an ``IncidentDesk``)."""

    def handle(self, command: Any) -> Any:
        """Run ``command``; return its result."""
        ...


class ReplayError(IncidentLifecycleError, ValueError):
    """A line of a replay file is not a valid command."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# The value types a command field may hold, with the fields they show on the wire
# (wire name, attribute name) and replay-only defaults.
_SHAPES: Mapping[type, tuple[tuple[str, str], ...]] = {
    Actor: (("name", "name"), ("role", "role"), ("team", "team")),
    AlertSignal: tuple(
        (n, n)
        for n in (
            "fingerprint",
            "product",
            "kind",
            "summary",
            "observed_at",
            "region",
            "labels",
            "started_at",
            "severity_hint",
            "description",
            "links",
            "dedup_key",
            "source_group",
        )
    ),
    CustomerReport: tuple(
        (n, n)
        for n in (
            "ticket_id",
            "account_id",
            "product",
            "symptom",
            "summary",
            "reported_at",
            "region",
            "channel",
            "locale",
        )
    ),
    Review: (("root_cause", "root_cause"), ("impact", "impact"), ("remediation", "remediation")),
    RemediationItem: (
        ("description", "description"),
        ("owner_team", "owner_team"),
        ("due", "due"),
    ),
    TriageDecision: (
        ("outcome", "outcome"),
        ("incident", "incident_id"),
        ("severity", "severity"),
        ("reasons", "reasons"),
    ),
}
_REPLAY_DEFAULTS: Mapping[tuple[type, str], object] = {
    (TriageDecision, "reasons"): ("agent override",),
}
_SCHEMA_HEAD = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "incident_lifecycle/replay.schema.json",
    "title": "One line of an incident_lifecycle replay file",
    "description": (
        "Each line of a JSON Lines replay file is one command object. Blank lines and lines "
        "starting with # are skipped. 'at' (optional) sets the replay clock before the "
        "command runs; it never goes back. An optional field that is null takes its default."
    ),
}
_AT = {"type": "string", "format": "date-time", "description": "ISO 8601 with an offset"}
_JSON_NAMES = {str: "str", int: "int", bool: "bool", list: "list", dict: "dict"}


# -- what a field is ------------------------------------------------------------------
@attrs.frozen
class _Slot:
    """One field on the wire: its names, its type, whether it may be left out."""

    wire: str
    name: str
    kind: Any
    required: bool
    field: attrs.Attribute[Any]
    default: object = None


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@functools.cache
def _slots(cls: type) -> tuple[_Slot, ...]:
    """The wire fields of a command class or a nested value type."""
    hints = _hints(cls)
    fields = {f.name: f for f in attrs.fields(cls)}
    if cls in _SHAPES:
        pairs = _SHAPES[cls]
    else:
        pairs = tuple((f.metadata.get(WIRE, f.name), f.name) for f in fields.values())
    out = []
    for wire, name in pairs:
        field = fields[name]
        default = _REPLAY_DEFAULTS.get((cls, name), attrs.NOTHING)
        required = field.default is attrs.NOTHING and default is attrs.NOTHING
        out.append(_Slot(wire, name, hints[name], required, field, None if required else default))
    return tuple(out)


def _strip_none(kind: Any) -> tuple[Any, bool]:
    """``(T, True)`` for ``T | None``, else ``(kind, False)``."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(kind))
        if len(args) > 1 and str in args:  # ``Severity | str``: the wire form is the string
            return str, nullable
        return (args[0] if len(args) == 1 else kind), nullable
    return kind, False


def _limits(validator: object) -> dict[str, int]:
    """String length limits read off a field's validator."""
    while isinstance(validator, Optional):
        validator = validator.validator
    if isinstance(validator, Validator):
        if validator.check is check_identifier:
            return {"minLength": 1, "maxLength": validator.options.get("max_len", 128)}
        if validator.check is check_text:
            return {
                "minLength": validator.options.get("min_len", 1),
                "maxLength": validator.options["max_len"],
            }
    return {}


# -- the schema -----------------------------------------------------------------------
def _node(kind: Any, slot: _Slot | None) -> dict[str, Any]:
    """The JSON Schema of a value of ``kind`` (``slot``: the field, for its limits)."""
    kind, _ = _strip_none(kind)
    choices = slot.field.metadata.get(CHOICES) if slot else None
    if choices:
        return {"enum": list(choices)}
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return {"enum": [m.value for m in kind]}
    if kind is str:
        return {"type": "string", **(_limits(slot.field.validator) if slot else {})}
    if kind is bool:
        return {"type": "boolean"}
    if kind is int:
        return {"type": "integer", "minimum": 1}
    if kind is datetime:
        return dict(_AT)
    if kind is date:
        return {"type": "string", "format": "date"}
    origin = typing.get_origin(kind)
    if origin is tuple:
        return {"type": "array", "items": _node(typing.get_args(kind)[0], None)}
    if origin is not None and issubclass(origin, Mapping):
        links = slot is not None and slot.name == "links"
        return {
            "type": "object",
            "maxProperties": MAX_LINKS if links else MAX_LABELS,
            "additionalProperties": {"type": "string", "format": "uri"}
            if links
            else {"type": "string"},
        }
    if isinstance(kind, type) and kind in _SHAPES:
        return _object(_slots(kind))
    raise TypeError(f"no wire form for {kind!r}")  # a command field of a new type


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    if "enum" in node:
        return node | {"enum": [*node["enum"], None]}
    if "type" in node:
        return node | {"type": [node["type"], "null"]}
    return node


def _object(slots: tuple[_Slot, ...]) -> dict[str, Any]:
    required = [s.wire for s in slots if s.required]
    properties = {
        s.wire: _node(s.kind, s) if s.required else _nullable(_node(s.kind, s)) for s in slots
    }
    return {"type": "object", "required": required, "properties": properties}


def _branch(op: str, cls: type) -> dict[str, Any]:
    required = ["op"]
    properties: dict[str, Any] = {"op": {"const": op}, "at": dict(_AT)}
    for slot in _slots(cls):
        if slot.wire == "*":  # the nested value's fields are the line's own
            inner = _object(_slots(_strip_none(slot.kind)[0]))
            required += inner["required"]
            properties |= inner["properties"]
            continue
        node = _node(slot.kind, slot)
        properties[slot.wire] = node if slot.required else _nullable(node)
        if slot.required:
            required.append(slot.wire)
    if "by" in required:  # who runs it reads last, as in the docs
        required.remove("by")
        required.append("by")
    doc = (cls.__doc__ or "").strip().splitlines()
    return {
        "title": op,
        "description": doc[0] if doc else "",
        "type": "object",
        "required": required,
        "properties": properties,
    }


def generate_schema() -> dict[str, Any]:
    """The JSON Schema of one replay line, generated from the command classes."""
    return _SCHEMA_HEAD | {"oneOf": [_branch(op, cls) for op, cls in COMMANDS.items()]}


def schema() -> dict[str, Any]:
    """The JSON Schema of one replay line, as shipped in the package (``replay.schema.json``)."""
    text = resources.files("incident_lifecycle").joinpath("replay.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def schema_text() -> str:
    """The generated schema as the shipped file holds it (two-space indent, final newline)."""
    return json.dumps(generate_schema(), indent=2, ensure_ascii=False) + "\n"


# -- decoding -------------------------------------------------------------------------
def _expect(value: object, json_type: type, name: str) -> None:
    if not isinstance(value, json_type) or (isinstance(value, bool) and json_type is not bool):
        raise ReplayError(
            f"field {name!r} must be {_JSON_NAMES[json_type]}, not {type(value).__name__}"
        )


def _value(kind: Any, raw: object, name: str) -> object:
    """Decode ``raw`` (parsed JSON) as a value of ``kind``."""
    kind, _ = _strip_none(kind)
    if (isinstance(kind, type) and issubclass(kind, enum.Enum)) or kind is str:
        _expect(raw, str, name)
        return raw
    if kind is int or kind is bool:
        _expect(raw, kind, name)
        return raw
    if kind is datetime:
        try:
            return decode_datetime(raw, name)
        except DecodeError as error:
            raise ReplayError(str(error)) from None
    if kind is date:
        _expect(raw, str, name)
        assert isinstance(raw, str)
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise ReplayError(f"field {name!r} must be a date such as 2026-06-01") from None
    origin = typing.get_origin(kind)
    if origin is tuple:
        _expect(raw, list, name)
        assert isinstance(raw, list)
        item = typing.get_args(kind)[0]
        return tuple(_value(item, each, f"{name}[{i}]") for i, each in enumerate(raw))
    if origin is not None and issubclass(origin, Mapping):
        _expect(raw, dict, name)
        return raw
    _expect(raw, dict, name)
    assert isinstance(raw, dict)
    return _build(kind, raw)


def _build(cls: Callable[..., Any], obj: Mapping[str, Any]) -> Any:
    """An instance of ``cls`` (a command or value class) from its wire fields."""
    kwargs: dict[str, object] = {}
    for slot in _slots(cls):
        if slot.wire == "*":
            kwargs[slot.name] = _build(_strip_none(slot.kind)[0], obj)
            continue
        raw = obj.get(slot.wire)
        if raw is None:
            if slot.required:
                why = " (who runs the command)" if slot.wire == "by" else ""
                if slot.wire in obj:
                    raise ReplayError(f"field {slot.wire!r} must not be null{why}")
                raise ReplayError(f"missing field {slot.wire!r}{why}")
            if slot.default is not attrs.NOTHING and slot.default is not None:
                kwargs[slot.name] = slot.default
            continue
        kwargs[slot.name] = _value(slot.kind, raw, slot.wire)
    try:
        return cls(**kwargs)
    except (TypeError, AttributeError) as error:  # a value of the wrong shape
        raise ReplayError(f"malformed fields: {error}") from None


def decode(obj: Mapping[str, Any]) -> AnyCommand:
    """The command of one parsed line (its ``op`` names the class)."""
    op = obj.get("op")
    if not isinstance(op, str) or op not in COMMANDS:
        known = ", ".join(sorted(COMMANDS))
        raise ReplayError(f"unknown op {op!r} (one of: {known})")
    command: AnyCommand = _build(COMMANDS[op], obj)
    return command


def parse_line(text: str) -> dict[str, Any] | None:
    """Parse one line: ``None`` for a blank line or a ``#`` comment, else the command object."""
    if len(text) > MAX_LINE:
        raise ReplayError(f"the line is longer than {MAX_LINE:,} characters")
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    try:
        obj = json.loads(stripped)
    except ValueError as error:
        raise ReplayError(f"invalid JSON: {error}") from None
    except RecursionError:
        raise ReplayError("invalid JSON: nested too deeply") from None
    if not isinstance(obj, dict):
        raise ReplayError("each line must be a JSON object")
    op = obj.get("op")
    if not isinstance(op, str) or op not in COMMANDS:
        known = ", ".join(sorted(COMMANDS))
        raise ReplayError(f"unknown op {op!r} (one of: {known})")
    return obj


def apply_line(
    desk: Handler, obj: Mapping[str, Any], set_time: Callable[[datetime], None]
) -> object:
    """Decode and run one parsed line; ``"at"`` (if present) first moves the replay clock."""
    command = decode(obj)
    if obj.get("at") is not None:
        when = _value(datetime, obj["at"], "at")
        assert isinstance(when, datetime)
        set_time(when)
    return desk.handle(command)
