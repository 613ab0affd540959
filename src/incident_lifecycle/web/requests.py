"""Reading a WSGI request safely: limits, bearer tokens, content type, JSON.

Every function here either returns what was asked for or raises a
:class:`~.problems.Problem`: the body is never read past its limit nor past
the request's time limit, a token is compared in constant time and never
appears in a message, JSON is parsed strictly (no ``NaN``, no duplicate-key
surprises beyond the last one winning, bounded nesting).
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import attrs

from ..domain.checks import check_int
from ..domain.errors import InvalidInput
from ..domain.incidents import IncidentStatus
from .problems import Problem

if TYPE_CHECKING:
    from wsgiref.types import WSGIEnvironment

__all__ = [
    "CHUNK",
    "Limits",
    "bearer_token",
    "check_json_content_type",
    "is_token",
    "parse_json",
    "query",
    "query_flag",
    "query_limit",
    "query_one",
    "query_statuses",
    "read_body",
]

MAX_MEMO = 1_000_000
"""The most decoded alerts a service may remember per source."""
CHUNK = 64 * 1024
"""How much of the body is read at a time (the time limit is checked between reads)."""


def _positive_int(_inst: object, attribute: attrs.Attribute[int], value: object) -> None:
    check_int(attribute.name, value, minimum=1)


def _memo_size(_inst: object, attribute: attrs.Attribute[int], value: object) -> None:
    check_int(attribute.name, value, minimum=0)
    assert isinstance(value, int)
    if value > MAX_MEMO:
        raise InvalidInput(attribute.name, f"must be at most {MAX_MEMO:,}")


def _positive_seconds(_inst: object, attribute: attrs.Attribute[float], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidInput(attribute.name, "must be a number of seconds above zero")
    if value > 86_400:
        raise InvalidInput(attribute.name, "must be at most a day (86400 seconds)")


@attrs.frozen(kw_only=True)
class Limits:
    """What one request may cost the service.

    A sender over a limit gets a precise 4xx and nothing is written.
    """

    max_body_bytes: int = attrs.field(default=5 * 1024 * 1024, validator=_positive_int)
    """The largest request body accepted (413 above it)."""
    max_alerts: int = attrs.field(default=1000, validator=_positive_int)
    """The most alerts one webhook payload may hold (413 above it; set Alertmanager's
    ``max_alerts`` to at most this, so its ``truncatedAlerts`` reports the rest)."""
    request_seconds: float = attrs.field(default=10.0, validator=_positive_seconds)
    """How long the body may take to arrive (408 after it)."""
    retry_after_seconds: int = attrs.field(default=5, validator=_positive_int)
    """The ``Retry-After`` of a 503 (the store is busy or down)."""
    max_list: int = attrs.field(default=1000, validator=_positive_int)
    """The most incidents ``GET /v1/incidents`` returns at once (its ``limit``)."""
    memo_alerts: int = attrs.field(default=10_000, validator=_memo_size)
    """How many decoded Alertmanager and Grafana alerts are remembered per source, so that
    a re-sent alert is not decoded again (``0``: none; about 1-2 KB each)."""


def read_body(environ: WSGIEnvironment, limits: Limits, started: float) -> bytes:
    """The request body, within ``limits`` (size and the time since ``started``)."""
    raw_length = environ.get("CONTENT_LENGTH") or ""
    declared: int | None = None
    if raw_length.strip():
        if not raw_length.strip().isdigit():
            raise Problem(kind="invalid-payload", detail="Content-Length is not a number")
        declared = int(raw_length)
        if declared > limits.max_body_bytes:
            raise _too_large(limits)
    if declared is None and not environ.get("wsgi.input_terminated"):
        return b""  # PEP 3333: without a length, read only an input the server ends (chunked)
    stream = environ["wsgi.input"]
    want = limits.max_body_bytes + 1 if declared is None else declared
    parts: list[bytes] = []
    got = 0
    while got < want:
        _check_time(limits, started)
        part = stream.read(min(CHUNK, want - got))
        if not part:
            break
        parts.append(part)
        got += len(part)
        if got > limits.max_body_bytes:
            raise _too_large(limits)
    _check_time(limits, started)
    return b"".join(parts)


def _check_time(limits: Limits, started: float) -> None:
    if time.monotonic() - started > limits.request_seconds:
        raise Problem(
            kind="request-timeout",
            detail=f"the body took longer than {limits.request_seconds:g} s to arrive",
            extra={"limit_seconds": limits.request_seconds},
        )


def _too_large(limits: Limits) -> Problem:
    return Problem(
        kind="body-too-large",
        detail=f"the body is over {limits.max_body_bytes} bytes",
        extra={"limit_bytes": limits.max_body_bytes},
    )


def check_json_content_type(environ: WSGIEnvironment) -> None:
    """Refuse (415) a body that does not say it is JSON in UTF-8."""
    raw = environ.get("CONTENT_TYPE") or ""
    media, _, params = raw.partition(";")
    media = media.strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        shown = media[:80] or "none"
        raise Problem(
            kind="unsupported-media-type",
            detail=f"Content-Type is {shown!r}; send application/json",
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in {
            "utf-8",
            "utf8",
        }:
            raise Problem(
                kind="unsupported-media-type",
                detail="the body must be UTF-8 (charset=utf-8)",
            )


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes) -> object:
    """The parsed body; a 400 problem for anything but one JSON value in UTF-8."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Problem(
            kind="malformed-json", detail=f"the body is not UTF-8 (byte {error.start})"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise Problem(kind="malformed-json", detail="the body is empty")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise Problem(kind="malformed-json", detail="the JSON is nested too deeply") from None
    except ValueError as error:
        detail = str(error) if isinstance(error, json.JSONDecodeError) else "invalid JSON"
        raise Problem(kind="malformed-json", detail=detail[:200]) from None


