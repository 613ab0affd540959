"""Uses the public API the way the docs do; checked by ``mypy --strict`` in CI."""

from __future__ import annotations

from datetime import UTC, datetime

import incident_lifecycle as il
from incident_lifecycle.formats import Decoded, Dropped, KindRule, alertmanager, opsgenie, pagerduty

now = datetime(2026, 1, 1, tzinfo=UTC)
signal = il.AlertSignal(
    fingerprint="support-latency-pod17",
    product="support",
    kind=il.AlertKind.LATENCY,
    summary="p99 latency above 2 s",
    observed_at=now,
    region="pod17",
)
alert: il.Alert = il.Alert.from_signal("ALR-1", signal)
incident = il.ServiceIncident(
    id="INC-1",
    title="Slow Support",
    products=("support",),
    owner_team="support-eng",
    detected_at=now,
)
il.INCIDENT_LIFECYCLE.fire(incident, "validate", now=now)
events: frozenset[str] = il.INCIDENT_LIFECYCLE.allowed_events(incident.status)
severity: il.Severity = il.DEFAULT_SCALE["SEV1"]
public: bool = severity.public
actor = il.Actor(name="ana", role=il.Role.ENGINEERING, team="support-eng")
allowed: bool = il.is_permitted(actor, il.Action.VALIDATE, owner_team="support-eng")

# -- formats: a payload in, commands out (docs/intake.md) -------------------------------
mapping = alertmanager.AlertmanagerMapping(
    product_labels=("app",), kind_rules=(KindRule(kind="latency", keywords=("slow",)),)
)
payload = {"version": "4", "alerts": [{"status": "resolved", "fingerprint": "1a30ba71cca2921f"}]}
decoded: Decoded = alertmanager.decode(payload, mapping, received_at=now)
dropped: tuple[Dropped, ...] = decoded.dropped
commands: tuple[il.commands.Command[object], ...] = decoded.commands
body: dict[str, str] = pagerduty.answer(decoded)
closed: Decoded = opsgenie.close("support-latency")
