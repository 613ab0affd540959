"""What a desk counts and traces as it works, in this process.

Every command the desk handles runs inside :meth:`Telemetry.observe`: one
span ``incident_lifecycle.<op>`` (through :mod:`.tracing`; nothing without
``opentelemetry-api``) and the intake counters. The relay reports each batch
(:meth:`Telemetry.delivery_batch`, :meth:`Telemetry.count_attempts`) and each
completed round (:meth:`Telemetry.relay_ran`). :meth:`Telemetry.snapshot`
reads the counts at once; ``incident_lifecycle.prometheus.IncidentCollector``
serves them. Counts start at zero with the process, like any Prometheus
counter; what the store holds (incidents, the outbox) is read from the store
instead. See ``docs/observability.md``.
"""

from __future__ import annotations

import enum
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar

import attrs

from .domain.errors import IncidentLifecycleError, InvalidInput, NotPermitted
from .logs import fields
from .notifications import DeliveryResult
from .ports import OutboxEntry
from .tracing import ATTRIBUTE_PREFIX, AttributeValue, SpanHandle, active_tracer, span, tracer_of

__all__ = ["Telemetry", "TelemetrySnapshot", "outcome_of_error"]

T = TypeVar("T")

LOG = logging.getLogger(__name__)
"""Each command handled, at DEBUG (record ``command``, see ``logs``)."""

MAX_IDS = 64
"""A span lists at most this many incident ids (a storm's batch may touch thousands)."""

_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


def outcome_of_error(error: BaseException) -> str:
    """The outcome a failed command reports: the library error's name in snake case
    (``invalid_input``, ``not_permitted``, ``concurrency_conflict``, ...), else ``error``."""
    if isinstance(error, IncidentLifecycleError):
        return _SNAKE.sub("_", type(error).__name__).lower()
    return "error"


@attrs.frozen(kw_only=True)
class TelemetrySnapshot:
    """The counts of one :class:`Telemetry`, read at once."""

    alerts_received: int
    """Signals taken in by committed intake commands."""
    alerts_deduplicated: int
    """Of those, signals that repeated an active alert's fingerprint."""
    alerts_refused: int
    """Signals refused: a batch the desk refused (each of its signals), the signals of a
    batch refused on their own (a product no team owns), and the alerts a service route
    dropped (a format's refusal, a product no team owns)."""
    delivery_attempts: Mapping[tuple[str, str], int]
    """Attempts by ``(result, outlet)``: the notifier's verdict (``delivered``,
    ``retry``, ``rejected``, or ``unknown`` when it gave none) and the recipient
    kind whose outlet was tried (``ticket``, ``team``, ...)."""
    relay_runs: int
    """Relay rounds completed (``deliver`` calls that returned)."""
    relay_last_run_at: datetime | None
    """When the relay last completed a round, by the desk's clock (``None``: never)."""


class Telemetry:
    """Thread-safe counters and the tracer of one desk (see the module docstring).

    Args:
        tracer_provider: the OpenTelemetry tracer provider to use; by default the
            global one (``opentelemetry.trace.set_tracer_provider``).
    """

    def __init__(self, *, tracer_provider: object | None = None) -> None:
        self._lock = threading.Lock()
        self._received = self._deduplicated = self._refused = self._runs = 0
        self._attempts: dict[tuple[str, str], int] = {}
        self._last_run: datetime | None = None
        self._tracer = None if tracer_provider is None else tracer_of(tracer_provider)

    def snapshot(self) -> TelemetrySnapshot:
        """Every count, as one consistent value."""
        with self._lock:
            return TelemetrySnapshot(
                alerts_received=self._received,
                alerts_deduplicated=self._deduplicated,
                alerts_refused=self._refused,
                delivery_attempts=MappingProxyType(dict(self._attempts)),
                relay_runs=self._runs,
                relay_last_run_at=self._last_run,
            )

    # -- commands ---------------------------------------------------------------------
    def observe(self, command: object, store: object, run: Callable[[], T]) -> T:
        """Run ``run()`` (the command ``command`` on ``store``) in its span, and count it."""
        tracer = self._tracer if self._tracer is not None else active_tracer()
        if tracer is None and not LOG.isEnabledFor(logging.DEBUG):  # count only
            try:
                result = run()
            except (InvalidInput, NotPermitted):
                self.count_refused(_signals_of(command))
                raise
            self._count_intake(result)
            return result
        started = time.perf_counter()
        op = str(getattr(command, "op", type(command).__name__))
        attributes = {
            ATTRIBUTE_PREFIX + "op": op,
            ATTRIBUTE_PREFIX + "store": type(store).__name__,
            ATTRIBUTE_PREFIX + "incident_id": _incident_of(command),
        }
        with span(f"incident_lifecycle.{op}", attributes, tracer) as current:
            try:
                result = run()
            except Exception as error:
                if isinstance(error, InvalidInput | NotPermitted):
                    self.count_refused(_signals_of(command))
                current.fail(error, outcome_of_error(error))
                _log_command(op, attributes, outcome_of_error(error), started)
                raise
            self._count_intake(result)
            found = _result_attributes(command, result)
            if current.recording:
                current.set_all(found)
            _log_command(op, {**attributes, **found}, _outcome_of(result), started)
            return result

    def _count_intake(self, result: object) -> None:
        counts = _intake_counts(result)
        if counts is not None:
            # An intake report's signals refused on their own (a product nobody owns) are
            # those neither deduplicated nor opened as new alerts.
            new_alerts = getattr(result, "new_alerts", None)
            refused = counts[0] - counts[1] - new_alerts if isinstance(new_alerts, int) else 0
            with self._lock:
                self._received += counts[0] - refused
                self._deduplicated += counts[1]
                self._refused += refused

    def count_refused(self, signals: int) -> None:
        """Count ``signals`` alerts refused (the service calls this for what it drops)."""
        if signals:
            with self._lock:
                self._refused += signals

    # -- the relay --------------------------------------------------------------------
    @contextmanager
    def delivery_batch(self, claimed: Sequence[OutboxEntry], relay: str) -> Iterator[SpanHandle]:
        """The span of one delivery batch: sending ``claimed`` and recording the results."""
        kinds = sorted({entry.notification.recipient_kind.value for entry in claimed})
        attributes: dict[str, AttributeValue] = {
            ATTRIBUTE_PREFIX + "relay": relay,
            ATTRIBUTE_PREFIX + "batch.size": len(claimed),
            ATTRIBUTE_PREFIX + "batch.outlets": kinds,
        }
        with span("incident_lifecycle.deliver.batch", attributes, self._tracer) as current:
            yield current

    def count_attempts(
        self, claimed: Sequence[OutboxEntry], results: Mapping[str, DeliveryResult]
    ) -> None:
        """Count one attempt per claimed entry, by the notifier's verdict and outlet."""
        tally: dict[tuple[str, str], int] = {}
        for entry in claimed:
            found = results.get(entry.key)
            verdict = "unknown" if found is None else found.status.value
            key = (verdict, entry.notification.recipient_kind.value)
            tally[key] = tally.get(key, 0) + 1
        with self._lock:
            for key, count in tally.items():
                self._attempts[key] = self._attempts.get(key, 0) + count

    def relay_ran(self, at: datetime) -> None:
        """The relay completed a round at ``at`` (its heartbeat)."""
        with self._lock:
            self._runs += 1
            self._last_run = at


