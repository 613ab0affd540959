"""Reading parsed JSON field by field: each refusal is a :class:`FormatError` naming the path.

A path reads like the payload: ``alerts[3].labels.service``; the payload
itself is ``$``. These helpers check JSON types only (what any payload of
the format must hold); what a value means is the mapping's job
(:mod:`.mapping`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime

from ..domain.checks import FINGERPRINT_MAX, SOURCE_KEY_MAX, check_identifier
from ..domain.errors import InvalidInput
from .base import FormatError

__all__ = [
    "HASH_PREFIX",
    "ROOT",
    "at",
    "fingerprint_of",
    "integer",
    "item",
    "listing",
    "obj",
    "optional_string",
    "string",
    "string_map",
    "timestamp",
]

ROOT = "$"
"""The path of the payload itself."""
HASH_PREFIX = "sha256:"
"""How a hashed key starts: ``sha256:`` and the 64 hex digits of its UTF-8 bytes' SHA-256."""


def at(path: str, key: str) -> str:
    """The path of ``key`` inside the object at ``path`` (``alerts[3]`` + ``labels``)."""
    return key if path == ROOT else f"{path}.{key}"


def item(path: str, index: int) -> str:
    """The path of item ``index`` of the list at ``path``."""
    return f"{path}[{index}]"


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def obj(value: object, path: str) -> Mapping[str, object]:
    """``value`` if it is a JSON object."""
    if not isinstance(value, Mapping):
        raise FormatError(path, f"must be an object, not {_kind(value)}")
    return value


def listing(value: object, path: str) -> list[object]:
    """``value`` if it is a JSON list."""
    if not isinstance(value, list):
        raise FormatError(path, f"must be a list, not {_kind(value)}")
    return value


def string(parent: Mapping[str, object], key: str, path: str) -> str:
    """The string at ``parent[key]``, which must be present."""
    if key not in parent or parent[key] is None:
        raise FormatError(at(path, key), "is required")
    value = parent[key]
    if not isinstance(value, str):
        raise FormatError(at(path, key), f"must be a string, not {_kind(value)}")
    return value


def optional_string(parent: Mapping[str, object], key: str, path: str) -> str | None:
    """The string at ``parent[key]``, or ``None`` when absent, null or empty."""
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise FormatError(at(path, key), f"must be a string, not {_kind(value)}")
    return value or None


def integer(parent: Mapping[str, object], key: str, path: str, default: int = 0) -> int:
    """The non-negative integer at ``parent[key]`` (``default`` when absent or null)."""
    value = parent.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FormatError(at(path, key), f"must be a whole number of 0 or more, not {value!r}")
    return value


def string_map(value: object, path: str) -> dict[str, str]:
    """A JSON object of strings (labels, annotations, details); ``{}`` when absent or null."""
    if value is None:
        return {}
    found = obj(value, path)
    out: dict[str, str] = {}
    for key, entry in found.items():
        if not isinstance(entry, str):
            raise FormatError(at(path, str(key)), f"must be a string, not {_kind(entry)}")
        out[str(key)] = entry
    return out


def timestamp(value: object, path: str) -> datetime:
    """An RFC 3339 time with its offset (fractions beyond microseconds are cut)."""
    if not isinstance(value, str):
        raise FormatError(path, f"must be an RFC 3339 time, not {_kind(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FormatError(path, f"{value[:40]!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise FormatError(path, f"{value[:40]!r} has no offset (Z or +hh:mm)")
    return parsed


def fingerprint_of(key: str) -> tuple[str, str | None]:
    """A source's dedup key as a fingerprint, and the original when it had to be hashed.

    A key that is a valid fingerprint (1 to 255 characters, one line, no
    control character) is used as it is. Any other is hashed:
    :data:`HASH_PREFIX` and the hex SHA-256 of its UTF-8 bytes (the same key
    always gives the same fingerprint); the original is returned to be kept
    on the alert (``dedup_key``) when it is at most 1,024 characters of valid
    text, else ``None``.
    """
    try:
        return check_identifier("fingerprint", key, max_len=FINGERPRINT_MAX), None
    except InvalidInput:
        pass
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    try:
        original: str | None = check_identifier("dedup_key", key, max_len=SOURCE_KEY_MAX)
    except InvalidInput:
        original = None
    return HASH_PREFIX + digest, original
