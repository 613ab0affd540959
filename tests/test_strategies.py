"""The shipped hypothesis strategies draw valid, coherent values, and invalid cases that fail."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from incident_lifecycle.commands import COMMANDS, Command, MergeIncidents, Operation, TriageReports
from incident_lifecycle.domain import (
    DEFAULT_SCALE,
    EVENT_TYPES,
    FINAL_STATUSES,
    OPEN_STATUSES,
    Actor,
    Alert,
    AlertKind,
    AlertStatus,
    CustomerReport,
    DomainEvent,
    IncidentStatus,
    InvalidInput,
    ReportStatus,
    Role,
    ServiceIncident,
    SeverityScale,
)
from incident_lifecycle.domain.checks import check_identifier, check_text
from incident_lifecycle.testing import strategies as ils
from incident_lifecycle.testing.strategies import InvalidCase

VALUES: dict[str, st.SearchStrategy[Any]] = {
    "actors": ils.actors(),
    "commands": ils.commands(),
    "alert_signals": ils.alert_signals(),
    "alerts": ils.alerts(),
    "customer_reports": ils.customer_reports(),
    "domain_events": ils.domain_events(),
    "handoffs": ils.handoffs(),
    "remediation_items": ils.remediation_items(),
    "reviews": ils.reviews(),
    "service_incidents": ils.service_incidents(),
    "severities": ils.severities(),
    "severity_levels": ils.severity_levels(),
    "status_updates": ils.status_updates(),
}


def assert_in_order(*times: datetime | None) -> None:
    present = [t for t in times if t is not None]
    assert present == sorted(present)


class TestModule:
    def test_all_is_sorted_and_complete(self) -> None:
        """``__all__`` is sorted and names only what the module defines."""
        assert ils.__all__ == sorted(set(ils.__all__))
        assert all(hasattr(ils, name) for name in ils.__all__)

    def test_documents_its_usage(self) -> None:
        """The module docstring shows how to use the strategies, and each one has a docstring."""
        assert "@given(" in (ils.__doc__ or "")
        undocumented = [n for n in ils.__all__ if not getattr(ils, n).__doc__]
        assert undocumented == []


class TestValidValues:
    @pytest.mark.parametrize("name", sorted(VALUES))
    @settings(max_examples=20)
    @given(data=st.data())
    def test_every_value_passes_its_own_validators(self, name: str, data: st.DataObject) -> None:
        """Rebuilding any drawn value through its constructor raises nothing and changes nothing."""
        value = data.draw(VALUES[name])
        rebuilt = attrs.evolve(value)
        assert attrs.asdict(rebuilt, recurse=False) == attrs.asdict(value, recurse=False)

    @given(ils.identifiers())
    def test_identifiers_are_accepted_as_identifiers(self, value: str) -> None:
        """Every drawn identifier is 1-128 characters, not blank, without control characters."""
        assert check_identifier("id", value) == value

    @given(
        st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), ils.identifiers(max_size=n)))
    )
    def test_identifiers_respect_max_size(self, sized: tuple[int, str]) -> None:
        """An identifier never exceeds the ``max_size`` asked for."""
        size, value = sized
        assert 1 <= len(value) <= size

    @given(ils.texts(max_size=50), ils.texts(max_size=50, min_size=0))
    def test_texts_are_accepted_as_free_text(self, text: str, maybe_empty: str) -> None:
        """Drawn texts pass the free-text check, empty only when ``min_size=0``."""
        assert check_text("body", text, max_len=50) == text
        assert check_text("note", maybe_empty, max_len=50, min_len=0) == maybe_empty

    @given(ils.aware_datetimes())
    def test_datetimes_are_aware(self, value: datetime) -> None:
        """Every drawn datetime carries a UTC offset."""
        assert value.utcoffset() is not None

    @given(ils.severities())
    def test_severities_are_levels_of_the_default_scale(self, value: object) -> None:
        """``severities()`` draws the guide's levels."""
        assert value in DEFAULT_SCALE

    @given(ils.severity_scales())
    def test_severity_scales_are_valid_scales(self, scale: SeverityScale) -> None:
        """A drawn scale rebuilds from its levels into an equal scale."""
        assert SeverityScale(list(scale.levels)) == scale
        assert 1 <= len(scale) <= 8

    @given(st.sampled_from(list(Role)).flatmap(lambda r: st.tuples(st.just(r), ils.actors(r))))
    def test_actors_have_the_role_asked_for(self, pair: tuple[Role, Any]) -> None:
        """``actors(role)`` pins the role; engineers always have a team."""
        role, actor = pair
        assert actor.role is role
        assert role is not Role.ENGINEERING or actor.team is not None

    @given(ils.actors(Role.ENGINEERING, team="chat-eng"))
    def test_actors_team_can_be_pinned(self, actor: Any) -> None:
        """``actors(team=...)`` pins the team."""
        assert actor.team == "chat-eng"

    @given(ils.alert_signals("chat", fingerprint="chat/latency", kind="volume"))  # type: ignore[arg-type]
    def test_alert_signals_pin_the_given_fields(self, signal: Any) -> None:
        """``alert_signals`` keeps the product, fingerprint and kind it is given."""
        assert (signal.product, signal.fingerprint, signal.kind) == (
            "chat",
            "chat/latency",
            "volume",
        )

    @pytest.mark.parametrize("event_type", list(EVENT_TYPES.values()), ids=lambda c: c.__name__)
    @settings(max_examples=3)
    @given(data=st.data())
    def test_domain_events_pin_the_event_type(
        self, event_type: type[DomainEvent], data: Any
    ) -> None:
        """``domain_events(cls)`` draws events of exactly that class."""
        assert type(data.draw(ils.domain_events(event_type))) is event_type

    def test_domain_events_refuse_unregistered_classes(self) -> None:
        """Asking for the base class (or any unregistered class) is an error."""
        with pytest.raises(ValueError, match="not in EVENT_TYPES"):
            find(ils.domain_events(DomainEvent), lambda _: True)


