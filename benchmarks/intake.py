"""Alertmanager intake: webhook payloads through the HTTP service, in-process and over loopback.

The feed is what an Alertmanager sends for a storm: version-4 payloads of 100
alerts, one group each (grouped by service, as ``group_by: [service]`` does),
over 10,000 fingerprints; each group is re-sent every group interval, so most
alerts are repeats of a firing alert already counted (same fingerprint, same
``startsAt``) and change only its last-seen time.

Three measures, each beside a bare reference of the same requests:

* in-process on memory and SQLite: each payload's bytes go through the WSGI
  application (``create_app``) with no socket; the bare reference parses the
  same bytes with :func:`json.loads` and counts each alert in a dict;
* over loopback on SQLite: ``incident-lifecycle serve`` in a second process
  (waitress, relay off), and a load generator here with a few keep-alive
  connections; the bare reference is the same server program (waitress) with a
  WSGI application that parses and counts only, under the same load. The row
  shows alerts/s, the p50 and the p99 of the request latency.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from benchmarks.common import (
    OWNERSHIP,
    PRODUCTS,
    REGIONS,
    START,
    Case,
    MakeStore,
    Run,
    Spec,
    measured,
    new_desk,
    peak_mib,
    stopwatch,
)
from incident_lifecycle.web import create_app

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

TOKEN = "bench-token-0123456789abcdef"
PER_PAYLOAD = 100
CONNECTIONS = 4
"""Concurrent keep-alive connections of the loopback load generator (and server threads)."""
ROOT = Path(__file__).resolve().parent.parent


def _alert(n: int) -> dict[str, Any]:
    product = PRODUCTS[n % len(PRODUCTS)]
    instance = f"{product}-{n:05d}.{REGIONS[n // len(PRODUCTS) % len(REGIONS)]}:9100"
    starts = START.replace(minute=n % 60).isoformat().replace("+00:00", "Z")
    return {
        "status": "firing",
        "labels": {
            "alertname": "HighRequestLatency",
            "service": product,
            "region": REGIONS[n // len(PRODUCTS) % len(REGIONS)],
            "instance": instance,
            "severity": "critical",
        },
        "annotations": {
            "summary": f"p99 latency above 2 s on {instance}",
            "runbook_url": f"https://runbooks.example.com/{product}/latency",
        },
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=latency_p99+%3E+2",
        "fingerprint": hashlib.sha256(instance.encode()).hexdigest()[:16],
    }


def alertmanager_feed(alerts: int, fingerprints: int) -> list[bytes]:
    """``alerts // 100`` request bodies of 100 alerts each, over ``fingerprints`` fingerprints.

    The fingerprints fall into one group per product; payload ``k`` carries the
    next 100 alerts of group ``k % groups``, wrapping around the group, as the
    group's re-sends do.
    """
    distinct = [_alert(n) for n in range(fingerprints)]
    groups: dict[str, list[dict[str, Any]]] = {}
    for alert in distinct:
        groups.setdefault(alert["labels"]["service"], []).append(alert)
    members = list(groups.values())
    bodies = []
    for k in range(alerts // PER_PAYLOAD):
        group = members[k % len(members)]
        offset = (k // len(members)) * PER_PAYLOAD
        chosen = [group[(offset + i) % len(group)] for i in range(PER_PAYLOAD)]
        service = chosen[0]["labels"]["service"]
        payload = {
            "version": "4",
            "groupKey": f'{{}}:{{service="{service}"}}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "incident-lifecycle",
            "groupLabels": {"service": service},
            "commonLabels": {"alertname": "HighRequestLatency", "service": service},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.example.com:9093",
            "alerts": chosen,
        }
        bodies.append(json.dumps(payload).encode())
    return bodies


def _environ(body: bytes) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/v1/alerts/alertmanager",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": f"Bearer {TOKEN}",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def post_in_process(app: WSGIApplication, bodies: Sequence[bytes]) -> tuple[float, list[float]]:
    """Each body through ``app`` with no socket: total seconds and each request's microseconds.

    Raises:
        AssertionError: an answer other than 200.
    """
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], Any]:
        statuses.append(status)
        return lambda data: None

    latencies = []
    started = time.perf_counter()
    for body in bodies:
        tick = time.perf_counter()
        answer = app(_environ(body), start_response)
        b"".join(answer)
        latencies.append((time.perf_counter() - tick) * 1e6)
        status = statuses.pop()
        if not status.startswith("200"):
            raise AssertionError(f"the app answered {status}: {b''.join(answer)[:300]!r}")
    return time.perf_counter() - started, latencies


def bare_counter(bodies: Iterable[bytes]) -> dict[str, list[Any]]:
    """The bare reference: parse each body and keep a count and a last start per fingerprint."""
    seen: dict[str, list[Any]] = {}
    for body in bodies:
        for alert in json.loads(body)["alerts"]:
            hit = seen.get(alert["fingerprint"])
            if hit is None:
                seen[alert["fingerprint"]] = [1, alert["startsAt"]]
            elif alert["startsAt"] != hit[1]:
                hit[0] += 1
                hit[1] = alert["startsAt"]
    return seen


def _app(make_store: MakeStore) -> tuple[Any, WSGIApplication]:
    desk = new_desk(make_store())
    return desk, create_app(desk, tokens={"alertmanager": TOKEN})


def _check(desk: Any, fingerprints: int) -> None:
    potential = desk.potential_incidents()
    alerts = [a for incident in potential for a in desk.alerts_of(incident.id)]
    counted = sum(a.count for a in alerts)
    if len(alerts) != fingerprints or counted != fingerprints:
        raise AssertionError(
            f"{len(alerts)} alerts counting {counted} occurrences for {fingerprints} fingerprints"
        )


def bench_in_process(make_store: MakeStore, alerts: int, fingerprints: int) -> Run:
    """One in-process run: the app over a fresh store, its check, the bare reference, memory."""
    bodies = alertmanager_feed(alerts, fingerprints)
    desk, app = _app(make_store)
    seconds, latencies = post_in_process(app, bodies)
    _check(desk, fingerprints)
    bare = stopwatch(lambda: bare_counter(bodies))
    sample = bodies[: min(len(bodies), 200)]
    peak = peak_mib(lambda: post_in_process(_app(make_store)[1], sample))
    return measured(alerts, seconds, latencies, bare, peak)


# -- over loopback ------------------------------------------------------------------------


def serve_bare() -> None:
    """The loopback bare reference's server: waitress with a parse-and-count application.

    Run as ``python -c 'from benchmarks.intake import serve_bare; serve_bare()'``;
    prints ``serving on http://HOST:PORT`` once it listens.
    """
    from waitress.server import create_server

    seen: dict[str, list[Any]] = {}
    lock = threading.Lock()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        alerts = json.loads(environ["wsgi.input"].read(size))["alerts"]
        with lock:
            for alert in alerts:
                hit = seen.get(alert["fingerprint"])
                if hit is None:
                    seen[alert["fingerprint"]] = [1, alert["startsAt"]]
                elif alert["startsAt"] != hit[1]:
                    hit[0] += 1
                    hit[1] = alert["startsAt"]
        body = json.dumps({"received": len(alerts)}).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    server = create_server(app, host="127.0.0.1", port=0, threads=CONNECTIONS)
    print(f"serving on http://127.0.0.1:{server.effective_port}", flush=True)
    server.run()


def _config(folder: Path) -> Path:
    ownership = "\n".join(f'{product} = "{team}"' for product, team in OWNERSHIP.items())
    path = folder / "bench-serve.toml"
    path.write_text(
        f"""[store]
