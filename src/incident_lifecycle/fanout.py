"""Builds the notifications each command enqueues, with stable idempotency keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from .domain.incidents import ServiceIncident
from .domain.reports import CustomerReport
from .notifications import Notification, RecipientKind, Templates, Topic

__all__ = ["Messenger"]


class Messenger:
    """Renders templates into notifications for teams and tickets."""

    def __init__(self, templates: Templates) -> None:
        self.templates = templates

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
        reports: Sequence[CustomerReport],
        key_prefix: str,
        incident: ServiceIncident,
        now: datetime,
        values: Mapping[str, object],
    ) -> list[Notification]:
        """One notification per report's ticket, in its locale, keyed ``prefix/ticket``.

        Each locale's text is rendered once, however many tickets share it.
        """
        rendered: dict[str, tuple[str, str]] = {}
        out: list[Notification] = []
        for report in reports:
            text = rendered.get(report.locale)
            if text is None:
                text = rendered[report.locale] = self.templates.render(topic, report.locale, values)
            out.append(
                Notification(
                    key=f"{key_prefix}/{report.ticket_id}",
                    recipient=report.ticket_id,
                    recipient_kind=RecipientKind.TICKET,
                    topic=topic,
                    incident_id=incident.id,
                    subject=text[0],
                    body=text[1],
                    created_at=now,
                    locale=report.locale,
                )
            )
        return out


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
