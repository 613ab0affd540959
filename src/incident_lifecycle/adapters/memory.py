"""``InMemoryStore``: the store port in memory, with the same invariants as a database.

Transactions are serialisable (one lock) and roll back every change on an
exception through an undo log; stale versions conflict; ids and uniqueness
rules hold; every lookup the desk makes goes through an index, so its cost
does not grow with the history kept.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import json
import sys
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from ..domain.alerts import Alert, new_occurrences
from ..domain.checks import check_enum, check_int, check_limit
from ..domain.copies import clone as _clone
from ..domain.errors import ConcurrencyConflict, NotFound, StoreError
from ..domain.events import DomainEvent
from ..domain.incidents import (
    ACTIVE_STATUSES,
    IncidentStatus,
    ServiceIncident,
    StatusUpdate,
    incident_order,
    regions_compatible,
)
from ..domain.reports import CustomerReport, ReportStatus
from ..lifecycle import ending
from ..notifications import FanOut, Notification, RecipientKind
from ..ports import OutboxEntry, OutboxState, OutboxStats

__all__ = ["InMemoryStore"]

K = TypeVar("K")
V = TypeVar("V")
_MISSING: Any = object()


class _Tables:
    """Every record and index of one store."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}
        self.alerts: dict[str, Alert] = {}
        self.active_by_fp: dict[str, str] = {}
        self.alerts_by_incident: dict[str, dict[str, None]] = {}
        # Incidents an alert was moved into: their bucket may not be in creation order.
        self.alerts_moved_into: dict[str, None] = {}
        self.incidents: dict[str, ServiceIncident] = {}
        self.active_incidents: dict[str, None] = {}
        self.active_by_product: dict[str, dict[str, None]] = {}
        self.active_by_group: dict[str, dict[str, None]] = {}
        self.detected_by_group: dict[str, str] = {}
        self.by_detected: list[tuple[datetime, int, str]] = []
        self.reports: dict[str, CustomerReport] = {}
        self.reports_by_product: dict[str, list[tuple[datetime, int, str]]] = {}
        self.link_of: dict[str, str] = {}
        self.links: dict[str, dict[str, None]] = {}
        self.updates: dict[str, list[StatusUpdate]] = {}
        self.timeline: dict[str | None, list[DomainEvent]] = {}
        self.ticket_events: dict[str, list[DomainEvent]] = {}
        self.entries: dict[str, _Entry] = {}
        self.queues = _Queues()
        self.heap = _DueQueue()
        # Claimed keys and their lease ends, in (lease end, seq) order: two deques of
        # references, so a claim allocates nothing that outlives it (the GC's cost).
        self.leased: deque[str] = deque()
        self.leased_at: deque[datetime] = deque()
        self.dead: dict[str, None] = {}
        self.delivered = 0
        self.seq = 0


class InMemoryStore:
    """The store port in memory: thread-safe, transactional, indexed.

    >>> store = InMemoryStore()
    >>> with store.transaction() as tx:
    ...     tx.new_id("INC")
    'INC-1'
    """

    def __init__(self) -> None:
        self._tables = _Tables()
        self._lock = threading.RLock()
        self._local = threading.local()
        self._settings: dict[str, str] = {}

    def get_setting(self, name: str) -> Any:
        """A JSON setting kept beside the records (``None`` if unset); a fresh copy."""
        with self._lock:
            text = self._settings.get(name)
        return None if text is None else json.loads(text)

    def set_setting(self, name: str, value: Any) -> None:
        """Keep a JSON-serialisable setting (as JSON, so it is copied like a database's)."""
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        with self._lock:
            self._settings[name] = text

    @contextmanager
    def transaction(self) -> Iterator[_Transaction]:
        """Begin a unit of work: committed on normal exit, rolled back on an exception."""
        if getattr(self._local, "active", False):
            raise StoreError("transactions do not nest: finish the current one first")
        with self._lock:
            self._local.active = True
            tx = _Transaction(self._tables)
            try:
                yield tx
            except BaseException:
                tx._rollback()
                raise
            finally:
                tx._open = False
                self._local.active = False


