"""The Prometheus collector: what it reads from the store and the process, checked by
Prometheus's own ``promtool`` and scraped by a real Prometheus."""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_lifecycle import AlertSignal, Review
from incident_lifecycle.adapters import InMemoryStore, SQLiteStore
from incident_lifecycle.domain.errors import InvalidInput
from incident_lifecycle.testing import FakeClock, FlakyNotifier
from incident_lifecycle.web import create_app

prometheus_client = pytest.importorskip("prometheus_client", reason="the prometheus extra")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

import web_support as w  # noqa: E402
from alertmanager_support import free_port, wait_for  # noqa: E402
from conftest import interop_binary  # noqa: E402
from incident_lifecycle.prometheus import IncidentCollector, exposition  # noqa: E402

ENGINEER = w.ENGINEER
REVIEW = Review(root_cause="a bad deploy", impact="checkout errors")


def samples(desk: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample the collector gives, by name and sorted labels."""
    body, _ = exposition(IncidentCollector(desk))
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def signal(fingerprint: str, product: str = "checkout") -> AlertSignal:
    return AlertSignal(
        fingerprint=fingerprint, product=product, kind="error_rate", summary="5xx", observed_at=w.T0
    )


def scenario(desk: Any, clock: FakeClock) -> None:
    """Alerts (one repeat, one refused batch), an incident validated after 4 minutes,
    acknowledged, updated, resolved after an hour and closed; a second one left detected."""
    desk.receive_alerts([signal("fp-1"), signal("fp-2"), signal("fp-1")])
    refused = desk.receive_alerts(
        [signal("fp-9", product="nobody-owns-this"), signal("fp-8", product="nor-this")]
    )
    assert sorted(refused.refused) == ["fp-8", "fp-9"]  # each refused on its own
    (potential,) = desk.potential_incidents()
    clock.advance(minutes=2)
    desk.acknowledge(potential.id, ENGINEER)
    clock.advance(minutes=2)
    desk.validate_incident(potential.id, ENGINEER, severity="SEV2")
    clock.advance(minutes=10)
    desk.post_update(potential.id, ENGINEER, "We are on it.")
    clock.advance(minutes=48)
    desk.resolve_incident(potential.id, ENGINEER, "Rolled back.")
    desk.close_incident(potential.id, ENGINEER, REVIEW)
    desk.receive_alerts([signal("fp-3", product="search")])


def test_the_collector_reads_the_store_and_the_process() -> None:
    """Incidents by status and severity, the outbox, the histograms, the intake counters and
    the delivery attempts by result and outlet all say what happened."""
    clock = FakeClock(w.T0)
    desk = w.make_desk(clock=clock)
    desk = type(desk)(
        store=InMemoryStore(),
        notifier=FlakyNotifier(reject_recipients={"discovery"}),
        ownership=w.OWNERSHIP,
        clock=clock,
    )
    scenario(desk, clock)
    before = samples(desk)
    assert value(before, "incident_lifecycle_alerts_received_total") == 4
    assert value(before, "incident_lifecycle_alerts_deduplicated_total") == 1
    assert value(before, "incident_lifecycle_alerts_refused_total") == 2
    assert value(before, "incident_lifecycle_incidents", status="closed", severity="SEV2") == 1
    assert value(before, "incident_lifecycle_incidents", status="detected", severity="none") == 1
    assert value(before, "incident_lifecycle_incidents", status="resolved", severity="SEV2") == 0
    pending = value(before, "incident_lifecycle_outbox_notifications", state="pending")
    assert pending >= 2  # the two validation requests at least
    # The first notification was enqueued at T0; the clock is now 62 minutes later.
    assert value(before, "incident_lifecycle_outbox_oldest_pending_age_seconds") == 62 * 60
    assert ("incident_lifecycle_relay_last_run_timestamp_seconds", ()) not in before
    validate = "incident_lifecycle_time_to_validate_seconds"
    assert value(before, validate + "_count", severity="SEV2") == 1
    assert value(before, validate + "_sum", severity="SEV2") == 240
    assert value(before, validate + "_bucket", severity="SEV2", le="120.0") == 0
    assert value(before, validate + "_bucket", severity="SEV2", le="300.0") == 1
    assert value(before, validate + "_bucket", severity="SEV2", le="+Inf") == 1
    resolve = "incident_lifecycle_time_to_resolve_seconds"
    assert value(before, resolve + "_sum", severity="SEV2") == 62 * 60
    assert (
        value(before, "incident_lifecycle_time_to_acknowledge_seconds_sum", severity="SEV2") == 120
    )
    first = "incident_lifecycle_time_to_first_public_update_seconds"
    assert value(before, first + "_sum", severity="SEV2") == 600
    assert value(before, resolve + "_count", severity="SEV0") == 0

    report = desk.deliver()
    after = samples(desk)
    attempts = "incident_lifecycle_delivery_attempts_total"
    assert value(after, attempts, result="rejected", outlet="team") == 1  # discovery's
    delivered = value(after, attempts, result="delivered", outlet="team")
    assert delivered == report.delivered > 0
    assert value(after, attempts, result="retry", outlet="ticket") == 0
    assert value(after, "incident_lifecycle_outbox_notifications", state="dead") == 1
    assert value(after, "incident_lifecycle_outbox_notifications", state="pending") == 0
    assert value(after, "incident_lifecycle_outbox_oldest_pending_age_seconds") == 0
    assert value(after, "incident_lifecycle_relay_runs_total") == 1
    heartbeat = value(after, "incident_lifecycle_relay_last_run_timestamp_seconds")
    assert heartbeat == clock.now().timestamp()
    assert value(after, "incident_lifecycle_store_up") == 1


def test_the_collector_reads_sqlite_the_same_way(tmp_path: Path) -> None:
    """On SQLite the store's figures are the same as in memory."""
    figures = []
    for store in (InMemoryStore(), SQLiteStore(tmp_path / "metrics.db")):
        clock = FakeClock(w.T0)
        desk = w.make_desk(store, clock=clock)
        scenario(desk, clock)
        found = samples(desk)
        figures.append(
            {k: v for k, v in found.items() if not k[0].startswith("incident_lifecycle_relay")}
        )
    assert figures[0] == figures[1]


def test_a_store_that_cannot_be_read_is_store_up_zero() -> None:
    """When the store fails, the scrape still answers: store_up 0, the process's counters."""
    store = w.BusyStore(InMemoryStore())
    desk = w.make_desk(store)  # type: ignore[arg-type]
    desk.receive_alerts([signal("fp-1")])
    store.busy = True
    found = samples(desk)
    assert value(found, "incident_lifecycle_store_up") == 0
    assert value(found, "incident_lifecycle_alerts_received_total") == 1
    assert not any(name.startswith("incident_lifecycle_incidents") for name, _ in found)


def test_registering_reads_nothing() -> None:
    """Registering the collector describes its families without opening a transaction."""
    store = w.BusyStore(InMemoryStore())
    store.busy = True
    registry = prometheus_client.CollectorRegistry()
    registry.register(IncidentCollector(w.make_desk(store)))  # type: ignore[arg-type]
    assert store.refused == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"buckets": ()}, "buckets"),
        ({"buckets": (60, 30)}, "buckets"),
        ({"buckets": (30, 30)}, "buckets"),
        ({"buckets": (float("inf"),)}, "buckets"),
        ({"buckets": ("soon",)}, "buckets"),
        ({"namespace": "not a name"}, "namespace"),
        ({"namespace": ""}, "namespace"),
        ({"incident_refresh": -1}, "incident_refresh"),
        ({"incident_refresh": float("nan")}, "incident_refresh"),
        ({"incident_refresh": "1"}, "incident_refresh"),
    ],
)
def test_bad_arguments_are_refused_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    """Bad buckets or namespace are ``InvalidInput`` naming the argument."""
    with pytest.raises(InvalidInput) as caught:
        IncidentCollector(w.make_desk(), **kwargs)
    assert caught.value.field == field


