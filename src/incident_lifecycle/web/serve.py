"""Serving the app on waitress, with the outbox relay in a background thread.

waitress comes from the ``serve`` extra (``pip install
'incident-lifecycle[serve]'``) and is imported here only. :class:`Service`
binds the socket when built (so ``port = 0`` picks a free one, shown by
:attr:`Service.url`), answers requests on waitress's worker threads, and runs
the relay (``IncidentDesk.deliver``, one batch at a time) unless told not to.

:meth:`Service.stop` (the command line calls it on SIGTERM or SIGINT) is a
graceful stop: the listening socket closes at once (no new connection is
accepted), requests already inside the application finish and their answers
are written, the relay finishes the batch it holds, then :meth:`Service.run`
returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..desk import IncidentDesk
from ..domain.errors import IncidentLifecycleError
from ..logs import fields
from ..notifications import one_line
from .requests import Limits

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["EXTRA_MISSING", "Service", "ServeUnavailable"]

LOG = logging.getLogger(__name__)
EXTRA_MISSING = (
    "incident-lifecycle serve needs waitress, from the 'serve' extra: "
    "pip install 'incident-lifecycle[serve]'"
)
DRAIN_SECONDS = 30.0
"""How long a graceful stop waits for requests in flight before closing anyway."""
_TICK = 0.1


class ServeUnavailable(IncidentLifecycleError, RuntimeError):
    """The WSGI server cannot be used (waitress is not installed)."""


def _waitress() -> tuple[Any, Any]:
    try:
        from waitress import wasyncore
        from waitress.server import create_server
    except ImportError:
        raise ServeUnavailable(EXTRA_MISSING) from None
    return create_server, wasyncore


class _InFlight:
    """Counts requests inside the application (until their answer iterable is closed)."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self.lock:
            self.count += 1
        try:
            return list(self.app(environ, start_response))
        finally:
            with self.lock:
                self.count -= 1


class Service:
    """A running service: the app on waitress and, optionally, the relay.

    Args:
        app: the WSGI application (``create_app(...)``).
        desk: the desk whose outbox the relay drains (``None``: no relay).
        host: where to listen (loopback by default).
        port: the port to listen on (0 picks a free one).
        threads: waitress's worker threads.
        limits: the app's limits (waitress's own body and idle limits follow them).
        relay_interval: the relay's pause when nothing is due.
        batch_size: how many notifications the relay sends at once.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        desk: IncidentDesk | None = None,
        host: str = "127.0.0.1",
        port: int = 8080,
        threads: int = 4,
        limits: Limits | None = None,
        relay_interval: float = 5.0,
        batch_size: int = 100,
    ) -> None:
        create_server, self._wasyncore = _waitress()
        limits = Limits() if limits is None else limits
        self._app = _InFlight(app)
        self._map: dict[int, Any] = {}
        self._server = create_server(
            self._app,
            map=self._map,
            host=host,
            port=port,
            threads=threads,
            ident="incident-lifecycle",
            # The app answers 413 with a problem document; waitress refuses only far beyond.
            max_request_body_size=limits.max_body_bytes * 2 + 65536,
            channel_timeout=max(1, int(limits.request_seconds)),
            clear_untrusted_proxy_headers=True,
        )
        self.host, self.port = host, int(self._server.effective_port)
        self.desk = desk
        self.relay_interval = relay_interval
        self.batch_size = batch_size
        self._stopping = threading.Event()
        self._relay: threading.Thread | None = None
        self.delivered = 0

    @property
    def url(self) -> str:
        """Where the service answers (``http://127.0.0.1:PORT``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        """Ask :meth:`run` to stop gracefully (safe from a signal handler or any thread)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked for."""
        return self._stopping.is_set()

    def run(self) -> None:
        """Serve until :meth:`stop`; then drain requests in flight and the relay's batch."""
        if self.desk is not None:
            self._relay = threading.Thread(
                target=self._relay_loop, name="incident-lifecycle-relay", daemon=True
            )
            self._relay.start()
        loop: Callable[..., None] = self._wasyncore.loop
        try:
            while not self._stopping.is_set():
                loop(timeout=_TICK, map=self._map, count=1)
            self._stop_accepting()
            deadline = time.monotonic() + DRAIN_SECONDS
            while self._busy() and time.monotonic() < deadline:
                loop(timeout=_TICK, map=self._map, count=1)
        finally:
            self._server.task_dispatcher.shutdown()
            self._wasyncore.close_all(self._map)
            if self._relay is not None:
                self._relay.join(DRAIN_SECONDS)

    def _stop_accepting(self) -> None:
        """Close the listening socket only (the wake-up trigger stays for the workers)."""
        self._wasyncore.dispatcher.close(self._server)

    def _busy(self) -> bool:
        """Requests still in the app, or answers still being written."""
        if self._app.count:
            return True
        for channel in list(self._map.values()):
            if getattr(channel, "requests", None) or getattr(channel, "total_outbufs_len", 0):
                return True
        return False

    def _relay_loop(self) -> None:
        desk = self.desk
        assert desk is not None
        while not self._stopping.is_set():
            try:
                report = desk.deliver(batch_size=self.batch_size, max_batches=1)
            except Exception as error:  # the relay must outlive a bad round
                LOG.warning(
                    "relay round failed: %s",
                    one_line(error, 300),
                    extra=fields("relay_round_failed", error=f"{type(error).__name__}: {error}"),
                )
                self._stopping.wait(self.relay_interval)
                continue
            self.delivered += report.delivered
            if report.attempted < self.batch_size:  # nothing more is due now
                self._stopping.wait(self.relay_interval)


def serve_command(
    config_path: str, out: Any, *, relay: bool | None = None, log_level: str = "INFO"
) -> int:
    """``incident-lifecycle serve --config FILE``: serve until SIGTERM or SIGINT; exit 0.

    ``relay`` overrides the file's ``relay.enabled``. Log lines go to stderr.
    """
    import signal

    from ..config import load_config, open_app, open_desk

    _waitress()  # the extra's message before anything else
    config = load_config(config_path)
    desk = open_desk(config)
    app = open_app(config, desk)
    run_relay = config.relay.enabled if relay is None else relay
    service = Service(
        app,
        desk=desk if run_relay else None,
        host=config.host,
        port=config.port,
        threads=config.threads,
        limits=config.limits,
        relay_interval=config.relay.interval_seconds,
        batch_size=config.relay.batch_size,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    package = logging.getLogger("incident_lifecycle")
    package.addHandler(handler)
    package.setLevel(log_level.upper())
    previous = {
        sig: signal.signal(sig, lambda _signum, _frame: service.stop())
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        relay_note = "relay on" if run_relay else "relay off"
        out.write(f"serving on {service.url} ({relay_note})\n")
        out.flush()
        service.run()
        out.write("stopped\n")
        out.flush()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        package.removeHandler(handler)
        close = getattr(desk.store, "close", None)
        if callable(close):
            close()
    return 0
