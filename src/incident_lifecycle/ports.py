"""The ports: what an application implements to plug the desk into its world.

They are small ``typing.Protocol`` classes: implement the methods, no need to
inherit from anything. Each docstring states the contract an adapter must
keep; ``incident_lifecycle.testing.contracts`` checks it.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from .domain.alerts import Alert
from .domain.events import DomainEvent
from .domain.incidents import ServiceIncident, StatusUpdate
from .domain.reports import CustomerReport, ReportStatus
from .notifications import DeliveryResult, FanOut, Notification, RecipientKind

__all__ = [
    "Clock",
    "Notifier",
    "OutboxEntry",
    "OutboxState",
    "OutboxStats",
    "SettingsStore",
    "Store",
    "StoreTransaction",
    "SystemClock",
    "takes_status_page",
]


@runtime_checkable
class Clock(Protocol):
    """Tells the time. ``now()`` returns an aware datetime in UTC."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        return datetime.now(UTC)


@runtime_checkable
class Notifier(Protocol):
    """Sends notifications (to helpdesk tickets, team channels, ...).

    Contract:
    - ``send`` returns exactly one :class:`DeliveryResult` per notification,
      with the notification's ``key`` (any order; an iterator is fine).
    - A notifier may receive the same key more than once (delivery is at
      least once): it should use the key to avoid showing a message twice.
    - Order: a batch may hold several messages to one recipient, in the
      order they must arrive. A notifier delivers them in that order, and
      once one of them is not delivered (retry, throttled, or outcome
      unknown) it delivers none of that recipient's later ones in the batch
      (it answers them ``retry`` or ``throttled``). A rejected one does not
      stop the others.
    - Throttling: when the outlet asks to slow down (HTTP 429 and its
      Retry-After), answer :meth:`DeliveryResult.throttled` with the wait for
      what was not sent: the relay pauses that notification's *route* (see
      below) and counts no attempt. A throttle is not a failure.
    - Raising from ``send`` (or from the iterator it returns) means "outcome
      unknown" for every notification not answered yet: they will be sent
      again, with the same keys; answers given before the raise are kept.

    Optional members the relay reads when a notifier has them:
    - ``route(notification) -> str``: the channel a throttle pauses (a
      helpdesk account, a webhook, a status page); without it, a throttle
      pauses the whole notifier.
    - ``group_batches: bool``: true to receive one batch per (recipient kind,
      topic, locale), so a bulk API can send each batch as it is.
    - ``already_delivered(notifications) -> keys``: asked about notifications
      tried before (a crash or a timeout may have hidden a delivery); those it
      names are recorded delivered and not sent again.
    - ``recipient_kinds``: the kinds it takes (see :func:`takes_status_page`).
    """

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        """Send ``batch``; return one result per notification."""
        ...


def takes_status_page(notifier: object) -> bool:
    """Whether ``notifier`` says it takes status-page notifications: its optional
    ``recipient_kinds`` (a ``RoutingNotifier``'s routed kinds, the status page outlet's)
    holds ``RecipientKind.STATUS_PAGE``. A desk sends to the status page only then, unless
    told otherwise (``IncidentDesk(status_page=...)``)."""
    kinds = getattr(notifier, "recipient_kinds", ())
    return isinstance(kinds, Collection) and RecipientKind.STATUS_PAGE in kinds