class _Transaction:
    """One unit of work over an ``InMemoryStore`` (see ``StoreTransaction``)."""

    def __init__(self, tables: _Tables) -> None:
        self._t = tables
        self._undo: list[Callable[[], object]] = []
        self._open = True
        self._saved_order: dict[int, object] = {}

    # -- undo log ---------------------------------------------------------
    def _rollback(self) -> None:
        for step in reversed(self._undo):
            step()
        self._undo.clear()

    def _check(self) -> None:
        if not self._open:
            raise StoreError("this transaction has ended")

    def _put(self, table: dict[K, V], key: K, value: V) -> None:
        old = table.get(key, _MISSING)
        table[key] = value
        if old is _MISSING:
            self._undo.append(lambda: table.pop(key, None))
        else:
            self._undo.append(lambda: table.__setitem__(key, old))

    def _drop(self, table: dict[K, V], key: K, *, ordered: bool = False) -> None:
        if ordered and key in table and id(table) not in self._saved_order:
            # Re-inserting a key puts it last: where order is observable, the first
            # removal in this transaction saves the order for a rollback (O(n) once).
            self._saved_order[id(table)] = table
            saved = dict(table)

            def restore_order() -> None:
                table.clear()
                table.update(saved)

            self._undo.append(restore_order)
        old = table.pop(key, _MISSING)
        if old is not _MISSING:
            self._undo.append(lambda: table.__setitem__(key, old))

    def _member(
        self,
        index: dict[str, dict[str, None]],
        key: str,
        item: str,
        present: bool,
        *,
        ordered: bool = False,
    ) -> None:
        bucket = index.get(key)
        if present:
            if bucket is None:
                bucket = {}
                self._put(index, key, bucket)
            if item not in bucket:
                self._put(bucket, item, None)
        elif bucket is not None and item in bucket:
            self._drop(bucket, item, ordered=ordered)

    def _setattr(self, obj: object, name: str, value: object) -> None:
        old = getattr(obj, name)
        object.__setattr__(obj, name, value)
        self._undo.append(lambda: object.__setattr__(obj, name, old))

    # -- ids --------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        self._check()
        number = self._t.counters.get(prefix, 0) + 1
        # Like SQLite's counter table: rolled back with the transaction, so an id handed
        # out by a transaction that failed comes again, and every store numbers alike.
        self._put(self._t.counters, prefix, number)
        return f"{prefix}-{number}"

    # -- alerts -----------------------------------------------------------
    def alert(self, alert_id: str) -> Alert:
        self._check()
        found = self._t.alerts.get(alert_id)
        if found is None:
            raise NotFound("alert", alert_id)
        return _clone(found)

    def active_alerts(self, fingerprints: Collection[str]) -> Mapping[str, Alert]:
        self._check()
        active = self._t.active_by_fp
        alerts = self._t.alerts
        return {fp: _clone(alerts[active[fp]]) for fp in fingerprints if fp in active}

    def alerts_of(self, incident_id: str) -> Sequence[Alert]:
        self._check()
        ids: Iterable[str] = self._t.alerts_by_incident.get(incident_id, {})
        if incident_id in self._t.alerts_moved_into:  # oldest first, as the port says
            ids = sorted(ids, key=lambda alert_id: (len(alert_id), alert_id))
        return [_clone(self._t.alerts[alert_id]) for alert_id in ids]

    def add_alerts(self, alerts: Sequence[Alert]) -> None:
        self._check()
        for alert in alerts:
            if alert.id in self._t.alerts:
                raise ConcurrencyConflict("alert", alert.id, alert.version, 0)
            if alert.active and alert.fingerprint in self._t.active_by_fp:
                raise ConcurrencyConflict("alert", alert.id, alert.version, None)
            stored = _clone(alert)
            self._put(self._t.alerts, alert.id, stored)
            self._index_alert(stored, None)

    def _index_alert(self, alert: Alert, previous: Alert | None) -> None:
        t = self._t
        if previous is not None:
            if previous.active and t.active_by_fp.get(previous.fingerprint) == previous.id:
                self._drop(t.active_by_fp, previous.fingerprint)
            if previous.incident_id is not None and previous.incident_id != alert.incident_id:
                self._member(
                    t.alerts_by_incident, previous.incident_id, alert.id, False, ordered=True
                )
        if alert.active:
            holder = t.active_by_fp.get(alert.fingerprint)
            if holder is not None and holder != alert.id:
                raise ConcurrencyConflict("alert", alert.id, alert.version, None)
            self._put(t.active_by_fp, alert.fingerprint, alert.id)
        if alert.incident_id is not None:
            self._member(t.alerts_by_incident, alert.incident_id, alert.id, True)
            moved = previous is not None and previous.incident_id != alert.incident_id
            if moved and alert.incident_id not in t.alerts_moved_into:
                self._put(t.alerts_moved_into, alert.incident_id, None)

    def save_alerts(self, alerts: Sequence[Alert]) -> None:
        self._check()
        for alert in alerts:
            stored = self._t.alerts.get(alert.id)
            if stored is None:
                raise NotFound("alert", alert.id)
            if stored.version != alert.version:
                raise ConcurrencyConflict("alert", alert.id, alert.version, stored.version)
        for alert in alerts:
            stored = self._t.alerts[alert.id]
            new = _clone(stored)
            object.__setattr__(new, "status", alert.status)
            object.__setattr__(new, "incident_id", alert.incident_id)
            object.__setattr__(new, "active", alert.active)
            object.__setattr__(new, "version", stored.version + 1)
            self._put(self._t.alerts, alert.id, new)
            self._index_alert(new, stored)
            object.__setattr__(alert, "version", new.version)

    def count_repeats(
        self,
        counts: Mapping[str, int],
        last_seen: Mapping[str, datetime],
        started: Mapping[str, Sequence[datetime]] | None = None,
    ) -> Mapping[str, tuple[str, str | None]]:
        self._check()
        active = self._t.active_by_fp
        alerts = self._t.alerts
        starts = started or {}
        undo: list[tuple[Alert, int, datetime, datetime | None]] = []
        counted: dict[str, tuple[str, str | None]] = {}
        set_field = object.__setattr__
        for fingerprint, n in counts.items():
            alert_id = active.get(fingerprint)
            if alert_id is None:
                continue
            alert = alerts[alert_id]
            undo.append((alert, alert.count, alert.last_seen_at, alert.started_at))
            times = starts.get(fingerprint)
            if times:
                more, latest = new_occurrences(alert.started_at, times)
                n += more
                set_field(alert, "started_at", latest)
            if n:
                set_field(alert, "count", alert.count + n)
            seen = last_seen[fingerprint]
            if seen > alert.last_seen_at:
                set_field(alert, "last_seen_at", seen)
            counted[fingerprint] = (alert_id, alert.incident_id)

        def restore() -> None:
            for alert, count, seen, start in undo:
                object.__setattr__(alert, "count", count)
                object.__setattr__(alert, "last_seen_at", seen)
                object.__setattr__(alert, "started_at", start)

        self._undo.append(restore)
        return counted

    # -- incidents --------------------------------------------------------
    def incident(self, incident_id: str) -> ServiceIncident:
        self._check()
        found = self._t.incidents.get(incident_id)
        if found is None:
            raise NotFound("incident", incident_id)
        return _clone(found)

    def add_incident(self, incident: ServiceIncident) -> None:
        self._check()
        if incident.id in self._t.incidents:
            raise ConcurrencyConflict("incident", incident.id, incident.version, 0)
        stored = _clone(incident)
        self._index_incident(stored, None)
        self._put(self._t.incidents, incident.id, stored)
        self._t.seq += 1
        entry = (stored.detected_at, self._t.seq, stored.id)
        position = bisect.bisect(self._t.by_detected, entry)
        self._t.by_detected.insert(position, entry)
        self._undo.append(lambda: self._t.by_detected.remove(entry))

    def save_incident(self, incident: ServiceIncident) -> None:
        self._check()
        stored = self._t.incidents.get(incident.id)
        if stored is None:
            raise NotFound("incident", incident.id)
        if stored.version != incident.version:
            raise ConcurrencyConflict("incident", incident.id, incident.version, stored.version)
        new = _clone(incident)
        object.__setattr__(new, "version", stored.version + 1)
        self._index_incident(new, stored)
        self._put(self._t.incidents, incident.id, new)
        object.__setattr__(incident, "version", new.version)

    def _index_incident(self, new: ServiceIncident, old: ServiceIncident | None) -> None:
        t = self._t
        was_active = old is not None and old.status in ACTIVE_STATUSES
        is_active = new.status in ACTIVE_STATUSES
        if (
            old is not None
            and old.status is IncidentStatus.DETECTED
            and old.group_key
            and t.detected_by_group.get(old.group_key) == old.id
        ):
            self._drop(t.detected_by_group, old.group_key)
        if new.status is IncidentStatus.DETECTED and new.group_key:
            holder = t.detected_by_group.get(new.group_key)
            if holder is not None and holder != new.id:
                raise ConcurrencyConflict("incident", new.id, new.version, None)
            self._put(t.detected_by_group, new.group_key, new.id)
        if was_active and old is not None:
            self._drop(t.active_incidents, old.id)
            for product in old.products:
                self._member(t.active_by_product, product, old.id, False)
            if old.group_key:
                self._member(t.active_by_group, old.group_key, old.id, False)
        if is_active:
            self._put(t.active_incidents, new.id, None)
            for product in new.products:
                self._member(t.active_by_product, product, new.id, True)
            if new.group_key:
                self._member(t.active_by_group, new.group_key, new.id, True)

    def active_incidents(
        self,
        *,
        product: str | None = None,
        group_key: str | None = None,
        region: str | None = None,
    ) -> Sequence[ServiceIncident]:
        self._check()
        t = self._t
        if group_key is not None:
            ids: Collection[str] = t.active_by_group.get(group_key, {})
            if product is not None:
                ids = [i for i in ids if product in t.incidents[i].products]
        elif product is not None:
            ids = t.active_by_product.get(product, {})
        else:
            ids = t.active_incidents
        found = [t.incidents[i] for i in ids]
        if region is not None:
            found = [i for i in found if regions_compatible(i.region, region)]
        found.sort(key=incident_order)
        return [_clone(incident) for incident in found]

    def incidents_detected_between(
        self, since: datetime | None, until: datetime | None
    ) -> Sequence[ServiceIncident]:
        self._check()
        rows = self._t.by_detected
        lo = 0 if since is None else bisect.bisect_left(rows, (since, -1, ""))
        hi = len(rows) if until is None else bisect.bisect_left(rows, (until, -1, ""))
        return [_clone(self._t.incidents[row[2]]) for row in rows[lo:hi]]

    # -- reports and links ------------------------------------------------
    def report(self, ticket_id: str) -> CustomerReport | None:
        self._check()
        found = self._t.reports.get(ticket_id)
        return None if found is None else _clone(found)

    def add_report(self, report: CustomerReport) -> None:
        self._check()
        if report.ticket_id in self._t.reports:
            raise ConcurrencyConflict("report", report.ticket_id, report.version, 0)
        self._put(self._t.reports, report.ticket_id, _clone(report))
        rows = self._t.reports_by_product.get(report.product)
        if rows is None:
            rows = []
            self._put(self._t.reports_by_product, report.product, rows)
        self._t.seq += 1
        entry = (report.reported_at, self._t.seq, report.ticket_id)
        bisect.insort(rows, entry)
        self._undo.append(lambda: rows.remove(entry))

    def save_reports(self, reports: Sequence[CustomerReport]) -> None:
        self._check()
        for report in reports:
            stored = self._t.reports.get(report.ticket_id)
            if stored is None:
                raise NotFound("report", report.ticket_id)
            if stored.version != report.version:
                raise ConcurrencyConflict(
                    "report", report.ticket_id, report.version, stored.version
                )
        for report in reports:
            new = _clone(report)
            object.__setattr__(new, "version", report.version + 1)
            self._put(self._t.reports, report.ticket_id, new)
            object.__setattr__(report, "version", new.version)

    def reports_since(self, product: str, since: datetime) -> Sequence[CustomerReport]:
        self._check()
        rows = self._t.reports_by_product.get(product, [])
        start = bisect.bisect_left(rows, (since, -1, ""))
        return [_clone(self._t.reports[row[2]]) for row in rows[start:]]

    def link(self, ticket_id: str, incident_id: str) -> None:
        self._check()
        if incident_id not in self._t.incidents:
            raise NotFound("incident", incident_id)
        current = self._t.link_of.get(ticket_id)
        if current == incident_id:
            return
        if current is not None:
            self._member(self._t.links, current, ticket_id, False, ordered=True)
        self._put(self._t.link_of, ticket_id, incident_id)
        self._member(self._t.links, incident_id, ticket_id, True)

    def unlink(self, ticket_id: str) -> None:
        self._check()
        current = self._t.link_of.get(ticket_id)
        if current is not None:
            self._drop(self._t.link_of, ticket_id)
            self._member(self._t.links, current, ticket_id, False, ordered=True)

    def incident_of(self, ticket_id: str) -> str | None:
        self._check()
        return self._t.link_of.get(ticket_id)

    def linked_tickets(self, incident_id: str) -> Sequence[str]:
        self._check()
        return list(self._t.links.get(incident_id, {}))

    def reports_linked_to(
        self, incident_id: str, status: ReportStatus | None = None
    ) -> Sequence[CustomerReport]:
        self._check()
        out = []
        for ticket_id in self._t.links.get(incident_id, {}):
            report = self._t.reports.get(ticket_id)
            if report is not None and (status is None or report.status is status):
                out.append(_clone(report))
        return out

    def linked_recipients(
        self, incident_id: str, status: ReportStatus = ReportStatus.LINKED
    ) -> Sequence[tuple[str, str]]:
        self._check()
        reports = self._t.reports
        out = []
        for ticket_id in self._t.links.get(incident_id, {}):
            report = reports.get(ticket_id)
            if report is not None and report.status is status:
                out.append((ticket_id, report.locale))
        return out

    def transition_linked_reports(
        self, incident_id: str, source: ReportStatus, target: ReportStatus, now: datetime
    ) -> Sequence[tuple[str, str]]:
        self._check()
        reports = self._t.reports
        changed: list[CustomerReport] = []
        ends = ending(target)
        for ticket_id in self._t.links.get(incident_id, {}):
            report = reports.get(ticket_id)
            if report is None or report.status is not source:
                continue
            new = _clone(report)
            object.__setattr__(new, "status", target)
            object.__setattr__(new, "version", report.version + 1)
            if ends:
                object.__setattr__(new, "ended_at", now)
            reports[ticket_id] = new
            changed.append(report)

        def undo() -> None:
            for report in changed:
                reports[report.ticket_id] = report

        self._undo.append(undo)
        return [(report.ticket_id, report.locale) for report in changed]

    def move_links(self, source_id: str, target_id: str) -> int:
        self._check()
        tickets = list(self._t.links.get(source_id, {}))
        for ticket_id in tickets:
            self.link(ticket_id, target_id)
        return len(tickets)

    # -- updates and timeline ---------------------------------------------
    def add_update(self, update: StatusUpdate) -> None:
        self._check()
        rows = self._t.updates.get(update.incident_id)
        if rows is None:
            rows = []
            self._put(self._t.updates, update.incident_id, rows)
        rows.append(update)
        self._undo.append(rows.pop)

    def updates(self, incident_id: str) -> Sequence[StatusUpdate]:
        self._check()
        return list(self._t.updates.get(incident_id, ()))

    def append(self, events: Sequence[DomainEvent]) -> None:
        self._check()
        for event in events:
            rows = self._t.timeline.get(event.incident_id)
            if rows is None:
                rows = []
                self._put(self._t.timeline, event.incident_id, rows)
            rows.append(event)
            self._undo.append(rows.pop)
            ticket = getattr(event, "ticket_id", None)
            if isinstance(ticket, str):
                of_ticket = self._t.ticket_events.get(ticket)
                if of_ticket is None:
                    of_ticket = []
                    self._put(self._t.ticket_events, ticket, of_ticket)
                of_ticket.append(event)
                self._undo.append(of_ticket.pop)

    def timeline(self, incident_id: str) -> Sequence[DomainEvent]:
        self._check()
        return list(self._t.timeline.get(incident_id, ()))

    def ticket_timeline(self, ticket_id: str) -> Sequence[DomainEvent]:
        self._check()
        return list(self._t.ticket_events.get(ticket_id, ()))

    def last_event_at(self, incident_id: str) -> datetime | None:
        self._check()
        rows = self._t.timeline.get(incident_id)
        return rows[-1].at if rows else None

    # -- outbox -----------------------------------------------------------
    def enqueue(self, notifications: Sequence[Notification], now: datetime) -> int:
        self._check()
        return self._add_entries(((n.key, n, n.recipient) for n in notifications), now)

    def enqueue_fanout(self, fanout: FanOut, now: datetime) -> int:
        self._check()
        message = _Message(fanout)
        prefix = fanout.key_prefix + "/"
        return self._add_entries(((prefix + r, message, r) for r in fanout.recipients), now)

    def _add_entries(
        self, rows: Iterable[tuple[str, _Message | Notification, str]], now: datetime
    ) -> int:
        """Append ``(key, payload, recipient)`` rows whose key is new (the recipient is
        given, so the queues share its string); a key already there, or twice, is skipped."""
        t = self._t
        entries, queues, due = t.entries, t.queues, t.heap
        kept = []
        seq = t.seq
        for key, payload, recipient in rows:
            if key in entries:
                continue
            entry = _Entry(key, payload, now)
            seq += 1
            entry.seq = seq
            entries[key] = entry
            if queues.append(recipient, key):
                due.push(now, seq, key)
            kept.append(entry)
        t.seq = seq

        def undo() -> None:
            for entry in reversed(kept):
                del entries[entry.key]
                queues.pop_last(entry.recipient)

        self._undo.append(undo)
        return len(kept)

    def _remember(self, entry: _Entry) -> None:
        old = entry.state_tuple()
        self._undo.append(lambda: entry.restore(old))

    def _live_head(self, when: datetime, key: str) -> _Entry | None:
        """The entry a due item ``(when, _, key)`` stands for, if it is still its
        recipient's pending head due at ``when``; None for a stale item."""
        entry = self._t.entries.get(key)
        if (
            entry is None
            or entry._state_attempts & 3  # not pending
            or entry.next_at != when
            or self._t.queues.head(_recipient(entry)) != key
        ):
            return None
        return entry

    def _push_head(self, recipient: str) -> None:
        key = self._t.queues.head(recipient)
        if key is not None:
            head = self._t.entries[key]
            self._t.heap.push(head.next_at, head.seq, head.key)

    def _lease_head(self, popped: list[tuple[str, datetime]]) -> _Entry | None:
        """The entry whose lease ends first; stale lease records are dropped into ``popped``."""
        t = self._t
        leased, leased_at = t.leased, t.leased_at
        while leased:
            entry = t.entries.get(leased[0])
            if (
                entry is not None
                and not entry._state_attempts & 3  # pending
                and entry.claim is not None
                and entry.next_at == leased_at[0]
                and t.queues.head(entry.recipient) == entry.key
            ):
                return entry
            popped.append((leased.popleft(), leased_at.popleft()))
        return None

    def claim_due(
        self,
        now: datetime,
        limit: int | None,
        lease_until: datetime,
        claim: str,
        *,
        per_recipient: int = 1,
    ) -> Sequence[OutboxEntry]:
        self._check()
        wanted = _cap(limit)
        depth = check_int("per_recipient", per_recipient, minimum=1)
        t = self._t
        claimed: list[OutboxEntry] = []
        popped: list[tuple[datetime, int, str]] = []
        unleased: list[tuple[str, datetime]] = []
        touched: list[_Entry] = []
        olds: list[tuple[Any, ...]] = []
        held_count = 0
        # The lane's head changes only when this loop takes it (claims join the tail).
        held = self._lease_head(unleased)
        entries, due = t.entries, t.heap
        leased, leased_at = t.leased, t.leased_at
        mine: set[str] = set()  # claimed by this call: a lease that ends at ``now`` (at the
        # end of time) leaves such an entry due again; it is never claimed twice in one call
        skipped: list[tuple[datetime, int, str]] = []
        while len(claimed) < wanted:
            entry: _Entry | None = None
            head = due.peek() if due else None
            if head is not None and head[0] <= now:
                when, seq, key = head
                if held is not None and held.key in mine:
                    held = None  # the lane's rest was leased by this call too
                    continue
                if held is not None and (held.next_at, held.seq) < (when, seq):
                    entry = held  # its lease ended even before this due entry
                    unleased.append((leased.popleft(), leased_at.popleft()))
                    held = self._lease_head(unleased)
                else:
                    if key in mine and entries[key].next_at == when:
                        skipped.append(due.pop())  # pushed back when the loop ends
                        continue
                    popped.append(due.pop())
                    entry = self._live_head(when, key)
                    if entry is None:
                        continue  # stale: a newer push of this entry, or not its turn
            elif held is not None and held.next_at <= now:  # its lease expired
                if held.key in mine:
                    break  # the lane's rest was leased by this call too
                entry = held
                unleased.append((leased.popleft(), leased_at.popleft()))
                held = self._lease_head(unleased)
            if entry is None:
                break
            mine.add(entry.key)
            touched.append(entry)
            olds.append(entry.state_tuple())
            entry._state_attempts += 4  # one more attempt (see _Entry)
            entry.claim = claim
            entry.next_at = lease_until
            entry.updated_at = now
            # The lease lane stays in (lease end, seq) order; an entry that
            # would break it waits in the due queue instead.
            if (
                not leased
                or lease_until > leased_at[-1]
                or (lease_until == leased_at[-1] and entry.seq >= entries[leased[-1]].seq)
            ):
                leased.append(entry.key)
                leased_at.append(lease_until)
                held_count += 1
            else:
                due.push(lease_until, entry.seq, entry.key)
            claimed.append(entry.snapshot())
        for item in skipped:
            due.push(*item)
        if depth > 1:
            # Each recipient once, each entry once (a lease ending at ``now``, at the end
            # of time, leaves a claimed entry due again within the same claim).
            taken = mine
            leaders = {entry.recipient: entry for entry in touched}
            for leader in leaders.values():
                for behind in t.queues.following(leader.recipient, depth - 1):
                    follower = entries[behind]
                    if len(claimed) >= wanted or follower.next_at > now or behind in taken:
                        break
                    taken.add(behind)
                    touched.append(follower)
                    olds.append(follower.state_tuple())
                    follower._state_attempts += 4
                    follower.claim = claim
                    follower.next_at = lease_until
                    follower.updated_at = now
                    claimed.append(follower.snapshot())

        def undo() -> None:
            for entry, old in zip(touched, olds, strict=True):
                entry.restore(old)
            for item in popped:
                t.heap.push(*item)
            for _ in range(held_count):
                t.leased.pop()
                t.leased_at.pop()
            for key, at in reversed(unleased):
                t.leased.appendleft(key)
                t.leased_at.appendleft(at)

        self._undo.append(undo)
        return claimed

    def _finish(
        self, keys: Collection[str], state: OutboxState, error: str, now: datetime
    ) -> list[str]:
        """Move pending entries to ``state``, out of their recipients' queues; one undo step."""
        t = self._t
        entries, queues = t.entries, t.queues
        done: list[tuple[_Entry, tuple[Any, ...], int]] = []
        code = _STATE_CODES[state]
        for key in keys:
            entry = entries.get(key)
            if entry is None or entry._state_attempts & 3:  # not pending
                continue
            old = entry.state_tuple()
            entry._state_attempts = (entry._state_attempts & ~3) | code
            entry.claim = None
            entry.error = error
            entry.updated_at = now
            recipient = _recipient(entry)
            position = queues.remove(recipient, entry.key)
            done.append((entry, old, position))
            if position == 0:  # the recipient's next entry is now due in its turn
                self._push_head(recipient)

        def undo() -> None:
            for entry, old, position in reversed(done):
                entry.restore(old)
                queues.insert(entry.recipient, position, entry.key)

        if done:
            self._undo.append(undo)
        return [entry.key for entry, _, _ in done]

    def mark_delivered(self, keys: Collection[str], now: datetime) -> None:
        self._check()
        done = len(self._finish(keys, OutboxState.DELIVERED, "", now))
        if done:
            before = self._t.delivered
            self._t.delivered += done
            self._undo.append(lambda: setattr(self._t, "delivered", before))

    def schedule_retry(self, key: str, not_before: datetime, error: str, now: datetime) -> None:
        self._check()
        entry = self._t.entries.get(key)
        if entry is None or entry.state is not OutboxState.PENDING:
            return
        self._remember(entry)
        entry.claim = None
        entry.next_at = not_before
        entry.error = error
        entry.updated_at = now
        self._t.heap.push(not_before, entry.seq, key)

    def mark_dead(self, key: str, error: str, now: datetime) -> None:
        self._check()
        if self._finish([key], OutboxState.DEAD, error, now):
            self._put(self._t.dead, key, None)

    def defer(self, keys: Collection[str], not_before: datetime, now: datetime) -> None:
        self._check()
        for key in keys:
            entry = self._t.entries.get(key)
            if entry is None or entry._state_attempts & 3:  # not pending
                continue
            self._remember(entry)
            entry.claim = None
            entry.next_at = not_before
            entry.updated_at = now
            if entry._state_attempts >= 4:
                entry._state_attempts -= 4  # the claim's attempt given back
            if self._t.queues.head(entry.recipient) == key:
                self._t.heap.push(not_before, entry.seq, key)

    def outbox_entry(self, key: str) -> OutboxEntry | None:
        self._check()
        entry = self._t.entries.get(key)
        return None if entry is None else entry.snapshot()

    def dead_letters(self, limit: int | None = None) -> Sequence[OutboxEntry]:
        self._check()
        keys = itertools.islice(self._t.dead, _cap(limit))
        return [self._t.entries[key].snapshot() for key in keys]

    def outbox_entries(self, state: OutboxState, limit: int | None = None) -> Sequence[OutboxEntry]:
        self._check()
        wanted = check_enum("state", OutboxState, state)
        found = (e for e in self._t.entries.values() if e.state is wanted)
        return [e.snapshot() for e in itertools.islice(found, _cap(limit))]

    def redrive(self, keys: Collection[str], now: datetime) -> int:
        self._check()
        t = self._t
        count = 0
        for key in keys:
            if key not in t.dead:
                continue
            self._drop(t.dead, key, ordered=True)
            entry = t.entries[key]
            self._remember(entry)
            entry.state = OutboxState.PENDING
            entry.attempts = 0
            entry.claim = None
            entry.next_at = now
            entry.updated_at = now
            waiting = t.queues.keys(entry.recipient)
            position = bisect.bisect([t.entries[k].seq for k in waiting], entry.seq)
            t.queues.insert(entry.recipient, position, key)
            self._undo.append(
                lambda r=entry.recipient, key=key: t.queues.remove(r, key)  # type: ignore[misc]
            )
            if position == 0:
                self._push_head(entry.recipient)
            count += 1
        return count

    def prune_delivered(self, before: datetime) -> int:
        self._check()
        t = self._t
        gone = [
            (key, entry)
            for key, entry in t.entries.items()
            if entry.state is OutboxState.DELIVERED and entry.updated_at < before
        ]
        if not gone:
            return 0
        # Stale due and lease items of a pruned key are skipped like any stale item.
        for key, _ in gone:
            del t.entries[key]
        t.delivered -= len(gone)

        def undo() -> None:
            t.entries.update(gone)
            t.delivered += len(gone)

        self._undo.append(undo)
        return len(gone)

    def outbox_stats(self) -> OutboxStats:
        self._check()
        t = self._t
        dead = len(t.dead)
        return OutboxStats(
            pending=len(t.entries) - dead - t.delivered, delivered=t.delivered, dead=dead
        )

    def next_due_at(self) -> datetime | None:
        self._check()
        due = self._t.heap
        while due and self._live_head(due.peek()[0], due.peek()[2]) is None:
            # Stale now, but a rollback may make it live again: restore it then.
            item = due.pop()
            self._undo.append(lambda item=item: due.push(*item))  # type: ignore[misc]
        unleased: list[tuple[str, datetime]] = []
        held = self._lease_head(unleased)
        if unleased:
            t = self._t

            def undo() -> None:
                for key, at in reversed(unleased):
                    t.leased.appendleft(key)
                    t.leased_at.appendleft(at)

            self._undo.append(undo)
        times = [due.peek()[0]] if due else []
        if held is not None:
            times.append(held.next_at)
        return min(times) if times else None

    def oldest_pending_at(self) -> datetime | None:
        self._check()
        entries = self._t.entries
        payloads = {id(p): p for p in (entries[k].payload for k in self._t.queues.all_keys())}
        return min((p.created_at for p in payloads.values()), default=None)


