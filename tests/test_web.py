"""The WSGI app's routes, authentication, limits and errors, called in-process."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

import web_support as w
from incident_lifecycle import AlertSignal, InvalidInput
from incident_lifecycle.commands import ClearAlert, ReceiveAlerts
from incident_lifecycle.formats import Decoded, Dropped, FormatError
from incident_lifecycle.web import PROBLEM_TYPES, IntakeApp, Limits, create_app, problem_type


def stand_in_decode(payload: object, mapping: object = None, **_: object) -> Decoded:
    """A tiny format for these tests: ``{"alerts": [{"fp", "product", "status"}]}``."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise FormatError("alerts", "must be an array")
    signals, clears, dropped = [], [], []
    for index, item in enumerate(payload["alerts"]):
        if not isinstance(item, dict) or not isinstance(item.get("fp"), str):
            raise FormatError(f"alerts[{index}].fp", "must be a string")
        if len(item["fp"]) > 64:
            dropped.append(Dropped(path=f"alerts[{index}]", reason="fingerprint too long"))
            continue
        if item.get("status") == "resolved":
            clears.append(ClearAlert(fingerprint=item["fp"]))
            continue
        signals.append(
            AlertSignal(
                fingerprint=item["fp"],
                product=item.get("product", "checkout"),
                kind="error_rate",
                summary="errors",
                observed_at=w.T0,
            )
        )
    commands: list[Any] = [ReceiveAlerts(signals=signals)] if signals else []
    return Decoded(commands=(*commands, *clears), dropped=tuple(dropped), facts={"group": "g"})


def make_app(desk: Any = None, **kwargs: Any) -> IntakeApp:
    decoders = dict.fromkeys(("alertmanager", "grafana", "opsgenie", "pagerduty"), stand_in_decode)
    return IntakeApp(
        desk or w.make_desk(),
        tokens=kwargs.pop("tokens", w.all_tokens()),
        decoders=decoders,
        **kwargs,
    )


def alerts(*fps: str, **extra: Any) -> dict[str, Any]:
    return {"alerts": [{"fp": fp, **extra} for fp in fps]}


def assert_problem(answer: w.Answer, status: int, kind: str, field: str | None = None) -> None:
    assert answer.status == status, answer.body
    assert answer.content_type == "application/problem+json"
    doc = answer.json
    assert doc["type"] == problem_type(kind)
    assert doc["status"] == status
    assert doc["title"] == PROBLEM_TYPES[kind][1]
    assert isinstance(doc["detail"], str)
    assert doc["detail"]
    if field is not None:
        assert doc["field"] == field


def stored_alerts(desk: Any) -> int:
    with desk.store.transaction() as tx:
        return sum(len(tx.alerts_of(i.id)) for i in tx.incidents_detected_between(None, None))


# -- the happy paths -------------------------------------------------------------------
def test_healthz_answers_ok_without_a_token() -> None:
    """``GET /healthz`` needs no token and reads the store once."""
    answer = w.call(make_app(), "GET", "/healthz", token=None)
    assert answer.status == 200
    assert answer.json["status"] == "ok"
    assert answer.json["outbox"] == {"pending": 0, "delivered": 0, "dead": 0}


def test_alerts_are_committed_before_the_answer() -> None:
    """A webhook's signals are in the store when the 200 arrives, with what was done."""
    desk = w.make_desk()
    answer = w.call(make_app(desk), "POST", "/v1/alerts/alertmanager", alerts("a", "b"))
    assert answer.status == 200
    body = answer.json
    assert body["signals"] == 2
    assert body["new_alerts"] == 2
    assert body["accepted"] is True
    assert len(body["incidents_started"]) == 1
    assert body["facts"] == {"group": "g"}
    assert stored_alerts(desk) == 2


def test_dropped_parts_are_reported_and_the_rest_received() -> None:
    """An alert the format drops is named in the answer; the others are received."""
    desk = w.make_desk()
    answer = w.call(make_app(desk), "POST", "/v1/alerts/grafana", alerts("a", "x" * 80, "b"))
    assert answer.status == 200
    assert answer.json["dropped"] == [{"path": "alerts[1]", "reason": "fingerprint too long"}]
    assert stored_alerts(desk) == 2


def test_resolved_alerts_are_cleared() -> None:
    """Clearing commands run after the signals, and their outcomes are counted."""
    app = make_app()
    w.call(app, "POST", "/v1/alerts/alertmanager", alerts("a"))
    answer = w.call(app, "POST", "/v1/alerts/alertmanager", alerts("a", status="resolved"))
    assert answer.json["cleared"] == {"incident_dismissed": 1}


