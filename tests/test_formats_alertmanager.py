"""The Alertmanager webhook format: exact signals, occurrences through a desk, refusals by path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import desk_support as support
import formats_support as fx
from incident_lifecycle import AlertKind, InvalidInput
from incident_lifecycle.commands import ClearAlerts, ClearOutcome, ReceiveAlerts
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.domain.severity import DEFAULT_SCALE
from incident_lifecycle.formats import Decoded, FormatError, KindRule
from incident_lifecycle.formats.alertmanager import AlertmanagerMapping, decode
from incident_lifecycle.formats.fields import HASH_PREFIX
from incident_lifecycle.ports import Store

store_factory = support.store_factory
store = support.store
clock = support.clock
notifier = support.notifier
desk = support.desk

T0 = fx.T0
LATENCY = fx.am_alert("SupportLatencyHigh", "support", "app07:9100", pod="pod17")
ERRORS = fx.am_alert("SupportErrorRate", "support", "app08:9100", pod="pod17", severity="warning")
CHAT = fx.am_alert("ChatQueueBacklog", "chat", "chat01:9100", region="eu-1", severity="info")
GONE = fx.am_alert("GuideSlow", "guide", "guide01:9100", status="resolved")


def signals_of(decoded: Decoded) -> list[Any]:
    return [s for c in decoded.commands if isinstance(c, ReceiveAlerts) for s in c.signals]


def cleared_of(decoded: Decoded) -> list[str]:
    return [fp for c in decoded.commands if isinstance(c, ClearAlerts) for fp in c.fingerprints]


# -- what a payload becomes ---------------------------------------------------------------


def test_a_webhook_becomes_signals_and_clears() -> None:
    """Firing alerts become one batch of signals, resolved ones one batch of clears."""
    decoded = decode(fx.am_payload(LATENCY, ERRORS, CHAT, GONE), received_at=fx.RECEIVED)
    assert [type(c) for c in decoded.commands] == [ReceiveAlerts, ClearAlerts]
    assert cleared_of(decoded) == [GONE["fingerprint"]]
    latency, errors, chat = signals_of(decoded)
    assert (latency.product, latency.region, latency.kind) == ("support", "pod17", "latency")
    assert (errors.kind, errors.severity_hint) == (AlertKind.ERROR_RATE, "SEV3")
    assert (chat.product, chat.region, chat.kind, chat.severity_hint) == (
        "chat",
        "eu-1",
        AlertKind.VOLUME,
        "SEV4",
    )
    assert latency.fingerprint == LATENCY["fingerprint"]
    assert latency.summary == "SupportLatencyHigh on support (app07:9100)"
    assert latency.description == "app07:9100 has been above its threshold for 5 minutes."
    assert latency.started_at == datetime(2026, 3, 2, 8, 58, 26, 739266, tzinfo=UTC)
    assert latency.observed_at == fx.RECEIVED
    assert latency.severity_hint == "SEV1"
    assert dict(latency.links) == {
        "generator": LATENCY["generatorURL"],
        "runbook": "https://runbooks.example.com/support/supportlatencyhigh",
    }
    assert dict(latency.labels) == LATENCY["labels"]
    assert latency.source_group == '{}/{severity="critical"}:{alertname="SupportLatencyHigh"}'
    assert decoded.dropped == ()
    assert decoded.facts == {
        "source": "alertmanager",
        "version": "4",
        "status": "firing",
        "receiver": "incident-lifecycle",
        "group_key": '{}/{severity="critical"}:{alertname="SupportLatencyHigh"}',
        "external_url": "http://alertmanager.example.com:9093",
        "alerts": 4,
        "firing": 3,
        "resolved": 1,
        "truncated_alerts": 0,
    }


def test_the_alert_start_is_the_observed_time_without_received_at() -> None:
    """Without ``received_at``, a signal is observed at its alert's ``startsAt``."""
    (signal,) = signals_of(decode(fx.am_payload(LATENCY)))
    assert signal.observed_at == signal.started_at


def test_a_document_example_decodes() -> None:
    """The shape of Alertmanager's documented sample (an alert without a service) decodes."""
    sample = fx.am_payload(fx.am_alert("ProbeFailure", None, "https://server.example.org"))
    decoded = decode(sample, AlertmanagerMapping(default_product="guide"))
    (signal,) = signals_of(decoded)
    assert (signal.product, signal.kind) == ("guide", AlertKind.ERROR_RATE)  # "Failure"


