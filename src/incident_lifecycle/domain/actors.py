"""Who acts, and who may do what.

Roles follow the guide: the monitoring operations centre receives alerts, the
product's engineering team validates and works the incident, support triages
customer reports, and incident managers may do anything an owner team may.
"""

from __future__ import annotations

import enum

import attrs

from .checks import check_enum, identifier, optional
from .errors import InvalidInput, NotPermitted

__all__ = ["Action", "Actor", "Role", "check_permitted", "is_permitted"]


class Role(enum.StrEnum):
    """The part a person or system plays in the workflow."""

    MONITORING = "monitoring"
    ENGINEERING = "engineering"
    SUPPORT = "support"
    INCIDENT_MANAGER = "incident_manager"


def _to_role(value: Role | str) -> Role:
    return check_enum("role", Role, value)


@attrs.frozen(kw_only=True)
class Actor:
    """A person or system running a command: a name, a role and, usually, a team."""

    name: str = attrs.field(validator=identifier())
    role: Role = attrs.field(converter=_to_role)
    team: str | None = attrs.field(default=None, validator=optional(identifier()))

    def __attrs_post_init__(self) -> None:
        if self.role is Role.ENGINEERING and self.team is None:
            raise InvalidInput("team", "an engineering actor must name their team")

    def __str__(self) -> str:
        return f"{self.name} ({self.role.value}{', ' + self.team if self.team else ''})"


class Action(enum.StrEnum):
    """Commands whose permission depends on the actor."""

    RECEIVE_ALERT = "receive alerts"
    ACKNOWLEDGE = "acknowledge an incident"
    VALIDATE = "validate an incident"
    DISMISS = "dismiss an incident"
    DETACH_ALERT = "detach an alert"
    DECLARE = "declare an incident"
    POST_PUBLIC_UPDATE = "post a public update"
    POST_INTERNAL_UPDATE = "post an internal update"
    CHANGE_SEVERITY = "change the severity"
    HAND_OFF = "hand off an incident"
    RESOLVE = "resolve an incident"
    REOPEN = "reopen an incident"
    MERGE = "merge incidents"
    CLOSE = "close an incident"
    TRIAGE = "triage a customer report"
    LINK_TICKET = "link or unlink a ticket"
    END_TROUBLESHOOTING = "resolve or transfer a customer report"
    DELIVER = "deliver notifications"
    REDRIVE = "redrive dead letters"


_OWNER = frozenset({Role.ENGINEERING})
_RULES: dict[Action, frozenset[Role]] = {
    Action.RECEIVE_ALERT: frozenset({Role.MONITORING}),
    Action.ACKNOWLEDGE: frozenset({Role.ENGINEERING, Role.MONITORING}),
    Action.VALIDATE: _OWNER,
    Action.DISMISS: _OWNER,
    Action.DETACH_ALERT: frozenset({Role.ENGINEERING, Role.MONITORING}),
    Action.DECLARE: frozenset({Role.ENGINEERING, Role.SUPPORT}),
    Action.POST_PUBLIC_UPDATE: _OWNER,
    Action.POST_INTERNAL_UPDATE: frozenset({Role.ENGINEERING, Role.SUPPORT, Role.MONITORING}),
    Action.CHANGE_SEVERITY: _OWNER,
    Action.HAND_OFF: _OWNER,
    Action.RESOLVE: _OWNER,
    Action.REOPEN: frozenset({Role.ENGINEERING, Role.SUPPORT}),
    Action.MERGE: _OWNER,
    Action.CLOSE: _OWNER,
    Action.TRIAGE: frozenset({Role.SUPPORT}),
    Action.LINK_TICKET: frozenset({Role.SUPPORT}),
    Action.END_TROUBLESHOOTING: frozenset({Role.SUPPORT}),
    Action.DELIVER: frozenset(Role),
    # Putting failed messages back is operations' call (or an engineer's), not support's.
    Action.REDRIVE: frozenset({Role.MONITORING, Role.ENGINEERING}),
}
# Actions that engineering may only take on incidents its own team owns.
_OWNER_ONLY = frozenset(
    {
        Action.VALIDATE,
        Action.DISMISS,
        Action.POST_PUBLIC_UPDATE,
        Action.CHANGE_SEVERITY,
        Action.HAND_OFF,
        Action.RESOLVE,
        Action.MERGE,
        Action.CLOSE,
    }
)


def _refusal(actor: Actor, action: Action, owner_team: str | None) -> str | None:
    if actor.role is Role.INCIDENT_MANAGER:
        return None
    if actor.role not in _RULES[action]:
        allowed = sorted(r.value for r in _RULES[action] | {Role.INCIDENT_MANAGER})
        return f"only {', '.join(allowed)} may"
    if action in _OWNER_ONLY and actor.role is Role.ENGINEERING and actor.team != owner_team:
        return f"the owner team is {owner_team}, not {actor.team}"
    return None


def is_permitted(actor: Actor, action: Action, owner_team: str | None = None) -> bool:
    """Tell whether ``actor`` may take ``action`` on something ``owner_team`` owns.

    Incident managers may do everything. Engineering may validate, dismiss,
    update publicly, change severity, hand off, resolve, merge and close only
    what its own team owns.
    """
    return _refusal(actor, action, owner_team) is None


def check_permitted(actor: Actor, action: Action, owner_team: str | None = None) -> None:
    """Raise :class:`NotPermitted` unless :func:`is_permitted` allows the action."""
    reason = _refusal(actor, action, owner_team)
    if reason is not None:
        raise NotPermitted(str(actor), action.value, reason)
