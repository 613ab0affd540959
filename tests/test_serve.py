"""``incident-lifecycle serve`` and :class:`Service`: waitress on loopback, the relay, SIGTERM."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import web_support as w
from incident_lifecycle import AlertSignal
from incident_lifecycle.adapters import InMemoryStore, RecordingNotifier
from incident_lifecycle.cli import main
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.testing import FakeClock
from incident_lifecycle.web import create_app

pytest.importorskip("waitress", reason="the serve extra (waitress) is not installed")

from incident_lifecycle.web.serve import EXTRA_MISSING, ServeUnavailable, Service


def request(
    url: str, method: str, path: str, body: object = None, token: str | None = w.TOKEN
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request over loopback; (status, headers, parsed body)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers=headers)
    answer = conn.getresponse()
    raw = answer.read()
    conn.close()
    return answer.status, dict(answer.getheaders()), json.loads(raw) if raw else None


@pytest.fixture
def running() -> Iterator[tuple[Service, Any]]:
    """A service on a free loopback port, relay on, stopped after the test."""
    desk = w.make_desk()
    service = Service(
        create_app(desk, tokens=w.all_tokens()), desk=desk, port=0, relay_interval=0.05
    )
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    yield service, desk
    service.stop()
    thread.join(10)
    assert not thread.is_alive()


def test_the_service_answers_over_loopback(running: tuple[Service, Any]) -> None:
    """A request over a real socket gets the app's answer, with waitress in front."""
    service, _desk = running
    assert service.url.startswith("http://127.0.0.1:")
    status, headers, body = request(service.url, "GET", "/healthz", token=None)
    assert status == 200
    assert body["status"] == "ok"
    assert headers["Server"] == "incident-lifecycle"
    status, headers, body = request(service.url, "GET", "/v1/incidents", token=w.OTHER)
    assert status == 401
    assert headers["Content-Type"] == "application/problem+json"


def test_the_relay_delivers_in_the_background(running: tuple[Service, Any]) -> None:
    """A notification enqueued by a request is delivered by the served process's relay."""
    service, desk = running
    desk.receive_alert(
        AlertSignal(
            fingerprint="fp", product="checkout", kind="latency", summary="slow", observed_at=w.T0
        )
    )
    deadline = time.monotonic() + 10
    while desk.outbox_stats().pending and time.monotonic() < deadline:
        time.sleep(0.05)
    assert desk.outbox_stats().pending == 0
    assert desk.outbox_stats().delivered >= 1
    assert service.delivered >= 1


def test_a_stop_finishes_the_request_in_flight_and_refuses_new_ones() -> None:
    """Stopping while a request runs: it is answered; the port then refuses connections."""
    entered, release = threading.Event(), threading.Event()
    inner = create_app(w.make_desk(), tokens=w.all_tokens())

    def slow_app(environ: Any, start_response: Any) -> Any:
        entered.set()
        release.wait(10)
        return inner(environ, start_response)

    service = Service(slow_app, port=0)
    server = threading.Thread(target=service.run, daemon=True)
    server.start()
    answers: list[int] = []
    client = threading.Thread(
        target=lambda: answers.append(request(service.url, "GET", "/healthz")[0])
    )
    client.start()
    assert entered.wait(10)
    service.stop()
    time.sleep(0.3)  # the listening socket closes
    with pytest.raises(ConnectionRefusedError):
        request(service.url, "GET", "/healthz")
    release.set()
    client.join(10)
    server.join(10)
    assert answers == [200]
    assert not server.is_alive()


def test_sigterm_stops_the_command_with_exit_0(tmp_path: Path) -> None:
    """``incident-lifecycle serve`` prints its URL, serves, and exits 0 on SIGTERM."""
    config = tmp_path / "service.toml"
    config.write_text(
        '[store]\npath = "s.db"\n[server]\nport = 0\n[ownership]\ncheckout = "payments"\n'
        '[tokens]\nincidents = { env = "IL_TEST_TOKEN" }\n[relay]\ninterval_seconds = 0.1\n',
        encoding="utf-8",
    )
    env = os.environ | {"IL_TEST_TOKEN": w.TOKEN}
    process = subprocess.Popen(
        [sys.executable, "-m", "incident_lifecycle", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("serving on http://127.0.0.1:"), line
        url = line.split()[2]
        status, _, body = request(url, "GET", "/v1/incidents")
        assert status == 200
        assert body["count"] == 0
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert out.strip() == "stopped"
    assert "GET /v1/incidents 200" in err
    assert w.TOKEN not in err


def test_a_missing_waitress_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without waitress, ``Service`` and the command say which extra to install."""
    monkeypatch.setitem(sys.modules, "waitress", None)
    monkeypatch.setitem(sys.modules, "waitress.server", None)
    with pytest.raises(ServeUnavailable, match=r"incident-lifecycle\[serve\]"):
        Service(create_app(w.make_desk(), tokens={}), port=0)
    config = tmp_path / "c.toml"
    config.write_text("[store]\nmemory = true\n", encoding="utf-8")
    assert main(["serve", "--config", str(config)]) == 3
    assert EXTRA_MISSING in capsys.readouterr().err


def test_a_wrong_config_file_is_one_line_and_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config mistake is reported on one line naming the key; nothing is served."""
    config = tmp_path / "c.toml"
    config.write_text("[store]\nmemory = true\n[server]\nport = -1\n", encoding="utf-8")
    assert main(["serve", "--config", str(config)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "server.port" in err


class HeldNotifier(RecordingNotifier):
    """Holds each batch until released: a delivery in flight when the stop comes."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.release = threading.Event(), threading.Event()

    def send(self, batch: Any) -> Any:
        self.entered.set()
        self.release.wait(10)
        return super().send(batch)


def test_a_stop_lets_the_relay_finish_its_batch() -> None:
    """A stop during a delivery waits for it: the batch is recorded delivered, not left leased."""
    notifier = HeldNotifier()
    desk = IncidentDesk(
        store=InMemoryStore(), notifier=notifier, ownership=w.OWNERSHIP, clock=FakeClock(w.T0)
    )
    desk.receive_alert(
        AlertSignal(
            fingerprint="fp", product="checkout", kind="latency", summary="slow", observed_at=w.T0
        )
    )
    service = Service(create_app(desk, tokens={}), desk=desk, port=0, relay_interval=0.05)
    server = threading.Thread(target=service.run, daemon=True)
    server.start()
    assert notifier.entered.wait(10)
    service.stop()
    time.sleep(0.3)
    assert server.is_alive()  # still finishing the batch
    notifier.release.set()
    server.join(10)
    assert not server.is_alive()
    stats = desk.outbox_stats()
    assert stats.pending == 0
    assert stats.delivered == len(notifier.sent) >= 1
