"""Validators shared by the domain values: each refusal names the field."""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .errors import InvalidInput

# The named limits of every text field, in characters. Commands, entities,
# events and the replay schema all read them from here.
IDENTIFIER_MAX = 128
"""Ids, product, region and team names, actor names."""
MAX_LABELS = 64
"""Labels on one alert signal."""
LABEL_MAX = 255
"""One label's key or value."""
FINGERPRINT_MAX = 255
"""An alert's deduplication fingerprint."""
SEVERITY_NAME_MAX = 32
"""A severity level's name (``SEV1``)."""
TITLE_MAX = 200
"""An incident's title."""
SUMMARY_MAX = 1024
"""An alert signal's summary."""
REASON_MAX = 2_000
"""A reason given for a command (dismiss, hand off, reopen, ...)."""
BODY_MAX = 10_000
"""A status update's body, a resolution, a troubleshooting note, a report's summary."""
REVIEW_TEXT_MAX = 20_000
"""A post-incident review's root cause or impact."""
KEY_MAX = 512
"""A notification's idempotency key."""
GROUP_KEY_MAX = 1_000
"""An incident's grouping key."""
DESCRIPTION_MAX = 500
"""A severity level's description; a notification's subject."""
MESSAGE_MAX = 20_000
"""A rendered notification's body."""
LOCALE_MAX = 35
"""A BCP 47 language tag (``fr-CA``)."""
ALERT_DESCRIPTION_MAX = 15_000
"""An alert's description from its source (Opsgenie's own limit)."""
MAX_LINKS = 16
"""Links on one alert signal."""
LINK_NAME_MAX = 64
"""A link's name (``runbook``, ``generator``)."""
URL_MAX = 2_048
"""A link's URL: longer than a label may be, so that no URL is cut."""
SOURCE_KEY_MAX = 1_024
"""A source's own deduplication key, kept when it is too long to be the fingerprint."""

# C0 and C1 control characters, DEL; text fields may still hold tab and newlines.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Lone surrogates (such as a JSON "\ud800" escape) are not text: no encoding can store them.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SPACE = re.compile(r"\s")

E = TypeVar("E", bound=enum.Enum)
T = TypeVar("T")


def has_lone_surrogate(value: str) -> bool:
    """Whether ``value`` holds a lone surrogate (not valid Unicode text: no encoding stores it)."""
    return _SURROGATE.search(value) is not None


def check_text(field: str, value: object, *, max_len: int, min_len: int = 1) -> str:
    """Return ``value`` if it is a string of ``min_len..max_len`` characters.

    Free text may hold tabs and line breaks, but no other control character.
    """
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be a string, not {type(value).__name__}")
    if len(value) > max_len:
        raise InvalidInput(field, f"is {len(value)} characters long; the limit is {max_len}")
    if len(value.strip()) < min_len:
        raise InvalidInput(field, "must not be empty" if min_len == 1 else f"needs {min_len}+")
    if value.isprintable():  # no control character, no surrogate: the common case, in C
        return value
    if _CONTROL_IN_TEXT.search(value):
        raise InvalidInput(field, "must not contain control characters")
    if _SURROGATE.search(value):
        raise InvalidInput(field, "must not contain lone surrogates (not valid Unicode text)")
    return value


def check_identifier(field: str, value: object, *, max_len: int = IDENTIFIER_MAX) -> str:
    """Return ``value`` if it is a non-empty, single-line string of at most ``max_len``."""
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise InvalidInput(field, "must not be empty")
    if len(value) > max_len:
        raise InvalidInput(field, f"is {len(value)} characters long; the limit is {max_len}")
    if value.isprintable():  # no control character, no surrogate: the common case, in C
        return value
    if _CONTROL.search(value):
        raise InvalidInput(field, "must not contain control characters")
    if _SURROGATE.search(value):
        raise InvalidInput(field, "must not contain lone surrogates (not valid Unicode text)")
    return value


