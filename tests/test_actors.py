"""Actors and the permission rules: who may do what, and on whose incidents."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_lifecycle.domain import (
    Action,
    Actor,
    InvalidInput,
    NotPermitted,
    Role,
    check_permitted,
    is_permitted,
)
from incident_lifecycle.testing import strategies as ils

OWNER = "chat-eng"
OTHER = "talk-eng"

# The rules, written out from the design (section 8) rather than read from the code.
# Besides these roles, an incident manager may always act.
ALLOWED: dict[Action, set[Role]] = {
    Action.RECEIVE_ALERT: {Role.MONITORING},
    Action.ACKNOWLEDGE: {Role.ENGINEERING, Role.MONITORING},
    Action.VALIDATE: {Role.ENGINEERING},
    Action.DISMISS: {Role.ENGINEERING},
    Action.DETACH_ALERT: {Role.ENGINEERING, Role.MONITORING},
    Action.DECLARE: {Role.ENGINEERING, Role.SUPPORT},
    Action.POST_PUBLIC_UPDATE: {Role.ENGINEERING},
    Action.POST_INTERNAL_UPDATE: {Role.ENGINEERING, Role.SUPPORT, Role.MONITORING},
    Action.CHANGE_SEVERITY: {Role.ENGINEERING},
    Action.HAND_OFF: {Role.ENGINEERING},
    Action.RESOLVE: {Role.ENGINEERING},
    Action.REOPEN: {Role.ENGINEERING, Role.SUPPORT},
    Action.MERGE: {Role.ENGINEERING},
    Action.CLOSE: {Role.ENGINEERING},
    Action.TRIAGE: {Role.SUPPORT},
    Action.LINK_TICKET: {Role.SUPPORT},
    Action.END_TROUBLESHOOTING: {Role.SUPPORT},
    Action.DELIVER: set(Role),
    Action.REDRIVE: {Role.MONITORING, Role.ENGINEERING},
}
OWNER_ONLY = [
    Action.VALIDATE,
    Action.DISMISS,
    Action.POST_PUBLIC_UPDATE,
    Action.CHANGE_SEVERITY,
    Action.HAND_OFF,
    Action.RESOLVE,
    Action.MERGE,
    Action.CLOSE,
]
ANY_TEAM = [a for a in Action if a not in OWNER_ONLY]


def actor(role: Role, team: str | None = OWNER) -> Actor:
    return Actor(name=f"{role.value}-person", role=role, team=team)


class TestActor:
    def test_role_may_be_given_as_its_value(self) -> None:
        """A role's value string is converted to the role."""
        assert Actor(name="ana", role="support").role is Role.SUPPORT

    @pytest.mark.parametrize("role", ["admin", "Support", "", None])
    def test_unknown_role_is_refused(self, role: object) -> None:
        """An unknown role is refused, naming ``role``."""
        with pytest.raises(InvalidInput) as info:
            Actor(name="ana", role=role)  # type: ignore[arg-type]
        assert info.value.field == "role"

    def test_engineering_actor_must_name_a_team(self) -> None:
        """An engineer without a team is refused, naming ``team``."""
        with pytest.raises(InvalidInput, match=r"^team: an engineering actor must name") as info:
            Actor(name="eve", role=Role.ENGINEERING)
        assert info.value.field == "team"

    @pytest.mark.parametrize("role", [Role.MONITORING, Role.SUPPORT, Role.INCIDENT_MANAGER])
    def test_other_roles_may_have_no_team(self, role: Role) -> None:
        """Only engineers must name a team."""
        assert Actor(name="sam", role=role).team is None

    @pytest.mark.parametrize(("field", "value"), [("name", ""), ("name", "a\nb"), ("team", " ")])
    def test_refuses_invalid_name_or_team(self, field: str, value: str) -> None:
        """Names and teams are identifiers."""
        fields = {"name": "sam", "role": Role.SUPPORT, field: value}
        with pytest.raises(InvalidInput) as info:
            Actor(**fields)
        assert info.value.field == field

    def test_str_shows_name_role_and_team(self) -> None:
        """An actor prints as name, role and team, the team only when there is one."""
        assert (
            str(Actor(name="eve", role=Role.ENGINEERING, team=OWNER))
            == "eve (engineering, chat-eng)"
        )
        assert str(Actor(name="ana", role=Role.SUPPORT)) == "ana (support)"

    @given(ils.actors())
    def test_is_an_immutable_value(self, value: Actor) -> None:
        """Actors are frozen and equal by value."""
        assert attrs.evolve(value) == value
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            value.name = "someone else"  # type: ignore[misc]


class TestPermissionTable:
    def test_the_table_covers_every_action(self) -> None:
        """Every action has a rule in this test's table."""
        assert set(ALLOWED) == set(Action)

    @pytest.mark.parametrize("action", list(Action), ids=lambda a: a.name)
    @pytest.mark.parametrize("role", list(Role), ids=lambda r: r.name)
    def test_roles_match_the_design(self, role: Role, action: Action) -> None:
        """On its own team's incident, a role may act exactly when the design allows it."""
        expected = role is Role.INCIDENT_MANAGER or role in ALLOWED[action]
        assert is_permitted(actor(role), action, owner_team=OWNER) is expected