def bearer_token(environ: WSGIEnvironment, schemes: Collection[str] = ("bearer",)) -> str | None:
    """The token of the ``Authorization`` header in one of ``schemes`` (lower case), or
    ``None`` (never logged). Opsgenie's clients send ``GenieKey <key>``."""
    raw = environ.get("HTTP_AUTHORIZATION")
    if not isinstance(raw, str):
        return None
    scheme, _, token = raw.strip().partition(" ")
    if scheme.lower() not in schemes or not token.strip():
        return None
    return token.strip()


def is_token(given: str | None, accepted: Collection[str]) -> bool:
    """Whether ``given`` is one of ``accepted``, compared in constant time.

    Every accepted token is compared (no early exit), so the time taken does
    not tell which one, or how much of one, matched.
    """
    if given is None:
        return False
    candidate = given.encode("utf-8", "surrogatepass")
    found = False
    for token in accepted:
        found |= hmac.compare_digest(candidate, token.encode("utf-8", "surrogatepass"))
    return found


def query(environ: WSGIEnvironment, allowed: Collection[str]) -> Mapping[str, list[str]]:
    """The query string's parameters; a 400 problem naming an unknown one."""
    raw = environ.get("QUERY_STRING") or ""
    try:
        params = parse_qs(raw, keep_blank_values=True, strict_parsing=False, max_num_fields=50)
    except ValueError:
        raise Problem(kind="invalid-query", detail="too many query parameters") from None
    for name in params:
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise Problem(
                kind="invalid-query",
                detail=f"unknown query parameter (known: {known})",
                field=name[:64],
            )
    return params


def query_flag(params: Mapping[str, list[str]], name: str) -> bool:
    """A yes/no parameter (``1``/``0``, ``true``/``false``); absent is no."""
    value = query_one(params, name)
    if value is None:
        return False
    if value.lower() in {"1", "true", "yes", ""}:
        return True
    if value.lower() in {"0", "false", "no"}:
        return False
    raise Problem(kind="invalid-query", detail="must be 1 or 0", field=name)


def query_one(params: Mapping[str, list[str]], name: str) -> str | None:
    """A parameter given at most once, or ``None``."""
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise Problem(kind="invalid-query", detail="give it once", field=name)
    return values[0]


def query_statuses(params: Mapping[str, list[str]]) -> frozenset[IncidentStatus]:
    """The incident statuses of ``status`` (repeated or comma-separated)."""
    out = set()
    for value in params.get("status", []):
        for name in value.split(","):
            try:
                out.add(IncidentStatus(name.strip()))
            except ValueError:
                known = ", ".join(s.value for s in IncidentStatus)
                raise Problem(
                    kind="invalid-query", detail=f"unknown status (one of {known})", field="status"
                ) from None
    return frozenset(out)


def query_limit(params: Mapping[str, list[str]], most: int) -> int:
    """``limit``: 1 to ``most``; 100 (at most ``most``) when absent."""
    raw = query_one(params, "limit")
    if raw is None:
        return min(100, most)
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise Problem(kind="invalid-query", detail=f"must be 1 to {most}", field="limit")
    return int(raw)