def test_pagerduty_answers_202_with_the_dedup_key_shape() -> None:
    """PagerDuty's clients get 202 and ``status``/``message``."""
    answer = w.call(make_app(), "POST", "/v1/alerts/pagerduty", alerts("a"))
    assert answer.status == 202
    assert answer.json["status"] == "success"
    assert answer.json["message"] == "Event processed"


def test_pagerduty_routing_key_authenticates_without_a_header() -> None:
    """A PagerDuty client's ``routing_key`` is its token when no Authorization is sent."""
    app = make_app()
    good = w.call(
        app, "POST", "/v1/alerts/pagerduty", alerts("a") | {"routing_key": w.TOKEN}, token=None
    )
    assert good.status == 202
    bad = w.call(
        app, "POST", "/v1/alerts/pagerduty", alerts("a") | {"routing_key": w.OTHER}, token=None
    )
    assert_problem(bad, 401, "unauthorized")


# -- authentication --------------------------------------------------------------------
@pytest.mark.parametrize("token", [None, w.OTHER, ""])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/alerts/alertmanager"),
        ("POST", "/v1/reports"),
        ("GET", "/v1/incidents"),
        ("GET", "/v1/incidents/INC-1"),
    ],
)
def test_a_missing_or_wrong_token_is_401_and_writes_nothing(
    method: str, path: str, token: str | None
) -> None:
    """No token, a wrong one or an empty one: 401 with a Bearer challenge, nothing stored."""
    desk = w.make_desk()
    answer = w.call(make_app(desk), method, path, alerts("a"), token=token)
    assert_problem(answer, 401, "unauthorized")
    assert answer.headers["WWW-Authenticate"].startswith("Bearer ")
    assert stored_alerts(desk) == 0


def test_tokens_are_per_source() -> None:
    """Grafana's token does not open Alertmanager's route."""
    tokens = {"alertmanager": w.OTHER, "grafana": w.TOKEN}
    app = make_app(tokens=tokens)
    assert w.call(app, "POST", "/v1/alerts/alertmanager", alerts("a")).status == 401
    assert w.call(app, "POST", "/v1/alerts/grafana", alerts("a")).status == 200


def test_a_scope_without_a_token_is_closed() -> None:
    """A route whose scope has no configured token refuses everyone."""
    app = make_app(tokens={"grafana": w.TOKEN})
    answer = w.call(app, "GET", "/v1/incidents")
    assert_problem(answer, 401, "unauthorized")
    assert "no token is configured" in answer.json["detail"]


def test_several_tokens_per_scope_rotate() -> None:
    """A scope may hold an old and a new token while senders move over."""
    app = make_app(tokens={"alertmanager": [w.TOKEN, w.OTHER]})
    for token in (w.TOKEN, w.OTHER):
        assert (
            w.call(app, "POST", "/v1/alerts/alertmanager", alerts("a"), token=token).status == 200
        )


def test_the_token_never_reaches_the_log() -> None:
    """Neither a right nor a wrong token appears in a log record."""
    app = make_app()
    with w.captured_log() as records:
        w.call(app, "POST", "/v1/alerts/alertmanager", alerts("a"))
        w.call(app, "POST", "/v1/alerts/alertmanager", alerts("a"), token=w.OTHER)
    text = " ".join(r.getMessage() for r in records)
    assert w.TOKEN not in text
    assert w.OTHER not in text
    assert len(records) == 2


@pytest.mark.parametrize(
    "tokens",
    [{"nope": w.TOKEN}, {"grafana": "short"}, {"grafana": [w.TOKEN, 7]}, {"grafana": "x\n" * 10}],
)
def test_a_bad_token_configuration_is_refused_at_construction(tokens: Any) -> None:
    """An unknown scope, a short or non-text token: ``InvalidInput`` from ``create_app``."""
    with pytest.raises(InvalidInput):
        create_app(w.make_desk(), tokens=tokens)


# -- bad requests ----------------------------------------------------------------------
def test_unknown_route_is_404_and_wrong_method_405() -> None:
    """Unknown paths are 404; a known path with another method is 405 naming ``Allow``."""
    app = make_app()
    assert_problem(w.call(app, "GET", "/v1/nothing"), 404, "not-found")
    assert_problem(w.call(app, "POST", "/v1/alerts/nagios", alerts("a")), 404, "not-found")
    answer = w.call(app, "GET", "/v1/alerts/alertmanager")
    assert_problem(answer, 405, "method-not-allowed")
    assert answer.headers["Allow"] == "POST"
    assert answer.json["allow"] == ["POST"]
    assert w.call(app, "DELETE", "/v1/incidents").headers["Allow"] == "GET"


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_a_body_that_is_not_json_is_415(content_type: str | None) -> None:
    """Only ``application/json`` (or ``+json``) in UTF-8 is read."""
    desk = w.make_desk()
    answer = w.call(
        make_app(desk), "POST", "/v1/alerts/alertmanager", alerts("a"), content_type=content_type
    )
    assert_problem(answer, 415, "unsupported-media-type")
    assert stored_alerts(desk) == 0


