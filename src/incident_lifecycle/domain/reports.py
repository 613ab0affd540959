"""Customer reports: the second road into an incident, through support."""

from __future__ import annotations

import enum
import re
from datetime import datetime

import attrs

from .checks import BODY_MAX, aware, check_enum, identifier, integer, optional, text
from .errors import InvalidInput

__all__ = [
    "REPORT_SUMMARY_MAX",
    "Channel",
    "CustomerReport",
    "ReportStatus",
    "Symptom",
    "TriageOutcome",
]

REPORT_SUMMARY_MAX = BODY_MAX
_LOCALE = re.compile(r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$")


class Channel(enum.StrEnum):
    """How the customer reached support."""

    TICKET = "ticket"
    CHAT = "chat"


class Symptom(enum.StrEnum):
    """What the customer experiences, as support classifies it."""

    SLOW = "slow"
    """Pages or API calls answer slowly (matches latency alerts)."""
    ERRORS = "errors"
    """Requests fail with errors (matches error-rate alerts)."""
    UNAVAILABLE = "unavailable"
    """The product cannot be reached at all (matches error-rate alerts)."""
    DELAYED = "delayed"
    """Emails, messages or jobs arrive late or not at all (matches volume alerts)."""
    OTHER = "other"


class ReportStatus(enum.StrEnum):
    """Where a customer report is in its lifecycle (see ``docs/lifecycles.md``)."""

    RECEIVED = "received"
    LINKED = "linked"
    TROUBLESHOOTING = "troubleshooting"
    SOLVED = "solved"
    TRANSFERRED = "transferred"


class TriageOutcome(enum.StrEnum):
    """The three outcomes of triaging a report, as the guide names them."""

    LINK_EXISTING = "link_existing"
    """It belongs to an existing service incident: link the ticket."""
    OPEN_NEW = "open_new"
    """It is a new service incident: open one at a severity."""
    TROUBLESHOOT = "troubleshoot"
    """It is not a service incident: standard troubleshooting."""


def _to_channel(value: Channel | str) -> Channel:
    return check_enum("channel", Channel, value)


def _to_symptom(value: Symptom | str) -> Symptom:
    return check_enum("symptom", Symptom, value)


def _to_report_status(value: ReportStatus | str) -> ReportStatus:
    return check_enum("status", ReportStatus, value)


def _check_locale(_inst: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or len(value) > 35 or not _LOCALE.fullmatch(value):
        raise InvalidInput(
            attribute.name, f"{value!r} is not a language tag such as 'en' or 'fr-CA'"
        )


@attrs.define(kw_only=True, eq=False)
class CustomerReport:
    """A customer's report of a problem, keyed by its helpdesk ticket id.

    Support builds it from the ticket or chat; triage then links it to an
    incident, opens a new one, or sends it to standard troubleshooting. Its
    ``status`` changes only through the report lifecycle.
    """

    ticket_id: str = attrs.field(validator=identifier())
    account_id: str = attrs.field(validator=identifier())
    product: str = attrs.field(validator=identifier())
    symptom: Symptom = attrs.field(converter=_to_symptom)
    summary: str = attrs.field(validator=text(REPORT_SUMMARY_MAX))
    reported_at: datetime = attrs.field(validator=aware())
    region: str | None = attrs.field(default=None, validator=optional(identifier()))
    channel: Channel = attrs.field(default=Channel.TICKET, converter=_to_channel)
    locale: str = attrs.field(default="en", validator=_check_locale)
    status: ReportStatus = attrs.field(default=ReportStatus.RECEIVED, converter=_to_report_status)
    incident_id: str | None = attrs.field(default=None, validator=optional(identifier()))
    ended_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    """When troubleshooting ended (solved or transferred), or its incident resolved it."""
    version: int = attrs.field(default=0, validator=integer(0))

    @property
    def id(self) -> str:
        """The report's identity is its ticket id."""
        return self.ticket_id
