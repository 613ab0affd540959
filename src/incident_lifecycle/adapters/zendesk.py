"""Zendesk Support as an outlet: customer notifications become ticket comments, in bulk.

Tickets with the same message share one ``PUT /api/v2/tickets/update_many.json?ids=...``
(up to 100 tickets); the job statuses it answers are polled together
(``GET /api/v2/job_statuses/show_many.json``) and mapped ticket by ticket. Each update adds
a marker tag naming the message, so a notification that may have been posted already (a
crash or a timeout after Zendesk accepted the job) is looked up on its ticket
(``GET /api/v2/tickets/show_many.json``) before it is posted again: never a second comment.
See ``docs/outlets.md``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from ..domain.errors import InvalidInput
from ..logs import fields
from ..notifications import (
    DeliveryResult,
    Notification,
    RecipientKind,
    Topic,
    neutralise,
    one_line,
)
from .http import HttpSettings, Pacer, check_base_url, describe_error, parse_retry_after

__all__ = ["CHUNK", "TICKET_STATUSES", "ZendeskNotifier", "marker_tag"]

LOG = logging.getLogger(__name__)

TICKET_STATUSES = ("new", "open", "pending", "hold", "solved")
"""The ticket statuses ``statuses`` may set."""
CHUNK = 100
"""Zendesk's limit of tickets per ``update_many`` call."""
_DONE = frozenset({"completed", "failed", "killed"})


def marker_tag(notification: Notification) -> str:
    """The tag an update adds to its ticket, naming the message: ``il_`` and 20 hex digits
    of the SHA-256 of the key without its trailing ``/ticket`` (the same for every ticket of
    a fan-out, so one bulk update carries it)."""
    key = notification.key
    suffix = "/" + notification.recipient
    message = key[: -len(suffix)] if key.endswith(suffix) else key
    return "il_" + hashlib.sha256(message.encode()).hexdigest()[:20]