def test_the_collector_needs_a_desk() -> None:
    """Anything but a desk is refused, naming ``desk``."""
    with pytest.raises(InvalidInput) as caught:
        IncidentCollector(InMemoryStore())  # type: ignore[arg-type]
    assert caught.value.field == "desk"


@given(
    seconds=st.lists(st.integers(0, 10**6), max_size=30),
    bounds=st.sets(st.integers(1, 10**6), min_size=1, max_size=8),
)
def test_histogram_buckets_are_cumulative(seconds: list[int], bounds: set[int]) -> None:
    """Each bucket counts the durations at or under its bound; ``+Inf`` counts them all."""
    collector = IncidentCollector(w.make_desk(), buckets=sorted(bounds))
    buckets = collector._buckets([float(s) for s in seconds])
    counts = [count for _, count in buckets]
    assert counts == sorted(counts)
    assert buckets[-1] == ("+Inf", len(seconds))
    for bound, count in buckets[:-1]:
        assert count == sum(1 for s in seconds if s <= float(bound))


def test_a_namespace_and_buckets_can_be_chosen() -> None:
    """Another prefix and other bounds are used throughout."""
    desk = w.make_desk()
    body, _ = exposition(IncidentCollector(desk, namespace="desk", buckets=(1, 10)))
    text = body.decode()
    assert "desk_incidents{" in text
    assert 'desk_time_to_resolve_seconds_bucket{le="10.0",severity="SEV0"} 0.0' in text
    assert "incident_lifecycle_" not in text


