"""The WSGI application (PEP 3333): routes, authentication, errors, one log line per request.

Every answer is JSON; every error an RFC 9457 problem document
(:mod:`.problems`). A request that changes something runs its commands
through the desk (each one transaction, committed) before the 2xx is sent,
so a sender that saw a 2xx never needs to send again, and one that did not
(a 503 when the store is busy, a dropped connection) may send again safely.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .. import commands as c
from ..desk import IncidentDesk
from ..domain.actors import Actor, Role
from ..domain.checks import check_identifier
from ..domain.errors import (
    ConcurrencyConflict,
    IncidentLifecycleError,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPermitted,
    StoreError,
)
from ..domain.incidents import ACTIVE_STATUSES, incident_order
from ..formats.base import Decoded, Dropped, FormatError
from ..formats.memo import SignalMemo
from ..logs import fields
from ..notifications import one_line
from .problems import Problem
from .requests import (
    Limits,
    bearer_token,
    check_json_content_type,
    is_token,
    parse_json,
    query,
    query_flag,
    query_limit,
    query_one,
    query_statuses,
    read_body,
)
from .sources import Decoder, format_function, load_decoders, opsgenie_close_alias, pagerduty_answer
from .wire import decision_json, decode_report, incident_json, intake_json, triage_json

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

__all__ = [
    "ALERT_SOURCES",
    "DEFAULT_REPORTER",
    "LOG",
    "TOKEN_SCOPES",
    "IntakeApp",
    "Response",
    "create_app",
]

LOG = logging.getLogger(__name__)
"""One line per request: method, path, status, milliseconds, what was done or refused
(records ``http_request`` and ``http_internal_error``, see ``logs``)."""

ALERT_SOURCES = ("alertmanager", "grafana", "pagerduty", "opsgenie")
"""The monitoring sources of ``POST /v1/alerts/{source}``, each a module of ``formats``."""
TOKEN_SCOPES = (*ALERT_SOURCES, "reports", "incidents", "metrics")
"""What a bearer token may be for: a source's alerts, customer reports, incident reads, the
Prometheus scrape of ``GET /metrics``."""
DEFAULT_REPORTER = Actor(name="helpdesk", role=Role.SUPPORT)
"""Who triages the reports posted to ``/v1/reports`` unless ``create_app`` is told."""
MIN_TOKEN = 16


@attrs.frozen
class Response:
    """An answer: status line, headers, body."""

    status: str
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def _json_response(status: str, document: object) -> Response:
    return Response(status, json.dumps(document, ensure_ascii=False).encode("utf-8"))


def _tokens(tokens: Mapping[str, str | Collection[str]]) -> dict[str, tuple[str, ...]]:
    if not isinstance(tokens, Mapping):
        raise InvalidInput("tokens", "must map a scope to its token or tokens")
    out: dict[str, tuple[str, ...]] = {}
    for scope, given in tokens.items():
        if scope not in TOKEN_SCOPES:
            raise InvalidInput("tokens", f"unknown scope {scope!r} (one of {TOKEN_SCOPES})")
        values = (given,) if isinstance(given, str) else tuple(given)
        for value in values:
            if not isinstance(value, str) or len(value) < MIN_TOKEN or not value.isprintable():
                raise InvalidInput(
                    f"tokens.{scope}", f"each token must be printable text of {MIN_TOKEN}+ chars"
                )
        out[scope] = values
    return out


def problem_of(error: Exception, retry_after: int) -> Problem:
    """The problem answered for an error the desk raised."""
    if isinstance(error, FormatError):
        return Problem(kind="invalid-payload", detail=error.reason, field=error.field)
    if isinstance(error, InvalidInput):
        return Problem(kind="refused", detail=error.reason, field=error.field)
    if isinstance(error, NotFound):
        return Problem(kind="not-found", detail=str(error))
    if isinstance(error, NotPermitted):
        return Problem(kind="not-permitted", detail=error.reason)
    if isinstance(error, InvalidTransition):
        return Problem(kind="conflict", detail=str(error))
    if isinstance(error, ConcurrencyConflict | StoreError):
        return Problem(
            kind="store-unavailable",
            detail="the store is busy or unavailable; nothing of this request was lost "
            "that was not committed: send it again",
            extra={"retry_after": retry_after},
            headers=(("Retry-After", str(retry_after)),),
        )
    return Problem(kind="refused", detail=one_line(error, 200))


class IntakeApp:
    """The WSGI application :func:`create_app` returns (call it as ``app(environ, start)``)."""

    def __init__(
        self,
        desk: IncidentDesk,
        *,
        tokens: Mapping[str, str | Collection[str]],
        mappings: Mapping[str, object] | None = None,
        limits: Limits | None = None,
        reporter: Actor = DEFAULT_REPORTER,
        decoders: Mapping[str, Decoder] | None = None,
    ) -> None:
        if not isinstance(desk, IncidentDesk):
            raise InvalidInput("desk", f"must be an IncidentDesk, not {type(desk).__name__}")
        self.desk = desk
        self.tokens = _tokens(tokens)
        self.mappings = dict(mappings or {})
        for source in self.mappings:
            if source not in ALERT_SOURCES:
                raise InvalidInput("mappings", f"unknown source {source!r}")
        self.limits = Limits() if limits is None else limits
        if not isinstance(self.limits, Limits):
            raise InvalidInput("limits", "must be a Limits")
        if not isinstance(reporter, Actor):
            raise InvalidInput("reporter", "must be an Actor")
        self.reporter = reporter
        self.decoders = dict(load_decoders(ALERT_SOURCES) if decoders is None else decoders)
        self.memos = {
            source: SignalMemo(self.limits.memo_alerts)
            for source in MEMO_SOURCES
            if decoders is None and self.limits.memo_alerts
        }
        """Each webhook source's decoded alerts, so that a re-sent alert is not decoded again."""
        self.pagerduty_answer: Callable[[Decoded], Mapping[str, object]] = pagerduty_answer()
        opsgenie = format_function("opsgenie", "answer"), format_function("opsgenie", "close")
        self.opsgenie_answer, self.opsgenie_close = opsgenie
        self._collector: Any = None  # the Prometheus collector, made on the first scrape

    # -- WSGI -------------------------------------------------------------------------
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request (PEP 3333)."""
        started = time.monotonic()
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("PATH_INFO") or "/")
        note: dict[str, object] = {}
        try:
            response = self._dispatch(method, path, environ, started, note)
        except Problem as problem:
            response = self._problem(problem, note)
        except Exception:
            LOG.exception(
                "%s %s: unexpected error",
                one_line(method, 16),
                one_line(path, 200),
                extra=fields("http_internal_error", method=method, path=path),
            )
            response = self._problem(
                Problem(kind="internal-error", detail="an unexpected error; see the log"), note
            )
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            ("Cache-Control", "no-store"),
            *response.headers,
        ]
        start_response(response.status, headers)
        self._log(method, path, response.status, started, note)
        return [] if method == "HEAD" else [response.body]

    def _problem(self, problem: Problem, note: dict[str, object]) -> Response:
        note["problem"] = problem.kind
        if problem.field:
            note["field"] = problem.field
        return Response(
            problem.status_line,
            problem.body(),
            content_type="application/problem+json",
            headers=problem.headers,
        )

    def _log(
        self, method: str, path: str, status: str, started: float, note: dict[str, object]
    ) -> None:
        millis = (time.monotonic() - started) * 1000
        details = " ".join(f"{k}={one_line(v, 120)}" for k, v in note.items())
        level = logging.WARNING if status.startswith("5") else logging.INFO
        extra = fields(
            "http_request",
            method=method,
            path=path,
            status=int(status[:3]),
            millis=round(millis, 1),
            problem=note.get("problem"),
            field=note.get("field"),
        )
        LOG.log(
            level,
            "%s %s %s %.1fms %s",
            one_line(method, 16),
            one_line(path, 200),
            status[:3],
            millis,
            details,
            extra=extra,
        )

    # -- routing ----------------------------------------------------------------------
    def _dispatch(
        self,
        method: str,
        path: str,
        environ: WSGIEnvironment,
        started: float,
        note: dict[str, object],
    ) -> Response:
        allowed, run = self._route(path)
        if method not in allowed:
            raise Problem(
                kind="method-not-allowed",
                detail=f"{method[:16]} is not allowed here; use {', '.join(allowed)}",
                extra={"allow": list(allowed)},
                headers=(("Allow", ", ".join(allowed)),),
            )
        return run(environ, started, note)

    def _route(
        self, path: str
    ) -> tuple[tuple[str, ...], Callable[[WSGIEnvironment, float, dict[str, object]], Response]]:
        if path == "/healthz":
            return ("GET",), self._health
        if path == "/metrics":
            return ("GET",), self._metrics
        if path == "/v1/reports":
            return ("POST",), self._report
        if path == "/v1/incidents":
            return ("GET",), self._incidents
        head, _, rest = path.rpartition("/")
        if head == "/v1/incidents" and rest:
            return ("GET",), lambda env, _s, note: self._incident(rest, env, note)
        if head == "/v1/alerts" and rest in self.decoders:
            return ("POST",), lambda env, s, note: self._alerts(rest, env, s, note)
        alias = opsgenie_close_alias(path)
        if alias is not None and self.opsgenie_close is not None:
            return ("POST",), lambda env, s, note: self._opsgenie_close(alias, env, s, note)
        raise Problem(kind="not-found", detail="no such route (see docs/service.md)")

    # -- authentication ---------------------------------------------------------------
    def _authenticate(self, scope: str, environ: WSGIEnvironment) -> None:
        schemes = ("bearer", "geniekey") if scope == "opsgenie" else ("bearer",)
        if not is_token(bearer_token(environ, schemes), self.tokens.get(scope, ())):
            raise self._unauthorized(scope)

    def _unauthorized(self, scope: str) -> Problem:
        configured = bool(self.tokens.get(scope))
        detail = (
            "send Authorization: Bearer <token> with a token of this source"
            if configured
            else f"no token is configured for {scope!r}: this route is closed"
        )
        return Problem(
            kind="unauthorized",
            detail=detail,
            headers=(("WWW-Authenticate", 'Bearer realm="incident-lifecycle"'),),
        )

    def _run(self, command: Any) -> Any:
        try:
            return self.desk.handle(command)
        except IncidentLifecycleError as error:
            raise problem_of(error, self.limits.retry_after_seconds) from error

    # -- handlers ---------------------------------------------------------------------
    def _health(self, environ: WSGIEnvironment, _s: float, note: dict[str, object]) -> Response:
        query(environ, ())
        stats = self._read(lambda tx: tx.outbox_stats())
        return _json_response(
            "200 OK",
            {
                "status": "ok",
                "outbox": {
                    "pending": stats.pending,
                    "delivered": stats.delivered,
                    "dead": stats.dead,
                },
            },
        )

    def _metrics(self, environ: WSGIEnvironment, _s: float, note: dict[str, object]) -> Response:
        """The Prometheus scrape (``incident_lifecycle.prometheus``; the ``prometheus`` extra)."""
        self._authenticate("metrics", environ)
        query(environ, ())
        if self._collector is None:
            try:
                from .. import prometheus
            except ImportError as error:
                raise Problem(kind="not-implemented", detail=str(error)) from None
            self._collector = prometheus.IncidentCollector(self.desk)
        body, content_type = self._collector.exposition(environ.get("HTTP_ACCEPT"))
        return Response("200 OK", body, content_type=content_type)

    def _read(self, query_fn: Callable[[Any], Any]) -> Any:
        try:
            return c.read(
                self.desk.store, query_fn, max_conflict_retries=self.desk.max_conflict_retries
            )
        except IncidentLifecycleError as error:
            raise problem_of(error, self.limits.retry_after_seconds) from error

    def _body(self, environ: WSGIEnvironment, started: float) -> object:
        check_json_content_type(environ)
        return parse_json(read_body(environ, self.limits, started))

    def _alerts(
        self, source: str, environ: WSGIEnvironment, started: float, note: dict[str, object]
    ) -> Response:
        note["source"] = source
        header_token = bearer_token(environ)
        if source != "pagerduty" or header_token is not None:
            self._authenticate(source, environ)
        payload = self._body(environ, started)
        mapping = self.mappings.get(source)
        if source == "pagerduty" and header_token is None:
            # PagerDuty's own clients authenticate with the event's routing (integration) key:
            # a token of the scope, or a key the mapping routes to a product.
            key = payload.get("routing_key") if isinstance(payload, dict) else None
            routed = tuple(getattr(mapping, "routing_keys", None) or ())
            if not is_token(
                key if isinstance(key, str) else None, self.tokens.get(source, ()) + routed
            ):
                raise self._unauthorized(source)
        self._check_alert_count(payload)
        try:
            now = self.desk.clock.now()
            memo = self.memos.get(source)
            decode = self.decoders[source]
            decoded = (
                decode(payload, mapping, received_at=now)
                if memo is None
                else decode(payload, mapping, received_at=now, memo=memo)
            )
        except InvalidInput as error:  # FormatError: the payload is not of its format
            raise Problem(kind="invalid-payload", detail=error.reason, field=error.field) from None
        decoded = self._owned(decoded)
        self.desk.telemetry.count_refused(len(decoded.dropped))
        results = []
        for index, command in enumerate(decoded.commands):
            try:
                results.append(self._run(command))
            except Problem as problem:
                if index:  # what ran before is committed: say so
                    extra = {**problem.extra, "committed_commands": index}
                    raise attrs.evolve(problem, extra=extra) from None
                raise
        answer = intake_json(decoded, results)
        note.update(commands=len(results), signals=answer["signals"], dropped=len(decoded.dropped))
        return self._alerts_answer(source, decoded, answer)

    def _opsgenie_close(
        self, alias: str, environ: WSGIEnvironment, started: float, note: dict[str, object]
    ) -> Response:
        """Opsgenie's close by alias: the alert of the alias clears (202, Opsgenie's answer)."""
        note["source"] = "opsgenie"
        self._authenticate("opsgenie", environ)
        params = query(environ, ("identifierType",))
        kind = query_one(params, "identifierType") or "alias"
        has_body = (environ.get("CONTENT_LENGTH") or "0").strip() not in {"", "0"}
        payload = self._body(environ, started) if has_body else None
        assert self.opsgenie_close is not None
        try:
            decoded = self.opsgenie_close(alias, payload, identifier_type=kind)
        except InvalidInput as error:
            raise Problem(kind="invalid-payload", detail=error.reason, field=error.field) from None
        for command in decoded.commands:
            self._run(command)
        note["commands"] = len(decoded.commands)
        assert self.opsgenie_answer is not None
        return _json_response("202 Accepted", self.opsgenie_answer(uuid.uuid4().hex))

    def _owned(self, decoded: Decoded) -> Decoded:
        """Signals of products no team owns are dropped and reported; the rest are received
        (the desk would refuse the whole batch, and the sender would send it again forever)."""
        owners = self.desk.ownership
        commands: list[Any] = []
        dropped = list(decoded.dropped)
        for command in decoded.commands:
            if not isinstance(command, c.ReceiveAlerts):
                commands.append(command)
                continue
            kept = [s for s in command.signals if s.product in owners]
            for signal in command.signals:
                if signal.product not in owners:
                    dropped.append(
                        Dropped(
                            path=f"alerts[fingerprint={signal.fingerprint}]",
                            reason=f"no engineering team owns the product {signal.product!r}",
                        )
                    )
            if len(kept) == len(command.signals):
                commands.append(command)
            elif kept:
                commands.append(attrs.evolve(command, signals=kept))
        if len(dropped) == len(decoded.dropped):
            return decoded
        return attrs.evolve(decoded, commands=tuple(commands), dropped=tuple(dropped))

    def _alerts_answer(self, source: str, decoded: Decoded, answer: dict[str, object]) -> Response:
        if source == "pagerduty":  # exactly the body PagerDuty's clients expect
            return _json_response("202 Accepted", self.pagerduty_answer(decoded))
        if source == "opsgenie" and self.opsgenie_answer is not None:
            return _json_response("202 Accepted", self.opsgenie_answer(uuid.uuid4().hex))
        return _json_response("200 OK", answer)

    def _check_alert_count(self, payload: object) -> None:
        if not isinstance(payload, dict) or "alerts" not in payload:
            return
        alerts = payload["alerts"]
        if not isinstance(alerts, list):
            return  # the format names the field
        if not alerts:
            raise Problem(
                kind="invalid-payload", detail="the payload holds no alert", field="alerts"
            )
        if len(alerts) > self.limits.max_alerts:
            raise Problem(
                kind="too-many-alerts",
                detail=f"{len(alerts)} alerts in one payload; at most {self.limits.max_alerts} "
                "(set the sender's max_alerts)",
                field="alerts",
                extra={"limit": self.limits.max_alerts},
            )

    def _report(
        self, environ: WSGIEnvironment, started: float, note: dict[str, object]
    ) -> Response:
        self._authenticate("reports", environ)
        params = query(environ, ("suggest",))
        suggest = query_flag(params, "suggest")
        report = decode_report(self._body(environ, started))
        note["ticket"] = report.ticket_id
        if suggest:
            decision = self._run(c.AssessReport(report=report))
            note["outcome"] = decision.outcome.value
            return _json_response("200 OK", {"suggestion": True, **decision_json(decision)})
        result = self._run(c.TriageReport(report=report, by=self.reporter))
        note["outcome"] = result.decision.outcome.value
        return _json_response("201 Created" if result.applied else "200 OK", triage_json(result))

    def _incidents(self, environ: WSGIEnvironment, _s: float, note: dict[str, object]) -> Response:
        self._authenticate("incidents", environ)
        params = query(environ, ("status", "product", "limit"))
        statuses = query_statuses(params)
        product = query_one(params, "product")
        limit = query_limit(params, self.limits.max_list)

        def listing(tx: Any) -> list[Any]:
            if statuses and statuses <= ACTIVE_STATUSES:
                found = tx.active_incidents(product=product)
            else:
                found = tx.incidents_detected_between(None, None)
            return [
                i
                for i in found
                if (not statuses or i.status in statuses)
                and (product is None or product in i.products)
            ]

        incidents = sorted(self._read(listing), key=incident_order)
        shown = incidents[:limit]
        note["incidents"] = len(shown)
        return _json_response(
            "200 OK",
            {
                "incidents": [incident_json(i)["incident"] for i in shown],
                "count": len(shown),
                "truncated": len(incidents) > len(shown),
            },
        )

    def _incident(
        self, incident_id: str, environ: WSGIEnvironment, note: dict[str, object]
    ) -> Response:
        self._authenticate("incidents", environ)
        query(environ, ())
        try:
            check_identifier("incident_id", incident_id)
        except InvalidInput:
            raise Problem(kind="not-found", detail="no such incident") from None

        def whole(tx: Any) -> dict[str, object]:
            incident = tx.incident(incident_id)
            return incident_json(
                incident,
                alerts=tx.alerts_of(incident_id),
                tickets=tx.linked_tickets(incident_id),
                updates=tx.updates(incident_id),
                timeline=tx.timeline(incident_id),
            )

        note["incident"] = incident_id
        return _json_response("200 OK", self._read(whole))


MEMO_SOURCES = ("alertmanager", "grafana")
"""The sources that re-send every alert of a group each interval: their decoding is memoised."""


def create_app(
    desk: IncidentDesk,
    *,
    tokens: Mapping[str, str | Collection[str]],
    mappings: Mapping[str, object] | None = None,
    limits: Limits | None = None,
    reporter: Actor = DEFAULT_REPORTER,
) -> IntakeApp:
    """The WSGI application serving ``desk`` (see ``docs/service.md``).

    Args:
        desk: the desk whose store and configuration the service uses.
        tokens: bearer tokens by scope (:data:`TOKEN_SCOPES`: each alert source,
            ``reports``, ``incidents``); a scope without one is closed (401).
        mappings: each alert source's mapping object (its format's defaults otherwise).
        limits: body size, alerts per payload, request time, ``Retry-After``.
        reporter: who triages the customer reports posted to ``/v1/reports``.

    Raises:
        InvalidInput: an unknown scope or source, a token shorter than 16 characters.
    """
    return IntakeApp(desk, tokens=tokens, mappings=mappings, limits=limits, reporter=reporter)