class _Throttled(Exception):
    def __init__(self, wait: timedelta | None, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.wait = wait
        self.status = status


class ZendeskNotifier:
    """Posts ticket notifications as comments on Zendesk Support tickets.

    ``base_url``: ``https://SUBDOMAIN.zendesk.com``. Credentials: ``email`` and
    ``api_token`` (Basic ``email/token:TOKEN``) or ``oauth_token`` (Bearer).
    ``statuses``: a ticket status to set per topic (e.g. ``{"resolution": "solved"}``).
    ``problem_tickets``: the problem/incident mode: a function giving an incident's
    Zendesk problem ticket id (or ``None``); a linked ticket then becomes an *incident*
    ticket of that problem, and the resolution is posted once, on the problem, whose
    solving Zendesk cascades to its incident tickets. ``requests_per_minute``: pace the
    account's calls below its rate limit. Recipients are ticket ids (digits); any other
    recipient, and any notification that is not for a ticket, is rejected.
    """

    group_batches = True
    recipient_kinds = frozenset({RecipientKind.TICKET})
    """The one kind it takes (``ports.takes_status_page`` reads it)."""

    def __init__(
        self,
        base_url: str,
        *,
        email: str | None = None,
        api_token: str | None = None,
        oauth_token: str | None = None,
        statuses: Mapping[Topic | str, str] | None = None,
        problem_tickets: Callable[[str], int | None] | None = None,
        requests_per_minute: float | None = None,
        poll_interval: float = 1.0,
        poll_timeout: float = 60.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = check_base_url("base_url", base_url)
        headers = {"Authorization": _authorization(email, api_token, oauth_token)}
        headers["Accept"] = "application/json"
        self.statuses = _statuses(statuses or {})
        if problem_tickets is not None and not callable(problem_tickets):
            raise InvalidInput("problem_tickets", "must be a function of the incident id")
        self.problem_tickets = problem_tickets
        if requests_per_minute is not None and (
            isinstance(requests_per_minute, bool)
            or not isinstance(requests_per_minute, int | float)
            or not requests_per_minute > 0
        ):
            raise InvalidInput("requests_per_minute", "must be above zero")
        self.poll_interval = _seconds("poll_interval", poll_interval, zero=True)
        self.poll_timeout = _seconds("poll_timeout", poll_timeout)
        self._sleep = sleep
        self._pacer = Pacer(60.0 / requests_per_minute if requests_per_minute else 0.0, sleep=sleep)
        self._client = HttpSettings(
            connect_timeout=connect_timeout, read_timeout=read_timeout
        ).client(self.base_url, headers)
        self._lock = threading.Lock()
        self.calls = 0
        """HTTP requests made (every attempt counts)."""

    def __repr__(self) -> str:  # never the credentials
        return f"ZendeskNotifier({self.base_url!r})"

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def route(self, notification: Notification) -> str:
        """One channel: the account (Zendesk's rate limit is per account)."""
        return f"zendesk:{self.base_url}"

    # -- the port --------------------------------------------------------------------
    def send(self, batch: Sequence[Notification]) -> Iterator[DeliveryResult]:
        """Post ``batch``: tickets with the same message in one bulk update per 100, each
        ticket's messages in order (see the class docstring and ``docs/outlets.md``)."""
        with self._lock:
            yield from self._send(list(batch))

    def already_delivered(self, batch: Sequence[Notification]) -> list[str]:
        """The keys of ``batch`` whose marker tag is on their ticket already (the problem
        ticket, for a resolution in problem mode): posted before. 100 tickets per call."""
        with self._lock:
            where = {n.key: self._marker_ticket(n) for n in batch if n.recipient.isdigit()}
            tags: dict[str, set[str]] = {}
            ids = list(dict.fromkeys(where.values()))
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                answer = self._call("GET", "/api/v2/tickets/show_many.json", {"ids": chunk})
                for ticket in _list(answer, "tickets"):
                    if isinstance(ticket, dict):
                        tags[str(ticket.get("id"))] = set(ticket.get("tags") or ())
            return [
                n.key
                for n in batch
                if n.key in where and marker_tag(n) in tags.get(where[n.key], set())
            ]

    def _marker_ticket(self, n: Notification) -> str:
        problem = self._problem_of(n)
        if problem is not None and n.topic is Topic.RESOLUTION:
            return str(problem)
        return n.recipient

    # -- sending -------------------------------------------------------------------------
    def _send(self, batch: list[Notification]) -> Iterator[DeliveryResult]:
        waves: list[list[Notification]] = []
        depth: dict[str, int] = {}
        for n in batch:
            refusal = self._refusal(n)
            if refusal:
                yield DeliveryResult.rejected(n.key, refusal)
                continue
            level = depth.get(n.recipient, 0)
            depth[n.recipient] = level + 1
            if level == len(waves):
                waves.append([])
            waves[level].append(n)
        stopped: set[str] = set()
        throttle: tuple[timedelta | None, str] | None = None
        for wave in waves:
            ready = []
            for n in wave:
                if throttle is not None:
                    yield DeliveryResult.throttled(n.key, throttle[0], throttle[1])
                elif n.recipient in stopped:
                    yield DeliveryResult.retry(n.key, "held behind an earlier message")
                else:
                    ready.append(n)
            if not ready:
                continue
            for result in self._send_wave(ready):
                if result.status.value in ("retry", "throttled"):
                    stopped.add(_recipient_of(result.key, ready))
                if result.status.value == "throttled":
                    throttle = (result.retry_after, result.error)
                yield result

    def _refusal(self, n: Notification) -> str:
        if n.recipient_kind is not RecipientKind.TICKET:
            return f"Zendesk takes ticket notifications, not {n.recipient_kind.value}"
        if not n.recipient.isdigit():
            return f"{one_line(n.recipient, 60)} is not a Zendesk ticket id"
        return ""

    def _send_wave(self, wave: list[Notification]) -> Iterator[DeliveryResult]:
        """One message per ticket: grouped by identical update, 100 tickets per job; every
        job submitted, then all polled together."""
        groups: dict[str, tuple[dict[str, Any], str, list[Notification]]] = {}
        for n in wave:
            change, target = self._change(n)
            signature = repr(sorted(change.items())) + "@" + target
            groups.setdefault(signature, (change, target, []))[2].append(n)
        jobs: list[tuple[str, list[Notification], str]] = []  # (job id, notes, target)
        answered: set[str] = set()
        for change, target, notes in groups.values():
            chunks = (
                [notes]
                if target
                else [notes[start : start + CHUNK] for start in range(0, len(notes), CHUNK)]
            )
            for chunk in chunks:
                ids = [target] if target else [n.recipient for n in chunk]
                try:
                    answer = self._call(
                        "PUT", "/api/v2/tickets/update_many.json", {"ids": ids}, {"ticket": change}
                    )
                except _Throttled as throttled:
                    error = f"Zendesk answered {throttled.status}: the account is throttled"
                    answered.update(n.key for _, ns, _ in jobs for n in ns)
                    yield from self._finish(jobs)
                    for n in wave:
                        if n.key not in answered:
                            yield DeliveryResult.throttled(n.key, throttled.wait, error)
                    return
                except _Failure as failure:
                    for n in chunk:
                        answered.add(n.key)
                        yield failure.result(n.key)
                    continue
                job = answer.get("job_status") if isinstance(answer, dict) else None
                job_id = job.get("id") if isinstance(job, dict) else None
                if not isinstance(job_id, str) or not job_id:
                    for n in chunk:
                        answered.add(n.key)
                        yield DeliveryResult.retry(n.key, "outcome unknown: no job status")
                    continue
                jobs.append((job_id, chunk, target))
        yield from self._finish(jobs)

    def _change(self, n: Notification) -> tuple[dict[str, Any], str]:
        """The ticket update ``n`` makes, and the ticket it goes to instead of its own
        (the problem ticket, for a resolution in problem mode; ``""`` otherwise)."""
        comment = {"body": f"{n.subject}\n\n{n.body}", "public": True}
        change: dict[str, Any] = {"comment": comment, "additional_tags": [marker_tag(n)]}
        problem = self._problem_of(n)
        if problem is not None and n.topic is Topic.RESOLUTION:
            # Posted once, on the problem: Zendesk's cascade solves its incident tickets.
            change["status"] = "solved"
            return change, str(problem)
        status = self.statuses.get(n.topic)
        if status:
            change["status"] = status
        if problem is not None and n.topic is Topic.TICKET_LINKED:
            change["type"] = "incident"
            change["problem_id"] = problem
        return change, ""

    def _problem_of(self, n: Notification) -> int | None:
        if self.problem_tickets is None or n.incident_id is None:
            return None
        problem = self.problem_tickets(n.incident_id)
        if problem is None or isinstance(problem, bool) or not isinstance(problem, int):
            return None
        return problem

    def _finish(self, jobs: list[tuple[str, list[Notification], str]]) -> Iterator[DeliveryResult]:
        """Poll every job until done (or ``poll_timeout``), then a verdict per ticket."""
        pending = {job_id: (notes, target) for job_id, notes, target in jobs}
        finished: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + self.poll_timeout
        first = True
        while pending and time.monotonic() < deadline:
            if not first:
                self._sleep(self.poll_interval)
            first = False
            ids = list(pending)
            try:
                for start in range(0, len(ids), CHUNK):
                    answer = self._call(
                        "GET",
                        "/api/v2/job_statuses/show_many.json",
                        {"ids": ids[start : start + CHUNK]},
                    )
                    for job in _list(answer, "job_statuses"):
                        done = isinstance(job, dict) and job.get("status") in _DONE
                        if done and job.get("id") in pending:
                            finished[job["id"]] = job
                            del pending[job["id"]]
            except (_Failure, _Throttled) as error:
                LOG.warning(
                    "polling Zendesk job statuses failed: %s",
                    error,
                    extra=fields("zendesk_poll_failed", jobs=len(pending), error=str(error)),
                )
                break
        for job_id, notes, target in jobs:
            job = finished.get(job_id)
            if job is None:
                for n in notes:
                    yield DeliveryResult.retry(
                        n.key, "outcome unknown: the Zendesk job did not finish"
                    )
                continue
            yield from _verdicts(job, notes, target)

    # -- HTTP ------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        ids: Mapping[str, Sequence[str]],
        body: object = None,
    ) -> Any:
        params = {name: ",".join(values) for name, values in ids.items()}
        self._pacer.wait("account")
        self.calls += 1
        try:
            response = self._client.request(method, path, params=params, json=body)
        except Exception as error:  # timeouts, resets, refused: outcome unknown
            raise _Failure(f"outcome unknown: {describe_error(error)}", retry=True) from None
        status = response.status_code
        if status == 429 or (status == 503 and "Retry-After" in response.headers):
            raise _Throttled(parse_retry_after(response.headers.get("Retry-After")), status)
        if status >= 500:
            raise _Failure(f"Zendesk answered {status}", retry=True)
        if status in (401, 403):
            raise _Failure(f"Zendesk answered {status}: check the credentials", retry=True)
        try:
            document = response.json()
        except ValueError:
            if status >= 400:
                raise _Failure(f"Zendesk answered {status}", retry=False) from None
            raise _Failure(
                f"outcome unknown: Zendesk answered {status} with no JSON", retry=True
            ) from None
        if status >= 400:
            raise _Failure(f"Zendesk answered {status}: {_message(document)}", retry=False)
        return document


class _Failure(Exception):
    def __init__(self, error: str, *, retry: bool) -> None:
        super().__init__(error)
        self.error = one_line(error)
        self.retry = retry

    def result(self, key: str) -> DeliveryResult:
        if self.retry:
            return DeliveryResult.retry(key, self.error)
        return DeliveryResult.rejected(key, self.error)


def _verdicts(
    job: dict[str, Any], notes: list[Notification], target: str
) -> Iterator[DeliveryResult]:
    results = job.get("results")
    results = results if isinstance(results, list) else []
    by_id = {str(r.get("id")): r for r in results if isinstance(r, dict)}
    for n in notes:
        found = by_id.get(target or n.recipient)
        if found is None:
            message = neutralise(job.get("message") or job.get("status") or "no result", 200)
            yield DeliveryResult.retry(n.key, f"Zendesk job {job.get('status')}: {message}")
        elif found.get("success") is True:
            yield DeliveryResult.delivered(n.key)
        else:
            errors = neutralise(found.get("errors") or found.get("error") or "update failed", 300)
            yield DeliveryResult.rejected(n.key, f"Zendesk refused the update: {errors}")


def _recipient_of(key: str, notes: Sequence[Notification]) -> str:
    return next(n.recipient for n in notes if n.key == key)


def _list(document: Any, name: str) -> list[Any]:
    found = document.get(name) if isinstance(document, dict) else None
    return found if isinstance(found, list) else []


def _message(document: Any) -> str:
    if isinstance(document, dict):
        parts = [document.get("error"), document.get("description")]
        details = document.get("details")
        if details:
            parts.append(str(details))
        text = ": ".join(str(p) for p in parts if p and isinstance(p, str | dict))
        return neutralise(text or "request refused", 300)
    return "request refused"


def _authorization(email: str | None, api_token: str | None, oauth_token: str | None) -> str:
    if oauth_token is not None:
        if email is not None or api_token is not None:
            raise InvalidInput("oauth_token", "give an OAuth token or an email and API token")
        if not isinstance(oauth_token, str) or not oauth_token.strip():
            raise InvalidInput("oauth_token", "must be a non-empty string")
        return f"Bearer {oauth_token}"
    if not isinstance(email, str) or "@" not in email:
        raise InvalidInput("email", "must be the agent's email address")
    if not isinstance(api_token, str) or not api_token.strip():
        raise InvalidInput("api_token", "must be a non-empty string")
    return "Basic " + base64.b64encode(f"{email}/token:{api_token}".encode()).decode()


def _statuses(value: Mapping[Topic | str, str]) -> dict[Topic, str]:
    if not isinstance(value, Mapping):
        raise InvalidInput("statuses", "must map topics to Zendesk ticket statuses")
    out: dict[Topic, str] = {}
    for topic, status in value.items():
        try:
            member = Topic(topic)
        except ValueError:
            raise InvalidInput("statuses", f"{topic!r} is not a topic") from None
        if status not in TICKET_STATUSES:
            raise InvalidInput("statuses", f"{status!r} is not one of {', '.join(TICKET_STATUSES)}")
        out[member] = status
    return out


def _seconds(field: str, value: object, *, zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InvalidInput(field, "must be a number of seconds")
    if value < 0 or (not zero and value == 0) or value == float("inf"):
        raise InvalidInput(field, "must be a finite number of seconds above zero")
    return float(value)
