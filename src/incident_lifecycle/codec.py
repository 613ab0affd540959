"""JSON-ready encoding of every entity and value, and strict decoding back.

Used by the SQLite store (JSON columns) and the command line. Every encoded
document carries ``"v"``, the format version; decoding refuses a newer
version, an unknown field value or a missing field with :class:`DecodeError`.
Never pickle, never ``eval``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import attrs

from .domain.actors import Actor
from .domain.alerts import Alert
from .domain.errors import DecodeError, IncidentLifecycleError
from .domain.events import EVENT_TYPES, DomainEvent
from .domain.incidents import RemediationItem, Review, ServiceIncident, StatusUpdate
from .domain.reports import CustomerReport
from .domain.severity import Severity
from .notifications import Notification

__all__ = [
    "FORMAT_VERSION",
    "decode",
    "decode_datetime",
    "encode",
    "encode_datetime",
]

FORMAT_VERSION = 1
T = TypeVar("T")

_KINDS: dict[str, type[Any]] = {
    "alert": Alert,
    "incident": ServiceIncident,
    "report": CustomerReport,
    "update": StatusUpdate,
    "notification": Notification,
    "actor": Actor,
    "severity": Severity,
    "review": Review,
    "remediation": RemediationItem,
}
_NAMES = {cls: name for name, cls in _KINDS.items()}


def encode_datetime(value: datetime) -> str:
    """ISO 8601 with its offset."""
    return value.isoformat()


def decode_datetime(value: object, field: str = "datetime") -> datetime:
    """Parse an ISO 8601 datetime that carries an offset; ``DecodeError`` otherwise."""
    if not isinstance(value, str):
        raise DecodeError(f"{field}: expected an ISO 8601 string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise DecodeError(f"{field}: {value[:40]!r} is not an ISO 8601 datetime") from None
    if parsed.tzinfo is None:
        raise DecodeError(f"{field}: {value[:40]!r} has no offset")
    return parsed


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return encode_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):  # exact: float seconds round the longest durations up
        whole = value.days * 86_400 + value.seconds
        return (
            {"seconds": whole, "microseconds": value.microseconds}
            if value.microseconds
            else {"seconds": whole}
        )
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str | int | float):
        enum_value = getattr(value, "value", None)
        return enum_value if enum_value is not None else value
    if attrs.has(type(value)):
        return encode(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list | frozenset | set):
        return [_plain(v) for v in value]
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode(value: object) -> dict[str, Any]:
    """A JSON-ready dict of an entity, value or event, tagged with its kind and format version."""
    cls = type(value)
    if isinstance(value, DomainEvent):
        kind = f"event:{value.name}"
    elif cls in _NAMES:
        kind = _NAMES[cls]
    else:
        raise TypeError(f"cannot encode {cls.__name__}")
    out: dict[str, Any] = {"v": FORMAT_VERSION, "type": kind}
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        if field.init is False:
            continue
        out[field.name] = _plain(getattr(value, field.name))
    return out


def _is_document(raw: object) -> bool:
    return isinstance(raw, dict) and isinstance(raw.get("type"), str) and "v" in raw


def _field_value(field: attrs.Attribute[Any], raw: object) -> object:
    name = field.name
    annotation = str(field.type)
    if raw is None:
        return None
    if "Mapping" in annotation:
        return raw
    if _is_document(raw):
        return decode(raw)
    if "datetime" in annotation:
        return decode_datetime(raw, name)
    if annotation.startswith("date") or annotation == "date":
        if not isinstance(raw, str):
            raise DecodeError(f"{name}: expected a date string")
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise DecodeError(f"{name}: {raw[:40]!r} is not a date") from None
    if "timedelta" in annotation:
        seconds, micro = (
            (raw.get("seconds"), raw.get("microseconds", 0)) if isinstance(raw, dict) else (None, 0)
        )
        numbers = (int, float)
        if not isinstance(seconds, numbers) or not isinstance(micro, numbers):
            raise DecodeError(f"{name}: expected {{'seconds': number}}")
        try:
            return timedelta(seconds=seconds, microseconds=micro)
        except (OverflowError, ValueError):
            raise DecodeError(f"{name}: {seconds!r} seconds is not a duration") from None
    if isinstance(raw, list):
        return tuple(decode(v) if _is_document(v) else v for v in raw)
    return raw


def decode(document: object, expected: type[T] | None = None) -> T:
    """Rebuild what :func:`encode` made; every validator runs again.

    Raises:
        DecodeError: a newer format, an unknown kind, a missing or invalid field,
            documents nested too deeply.
    """
    try:
        return _decode(document, expected)
    except RecursionError:
        raise DecodeError("the document is nested too deeply") from None


def _decode(document: object, expected: type[T] | None) -> T:
    if not isinstance(document, dict):
        raise DecodeError(f"expected a JSON object, got {type(document).__name__}")
    version = document.get("v")
    if not isinstance(version, int) or isinstance(version, bool):
        raise DecodeError("the document has no format version")
    if version > FORMAT_VERSION:
        raise DecodeError(f"format version {version} is newer than this library ({FORMAT_VERSION})")
    kind = document.get("type")
    cls: type[Any] | None
    if isinstance(kind, str) and kind.startswith("event:"):
        cls = EVENT_TYPES.get(kind[6:])
    else:
        cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise DecodeError(f"unknown kind {kind!r}")
    if expected is not None and not issubclass(cls, expected):
        raise DecodeError(f"expected {expected.__name__}, found {kind!r}")
    kwargs = {}
    for field in attrs.fields(cls):
        if field.init is False:
            continue
        if field.name not in document:
            if field.default is attrs.NOTHING:
                raise DecodeError(f"{kind}: missing field {field.name!r}")
            continue
        kwargs[field.name] = _field_value(field, document[field.name])
    built: T = _build(cls, kwargs, str(kind))
    return built


def _build(cls: Callable[..., T], kwargs: dict[str, object], kind: str) -> T:
    try:
        return cls(**kwargs)
    except IncidentLifecycleError as error:
        raise DecodeError(f"{kind}: {error}") from error
    except (TypeError, ValueError) as error:
        raise DecodeError(f"{kind}: {error}") from error