def _cap(limit: object) -> int:
    """A checked ``limit`` as a count: ``None`` (all) and huge ints become ``sys.maxsize``,
    more than any outbox in memory holds."""
    wanted = check_limit("limit", limit)
    return sys.maxsize if wanted is None else min(wanted, sys.maxsize)


class _Queues:
    """Pending keys per recipient, in order; a lone key is kept without a list (memory)."""

    __slots__ = ("_by",)

    def __init__(self) -> None:
        self._by: dict[str, str | list[str]] = {}

    def head(self, recipient: str) -> str | None:
        found = self._by.get(recipient)
        if found is None or isinstance(found, str):
            return found
        return found[0]

    def all_keys(self) -> Iterator[str]:
        """Every pending key, recipient by recipient."""
        for found in self._by.values():
            if isinstance(found, str):
                yield found
            else:
                yield from found

    def keys(self, recipient: str) -> list[str]:
        found = self._by.get(recipient)
        if found is None:
            return []
        return [found] if isinstance(found, str) else list(found)

    def following(self, recipient: str, count: int) -> list[str]:
        """Up to ``count`` keys queued right behind the head."""
        found = self._by.get(recipient)
        return [] if found is None or isinstance(found, str) else found[1 : count + 1]

    def append(self, recipient: str, key: str) -> bool:
        """Add ``key`` last; True if it is now the head."""
        found = self._by.get(recipient)
        if found is None:
            self._by[recipient] = key
            return True
        if isinstance(found, str):
            self._by[recipient] = [found, key]
        else:
            found.append(key)
        return False

    def pop_last(self, recipient: str) -> None:
        found = self._by[recipient]
        if isinstance(found, str) or len(found) <= 1:
            del self._by[recipient]
        else:
            found.pop()
            if len(found) == 1:
                self._by[recipient] = found[0]

    def remove(self, recipient: str, key: str) -> int:
        """Remove ``key``; return the position it had."""
        found = self._by[recipient]
        if isinstance(found, str):
            del self._by[recipient]
            return 0
        position = 0 if found[0] == key else found.index(key)
        del found[position]
        if len(found) == 1:
            self._by[recipient] = found[0]
        return position

    def insert(self, recipient: str, position: int, key: str) -> None:
        waiting = self.keys(recipient)
        waiting.insert(position, key)
        self._by[recipient] = waiting[0] if len(waiting) == 1 else waiting


