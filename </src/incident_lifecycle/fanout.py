"""Builds the notifications each command enqueues, with stable idempotency keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from .domain.incidents import ServiceIncident
from .notifications import FanOut, Notification, RecipientKind, Templates, Topic

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
            subject, body = self.templates.render(topic, locale, values)
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
