"""Alert intake: deduplication by fingerprint and grouping into incidents.

Runs inside one store transaction for a whole batch. Repeats of an active
alert's fingerprint are counted in one bulk call and change nothing else (a
re-sent occurrence only moves ``last_seen_at``);
only new alerts are grouped, joining the potential incident of their group
key, else its open incident, else starting a new potential incident whose
owner team is asked, once, to validate it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import attrs

from ..domain.actors import Actor
from ..domain.alerts import Alert, AlertSignal
from ..domain.checks import TITLE_MAX
from ..domain.errors import InvalidInput
from ..domain.events import AlertJoined, DomainEvent, IncidentDetected, SignalsDigestSent
from ..domain.incidents import IncidentStatus, ServiceIncident, with_summary
from ..grouping import GroupingPolicy
from ..lifecycle import ALERT_LIFECYCLE
from ..notifications import Notification
from ..ports import StoreTransaction
from .base import check_not_before
from .messages import Messages

__all__ = ["AlertOutcome", "AlertReceipt", "IntakeReport", "potential_incident", "receive"]


class AlertOutcome(enum.StrEnum):
    """What became of a signal."""

    DEDUPLICATED = "deduplicated"
    """It repeated an active alert's fingerprint: seen, counted if a new occurrence."""
    STARTED_INCIDENT = "started_incident"
    """It opened an alert that started a new potential incident."""
    JOINED_POTENTIAL = "joined_potential"
    """It opened an alert that joined the potential incident of its group."""
    JOINED_OPEN = "joined_open"
    """It opened an alert that joined the open incident of its group."""
    REFUSED = "refused"
    """It names a product no team owns: nothing was kept of it (the reason says which)."""


@attrs.frozen(kw_only=True)
class AlertReceipt:
    """Where one signal went."""

    alert_id: str
    incident_id: str
    outcome: AlertOutcome
    reason: str = ""
    """Why it was refused (``REFUSED``); empty otherwise."""


@attrs.frozen(kw_only=True)
class IntakeReport:
    """What a batch of signals did."""

    signals: int
    deduplicated: int
    new_alerts: int
    incidents_started: tuple[str, ...]
    incidents_joined: tuple[str, ...]
    counted: Mapping[str, tuple[str, str | None]] = attrs.field(factory=dict, repr=False, eq=False)
    """Fingerprints counted on an active alert: alert id and incident id."""
    placed: Mapping[str, tuple[str, str, AlertOutcome]] = attrs.field(
        factory=dict, repr=False, eq=False
    )
    """Fingerprints that opened a new alert: alert id, incident id and outcome."""
    refused: Mapping[str, str] = attrs.field(factory=dict)
    """Fingerprints refused, each with its reason naming the product no team owns."""

    def receipt(self, fingerprint: str) -> AlertReceipt:
        """Where the signals of ``fingerprint`` went; ``KeyError`` if not in the batch."""
        reason = self.refused.get(fingerprint)
        if reason is not None:
            return AlertReceipt(
                alert_id="", incident_id="", outcome=AlertOutcome.REFUSED, reason=reason
            )
        found = self.placed.get(fingerprint)
        if found is not None:
            return AlertReceipt(alert_id=found[0], incident_id=found[1], outcome=found[2])
        alert_id, incident_id = self.counted[fingerprint]
        return AlertReceipt(
            alert_id=alert_id, incident_id=incident_id or "", outcome=AlertOutcome.DEDUPLICATED
        )

    @property
    def receipts(self) -> Mapping[str, AlertReceipt]:
        """Every fingerprint's receipt (built on demand)."""
        return {fp: self.receipt(fp) for fp in (*self.counted, *self.placed, *self.refused)}