path = "bench-serve.db"

[notifier]
path = "bench-serve-outbox.jsonl"

[ownership]
{ownership}

[server]
host = "127.0.0.1"
port = 0
threads = {CONNECTIONS}

[relay]
enabled = false

[tokens]
alertmanager = "{TOKEN}"
"""
    )
    return path


class Server:
    """A server program in a second process, stopped (SIGTERM) on leaving the block."""

    def __init__(self, command: Sequence[str]) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path[1:]])}
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = re.search(r"http://([\d.]+):(\d+)", line)
        if found is None:
            self.process.kill()
            raise AssertionError(f"the server did not start: {line!r}")
        self.host, self.port = found.group(1), int(found.group(2))

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def post_over_loopback(host: str, port: int, bodies: Sequence[bytes]) -> tuple[float, list[float]]:
    """POST the bodies over ``CONNECTIONS`` keep-alive connections at once.

    Returns the wall time and each request's latency in microseconds.

    Raises:
        AssertionError: an answer other than 200.
    """
    latencies: list[float] = []
    failures: list[str] = []
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}

    def worker(share: Iterator[bytes]) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=60)
        try:
            for body in share:
                tick = time.perf_counter()
                connection.request("POST", "/v1/alerts/alertmanager", body, headers)
                answer = connection.getresponse()
                data = answer.read()
                latencies.append((time.perf_counter() - tick) * 1e6)
                if answer.status != 200:
                    failures.append(f"{answer.status}: {data[:300]!r}")
                    return
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(iter(bodies[k::CONNECTIONS]),))
        for k in range(CONNECTIONS)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise AssertionError(f"the server answered {failures[0]}")
    return seconds, latencies


def _p99(latencies: Sequence[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def bench_loopback(folder: Path, alerts: int, fingerprints: int) -> Run:
    """One loopback run on a fresh SQLite database, and the bare server under the same load."""
    bodies = alertmanager_feed(alerts, fingerprints)
    for name in ("bench-serve.db", "bench-serve.db-wal", "bench-serve.db-shm"):
        (folder / name).unlink(missing_ok=True)
    serve = [sys.executable, "-m", "incident_lifecycle", "serve", "--config", str(_config(folder))]
    with Server(serve) as server:
        seconds, latencies = post_over_loopback(server.host, server.port, bodies)
    from incident_lifecycle.adapters.sqlite import SQLiteStore

    store = SQLiteStore(folder / "bench-serve.db")
    try:
        _check(new_desk(store), fingerprints)
    finally:
        store.close()
    bare_program = [sys.executable, "-c", "from benchmarks.intake import serve_bare; serve_bare()"]
    with Server(bare_program) as server:
        bare, _ = post_over_loopback(server.host, server.port, bodies)
    return attrs.evolve(measured(alerts, seconds, latencies, bare), p99_us=_p99(latencies))


def intake_cases(
    backend: str, make_store: MakeStore, alerts: int, fingerprints: int, folder: Path
) -> list[Case]:
    """The in-process row of ``backend`` and, on SQLite, the loopback row."""
    n = f"{alerts:,} alerts / {fingerprints:,} fp"
    spec = Spec("alertmanager intake, in-process", backend, n, "alerts")
    cases = [
        Case(spec.scenario, (spec,), lambda: [bench_in_process(make_store, alerts, fingerprints)])
    ]
    if backend == "sqlite":
        loop = Spec("alertmanager intake, loopback HTTP", backend, n, "alerts")
        cases.append(
            Case(loop.scenario, (loop,), lambda: [bench_loopback(folder, alerts, fingerprints)])
        )
    return cases