_Due = tuple[datetime, int, str]
_LANES = 4  # ordered lanes before the heap takes what fits none


class _Lane:
    """One run of due items pushed in order: three deques of references, no tuple per item."""

    __slots__ = ("keys", "seqs", "times")

    def __init__(self) -> None:
        self.times: deque[datetime] = deque()
        self.seqs: deque[int] = deque()
        self.keys: deque[str] = deque()


class _DueQueue:
    """A priority queue of ``(due time, seq, key)``.

    Most items arrive in order: fresh entries, retries, and the next entry of
    each recipient as the one before it is delivered (one ordered run per
    update being drained). Each such run goes to a FIFO lane (up to
    ``_LANES``), where an item costs three references and O(1) work; an
    item that extends no lane goes to a heap of tuples.
    """

    __slots__ = ("_heap", "_lanes")

    def __init__(self) -> None:
        self._lanes: list[_Lane] = []
        self._heap: list[_Due] = []

    def __len__(self) -> int:
        return sum(len(lane.keys) for lane in self._lanes) + len(self._heap)

    def __bool__(self) -> bool:
        return bool(self._lanes or self._heap)  # an emptied lane is dropped

    def push(self, when: datetime, seq: int, key: str) -> None:
        for lane in self._lanes:
            last = lane.times[-1]
            if when > last or (when == last and seq >= lane.seqs[-1]):
                lane.times.append(when)
                lane.seqs.append(seq)
                lane.keys.append(key)
                return
        if len(self._lanes) < _LANES:
            lane = _Lane()
            lane.times.append(when)
            lane.seqs.append(seq)
            lane.keys.append(key)
            self._lanes.append(lane)
        else:
            heapq.heappush(self._heap, (when, seq, key))

    def _first_lane(self) -> _Lane | None:
        """The lane whose head comes first, or None if the heap's head comes before all."""
        best: _Lane | None = None
        for lane in self._lanes:
            if best is None:
                best = lane
                continue
            when, top = lane.times[0], best.times[0]
            if when < top or (when == top and lane.seqs[0] < best.seqs[0]):
                best = lane
        heap = self._heap
        if heap and (best is None or heap[0] < (best.times[0], best.seqs[0], best.keys[0])):
            return None
        return best

    def peek(self) -> _Due:
        lane = self._first_lane()
        if lane is None:
            return self._heap[0]
        return (lane.times[0], lane.seqs[0], lane.keys[0])

    def pop(self) -> _Due:
        lane = self._first_lane()
        if lane is None:
            return heapq.heappop(self._heap)
        item = (lane.times.popleft(), lane.seqs.popleft(), lane.keys.popleft())
        if not lane.keys:
            self._lanes.remove(lane)
        return item