def potential_incident(
    tx: StoreTransaction,
    alert: Alert,
    *,
    team: str,
    now: datetime,
    group_key: str,
) -> ServiceIncident:
    """A new potential incident started by ``alert`` (not yet added to the store).

    The one way an alert opens an incident, for intake and for a detach.
    """
    where = f" in {alert.region}" if alert.region else ""
    title = f"{alert.kind.value.replace('_', ' ')} on {alert.product}{where}"[:TITLE_MAX]
    return ServiceIncident(
        id=tx.new_id("INC"),
        title=title,
        products=(alert.product,),
        region=alert.region,
        owner_team=team,
        detected_at=now,
        group_key=group_key,
        signal_kinds=(alert.kind,),
        summary=with_summary(None, alert.summary),
    )


class _Batch:
    """The state of one intake batch inside its transaction."""

    def __init__(
        self,
        tx: StoreTransaction,
        now: datetime,
        actor: Actor,
        grouping: GroupingPolicy,
        owner_of: Callable[[str], str],
        messenger: Messages,
    ) -> None:
        self.tx = tx
        self.now = now
        self.actor = actor
        self.grouping = grouping
        self.owner_of = owner_of
        self.messenger = messenger
        self.groups: dict[str, ServiceIncident | None] = {}
        self.new_incidents: dict[str, ServiceIncident] = {}
        self.touched: dict[str, ServiceIncident] = {}
        self.joined_open: dict[str, list[Alert]] = {}
        self.events: list[DomainEvent] = []
        self.notifications: list[Notification] = []

    def incident_for(self, key: str) -> ServiceIncident | None:
        if key not in self.groups:
            found = self.tx.active_incidents(group_key=key)
            detected = [i for i in found if i.status is IncidentStatus.DETECTED]
            opened = [i for i in found if i.status is not IncidentStatus.DETECTED]
            # Stable: ties keep the store's oldest-first order (ids do not sort by age).
            opened.sort(key=lambda i: i.opened_at or i.detected_at)
            choice = detected[0] if detected else (opened[-1] if opened else None)
            if choice is not None:
                self.touched[choice.id] = choice
            self.groups[key] = choice
        return self.groups[key]

    def start_incident(self, key: str, alert: Alert, signal: AlertSignal) -> ServiceIncident:
        team = self.owner_of(signal.product)
        incident = potential_incident(self.tx, alert, team=team, now=self.now, group_key=key)
        self.groups[key] = incident
        self.new_incidents[incident.id] = incident
        self.events.append(
            IncidentDetected(
                incident_id=incident.id,
                actor=self.actor,
                at=self.now,
                alert_id=alert.id,
                group_key=key,
            )
        )
        self.notifications.append(
            self.messenger.validation_request(
                incident,
                signal.summary,
                self.now,
                severity_hint=signal.severity_hint,
                links=signal.links,
            )
        )
        return incident

    def place(self, alert: Alert, signal: AlertSignal) -> tuple[str, str, AlertOutcome]:
        key = self.grouping.key_of(signal)
        incident = self.incident_for(key)
        if incident is None:
            incident = self.start_incident(key, alert, signal)
            outcome = AlertOutcome.STARTED_INCIDENT
        else:
            self.events.append(
                AlertJoined(
                    incident_id=incident.id,
                    actor=self.actor,
                    at=self.now,
                    alert_id=alert.id,
                    fingerprint=alert.fingerprint,
                )
            )
            if signal.kind not in incident.signal_kinds:
                incident.signal_kinds = (*incident.signal_kinds, signal.kind)
            incident.summary = with_summary(incident.summary, signal.summary)
            if incident.status is IncidentStatus.DETECTED:
                outcome = AlertOutcome.JOINED_POTENTIAL
            else:
                outcome = AlertOutcome.JOINED_OPEN
                incident.all_clear_at = None  # a signal again: the next all-clear is news
                self.joined_open.setdefault(incident.id, []).append(alert)
        alert.incident_id = incident.id
        return (alert.id, incident.id, outcome)

    def digest(self, incident: ServiceIncident, alerts: Sequence[Alert]) -> None:
        """Count new signals on an open incident; send a digest at most once per interval."""
        incident.signals_since_digest += len(alerts)
        last = incident.last_digest_at
        if last is not None and self.now - last < self.grouping.interval:
            return
        count = incident.signals_since_digest
        self.notifications.append(
            self.messenger.signals_digest(incident, count, alerts[-1].summary, self.now)
        )
        self.events.append(
            SignalsDigestSent(incident_id=incident.id, actor=self.actor, at=self.now, alerts=count)
        )
        incident.last_digest_at = self.now
        incident.signals_since_digest = 0


