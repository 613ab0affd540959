"""PagerDuty Events API v2: triggers counted per event, resolves cleared, the answer's shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings

import desk_support as support
import formats_support as fx
from incident_lifecycle import AlertKind, InvalidInput
from incident_lifecycle.commands import ClearAlert, ClearOutcome, ReceiveAlerts
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.formats import Decoded, FormatError
from incident_lifecycle.formats.fields import HASH_PREFIX
from incident_lifecycle.formats.pagerduty import PagerDutyMapping, answer, decode

store_factory = support.store_factory
store = support.store
clock = support.clock
notifier = support.notifier
desk = support.desk


def signal_of(decoded: Decoded) -> Any:
    (command,) = decoded.commands
    assert isinstance(command, ReceiveAlerts)
    (signal,) = command.signals
    return signal


def test_a_trigger_becomes_one_signal_with_its_facts() -> None:
    """Every documented field lands: product from ``group``, hint, labels, details, links."""
    decoded = decode(fx.pd_event(), received_at=fx.RECEIVED)
    signal = signal_of(decoded)
    assert (signal.fingerprint, signal.product, signal.region) == (
        "support/views-api/latency",
        "support",
        "pod17",
    )
    assert (signal.kind, signal.severity_hint, signal.started_at) == (
        AlertKind.LATENCY,
        "SEV2",
        None,
    )
    assert signal.summary == "p99 latency of the views API above 2 s"
    assert signal.observed_at == fx.RECEIVED
    assert dict(signal.labels) == {
        "source": "views-api-07.pod17.example.com",
        "severity": "error",
        "component": "views-api",
        "group": "support",
        "class": "high latency",
        "p99 ms": "2310",
        "pod": "pod17",
        "threshold ms": "2000",
    }
    assert signal.description == '{"p99 ms": 2310, "pod": "pod17", "threshold ms": 2000}'
    assert dict(signal.links) == {
        "client": "http://prometheus.example.com:9090",
        "Runbook": "https://runbooks.example.com/support/latency",
        "image-1": "https://grafana.example.com/render/d/support-api.png",
    }
    assert decoded.facts == {
        "source": "pagerduty",
        "event_action": "trigger",
        "dedup_key": "support/views-api/latency",
    }


def test_the_answer_has_the_shape_pagerduty_clients_expect() -> None:
    """``status``, ``message`` and the ``dedup_key`` (sent with 202)."""
    assert answer(decode(fx.pd_event())) == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "support/views-api/latency",
    }


def test_a_trigger_without_a_key_gets_one_derived_from_the_event() -> None:
    """The same event gets the same key (a retried delivery), another event another key."""
    event = fx.pd_event()
    del event["dedup_key"]
    first, again = decode(event), decode(event)
    other = decode(
        fx.pd_event(payload=dict(event["payload"], summary="other")) | {"dedup_key": None}
    )
    assert first.facts["dedup_key"] == again.facts["dedup_key"]
    assert str(first.facts["dedup_key"]).startswith("pd-")
    assert other.facts["dedup_key"] != first.facts["dedup_key"]
    assert signal_of(first).fingerprint == first.facts["dedup_key"]
    assert answer(first)["dedup_key"] == first.facts["dedup_key"]


def test_the_timestamp_is_the_observed_time_without_received_at() -> None:
    """Without ``received_at``, ``payload.timestamp``; with neither, ``received_at`` is asked."""
    assert signal_of(decode(fx.pd_event())).observed_at == datetime(2026, 3, 2, 8, 59, tzinfo=UTC)
    event = fx.pd_event()
    del event["payload"]["timestamp"]
    with pytest.raises(InvalidInput) as caught:
        decode(event)
    assert caught.value.field == "received_at"
    assert not isinstance(caught.value, FormatError)


def test_resolve_clears_and_acknowledge_is_reported_not_taken() -> None:
    """Resolve is a ClearAlert of the key; acknowledge makes no command, and says why."""
    resolved = decode(fx.pd_event("resolve"))
    assert resolved.commands == (ClearAlert(fingerprint="support/views-api/latency"),)
    acked = decode(fx.pd_event("acknowledge"))
    assert acked.commands == ()
    assert [d.path for d in acked.dropped] == ["event_action"]
    with pytest.raises(FormatError) as caught:
        decode(fx.pd_event("resolve", dedup_key=None))
    assert caught.value.field == "dedup_key"


def test_a_long_key_is_hashed_and_kept() -> None:
    """A key longer than a fingerprint is hashed, the original kept on the signal."""
    key = "k" * 400
    signal = signal_of(decode(fx.pd_event(dedup_key=key)))
    assert signal.fingerprint.startswith(HASH_PREFIX)
    assert signal.dedup_key == key
    (clear,) = decode(fx.pd_event("resolve", dedup_key=key)).commands
    assert isinstance(clear, ClearAlert)
    assert clear.fingerprint == signal.fingerprint


def test_routing_keys_name_products_and_an_event_without_one_is_dropped() -> None:
    """An integration key routed to a product wins; no product at all drops the event."""
    event = fx.pd_event(routing_key="CHATKEY")
    mapping = PagerDutyMapping(routing_keys={"CHATKEY": "chat"})
    assert signal_of(decode(event, mapping)).product == "chat"
    assert "CHATKEY" not in repr(mapping)
    event["payload"].pop("group")
    decoded = decode(event)
    assert decoded.commands == ()
    assert [d.path for d in decoded.dropped] == ["payload.custom_details.product"]


def test_a_link_that_is_not_a_url_is_not_kept() -> None:
    """A ``javascript:`` link is left out and reported; the event is received."""
    event = fx.pd_event(links=[{"href": "javascript:alert(1)", "text": "x"}])
    decoded = decode(event)
    assert "x" not in signal_of(decoded).links
    assert [d.path for d in decoded.dropped] == ["links[0].href"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"product_fields": ["payload.group"]}, "product_fields"),
        ({"product_fields": []}, "product_fields"),
        ({"region_fields": ["custom_details."]}, "region_fields"),
        ({"routing_keys": {"": "chat"}}, "routing_keys"),
        ({"routing_keys": {"K": "a\nb"}}, "routing_keys"),
        ({"keep_details": "yes"}, "keep_details"),
        ({"severities": {"critical": "P1"}}, "severities"),
    ],
)
def test_a_mapping_that_cannot_work_is_refused(changes: dict[str, Any], field: str) -> None:
    """Unknown fields, no way to a product, bad routing or severities: refused when built."""
    with pytest.raises(InvalidInput) as caught:
        PagerDutyMapping(**changes)
    assert caught.value.field == field


def test_each_trigger_is_an_occurrence_and_a_resolve_recovers(
    desk: IncidentDesk, clock: Any
) -> None:
    """Three triggers of one key count three; the resolve recovers the alert."""
    for _ in range(3):
        for command in decode(fx.pd_event(), received_at=clock.now()).commands:
            receipt = desk.handle(command)
        clock.advance(timedelta(minutes=1))
    alert = desk.alert(receipt.receipt("support/views-api/latency").alert_id)
    assert alert.count == 3
    (clear,) = decode(fx.pd_event("resolve")).commands
    assert desk.handle(clear).outcome is ClearOutcome.INCIDENT_DISMISSED
    assert desk.alert(alert.id).status.value == "recovered"
    for command in decode(fx.pd_event(), received_at=clock.now()).commands:
        again = desk.handle(command)
    assert again.new_alerts == 1  # after a resolve, the same key opens a new alert


@settings(max_examples=150, deadline=None)
@given(fx.pd_events())
def test_any_valid_event_maps_without_error(event: dict[str, Any]) -> None:
    """Any event decodes: a trigger is one signal or dropped with its path."""
    decoded = decode(event, received_at=fx.RECEIVED)
    assert decoded.facts["event_action"] == event["event_action"]
    if event["event_action"] == "trigger":
        received = len(decoded.commands)
        gone = [d for d in decoded.dropped if d.reason.startswith("event dropped")]
        assert received + len(gone) == 1
    assert all(d.path for d in decoded.dropped)


@settings(max_examples=200, deadline=None)
@given(fx.spoiled(fx.pd_events(), fx.PD_SPOILERS))
def test_any_invalid_event_is_refused_naming_the_field(case: fx.Spoiled) -> None:
    """One field of the wrong type or value: FormatError naming its path."""
    event, path = case
    with pytest.raises(FormatError) as caught:
        decode(event, received_at=fx.RECEIVED)
    assert caught.value.field == path
