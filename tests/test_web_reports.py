"""``POST /v1/reports`` and the incident reads, through the WSGI app in-process."""

from __future__ import annotations

from typing import Any

import pytest

import web_support as w
from incident_lifecycle import AlertSignal
from incident_lifecycle.web import create_app
from test_web import assert_problem


def report(ticket: str = "ZD-1", **changes: Any) -> dict[str, Any]:
    body = {
        "ticket_id": ticket,
        "account_id": "ACME",
        "product": "checkout",
        "symptom": "errors",
        "summary": "Payments fail at the last step",
        "reported_at": "2026-06-01T09:00:00+00:00",
    }
    return {k: v for k, v in (body | changes).items() if v is not ...}


@pytest.fixture
def desk() -> Any:
    return w.make_desk()


@pytest.fixture
def app(desk: Any) -> Any:
    return create_app(desk, tokens=w.all_tokens())


def open_incident(desk: Any) -> str:
    receipt = desk.receive_alert(
        AlertSignal(
            fingerprint="fp-1",
            product="checkout",
            kind="error_rate",
            summary="5xx on checkout",
            observed_at=w.T0,
        )
    )
    desk.validate_incident(receipt.incident_id, w.ENGINEER, "SEV2")
    return str(receipt.incident_id)


def test_a_report_is_triaged_and_answered_with_the_decision(app: Any, desk: Any) -> None:
    """A new ticket on an open incident's product is linked: 201 with the decision."""
    incident_id = open_incident(desk)
    answer = w.call(app, "POST", "/v1/reports", report())
    assert answer.status == 201, answer.body
    body = answer.json
    assert body["applied"] is True
    assert body["decision"]["outcome"] == "link_existing"
    assert body["incident_id"] == incident_id
    assert body["report"]["type"] == "report"
    assert body["report"]["status"] == "linked"
    assert desk.linked_tickets(incident_id) == ["ZD-1"]


def test_a_report_sent_again_is_200_and_changes_nothing(app: Any, desk: Any) -> None:
    """Triage is idempotent per ticket: the re-send answers 200, ``applied`` false."""
    open_incident(desk)
    w.call(app, "POST", "/v1/reports", report())
    again = w.call(app, "POST", "/v1/reports", report())
    assert again.status == 200
    assert again.json["applied"] is False


def test_suggest_only_assesses(app: Any, desk: Any) -> None:
    """``?suggest=1`` answers the policy's suggestion and stores nothing."""
    open_incident(desk)
    answer = w.call(app, "POST", "/v1/reports", report(), query="suggest=1")
    assert answer.status == 200
    assert answer.json["suggestion"] is True
    assert answer.json["outcome"] == "link_existing"
    assert answer.json["reasons"]
    assert desk.report("ZD-1") is None


def test_a_report_without_incident_goes_to_troubleshooting(app: Any) -> None:
    """No matching incident and no surge: troubleshooting, no incident."""
    answer = w.call(app, "POST", "/v1/reports", report())
    assert answer.status == 201
    assert answer.json["decision"]["outcome"] == "troubleshoot"
    assert answer.json["incident_id"] is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ticket_id": ...}, "ticket_id"),
        ({"ticket_id": None}, "ticket_id"),
        ({"summary": 42}, "summary"),
        ({"symptom": "sad"}, "symptom"),
        ({"reported_at": "yesterday"}, "reported_at"),
        ({"reported_at": "2026-06-01T09:00:00"}, "reported_at"),
        ({"locale": "not a locale"}, "locale"),
        ({"surprise": 1}, "surprise"),
        ({"ticket_id": "x" * 500}, "ticket_id"),
    ],
)
def test_a_bad_report_is_400_naming_the_field(
    app: Any, desk: Any, changes: dict[str, Any], field: str
) -> None:
    """A missing, null, wrong-typed, invalid or unknown field: 400 naming it, nothing stored."""
    answer = w.call(app, "POST", "/v1/reports", report(**changes))
    assert_problem(answer, 400, "invalid-payload", field=field)
    assert desk.report("ZD-1") is None


def test_a_report_that_is_not_an_object_is_400(app: Any) -> None:
    """An array body is refused."""
    assert_problem(w.call(app, "POST", "/v1/reports", [1]), 400, "invalid-payload")


@pytest.mark.parametrize("query", ["suggest=maybe", "suggest=1&suggest=0", "verbose=1"])
def test_a_bad_query_is_400(app: Any, query: str) -> None:
    """Unknown, repeated or meaningless query parameters are refused."""
    assert_problem(w.call(app, "POST", "/v1/reports", report(), query=query), 400, "invalid-query")


def test_reports_use_the_reporter_actor(desk: Any) -> None:
    """The configured reporter must be allowed to triage: an engineer is not (403)."""
    app = create_app(desk, tokens=w.all_tokens(), reporter=w.ENGINEER)
    assert_problem(w.call(app, "POST", "/v1/reports", report()), 403, "not-permitted")


# -- incidents ---------------------------------------------------------------------------
def test_incidents_are_listed_with_filters(app: Any, desk: Any) -> None:
    """``GET /v1/incidents`` lists incidents; ``status`` and ``product`` filter them."""
    incident_id = open_incident(desk)
    desk.receive_alert(
        AlertSignal(
            fingerprint="fp-2", product="search", kind="latency", summary="slow", observed_at=w.T0
        )
    )
    everything = w.call(app, "GET", "/v1/incidents").json
    assert everything["count"] == 2
    assert everything["truncated"] is False
    opened = w.call(app, "GET", "/v1/incidents", query="status=investigating").json
    assert [i["id"] for i in opened["incidents"]] == [incident_id]
    search = w.call(app, "GET", "/v1/incidents", query="product=search").json
    assert [i["products"] for i in search["incidents"]] == [["search"]]
    both = w.call(app, "GET", "/v1/incidents", query="status=detected,investigating").json
    assert both["count"] == 2
    none = w.call(app, "GET", "/v1/incidents", query="status=closed").json
    assert none["count"] == 0
    one = w.call(app, "GET", "/v1/incidents", query="limit=1").json
    assert one["count"] == 1
    assert one["truncated"] is True


@pytest.mark.parametrize("query", ["status=burning", "limit=0", "limit=x", "limit=100000"])
def test_a_bad_listing_query_is_400(app: Any, query: str) -> None:
    """An unknown status or a limit out of range is refused, naming the parameter."""
    answer = w.call(app, "GET", "/v1/incidents", query=query)
    assert_problem(answer, 400, "invalid-query", field=query.split("=")[0])


def test_one_incident_comes_with_its_timeline_and_tickets(app: Any, desk: Any) -> None:
    """``GET /v1/incidents/{id}`` holds the incident, alerts, tickets, updates and timeline."""
    incident_id = open_incident(desk)
    w.call(app, "POST", "/v1/reports", report())
    body = w.call(app, "GET", f"/v1/incidents/{incident_id}").json
    assert body["incident"]["id"] == incident_id
    assert body["linked_tickets"] == ["ZD-1"]
    assert [a["fingerprint"] for a in body["alerts"]] == ["fp-1"]
    names = [e["type"] for e in body["timeline"]]
    assert names[0] == "event:IncidentDetected"
    assert "event:TicketLinked" in names
    assert body["updates"] == []


@pytest.mark.parametrize("incident_id", ["INC-404", "x" * 300, "bad id"])
def test_an_unknown_incident_is_404(app: Any, incident_id: str) -> None:
    """An id that names no incident (or cannot) is 404."""
    assert_problem(w.call(app, "GET", f"/v1/incidents/{incident_id}"), 404, "not-found")
