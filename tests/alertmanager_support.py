"""A real Prometheus Alertmanager for the interop tests: loopback only, a temp dir, short timers.

``RealAlertmanager(binary, tmp_path, webhook_url, token)`` writes a config
whose one receiver is a webhook to ``webhook_url`` with a bearer token,
starts the binary on a free loopback port (clustering off), waits for
``/-/ready``; ``push(alerts)`` posts to its API v2 (``POST /api/v2/alerts``);
``stop()`` ends it. Every wait is bounded.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

GROUP_WAIT = 1
GROUP_INTERVAL = 2
REPEAT_INTERVAL = 3

CONFIG = """\
route:
  receiver: incidents
  group_by: [alertname, service]
  group_wait: {group_wait}s
  group_interval: {group_interval}s
  repeat_interval: {repeat_interval}s
receivers:
  - name: incidents
    webhook_configs:
      - url: {url}
        send_resolved: true
        max_alerts: {max_alerts}
        http_config:
          authorization:
            type: Bearer
            credentials_file: {token_file}
"""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def iso(when: datetime) -> str:
    """RFC 3339 as Alertmanager reads it."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def alert(
    name: str,
    service: str,
    instance: str,
    *,
    starts: datetime,
    ends: datetime | None = None,
    **labels: str,
) -> dict[str, Any]:
    """One alert for API v2: labels (``alertname``, ``service``, ``instance``, more), times."""
    body: dict[str, Any] = {
        "labels": {"alertname": name, "service": service, "instance": instance, **labels},
        "annotations": {"summary": f"{name} on {service} ({instance})"},
        "startsAt": iso(starts),
        "generatorURL": f"http://prometheus.invalid/graph?g0.expr={name}",
    }
    if ends is not None:
        body["endsAt"] = iso(ends)
    return body


class RealAlertmanager:
    """One Alertmanager process, stopped by :meth:`stop`."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        webhook_url: str,
        token: str,
        *,
        max_alerts: int = 0,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        token_file = workdir / "token"
        token_file.write_text(token, encoding="utf-8")
        config = workdir / "alertmanager.yml"
        config.write_text(
            CONFIG.format(
                url=webhook_url,
                token_file=token_file,
                max_alerts=max_alerts,
                group_wait=GROUP_WAIT,
                group_interval=GROUP_INTERVAL,
                repeat_interval=REPEAT_INTERVAL,
            ),
            encoding="utf-8",
        )
        self.port = free_port()
        self.log = (workdir / "alertmanager.log").open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=debug",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.workdir = workdir
        self._wait_ready()

    def _request(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if data else {}
            conn.request(method, path, body=data, headers=headers)
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"alertmanager exited: {self.log_text()[-2000:]}")
            try:
                if self._request("GET", "/-/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("alertmanager was not ready in time")

    def push(self, alerts: Sequence[dict[str, Any]]) -> None:
        """Fire or resolve ``alerts`` through Alertmanager's own API v2."""
        status, body = self._request("POST", "/api/v2/alerts", list(alerts))
        assert status == 200, body

    def metric(self, name: str, **labels: str) -> float:
        """The sum of Alertmanager's own metric ``name`` over series matching ``labels``."""
        status, body = self._request("GET", "/metrics")
        assert status == 200
        total = 0.0
        for line in body.decode().splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            series, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in series for k, v in labels.items()):
                total += float(value)
        return total

    def log_text(self) -> str:
        """What Alertmanager logged so far."""
        self.log.flush()
        return (self.workdir / "alertmanager.log").read_text(encoding="utf-8")

    def stop(self) -> None:
        """End the process (bounded)."""
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until true, at most ``timeout`` seconds; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def now() -> datetime:
    """The current time (Alertmanager runs on the real clock)."""
    return datetime.now(UTC)


def ago(seconds: float) -> datetime:
    """``seconds`` before now."""
    return now() - timedelta(seconds=seconds)