@pytest.mark.parametrize(
    "body", [b"{", b"", b"   ", b"\xff\xfe{}", b'{"alerts": [NaN]}', b"[" * 100_000]
)
def test_malformed_json_is_400(body: bytes) -> None:
    """Broken, empty, non-UTF-8, NaN or absurdly nested JSON: 400 ``malformed-json``."""
    answer = w.run(make_app(), w.environ("POST", "/v1/alerts/alertmanager", body=body))
    assert_problem(answer, 400, "malformed-json")


def test_a_format_error_is_400_naming_the_field() -> None:
    """The format's ``FormatError`` becomes a 400 whose ``field`` is the path."""
    answer = w.call(make_app(), "POST", "/v1/alerts/alertmanager", {"alerts": [{"fp": 3}]})
    assert_problem(answer, 400, "invalid-payload", field="alerts[0].fp")


def test_an_empty_alert_list_is_400() -> None:
    """``alerts: []`` says nothing: 400 naming ``alerts``."""
    answer = w.call(make_app(), "POST", "/v1/alerts/alertmanager", {"alerts": []})
    assert_problem(answer, 400, "invalid-payload", field="alerts")


def test_ten_thousand_alerts_are_413_and_nothing_is_written() -> None:
    """Over ``max_alerts`` (1000 by default) the whole payload is refused with the limit."""
    desk = w.make_desk()
    payload = alerts(*(f"fp-{i}" for i in range(10_000)))
    answer = w.call(make_app(desk), "POST", "/v1/alerts/alertmanager", payload)
    assert_problem(answer, 413, "too-many-alerts", field="alerts")
    assert answer.json["limit"] == 1000
    assert stored_alerts(desk) == 0


def test_a_body_over_the_limit_is_413_before_it_is_read() -> None:
    """A declared length over ``max_body_bytes`` is refused without reading the body."""
    stream = io.BytesIO(b"x" * 10)
    env = w.environ("POST", "/v1/alerts/alertmanager", stream=stream, content_length="2048")
    answer = w.run(make_app(limits=Limits(max_body_bytes=1024)), env)
    assert_problem(answer, 413, "body-too-large")
    assert answer.json["limit_bytes"] == 1024
    assert stream.tell() == 0


def test_a_body_without_length_is_cut_at_the_limit() -> None:
    """With no Content-Length, reading stops one byte past the limit: 413."""
    stream = io.BytesIO(b"x" * 5000)
    env = w.environ("POST", "/v1/alerts/alertmanager", stream=stream)
    env["wsgi.input_terminated"] = True  # a chunked body the server ends
    answer = w.run(make_app(limits=Limits(max_body_bytes=1024)), env)
    assert_problem(answer, 413, "body-too-large")
    assert stream.tell() <= 1025


def test_a_body_without_length_or_end_is_not_read() -> None:
    """PEP 3333: with no Content-Length and an input the server does not end, nothing is
    read (a blocking read could wait forever): the body is empty, 400."""
    stream = io.BytesIO(b'{"alerts": []}')
    env = w.environ("POST", "/v1/alerts/alertmanager", stream=stream)
    assert_problem(w.run(make_app(), env), 400, "malformed-json")
    assert stream.tell() == 0


def test_a_slow_client_is_408() -> None:
    """A body still arriving after ``request_seconds`` is refused, nothing written."""
    desk = w.make_desk()
    data = json.dumps(alerts("a")).encode()
    env = w.environ(
        "POST",
        "/v1/alerts/alertmanager",
        stream=w.SlowInput(data, 0.1),
        content_length=str(len(data)),
    )
    answer = w.run(make_app(desk, limits=Limits(request_seconds=0.2)), env)
    assert_problem(answer, 408, "request-timeout")
    assert stored_alerts(desk) == 0


