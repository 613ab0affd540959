"""RFC 9457 problem documents: every error the service answers, as data.

A :class:`Problem` is raised anywhere while a request is handled and becomes
one ``application/problem+json`` answer: ``type`` (a tag URI naming the kind
of problem, listed in :data:`PROBLEM_TYPES`), ``title`` (the same for every
problem of that type), ``status``, ``detail`` (this occurrence) and, where
the problem is about one field, ``field``: the path of that field in the
payload (``alerts[3].labels.service``). Extension members carry what a
sender needs to act (``limit``, ``allow``, ``retry_after``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus

import attrs

__all__ = ["PROBLEM_TYPES", "PROBLEM_TYPE_PREFIX", "Problem", "problem_type"]

PROBLEM_TYPE_PREFIX = "tag:incident-lifecycle,2026:problem/"
"""Every problem ``type`` is this prefix and a name of :data:`PROBLEM_TYPES`."""

PROBLEM_TYPES: Mapping[str, tuple[int, str]] = {
    "unauthorized": (401, "Missing or wrong bearer token"),
    "not-found": (404, "No such resource"),
    "method-not-allowed": (405, "Method not allowed on this resource"),
    "request-timeout": (408, "The request body did not arrive in time"),
    "body-too-large": (413, "The request body is too large"),
    "too-many-alerts": (413, "Too many alerts in one payload"),
    "unsupported-media-type": (415, "The body must be JSON"),
    "malformed-json": (400, "The body is not valid JSON"),
    "invalid-payload": (400, "The payload does not match its format"),
    "invalid-query": (400, "A query parameter is invalid"),
    "refused": (422, "The request was understood but refused"),
    "not-permitted": (403, "The caller may not do this"),
    "conflict": (409, "Not allowed in the current state"),
    "store-unavailable": (503, "The store is busy or unavailable: retry later"),
    "internal-error": (500, "Internal error"),
    "not-implemented": (501, "This needs an optional extra that is not installed"),
}
"""Each problem type's name, with its HTTP status and title."""


def problem_type(name: str) -> str:
    """The ``type`` URI of the problem ``name``."""
    return PROBLEM_TYPE_PREFIX + name


@attrs.frozen(kw_only=True)
class Problem(Exception):
    """An error answer: raise it while handling a request.

    ``kind`` is a name of :data:`PROBLEM_TYPES` (it fixes status and title).
    """

    kind: str = attrs.field(validator=attrs.validators.in_(PROBLEM_TYPES))
    detail: str
    field: str | None = None
    extra: Mapping[str, object] = attrs.field(factory=dict)
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def status(self) -> int:
        """The HTTP status of this problem."""
        return PROBLEM_TYPES[self.kind][0]

    @property
    def status_line(self) -> str:
        """``"404 Not Found"``: the status as WSGI's ``start_response`` wants it."""
        return f"{self.status} {HTTPStatus(self.status).phrase}"

    def document(self) -> dict[str, object]:
        """The problem document (a JSON object)."""
        status, title = PROBLEM_TYPES[self.kind]
        out: dict[str, object] = {
            "type": problem_type(self.kind),
            "title": title,
            "status": status,
            "detail": self.detail,
        }
        if self.field is not None:
            out["field"] = self.field
        for name, value in self.extra.items():
            out.setdefault(name, value)
        return out

    def body(self) -> bytes:
        """The document as UTF-8 JSON."""
        return json.dumps(self.document(), ensure_ascii=False).encode("utf-8")

    def __str__(self) -> str:
        where = f" ({self.field})" if self.field else ""
        return f"{self.kind}{where}: {self.detail}"
