"""Prometheus metrics of a desk, read on each scrape (the ``prometheus`` extra).

:class:`IncidentCollector` is a ``prometheus_client`` collector: register it
on a registry and every scrape reads the desk. Two sources, named apart in
``docs/observability.md``:

- **the store**, in one read transaction: incidents by status and severity,
  the outbox by state and the age of its oldest pending notification, and the
  response times (acknowledge, validate, first public update, resolve) of
  every incident the store holds, as histograms in seconds. Every instance of
  a service sharing one store reports the same figures.
- **this process** (the desk's :class:`~incident_lifecycle.telemetry.Telemetry`):
  alerts received, deduplicated and refused, delivery attempts by result and
  outlet, and the relay's rounds and heartbeat. Counters start at zero with the
  process, as Prometheus expects of counters.

When the store cannot be read, ``incident_lifecycle_store_up`` is 0 and only the
process's figures are served (the scrape itself succeeds).

>>> from datetime import UTC, datetime
>>> from prometheus_client import CollectorRegistry, generate_latest
>>> from incident_lifecycle import IncidentDesk, InMemoryStore, RecordingNotifier
>>> from incident_lifecycle.testing import FakeClock
>>> desk = IncidentDesk(store=InMemoryStore(), notifier=RecordingNotifier(), ownership={},
...                     clock=FakeClock(datetime(2026, 5, 2, 14, 0, tzinfo=UTC)))
>>> registry = CollectorRegistry()
>>> registry.register(IncidentCollector(desk))
>>> text = generate_latest(registry).decode()
>>> 'incident_lifecycle_outbox_notifications{state="pending"} 0.0' in text
True
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta

from .commands import read
from .desk import IncidentDesk
from .domain.errors import IncidentLifecycleError, InvalidInput
from .domain.incidents import IncidentStatus, ServiceIncident
from .logs import fields
from .metrics import MILESTONES, milestone_durations
from .notifications import DeliveryStatus, RecipientKind, one_line
from .ports import OutboxStats, StoreTransaction

EXTRA_MISSING = (
    "incident_lifecycle.prometheus needs prometheus_client, from the 'prometheus' extra: "
    "pip install 'incident-lifecycle[prometheus]'"
)
try:
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.registry import Collector, CollectorRegistry
except ImportError as error:  # pragma: no cover - the extra is in dev
    raise ImportError(EXTRA_MISSING, name="prometheus_client") from error

__all__ = [
    "DEFAULT_BUCKETS",
    "EXTRA_MISSING",
    "NAMESPACE",
    "IncidentCollector",
    "exposition",
]

LOG = logging.getLogger(__name__)
"""A scrape that could not read the store is logged here (one line, the error's text)."""

NAMESPACE = "incident_lifecycle"
"""The prefix of every metric name."""

DEFAULT_BUCKETS: tuple[float, ...] = (
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    900.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
    28800.0,
    86400.0,
    259200.0,
    604800.0,
)
"""Upper bounds of the response-time histograms, in seconds: 30 s to a week, with the
guide's 15 and 30 minutes (the first public update and the update interval)."""

NO_SEVERITY = "none"
"""The ``severity`` label of an incident without one (a potential or dismissed incident)."""

_UNKNOWN = "unknown"
_HELP = {
    "time_to_acknowledge": "Detection to the first acknowledgement",
    "time_to_validate": "Detection to validation (the incident opened)",
    "time_to_first_public_update": "Opening to the first public update",
    "time_to_resolve": "Detection to the (latest) resolution",
}


def _check_buckets(buckets: Iterable[float]) -> tuple[float, ...]:
    try:
        bounds = tuple(float(b) for b in buckets)
    except (TypeError, ValueError):
        raise InvalidInput("buckets", "must be numbers of seconds") from None
    if not bounds or any(not math.isfinite(b) or b <= 0 for b in bounds):
        raise InvalidInput("buckets", "must be one or more finite numbers above zero")
    if list(bounds) != sorted(set(bounds)):
        raise InvalidInput("buckets", "must be in increasing order, each once")
    return bounds


class IncidentCollector(Collector):
    """Reads ``desk`` on each scrape (see the module docstring for what, and from where).

    Args:
        desk: the desk to read: its store, its clock (for ages) and its telemetry.
        buckets: the response-time histograms' upper bounds, in seconds (``+Inf`` is added).
        namespace: the prefix of every metric name.
        incident_refresh: seconds during which the incidents read by one scrape serve the
            next ones too (0, the default: each scrape reads them). Reading every incident
            is the costly part of a scrape on a long history; the outbox is read each time.
        process_metrics: whether to give this process's counters (intake, delivery
            attempts, the relay); a one-shot command (``incident-lifecycle metrics
            --format prometheus``) leaves them out, since they would only be zeros.

    Raises:
        InvalidInput: ``desk`` is not a desk, ``buckets`` are not increasing positive
            numbers, ``namespace`` is not a metric name.
    """

    def __init__(
        self,
        desk: IncidentDesk,
        *,
        buckets: Iterable[float] = DEFAULT_BUCKETS,
        namespace: str = NAMESPACE,
        incident_refresh: float = 0.0,
        process_metrics: bool = True,
    ) -> None:
        if not isinstance(desk, IncidentDesk):
            raise InvalidInput("desk", f"must be an IncidentDesk, not {type(desk).__name__}")
        if not isinstance(namespace, str) or not _is_metric_name(namespace):
            raise InvalidInput("namespace", "must be a metric name ([a-zA-Z_][a-zA-Z0-9_]*)")
        if (
            not isinstance(incident_refresh, int | float)
            or isinstance(incident_refresh, bool)
            or not 0 <= incident_refresh < math.inf
        ):
            raise InvalidInput("incident_refresh", "must be a number of seconds, zero or more")
        self.desk = desk
        self.buckets = _check_buckets(buckets)
        self.namespace = namespace
        self.incident_refresh = float(incident_refresh)
        self.process_metrics = bool(process_metrics)
        self._lock = threading.Lock()
        self._incidents: tuple[float, Sequence[ServiceIncident]] | None = None

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """A scrape's answer, ``(body, content type)``: see :func:`exposition`."""
        return exposition(self, accept)

    def _name(self, suffix: str) -> str:
        return f"{self.namespace}_{suffix}"

    def describe(self) -> Iterable[Metric]:
        """The metric families, without samples (registering reads nothing)."""
        return list(self._families(None, None))

    def collect(self) -> Iterable[Metric]:
        """Every metric family, with the desk's current figures."""
        try:
            store = self._read_store()
        except IncidentLifecycleError as error:
            LOG.warning(
                "metrics: the store could not be read: %s",
                one_line(error, 300),
                extra=fields("metrics_store_unreadable", error=str(error)),
            )
            store = None
        return list(self._families(store, self.desk.clock.now()))

    def _read_store(self) -> _Figures:
        with self._lock:
            cached, started = self._incidents, time.monotonic()
            if cached is not None and started - cached[0] < self.incident_refresh:
                outbox, oldest = read(self.desk.store, _outbox_figures, max_conflict_retries=2)
                return _Figures(cached[1], outbox, oldest)
            figures = read(self.desk.store, _store_figures, max_conflict_retries=2)
            self._incidents = (started, figures.incidents)
            return figures

    # -- the families ---------------------------------------------------------------------
    def _families(self, store: _Figures | None, now: datetime | None) -> Iterator[Metric]:
        if self.process_metrics:
            yield from self._process_families(now is not None)
        up = GaugeMetricFamily(
            self._name("store_up"), "Whether the last scrape could read the store (1) or not (0)"
        )
        if now is not None:
            up.add_metric([], 1.0 if store is not None else 0.0)
        yield up
        if now is None or store is not None:
            yield from self._store_families(store, now)

    def _process_families(self, with_samples: bool) -> Iterator[Metric]:
        counts = self.desk.telemetry.snapshot() if with_samples else None
        for suffix, help_text, value in (
            ("alerts_received", "Alert signals taken in by this process", "alerts_received"),
            (
                "alerts_deduplicated",
                "Alert signals that repeated an active alert's fingerprint",
                "alerts_deduplicated",
            ),
            (
                "alerts_refused",
                "Alert signals refused: by the desk, or dropped by a service route",
                "alerts_refused",
            ),
            ("relay_runs", "Outbox relay rounds completed by this process", "relay_runs"),
        ):
            family = CounterMetricFamily(self._name(suffix), help_text)
            if counts is not None:
                family.add_metric([], float(getattr(counts, value)))
            yield family
        attempts = CounterMetricFamily(
            self._name("delivery_attempts"),
            "Delivery attempts by the notifier's verdict and the outlet tried",
            labels=["result", "outlet"],
        )
        heartbeat = GaugeMetricFamily(
            self._name("relay_last_run_timestamp_seconds"),
            "When this process's outbox relay last completed a round (Unix time)",
        )
        if counts is not None:
            results = [s.value for s in DeliveryStatus] + [_UNKNOWN]
            outlets = [k.value for k in RecipientKind]
            seen = dict.fromkeys([(r, o) for r in results for o in outlets])
            seen.update(dict.fromkeys(counts.delivery_attempts))
            for result, outlet in seen:
                tried = counts.delivery_attempts.get((result, outlet), 0)
                attempts.add_metric([result, outlet], float(tried))
            if counts.relay_last_run_at is not None:
                heartbeat.add_metric([], counts.relay_last_run_at.timestamp())
        yield attempts
        yield heartbeat

    def _store_families(self, store: _Figures | None, now: datetime | None) -> Iterator[Metric]:
        incidents = GaugeMetricFamily(
            self._name("incidents"),
            "Incidents the store holds, by status and severity",
            labels=["status", "severity"],
        )
        outbox = GaugeMetricFamily(
            self._name("outbox_notifications"),
            "Notifications in the outbox, by state",
            labels=["state"],
        )
        age = GaugeMetricFamily(
            self._name("outbox_oldest_pending_age_seconds"),
            "Age of the oldest pending notification (0 when none is pending)",
        )
        levels = [level.name for level in self.desk.scale.levels]
        histograms = {name: self._histogram(name) for name in MILESTONES}
        if store is not None and now is not None:
            by_status = _count_by_status(store.incidents)
            for status in IncidentStatus:
                for severity in (*levels, NO_SEVERITY):
                    value = by_status.pop((status.value, severity), 0)
                    incidents.add_metric([status.value, severity], float(value))
            for (status_value, severity), value in sorted(by_status.items()):  # another scale
                incidents.add_metric([status_value, severity], float(value))
            for state in ("pending", "delivered", "dead"):
                outbox.add_metric([state], float(getattr(store.outbox, state)))
            waited = timedelta(0) if store.oldest is None else max(now - store.oldest, timedelta(0))
            age.add_metric([], waited.total_seconds())
            self._observe(histograms, store.incidents, levels)
        yield incidents
        yield outbox
        yield age
        yield from histograms.values()

    def _histogram(self, name: str) -> HistogramMetricFamily:
        return HistogramMetricFamily(
            self._name(f"{name}_seconds"),
            f"{_HELP[name]}, of every incident the store holds, by current severity",
            labels=["severity"],
        )

    def _observe(
        self,
        histograms: Mapping[str, HistogramMetricFamily],
        incidents: Sequence[ServiceIncident],
        levels: Sequence[str],
    ) -> None:
        by_severity: dict[str, list[ServiceIncident]] = {level: [] for level in levels}
        for incident in incidents:
            severity = incident.severity.name if incident.severity is not None else NO_SEVERITY
            by_severity.setdefault(severity, []).append(incident)
        for severity, group in by_severity.items():
            durations = milestone_durations(group)
            for name, family in histograms.items():
                seconds = [d.total_seconds() for d in durations[name] if d >= timedelta(0)]
                if seconds or severity in levels:
                    family.add_metric([severity], self._buckets(seconds), sum(seconds))

    def _buckets(self, seconds: Sequence[float]) -> list[tuple[str, float]]:
        ordered = sorted(seconds)
        out, index = [], 0
        for bound in self.buckets:
            while index < len(ordered) and ordered[index] <= bound:
                index += 1
            out.append((_bound(bound), float(index)))
        out.append(("+Inf", float(len(ordered))))
        return out


class _Figures:
    """What one scrape reads from the store, in one transaction."""

    __slots__ = ("incidents", "oldest", "outbox")

    def __init__(
        self, incidents: Sequence[ServiceIncident], outbox: OutboxStats, oldest: datetime | None
    ) -> None:
        self.incidents, self.outbox, self.oldest = incidents, outbox, oldest


def _store_figures(tx: StoreTransaction) -> _Figures:
    return _Figures(
        tx.incidents_detected_between(None, None), tx.outbox_stats(), tx.oldest_pending_at()
    )


def _outbox_figures(tx: StoreTransaction) -> tuple[OutboxStats, datetime | None]:
    return tx.outbox_stats(), tx.oldest_pending_at()


def _count_by_status(incidents: Iterable[ServiceIncident]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for incident in incidents:
        severity = incident.severity.name if incident.severity is not None else NO_SEVERITY
        key = (incident.status.value, severity)
        counts[key] = counts.get(key, 0) + 1
    return counts


def _bound(value: float) -> str:
    """A bucket bound as Prometheus writes it (``30.0``, ``0.5``)."""
    return repr(float(value))


def _is_metric_name(name: str) -> bool:
    return (
        bool(name)
        and (name[0].isalpha() or name[0] == "_")
        and name.isascii()
        and all(ch.isalnum() or ch == "_" for ch in name)
    )


def exposition(collector: IncidentCollector, accept: str | None = None) -> tuple[bytes, str]:
    """The collector's figures as a scrape answer: ``(body, content type)``.

    ``accept`` is the scraper's ``Accept`` header: OpenMetrics when it asks for it, the
    Prometheus text format (0.0.4) otherwise.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
