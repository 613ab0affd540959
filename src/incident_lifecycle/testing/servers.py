"""Local HTTP servers on 127.0.0.1 implementing the documented shapes of the outlets' APIs
(Zendesk Support, Atlassian Statuspage, Slack incoming webhooks), with faults on demand:
429 with Retry-After, 5xx, slow answers, malformed bodies, connection resets.

Each server keeps what the real service would (tickets and their comments, page incidents,
channel messages), so a test asserts on the outlet's state rather than on calls. They are
test doubles for the outlets' tests and benchmarks, standard library only::

    with ZendeskServer(tickets=10).running() as zendesk:
        notifier = ZendeskNotifier(zendesk.url, email=zendesk.email, api_token=zendesk.token)
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

__all__ = ["Fault", "OutletServer", "SlackServer", "StatuspageServer", "ZendeskServer"]

Answer = tuple[int, dict[str, str], bytes]
"""A handler's answer: status, headers, body."""


class Fault:
    """What the server does instead of answering normally, for one request."""

    def __init__(
        self,
        kind: str,
        *,
        status: int = 500,
        seconds: float = 0.0,
        retry_after: str | None = None,
        after_work: bool = False,
        path: str = "",
        method: str = "",
    ) -> None:
        self.path = path
        self.method = method
        """Only for requests of this method (any by default)."""
        """Only for requests whose path starts with this (every request by default)."""
        self.kind = kind  # "status", "slow", "malformed", "reset", "hang"
        self.status = status
        self.seconds = seconds
        self.retry_after = retry_after
        self.after_work = after_work
        """Do the work first (the side effect happens), then fail the answer."""


class OutletServer:
    """A threaded HTTP server; subclasses implement ``handle(method, path, query, body)``."""

    token_header = "Authorization"  # noqa: S105 - a header's name

    def __init__(self, expected_auth: str | None, *, per_minute: int | None = None) -> None:
        self.expected_auth = expected_auth
        self.per_minute = per_minute
        self.faults: deque[Fault] = deque()
        self.requests: list[tuple[str, str]] = []
        self.seen_auth: list[str] = []
        self.lock = threading.RLock()
        self.released = threading.Event()
        self._stamp: float | None = None
        self._tokens = 0.0
        self.throttled = 0
        """Requests answered 429 for going over ``per_minute``."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.respond(self, method, body)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_PUT(self) -> None:
                self._serve("PUT")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """The server's base URL (``http://127.0.0.1:PORT``)."""
        port = self.httpd.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> Self:
        """Serve in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (a hung answer is let go)."""
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    @contextmanager
    def running(self) -> Iterator[Self]:
        """Serve for the duration of the block."""
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def calls(self, method: str | None = None, prefix: str = "") -> int:
        """How many requests (of ``method``, under the path ``prefix``) were received."""
        with self.lock:
            return sum(
                1
                for m, p in self.requests
                if (method is None or m == method) and p.startswith(prefix)
            )

    # -- the request path ----------------------------------------------------------------
    def respond(self, handler: BaseHTTPRequestHandler, method: str, body: bytes) -> None:
        """Answer one request: authentication, the rate limit, a queued fault, the API."""
        parts = urlsplit(handler.path)
        with self.lock:
            self.requests.append((method, parts.path))
            self.seen_auth.append(handler.headers.get(self.token_header, ""))
            fault = next(
                (
                    f
                    for f in self.faults
                    if parts.path.startswith(f.path) and f.method in ("", method)
                ),
                None,
            )
            if fault is not None:
                self.faults.remove(fault)
        if self.expected_auth is not None and (
            handler.headers.get(self.token_header, "") != self.expected_auth
        ):
            self._send(handler, 401, {}, b'{"error": "Couldn\'t authenticate you"}')
            return
        throttled = self._throttle()
        if throttled is not None:
            self._send(handler, 429, {"Retry-After": throttled}, b'{"error": "TooManyRequests"}')
            return
        if fault is not None and not fault.after_work and self._fault(handler, fault):
            return
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            document = json.loads(body) if body else None
        except ValueError:
            self._send(handler, 400, {}, b'{"error": "InvalidJSON"}')
            return
        with self.lock:
            status, headers, payload = self.handle(method, parts.path, query, document)
        if fault is not None and fault.after_work and self._fault(handler, fault):
            return
        self._send(handler, status, headers, payload)

    def _throttle(self) -> str | None:
        """The Retry-After of a request over ``per_minute`` (a bucket of one second's worth
        of requests, refilled evenly), or ``None`` when it may go."""
        if self.per_minute is None:
            return None
        rate = self.per_minute / 60.0
        capacity = max(1.0, rate)
        with self.lock:
            now = time.monotonic()
            if self._stamp is None:
                self._stamp, self._tokens = now, capacity
            self._tokens = min(capacity, self._tokens + (now - self._stamp) * rate)
            self._stamp = now
            if self._tokens < 1.0:
                self.throttled += 1
                return str(max(1, math.ceil((1.0 - self._tokens) / rate)))
            self._tokens -= 1.0
        return None

    def _fault(self, handler: BaseHTTPRequestHandler, fault: Fault) -> bool:
        """Act out ``fault``; True when the request was answered (or dropped) by it."""
        if fault.kind == "slow":
            self.released.wait(fault.seconds)
            return False
        if fault.kind == "hang":
            self.released.wait(fault.seconds or 3600)
            self._drop(handler)
            return True
        if fault.kind == "reset":
            self._drop(handler)
            return True
        if fault.kind == "malformed":
            self._send(handler, 200, {}, b"<html>not json")
            return True
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        self._send(handler, fault.status, headers, b'{"error": "injected"}')
        return True

    @staticmethod
    def _drop(handler: BaseHTTPRequestHandler) -> None:
        try:
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        handler.close_connection = True

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], payload: bytes
    ) -> None:
        try:
            handler.send_response(status)
            headers = {"Content-Type": "application/json; charset=utf-8"} | headers
            handler.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            handler.close_connection = True

    def handle(
        self, method: str, path: str, query: dict[str, str], document: Any
    ) -> Answer:  # pragma: no cover - each server overrides it
        """The API's answer to one authenticated request."""
        raise NotImplementedError