class OutboxState(enum.StrEnum):
    """Where a notification is in the outbox."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@attrs.frozen(kw_only=True, slots=False)
class OutboxEntry:
    """A notification in the outbox, with its delivery bookkeeping."""

    notification: Notification
    seq: int
    """Enqueue order; per recipient, entries are delivered in this order."""
    state: OutboxState
    attempts: int = 0
    next_attempt_at: datetime
    """Not sent before this time (backoff, retry-after, or a claim's lease)."""
    claim: str | None = None
    """Token of the relay that holds the current lease, if any."""
    last_error: str = ""
    updated_at: datetime

    @property
    def key(self) -> str:
        """The notification's idempotency key."""
        return self.notification.key


@attrs.frozen(kw_only=True)
class OutboxStats:
    """How many notifications are in each outbox state."""

    pending: int
    delivered: int
    dead: int


class StoreTransaction(Protocol):
    """One unit of work over every record the desk keeps.

    Everything done through one transaction commits together when the
    ``with`` block ends normally, or not at all if it raises. Entities read
    through a transaction are the caller's copies: changing one changes the
    store only when it is saved.

    Optimistic concurrency: ``save_*`` compares the entity's ``version`` with
    the stored one and raises :class:`ConcurrencyConflict` if they differ
    (nothing is written); on success the stored version, and the entity's, go
    up by one. ``add_*`` raises :class:`ConcurrencyConflict` when the id, or a
    uniqueness rule (one *active* alert per fingerprint, one *detected*
    incident per group key), is already taken: another writer got there first.

    Lookups named here must cost the same whatever the history holds
    (index them): active alert by fingerprint, active incidents by product
    and group key, links by incident and by ticket, due outbox entries.
    """

    def new_id(self, prefix: str) -> str:
        """A new identifier such as ``INC-42`` (``prefix`` + ``-`` + number).

        Never one handed out by a transaction that committed; one handed out
        by a transaction that rolled back may come again. The shipped stores
        roll their counters back with the transaction, so the same commands
        give the same ids on each of them (a database sequence would not).
        """
        ...

    # -- alerts -----------------------------------------------------------
    def alert(self, alert_id: str) -> Alert:
        """The alert ``alert_id``; raises :class:`NotFound`."""
        ...

    def active_alerts(self, fingerprints: Collection[str]) -> Mapping[str, Alert]:
        """The active alert of each fingerprint that has one, by fingerprint."""
        ...

    def alerts_of(self, incident_id: str) -> Sequence[Alert]:
        """Every alert attached to ``incident_id``, oldest first."""
        ...

    def add_alerts(self, alerts: Sequence[Alert]) -> None:
        """Insert new alerts (version 0)."""
        ...

    def save_alerts(self, alerts: Sequence[Alert]) -> None:
        """Save status, incident and ``active`` of each alert, with a version check.

        ``count``, ``last_seen_at`` and ``started_at`` are never written here:
        only :meth:`count_repeats` changes them, so counting never conflicts.
        """
        ...

    def count_repeats(
        self,
        counts: Mapping[str, int],
        last_seen: Mapping[str, datetime],
        started: Mapping[str, Sequence[datetime]] | None = None,
    ) -> Mapping[str, tuple[str, str | None]]:
        """Count repeats of each fingerprint of ``counts`` on its active alert.

        The count goes up by ``counts[fp]`` (signals without a start, each
        an occurrence) plus the number of distinct ``started[fp]`` times
        that are new occurrences (later than the alert's ``started_at``, or
        all of them when it has none; ``domain.alerts.is_new_occurrence``),
        and ``started_at`` becomes the latest of those. ``last_seen_at``
        becomes the later of the stored time and ``last_seen[fp]``.
        Fingerprints without an active alert are ignored. Versions do not
        change. Returns, for each fingerprint seen on an active alert (counted
        or not), its alert id and incident id.
        """
        ...

    # -- incidents --------------------------------------------------------
    def incident(self, incident_id: str) -> ServiceIncident:
        """The incident ``incident_id``; raises :class:`NotFound`."""
        ...

    def add_incident(self, incident: ServiceIncident) -> None:
        """Insert a new incident (version 0)."""
        ...

    def save_incident(self, incident: ServiceIncident) -> None:
        """Save every field of ``incident``, with a version check."""
        ...

    def active_incidents(
        self,
        *,
        product: str | None = None,
        group_key: str | None = None,
        region: str | None = None,
    ) -> Sequence[ServiceIncident]:
        """Detected and open incidents, oldest first (ties: ``INC-9`` before ``INC-10``).

        Optionally only those of a product, of a group key, or compatible with
        a region (their region is ``region`` or unset).
        """
        ...

    def incidents_detected_between(
        self, since: datetime | None, until: datetime | None
    ) -> Sequence[ServiceIncident]:
        """Incidents detected in ``[since, until)``, oldest first (``None``: unbounded)."""
        ...

    # -- reports and links ------------------------------------------------
    def report(self, ticket_id: str) -> CustomerReport | None:
        """The report of ``ticket_id``, or ``None``."""
        ...

    def add_report(self, report: CustomerReport) -> None:
        """Insert a new report (version 0)."""
        ...

    def save_reports(self, reports: Sequence[CustomerReport]) -> None:
        """Save reports, with a version check on each (all or none)."""
        ...

    def reports_since(self, product: str, since: datetime) -> Sequence[CustomerReport]:
        """Reports on ``product`` reported at or after ``since``, oldest first."""
        ...

    def link(self, ticket_id: str, incident_id: str) -> None:
        """Link a ticket to an incident (a ticket has at most one link; relinking moves it)."""
        ...

    def unlink(self, ticket_id: str) -> None:
        """Remove the ticket's link, if any."""
        ...

    def incident_of(self, ticket_id: str) -> str | None:
        """The incident a ticket is linked to, or ``None``."""
        ...

    def linked_tickets(self, incident_id: str) -> Sequence[str]:
        """Tickets linked to the incident, in link order."""
        ...

    def reports_linked_to(
        self, incident_id: str, status: ReportStatus | None = None
    ) -> Sequence[CustomerReport]:
        """Reports linked to the incident (optionally only those in ``status``), in link order."""
        ...

    def linked_recipients(
        self, incident_id: str, status: ReportStatus = ReportStatus.LINKED
    ) -> Sequence[tuple[str, str]]:
        """``(ticket_id, locale)`` of the incident's linked reports in ``status``, in link order.

        The bulk form of :meth:`reports_linked_to`, for fan-out: no entity is built.
        """
        ...

    def transition_linked_reports(
        self, incident_id: str, source: ReportStatus, target: ReportStatus, now: datetime
    ) -> Sequence[tuple[str, str]]:
        """Move every report linked to the incident from ``source`` to ``target``, in bulk.

        Each changed report's version goes up by one; ``ended_at`` becomes
        ``now`` when ``target`` is solved or transferred. Returns
        ``(ticket_id, locale)`` of the changed reports, in link order.
        """
        ...

    def move_links(self, source_id: str, target_id: str) -> int:
        """Move every link of ``source_id`` to ``target_id`` (appended in order); return count."""
        ...

    # -- updates and timeline ---------------------------------------------
    def add_update(self, update: StatusUpdate) -> None:
        """Store a status update."""
        ...

    def updates(self, incident_id: str) -> Sequence[StatusUpdate]:
        """The incident's updates, in posting order."""
        ...

    def append(self, events: Sequence[DomainEvent]) -> None:
        """Append events to the timeline (append-only)."""
        ...

    def timeline(self, incident_id: str) -> Sequence[DomainEvent]:
        """The incident's events, in the order they were appended."""
        ...

    def ticket_timeline(self, ticket_id: str) -> Sequence[DomainEvent]:
        """Every event whose ``ticket_id`` is ``ticket_id`` (those of an incident's timeline and
        those with no incident: troubleshooting solved or transferred), in append order.

        Indexed by ticket: its cost does not grow with the history.
        """
        ...

    def last_event_at(self, incident_id: str) -> datetime | None:
        """The ``at`` of the last event appended to the incident's timeline, or ``None``.

        Indexed by incident (the last row of :meth:`timeline`); commands read it to keep a
        timeline from running backwards.
        """
        ...

    # -- outbox -----------------------------------------------------------
    def enqueue(self, notifications: Sequence[Notification], now: datetime) -> int:
        """Add notifications, due at ``now``; a key already present is skipped. Return added."""
        ...

    def enqueue_fanout(self, fanout: FanOut, now: datetime) -> int:
        """Add one notification per recipient of ``fanout`` (keys ``prefix/recipient``), due at
        ``now``, as one bulk write; keys already present are skipped. Return how many were added.

        The result must be the same as ``enqueue(fanout.notifications(), now)``.
        """
        ...

    def claim_due(
        self,
        now: datetime,
        limit: int,
        lease_until: datetime,
        claim: str,
        *,
        per_recipient: int = 1,
    ) -> Sequence[OutboxEntry]:
        """Claim up to ``limit`` pending entries due at ``now``.

        A recipient's *head* is its oldest pending entry; only a head is ever
        due on its own (per recipient, order is kept). Heads are taken first,
        by due time then enqueue order, up to ``limit``. Then, while ``limit``
        allows, each claimed head brings the entries queued right behind it
        (its *followers*, in enqueue order, at most ``per_recipient`` entries
        per recipient counting the head), stopping at the first one not due
        at ``now``: so a recipient's claimed entries are always its oldest
        pending ones, consecutive. The answer lists the heads, then the
        followers; each recipient's entries are in enqueue order.

        Claimed entries get ``claim`` and are not due again before
        ``lease_until``, so two relays never hold the same entry at once; an
        entry whose lease expired may be claimed again. Each claim counts one
        attempt. ``limit`` follows the rule of :meth:`dead_letters` (an int of
        one or more in practice); ``per_recipient`` is an int of one or more.
        """
        ...

    def mark_delivered(self, keys: Collection[str], now: datetime) -> None:
        """Mark entries delivered (idempotent; unknown keys are ignored)."""
        ...

    def schedule_retry(self, key: str, not_before: datetime, error: str, now: datetime) -> None:
        """Release a pending entry's claim; it is due again at ``not_before``."""
        ...

    def mark_dead(self, key: str, error: str, now: datetime) -> None:
        """Move a pending entry to the dead letters."""
        ...

    def defer(self, keys: Collection[str], not_before: datetime, now: datetime) -> None:
        """Release claimed pending entries without counting the attempt the claim counted.

        Each entry of ``keys`` that is pending loses its claim, gets one attempt
        back (never below zero) and is due again at ``not_before``; its last
        error is kept. For entries that were never tried: held behind an
        earlier message of their recipient, or paused by a throttle.
        Unknown keys and entries not pending are ignored.
        """
        ...

    def outbox_entry(self, key: str) -> OutboxEntry | None:
        """The entry of ``key``, or ``None``."""
        ...

    def dead_letters(self, limit: int | None = None) -> Sequence[OutboxEntry]:
        """Dead-lettered entries, oldest first: in the order they were dead-lettered.

        ``limit``: ``None`` for all, an int of zero or more for at most that many
        (however large); anything else raises ``InvalidInput`` naming ``limit``.
        """
        ...

    def outbox_entries(self, state: OutboxState, limit: int | None = None) -> Sequence[OutboxEntry]:
        """Entries in ``state``, in enqueue order (``seq``), at most ``limit`` of them (the rule
        of :meth:`dead_letters`); a ``state`` that is not an ``OutboxState`` (or its value)
        raises ``InvalidInput`` naming ``state``. An operator's query: it may scan."""
        ...

    def redrive(self, keys: Collection[str], now: datetime) -> int:
        """Put dead entries back to pending (same keys, attempts reset); return count."""
        ...

    def prune_delivered(self, before: datetime) -> int:
        """Delete the entries delivered before ``before`` (by their ``updated_at``, the time
        they were delivered); return how many. Pending and dead entries, incidents and
        timelines are never pruned. A pruned key is forgotten: enqueued again, it is a
        new entry, so callers keep entries at least as long as a key may be re-enqueued
        (``IncidentDesk.prune_delivered`` keeps the retry horizon at least).
        """
        ...

    def outbox_stats(self) -> OutboxStats:
        """Counts of pending, delivered and dead entries."""
        ...

    def next_due_at(self) -> datetime | None:
        """The earliest time a pending entry becomes due, or ``None`` if none is pending."""
        ...

    def oldest_pending_at(self) -> datetime | None:
        """The earliest ``created_at`` of the pending notifications, or ``None`` if none is
        pending (what the age of the oldest pending notification is measured from).

        Its cost may grow with the pending entries, never with the delivered ones.
        """
        ...


class Store(Protocol):
    """Persistence for the desk: hands out transactions.

    ``transaction()`` returns a context manager; the changes made through it
    commit when the block exits normally and are rolled back, entirely, when
    it raises. Implementations must be safe to use from several threads.
    """

    def transaction(self) -> AbstractContextManager[StoreTransaction]:
        """Begin a unit of work."""
        ...


@runtime_checkable
class SettingsStore(Protocol):
    """A store that also keeps an application's settings (the command line keeps the
    ownership map this way), beside the records.

    Contract: a setting is any JSON-serialisable value under a name; ``get_setting``
    returns an equal value (a copy), or ``None`` when the name was never set;
    ``set_setting`` replaces the value, in a transaction of its own. Every shipped
    store implements it.
    """

    def get_setting(self, name: str) -> Any:
        """The setting ``name`` (``None`` if unset)."""
        ...

    def set_setting(self, name: str, value: Any) -> None:
        """Keep ``value`` (JSON-serialisable) as the setting ``name``."""
        ...