class TestCoherentEntities:
    @given(ils.alerts())
    def test_alerts_are_coherent(self, alert: Alert) -> None:
        """Alerts are seen in order, grouped unless received, and active as their status implies."""
        assert alert.first_seen_at <= alert.last_seen_at
        assert alert.count > 1 or alert.first_seen_at == alert.last_seen_at
        assert alert.status is AlertStatus.RECEIVED or alert.incident_id is not None
        if alert.status is not AlertStatus.VALIDATED:
            assert alert.active is (alert.status is AlertStatus.RECEIVED)

    @pytest.mark.parametrize("status", list(AlertStatus), ids=str)
    @settings(max_examples=10)
    @given(data=st.data())
    def test_alerts_status_can_be_pinned(self, status: AlertStatus, data: Any) -> None:
        """``alerts(status)`` draws alerts in that status."""
        assert data.draw(ils.alerts(status)).status is status

    @given(ils.customer_reports())
    def test_reports_are_coherent(self, report: CustomerReport) -> None:
        """Linked reports name an incident; ended reports have an end; open ones have neither."""
        ended = report.status in (ReportStatus.SOLVED, ReportStatus.TRANSFERRED)
        assert (report.ended_at is not None) is ended
        if report.ended_at is not None:
            assert report.ended_at >= report.reported_at
        if report.status is ReportStatus.LINKED:
            assert report.incident_id is not None
        if report.status in (ReportStatus.RECEIVED, ReportStatus.TROUBLESHOOTING):
            assert report.incident_id is None

    @pytest.mark.parametrize("status", list(ReportStatus), ids=str)
    @settings(max_examples=10)
    @given(data=st.data())
    def test_reports_status_can_be_pinned(self, status: ReportStatus, data: Any) -> None:
        """``customer_reports(status)`` draws reports in that status."""
        assert data.draw(ils.customer_reports(status.value)).status is status

    @pytest.mark.parametrize("status", list(IncidentStatus), ids=str)
    @settings(max_examples=25)
    @given(data=st.data())
    def test_incidents_are_coherent_in_every_status(
        self, status: IncidentStatus, data: Any
    ) -> None:
        """Each status comes with the fields it implies and milestones in order."""
        incident: ServiceIncident = data.draw(ils.service_incidents(status))
        validated = status not in (IncidentStatus.DETECTED, IncidentStatus.DISMISSED)
        resolved = status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED)
        assert incident.status is status
        assert (incident.severity is not None) is validated
        assert (incident.opened_at is not None) is validated
        assert (incident.ended_at is not None) is (
            status in FINAL_STATUSES - {IncidentStatus.CLOSED}
        )
        assert (incident.closed_at is not None) is (status is IncidentStatus.CLOSED)
        assert (incident.review is not None) is (status is IncidentStatus.CLOSED)
        assert (incident.dismissal_reason is not None) is (status is IncidentStatus.DISMISSED)
        assert (incident.merged_into is not None) is (status is IncidentStatus.MERGED)
        assert incident.merged_into != incident.id
        assert (incident.resolution is not None) is (incident.resolved_at is not None)
        if resolved:
            assert incident.resolved_at is not None
        if status is IncidentStatus.IDENTIFIED:
            assert incident.identified_at is not None
        if status is IncidentStatus.MONITORING:
            assert incident.monitoring_at is not None
        if status in OPEN_STATUSES:
            assert (incident.resolved_at is not None) is (incident.reopen_count > 0)
        assert_in_order(
            incident.detected_at,
            incident.opened_at,
            incident.identified_at,
            incident.monitoring_at,
            incident.resolved_at,
            incident.closed_at,
            incident.ended_at,
        )
        assert_in_order(incident.detected_at, incident.acknowledged_at)
        assert_in_order(
            incident.opened_at,
            incident.first_public_update_at,
            incident.last_public_update_at,
            incident.last_update_at,
        )
        assert_in_order(incident.opened_at, incident.last_digest_at)
        assert_in_order(incident.opened_at, incident.last_reminder_at)
        if incident.opened_at is None:
            assert incident.last_digest_at is incident.last_reminder_at is None
        assert (incident.first_public_update_at is None) is (incident.last_public_update_at is None)
        assert list(incident.signal_kinds) == sorted(set(incident.signal_kinds))
        assert (incident.last_public_update is None) is (incident.last_public_update_at is None)
        assert incident.last_public_update_at is None or incident.last_update_at is not None

    @given(ils.status_updates())
    def test_status_updates_announce_an_open_phase_or_the_resolution(self, update: Any) -> None:
        """A drawn update announces investigating, identified, monitoring or resolved."""
        assert update.status in OPEN_STATUSES | {IncidentStatus.RESOLVED}

    @given(ils.handoffs())
    def test_handoffs_pass_between_two_teams(self, handoff: Any) -> None:
        """A drawn hand-off always changes the owner team."""
        assert handoff.from_team != handoff.to_team


