"""Grafana's webhook contact point: Alertmanager's mapping, Grafana's version and fields."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings

import desk_support as support
import formats_support as fx
from incident_lifecycle.commands import ClearAlerts, ClearOutcome, ReceiveAlerts
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.formats import FormatError
from incident_lifecycle.formats.alertmanager import AlertmanagerMapping
from incident_lifecycle.formats.grafana import GrafanaMapping, decode

store_factory = support.store_factory
store = support.store
clock = support.clock
notifier = support.notifier
desk = support.desk

MEMORY = fx.am_alert("HighMemoryUsage", "support", "app07", zone="us-1", severity="warning")
CPU = fx.am_alert("HighCPUUsage", "support", "app08", zone="us-1")


def test_a_grafana_webhook_keeps_its_links_and_values() -> None:
    """Dashboard, panel, silence and image URLs are links; the value string joins the text."""
    decoded = decode(fx.grafana_payload(MEMORY), received_at=fx.RECEIVED)
    (command,) = decoded.commands
    assert isinstance(command, ReceiveAlerts)
    (signal,) = command.signals
    assert (signal.product, signal.region, signal.severity_hint) == ("support", "us-1", "SEV3")
    assert set(signal.links) == {"generator", "runbook", "dashboard", "panel", "silence"}
    assert signal.links["panel"] == "https://grafana.example.com/d/support-api?viewPanel=4"
    assert signal.description == (
        "app07 has been above its threshold for 5 minutes.\n"
        "[ var='B' labels={service=support} value=2.31 ]"
    )
    assert (decoded.facts["source"], decoded.facts["version"]) == ("grafana", "1")
    assert (decoded.facts["org_id"], decoded.facts["state"]) == (1, "alerting")


def test_the_values_object_is_the_description_without_a_value_string() -> None:
    """Without ``valueString``, the ``values`` object is added as JSON."""
    payload = fx.grafana_payload(MEMORY)
    del payload["alerts"][0]["valueString"]
    (command,) = decode(payload).commands
    assert isinstance(command, ReceiveAlerts)
    assert command.signals[0].description is not None
    assert command.signals[0].description.endswith('{"B": 2.31, "C": 1}')


def test_grafana_takes_alertmanager_mappings() -> None:
    """``GrafanaMapping`` is Alertmanager's mapping class."""
    assert GrafanaMapping is AlertmanagerMapping
    mapping = GrafanaMapping(product_labels=["grafana_folder"])
    alert = fx.am_alert("HighCPUUsage", None, "app09", grafana_folder="chat")
    (command,) = decode(fx.grafana_payload(alert), mapping).commands
    assert isinstance(command, ReceiveAlerts)
    assert command.signals[0].product == "chat"


@pytest.mark.parametrize("version", ["4", None, 1])
def test_another_version_is_refused(version: object) -> None:
    """An Alertmanager (version 4) payload, or none, is not Grafana's webhook."""
    payload = fx.grafana_payload(MEMORY) | {"version": version}
    with pytest.raises(FormatError) as caught:
        decode(payload)
    assert caught.value.field == "version"


def test_a_re_sent_grafana_group_counts_nothing_and_resolving_recovers(
    desk: IncidentDesk, clock: Any
) -> None:
    """Posted twice, nothing is counted again; resolved, the alerts recover."""
    payload = fx.grafana_payload(MEMORY, CPU)
    for _ in range(2):
        for command in decode(payload, received_at=clock.now()).commands:
            report = desk.handle(command)
        clock.advance(timedelta(minutes=5))
    assert report.deduplicated == 2
    (incident,) = desk.potential_incidents()
    assert [a.count for a in desk.alerts_of(incident.id)] == [1, 1]
    resolved = fx.grafana_payload(*[dict(a, status="resolved") for a in (MEMORY, CPU)])
    (command,) = decode(resolved).commands
    assert isinstance(command, ClearAlerts)
    receipts = desk.handle(command)
    assert list(receipts.values())[-1].outcome is ClearOutcome.INCIDENT_DISMISSED


@settings(max_examples=100, deadline=None)
@given(fx.am_payloads(version="1"))
def test_any_valid_payload_maps_without_error(payload: dict[str, Any]) -> None:
    """Any Grafana-shaped payload decodes: each firing alert a signal or dropped, by path."""
    decoded = decode(payload, received_at=fx.RECEIVED)
    firing = sum(a["status"] == "firing" for a in payload["alerts"])
    signals = sum(len(c.signals) for c in decoded.commands if isinstance(c, ReceiveAlerts))
    gone = {d.path.split(".")[0] for d in decoded.dropped if d.reason.startswith("alert dropped")}
    assert signals + len(gone) == firing


@settings(max_examples=150, deadline=None)
@given(fx.spoiled(fx.am_payloads(version="1"), fx.GRAFANA_SPOILERS))
def test_any_invalid_payload_is_refused_naming_the_field(case: fx.Spoiled) -> None:
    """One field of the wrong type or value: FormatError naming its path."""
    payload, path = case
    with pytest.raises(FormatError) as caught:
        decode(payload, received_at=fx.RECEIVED)
    assert caught.value.field == path