def test_an_alert_of_an_unowned_product_is_dropped_and_the_rest_received() -> None:
    """A signal whose product no team owns is reported in ``dropped``; the others are kept."""
    desk = w.make_desk()
    payload = {"alerts": [{"fp": "a"}, {"fp": "b", "product": "nobody"}]}
    answer = w.call(make_app(desk), "POST", "/v1/alerts/alertmanager", payload)
    assert answer.status == 200
    (dropped,) = answer.json["dropped"]
    assert dropped["path"] == "alerts[fingerprint=b]"
    assert "nobody" in dropped["reason"]
    assert stored_alerts(desk) == 1
    only = w.call(make_app(desk), "POST", "/v1/alerts/alertmanager", alerts("c", product="x"))
    assert only.status == 200
    assert only.json["commands"] == 0
    assert stored_alerts(desk) == 1


def test_a_command_the_desk_refuses_is_422_naming_the_field() -> None:
    """An ``InvalidInput`` from a command is 422 with its field, nothing written."""

    def refused(payload: object, mapping: object = None, **_: object) -> Decoded:
        return Decoded(commands=(ClearAlert(fingerprint="fp"), ClearAlert(fingerprint="fp")))

    desk = w.make_desk()
    app = IntakeApp(desk, tokens=w.all_tokens(), decoders={"alertmanager": refused})
    app.desk.handle = _refuse  # type: ignore[method-assign]
    answer = w.call(app, "POST", "/v1/alerts/alertmanager", alerts("a"))
    assert_problem(answer, 422, "refused", field="product")


def _refuse(command: object) -> object:
    raise InvalidInput("product", "no engineering team owns 'x'")


def test_a_busy_store_is_503_with_retry_after_and_nothing_lost() -> None:
    """While the store fails the answer is 503 + Retry-After; the re-send is then received."""
    store = w.BusyStore(w.make_desk().store)
    desk = w.make_desk(store)  # type: ignore[arg-type]
    app = make_app(desk, limits=Limits(retry_after_seconds=7))
    store.busy = True
    answer = w.call(app, "POST", "/v1/alerts/alertmanager", alerts("a"))
    assert_problem(answer, 503, "store-unavailable")
    assert answer.headers["Retry-After"] == "7"
    assert w.call(app, "GET", "/healthz", token=None).status == 503
    store.busy = False
    assert w.call(app, "POST", "/v1/alerts/alertmanager", alerts("a")).status == 200
    assert stored_alerts(desk) == 1


def test_one_log_line_per_request_and_no_traceback_for_client_errors() -> None:
    """Every request logs one record; a 4xx carries no exception information."""
    app = make_app()
    with w.captured_log() as records:
        w.call(app, "POST", "/v1/alerts/alertmanager", alerts("a"))
        w.call(app, "POST", "/v1/alerts/alertmanager", {"alerts": [{"fp": 3}]})
        w.call(app, "GET", "/nope")
        w.call(app, "POST", "/v1/alerts/alertmanager", alerts("a"), token=None)
    assert len(records) == 4
    assert all(r.exc_info is None for r in records)
    assert all(r.levelno == logging.INFO for r in records)
    assert "alerts[0].fp" in records[1].getMessage()
    assert " 401 " in records[3].getMessage()


def test_an_unexpected_error_is_500_logged_with_its_traceback() -> None:
    """A bug is a 500 problem; its traceback goes to the log, not to the client."""

    def broken(payload: object, mapping: object = None, **_: object) -> Decoded:
        raise RuntimeError("secret internals")

    app = IntakeApp(w.make_desk(), tokens=w.all_tokens(), decoders={"alertmanager": broken})
    with w.captured_log() as records:
        answer = w.call(app, "POST", "/v1/alerts/alertmanager", alerts("a"))
    assert_problem(answer, 500, "internal-error")
    assert b"secret" not in answer.body
    assert any(r.exc_info for r in records)


def test_mappings_reach_the_format() -> None:
    """The source's mapping object is passed to its ``decode``."""
    seen = []

    def decode(payload: object, mapping: object = None, **_: object) -> Decoded:
        seen.append(mapping)
        return Decoded(commands=())

    marker = object()
    app = IntakeApp(
        w.make_desk(),
        tokens=w.all_tokens(),
        mappings={"grafana": marker},
        decoders={"grafana": decode},
    )
    assert w.call(app, "POST", "/v1/alerts/grafana", {"x": 1}).status == 200
    assert seen == [marker]


def test_an_unknown_mapping_source_is_refused() -> None:
    """``mappings`` names only alert sources."""
    with pytest.raises(InvalidInput):
        create_app(w.make_desk(), tokens={}, mappings={"nagios": object()})


def test_head_answers_headers_only() -> None:
    """HEAD is not a route's method: 405, with no body."""
    answer = w.call(make_app(), "HEAD", "/healthz", token=None)
    assert answer.status == 405
    assert answer.body == b""