class _Message:
    """The text a fan-out shares between its recipients, stored once."""

    __slots__ = ("body", "created_at", "incident_id", "locale", "prefix_length", "subject", "topic")

    def __init__(self, fanout: FanOut) -> None:
        self.topic = fanout.topic
        self.incident_id = fanout.incident_id
        self.subject = fanout.subject
        self.body = fanout.body
        self.created_at = fanout.created_at
        self.locale = fanout.locale
        self.prefix_length = len(fanout.key_prefix) + 1


def _recipient(entry: _Entry) -> str:
    """``entry.recipient`` without the property call (the relay's hot path)."""
    payload = entry.payload
    if type(payload) is _Message:
        return entry.key[payload.prefix_length :]
    return payload.recipient  # type: ignore[union-attr]


_STATES = (OutboxState.PENDING, OutboxState.DELIVERED, OutboxState.DEAD)
_STATE_CODES = {state: code for code, state in enumerate(_STATES)}


class _Entry:
    """One outbox entry, mutable inside the store (callers get ``OutboxEntry`` snapshots).

    Kept small, as a fan-out holds one per ticket: the recipient is read from
    the key (``prefix/recipient``) or the notification, and the state and the
    attempts share one small integer.
    """

    __slots__ = (
        "_state_attempts",
        "claim",
        "error",
        "key",
        "next_at",
        "payload",
        "seq",
        "updated_at",
    )

    def __init__(self, key: str, payload: _Message | Notification, now: datetime) -> None:
        self.key = key
        self.payload = payload
        self.seq = 0
        self._state_attempts = 0  # PENDING, no attempt
        self.next_at = now
        self.claim: str | None = None
        self.error = ""
        self.updated_at = now

    @property
    def recipient(self) -> str:
        payload = self.payload
        if isinstance(payload, _Message):
            return self.key[payload.prefix_length :]
        return payload.recipient

    @property
    def state(self) -> OutboxState:
        return _STATES[self._state_attempts & 3]

    @state.setter
    def state(self, value: OutboxState) -> None:
        self._state_attempts = (self._state_attempts & ~3) | _STATE_CODES[value]

    @property
    def attempts(self) -> int:
        return self._state_attempts >> 2

    @attempts.setter
    def attempts(self, value: int) -> None:
        self._state_attempts = (value << 2) | (self._state_attempts & 3)

    def state_tuple(self) -> tuple[Any, ...]:
        return (self._state_attempts, self.next_at, self.claim, self.error, self.updated_at)

    def restore(self, old: tuple[Any, ...]) -> None:
        (self._state_attempts, self.next_at, self.claim, self.error, self.updated_at) = old

    def materialise(self) -> Notification:
        payload = self.payload
        if not isinstance(payload, _Message):
            return payload
        return Notification.restore(
            key=self.key,
            recipient=self.key[payload.prefix_length :],
            recipient_kind=RecipientKind.TICKET,
            topic=payload.topic,
            incident_id=payload.incident_id,
            subject=payload.subject,
            body=payload.body,
            created_at=payload.created_at,
            locale=payload.locale,
        )

    def snapshot(self) -> OutboxEntry:
        # OutboxEntry is a plain frozen value without validators: fill it in one update.
        snapshot = object.__new__(OutboxEntry)
        snapshot.__dict__.update(
            notification=self.materialise(),
            seq=self.seq,
            state=_STATES[self._state_attempts & 3],
            attempts=self._state_attempts >> 2,
            next_attempt_at=self.next_at,
            claim=self.claim,
            last_error=self.error,
            updated_at=self.updated_at,
        )
        return snapshot
