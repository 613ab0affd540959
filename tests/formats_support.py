"""Payloads for the format tests: fixtures from the vendors' documented fields, and strategies.

A plain module, imported by the ``test_formats_*`` modules. The fixtures
follow each vendor's published field list and examples (Alertmanager's
webhook version 4, Grafana's webhook contact point, PagerDuty's Events API
v2, Opsgenie's create-alert request), with values of our own. The
strategies draw valid payloads (any text, any number of alerts, optional
fields present or not) and spoil one field of a valid payload with a value
of the wrong JSON type, returning the path the ``FormatError`` must name.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from incident_lifecycle.testing import strategies as ils

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RECEIVED = T0 + timedelta(minutes=1)
OWNERSHIP = {"support": "support-eng", "chat": "chat-eng", "guide": "guide-eng"}

Json = Any
Spoiled = tuple[Json, str]
"""A payload with one field spoiled, and the path the refusal must name."""


# -- fixtures ---------------------------------------------------------------------------


def am_alert(
    name: str,
    service: str | None,
    instance: str,
    *,
    status: str = "firing",
    starts: str = "2026-03-02T08:58:26.739266876Z",
    fingerprint: str | None = None,
    severity: str = "critical",
    **labels: str,
) -> dict[str, Any]:
    """One alert as Alertmanager's webhook sends it."""
    tags = {"alertname": name, "instance": instance, "severity": severity, **labels}
    if service is not None:
        tags["service"] = service
    return {
        "status": status,
        "labels": tags,
        "annotations": {
            "summary": f"{name} on {service} ({instance})",
            "description": f"{instance} has been above its threshold for 5 minutes.",
            "runbook_url": f"https://runbooks.example.com/{service}/{name.lower()}",
        },
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-03-02T09:20:00Z",
        "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr="
        "histogram_quantile%280.99%2C+rate%28http_request_duration_seconds_bucket%5B5m%5D%29%29"
        "+%3E+2&g0.tab=1",
        "fingerprint": fingerprint
        or hashlib.sha256(f"{name}|{service}|{instance}".encode()).hexdigest()[:16],
    }


def am_payload(*alerts: dict[str, Any], truncated: int = 0, **envelope: Any) -> dict[str, Any]:
    """A version-4 webhook payload holding ``alerts`` (one group)."""
    statuses = {a["status"] for a in alerts}
    return {
        "receiver": "incident-lifecycle",
        "status": "firing" if "firing" in statuses else "resolved",
        "alerts": list(alerts),
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]} if alerts else {},
        "commonLabels": {"severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.com:9093",
        "version": "4",
        "groupKey": '{}/{severity="critical"}:{alertname="SupportLatencyHigh"}',
        "truncatedAlerts": truncated,
        **envelope,
    }


