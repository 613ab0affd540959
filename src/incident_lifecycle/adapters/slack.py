"""Slack incoming webhooks as the team outlet: one message per team and interval (a digest).

Each team's webhook gets at most one message per second; the notifications of one team in
one batch whose times fall in one ``digest_window`` are one message, in order. User text is
escaped for Slack (``&``, ``<``, ``>``), so it can never mention a channel, link or format.
See ``docs/outlets.md``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta

from ..domain.errors import InvalidInput
from ..notifications import DeliveryResult, Notification, RecipientKind, one_line
from .http import HttpSettings, Pacer, check_base_url, describe_error, parse_retry_after

__all__ = ["SlackNotifier", "slack_escape"]

TEXT_MAX = 39_000
"""Slack truncates a message's text past 40,000 characters: a digest is cut before."""
_PERMANENT = {400, 403, 404, 410}


def slack_escape(text: str) -> str:
    """``text`` with Slack's control characters escaped: ``&`` ``<`` ``>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackNotifier:
    """Posts team notifications to Slack incoming webhooks.

    ``webhooks`` maps a team (the notification's recipient) to its webhook URL
    (``https://hooks.slack.com/services/...``: the URL is the secret, so it never appears
    in a log, an error or a route); ``default`` is the webhook of teams not listed (none:
    those are rejected). ``per_second``: messages per second and webhook (Slack allows
    about one). ``digest_window``: notifications of one team in one batch within this
    window of the first become one message.
    """

    group_batches = False
    recipient_kinds = frozenset({RecipientKind.TEAM})
    """The one kind it takes (``ports.takes_status_page`` reads it)."""

    def __init__(
        self,
        webhooks: Mapping[str, str],
        *,
        default: str | None = None,
        per_second: float = 1.0,
        digest_window: timedelta = timedelta(minutes=5),
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not isinstance(webhooks, Mapping):
            raise InvalidInput("webhooks", "must map team names to webhook URLs")
        self._hooks = {team: check_base_url("webhooks", url) for team, url in webhooks.items()}
        self._default = None if default is None else check_base_url("default", default)
        if isinstance(per_second, bool) or not isinstance(per_second, int | float):
            raise InvalidInput("per_second", "must be a number above zero")
        if not 0 < per_second < float("inf"):
            raise InvalidInput("per_second", "must be a number above zero")
        if not isinstance(digest_window, timedelta) or digest_window < timedelta(0):
            raise InvalidInput("digest_window", "must be a timedelta of zero or more")
        self.digest_window = digest_window
        self._pacer = Pacer(1.0 / per_second, sleep=sleep)
        self._client = HttpSettings(
            connect_timeout=connect_timeout, read_timeout=read_timeout
        ).client("", {"Content-Type": "application/json"})
        self._lock = threading.Lock()
        self.calls = 0

    def __repr__(self) -> str:  # never the webhook URLs
        return f"SlackNotifier({len(self._hooks)} webhook(s))"

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def route(self, notification: Notification) -> str:
        """The webhook's channel, named by a hash of its URL (never the URL)."""
        url = self._hooks.get(notification.recipient, self._default) or ""
        return "slack:" + hashlib.sha256(url.encode()).hexdigest()[:12]

    def send(self, batch: Sequence[Notification]) -> Iterator[DeliveryResult]:
        """Post ``batch``: per team, one digest message per window, in order."""
        with self._lock:
            yield from self._send(list(batch))

    def _send(self, batch: list[Notification]) -> Iterator[DeliveryResult]:
        by_team: dict[str, list[Notification]] = {}
        for n in batch:
            if n.recipient_kind is not RecipientKind.TEAM:
                yield DeliveryResult.rejected(
                    n.key, f"Slack takes team notifications, not {n.recipient_kind.value}"
                )
            elif self._hooks.get(n.recipient, self._default) is None:
                yield DeliveryResult.rejected(
                    n.key, f"no Slack webhook for team {one_line(n.recipient, 80)}"
                )
            else:
                by_team.setdefault(n.recipient, []).append(n)
        throttled: dict[str, tuple[timedelta | None, str]] = {}
        for team, notes in by_team.items():
            url = self._hooks.get(team, self._default)
            assert url is not None
            route = self.route(notes[0])
            stopped = False
            for digest in self._digests(notes):
                if route in throttled:
                    wait, error = throttled[route]
                    yield from (DeliveryResult.throttled(n.key, wait, error) for n in digest)
                    continue
                if stopped:
                    yield from (
                        DeliveryResult.retry(n.key, "held behind an earlier message")
                        for n in digest
                    )
                    continue
                result = self._post(url, route, digest)
                if result.status.value == "throttled":
                    throttled[route] = (result.retry_after, result.error)
                if result.status.value in ("retry", "throttled"):
                    stopped = True
                for n in digest:
                    yield DeliveryResult(
                        key=n.key,
                        status=result.status,
                        retry_after=result.retry_after,
                        error=result.error,
                    )

    def _digests(self, notes: list[Notification]) -> Iterator[list[Notification]]:
        current: list[Notification] = []
        for n in notes:
            if current and n.created_at - current[0].created_at > self.digest_window:
                yield current
                current = []
            current.append(n)
        if current:
            yield current

    def _post(self, url: str, route: str, digest: list[Notification]) -> DeliveryResult:
        if len(digest) == 1:
            n = digest[0]
            text = f"*{slack_escape(n.subject)}*\n{slack_escape(n.body)}"
        else:
            lines = [f"*{len(digest)} notifications*"]
            lines += [f"• *{slack_escape(n.subject)}*\n{slack_escape(n.body)}" for n in digest]
            text = "\n".join(lines)
        if len(text) > TEXT_MAX:
            text = text[: TEXT_MAX - 1] + "…"
        self._pacer.wait(route)
        self.calls += 1
        key = digest[0].key
        try:
            response = self._client.post(url, json={"text": text})
        except Exception as error:
            return DeliveryResult.retry(key, f"outcome unknown: {describe_error(error, url)}")
        status = response.status_code
        answer = one_line(response.text or "", 100)
        if status == 200:
            return DeliveryResult.delivered(key)
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After")) or timedelta(seconds=1)
            return DeliveryResult.throttled(key, wait, "Slack answered 429")
        if status in _PERMANENT:
            return DeliveryResult.rejected(key, f"Slack answered {status}: {answer}")
        return DeliveryResult.retry(key, f"Slack answered {status}: {answer}")
