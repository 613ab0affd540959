"""The alert routes with the real formats (Alertmanager, Grafana, PagerDuty, Opsgenie)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import web_support as w
from incident_lifecycle.config import ConfigError, open_app, open_desk, parse_config
from incident_lifecycle.formats import pagerduty
from incident_lifecycle.web import create_app
from test_web import assert_problem, stored_alerts
from test_web_properties import JSON as JSON_VALUES
from test_web_properties import check_answer, store_is_empty

ROUTING_KEY = "R" * 32


def am_alert(instance: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "service": "checkout", "instance": instance}
        | labels,
        "annotations": {"summary": "5xx on checkout"},
        "startsAt": "2026-06-01T08:55:00Z",
        "endsAt": "2026-06-01T09:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.invalid/graph?g0.expr=x",
        "fingerprint": f"{abs(hash(instance)):016x}"[:16],
    }


def webhook(*alerts: dict[str, Any], version: str = "4", **extra: Any) -> dict[str, Any]:
    return {
        "version": version,
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "incidents",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid",
        "alerts": list(alerts),
    } | extra


@pytest.fixture
def desk() -> Any:
    return w.make_desk()


@pytest.fixture
def app(desk: Any) -> Any:
    return create_app(desk, tokens=w.all_tokens())


def test_an_alertmanager_webhook_is_received_and_a_resend_counts_nothing(
    app: Any, desk: Any
) -> None:
    """Two firing alerts open two alerts; the same payload again changes no count."""
    payload = webhook(am_alert("pod-1"), am_alert("pod-2"))
    first = w.call(app, "POST", "/v1/alerts/alertmanager", payload)
    assert first.status == 200, first.body
    assert first.json["new_alerts"] == 2
    assert first.json["facts"]["group_key"] == '{}:{alertname="HighErrorRate"}'
    w.call(app, "POST", "/v1/alerts/alertmanager", payload)
    with desk.store.transaction() as tx:
        (incident,) = tx.incidents_detected_between(None, None)
        counts = [a.count for a in tx.alerts_of(incident.id)]
    assert counts == [1, 1]


def test_a_resolved_alert_recovers(app: Any) -> None:
    """A resolved alert in a webhook clears its alert."""
    w.call(app, "POST", "/v1/alerts/alertmanager", webhook(am_alert("pod-1")))
    answer = w.call(
        app, "POST", "/v1/alerts/alertmanager", webhook(am_alert("pod-1", status="resolved"))
    )
    assert answer.json["cleared"] == {"incident_dismissed": 1}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (webhook(am_alert("pod-1"), version="3"), "version"),
        ({"version": "4"}, "alerts"),
        (webhook(am_alert("pod-1") | {"labels": "x"}), "alerts[0].labels"),
        (webhook(am_alert("pod-1") | {"startsAt": 5}), "alerts[0].startsAt"),
    ],
)
def test_a_bad_webhook_is_400_naming_the_field(
    app: Any, desk: Any, payload: dict[str, Any], field: str
) -> None:
    """Unknown version, missing or wrong-typed fields: 400 with the path, nothing written."""
    answer = w.call(app, "POST", "/v1/alerts/alertmanager", payload)
    assert_problem(answer, 400, "invalid-payload", field=field)
    assert stored_alerts(desk) == 0


def test_an_alert_it_cannot_use_is_dropped_and_the_rest_received(app: Any, desk: Any) -> None:
    """An alert naming no product is reported in ``dropped``; the others are received."""
    nameless = am_alert("pod-9")
    del nameless["labels"]["service"]
    answer = w.call(app, "POST", "/v1/alerts/alertmanager", webhook(am_alert("pod-1"), nameless))
    assert answer.status == 200
    (dropped,) = answer.json["dropped"]
    assert dropped["path"].startswith("alerts[1]")
    assert dropped["reason"]
    assert stored_alerts(desk) == 1


def test_a_grafana_webhook_is_received(app: Any, desk: Any) -> None:
    """Grafana's variant (version 1) goes through its own route."""
    answer = w.call(app, "POST", "/v1/alerts/grafana", webhook(am_alert("pod-1"), version="1"))
    assert answer.status == 200, answer.body
    assert stored_alerts(desk) == 1


def pd_event(**changes: Any) -> dict[str, Any]:
    return {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "checkout-5xx",
        "payload": {
            "summary": "5xx on checkout",
            "source": "lb-1",
            "severity": "critical",
            "custom_details": {"service": "checkout"},
        },
    } | changes


def test_a_pagerduty_event_answers_exactly_what_its_clients_expect(desk: Any) -> None:
    """202 with status, message and dedup_key, and nothing else."""
    app = create_app(desk, tokens={"pagerduty": ROUTING_KEY})
    answer = w.call(app, "POST", "/v1/alerts/pagerduty", pd_event(), token=None)
    assert answer.status == 202, answer.body
    assert answer.json == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "checkout-5xx",
    }
    assert stored_alerts(desk) == 1


def test_a_mapping_routing_key_authenticates_a_pagerduty_client(desk: Any) -> None:
    """A routing key the mapping routes to a product is a PagerDuty client's credential."""
    mapping = pagerduty.PagerDutyMapping(routing_keys={"K" * 32: "search"})
    app = create_app(desk, tokens={}, mappings={"pagerduty": mapping})
    good = w.call(app, "POST", "/v1/alerts/pagerduty", pd_event(routing_key="K" * 32), token=None)
    assert good.status == 202, good.body
    bad = w.call(app, "POST", "/v1/alerts/pagerduty", pd_event(routing_key="X" * 32), token=None)
    assert_problem(bad, 401, "unauthorized")