LIMITS = {
    ("AlertSignal", "fingerprint"): 255,
    ("AlertSignal", "summary"): 1_024,
    ("CustomerReport", "summary"): 10_000,
    ("CustomerReport", "locale"): 35,
    ("ServiceIncident", "title"): 200,
    ("Severity", "name"): 32,
}
"""Length limits other than the identifiers' 128 characters."""

QUICK_FIND = settings(max_examples=2_000, phases=[Phase.generate], database=None, derandomize=True)
"""Stop at the first match (no shrinking), from a fixed seed so the search time is stable."""


def _not_string_labels(value: Any) -> bool:
    if not isinstance(value, dict):
        return True
    return any(not isinstance(item, str) for pair in value.items() for item in pair)


def _holds(predicate: Any, value: Any) -> bool:
    try:
        return bool(predicate(value))
    except (TypeError, ValueError, AttributeError):
        return False


class TestInvalidInputs:
    @given(ils.invalid_inputs())
    def test_every_case_raises_invalid_input_naming_the_field(self, case: InvalidCase) -> None:
        """Each case raises ``InvalidInput`` with the expected ``field``, named in the message."""
        factory, kwargs, field = case
        with pytest.raises(InvalidInput) as info:
            factory(**kwargs)
        assert info.value.field == field
        assert field in str(info.value)

    @pytest.mark.parametrize("kind", ils.INVALID_KINDS)
    @settings(max_examples=20)
    @given(data=st.data())
    def test_each_kind_raises_naming_the_field(self, kind: str, data: Any) -> None:
        """The cases of every kind raise ``InvalidInput`` naming the spoiled field."""
        factory, kwargs, field = data.draw(ils.invalid_inputs(kind))
        with pytest.raises(InvalidInput) as info:
            factory(**kwargs)
        assert info.value.field == field
        assert str(info.value).startswith(f"{field}: ")

    @given(ils.invalid_inputs("oversized"))
    def test_oversized_strings_exceed_their_limit(self, case: InvalidCase) -> None:
        """Oversized strings are longer than the field's limit (128 for identifiers)."""
        factory, kwargs, field = case
        assert len(kwargs[field]) > LIMITS.get((factory.__name__, field), 128)

    @given(ils.invalid_inputs("blank", "naive_datetimes", "control_characters"))
    def test_string_and_datetime_cases_spoil_as_promised(self, case: InvalidCase) -> None:
        """Blank cases are whitespace, naive ones have no zone, control ones a control character."""
        _, kwargs, field = case
        value = kwargs[field]
        if isinstance(value, datetime):
            assert value.tzinfo is None
        elif value.strip():
            assert any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value)

    def test_unknown_kinds_are_refused(self) -> None:
        """Asking for a kind that does not exist names the known ones."""
        with pytest.raises(ValueError, match="unknown kinds \\['typo'\\]; choose from blank"):
            ils.invalid_inputs("typo")

    @pytest.mark.parametrize(
        ("kind", "factory", "field", "predicate"),
        [
            ("oversized", "AlertSignal", "fingerprint", lambda v: len(v) > 255),
            ("blank", "AlertSignal", "fingerprint", lambda v: v.strip() == ""),
            ("oversized", "AlertSignal", "summary", lambda v: len(v) > 1024),
            ("oversized", "CustomerReport", "summary", lambda v: len(v) > 10_000),
            ("oversized", "CustomerReport", "ticket_id", lambda v: len(v) > 128),
            ("control_characters", "CustomerReport", "locale", lambda v: v.endswith("\n")),
            ("naive_datetimes", "AlertSignal", "observed_at", lambda v: v.tzinfo is None),
            ("unknown_enum_values", "AlertSignal", "kind", lambda v: v not in set(AlertKind)),
            ("bad_labels", "AlertSignal", "labels", _not_string_labels),
            ("bad_labels", "AlertSignal", "labels", lambda v: len(v) > 64),
            ("bad_severity_scales", "SeverityScale", "levels", lambda v: len(v) == 0),
            (
                "bad_severity_scales",
                "SeverityScale",
                "levels",
                lambda v: len({s.name for s in v}) < len(v),
            ),
            ("bad_severity_scales", "Severity", "first_update", lambda v: v.days < 0),
        ],
        ids=lambda v: v if isinstance(v, str) else "",
    )
    def test_covers_each_promised_case(
        self, kind: str, factory: str, field: str, predicate: Any
    ) -> None:
        """The cases include each kind of invalid input the strategy's docstring promises."""

        def matches(case: InvalidCase) -> bool:
            made_by, kwargs, expected = case
            return (
                made_by.__name__ == factory
                and expected == field
                and _holds(predicate, kwargs[field])
            )

        assert find(ils.invalid_inputs(kind), matches, settings=QUICK_FIND)[2] == field