def check_aware(field: str, value: object) -> datetime:
    """Return ``value`` if it is a timezone-aware datetime."""
    if not isinstance(value, datetime):
        raise InvalidInput(field, f"must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field, "must be timezone-aware (naive datetimes are ambiguous)")
    return value


def check_enum(field: str, enum_type: type[E], value: object) -> E:
    """Return ``value`` as a member of ``enum_type``; its value string is accepted too."""
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except (ValueError, TypeError):
        allowed = ", ".join(str(m.value) for m in enum_type)
        raise InvalidInput(field, f"{value!r} is not one of: {allowed}") from None


def check_non_negative(field: str, value: object) -> timedelta:
    """Return ``value`` if it is a ``timedelta`` that is not negative."""
    if not isinstance(value, timedelta):
        raise InvalidInput(field, f"must be a timedelta, not {type(value).__name__}")
    if value < timedelta(0):
        raise InvalidInput(field, "must not be negative")
    return value


def check_date(field: str, value: object) -> date:
    """Return ``value`` if it is a plain date (not a datetime)."""
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidInput(field, f"must be a date, not {type(value).__name__}")
    return value


def check_int(field: str, value: object, *, minimum: int = 0) -> int:
    """Return ``value`` if it is an int (not a bool) of at least ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(field, f"must be an integer, not {type(value).__name__}")
    if value < minimum:
        raise InvalidInput(field, f"must be at least {minimum}")
    return value


def optional_identifier(field: str, value: object, *, max_len: int = IDENTIFIER_MAX) -> str | None:
    """``None``, or ``value`` checked as an identifier."""
    return None if value is None else check_identifier(field, value, max_len=max_len)


def check_limit(field: str, value: object) -> int | None:
    """A result limit: ``None`` (all) or an int of zero or more (at most that many)."""
    return None if value is None else check_int(field, value)


def check_methods(field: str, value: object, *methods: str) -> object:
    """Return ``value`` if it has every one of ``methods`` (a port given where one is needed)."""
    if isinstance(value, type):  # the class itself has the methods, unbound
        raise InvalidInput(field, f"must be an instance, not the class {value.__name__}")
    missing = [m for m in methods if not callable(getattr(value, m, None))]
    if missing:
        raise InvalidInput(field, f"{type(value).__name__} has no {', '.join(missing)}()")
    return value


def check_ownership(field: str, value: object) -> dict[str, str]:
    """A product -> engineering team mapping, copied; each name checked as an identifier."""
    if not isinstance(value, Mapping):
        raise InvalidInput(field, "must map each product to its engineering team")
    out: dict[str, str] = {}
    for product, team in value.items():
        out[check_identifier(field, product)] = check_identifier(field, team)
    return out


EARLIEST = datetime.min.replace(tzinfo=UTC)
"""The earliest representable aware time (0001-01-01 UTC)."""
LATEST = datetime.max.replace(tzinfo=UTC)
"""The latest representable aware time (9999-12-31 23:59:59.999999 UTC)."""


def shifted(when: datetime, delta: timedelta) -> datetime:
    """``when + delta``, clamped to the representable range instead of overflowing.

    ``when`` is an aware datetime; the result is in UTC. A deadline past the
    year 9999 is "never" (:data:`LATEST`), a look-back before year 1 is
    "since always" (:data:`EARLIEST`).
    """
    try:
        moved = when + delta  # aware arithmetic: the same instant, whatever the offset
    except OverflowError:
        return LATEST if delta > timedelta(0) else EARLIEST
    try:
        return moved.astimezone(UTC)
    except OverflowError:  # within a day of year 1 or 9999, in a zone UTC cannot reach
        return LATEST if moved.year > 1 else EARLIEST


def shifted_back(when: datetime, delta: timedelta) -> datetime:
    """``when - delta``, clamped like :func:`shifted` (``timedelta.max`` back is "since always")."""
    try:
        back = -delta
    except OverflowError:  # within a day of the longest timedelta: its negation is none
        return EARLIEST if delta > timedelta(0) else LATEST
    return shifted(when, back)


def freeze_labels(value: object) -> Mapping[str, str]:
    """Copy a mapping of string labels into a read-only mapping."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise InvalidInput("labels", f"must be a mapping, not {type(value).__name__}")
    if len(value) > MAX_LABELS:
        raise InvalidInput("labels", f"has {len(value)} labels; the limit is {MAX_LABELS}")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise InvalidInput("labels", f"keys and values must be strings, got {key!r}: {item!r}")
        if not plain_label(key, item):  # the slow checks say what is wrong, or let it pass
            check_identifier("labels", key, max_len=LABEL_MAX)
            check_text("labels", item, max_len=LABEL_MAX, min_len=0)
        out[key] = item
    return MappingProxyType(out)


def plain_label(key: str, value: str) -> bool:
    """Whether a label is plainly valid: within ``LABEL_MAX``, a non-blank key, and both printable.

    A quick test in C for the common case; ``False`` does not mean invalid (text may
    hold line breaks, for one): the full checks then decide.
    """
    return (
        len(key) <= LABEL_MAX
        and len(value) <= LABEL_MAX
        and key.isprintable()
        and value.isprintable()
        and not key.isspace()
        and key != ""
    )


def check_url(field: str, value: object) -> str:
    """Return ``value`` if it is an absolute ``http`` or ``https`` URL of at most ``URL_MAX``."""
    check_identifier(field, value, max_len=URL_MAX)
    assert isinstance(value, str)
    problem = _url_problem(value)
    if problem is not None:
        raise InvalidInput(field, problem)
    return value


@functools.lru_cache(maxsize=4096)
def _url_problem(value: str) -> str | None:
    """Why a one-line string is not an absolute http(s) URL, or ``None`` (monitoring repeats
    the same few URLs on every alert of a rule: each is parsed once)."""
    if _SPACE.search(value):
        return "a URL must not contain spaces"
    try:
        parts = urlsplit(value)
    except ValueError:
        return f"{value[:80]!r} is not a URL"
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return "must be an absolute http or https URL"
    return None


def freeze_links(value: object) -> Mapping[str, str]:
    """Copy a mapping of link names to URLs into a read-only mapping."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise InvalidInput("links", f"must be a mapping, not {type(value).__name__}")
    if len(value) > MAX_LINKS:
        raise InvalidInput("links", f"has {len(value)} links; the limit is {MAX_LINKS}")
    out: dict[str, str] = {}
    for name, url in value.items():
        check_identifier("links", name, max_len=LINK_NAME_MAX)
        out[name] = check_url("links", url)
    return MappingProxyType(out)


class Validator:
    """An attrs validator calling ``check`` with the attribute's name.

    ``check`` and ``options`` are public so that a schema can be derived
    from the validators (the replay schema reads the length limits here).
    """

    __slots__ = ("check", "options")

    def __init__(self, check: Any, **options: Any) -> None:
        self.check = check
        self.options = options

    def __call__(self, _inst: object, attribute: Any, value: object) -> None:
        self.check(attribute.name, value, **self.options)


class Optional:
    """An attrs validator that lets ``None`` through and applies ``validator`` otherwise."""

    __slots__ = ("validator",)

    def __init__(self, validator: Any) -> None:
        self.validator = validator

    def __call__(self, inst: object, attribute: Any, value: object) -> None:
        if value is not None:
            self.validator(inst, attribute, value)


def optional(validator: Any) -> Any:
    """Let ``None`` through, otherwise apply ``validator``."""
    return Optional(validator)


def text(max_len: int, min_len: int = 1) -> Any:
    """Validator for free text of ``min_len..max_len`` characters."""
    return Validator(check_text, max_len=max_len, min_len=min_len)


def identifier(max_len: int = IDENTIFIER_MAX) -> Any:
    """Validator for identifiers (non-empty, single line, ``max_len`` at most)."""
    return Validator(check_identifier, max_len=max_len)


def aware() -> Any:
    """Validator for timezone-aware datetimes."""
    return Validator(check_aware)


def enum_member(enum_type: type[enum.Enum]) -> Any:
    """Validator for members of ``enum_type`` (strings are refused: use the converter)."""

    def check(field: str, value: object) -> None:
        if not isinstance(value, enum_type):
            check_enum(field, enum_type, value)
            raise InvalidInput(field, f"must be a {enum_type.__name__}, not a raw value")

    return Validator(check)


def check_instance(field: str, value: T, cls: type) -> T:
    """``value`` if it is an instance of ``cls``; else ``InvalidInput`` naming ``field``."""
    if not isinstance(value, cls):
        raise InvalidInput(field, f"must be a {cls.__name__}, not {type(value).__name__}")
    return value


def instance(cls: type) -> Any:
    """Validator for instances of ``cls``."""

    def check(field: str, value: object) -> None:
        check_instance(field, value, cls)

    return Validator(check)


def non_negative() -> Any:
    """Validator for timedeltas that are zero or more."""
    return Validator(check_non_negative)


def integer(minimum: int = 0) -> Any:
    """Validator for ints of at least ``minimum``."""
    return Validator(check_int, minimum=minimum)
