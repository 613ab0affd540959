"""What the HTTP outlets share: the ``httpx`` client (the ``http`` extra), its timeouts,
TLS and connection reuse, pacing per channel, ``Retry-After``, and error text that never
carries a credential."""

from __future__ import annotations

import email.utils
import importlib
import ipaddress
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..domain.errors import InvalidInput
from ..notifications import one_line

if TYPE_CHECKING:
    import httpx

__all__ = [
    "HttpSettings",
    "Pacer",
    "describe_error",
    "load_httpx",
    "parse_retry_after",
]

LOOPBACK_NAMES = frozenset({"localhost"})


def load_httpx() -> Any:
    """The ``httpx`` module, or an ``ImportError`` naming the extra to install."""
    try:
        return importlib.import_module("httpx")
    except ImportError as error:  # pragma: no cover - the dev extra installs it
        raise ImportError(
            "the HTTP outlets need httpx: pip install 'incident-lifecycle[http]'"
        ) from error


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (plain HTTP is allowed there only)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(field: str, url: object) -> str:
    """An outlet's base URL: https (http only on a loopback address), no credentials in it,
    no query; returned without a trailing slash."""
    if not isinstance(url, str) or not url:
        raise InvalidInput(field, "must be a URL such as https://example.zendesk.com")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput(field, "must be an http(s) URL with a host")
    if parts.username or parts.password:
        raise InvalidInput(field, "must not carry credentials (pass them separately)")
    if parts.query or parts.fragment:
        raise InvalidInput(field, "must not have a query or a fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InvalidInput(field, "must use https (plain http only on a loopback address)")
    return url.rstrip("/")


def _positive(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidInput(field, "must be a number of seconds above zero")
    if value != value or value == float("inf"):
        raise InvalidInput(field, "must be a finite number of seconds")
    return float(value)


class HttpSettings:
    """Timeouts (always set), TLS verification (always on) and the shared connection pool."""

    def __init__(self, *, connect_timeout: float = 5.0, read_timeout: float = 30.0) -> None:
        self.connect_timeout = _positive("connect_timeout", connect_timeout)
        self.read_timeout = _positive("read_timeout", read_timeout)

    def client(self, base_url: str, headers: Mapping[str, str]) -> httpx.Client:
        """A client reusing its connections, verifying TLS, with both timeouts set."""
        httpx = load_httpx()
        return httpx.Client(  # type: ignore[no-any-return]
            base_url=base_url,
            headers=dict(headers),
            timeout=httpx.Timeout(
                self.read_timeout, connect=self.connect_timeout, pool=self.connect_timeout
            ),
            verify=True,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
        )


def describe_error(error: BaseException, *secrets: str) -> str:
    """One line naming a transport failure, without headers (so never a credential), and
    with each of ``secrets`` (a webhook URL, say) blanked out."""
    name = type(error).__name__
    detail = str(error).split("\n", 1)[0]
    for secret in secrets:
        if secret:
            detail = detail.replace(secret, "[redacted]")
    return one_line(f"{name}: {detail}" if detail else name, 200)


def parse_retry_after(value: str | None, now: datetime | None = None) -> timedelta | None:
    """A ``Retry-After`` header (seconds, or an HTTP date) as a wait; ``None`` if absent or
    unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=min(int(value), 86_400))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(timedelta(0), when - (now or datetime.now(UTC)))


class Pacer:
    """At most one request per ``interval`` seconds on each channel (thread-safe).

    ``wait(channel)`` sleeps until the channel's next slot and takes it;
    ``hold(channel, seconds)`` pushes the next slot back (after a 429).
    """

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 0:
            raise InvalidInput("interval", "must be zero or more seconds")
        self.interval = float(interval)
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, channel: str) -> None:
        """Sleep until ``channel`` may send, and take that slot."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(channel, now))
            self._next[channel] = slot + self.interval
        if slot > now:
            self._sleep(slot - now)

    def hold(self, channel: str, seconds: float) -> None:
        """Nothing more on ``channel`` for ``seconds``."""
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            self._next[channel] = max(self._next.get(channel, until), until)