INCIDENTS = ["INC-1", "INC-2", "INC-3"]
POOLS: dict[str, list[str]] = {
    "incident_ids": INCIDENTS,
    "alert_ids": ["ALR-1", "ALR-2"],
    "ticket_ids": ["T-1", "T-2"],
    "products": ["chat", "talk"],
    "fingerprints": ["fp-1", "fp-2"],
    "regions": ["pod1", "pod2"],
    "teams": ["chat-eng", "talk-eng"],
    "notification_keys": ["k-1", "k-2"],
}
"""A pool of known values for each kind of reference a command makes."""
PEOPLE = [Actor(name="iris", role=Role.INCIDENT_MANAGER), Actor(name="sam", role=Role.SUPPORT)]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POOLED = ils.commands(
    list(COMMANDS),
    **{name: st.sampled_from(values) for name, values in POOLS.items()},
    by=st.sampled_from(PEOPLE),
    times=st.just(T0),
)


REFERENCES = {
    "incident_id": "incident_ids",
    "source_id": "incident_ids",
    "into": "incident_ids",
    "alert_id": "alert_ids",
    "ticket_id": "ticket_ids",
    "fingerprint": "fingerprints",
    "product": "products",
    "region": "regions",
    "team": "teams",
    "to_team": "teams",
}
"""Each field that names something, and the pool it must come from."""


def _parts(command: Any) -> list[Any]:
    """The command and the values nested in it: signals, reports, a triage decision."""
    parts = [command, *getattr(command, "signals", ()), *getattr(command, "reports", ())]
    parts += [getattr(command, name, None) for name in ("signal", "report", "decision")]
    return [part for part in parts if part is not None]


def _references(command: Any) -> list[tuple[str, str, object]]:
    """``(field, pool, value)`` of every reference in ``command`` and what it holds."""
    found = [
        (name, pool, getattr(part, name))
        for part in _parts(command)
        for name, pool in REFERENCES.items()
        if getattr(part, name, None) is not None
    ]
    found += [("keys", "notification_keys", key) for key in getattr(command, "keys", None) or ()]
    return found


