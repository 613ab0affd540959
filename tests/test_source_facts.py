"""The source's facts drive the desk: a batch of clears, the severity hint, links (both stores)."""

from __future__ import annotations

import attrs
import pytest

import desk_support as support
from incident_lifecycle import AlertSignal, InvalidInput
from incident_lifecycle.adapters import RecordingNotifier
from incident_lifecycle.commands import ClearAlerts, ClearOutcome
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.domain.events import AlertRecovered, IncidentValidated
from incident_lifecycle.domain.severity import DEFAULT_SCALE, Severity, SeverityScale
from incident_lifecycle.notifications import Topic

store_factory = support.store_factory
store = support.store
clock = support.clock
notifier = support.notifier
desk = support.desk

ANA = support.ENG_SUPPORT


def hinted(fp: str, hint: str | None, **changes: object) -> AlertSignal:
    """A support signal in pod17 with a severity hint."""
    return attrs.evolve(support.signal(fp), severity_hint=hint, **changes)


# -- clear_alerts -----------------------------------------------------------------------


def test_clear_alerts_clears_a_batch_in_one_go(desk: IncidentDesk) -> None:
    """Each fingerprint gets its outcome; the last one recovered dismisses the incident."""
    report = desk.receive_alerts([support.signal("fp-1"), support.signal("fp-2")])
    receipts = desk.clear_alerts(["fp-1", "fp-unknown", "fp-2", "fp-1"])
    assert list(receipts) == ["fp-1", "fp-unknown", "fp-2"]
    assert [r.outcome for r in receipts.values()] == [
        ClearOutcome.RECOVERED,
        ClearOutcome.NO_ACTIVE_ALERT,
        ClearOutcome.INCIDENT_DISMISSED,
    ]
    incident = desk.incident(report.incidents_started[0])
    assert incident.status.value == "dismissed"
    assert [a.status.value for a in desk.alerts_of(incident.id)] == ["recovered", "recovered"]


def test_clear_alerts_on_an_open_incident_recovers_each_then_clears_all(
    desk: IncidentDesk,
) -> None:
    """On an open incident, a batch recovers each alert; the last one clears all signals."""
    report = desk.receive_alerts([support.signal("fp-1"), support.signal("fp-2")])
    incident_id = report.incidents_started[0]
    desk.validate_incident(incident_id, ANA, "SEV2")
    receipts = desk.clear_alerts(("fp-1", "fp-2"))
    assert [r.outcome for r in receipts.values()] == [
        ClearOutcome.RECOVERED,
        ClearOutcome.ALL_SIGNALS_CLEARED,
    ]
    recovered = [e for e in desk.timeline(incident_id) if isinstance(e, AlertRecovered)]
    assert len(recovered) == 2


def test_clear_alerts_refuses_a_bad_fingerprint_before_anything_changes(
    desk: IncidentDesk,
) -> None:
    """A fingerprint that is not one refuses the batch, naming ``fingerprints`` and the item."""
    desk.receive_alert(support.signal("fp-1"))
    with pytest.raises(InvalidInput) as caught:
        ClearAlerts(fingerprints=["fp-1", ""])
    assert (caught.value.field, "item 1" in caught.value.reason) == ("fingerprints", True)
    with pytest.raises(InvalidInput, match="fingerprints"):
        ClearAlerts(fingerprints="fp-1")  # type: ignore[arg-type]
    assert desk.clear_alerts([]) == {}
    assert desk.alert("ALR-1").status.value == "received"


# -- the severity hint ------------------------------------------------------------------


def test_validating_without_a_severity_takes_the_worst_hint(desk: IncidentDesk) -> None:
    """The incident opens at the worst level its alerts suggest; unknown names are ignored."""
    report = desk.receive_alerts(
        [hinted("fp-1", "SEV3"), hinted("fp-2", "SEV1"), hinted("fp-3", "P1"), hinted("fp-4", None)]
    )
    incident = desk.validate_incident(report.incidents_started[0], ANA)
    assert incident.severity == DEFAULT_SCALE["SEV1"]
    events = desk.timeline(incident.id)
    assert [e.severity for e in events if isinstance(e, IncidentValidated)] == ["SEV1"]


def test_a_given_severity_wins_over_the_hints(desk: IncidentDesk) -> None:
    """An explicit severity is used as it is, whatever the alerts suggest."""
    report = desk.receive_alert(hinted("fp-1", "SEV1"))
    incident = desk.validate_incident(report.incident_id, ANA, severity="SEV4")
    assert incident.severity == DEFAULT_SCALE["SEV4"]


def test_validating_without_a_severity_or_a_hint_is_refused(desk: IncidentDesk) -> None:
    """No severity and no usable hint: ``InvalidInput`` naming ``severity``, nothing changed."""
    report = desk.receive_alerts([hinted("fp-1", None), hinted("fp-2", "critical")])
    incident_id = report.incidents_started[0]
    with pytest.raises(InvalidInput) as caught:
        desk.validate_incident(incident_id, ANA)
    assert caught.value.field == "severity"
    assert "critical not on the scale" in caught.value.reason
    assert desk.incident(incident_id).status.value == "detected"
    assert {a.status.value for a in desk.alerts_of(incident_id)} == {"received"}


def test_hints_are_read_on_the_desks_own_scale(store: support.Store) -> None:
    """With a custom scale, a hint naming one of its levels is the default."""
    low = Severity(
        rank=7,
        name="minor",
        description="Minor",
        public=False,
        first_update=DEFAULT_SCALE["SEV4"].first_update,
        update_interval=DEFAULT_SCALE["SEV4"].update_interval,
        public_review=False,
    )
    scale = SeverityScale([attrs.evolve(DEFAULT_SCALE["SEV1"], name="major"), low])
    desk = support.make_desk(store=store, scale=scale)
    report = desk.receive_alerts([hinted("fp-1", "SEV1"), hinted("fp-2", "minor")])
    assert desk.validate_incident(report.incidents_started[0], ANA).severity == low


def test_the_validation_request_shows_the_hint_and_the_links(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """The owner team reads the source's suggested severity and its links, URLs whole."""
    url = "https://runbooks.example.com/support/latency?" + "q=1&" * 100
    signal = hinted("fp-1", "SEV2", links={"runbook": url, "generator": "http://prom:9090/g"})
    desk.receive_alert(signal)
    desk.receive_alert(hinted("fp-9", None, region="pod99"))
    desk.deliver()
    requests = [n for n in notifier.sent if n.topic is Topic.VALIDATION_REQUEST]
    assert len(requests) == 2
    assert "Severity suggested by the source: SEV2." in requests[0].body
    assert f"generator http://prom:9090/g, runbook {url}" in requests[0].body
    assert "Severity suggested by the source: none. Links: none." in requests[1].body


def test_a_detached_alert_asks_with_its_own_hint(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """Detaching an alert to a potential incident of its own asks with that alert's hint."""
    report = desk.receive_alerts([hinted("fp-1", "SEV3"), hinted("fp-2", "SEV1")])
    desk.detach_alert(report.receipt("fp-2").alert_id, ANA)
    desk.deliver()
    bodies = [n.body for n in notifier.sent if n.topic is Topic.VALIDATION_REQUEST]
    assert ["SEV3" in bodies[0], "SEV1" in bodies[1]] == [True, True]
