"""Domain events: the timeline, and the registry that maps their names back to classes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incident_lifecycle.domain import EVENT_TYPES, Actor, DomainEvent, InvalidInput, Role, events
from incident_lifecycle.testing import strategies as ils

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACTOR = Actor(name="noc-bot", role=Role.MONITORING)
EVENT_NAMES = sorted(EVENT_TYPES)
COUNTS = [
    ("IncidentResolved", "tickets_solved", {"resolution": "Rolled back."}),
    ("IncidentsMergedIn", "alerts_moved", {"source": "INC-8"}),
    ("IncidentsMergedIn", "tickets_moved", {"source": "INC-8"}),
    ("IncidentClosed", "remediation_items", {"root_cause": "A bad deploy."}),
    ("SignalsDigestSent", "alerts", {}),
    ("DeadLettersRedriven", "count", {}),
]


class TestRegistry:
    def test_lists_every_event_class_of_the_module(self) -> None:
        """Every event class the module exports is registered under its own name."""
        exported = {
            name
            for name in events.__all__
            if isinstance(getattr(events, name), type) and name != "DomainEvent"
        }
        assert set(EVENT_TYPES) == exported

    @pytest.mark.parametrize("name", EVENT_NAMES)
    def test_maps_each_name_to_the_class_built_by_attrs(self, name: str) -> None:
        """The registry holds the module's own class, not the field-less original attrs replaced."""
        cls = EVENT_TYPES[name]
        assert cls is getattr(events, name)
        assert "__attrs_attrs__" in vars(cls)
        assert issubclass(cls, DomainEvent)
        assert cls is not DomainEvent

    def test_is_read_only_and_sorted(self) -> None:
        """The registry is sorted by name and cannot be changed."""
        assert list(EVENT_TYPES) == EVENT_NAMES
        with pytest.raises(TypeError):
            EVENT_TYPES["Fake"] = DomainEvent  # type: ignore[index]


class TestEveryEvent:
    @pytest.mark.parametrize("name", EVENT_NAMES)
    @settings(max_examples=5)
    @given(data=st.data())
    def test_is_constructible_named_and_frozen(self, name: str, data: st.DataObject) -> None:
        """Each event class builds from valid fields, is named after its class and is frozen."""
        event = data.draw(ils.domain_events(EVENT_TYPES[name]))
        assert type(event) is EVENT_TYPES[name]
        assert event.name == name
        for field in attrs.fields(type(event)):
            with pytest.raises(attrs.exceptions.FrozenInstanceError):
                setattr(event, field.name, getattr(event, field.name))

    @given(ils.domain_events())
    def test_events_are_values(self, event: DomainEvent) -> None:
        """An event equals its copy and hashes the same."""
        copy = attrs.evolve(event)
        assert copy == event
        assert hash(copy) == hash(event)


class TestCommonFields:
    def test_incident_id_may_be_absent(self) -> None:
        """Events outside any incident (a report's, the outbox's) carry no incident id."""
        event = events.ReportResolved(
            incident_id=None, actor=ACTOR, at=T0, ticket_id="ZD-1", note="Cache cleared."
        )
        assert event.incident_id is None

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("actor", "noc-bot"),
            ("at", datetime(2026, 3, 1)),
            ("at", "2026-03-01T12:00:00Z"),
            ("incident_id", ""),
        ],
        ids=repr,
    )
    def test_refuses_invalid_common_fields(self, field: str, value: object) -> None:
        """Who, when and which incident are validated on every event."""
        kwargs: dict[str, Any] = {"incident_id": "INC-7", "actor": ACTOR, "at": T0, field: value}
        with pytest.raises(InvalidInput) as info:
            events.IncidentAcknowledged(**kwargs)
        assert info.value.field == field

    @pytest.mark.parametrize(("name", "field", "extra"), COUNTS, ids=lambda v: str(v)[:20])
    @pytest.mark.parametrize("value", [-1, True, "3"])
    def test_counts_are_non_negative_integers(
        self, name: str, field: str, extra: dict[str, Any], value: object
    ) -> None:
        """A count on an event is refused if negative or not an integer."""
        with pytest.raises(InvalidInput) as info:
            EVENT_TYPES[name](incident_id="INC-7", actor=ACTOR, at=T0, **extra, **{field: value})
        assert info.value.field == field

    @pytest.mark.parametrize(("name", "field", "extra"), COUNTS, ids=lambda v: str(v)[:20])
    def test_counts_default_to_zero(self, name: str, field: str, extra: dict[str, Any]) -> None:
        """A count left out is zero."""
        event = EVENT_TYPES[name](incident_id="INC-7", actor=ACTOR, at=T0, **extra)
        assert getattr(event, field) == 0


class TestSpecificEvents:
    def test_fingerprints_on_events_allow_255_characters(self) -> None:
        """An alert event carries a fingerprint of up to 255 characters, like the alert."""
        event = events.AlertJoined(
            incident_id="INC-7", actor=ACTOR, at=T0, alert_id="A-1", fingerprint="f" * 255
        )
        assert len(event.fingerprint) == 255
        with pytest.raises(InvalidInput, match=r"^fingerprint: "):
            attrs.evolve(event, fingerprint="f" * 256)

    def test_optional_texts_default_to_empty(self) -> None:
        """Reasons and error notes that are optional default to empty text."""
        changed = events.SeverityChanged(
            incident_id="INC-7", actor=ACTOR, at=T0, previous="SEV3", severity="SEV1"
        )
        unlinked = events.TicketUnlinked(incident_id="INC-7", actor=ACTOR, at=T0, ticket_id="ZD-1")
        assert changed.reason == unlinked.reason == ""

    def test_reminder_due_time_must_be_aware(self) -> None:
        """An update reminder's due time is timezone-aware."""
        with pytest.raises(InvalidInput, match=r"^due_at: "):
            events.UpdateReminderSent(
                incident_id="INC-7",
                actor=ACTOR,
                at=T0,
                due_at=datetime(2026, 3, 1),
            )