class TestIncidentManager:
    @given(
        ils.actors(Role.INCIDENT_MANAGER),
        st.sampled_from(list(Action)),
        st.none() | ils.identifiers(),
    )
    def test_may_do_everything(self, manager: Actor, action: Action, owner: str | None) -> None:
        """An incident manager may take any action on any team's incident, or none."""
        assert is_permitted(manager, action, owner)
        check_permitted(manager, action, owner)


class TestEngineering:
    @pytest.mark.parametrize("action", OWNER_ONLY, ids=lambda a: a.name)
    def test_owner_team_may_act_on_its_incident(self, action: Action) -> None:
        """The owner team's engineers may take owner-only actions on their incident."""
        assert is_permitted(actor(Role.ENGINEERING, OWNER), action, owner_team=OWNER)

    @pytest.mark.parametrize("action", OWNER_ONLY, ids=lambda a: a.name)
    def test_other_teams_are_refused_owner_only_actions(self, action: Action) -> None:
        """Another team's engineer is refused owner-only actions, naming the owner team."""
        engineer = actor(Role.ENGINEERING, OTHER)
        assert not is_permitted(engineer, action, owner_team=OWNER)
        with pytest.raises(NotPermitted, match="the owner team is chat-eng, not talk-eng") as info:
            check_permitted(engineer, action, owner_team=OWNER)
        assert info.value.action == action.value
        assert info.value.actor == str(engineer)

    @given(st.sampled_from(OWNER_ONLY), ils.actors(Role.ENGINEERING))
    def test_owner_only_actions_need_a_known_owner(self, action: Action, engineer: Actor) -> None:
        """Without an owner team, no engineer may take an owner-only action."""
        with pytest.raises(NotPermitted):
            check_permitted(engineer, action)

    @pytest.mark.parametrize(
        "action", [a for a in ANY_TEAM if Role.ENGINEERING in ALLOWED[a]], ids=lambda a: a.name
    )
    def test_may_take_shared_actions_on_any_teams_incident(self, action: Action) -> None:
        """Acknowledging, declaring, internal updates and the like are open to any engineer."""
        assert is_permitted(actor(Role.ENGINEERING, OTHER), action, owner_team=OWNER)

    @pytest.mark.parametrize(
        "action", [Action.TRIAGE, Action.LINK_TICKET, Action.RECEIVE_ALERT], ids=lambda a: a.name
    )
    def test_does_not_triage_or_receive_alerts(self, action: Action) -> None:
        """Engineering neither triages customer reports nor receives alerts."""
        with pytest.raises(NotPermitted, match="only "):
            check_permitted(actor(Role.ENGINEERING), action, owner_team=OWNER)


class TestSupport:
    @pytest.mark.parametrize(
        "action", [Action.TRIAGE, Action.LINK_TICKET, Action.END_TROUBLESHOOTING, Action.DECLARE]
    )
    def test_triages_and_declares(self, action: Action) -> None:
        """Support triages reports, links tickets, ends troubleshooting and declares incidents."""
        assert is_permitted(actor(Role.SUPPORT, None), action)

    @pytest.mark.parametrize("action", OWNER_ONLY, ids=lambda a: a.name)
    def test_may_not_take_owner_actions_even_in_the_owner_team(self, action: Action) -> None:
        """A support actor is refused owner-only actions whatever team it names."""
        with pytest.raises(NotPermitted, match=r"only engineering, incident_manager may$"):
            check_permitted(actor(Role.SUPPORT, OWNER), action, owner_team=OWNER)


class TestMonitoring:
    def test_receives_alerts(self) -> None:
        """The operations centre receives alerts."""
        check_permitted(actor(Role.MONITORING, None), Action.RECEIVE_ALERT)

    @pytest.mark.parametrize("role", [Role.SUPPORT, Role.ENGINEERING])
    def test_nobody_else_but_managers_receives_alerts(self, role: Role) -> None:
        """Only monitoring (and incident managers) may receive alerts."""
        with pytest.raises(NotPermitted, match="only incident_manager, monitoring may"):
            check_permitted(actor(role), Action.RECEIVE_ALERT)

    @pytest.mark.parametrize("action", [Action.TRIAGE, Action.VALIDATE, Action.POST_PUBLIC_UPDATE])
    def test_may_not_triage_validate_or_post_publicly(self, action: Action) -> None:
        """Monitoring is refused triage, validation and public updates."""
        assert not is_permitted(actor(Role.MONITORING), action, owner_team=OWNER)


class TestCheckPermitted:
    @given(ils.actors(), st.sampled_from(list(Action)), st.sampled_from([None, OWNER, OTHER]))
    def test_agrees_with_is_permitted(self, who: Actor, action: Action, owner: str | None) -> None:
        """``check_permitted`` raises ``NotPermitted`` exactly when ``is_permitted`` says no."""
        if is_permitted(who, action, owner):
            check_permitted(who, action, owner)
        else:
            with pytest.raises(NotPermitted) as info:
                check_permitted(who, action, owner)
            assert str(info.value).startswith(f"{who} may not {action.value}: ")

    @given(ils.actors())
    def test_everyone_may_deliver_notifications(self, who: Actor) -> None:
        """Delivering the outbox is open to every role."""
        assert is_permitted(who, Action.DELIVER)