def test_a_pagerduty_event_without_summary_is_400(app: Any) -> None:
    """The field path of a missing required field is named."""
    event = pd_event()
    del event["payload"]["summary"]
    answer = w.call(app, "POST", "/v1/alerts/pagerduty", event)
    assert_problem(answer, 400, "invalid-payload", field="payload.summary")


def test_mappings_come_from_the_toml_file() -> None:
    """``[mappings.alertmanager]`` builds the format's mapping; its mistakes name the key."""
    config = parse_config(
        {
            "store": {"memory": True},
            "ownership": {"checkout": "payments"},
            "tokens": {"alertmanager": w.TOKEN},
            "mappings": {
                "alertmanager": {
                    "product_labels": ["team"],
                    "products": {"pay": "checkout"},
                    "kind_rules": [{"kind": "latency", "keywords": ["slow"]}],
                }
            },
        }
    )
    desk = open_desk(config)
    app = open_app(config, desk)
    payload = webhook(am_alert("pod-1", team="pay"))
    assert w.call(app, "POST", "/v1/alerts/alertmanager", payload).status == 200
    assert stored_alerts(desk) == 1
    for table, field in [
        ({"nope": 1}, "mappings.alertmanager.nope"),
        ({"product_labels": []}, "mappings.alertmanager.product_labels"),
        ({"kind_rules": [{"kind": "bad", "keywords": ["x"]}]}, "mappings.alertmanager.kind_rules"),
    ]:
        bad = parse_config({"store": {"memory": True}, "mappings": {"alertmanager": table}})
        with pytest.raises(ConfigError) as caught:
            open_app(bad, open_desk(bad))
        assert caught.value.field == field


@given(
    payload=JSON_VALUES,
    source=st.sampled_from(["alertmanager", "grafana", "pagerduty", "opsgenie"]),
)
def test_any_json_to_a_real_format_is_received_or_refused_precisely(
    payload: object, source: str
) -> None:
    """Junk JSON to each real format's route: no 500, and a 4xx writes nothing."""
    desk = w.make_desk()
    answer = w.call(
        create_app(desk, tokens=w.all_tokens()),
        "POST",
        f"/v1/alerts/{source}",
        body=json.dumps(payload).encode(),
    )
    check_answer(answer)
    if answer.status >= 400:
        assert store_is_empty(desk)


@given(
    alert=st.fixed_dictionaries(
        {},
        optional={
            "status": st.sampled_from(["firing", "resolved"]) | st.text(max_size=5),
            "labels": st.dictionaries(
                st.sampled_from(["service", "alertname", "region", "severity"]),
                st.text(max_size=300),
                max_size=4,
            ),
            "annotations": st.dictionaries(
                st.sampled_from(["summary", "runbook_url"]), st.text(max_size=2000), max_size=2
            ),
            "startsAt": st.sampled_from(["2026-06-01T08:55:00Z", "yesterday", ""]),
            "endsAt": st.sampled_from(["0001-01-01T00:00:00Z", "2026-06-01T09:00:00Z"]),
            "fingerprint": st.text(max_size=20),
            "generatorURL": st.text(max_size=50),
        },
    )
)
def test_any_alert_in_a_webhook_is_received_dropped_or_named(alert: dict[str, Any]) -> None:
    """An Alertmanager alert of any shape: 200 (received or dropped with a reason) or a 400
    naming a field under ``alerts[0]``."""
    desk = w.make_desk()
    answer = w.call(
        create_app(desk, tokens=w.all_tokens()), "POST", "/v1/alerts/alertmanager", webhook(alert)
    )
    check_answer(answer)
    assert answer.status in {200, 400}
    if answer.status == 400:
        assert answer.json["field"].startswith("alerts[0]")
        assert store_is_empty(desk)


def og_alert(**changes: Any) -> dict[str, Any]:
    return {
        "message": "Checkout error rate above 5%",
        "alias": "checkout-5xx-" + "x" * 400,
        "priority": "P2",
        "details": {"service": "checkout"},
        "tags": ["prod"],
    } | changes


def test_opsgenie_create_and_close_by_alias(desk: Any) -> None:
    """An Opsgenie client (``GenieKey``) creates an alert, then closes it by its alias: 202s
    with Opsgenie's own answer."""
    app = create_app(desk, tokens={"opsgenie": w.TOKEN})
    genie = {"Authorization": f"GenieKey {w.TOKEN}"}
    created = w.call(app, "POST", "/v1/alerts/opsgenie", og_alert(), token=None, headers=genie)
    assert created.status == 202, created.body
    assert created.json["result"] == "Request will be processed"
    assert len(created.json["requestId"]) == 32
    assert stored_alerts(desk) == 1
    alias = og_alert()["alias"]
    closed = w.call(
        app,
        "POST",
        f"/v1/alerts/opsgenie/{alias}/close",
        {"note": "fixed"},
        query="identifierType=alias",
        token=None,
        headers=genie,
    )
    assert closed.status == 202, closed.body
    assert desk.potential_incidents() == []  # its only alert recovered: dismissed
    refused = w.call(app, "POST", f"/v1/alerts/opsgenie/{alias}/close", query="identifierType=id")
    assert_problem(refused, 400, "invalid-payload", field="identifierType")
    wrong = w.call(app, "POST", "/v1/alerts/opsgenie", og_alert(priority="P9"))
    assert_problem(wrong, 400, "invalid-payload", field="priority")
    anonymous = w.call(app, "POST", f"/v1/alerts/opsgenie/{alias}/close", token=None)
    assert_problem(anonymous, 401, "unauthorized")
