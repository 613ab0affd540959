"""The store contract's checks of transactions, ids, alerts, incidents, reports, links,
updates and the timeline (private: see :mod:`incident_lifecycle.testing.contracts`)."""

from __future__ import annotations

from ._store_alerts import AlertChecks
from ._store_incidents import IncidentChecks
from ._store_reports import ReportChecks
from ._store_transactions import TransactionChecks


class EntityChecks(TransactionChecks, AlertChecks, IncidentChecks, ReportChecks):
    """Transactions, ids and every entity but the outbox: round trips, conflicts, lookups."""