def test_truncated_alerts_are_reported_never_ignored() -> None:
    """``truncatedAlerts`` above zero is in ``dropped`` and ``facts``; the rest is decoded."""
    decoded = decode(fx.am_payload(LATENCY, truncated=7))
    assert len(signals_of(decoded)) == 1
    assert [d.path for d in decoded.dropped] == ["truncatedAlerts"]
    assert "left out 7 alert(s)" in decoded.dropped[0].reason
    assert decoded.facts["truncated_alerts"] == 7


def test_an_alert_over_a_limit_is_dropped_and_the_rest_decoded() -> None:
    """A summary over 1,024 characters or a product over 128 drops that alert, by path."""
    wordy = fx.am_alert("Wordy", "support", "w1")
    wordy["annotations"]["summary"] = "x" * 1_025
    odd = fx.am_alert("Odd", "p" * 129, "o1")
    decoded = decode(fx.am_payload(wordy, LATENCY, odd))
    assert [s.fingerprint for s in signals_of(decoded)] == [LATENCY["fingerprint"]]
    assert [(d.path, d.reason.split(":")[0]) for d in decoded.dropped] == [
        ("alerts[0].annotations.summary", "alert dropped"),
        ("alerts[2].labels.service", "alert dropped"),
    ]
    assert "limit is 1024" in decoded.dropped[0].reason


def test_what_an_alert_cannot_keep_is_reported_and_the_alert_kept() -> None:
    """A label value over 255 characters and a link that is not a URL are left out, reported."""
    alert = fx.am_alert("SupportLatencyHigh", "support", "app07", query="q" * 300)
    alert["annotations"]["description"] = "d" * 15_001
    alert["generatorURL"] = "prometheus:9090/graph"
    url = "https://runbooks.example.com/" + "r" * 1_800  # longer than any label: kept whole
    alert["annotations"]["runbook_url"] = url
    decoded = decode(fx.am_payload(alert))
    (signal,) = signals_of(decoded)
    assert "query" not in signal.labels
    assert signal.description is None
    assert dict(signal.links) == {"runbook": url}
    assert [d.path for d in decoded.dropped] == [
        "alerts[0].annotations.description",
        "alerts[0].labels.query",
        "alerts[0].generatorURL",
    ]
    assert all("not kept" in d.reason for d in decoded.dropped)


def test_an_alert_without_a_product_is_dropped_unless_a_default_names_one() -> None:
    """No product label: dropped, naming the first product label; a default product takes it."""
    orphan = fx.am_alert("DiskFull", None, "db1")
    decoded = decode(fx.am_payload(orphan, LATENCY))
    assert [(d.path, d.reason) for d in decoded.dropped] == [
        ("alerts[0].labels.product", "alert dropped: no product label (product, service) is set")
    ]
    decoded = decode(fx.am_payload(orphan), AlertmanagerMapping(default_product="support"))
    assert [s.product for s in signals_of(decoded)] == ["support"]


def test_a_long_fingerprint_is_hashed_and_the_same_key_gives_the_same_hash() -> None:
    """A fingerprint over 255 characters is ``sha256:`` of it, the same on every delivery."""
    alert = fx.am_alert("SupportLatencyHigh", "support", "a1", fingerprint="f" * 300)
    first = signals_of(decode(fx.am_payload(alert)))[0].fingerprint
    assert first == signals_of(decode(fx.am_payload(alert)))[0].fingerprint
    assert first.startswith(HASH_PREFIX)
    assert len(first) == 71


def test_an_alert_without_a_fingerprint_is_known_by_its_labels() -> None:
    """Older senders send no fingerprint: the label set gives one, stable across deliveries."""
    alert = fx.am_alert("SupportLatencyHigh", "support", "a1")
    del alert["fingerprint"]
    moved = dict(alert, labels=dict(reversed(list(alert["labels"].items()))))
    one, two = signals_of(decode(fx.am_payload(alert))), signals_of(decode(fx.am_payload(moved)))
    assert one[0].fingerprint == two[0].fingerprint
    assert one[0].fingerprint.startswith(HASH_PREFIX)


# -- the mapping --------------------------------------------------------------------------