def grafana_payload(*alerts: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    """Grafana's webhook: Alertmanager's envelope at version 1, with Grafana's fields."""
    out = am_payload(*alerts, **envelope)
    out |= {
        "version": "1",
        "orgId": 1,
        "title": "[FIRING:1] SupportLatencyHigh",
        "state": "alerting",
        "message": "**Firing**\n\nValue: B=2.31",
    }
    for alert in out["alerts"]:
        alert |= {
            "silenceURL": "https://grafana.example.com/alerting/silence/new?matchers=alertname%3D"
            + alert["labels"]["alertname"],
            "dashboardURL": "https://grafana.example.com/d/support-api",
            "panelURL": "https://grafana.example.com/d/support-api?viewPanel=4",
            "values": {"B": 2.31, "C": 1},
            "valueString": "[ var='B' labels={service=support} value=2.31 ]",
        }
    return out


def pd_event(action: str = "trigger", **changes: Any) -> dict[str, Any]:
    """A PagerDuty Events API v2 event, all documented fields set."""
    event: dict[str, Any] = {
        "routing_key": "R0UT1NGKEY0000000000000000000001",
        "event_action": action,
        "dedup_key": "support/views-api/latency",
        "payload": {
            "summary": "p99 latency of the views API above 2 s",
            "timestamp": "2026-03-02T08:59:00.000+0000",
            "source": "views-api-07.pod17.example.com",
            "severity": "error",
            "component": "views-api",
            "group": "support",
            "class": "high latency",
            "custom_details": {"p99 ms": 2310, "pod": "pod17", "threshold ms": 2000},
        },
        "images": [
            {
                "src": "https://grafana.example.com/render/d/support-api.png",
                "href": "https://grafana.example.com/d/support-api",
                "alt": "p99 latency",
            }
        ],
        "links": [{"href": "https://runbooks.example.com/support/latency", "text": "Runbook"}],
        "client": "Prometheus",
        "client_url": "http://prometheus.example.com:9090",
    }
    if action != "trigger":
        event = {k: event[k] for k in ("routing_key", "event_action", "dedup_key")}
    return event | changes


def og_alert(**changes: Any) -> dict[str, Any]:
    """An Opsgenie create-alert request, all documented fields set."""
    return {
        "message": "Support views API latency above 2 s in pod17",
        "alias": "support-views-api-latency-pod17",
        "description": "p99 latency of the views API has been above 2 s for 5 minutes.",
        "responders": [{"name": "support-eng", "type": "team"}],
        "visibleTo": [{"name": "incident-managers", "type": "team"}],
        "actions": ["Restart", "Scale out"],
        "tags": ["latency", "pod17"],
        "details": {"product": "support", "region": "pod17", "p99": "2.31s"},
        "entity": "views-api",
        "source": "prometheus",
        "priority": "P2",
        "user": "monitoring",
        "note": "Opened by the NOC's rules.",
    } | changes


# -- valid payloads ---------------------------------------------------------------------

ANY_TEXT = st.text(max_size=40)
SOME_TEXT = st.text(min_size=1, max_size=40)
TIMES = ils.aware_datetimes().map(lambda t: t.isoformat())
LABELS = st.dictionaries(st.text(max_size=20), ANY_TEXT, max_size=6)
PRODUCTS = st.sampled_from([*OWNERSHIP, "billing"]) | ils.identifiers(max_size=20)


@st.composite
def am_alerts(draw: st.DrawFn) -> dict[str, Any]:
    """Any alert Alertmanager could send: any labels and annotations, firing or resolved."""
    labels = draw(LABELS)
    if draw(st.booleans()):
        labels["service"] = draw(PRODUCTS)
    alert: dict[str, Any] = {
        "status": draw(st.sampled_from(["firing", "resolved"])),
        "labels": labels,
        "annotations": draw(st.dictionaries(st.text(max_size=20), ANY_TEXT, max_size=4)),
        "startsAt": draw(TIMES | st.just("0001-01-01T00:00:00Z")),
        "endsAt": draw(TIMES | st.just("0001-01-01T00:00:00Z")),
        "generatorURL": draw(ANY_TEXT | ils.urls()),
    }
    if draw(st.booleans()):
        alert["fingerprint"] = draw(st.text(max_size=300))
    return alert


@st.composite
def am_payloads(draw: st.DrawFn, version: str = "4") -> dict[str, Any]:
    """Any version-4 (or ``version``) webhook payload: 1 to 8 alerts, optional fields or not."""
    payload: dict[str, Any] = {
        "version": version,
        "alerts": draw(st.lists(am_alerts(), min_size=1, max_size=8)),
    }
    optional = {
        "receiver": ANY_TEXT,
        "status": st.sampled_from(["firing", "resolved"]),
        "groupLabels": LABELS,
        "commonLabels": LABELS,
        "commonAnnotations": LABELS,
        "externalURL": ANY_TEXT,
        "groupKey": st.text(max_size=1_200),
        "truncatedAlerts": st.integers(0, 10_000),
    }
    for key, values in optional.items():
        if draw(st.booleans()):
            payload[key] = draw(values | st.none())
    return payload


def _drop_none(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None}


@st.composite
def pd_events(draw: st.DrawFn) -> dict[str, Any]:
    """Any PagerDuty event: trigger (all fields valid, optional ones or not), ack or resolve."""
    action = draw(st.sampled_from(["trigger", "trigger", "acknowledge", "resolve"]))
    event: dict[str, Any] = {
        "routing_key": draw(SOME_TEXT.filter(str.strip)),
        "event_action": action,
    }
    key = draw(st.none() | st.text(min_size=1, max_size=300))
    if key is not None or action != "trigger":
        event["dedup_key"] = key or "k"
    if action != "trigger":
        return event
    details = st.dictionaries(
        st.text(max_size=20), st.integers() | ANY_TEXT | st.booleans() | st.none()
    )
    event["payload"] = _drop_none(
        {
            "summary": draw(st.text(min_size=1, max_size=1_024).filter(str.strip)),
            "source": draw(ANY_TEXT),
            "severity": draw(st.sampled_from(["critical", "error", "warning", "info"])),
            "timestamp": draw(st.none() | TIMES),
            "component": draw(st.none() | ANY_TEXT),
            "group": draw(st.none() | PRODUCTS),
            "class": draw(st.none() | ANY_TEXT),
            "custom_details": draw(st.none() | details),
        }
    )
    links = st.lists(
        st.fixed_dictionaries({"href": ils.urls() | ANY_TEXT}, optional={"text": ANY_TEXT}),
        max_size=3,
    )
    if draw(st.booleans()):
        event["links"] = draw(links)
    if draw(st.booleans()):
        event["client_url"] = draw(ils.urls() | ANY_TEXT)
    return event


@st.composite
def og_alerts(draw: st.DrawFn) -> dict[str, Any]:
    """Any Opsgenie create-alert body within Opsgenie's limits."""
    body: dict[str, Any] = {"message": draw(st.text(min_size=1, max_size=130).filter(str.strip))}
    optional = {
        "alias": st.text(max_size=512),
        "description": st.text(max_size=300),
        "tags": st.lists(st.text(max_size=50), max_size=5),
        "details": st.dictionaries(st.text(max_size=20), ANY_TEXT, max_size=5)
        | st.fixed_dictionaries({"product": PRODUCTS}),
        "entity": ANY_TEXT,
        "source": st.text(max_size=100),
        "priority": st.sampled_from(["P1", "P2", "P3", "P4", "P5"]),
        "user": st.text(max_size=100),
        "note": ANY_TEXT,
        "responders": st.lists(st.fixed_dictionaries({"name": ANY_TEXT, "type": st.just("team")})),
        "actions": st.lists(ANY_TEXT, max_size=3),
    }
    for key, values in optional.items():
        if draw(st.booleans()):
            body[key] = draw(values | st.none())
    return body


# -- spoiled payloads -------------------------------------------------------------------

NOT_A_STRING = st.sampled_from([5, 2.5, True, [], {}, ["x"], {"a": "b"}])
NOT_AN_OBJECT = st.sampled_from([5, "x", True, [], ["x"]])
NOT_A_LIST = st.sampled_from([5, "x", True, {}, {"a": 1}])
NOT_A_TIME = st.sampled_from(["yesterday", "2026-03-02T09:00:00", "2026-13-02T09:00:00Z", "", 5])

Path = tuple[str | int, ...]
Spoiler = Callable[[st.DrawFn, Json], tuple[Path, object, Path]]
"""Draws where to spoil a valid payload: ``(path to set, bad value, path the error names)``."""


def spoil(payload: Json, path: Path, value: object) -> Json:
    """A deep copy of ``payload`` with the value at ``path`` replaced (``()``: the payload)."""
    if not path:
        return value
    out = copy.deepcopy(payload)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def dotted(path: Path) -> str:
    """``("alerts", 3, "labels")`` as ``alerts[3].labels``; ``()`` as ``$``."""
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else key)
    return out or "$"


