"""Opsgenie's Alert API: create counted per request, long aliases hashed, close by alias."""

from __future__ import annotations

from datetime import timedelta
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
from incident_lifecycle.formats.opsgenie import OpsgenieMapping, answer, close, decode

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


def test_a_created_alert_becomes_one_signal_with_its_facts() -> None:
    """Every documented field lands where the mapping says."""
    decoded = decode(fx.og_alert(), received_at=fx.RECEIVED)
    signal = signal_of(decoded)
    assert (signal.fingerprint, signal.product, signal.region, signal.kind) == (
        "support-views-api-latency-pod17",
        "support",
        "pod17",
        AlertKind.LATENCY,
    )
    assert (signal.severity_hint, signal.observed_at, signal.started_at) == (
        "SEV2",
        fx.RECEIVED,
        None,
    )
    assert signal.summary == "Support views API latency above 2 s in pod17"
    assert signal.description == "p99 latency of the views API has been above 2 s for 5 minutes."
    assert dict(signal.labels) == {
        "product": "support",
        "region": "pod17",
        "p99": "2.31s",
        "entity": "views-api",
        "source": "prometheus",
        "user": "monitoring",
        "priority": "P2",
        "tags": "latency,pod17",
    }
    assert decoded.facts == {
        "source": "opsgenie",
        "action": "create",
        "alias": "support-views-api-latency-pod17",
    }


def test_without_an_alias_the_message_is_the_key_and_p3_the_priority() -> None:
    """As Opsgenie does: the message deduplicates, and the default priority is P3."""
    body = fx.og_alert()
    del body["alias"], body["priority"]
    signal = signal_of(decode(body, received_at=fx.RECEIVED))
    assert signal.fingerprint == body["message"]
    assert (signal.severity_hint, signal.labels["priority"]) == ("SEV3", "P3")


def test_a_512_character_alias_is_hashed_and_closed_by_the_same_hash() -> None:
    """An alias over 255 characters is a ``sha256:`` fingerprint, the original kept."""
    alias = "support/views-api/" + "x" * 494
    signal = signal_of(decode(fx.og_alert(alias=alias), received_at=fx.RECEIVED))
    assert signal.fingerprint.startswith(HASH_PREFIX)
    assert signal.dedup_key == alias
    assert close(alias).commands == (ClearAlert(fingerprint=signal.fingerprint),)


def test_an_opsgenie_alert_needs_received_at() -> None:
    """It carries no time of its own: without ``received_at``, InvalidInput names it."""
    with pytest.raises(InvalidInput) as caught:
        decode(fx.og_alert())
    assert caught.value.field == "received_at"


def test_close_takes_an_alias_only() -> None:
    """A close by id or tiny id cannot be matched here; its body's fields are type-checked."""
    with pytest.raises(FormatError, match="identifierType"):
        close("abc", identifier_type="id")
    with pytest.raises(FormatError) as caught:
        close("abc", {"note": 5})
    assert caught.value.field == "note"
    with pytest.raises(FormatError, match="identifier"):
        close("x" * 513)
    assert close("abc", {"user": "noc", "note": "Recovered"}).facts["action"] == "close"


def test_the_answer_is_opsgenies() -> None:
    """Opsgenie answers 202 with its request id and ``Request will be processed``."""
    assert answer("req-1") == {
        "result": "Request will be processed",
        "took": 0.0,
        "requestId": "req-1",
    }


def test_an_alert_without_a_product_is_dropped_unless_mapped() -> None:
    """No product detail: dropped by path; a mapping from ``entity`` names one."""
    body = fx.og_alert(details={}, entity="chat")
    decoded = decode(body, received_at=fx.RECEIVED)
    assert decoded.commands == ()
    assert [d.path for d in decoded.dropped] == ["details.product"]
    mapping = OpsgenieMapping(product_fields=["entity"], severities={"P2": "SEV0"})
    signal = signal_of(decode(body, mapping, received_at=fx.RECEIVED))
    assert (signal.product, signal.severity_hint) == ("chat", "SEV0")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"product_fields": ["tags"]}, "product_fields"),
        ({"product_fields": []}, "product_fields"),
        ({"region_fields": "details.region"}, "region_fields"),
        ({"severities": {"P1": "critical"}}, "severities"),
    ],
)
def test_a_mapping_that_cannot_work_is_refused(changes: dict[str, Any], field: str) -> None:
    """Unknown fields, no way to a product, a level off the scale: refused when built."""
    with pytest.raises(InvalidInput) as caught:
        OpsgenieMapping(**changes)
    assert caught.value.field == field


def test_each_create_counts_and_a_close_recovers(desk: IncidentDesk, clock: Any) -> None:
    """Two creates of one alias count two; the close recovers it, on both stores."""
    for _ in range(2):
        (command,) = decode(fx.og_alert(), received_at=clock.now()).commands
        report = desk.handle(command)
        clock.advance(timedelta(minutes=1))
    alert = desk.alert(report.receipt("support-views-api-latency-pod17").alert_id)
    assert alert.count == 2
    (clear,) = close("support-views-api-latency-pod17").commands
    assert desk.handle(clear).outcome is ClearOutcome.INCIDENT_DISMISSED


@settings(max_examples=150, deadline=None)
@given(fx.og_alerts())
def test_any_valid_alert_maps_without_error(body: dict[str, Any]) -> None:
    """Any body within Opsgenie's limits decodes: one signal, or dropped with its path."""
    decoded = decode(body, received_at=fx.RECEIVED)
    gone = [d for d in decoded.dropped if d.reason.startswith("alert dropped")]
    assert len(decoded.commands) + len(gone) == 1
    assert all(d.path for d in decoded.dropped)


@settings(max_examples=200, deadline=None)
@given(fx.spoiled(fx.og_alerts(), fx.OG_SPOILERS))
def test_any_invalid_alert_is_refused_naming_the_field(case: fx.Spoiled) -> None:
    """One field of the wrong type or over Opsgenie's limits: FormatError naming its path."""
    body, path = case
    with pytest.raises(FormatError) as caught:
        decode(body, received_at=fx.RECEIVED)
    assert caught.value.field == path