def receive(
    tx: StoreTransaction,
    signals: Sequence[AlertSignal],
    *,
    now: datetime,
    actor: Actor,
    grouping: GroupingPolicy,
    owner_of: Callable[[str], str],
    messenger: Messages,
) -> tuple[IntakeReport, list[Notification]]:
    """Deduplicate and group ``signals`` in ``tx``; return the report and notifications.

    Counts measure occurrences: per fingerprint, each signal without a start
    is one, and each distinct start one more (a start the active alert has
    already counted, none: see ``domain.alerts.is_new_occurrence``).
    """
    counts: dict[str, int] = {}
    last_seen: dict[str, datetime] = {}
    first: dict[str, AlertSignal] = {}
    starts: dict[str, set[datetime]] = {}
    given: dict[str, int] = {}
    for signal in signals:
        fingerprint = signal.fingerprint
        given[fingerprint] = given.get(fingerprint, 0) + 1
        if fingerprint not in first:
            first[fingerprint] = signal
            counts[fingerprint] = 0
            last_seen[fingerprint] = signal.observed_at
        elif signal.observed_at > last_seen[fingerprint]:
            last_seen[fingerprint] = signal.observed_at
        if signal.started_at is None:
            counts[fingerprint] += 1
        else:
            starts.setdefault(fingerprint, set()).add(signal.started_at)
    by_start = {fp: tuple(sorted(times)) for fp, times in starts.items()}
    # Without starts, the port's two-argument form (a store written before starts existed).
    counted = (
        tx.count_repeats(counts, last_seen, by_start)
        if by_start
        else tx.count_repeats(counts, last_seen)
    )
    batch = _Batch(tx, now, actor, grouping, owner_of, messenger)
    new_alerts: list[Alert] = []
    placed: dict[str, tuple[str, str, AlertOutcome]] = {}
    refused: dict[str, str] = {}
    refused_signals = 0
    for fingerprint, signal in first.items():
        if fingerprint in counted:
            continue
        try:
            owner_of(signal.product)
        except InvalidInput as error:  # a product nobody owns: this signal only
            refused[fingerprint] = error.reason
            refused_signals += given[fingerprint]
            continue
        alert = Alert.from_signal(tx.new_id("ALR"), signal)
        times = by_start.get(fingerprint, ())
        alert.count = counts[fingerprint] + len(times)
        alert.last_seen_at = last_seen[fingerprint]
        if times:
            alert.started_at = times[-1]
        placed[fingerprint] = batch.place(alert, signal)
        new_alerts.append(alert)
    for incident_id, joined in batch.joined_open.items():
        ALERT_LIFECYCLE.fire_many(joined, "validate", now=now)
        batch.digest(batch.touched[incident_id], joined)
    tx.add_alerts(new_alerts)
    for incident in batch.new_incidents.values():
        tx.add_incident(incident)
    for incident in batch.touched.values():
        # Every touched incident received an alert. Saving bumps its version, so a
        # concurrent validate or dismiss conflicts and is retried on fresh data.
        tx.save_incident(incident)
    for incident_id in batch.touched:  # incidents new in the batch have no timeline yet
        check_not_before(tx, incident_id, now)
    tx.append(batch.events)
    started = tuple(batch.new_incidents)
    joined_ids = tuple(sorted({p[1] for p in placed.values() if p[2] in _JOINED} - set(started)))
    report = IntakeReport(
        signals=len(signals),
        deduplicated=len(signals) - len(new_alerts) - refused_signals,
        new_alerts=len(new_alerts),
        incidents_started=started,
        incidents_joined=joined_ids,
        counted=counted,
        placed=placed,
        refused=refused,
    )
    return report, batch.notifications


_JOINED = frozenset({AlertOutcome.JOINED_OPEN, AlertOutcome.JOINED_POTENTIAL})