class TestCommands:
    def test_draws_every_command_by_default_and_operations_when_asked(self) -> None:
        """By default every ``Command`` op is drawn, and neither ``own`` nor ``deliver``."""
        defaults = [op for op, cls in COMMANDS.items() if issubclass(cls, Command)]
        assert set(COMMANDS) - set(defaults) == {"own", "deliver"}
        seen: set[str] = set()

        def every_op_seen(command: Any) -> bool:
            seen.add(command.op)
            return seen >= set(defaults)

        find(ils.commands(), every_op_seen, settings=QUICK_FIND)
        assert seen == set(defaults)
        for op in ("own", "deliver"):
            found = find(ils.commands([op]), lambda _: True, settings=QUICK_FIND)
            assert type(found) is COMMANDS[op]

    @settings(max_examples=200)
    @given(ils.commands())
    def test_default_commands_run_in_a_transaction(self, command: object) -> None:
        """Drawn by default, a command is a ``Command`` (it runs in one store transaction)."""
        assert isinstance(command, Command)
        assert not isinstance(command, Operation)

    @settings(max_examples=200)
    @given(POOLED)
    def test_every_drawn_command_constructs_again(self, command: Any) -> None:
        """A drawn command is an instance of its op's class and passes its validators again."""
        rebuilt = attrs.evolve(command)
        assert attrs.asdict(rebuilt, recurse=False) == attrs.asdict(command, recurse=False)
        assert type(command) is COMMANDS[command.op]

    @settings(max_examples=300)
    @given(POOLED)
    def test_references_come_from_the_pools(self, command: Any) -> None:
        """Every id, product, fingerprint, region, team and key a command names is from its pool."""
        merge = isinstance(command, MergeIncidents)
        for field, pool, value in _references(command):
            if merge and field == "into" and value not in POOLS[pool]:
                assert value != command.source_id  # the fresh id that keeps a merge valid
                continue
            assert value in POOLS[pool], (field, value)
        if hasattr(command, "by"):
            assert command.by in PEOPLE
        for part in _parts(command):
            assert getattr(part, "observed_at", T0) == getattr(part, "reported_at", T0) == T0

    @settings(max_examples=50)
    @given(ils.commands(["merge"], incident_ids=st.sampled_from(INCIDENTS)))
    def test_merge_targets_come_from_the_pool_unless_it_repeats_the_source(
        self, command: MergeIncidents
    ) -> None:
        """A merge's source is from the pool; its target too, or a fresh id if the pool repeated."""
        assert command.source_id in INCIDENTS
        assert command.into != command.source_id

    @settings(max_examples=20)
    @given(ils.commands(["merge"], incident_ids=st.just("INC-1")))
    def test_a_pool_of_one_incident_still_gives_mergeable_pairs(
        self, command: MergeIncidents
    ) -> None:
        """With one incident to offer, a merge goes into a fresh id (it could not construct)."""
        assert command.source_id == "INC-1"
        assert command.into != "INC-1"

    @settings(max_examples=100)
    @given(ils.commands(["report", "reports"], ticket_ids=st.sampled_from(["T-1"])))
    def test_reports_to_triage_are_received(self, command: Any) -> None:
        """Reports drawn for triage are received, on the pooled tickets."""
        reports = command.reports if isinstance(command, TriageReports) else (command.report,)
        assert all(r.status is ReportStatus.RECEIVED for r in reports)
        assert {r.ticket_id for r in reports} == {"T-1"}

    @pytest.mark.parametrize(
        ("ops", "message"),
        [
            (["typo"], "unknown ops \\['typo'\\]; choose from own, alert"),
            ([], "non-empty collection"),
            ("alert", "non-empty collection"),
        ],
    )
    def test_refuses_unknown_ops(self, ops: Any, message: str) -> None:
        """Ops must be a collection of known wire names; the message lists them."""
        with pytest.raises(ValueError, match=message):
            ils.commands(ops)

    def test_docstring_example_runs(self) -> None:
        """The example in ``commands``' docstring runs and passes."""
        finder = doctest.DocTestFinder()
        runner = doctest.DocTestRunner()
        for test in finder.find(ils.commands, "commands", globs={"commands": ils.commands}):
            runner.run(test)
        assert runner.failures == 0
        assert runner.tries > 0
