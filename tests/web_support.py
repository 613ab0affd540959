"""Helpers for the HTTP service tests: call the WSGI app in-process, with no socket.

``call(app, "POST", "/v1/reports", json_body={...}, token=TOKEN)`` builds a
PEP 3333 environ, runs the app and returns a :class:`Answer` (status code,
headers, body, parsed JSON). ``BusyStore`` wraps a store and fails its
transactions while ``busy`` is set (the 503 path), counting what it was asked.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

import attrs

from incident_lifecycle import Actor, Role, StoreError
from incident_lifecycle.adapters import InMemoryStore, RecordingNotifier
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.ports import Clock, Store, StoreTransaction
from incident_lifecycle.testing import FakeClock

TOKEN = "test-token-0123456789abcdef"
"""The token of every scope in these tests."""
OTHER = "another-token-0123456789abcdef"
SCOPES = ("alertmanager", "grafana", "pagerduty", "opsgenie", "reports", "incidents")
OWNERSHIP = {"checkout": "payments", "search": "discovery", "mail": "messaging"}
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
ENGINEER = Actor(name="pat", role=Role.ENGINEERING, team="payments")


@attrs.frozen
class Answer:
    """What the app answered."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        """The Content-Type header."""
        return self.headers.get("Content-Type", "")


class SlowInput:
    """A ``wsgi.input`` that gives one small piece per read, pausing before each."""

    def __init__(self, data: bytes, pause: float, piece: int = 8) -> None:
        self.data, self.pause, self.piece = data, pause, piece
        self.reads = 0

    def read(self, size: int = -1) -> bytes:
        """At most ``piece`` bytes, after ``pause`` seconds."""
        time.sleep(self.pause)
        self.reads += 1
        n = self.piece if size < 0 else min(size, self.piece)
        out, self.data = self.data[:n], self.data[n:]
        return out


def environ(
    method: str,
    path: str,
    *,
    body: bytes = b"",
    query: str = "",
    content_type: str | None = "application/json",
    token: str | None = TOKEN,
    headers: Mapping[str, str] | None = None,
    stream: object | None = None,
    content_length: str | None = None,
) -> dict[str, Any]:
    """A PEP 3333 environ for one request."""
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": stream if stream is not None else io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body or content_length is not None:
        env["CONTENT_LENGTH"] = content_length if content_length is not None else str(len(body))
    if content_type is not None:
        env["CONTENT_TYPE"] = content_type
    if token is not None:
        env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    for name, value in (headers or {}).items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def run(app: Any, env: Mapping[str, Any]) -> Answer:
    """Call ``app`` with ``env``; check PEP 3333's basics of the answer."""
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        assert isinstance(status, str)
        assert status[:3].isdigit()
        assert status[3] == " "
        for name, value in headers:
            assert isinstance(name, str)
            assert isinstance(value, str)
            assert "\n" not in value
            assert "\r" not in value
        seen["status"], seen["headers"] = status, dict(headers)
        return lambda _data: None

    chunks = app(dict(env), start_response)
    body = b"".join(chunks)
    status = seen["status"]
    headers = seen["headers"]
    if env["REQUEST_METHOD"] != "HEAD":
        assert headers["Content-Length"] == str(len(body))
    return Answer(int(status[:3]), status[4:], headers, body)


def call(
    app: Any,
    method: str,
    path: str,
    json_body: object = None,
    **kwargs: Any,
) -> Answer:
    """Run one request; ``json_body`` is sent as JSON."""
    if json_body is not None:
        kwargs["body"] = json.dumps(json_body).encode()
    return run(app, environ(method, path, **kwargs))


def make_desk(
    store: Store | None = None,
    clock: Clock | None = None,
    ownership: Mapping[str, str] = OWNERSHIP,
) -> IncidentDesk:
    """A desk over ``store`` (memory by default) with the tests' ownership."""
    return IncidentDesk(
        store=store if store is not None else InMemoryStore(),
        notifier=RecordingNotifier(),
        ownership=ownership,
        clock=clock or FakeClock(T0),
    )


def all_tokens(token: str = TOKEN) -> dict[str, str]:
    """The same token for every scope."""
    return dict.fromkeys(SCOPES, token)


class BusyStore:
    """A store whose transactions fail with ``StoreError`` while ``busy`` (the 503 path)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.busy = False
        self.refused = 0

    def transaction(self) -> AbstractContextManager[StoreTransaction]:
        """The inner store's transaction, or a refusal while busy."""
        if self.busy:
            self.refused += 1
            raise StoreError("the store is busy (test)")
        return self.inner.transaction()


@contextmanager
def captured_log(logger: str = "incident_lifecycle.web") -> Iterator[list[logging.LogRecord]]:
    """The records ``logger`` emits inside the block."""
    records: list[logging.LogRecord] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = _Keep(level=logging.DEBUG)
    log = logging.getLogger(logger)
    old = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        log.removeHandler(handler)
        log.setLevel(old)