def test_a_mapping_of_your_own_labels() -> None:
    """Your labels name the product (renamed), region, kind and severity; keep_labels filters."""
    alert = fx.am_alert(
        "Anything", None, "x1", app="support-api", dc="fra1", signal="volume", prio="P1"
    )
    mapping = AlertmanagerMapping(
        product_labels=["app"],
        products={"support-api": "support"},
        region_labels=["dc"],
        kind_label="signal",
        severity_label="prio",
        severities={"P1": "SEV0"},
        keep_labels=["app", "dc", "nope"],
        link_annotations={"runbook_url": "playbook"},
    )
    (signal,) = signals_of(decode(fx.am_payload(alert), mapping))
    assert (signal.product, signal.region, signal.kind, signal.severity_hint) == (
        "support",
        "fra1",
        AlertKind.VOLUME,
        "SEV0",
    )
    assert dict(signal.labels) == {"app": "support-api", "dc": "fra1"}
    assert set(signal.links) == {"generator", "playbook"}


def test_kind_rules_read_the_alert_name_and_the_summary() -> None:
    """The first rule whose keyword appears (any case) wins; no match is the default kind."""
    rules = (KindRule(kind="volume", keywords=["SIGNUPS"]),)
    mapping = AlertmanagerMapping(kind_rules=rules, default_kind="latency")
    named = fx.am_alert("SignupsDropped", "support", "a1")
    plain = fx.am_alert("Whatever", "support", "a2")
    kinds = [s.kind for s in signals_of(decode(fx.am_payload(named, plain), mapping))]
    assert kinds == [AlertKind.VOLUME, AlertKind.LATENCY]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"product_labels": []}, "product_labels"),
        ({"product_labels": "service"}, "product_labels"),
        ({"product_labels": ["service", "service"]}, "product_labels"),
        ({"region_labels": ["service"]}, "region_labels"),
        ({"severities": {"critical": "P1"}}, "severities"),
        ({"severities": {"": "SEV1"}}, "severities"),
        ({"kind_label": ""}, "kind_label"),
        ({"default_product": "a\nb"}, "default_product"),
        ({"products": {"x": ""}}, "products"),
        ({"keep_labels": "all"}, "keep_labels"),
        ({"link_annotations": {"runbook_url": "x" * 65}}, "link_annotations"),
        ({"kind_rules": ["latency"]}, "kind_rules"),
        ({"default_kind": "slowness"}, "default_kind"),
        ({"scale": "SEV"}, "scale"),
    ],
)
def test_a_mapping_that_cannot_work_is_refused_when_built(
    changes: dict[str, Any], field: str
) -> None:
    """A mapping that could never name a product, or names a level off the scale, is refused."""
    with pytest.raises(InvalidInput) as caught:
        AlertmanagerMapping(**changes)
    assert caught.value.field == field


def test_a_kind_rule_needs_keywords() -> None:
    """A rule without keywords, or of no kind, is refused naming the field."""
    with pytest.raises(InvalidInput, match="keywords"):
        KindRule(kind="latency", keywords=[])
    with pytest.raises(InvalidInput, match="kind"):
        KindRule(kind="slow", keywords=["slow"])


def test_decode_refuses_a_mapping_of_another_format_and_a_naive_received_at() -> None:
    """The mapping must be an AlertmanagerMapping; ``received_at`` must be aware."""
    with pytest.raises(InvalidInput, match="mapping"):
        decode(fx.am_payload(LATENCY), object())  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="received_at"):
        decode(fx.am_payload(LATENCY), received_at=datetime(2026, 3, 2))


# -- through a desk, on both stores -------------------------------------------------------


def run(desk: IncidentDesk, payload: dict[str, Any]) -> list[Any]:
    decoded = decode(payload, received_at=desk.clock.now())
    return [desk.handle(command) for command in decoded.commands]


def test_a_storm_re_sent_counts_nothing_new(desk: IncidentDesk, clock: Any) -> None:
    """The same group posted again (a group interval later) moves last-seen times only."""
    payload = fx.am_payload(LATENCY, ERRORS, CHAT)
    (first,) = run(desk, payload)
    assert (first.new_alerts, len(first.incidents_started)) == (3, 2)
    clock.advance(timedelta(minutes=5))
    (again,) = run(desk, payload)
    assert (again.new_alerts, again.deduplicated, again.incidents_started) == (0, 3, ())
    alerts = [a for i in first.incidents_started for a in desk.alerts_of(i)]
    assert [a.count for a in alerts] == [1, 1, 1]
    assert {a.last_seen_at for a in alerts} == {clock.now()}


