"""Against the real thing: Prometheus Alertmanager's webhook, to the app served by waitress.

A real Alertmanager (Debian's ``prometheus-alertmanager``, on loopback, in a
temp dir, with second-long group timers) is given alerts through its own API
v2 and sends them to ``/v1/alerts/alertmanager`` with a bearer token. The
tests check what the store holds afterwards, exactly: a storm over many
groups, re-sends over several group intervals that change no count,
resolution, and a period of 503s that Alertmanager retries through with
nothing lost. Without the binary they skip (and fail in CI, where
``INCIDENT_LIFECYCLE_REQUIRE_INTEROP=1``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import alertmanager_support as am
import web_support as w
from conftest import interop_binary
from incident_lifecycle.adapters import SQLiteStore
from incident_lifecycle.domain.alerts import Alert, AlertStatus
from incident_lifecycle.ports import SystemClock

pytest.importorskip("waitress", reason="the serve extra (waitress) is not installed")

from incident_lifecycle.web import create_app
from incident_lifecycle.web.serve import Service

PRODUCTS = [f"svc{i:02d}" for i in range(10)]


class Recorder:
    """Wraps the app: the status of every webhook request, in order."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.statuses: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, environ: Any, start_response: Any) -> Any:
        def start(status: str, headers: Any, exc_info: Any = None) -> Any:
            if environ.get("PATH_INFO", "").startswith("/v1/alerts/"):
                with self.lock:
                    self.statuses.append(int(status[:3]))
            return start_response(status, headers, exc_info)

        return self.app(environ, start)

    def count(self, status: int) -> int:
        with self.lock:
            return self.statuses.count(status)


class Stack:
    """SQLite store (that can be made busy), the app on waitress, a real Alertmanager."""

    def __init__(self, binary: str, tmp: Path) -> None:
        self.sqlite = SQLiteStore(tmp / "interop.db")
        self.store = w.BusyStore(self.sqlite)
        # Alertmanager runs on the real clock, and so does this desk.
        desk = w.make_desk(
            self.store,  # type: ignore[arg-type]
            clock=SystemClock(),
            ownership=dict.fromkeys(PRODUCTS, "payments"),
        )
        self.desk = desk
        self.recorder = Recorder(create_app(desk, tokens={"alertmanager": w.TOKEN}))
        self.service = Service(self.recorder, port=0, threads=4)
        self.thread = threading.Thread(target=self.service.run, daemon=True)
        self.thread.start()
        self.alertmanager = am.RealAlertmanager(
            binary, tmp / "am", self.service.url + "/v1/alerts/alertmanager", w.TOKEN
        )

    def alerts(self) -> list[Alert]:
        with self.sqlite.transaction() as tx:
            incidents = tx.incidents_detected_between(None, None)
            return [a for i in incidents for a in tx.alerts_of(i.id)]

    def stop(self) -> None:
        self.alertmanager.stop()
        self.service.stop()
        self.thread.join(15)
        self.sqlite.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    binary = interop_binary("prometheus-alertmanager", "alertmanager")
    built = Stack(binary, tmp_path)
    try:
        yield built
    finally:
        built.stop()


def storm(
    starts: Any, groups: int = 10, per_group: int = 10, name: str = "HighErrorRate"
) -> list[dict[str, Any]]:
    """``groups`` groups (one per service) of ``per_group`` instances each."""
    return [
        am.alert(name, PRODUCTS[g], f"pod-{i}", starts=starts, product=PRODUCTS[g])
        for g in range(groups)
        for i in range(per_group)
    ]


def test_a_storm_over_many_groups_then_resends_then_resolution(stack: Stack) -> None:
    """100 alerts in 10 groups arrive once each; re-sends change no count; resolving recovers
    every alert."""
    starts = am.ago(5)
    stack.alertmanager.push(storm(starts))
    am.wait_for(lambda: len(stack.alerts()) == 100, 30, "100 alerts stored")
    assert stack.recorder.count(200) >= 10  # one notification per group at least
    alerts = stack.alerts()
    assert len({a.fingerprint for a in alerts}) == 100
    assert all(a.count == 1 for a in alerts)
    incidents = {a.incident_id for a in alerts}
    assert len(incidents) >= 1
    # Alertmanager sends each unchanged group again every repeat interval: wait for two rounds.
    sent = stack.recorder.count(200)
    am.wait_for(lambda: stack.recorder.count(200) >= sent + 20, 30, "two rounds of re-sends")
    again = stack.alerts()
    assert len(again) == 100
    assert [a.count for a in again] == [1] * 100, "a re-sent alert is not a new occurrence"
    assert {a.incident_id for a in again} == incidents
    # Resolution: end every alert; send_resolved brings the resolved groups.
    stack.alertmanager.push([a | {"endsAt": am.iso(am.ago(1))} for a in storm(starts)])
    am.wait_for(
        lambda: all(a.status is AlertStatus.RECOVERED for a in stack.alerts()),
        30,
        "every alert recovered",
    )
    assert len(stack.alerts()) == 100


def test_a_period_of_503_is_retried_and_nothing_is_lost(stack: Stack) -> None:
    """While the store is busy the service answers 503; Alertmanager retries; every alert of
    that period is stored once, with its count 1."""
    stack.store.busy = True
    stack.alertmanager.push(storm(am.ago(2), groups=3, per_group=5, name="LatencyHigh"))
    am.wait_for(lambda: stack.recorder.count(503) >= 3, 30, "503 answers")
    assert stack.alerts() == []
    stack.store.busy = False
    am.wait_for(lambda: len(stack.alerts()) == 15, 40, "the 15 alerts after the retries")
    assert all(a.count == 1 for a in stack.alerts())
    failed = stack.alertmanager.metric("alertmanager_notification_requests_failed_total")
    assert failed >= 3
