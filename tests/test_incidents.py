"""The service incident aggregate and the values it is managed with."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_lifecycle.domain import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    SEV1,
    SEV3,
    Actor,
    AlertKind,
    Handoff,
    IncidentStatus,
    InvalidInput,
    RemediationItem,
    Review,
    Role,
    ServiceIncident,
    StatusUpdate,
    Symptom,
    Visibility,
)
from incident_lifecycle.domain.incidents import TITLE_MAX
from incident_lifecycle.testing import strategies as ils

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NAIVE = datetime(2026, 3, 1, 12, 0)
ENGINEER = Actor(name="eve", role=Role.ENGINEERING, team="chat-eng")
MILESTONES = [
    "opened_at",
    "acknowledged_at",
    "identified_at",
    "monitoring_at",
    "resolved_at",
    "closed_at",
    "ended_at",
    "last_update_at",
    "first_public_update_at",
    "last_public_update_at",
    "last_digest_at",
    "last_reminder_at",
]


def incident_args(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "INC-7",
        "title": "Chat is slow in the EU",
        "products": ("chat",),
        "owner_team": "chat-eng",
        "detected_at": T0,
    }
    return {**base, **changes}


def refused_field(factory: Any, **kwargs: Any) -> str:
    with pytest.raises(InvalidInput) as info:
        factory(**kwargs)
    assert str(info.value).startswith(f"{info.value.field}: ")
    return info.value.field


class TestStatusSets:
    def test_open_statuses_are_the_public_phases(self) -> None:
        """Open means investigating, identified or monitoring."""
        assert {s.value for s in OPEN_STATUSES} == {"investigating", "identified", "monitoring"}

    def test_final_statuses_are_closed_dismissed_and_merged(self) -> None:
        """Closed, dismissed and merged are final."""
        assert {s.value for s in FINAL_STATUSES} == {"closed", "dismissed", "merged"}

    def test_detected_and_resolved_are_neither_open_nor_final(self) -> None:
        """A potential incident and a resolved one are between the two sets."""
        rest = set(IncidentStatus) - OPEN_STATUSES - FINAL_STATUSES
        assert rest == {IncidentStatus.DETECTED, IncidentStatus.RESOLVED}


class TestServiceIncident:
    def test_starts_as_a_potential_incident(self) -> None:
        """A new incident is detected, without severity, milestones or reopenings."""
        incident = ServiceIncident(**incident_args())
        assert incident.status is IncidentStatus.DETECTED
        assert (incident.is_potential, incident.is_open, incident.is_final) == (True, False, False)
        assert incident.severity is None
        assert not incident.is_public
        assert all(getattr(incident, name) is None for name in MILESTONES)
        assert (incident.version, incident.reopen_count, incident.signals_since_digest) == (0, 0, 0)
        assert (incident.signal_kinds, incident.reported_symptoms, incident.group_key) == (
            (),
            (),
            None,
        )

    @pytest.mark.parametrize("status", list(IncidentStatus), ids=str)
    def test_status_properties_follow_the_status(self, status: IncidentStatus) -> None:
        """``is_open``, ``is_potential`` and ``is_final`` follow the status sets."""
        incident = ServiceIncident(**incident_args(status=status.value))
        assert incident.status is status
        assert incident.is_open is (status in OPEN_STATUSES)
        assert incident.is_final is (status in FINAL_STATUSES)
        assert incident.is_potential is (status is IncidentStatus.DETECTED)

    def test_is_public_follows_the_severity(self) -> None:
        """An incident is public only at a publicly announced severity."""
        assert ServiceIncident(**incident_args(severity=SEV1)).is_public
        assert not ServiceIncident(**incident_args(severity=SEV3)).is_public

    def test_products_are_kept_as_a_tuple(self) -> None:
        """Products given as a list are stored as a tuple, in order."""
        incident = ServiceIncident(**incident_args(products=["talk", "chat"]))
        assert incident.products == ("talk", "chat")

    @pytest.mark.parametrize(
        "products",
        [[], "chat", ["chat", "chat"], ["chat", ""], [f"p{i}" for i in range(65)], [1], None],
        ids=repr,
    )
    def test_refuses_invalid_product_lists(self, products: object) -> None:
        """Products are 1-64 distinct identifiers, never a bare string."""
        assert refused_field(ServiceIncident, **incident_args(products=products)) == "products"

    def test_signal_kinds_and_symptoms_are_distinct_and_sorted(self) -> None:
        """Kinds and symptoms, as values or members in any order, are kept once each, sorted."""
        incident = ServiceIncident(
            **incident_args(
                signal_kinds=["volume", AlertKind.LATENCY, "volume"],
                reported_symptoms={Symptom.SLOW, Symptom.ERRORS},
            )
        )
        assert incident.signal_kinds == (AlertKind.LATENCY, AlertKind.VOLUME)
        assert incident.reported_symptoms == (Symptom.ERRORS, Symptom.SLOW)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("signal_kinds", ["cpu"]),
            ("signal_kinds", "latency"),
            ("signal_kinds", None),
            ("reported_symptoms", ["broken"]),
            ("reported_symptoms", "slow"),
        ],
        ids=repr,
    )
    def test_refuses_unknown_kinds_and_symptoms(self, field: str, value: object) -> None:
        """An unknown kind or symptom, or a bare string, is refused by name."""
        assert refused_field(ServiceIncident, **incident_args(**{field: value})) == field

    @pytest.mark.parametrize("severity", ["SEV1", 1, object()], ids=["name", "rank", "object"])
    def test_refuses_severities_that_are_not_levels(self, severity: object) -> None:
        """The severity is a ``Severity`` level, not its name or rank."""
        assert refused_field(ServiceIncident, **incident_args(severity=severity)) == "severity"

    @pytest.mark.parametrize("name", MILESTONES)
    def test_refuses_naive_milestones(self, name: str) -> None:
        """Every milestone timestamp must be timezone-aware."""
        assert refused_field(ServiceIncident, **incident_args(**{name: NAIVE})) == name

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("id", ""),
            ("title", "t" * (TITLE_MAX + 1)),
            ("title", " "),
            ("owner_team", "a\nb"),
            ("detected_at", NAIVE),
            ("status", "open"),
            ("region", ""),
            ("version", -1),
            ("reopen_count", -1),
            ("signals_since_digest", -1),
            ("group_key", ""),
            ("review", "done"),
            ("merged_into", ""),
            ("dismissal_reason", ""),
            ("last_public_update", "x" * 10_001),
        ],
        ids=lambda v: repr(v)[:24],
    )
    def test_refuses_invalid_fields_by_name(self, field: str, value: object) -> None:
        """Each invalid field is refused, and the error names it."""
        assert refused_field(ServiceIncident, **incident_args(**{field: value})) == field

    @given(ils.service_incidents())
    def test_incidents_are_equal_only_to_themselves(self, incident: ServiceIncident) -> None:
        """Incidents are entities: a copy with the same fields is another incident."""
        copy = attrs.evolve(incident)
        assert incident == incident
        assert copy != incident
        assert attrs.asdict(copy, recurse=False) == attrs.asdict(incident, recurse=False)


class TestRemediationItem:
    @given(ils.remediation_items())
    def test_is_a_frozen_value(self, item: RemediationItem) -> None:
        """A remediation item is immutable and equal to its copy."""
        assert attrs.evolve(item) == item
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            item.owner_team = "other"  # type: ignore[misc]

    @pytest.mark.parametrize("due", [T0, "2026-04-01", None], ids=repr)
    def test_due_must_be_a_plain_date(self, due: object) -> None:
        """The due date is a date, not a datetime or a string."""
        args = {"description": "Add a latency budget alarm.", "owner_team": "chat-eng", "due": due}
        assert refused_field(RemediationItem, **args) == "due"

    def test_description_is_limited_to_2000_characters(self) -> None:
        """A description of 2,000 characters is accepted and one more is refused."""
        args: dict[str, Any] = {"owner_team": "chat-eng", "due": date(2026, 4, 1)}
        assert RemediationItem(description="d" * 2_000, **args)
        assert refused_field(RemediationItem, description="d" * 2_001, **args) == "description"


class TestReview:
    def test_remediation_list_becomes_a_tuple(self) -> None:
        """Remediation items given as a list are stored as a tuple."""
        item = RemediationItem(description="Fix it.", owner_team="chat-eng", due=date(2026, 4, 1))
        review = Review(root_cause="A bad deploy.", remediation=[item])
        assert review.remediation == (item,)

    def test_impact_may_be_empty_but_root_cause_may_not(self) -> None:
        """Every review needs a root cause; the impact is optional."""
        assert Review(root_cause="A bad deploy.").impact == ""
        assert refused_field(Review, root_cause=" ") == "root_cause"

    @pytest.mark.parametrize("remediation", ["fix it", ["fix it"], [None], 3], ids=repr)
    def test_refuses_remediation_that_is_not_items(self, remediation: object) -> None:
        """Remediation is a sequence of ``RemediationItem`` values."""
        assert refused_field(Review, root_cause="x", remediation=remediation) == "remediation"


class TestStatusUpdate:
    def update_args(self, **changes: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "id": "U-1",
            "incident_id": "INC-7",
            "body": "We are investigating slow chat loads.",
            "visibility": Visibility.PUBLIC,
            "status": IncidentStatus.INVESTIGATING,
            "posted_at": T0,
            "author": ENGINEER,
        }
        return {**base, **changes}

    def test_visibility_and_status_accept_their_values(self) -> None:
        """Visibility and status may be given as their value strings."""
        update = StatusUpdate(**self.update_args(visibility="internal", status="monitoring"))
        assert (update.visibility, update.status) == (
            Visibility.INTERNAL,
            IncidentStatus.MONITORING,
        )

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("author", "eve"),
            ("visibility", "private"),
            ("status", "fixed"),
            ("posted_at", NAIVE),
            ("body", ""),
        ],
    )
    def test_refuses_invalid_fields_by_name(self, field: str, value: object) -> None:
        """Each invalid field is refused, and the error names it."""
        assert refused_field(StatusUpdate, **self.update_args(**{field: value})) == field


class TestHandoff:
    @given(ils.identifiers())
    def test_refuses_a_handoff_to_the_owner_itself(self, team: str) -> None:
        """Ownership cannot pass from a team to itself; the refusal names ``to_team``."""
        args = {"incident_id": "INC-7", "reason": "Follow the sun.", "at": T0}
        with pytest.raises(InvalidInput, match="already owns the incident") as info:
            Handoff(from_team=team, to_team=team, **args)
        assert info.value.field == "to_team"

    @given(ils.handoffs(), st.sampled_from(["incident_id", "from_team", "to_team", "at"]))
    def test_refuses_invalid_fields_by_name(self, handoff: Handoff, field: str) -> None:
        """A blank identifier or a naive time is refused by name."""
        bad = NAIVE if field == "at" else " "
        kwargs = {**attrs.asdict(handoff, recurse=False), field: bad}
        assert refused_field(Handoff, **kwargs) == field