def test_a_new_start_of_a_firing_alert_counts_once_more(desk: IncidentDesk, clock: Any) -> None:
    """The same fingerprint with a later ``startsAt`` is a new occurrence."""
    (first,) = run(desk, fx.am_payload(LATENCY))
    clock.advance(timedelta(hours=1))
    run(desk, fx.am_payload(dict(LATENCY, startsAt="2026-03-02T09:30:00Z")))
    alert = desk.alert(first.receipt(LATENCY["fingerprint"]).alert_id)
    assert alert.count == 2
    assert alert.started_at == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_a_resolved_webhook_recovers_the_alerts(desk: IncidentDesk, clock: Any) -> None:
    """Every alert resolved: each recovers and their potential incident is dismissed."""
    (first,) = run(desk, fx.am_payload(LATENCY, ERRORS))
    clock.advance(timedelta(minutes=20))
    resolved = [dict(a, status="resolved") for a in (LATENCY, ERRORS)]
    (cleared,) = run(desk, fx.am_payload(*resolved))
    assert [r.outcome for r in cleared.values()] == [
        ClearOutcome.RECOVERED,
        ClearOutcome.INCIDENT_DISMISSED,
    ]
    (incident_id,) = first.incidents_started
    assert desk.incident(incident_id).status.value == "dismissed"
    assert {a.status.value for a in desk.alerts_of(incident_id)} == {"recovered"}
    (again,) = run(desk, fx.am_payload(*resolved))  # sent again: nothing to clear
    assert {r.outcome for r in again.values()} == {ClearOutcome.NO_ACTIVE_ALERT}


def test_the_source_severity_is_offered_when_validating(desk: IncidentDesk) -> None:
    """Validated without a severity, the incident opens at its alerts' worst hint."""
    (first,) = run(desk, fx.am_payload(LATENCY, ERRORS))
    incident = desk.validate_incident(first.incidents_started[0], support.ENG_SUPPORT)
    assert incident.severity == DEFAULT_SCALE["SEV1"]


# -- properties ---------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(fx.am_payloads())
def test_any_valid_payload_maps_without_error(payload: dict[str, Any]) -> None:
    """Every firing alert is a signal or dropped with its path; every resolved one a clear."""
    decoded = decode(payload, received_at=fx.RECEIVED)
    alerts = payload["alerts"]
    firing = [i for i, a in enumerate(alerts) if a["status"] == "firing"]
    gone = {d.path.split(".")[0] for d in decoded.dropped if d.reason.startswith("alert dropped")}
    assert gone <= {f"alerts[{i}]" for i in firing}
    assert len(signals_of(decoded)) + len(gone) == len(firing)
    assert len(cleared_of(decoded)) == len(alerts) - len(firing)
    assert all(d.path for d in decoded.dropped)


@settings(max_examples=200, deadline=None)
@given(fx.spoiled(fx.am_payloads(), fx.AM_SPOILERS))
def test_any_invalid_payload_is_refused_naming_the_field(case: fx.Spoiled) -> None:
    """A payload with one field of the wrong type or value raises FormatError naming its path."""
    payload, path = case
    with pytest.raises(FormatError) as caught:
        decode(payload, received_at=fx.RECEIVED)
    assert caught.value.field == path


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(fx.am_payloads(), min_size=1, max_size=3))
def test_decoded_payloads_run_on_a_desk_and_re_sending_counts_nothing(
    store_factory: Callable[[], Store], payloads: list[dict[str, Any]]
) -> None:
    """Whatever valid firing payloads decode to runs; posting them again adds no count."""
    for payload in payloads:  # firing alerts that name their start: a re-send is no occurrence
        for alert in payload["alerts"]:
            alert["status"] = "firing"
            if alert["startsAt"].startswith("0001-"):
                alert["startsAt"] = T0.isoformat()
    decoded = [decode(p, received_at=fx.RECEIVED) for p in payloads]
    products = {s.product for d in decoded for s in signals_of(d)} or {"support"}
    desk = support.make_desk(store=store_factory(), ownership=dict.fromkeys(products, "team"))

    def counts() -> dict[str, int]:
        return {
            alert.id: alert.count
            for incident in desk.potential_incidents()
            for alert in desk.alerts_of(incident.id)
        }

    for _ in range(2):
        for each in decoded:
            for command in each.commands:
                desk.handle(command)
        if _ == 0:
            before = counts()
    assert counts() == before
