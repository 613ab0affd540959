"""The desk's read side: every query of :class:`~incident_lifecycle.IncidentDesk`.

Each reads through one store transaction (retried from scratch after a
conflict, like a command) and changes nothing. :class:`DeskQueries` is the
base class the desk inherits them from, so the desk itself stays one short
method per use case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from ..domain import checks
from ..domain.alerts import Alert
from ..domain.events import DomainEvent
from ..domain.incidents import ServiceIncident, StatusUpdate
from ..domain.reports import CustomerReport
from ..metrics import Metrics, compute_metrics
from ..ports import OutboxEntry, OutboxState, OutboxStats, Store, StoreTransaction
from .base import read

__all__ = ["DeskQueries"]

T = TypeVar("T")


class DeskQueries:
    """The queries of a desk over ``store`` (read-only; see the module)."""

    store: Store
    max_conflict_retries: int

    def _read(self, query: Callable[[StoreTransaction], T]) -> T:
        return read(self.store, query, max_conflict_retries=self.max_conflict_retries)

    def incident(self, incident_id: str) -> ServiceIncident:
        """The incident ``incident_id``; raises ``NotFound``."""
        checks.check_identifier("incident_id", incident_id)
        return self._read(lambda tx: tx.incident(incident_id))

    def alert(self, alert_id: str) -> Alert:
        """The alert ``alert_id``; raises ``NotFound``."""
        checks.check_identifier("alert_id", alert_id)
        return self._read(lambda tx: tx.alert(alert_id))

    def alerts_of(self, incident_id: str) -> Sequence[Alert]:
        """The incident's alerts, oldest first."""
        checks.check_identifier("incident_id", incident_id)
        return self._read(lambda tx: tx.alerts_of(incident_id))

    def open_incidents(self, product: str | None = None) -> Sequence[ServiceIncident]:
        """Validated, unresolved incidents (optionally of one product), oldest first."""
        checks.optional_identifier("product", product)
        found = self._read(lambda tx: tx.active_incidents(product=product))
        return [i for i in found if i.is_open]

    def potential_incidents(self, product: str | None = None) -> Sequence[ServiceIncident]:
        """Detected incidents awaiting validation (optionally of one product), oldest first."""
        checks.optional_identifier("product", product)
        found = self._read(lambda tx: tx.active_incidents(product=product))
        return [i for i in found if i.is_potential]

    def timeline(self, incident_id: str) -> Sequence[DomainEvent]:
        """The incident's events, in order."""
        checks.check_identifier("incident_id", incident_id)
        return self._read(lambda tx: tx.timeline(incident_id))

    def updates(self, incident_id: str) -> Sequence[StatusUpdate]:
        """The incident's status updates, in posting order."""
        checks.check_identifier("incident_id", incident_id)
        return self._read(lambda tx: tx.updates(incident_id))

    def linked_tickets(self, incident_id: str) -> Sequence[str]:
        """Tickets linked to the incident, in link order."""
        checks.check_identifier("incident_id", incident_id)
        return self._read(lambda tx: tx.linked_tickets(incident_id))

    def report(self, ticket_id: str) -> CustomerReport | None:
        """The customer report of ``ticket_id``, if any."""
        checks.check_identifier("ticket_id", ticket_id)
        return self._read(lambda tx: tx.report(ticket_id))

    def metrics(self, since: datetime | None = None, until: datetime | None = None) -> Metrics:
        """Response times of incidents detected in ``[since, until)``: count, median, p90."""
        for name, when in (("since", since), ("until", until)):
            if when is not None:
                checks.check_aware(name, when)
        incidents = self._read(lambda tx: tx.incidents_detected_between(since, until))
        return compute_metrics(incidents)

    def outbox_stats(self) -> OutboxStats:
        """How many notifications are pending, delivered and dead-lettered."""
        return self._read(lambda tx: tx.outbox_stats())

    def dead_letters(self, limit: int | None = None) -> Sequence[OutboxEntry]:
        """Dead-lettered notifications, oldest first (``limit``: at most that many)."""
        checks.check_limit("limit", limit)
        return self._read(lambda tx: tx.dead_letters(limit))

    def active_alert(self, fingerprint: str) -> Alert | None:
        """The active alert of ``fingerprint`` (the one its repeats count on), or ``None``."""
        checks.check_identifier("fingerprint", fingerprint, max_len=checks.FINGERPRINT_MAX)
        return self._read(lambda tx: tx.active_alerts([fingerprint]).get(fingerprint))

    def active_alerts(self, product: str) -> Sequence[Alert]:
        """The active alerts of ``product``, by incident (oldest first), each oldest first.

        Read through the active incidents, so the cost follows what is going on now, not
        the history."""
        checks.check_identifier("product", product)

        def query(tx: StoreTransaction) -> list[Alert]:
            return [
                alert
                for incident in tx.active_incidents()
                for alert in tx.alerts_of(incident.id)
                if alert.active and alert.product == product
            ]

        return self._read(query)

    def outbox_entries(
        self, state: OutboxState | str = OutboxState.PENDING, limit: int | None = 100
    ) -> Sequence[OutboxEntry]:
        """Outbox entries in ``state`` (pending by default), oldest enqueued first, at most
        ``limit`` (``None``: all)."""
        wanted = checks.check_enum("state", OutboxState, state)
        checks.check_limit("limit", limit)
        return self._read(lambda tx: tx.outbox_entries(wanted, limit))

    def ticket_history(self, ticket_id: str) -> Sequence[DomainEvent]:
        """Every event of the ticket's report, in order: its triage (and re-triage, with the
        policy's suggestion beside an agent's decision), links and unlinks, and the end of
        troubleshooting (solved, transferred), which no incident's timeline holds."""
        checks.check_identifier("ticket_id", ticket_id)
        return self._read(lambda tx: tx.ticket_timeline(ticket_id))
