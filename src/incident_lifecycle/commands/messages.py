"""One builder per topic: who is told, under which idempotency key, with which values.

Every notification a command enqueues is built here, so a topic's recipient,
key and template values are written once (a validation request reads the same
whether intake or a detach asks for it). Keys are stable: a command retried
after a conflict, or a message re-sent after a failure, carries the same key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from ..domain.errors import InvalidInput
from ..domain.incidents import Handoff, ServiceIncident, StatusUpdate
from ..domain.reports import CustomerReport
from ..notifications import (
    FanOut,
    Notification,
    RecipientKind,
    StatusPageUpdate,
    Templates,
    Topic,
    impact_of,
)

__all__ = ["Messages", "incident_values"]

_WORDED = frozenset({"status", "severity", "region", "last_update"})
"""The values of :func:`incident_values` that hold a word of ours, not the user's text."""


def incident_values(incident: ServiceIncident) -> dict[str, object]:
    """The public facts of an incident that customer templates may show."""
    return {
        "incident_id": incident.id,
        "title": incident.title,
        "status": incident.status.value,
        "severity": incident.severity.name if incident.severity else "unrated",
        "product": ", ".join(incident.products),
        "region": incident.region or "all regions",
        "last_update": incident.last_public_update or "none yet",
    }


class Messages:
    """Renders the templates into notifications for teams and tickets."""

    def __init__(self, templates: Templates) -> None:
        if not isinstance(templates, Templates):
            raise InvalidInput("templates", f"must be a Templates, not {type(templates).__name__}")
        self.templates = templates

    # -- the two shapes ---------------------------------------------------
    def to_team(
        self,
        topic: Topic,
        team: str,
        key: str,
        incident_id: str | None,
        now: datetime,
        values: Mapping[str, object],
    ) -> Notification:
        """One notification to an internal team (English templates)."""
        subject, body = self.templates.render(topic, "en", values)
        return Notification(
            key=key,
            recipient=team,
            recipient_kind=RecipientKind.TEAM,
            topic=topic,
            incident_id=incident_id,
            subject=subject,
            body=body,
            created_at=now,
        )

    def to_tickets(
        self,
        topic: Topic,
        recipients: Sequence[tuple[str, str]],
        key_prefix: str,
        incident: ServiceIncident,
        now: datetime,
        values: Mapping[str, object],
    ) -> list[FanOut]:
        """One fan-out per locale among ``recipients`` (``(ticket_id, locale)`` pairs).

        Each locale's text is rendered once, however many tickets share it;
        each ticket's key is ``f"{key_prefix}/{ticket_id}"``.
        """
        by_locale: dict[str, list[str]] = {}
        for ticket_id, locale in recipients:
            by_locale.setdefault(locale, []).append(ticket_id)
        out = []
        for locale, tickets in by_locale.items():
            subject, body = self.templates.render(topic, locale, self.localised(values, locale))
            out.append(
                FanOut(
                    key_prefix=key_prefix,
                    recipients=tickets,
                    topic=topic,
                    incident_id=incident.id,
                    subject=subject,
                    body=body,
                    created_at=now,
                    locale=locale,
                )
            )
        return out

    def localised(self, values: Mapping[str, object], locale: str) -> Mapping[str, object]:
        """``values`` with the words a customer reads (status, severity, region, last update
        placeholders) in ``locale``'s own words (``Templates.words``)."""
        words = self.templates.word
        return {
            name: words(locale, value) if name in _WORDED and isinstance(value, str) else value
            for name, value in values.items()
        }

    # -- to teams ---------------------------------------------------------
    def validation_request(
        self,
        incident: ServiceIncident,
        summary: str,
        now: datetime,
        *,
        severity_hint: str | None = None,
        links: Mapping[str, str] | None = None,
    ) -> Notification:
        """The owner team is asked, once per potential incident, to validate or dismiss it.

        The alert that started it gives the source's severity hint (offered as the
        default when validating) and its links (runbook, generator, dashboard), by name.
        """
        return self.to_team(
            Topic.VALIDATION_REQUEST,
            incident.owner_team,
            f"{incident.id}/validation-request",
            incident.id,
            now,
            {
                "incident_id": incident.id,
                "product": ", ".join(incident.products),
                "region": incident.region or "all regions",
                "summary": summary,
                "severity_hint": severity_hint or "none",
                "links": ", ".join(f"{name} {url}" for name, url in sorted((links or {}).items()))
                or "none",
            },
        )

    def incident_declared(
        self, incident: ServiceIncident, summary: str, by: str, now: datetime
    ) -> Notification:
        """The owner team learns that someone else opened an incident on its product."""
        return self.to_team(
            Topic.INCIDENT_DECLARED,
            incident.owner_team,
            f"{incident.id}/declared",
            incident.id,
            now,
            incident_values(incident) | {"summary": summary, "by": by},
        )

    def signals_digest(
        self, incident: ServiceIncident, count: int, summary: str, now: datetime
    ) -> Notification:
        """New signals joined an open incident (at most one digest per group interval)."""
        return self.to_team(
            Topic.SIGNALS_DIGEST,
            incident.owner_team,
            f"{incident.id}/digest/{now.isoformat()}",
            incident.id,
            now,
            {
                "incident_id": incident.id,
                "title": incident.title,
                "count": count,
                "summary": summary,
            },
        )

    def handoff(self, incident: ServiceIncident, handoff: Handoff, now: datetime) -> Notification:
        """The receiving team of a hand-off (keyed by the incident's version: one per hand-off)."""
        return self.to_team(
            Topic.HANDOFF,
            handoff.to_team,
            f"{incident.id}/handoff/{incident.version}",
            incident.id,
            now,
            {
                "incident_id": incident.id,
                "title": incident.title,
                "from_team": handoff.from_team,
                "to_team": handoff.to_team,
                "reason": handoff.reason,
            },
        )

    def report_transferred(
        self, report: CustomerReport, to_team: str, reason: str, now: datetime
    ) -> Notification:
        """The team a troubleshot report is escalated to."""
        return self.to_team(
            Topic.REPORT_TRANSFERRED,
            to_team,
            f"report/{report.ticket_id}/transfer",
            None,
            now,
            {
                "ticket_id": report.ticket_id,
                "product": report.product,
                "to_team": to_team,
                "reason": reason,
            },
        )

    def validation_escalated(
        self,
        incident: ServiceIncident,
        step: int,
        delay: object,
        severity: str | None,
        teams: Sequence[str],
        now: datetime,
    ) -> list[Notification]:
        """An unanswered validation request, escalated: one message per team of ``teams``
        (the owner team again, the incident managers), keyed by the step."""
        values = incident_values(incident) | {
            "step": step,
            "delay": str(delay),
            "severity_hint": severity or "none",
            "owner_team": incident.owner_team,
        }
        return [
            self.to_team(
                Topic.VALIDATION_ESCALATED,
                team,
                f"{incident.id}/escalation/{step}/{team}",
                incident.id,
                now,
                values,
            )
            for team in teams
        ]

    def signals_cleared(self, incident: ServiceIncident, count: int, now: datetime) -> Notification:
        """The owner team is told, once per all-clear, that every alert of the open incident
        recovered."""
        return self.to_team(
            Topic.SIGNALS_CLEARED,
            incident.owner_team,
            f"{incident.id}/all-clear/{now.isoformat()}",
            incident.id,
            now,
            incident_values(incident) | {"count": count},
        )

    def update_reminder(
        self,
        incident: ServiceIncident,
        due_at: datetime,
        overdue: object,
        missed_at: datetime,
        now: datetime,
    ) -> Notification:
        """The owner team is reminded, once per missed interval, that an update is due."""
        return self.to_team(
            Topic.UPDATE_REMINDER,
            incident.owner_team,
            f"{incident.id}/reminder/{missed_at.isoformat()}",
            incident.id,
            now,
            incident_values(incident) | {"due_at": due_at.isoformat(), "overdue": str(overdue)},
        )

    # -- to tickets -------------------------------------------------------
    def ticket_linked(
        self, report: CustomerReport, incident: ServiceIncident, now: datetime
    ) -> list[Notification]:
        """The customer of a newly linked ticket is told the incident's current status."""
        out: list[Notification] = []
        for fanout in self.to_tickets(
            Topic.TICKET_LINKED,
            [(report.ticket_id, report.locale)],
            f"{incident.id}/link/v{report.version}",
            incident,
            now,
            incident_values(incident),
        ):
            out.extend(fanout.notifications())
        return out

    def status_update(
        self,
        incident: ServiceIncident,
        update: StatusUpdate,
        recipients: Sequence[tuple[str, str]],
        now: datetime,
    ) -> list[FanOut]:
        """A public update, to every linked ticket not yet solved."""
        values = incident_values(incident) | {"body": update.body}
        prefix = f"{incident.id}/{update.id}"
        return self.to_tickets(Topic.STATUS_UPDATE, recipients, prefix, incident, now, values)

    def resolution(
        self,
        incident: ServiceIncident,
        recipients: Sequence[tuple[str, str]],
        now: datetime,
    ) -> list[FanOut]:
        """The resolution text, to every ticket the resolution solved."""
        values = incident_values(incident) | {"resolution": incident.resolution or ""}
        prefix = f"{incident.id}/resolution"
        return self.to_tickets(Topic.RESOLUTION, recipients, prefix, incident, now, values)

    # -- to the status page -----------------------------------------------
    def to_status_page(
        self,
        incident: ServiceIncident,
        topic: Topic,
        key: str,
        phase: str,
        text: str,
        now: datetime,
    ) -> Notification | None:
        """The status page's notification of ``incident`` (``None`` unless its severity
        is public): recipient the incident, body a :class:`StatusPageUpdate`."""
        severity = incident.severity
        if severity is None or not severity.public:
            return None
        page = StatusPageUpdate(
            title=incident.title,
            phase=phase,
            impact=impact_of(severity.rank),
            severity=severity.name,
            components=incident.products,
            text=text,
        )
        return Notification(
            key=key,
            recipient=incident.id,
            recipient_kind=RecipientKind.STATUS_PAGE,
            topic=topic,
            incident_id=incident.id,
            subject=incident.title,
            body=page.to_body(),
            created_at=now,
        )

    def status_page_update(
        self, incident: ServiceIncident, update: StatusUpdate, now: datetime
    ) -> Notification | None:
        """A public update on the status page: the phase it leaves the incident in."""
        return self.to_status_page(
            incident,
            Topic.STATUS_UPDATE,
            f"{incident.id}/{update.id}/status-page",
            update.status.value,
            update.body,
            now,
        )

    def status_page_resolution(
        self, incident: ServiceIncident, now: datetime
    ) -> Notification | None:
        """The resolution on the status page."""
        return self.to_status_page(
            incident,
            Topic.RESOLUTION,
            f"{incident.id}/resolution/status-page",
            "resolved",
            incident.resolution or "This incident is resolved.",
            now,
        )