def _log_command(op: str, attributes: Mapping[str, Any], outcome: str, started: float) -> None:
    millis = round((time.perf_counter() - started) * 1000, 3)
    incident = attributes.get(ATTRIBUTE_PREFIX + "incident_id")
    store = attributes.get(ATTRIBUTE_PREFIX + "store")
    LOG.debug(
        "%s %s: %s in %.3fms",
        op,
        incident or "-",
        outcome,
        millis,
        extra=fields(
            "command", op=op, incident_id=incident, outcome=outcome, store=store, millis=millis
        ),
    )


def _incident_of(command: object) -> str | None:
    for name in ("incident_id", "source_id"):
        value = getattr(command, name, None)
        if isinstance(value, str):
            return value
    return None


def _signals_of(command: object) -> int:
    signals = getattr(command, "signals", None)
    if isinstance(signals, Sequence) and not isinstance(signals, str):
        return len(signals)
    return 1 if getattr(command, "signal", None) is not None else 0


def _intake_counts(result: object) -> tuple[int, int] | None:
    """``(received, deduplicated)`` of an intake result, else ``None``."""
    signals, deduplicated = getattr(result, "signals", None), getattr(result, "deduplicated", None)
    if isinstance(signals, int) and isinstance(deduplicated, int):
        return signals, deduplicated  # IntakeReport
    outcome = getattr(result, "outcome", None)
    if isinstance(outcome, enum.Enum) and hasattr(result, "alert_id") and outcome.value in _PLACED:
        return 1, int(outcome.value == "deduplicated")  # AlertReceipt
    return None


_PLACED = frozenset({"deduplicated", "started_incident", "joined_potential", "joined_open"})


def _result_attributes(command: object, result: object) -> dict[str, Any]:
    """Outcome and incident id(s) of a command's result (ids, counts and enum values only)."""
    out: dict[str, Any] = {ATTRIBUTE_PREFIX + "outcome": _outcome_of(result)}
    incident = _incident_of(result)
    if (
        incident is None
        and hasattr(result, "status")
        and isinstance(getattr(result, "id", None), str)
    ):
        incident = result.id  # type: ignore[attr-defined]  # a ServiceIncident
    if incident is not None and _incident_of(command) is None:
        out[ATTRIBUTE_PREFIX + "incident_id"] = incident
    started = getattr(result, "incidents_started", None)
    if isinstance(started, tuple):  # an intake batch
        joined: tuple[str, ...] = getattr(result, "incidents_joined", ())
        ids = list(dict.fromkeys((*started, *joined)))
        out[ATTRIBUTE_PREFIX + "incident_ids"] = ids[:MAX_IDS]
        out[ATTRIBUTE_PREFIX + "signals"] = getattr(result, "signals", 0)
        out[ATTRIBUTE_PREFIX + "deduplicated"] = getattr(result, "deduplicated", 0)
    return out


def _outcome_of(result: object) -> str:
    outcome = getattr(result, "outcome", None)
    if outcome is None:
        outcome = getattr(getattr(result, "decision", None), "outcome", None)
    return str(outcome.value) if isinstance(outcome, enum.Enum) else "ok"