def at(path: Path, bad: st.SearchStrategy[object]) -> Spoiler:
    """Spoil the value at a fixed ``path`` (which must exist, or be a key to add)."""
    return lambda draw, _payload: (path, draw(bad), path)


def each(container: Path, inner: Path, bad: st.SearchStrategy[object]) -> Spoiler:
    """Spoil ``inner`` of one item of the list at ``container`` (``inner=()``: the item)."""

    def spoiler(draw: st.DrawFn, payload: Json) -> tuple[Path, object, Path]:
        items = payload
        for key in container:
            items = items[key]
        index = draw(st.integers(0, len(items) - 1))
        path = (*container, index, *inner)
        return path, draw(bad), path

    return spoiler


@st.composite
def spoiled(draw: st.DrawFn, valid: st.SearchStrategy[Json], spoilers: list[Spoiler]) -> Spoiled:
    """A valid payload with one field spoiled by one of ``spoilers``, and the path to name."""
    payload = draw(valid)
    spoiler = draw(st.sampled_from(spoilers))
    path, value, named = spoiler(draw, payload)
    return spoil(payload, path, value), dotted(named)


AM_SPOILERS: list[Spoiler] = [
    at((), NOT_AN_OBJECT),
    at(("version",), st.sampled_from(["3", 4, None, "1", "v4"])),
    at(("alerts",), NOT_A_LIST | st.just([]) | st.none()),
    each(("alerts",), (), NOT_AN_OBJECT | st.none()),
    each(("alerts",), ("status",), st.sampled_from(["pending", "", 5, None])),
    each(("alerts",), ("labels",), NOT_AN_OBJECT),
    each(("alerts",), ("labels", "spoilt"), NOT_A_STRING | st.none()),
    each(("alerts",), ("annotations",), NOT_AN_OBJECT),
    each(("alerts",), ("annotations", "summary"), NOT_A_STRING),
    each(("alerts",), ("startsAt",), NOT_A_TIME),
    each(("alerts",), ("endsAt",), NOT_A_TIME),
    each(("alerts",), ("generatorURL",), NOT_A_STRING),
    each(("alerts",), ("fingerprint",), NOT_A_STRING),
    at(("truncatedAlerts",), st.sampled_from([-1, "3", 2.5, True, []])),
    at(("status",), st.sampled_from(["pending", 5, []])),
    at(("groupKey",), NOT_A_STRING),
    at(("receiver",), NOT_A_STRING),
    at(("externalURL",), NOT_A_STRING),
    at(("groupLabels",), NOT_AN_OBJECT),
    at(("commonLabels",), NOT_AN_OBJECT),
    at(("commonAnnotations",), NOT_AN_OBJECT),
]
"""Every way an Alertmanager payload can fail to be one, by the field at fault."""
GRAFANA_SPOILERS: list[Spoiler] = [
    at(("version",), st.sampled_from(["4", 1, None, "v1"])),
    *AM_SPOILERS[2:],
    AM_SPOILERS[0],
]
"""Alertmanager's, with Grafana's version."""