def _json(status: int, value: object, headers: dict[str, str] | None = None) -> Answer:
    """A JSON answer."""
    return status, headers or {}, json.dumps(value).encode()


class ZendeskServer(OutletServer):
    """Zendesk Support: tickets with comments and tags, ``update_many`` jobs, job statuses."""

    def __init__(
        self,
        tickets: int | list[int] = 0,
        *,
        email: str = "ops@example.com",
        token: str = "zd-secret-token",  # noqa: S107 - a test double's own token
        per_minute: int | None = None,
        polls_before_done: int = 0,
    ) -> None:
        import base64

        auth = "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode()
        super().__init__(auth, per_minute=per_minute)
        ids = list(range(1, tickets + 1)) if isinstance(tickets, int) else tickets
        self.tickets: dict[int, dict[str, Any]] = {
            i: {"id": i, "status": "open", "tags": [], "type": None, "problem_id": None}
            for i in ids
        }
        self.comments: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.polls_before_done = polls_before_done
        self.email, self.token = email, token
        self.fail_tickets: dict[int, str] = {}
        """Tickets whose updates fail in the job, with the error Zendesk would give."""
        self.fail_jobs = 0
        """The next this many jobs end ``failed`` without results."""

    def handle(self, method: str, path: str, query: dict[str, str], document: Any) -> Answer:
        """Bulk updates, job statuses (one or many), tickets (many)."""
        if method == "PUT" and path == "/api/v2/tickets/update_many.json":
            return self._update_many(query, document)
        if method == "GET" and path == "/api/v2/job_statuses/show_many.json":
            ids = [i for i in query.get("ids", "").split(",") if i]
            return _json(200, {"job_statuses": [self._poll(i) for i in ids if i in self.jobs]})
        if method == "GET" and path.startswith("/api/v2/job_statuses/"):
            job_id = path.rsplit("/", 1)[-1].removesuffix(".json")
            if job_id not in self.jobs:
                return _json(404, {"error": "RecordNotFound"})
            return _json(200, {"job_status": self._poll(job_id)})
        if method == "GET" and path == "/api/v2/tickets/show_many.json":
            wanted = [int(i) for i in query.get("ids", "").split(",") if i.isdigit()]
            found = [self.tickets[i] for i in wanted if i in self.tickets]
            return _json(200, {"tickets": found})
        return _json(404, {"error": "InvalidEndpoint"})

    def _update_many(self, query: dict[str, str], document: Any) -> Answer:
        ids = [i for i in query.get("ids", "").split(",") if i]
        if not isinstance(document, dict) or not isinstance(document.get("ticket"), dict):
            return _json(400, {"error": "InvalidParams", "description": "ticket is required"})
        if not ids or len(ids) > 100 or not all(i.isdigit() for i in ids):
            return _json(400, {"error": "InvalidParams", "description": "1 to 100 ticket ids"})
        change = document["ticket"]
        status = change.get("status")
        if status is not None and status not in ("new", "open", "pending", "hold", "solved"):
            return _json(422, {"error": "RecordInvalid", "description": f"bad status {status}"})
        job_id = uuid.uuid4().hex
        failed = self.fail_jobs > 0
        self.fail_jobs -= 1 if failed else 0
        results = [] if failed else [self._apply(int(i), change) for i in ids]
        self.jobs[job_id] = {
            "id": job_id,
            "url": f"{self.url}/api/v2/job_statuses/{job_id}.json",
            "total": len(ids),
            "progress": 0,
            "status": "queued",
            "message": None,
            "results": results,
            "final": "failed" if failed else "completed",
            "polls": 0,
        }
        return _json(200, {"job_status": self._public(job_id, "queued")})

    def _apply(self, ticket_id: int, change: dict[str, Any]) -> dict[str, Any]:
        ticket = self.tickets.get(ticket_id)
        error = self.fail_tickets.get(ticket_id)
        if ticket is None or error:
            return {
                "id": ticket_id,
                "action": "update",
                "success": False,
                "status": "Failed",
                "errors": error or "RecordNotFound: Ticket not found",
            }
        comment = change.get("comment")
        if isinstance(comment, dict):
            self.comments[ticket_id].append(
                {"body": comment.get("body"), "public": comment.get("public", True)}
            )
        for tag in change.get("additional_tags", []):
            if tag not in ticket["tags"]:
                ticket["tags"].append(tag)
        for name in ("status", "type", "problem_id"):
            if name in change:
                ticket[name] = change[name]
        return {"id": ticket_id, "action": "update", "success": True, "status": "Updated"}

    def _poll(self, job_id: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        job["polls"] += 1
        state = job["final"] if job["polls"] > self.polls_before_done else "working"
        return self._public(job_id, state)

    def _public(self, job_id: str, state: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        done = state in ("completed", "failed")
        return {
            "id": job_id,
            "url": job["url"],
            "total": job["total"],
            "progress": job["total"] if done else 0,
            "status": state,
            "message": "Job failed" if state == "failed" else None,
            "results": job["results"] if state == "completed" else [],
        }


class StatuspageServer(OutletServer):
    """Atlassian Statuspage v1: a page's incidents, their updates, components and metadata."""

    def __init__(
        self, page_id: str = "pg1", *, api_key: str = "sp-secret-key", per_minute: int | None = None
    ) -> None:
        super().__init__(f"OAuth {api_key}", per_minute=per_minute)
        self.page_id, self.api_key = page_id, api_key
        self.incidents: dict[str, dict[str, Any]] = {}

    def handle(self, method: str, path: str, query: dict[str, str], document: Any) -> Answer:
        """Create, update, list (unresolved, latest) and show the page's incidents."""
        base = f"/v1/pages/{self.page_id}/incidents"
        if not path.startswith(base):
            return _json(404, {"error": "page not found"})
        rest = path[len(base) :].removesuffix(".json").strip("/")
        if method == "POST" and rest == "":
            return self._write(None, document)
        if method == "GET" and rest == "unresolved":
            found = [i for i in self.incidents.values() if i["status"] != "resolved"]
            return _json(200, found)
        if method == "GET" and rest == "":
            q = query.get("q", "")
            return _json(200, [i for i in self.incidents.values() if q in i["name"]])
        if rest in self.incidents and method == "GET":
            return _json(200, self.incidents[rest])
        if rest in self.incidents and method in ("PATCH", "PUT"):
            return self._write(rest, document)
        return _json(404, {"error": "incident not found"})

    def _write(self, incident_id: str | None, document: Any) -> Answer:
        change = document.get("incident") if isinstance(document, dict) else None
        if not isinstance(change, dict):
            return _json(422, {"error": ["incident is missing"]})
        status = change.get("status")
        if status is not None and status not in (
            "investigating",
            "identified",
            "monitoring",
            "resolved",
        ):
            return _json(422, {"error": [f"Status {status} is not included in the list"]})
        impact = change.get("impact_override")
        if impact is not None and impact not in ("none", "minor", "major", "critical"):
            return _json(422, {"error": [f"Impact override {impact} is not valid"]})
        if incident_id is None:
            if not change.get("name"):
                return _json(422, {"error": ["Name can't be blank"]})
            incident_id = uuid.uuid4().hex[:12]
            self.incidents[incident_id] = {
                "id": incident_id,
                "name": change["name"],
                "status": status or "investigating",
                "impact": impact or "none",
                "incident_updates": [],
                "components": [],
                "metadata": {},
            }
            created = 201
        else:
            created = 200
        incident = self.incidents[incident_id]
        for name in ("name", "status"):
            if change.get(name):
                incident[name] = change[name]
        if impact:
            incident["impact"] = impact
        if isinstance(change.get("metadata"), dict):
            incident["metadata"] = change["metadata"]
        components = change.get("components")
        if isinstance(components, dict):
            incident["components"] = [{"id": k, "status": v} for k, v in components.items()]
        if change.get("body") or change.get("status"):
            incident["incident_updates"].insert(
                0, {"status": incident["status"], "body": change.get("body", "")}
            )
        return _json(created, incident)


class SlackServer(OutletServer):
    """Slack incoming webhooks: each path under ``/services/`` is one channel's webhook."""

    def __init__(self, channels: dict[str, str] | None = None, *, per_minute: int | None = None):
        super().__init__(None, per_minute=per_minute)
        self.channels = channels if channels is not None else {"T0/B0/secret0": "#support-eng"}
        self.archived: set[str] = set()
        self.failing: set[str] = set()
        """Channels whose webhook answers 500 for now."""
        self.messages: dict[str, list[dict[str, Any]]] = {c: [] for c in self.channels.values()}

    def hook(self, channel: str) -> str:
        """The webhook URL of ``channel``."""
        path = next(p for p, c in self.channels.items() if c == channel)
        return f"{self.url}/services/{path}"

    def handle(self, method: str, path: str, query: dict[str, str], document: Any) -> Answer:
        """Post a message to the webhook's channel."""
        channel = self.channels.get(path.removeprefix("/services/"))
        if method != "POST" or channel is None:
            return 404, {"Content-Type": "text/plain"}, b"no_service"
        if channel in self.failing:
            return 500, {"Content-Type": "text/plain"}, b"internal_error"
        if channel in self.archived:
            return 410, {"Content-Type": "text/plain"}, b"channel_is_archived"
        if not isinstance(document, dict) or not isinstance(document.get("text"), str):
            return 400, {"Content-Type": "text/plain"}, b"invalid_payload"
        self.messages[channel].append(document)
        return 200, {"Content-Type": "text/plain"}, b"ok"
