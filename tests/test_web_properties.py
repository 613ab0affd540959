"""Property tests: junk of every kind, sent to the WSGI app in-process, gets a precise answer.

Whatever the method, path, headers, query and body, the app answers with a
well-formed status; every error is a problem document with a known type; no
junk is ever a 500; and a refused request writes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import web_support as w
from incident_lifecycle.web import PROBLEM_TYPES, problem_type
from incident_lifecycle.web.wire import REPORT_FIELDS
from test_web import make_app

KNOWN_TYPES = {problem_type(name): status for name, (status, _title) in PROBLEM_TYPES.items()}
PATHS = st.sampled_from(
    [
        "/healthz",
        "/v1/reports",
        "/v1/incidents",
        "/v1/incidents/INC-1",
        "/v1/alerts/alertmanager",
        "/v1/alerts/grafana",
        "/v1/alerts/pagerduty",
        "/v1/alerts/opsgenie",
        "/v1/alerts/",
        "/",
        "",
    ]
) | st.text(max_size=40).map(lambda t: "/" + t)
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]) | st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8
)
CONTENT_TYPES = (
    st.none()
    | st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "text/plain", "application/x+json"]
    )
    | st.text(max_size=30)
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
BODIES = st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode())
TOKENS = st.none() | st.just(w.TOKEN) | st.just(w.OTHER) | st.text(max_size=40)
QUERIES = st.text(max_size=40) | st.sampled_from(["suggest=1", "status=open", "limit=5", "x=1&x=2"])


def check_answer(answer: w.Answer, method: str = "POST") -> None:
    """The answer is well formed, and an error is a known problem document."""
    assert 200 <= answer.status < 600
    assert answer.status != 500, answer.body
    if method == "HEAD":
        assert answer.body == b""
    elif answer.status >= 400:
        assert answer.content_type == "application/problem+json"
        doc = answer.json
        assert KNOWN_TYPES[doc["type"]] == doc["status"] == answer.status
        assert isinstance(doc["title"], str)
        assert isinstance(doc["detail"], str)
        assert "field" not in doc or isinstance(doc["field"], str)
    elif answer.body:
        json.loads(answer.body)


def store_is_empty(desk: Any) -> bool:
    with desk.store.transaction() as tx:
        return not tx.incidents_detected_between(None, None) and tx.outbox_stats().pending == 0


@given(
    method=METHODS,
    path=PATHS,
    body=BODIES,
    content_type=CONTENT_TYPES,
    token=TOKENS,
    query=QUERIES,
)
def test_any_request_gets_a_precise_answer(
    method: str, path: str, body: bytes, content_type: str | None, token: str | None, query: str
) -> None:
    """Any method, path, body, content type, token and query: no 500, errors are problems,
    and a refused request leaves the store untouched."""
    desk = w.make_desk()
    env = w.environ(method, path, body=body, content_type=content_type, token=token, query=query)
    answer = w.run(make_app(desk), env)
    check_answer(answer, method)
    if answer.status >= 400:
        assert store_is_empty(desk)


@given(payload=JSON, source=st.sampled_from(["alertmanager", "grafana", "pagerduty", "opsgenie"]))
def test_any_json_to_an_alert_route_is_answered(payload: object, source: str) -> None:
    """Any JSON value posted to a webhook route is received or refused precisely."""
    answer = w.call(make_app(), "POST", f"/v1/alerts/{source}", body=json.dumps(payload).encode())
    check_answer(answer)


REPORT_VALUES = st.none() | st.text(max_size=30) | st.integers() | st.just("2026-06-01T09:00:00Z")


@given(
    fields=st.dictionaries(
        st.sampled_from([*REPORT_FIELDS, "extra"]), REPORT_VALUES, max_size=len(REPORT_FIELDS) + 1
    )
)
def test_any_report_is_triaged_or_refused_naming_a_field(fields: dict[str, Any]) -> None:
    """A report with any fields is triaged (201) or refused with 400 naming one field."""
    desk = w.make_desk()
    answer = w.call(make_app(desk), "POST", "/v1/reports", fields)
    check_answer(answer)
    assert answer.status in {201, 400}
    if answer.status == 400:
        assert answer.json["field"] in {*REPORT_FIELDS, "extra"}
        assert store_is_empty(desk)