def test_openmetrics_is_answered_when_asked_for() -> None:
    """A scraper asking for OpenMetrics gets it, ending with ``# EOF``."""
    body, content_type = exposition(
        IncidentCollector(w.make_desk()), "application/openmetrics-text; version=1.0.0"
    )
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


# -- promtool: Prometheus's own linter ------------------------------------------------


@pytest.fixture(scope="module")
def promtool() -> str:
    return interop_binary("promtool")


def _promtool_check(promtool: str, body: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=60, check=False
    )


def test_promtool_accepts_the_output(promtool: str) -> None:
    """``promtool check metrics`` finds nothing to say, empty or full (names, units, help)."""
    clock = FakeClock(w.T0)
    desk = w.make_desk(clock=clock)
    empty, _ = exposition(IncidentCollector(desk))
    scenario(desk, clock)
    desk.deliver()
    full, _ = exposition(IncidentCollector(desk))
    for body in (empty, full):
        checked = _promtool_check(promtool, body)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.strip() == b"", checked.stdout


def test_promtool_does_flag_a_bad_name(promtool: str) -> None:
    """The check is real: a counter without ``_total`` is reported."""
    bad = b"# HELP bad_counter a counter\n# TYPE bad_counter counter\nbad_counter 1\n"
    checked = _promtool_check(promtool, bad)
    assert b"_total" in checked.stdout + checked.stderr


# -- the served app -------------------------------------------------------------------


def test_get_metrics_needs_the_metrics_token() -> None:
    """``GET /metrics`` is closed without a ``metrics`` token and answers the text format."""
    desk = w.make_desk()
    closed = create_app(desk, tokens={"incidents": w.TOKEN})
    assert w.call(closed, "GET", "/metrics").status == 401
    app = create_app(desk, tokens={"metrics": w.TOKEN})
    assert w.call(app, "GET", "/metrics", token=w.OTHER).status == 401
    answer = w.call(app, "GET", "/metrics")
    assert answer.status == 200
    assert answer.content_type.startswith("text/plain; version=0.0.4")
    assert b'incident_lifecycle_outbox_notifications{state="pending"} 0.0' in answer.body
    assert w.call(app, "POST", "/metrics", json_body={}).status == 405


def test_alerts_a_route_drops_are_counted_as_refused() -> None:
    """An alert whose product no team owns, dropped by the route, counts as refused."""
    desk = w.make_desk()
    app = create_app(desk, tokens={"pagerduty": w.TOKEN, "metrics": w.TOKEN})
    event = {
        "routing_key": "r" * 32,
        "event_action": "trigger",
        "payload": {"summary": "down", "source": "web-1", "severity": "critical"},
        "custom_details": {},
    }
    event["payload"]["component"] = "nobody-owns-this"  # type: ignore[index]
    w.call(app, "POST", "/v1/alerts/pagerduty", json_body=event)
    assert desk.telemetry.snapshot().alerts_refused >= 1