def _trigger_only(spoiler: Spoiler) -> Spoiler:
    """``spoiler`` on a trigger; on another event, a bad ``event_action`` instead."""

    def pick(draw: st.DrawFn, payload: Json) -> tuple[Path, object, Path]:
        if payload.get("event_action") == "trigger":
            return spoiler(draw, payload)
        return ("event_action",), "create", ("event_action",)

    return pick


def _listed(
    field: str, entry: dict[str, Any], inner: Path, bad: st.SearchStrategy[object]
) -> Spoiler:
    """Spoil ``inner`` of the first item of a list ``field`` holding one valid ``entry``."""

    def pick(draw: st.DrawFn, _payload: Json) -> tuple[Path, object, Path]:
        spoilt = spoil(entry, inner, draw(bad)) if inner else draw(bad)
        return (field,), [spoilt], (field, 0, *inner)

    return pick


PD_SPOILERS: list[Spoiler] = [
    at((), NOT_AN_OBJECT),
    at(("routing_key",), NOT_A_STRING | st.none() | st.just("  ")),
    at(("event_action",), st.sampled_from(["create", "Trigger", 5, None])),
    at(("dedup_key",), NOT_A_STRING),
    _trigger_only(at(("payload",), NOT_AN_OBJECT | st.none())),
    _trigger_only(
        at(("payload", "summary"), NOT_A_STRING | st.sampled_from([None, " ", "x" * 1_025]))
    ),
    _trigger_only(at(("payload", "source"), NOT_A_STRING | st.none())),
    _trigger_only(at(("payload", "severity"), st.sampled_from(["fatal", "CRITICAL", 5, None]))),
    _trigger_only(at(("payload", "timestamp"), NOT_A_TIME)),
    _trigger_only(at(("payload", "component"), NOT_A_STRING)),
    _trigger_only(at(("payload", "group"), NOT_A_STRING)),
    _trigger_only(at(("payload", "class"), NOT_A_STRING)),
    _trigger_only(at(("payload", "custom_details"), NOT_AN_OBJECT)),
    _trigger_only(at(("links",), NOT_A_LIST)),
    _trigger_only(_listed("links", {"href": "https://x.example.com"}, (), NOT_AN_OBJECT)),
    _trigger_only(
        _listed("links", {"href": "https://x.example.com"}, ("href",), NOT_A_STRING | st.none())
    ),
    _trigger_only(_listed("links", {"href": "https://x.example.com"}, ("text",), NOT_A_STRING)),
    _trigger_only(at(("images",), NOT_A_LIST)),
    _trigger_only(
        _listed("images", {"src": "https://x.example.com/i.png"}, ("src",), NOT_A_STRING)
    ),
    _trigger_only(at(("client_url",), NOT_A_STRING)),
]
"""Every way a PagerDuty event can fail to be one, by the field at fault."""

OG_SPOILERS: list[Spoiler] = [
    at((), NOT_AN_OBJECT),
    at(("message",), NOT_A_STRING | st.sampled_from([None, "", " ", "x" * 1_025])),
    at(("alias",), NOT_A_STRING | st.just("x" * 513)),
    at(("description",), NOT_A_STRING | st.just("x" * 15_001)),
    at(("priority",), st.sampled_from(["P0", "p1", "P6", "high", 1])),
    at(("tags",), NOT_A_LIST),
    lambda draw, _p: (("tags",), ["ok", draw(NOT_A_STRING)], ("tags", 1)),
    at(("details",), NOT_AN_OBJECT),
    lambda draw, _p: (
        ("details",),
        {"product": "support", "spoilt": draw(NOT_A_STRING)},
        ("details", "spoilt"),
    ),
    at(("entity",), NOT_A_STRING | st.just("x" * 513)),
    at(("source",), NOT_A_STRING | st.just("x" * 101)),
    at(("user",), NOT_A_STRING | st.just("x" * 101)),
    at(("note",), NOT_A_STRING | st.just("x" * 25_001)),
    at(("responders",), NOT_A_LIST),
    at(("visibleTo",), NOT_A_LIST),
    at(("actions",), NOT_A_LIST),
]
"""Every way an Opsgenie create-alert body can fail to be one, by the field at fault."""
