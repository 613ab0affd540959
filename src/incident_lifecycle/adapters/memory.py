"""``InMemoryStore``: the store port in memory, with the same invariants as a database.

Transactions are serialisable (one lock) and roll back every change on an
exception through an undo log; stale versions conflict; ids and uniqueness
rules hold; every lookup the desk makes goes through an index, so its cost
does not grow with the history kept.
"""

from __future__ import annotations

import bisect
import copy
import heapq
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import attrs

from ..domain.alerts import Alert
from ..domain.errors import ConcurrencyConflict, NotFound, StoreError
from ..domain.events import DomainEvent
from ..domain.incidents import OPEN_STATUSES, IncidentStatus, ServiceIncident, StatusUpdate
from ..domain.reports import CustomerReport, ReportStatus
from ..notifications import Notification
from ..ports import OutboxEntry, OutboxState, OutboxStats

__all__ = ["InMemoryStore"]

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
_ACTIVE_INCIDENT = OPEN_STATUSES | {IncidentStatus.DETECTED}
_MISSING: Any = object()


def _clone(entity: T) -> T:
    return copy.copy(entity)


class _Tables:
    """Every record and index of one store."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}
        self.alerts: dict[str, Alert] = {}
        self.active_by_fp: dict[str, str] = {}
        self.alerts_by_incident: dict[str, dict[str, None]] = {}
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
        self.entries: dict[str, OutboxEntry] = {}
        self.queues: dict[str, deque[str]] = {}
        self.heap: list[tuple[datetime, int, str]] = []
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

    def _drop(self, table: dict[K, V], key: K) -> None:
        old = table.pop(key, _MISSING)
        if old is not _MISSING:
            self._undo.append(lambda: table.__setitem__(key, old))

    def _member(
        self, index: dict[str, dict[str, None]], key: str, item: str, present: bool
    ) -> None:
        bucket = index.get(key)
        if present:
            if bucket is None:
                bucket = {}
                self._put(index, key, bucket)
            if item not in bucket:
                self._put(bucket, item, None)
        elif bucket is not None and item in bucket:
            self._drop(bucket, item)

    def _setattr(self, obj: object, name: str, value: object) -> None:
        old = getattr(obj, name)
        object.__setattr__(obj, name, value)
        self._undo.append(lambda: object.__setattr__(obj, name, old))

    # -- ids --------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        self._check()
        number = self._t.counters.get(prefix, 0) + 1
        # Like a database sequence, not rolled back: an id handed out is never reused.
        self._t.counters[prefix] = number
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
        ids = self._t.alerts_by_incident.get(incident_id, {})
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
                self._member(t.alerts_by_incident, previous.incident_id, alert.id, False)
        if alert.active:
            holder = t.active_by_fp.get(alert.fingerprint)
            if holder is not None and holder != alert.id:
                raise ConcurrencyConflict("alert", alert.id, alert.version, None)
            self._put(t.active_by_fp, alert.fingerprint, alert.id)
        if alert.incident_id is not None:
            self._member(t.alerts_by_incident, alert.incident_id, alert.id, True)

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
        self, counts: Mapping[str, int], last_seen: Mapping[str, datetime]
    ) -> Mapping[str, tuple[str, str | None]]:
        self._check()
        active = self._t.active_by_fp
        alerts = self._t.alerts
        undo: list[tuple[Alert, int, datetime]] = []
        counted: dict[str, tuple[str, str | None]] = {}
        set_field = object.__setattr__
        for fingerprint, n in counts.items():
            alert_id = active.get(fingerprint)
            if alert_id is None:
                continue
            alert = alerts[alert_id]
            undo.append((alert, alert.count, alert.last_seen_at))
            set_field(alert, "count", alert.count + n)
            seen = last_seen[fingerprint]
            if seen > alert.last_seen_at:
                set_field(alert, "last_seen_at", seen)
            counted[fingerprint] = (alert_id, alert.incident_id)

        def restore() -> None:
            for alert, count, seen in undo:
                object.__setattr__(alert, "count", count)
                object.__setattr__(alert, "last_seen_at", seen)

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
        was_active = old is not None and old.status in _ACTIVE_INCIDENT
        is_active = new.status in _ACTIVE_INCIDENT
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
        self, *, product: str | None = None, group_key: str | None = None
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
        found.sort(key=lambda incident: (incident.detected_at, incident.id))
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
            self._member(self._t.links, current, ticket_id, False)
        self._put(self._t.link_of, ticket_id, incident_id)
        self._member(self._t.links, incident_id, ticket_id, True)

    def unlink(self, ticket_id: str) -> None:
        self._check()
        current = self._t.link_of.get(ticket_id)
        if current is not None:
            self._drop(self._t.link_of, ticket_id)
            self._member(self._t.links, current, ticket_id, False)

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

    def timeline(self, incident_id: str) -> Sequence[DomainEvent]:
        self._check()
        return list(self._t.timeline.get(incident_id, ()))

    # -- outbox -----------------------------------------------------------
    def enqueue(self, notifications: Sequence[Notification], now: datetime) -> int:
        self._check()
        t = self._t
        added = 0
        for notification in notifications:
            if notification.key in t.entries:
                continue
            t.seq += 1
            entry = OutboxEntry(
                notification=notification,
                seq=t.seq,
                state=OutboxState.PENDING,
                next_attempt_at=now,
                updated_at=now,
            )
            self._put(t.entries, notification.key, entry)
            self._queue_append(notification.recipient, notification.key)
            added += 1
        return added

    def _queue_append(self, recipient: str, key: str) -> None:
        t = self._t
        queue = t.queues.get(recipient)
        if queue is None:
            queue = deque()
            self._put(t.queues, recipient, queue)
        queue.append(key)
        self._undo.append(queue.pop)
        if len(queue) == 1:
            self._push_head(queue)

    def _push_head(self, queue: deque[str]) -> None:
        if queue:
            head = self._t.entries[queue[0]]
            heapq.heappush(self._t.heap, (head.next_attempt_at, head.seq, head.key))

    def _is_live_head(self, when: datetime, key: str) -> bool:
        entry = self._t.entries.get(key)
        if entry is None or entry.state is not OutboxState.PENDING:
            return False
        if entry.next_attempt_at != when:
            return False
        queue = self._t.queues.get(entry.notification.recipient)
        return bool(queue) and queue[0] == key  # type: ignore[index]

    def claim_due(
        self, now: datetime, limit: int, lease_until: datetime, claim: str
    ) -> Sequence[OutboxEntry]:
        self._check()
        t = self._t
        claimed: list[OutboxEntry] = []
        while t.heap and len(claimed) < limit and t.heap[0][0] <= now:
            item = heapq.heappop(t.heap)
            self._undo.append(lambda item=item: heapq.heappush(t.heap, item))  # type: ignore[misc]
            when, _seq, key = item
            if not self._is_live_head(when, key):
                continue
            entry = attrs.evolve(
                t.entries[key],
                attempts=t.entries[key].attempts + 1,
                claim=claim,
                next_attempt_at=lease_until,
                updated_at=now,
            )
            self._put(t.entries, key, entry)
            heapq.heappush(t.heap, (lease_until, entry.seq, key))
            claimed.append(entry)
        return claimed

    def _finish(self, key: str, state: OutboxState, error: str, now: datetime) -> bool:
        t = self._t
        entry = t.entries.get(key)
        if entry is None or entry.state is not OutboxState.PENDING:
            return False
        self._put(
            t.entries,
            key,
            attrs.evolve(entry, state=state, claim=None, last_error=error, updated_at=now),
        )
        queue = t.queues[entry.notification.recipient]
        if queue and queue[0] == key:
            queue.popleft()
            self._undo.append(lambda: queue.appendleft(key))
            self._push_head(queue)
        else:
            position = queue.index(key)
            del queue[position]
            self._undo.append(lambda: queue.insert(position, key))
        return True

    def mark_delivered(self, keys: Collection[str], now: datetime) -> None:
        self._check()
        done = 0
        for key in keys:
            done += self._finish(key, OutboxState.DELIVERED, "", now)
        if done:
            before = self._t.delivered
            self._t.delivered += done
            self._undo.append(lambda: setattr(self._t, "delivered", before))

    def schedule_retry(self, key: str, not_before: datetime, error: str, now: datetime) -> None:
        self._check()
        t = self._t
        entry = t.entries.get(key)
        if entry is None or entry.state is not OutboxState.PENDING:
            return
        updated = attrs.evolve(
            entry, claim=None, next_attempt_at=not_before, last_error=error, updated_at=now
        )
        self._put(t.entries, key, updated)
        heapq.heappush(t.heap, (not_before, entry.seq, key))

    def mark_dead(self, key: str, error: str, now: datetime) -> None:
        self._check()
        if self._finish(key, OutboxState.DEAD, error, now):
            self._put(self._t.dead, key, None)

    def outbox_entry(self, key: str) -> OutboxEntry | None:
        self._check()
        return self._t.entries.get(key)

    def dead_letters(self, limit: int | None = None) -> Sequence[OutboxEntry]:
        self._check()
        keys = list(self._t.dead)
        if limit is not None:
            keys = keys[:limit]
        return [self._t.entries[key] for key in keys]

    def redrive(self, keys: Collection[str], now: datetime) -> int:
        self._check()
        t = self._t
        count = 0
        for key in keys:
            if key not in t.dead:
                continue
            self._drop(t.dead, key)
            entry = attrs.evolve(
                t.entries[key],
                state=OutboxState.PENDING,
                attempts=0,
                claim=None,
                next_attempt_at=now,
                updated_at=now,
            )
            self._put(t.entries, key, entry)
            recipient = entry.notification.recipient
            queue = t.queues.get(recipient)
            if queue is None:
                queue = deque()
                self._put(t.queues, recipient, queue)
            seqs = [t.entries[k].seq for k in queue]
            position = bisect.bisect(seqs, entry.seq)
            queue.insert(position, key)
            self._undo.append(lambda queue=queue, key=key: queue.remove(key))  # type: ignore[misc]
            if position == 0:
                self._push_head(queue)
            count += 1
        return count

    def outbox_stats(self) -> OutboxStats:
        self._check()
        t = self._t
        dead = len(t.dead)
        return OutboxStats(
            pending=len(t.entries) - dead - t.delivered, delivered=t.delivered, dead=dead
        )

    def next_due_at(self) -> datetime | None:
        self._check()
        heap = self._t.heap
        while heap and not self._is_live_head(heap[0][0], heap[0][2]):
            # Stale now, but a rollback may make it live again: restore it then.
            item = heapq.heappop(heap)
            self._undo.append(lambda item=item: heapq.heappush(heap, item))  # type: ignore[misc]
        return heap[0][0] if heap else None