class _Served:
    """The app on waitress on a free loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        from incident_lifecycle.web.serve import Service

        self.service = Service(app, port=0, threads=2)
        self.thread = threading.Thread(target=self.service.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.service.stop()
        self.thread.join(15)


class RealPrometheus:
    """One Prometheus process scraping ``target`` every second, on loopback, in ``workdir``."""

    def __init__(self, binary: str, workdir: Path, target: str, token: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "token").write_text(token, encoding="utf-8")
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: incident-lifecycle\n"
            "    authorization:\n      type: Bearer\n"
            f"      credentials_file: {workdir / 'token'}\n"
            f"    static_configs:\n      - targets: ['{target}']\n",
            encoding="utf-8",
        )
        self.port = free_port()
        self.log = (workdir / "prometheus.log").open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.workdir = workdir

    def get(self, path: str) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", path)
            answer = conn.getresponse()
            return json.loads(answer.read())
        finally:
            conn.close()

    def query(self, promql: str) -> list[Any]:
        found = self.get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        assert found["status"] == "success", found
        result: list[Any] = found["data"]["result"]
        return result

    def log_text(self) -> str:
        self.log.flush()
        return (self.workdir / "prometheus.log").read_text(encoding="utf-8")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.log.close()


@pytest.fixture
def prometheus_stack(tmp_path: Path) -> Iterator[tuple[Any, RealPrometheus]]:
    binary = interop_binary("prometheus")
    pytest.importorskip("waitress", reason="the serve extra (waitress) is not installed")
    clock = FakeClock(w.T0)
    desk = w.make_desk(SQLiteStore(tmp_path / "scraped.db"), clock=clock)
    scenario(desk, clock)
    served = _Served(create_app(desk, tokens={"metrics": w.TOKEN}))
    target = served.service.url.removeprefix("http://")
    prometheus = RealPrometheus(binary, tmp_path / "prometheus", target, w.TOKEN)
    try:
        yield desk, prometheus
    finally:
        prometheus.stop()
        served.stop()


def test_a_real_prometheus_scrapes_the_served_app(
    prometheus_stack: tuple[Any, RealPrometheus],
) -> None:
    """Prometheus scrapes ``/metrics`` with its bearer token, and a query through its HTTP
    API sees the closed SEV2 incident, the target up and a histogram quantile."""
    _desk, prometheus = prometheus_stack

    def scraped() -> bool:
        try:
            return bool(prometheus.query('incident_lifecycle_incidents{status="closed"} > 0'))
        except (OSError, json.JSONDecodeError, AssertionError):
            return False

    wait_for(scraped, 45, "Prometheus to scrape the app:\n" + prometheus.log_text()[-2000:])
    (closed,) = prometheus.query('incident_lifecycle_incidents{status="closed"} > 0')
    assert closed["metric"]["severity"] == "SEV2"
    assert closed["metric"]["job"] == "incident-lifecycle"
    assert float(closed["value"][1]) == 1
    (up,) = prometheus.query('up{job="incident-lifecycle"}')
    assert float(up["value"][1]) == 1
    quantile = prometheus.query(
        "histogram_quantile(0.5, sum by (le) (incident_lifecycle_time_to_validate_seconds_bucket))"
    )
    assert 120 < float(quantile[0]["value"][1]) <= 300  # 240 s, in the (120, 300] bucket
    targets = prometheus.get("/api/v1/targets")["data"]["activeTargets"]
    assert [t["health"] for t in targets] == ["up"]
    time.sleep(0)  # nothing else to wait for


def test_an_old_pending_notification_is_its_age() -> None:
    """The oldest pending notification's age follows the desk's clock."""
    clock = FakeClock(w.T0)
    desk = w.make_desk(clock=clock)
    desk.receive_alerts([signal("fp-1")])
    clock.advance(timedelta(minutes=30))
    found = samples(desk)
    assert value(found, "incident_lifecycle_outbox_oldest_pending_age_seconds") == 1800


def test_an_incident_refresh_reuses_the_incidents_but_not_the_outbox() -> None:
    """Within ``incident_refresh`` a scrape reuses the incidents read before and reads the
    outbox again; with the default, each scrape reads both."""
    clock = FakeClock(w.T0)
    desk = w.make_desk(clock=clock)
    lazy, eager = IncidentCollector(desk, incident_refresh=3600), IncidentCollector(desk)
    for collector in (lazy, eager):
        collector.exposition()
    desk.receive_alerts([signal("fp-1")])
    detected = b'incident_lifecycle_incidents{severity="none",status="detected"} 1.0'
    pending = b'incident_lifecycle_outbox_notifications{state="pending"} 1.0'
    lazy_body, _ = lazy.exposition()
    eager_body, _ = eager.exposition()
    assert detected not in lazy_body
    assert pending in lazy_body
    assert detected in eager_body
    assert pending in eager_body
