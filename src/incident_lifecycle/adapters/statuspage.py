"""Atlassian Statuspage as the status page outlet: one page incident per incident.

The first status-page notification of an incident creates the page incident
(``POST /v1/pages/{page}/incidents``), later ones update it (``PATCH .../{id}``) with the
phase, the impact, the components and the public text. Each write records the incident id
and its last message keys in the page incident's ``metadata``; before creating, the
notifier looks for a page incident carrying that id, so a crash between the create and the
relay's record never creates a second one, and a message found in the metadata is not
posted again. At most one request per second per page. See ``docs/outlets.md``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from ..domain.errors import InvalidInput
from ..notifications import (
    DeliveryResult,
    Notification,
    RecipientKind,
    StatusPageUpdate,
    neutralise,
    one_line,
)
from .http import HttpSettings, Pacer, check_base_url, describe_error, parse_retry_after

__all__ = ["COMPONENT_STATUS", "StatuspageNotifier"]

COMPONENT_STATUS = {
    "critical": "major_outage",
    "major": "partial_outage",
    "minor": "degraded_performance",
    "none": "operational",
}
"""The component status an impact gives (a resolved incident sets ``operational``)."""
KEYS_KEPT = 20
"""Message keys kept in a page incident's metadata (the latest)."""
META = "incident_lifecycle"


class _Stop(Exception):
    def __init__(self, result: Callable[[str], DeliveryResult]) -> None:
        super().__init__("stop")
        self.result = result


class StatuspageNotifier:
    """Posts status-page notifications to one Statuspage page.

    ``page_id`` and ``api_key`` (sent as ``Authorization: OAuth KEY``); ``components``
    maps a product to its component id (a product not listed is not shown as affected);
    ``notify_subscribers`` sets ``deliver_notifications``.
    """

    group_batches = False
    recipient_kinds = frozenset({RecipientKind.STATUS_PAGE})
    """The one kind it takes (``ports.takes_status_page`` reads it)."""

    def __init__(
        self,
        page_id: str,
        api_key: str,
        *,
        components: Mapping[str, str] | None = None,
        base_url: str = "https://api.statuspage.io",
        notify_subscribers: bool = True,
        per_second: float = 1.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not isinstance(page_id, str) or not page_id.isalnum():
            raise InvalidInput("page_id", "must be the page's id (letters and digits)")
        if not isinstance(api_key, str) or not api_key.strip():
            raise InvalidInput("api_key", "must be a non-empty string")
        components = dict(components or {})
        if not all(isinstance(k, str) and isinstance(v, str) and v for k, v in components.items()):
            raise InvalidInput("components", "must map product names to component ids")
        if isinstance(per_second, bool) or not isinstance(per_second, int | float):
            raise InvalidInput("per_second", "must be a number above zero")
        if not 0 < per_second < float("inf"):
            raise InvalidInput("per_second", "must be a number above zero")
        self.page_id = page_id
        self.components = components
        self.notify_subscribers = bool(notify_subscribers)
        self.base_url = check_base_url("base_url", base_url)
        self._pacer = Pacer(1.0 / per_second, sleep=sleep)
        self._client = HttpSettings(
            connect_timeout=connect_timeout, read_timeout=read_timeout
        ).client(self.base_url, {"Authorization": f"OAuth {api_key}", "Accept": "application/json"})
        self._known: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.calls = 0

    def __repr__(self) -> str:  # never the key
        return f"StatuspageNotifier(page {self.page_id!r})"

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def route(self, notification: Notification) -> str:
        """One channel: the page."""
        return f"statuspage:{self.page_id}"

    @property
    def _base(self) -> str:
        return f"/v1/pages/{self.page_id}/incidents"

    # -- the port --------------------------------------------------------------------
    def send(self, batch: Sequence[Notification]) -> Iterator[DeliveryResult]:
        """Create or update each incident's page incident, in order."""
        with self._lock:
            yield from self._send(list(batch))

    def already_delivered(self, batch: Sequence[Notification]) -> list[str]:
        """The keys of ``batch`` their page incident's metadata names: posted before."""
        with self._lock:
            found = []
            for n in batch:
                if n.incident_id is None:
                    continue
                incident = self._find(n.incident_id)
                if incident is not None and n.key in _keys(incident):
                    found.append(n.key)
            return found

    def _send(self, batch: list[Notification]) -> Iterator[DeliveryResult]:
        stopped: set[str] = set()
        stop_all: Callable[[str], DeliveryResult] | None = None
        for n in batch:
            if stop_all is not None:
                yield stop_all(n.key)
                continue
            if n.recipient in stopped:
                yield DeliveryResult.retry(n.key, "held behind an earlier message")
                continue
            try:
                yield self._post(n)
            except _Stop as stop:
                result = stop.result(n.key)
                yield result
                if result.status.value in ("retry", "throttled"):
                    stopped.add(n.recipient)
                if result.status.value == "throttled":
                    stop_all = stop.result

    def _post(self, n: Notification) -> DeliveryResult:
        if n.recipient_kind is not RecipientKind.STATUS_PAGE or n.incident_id is None:
            return DeliveryResult.rejected(n.key, "Statuspage takes status page notifications only")
        try:
            page = StatusPageUpdate.of(n)
        except InvalidInput as error:
            return DeliveryResult.rejected(n.key, str(error))
        existing = self._find(n.incident_id)
        if existing is not None and n.key in _keys(existing):
            return DeliveryResult.delivered(n.key)  # posted before the relay could record it
        resolved = page.phase == "resolved"
        status = "operational" if resolved else COMPONENT_STATUS[page.impact]
        ids = [self.components[c] for c in page.components if c in self.components]
        keys = [*_keys(existing)[-(KEYS_KEPT - 1) :], n.key]
        change: dict[str, Any] = {
            "status": page.phase,
            "body": page.text,
            "impact_override": page.impact,
            "components": dict.fromkeys(ids, status),
            "component_ids": ids,
            "deliver_notifications": self.notify_subscribers,
            "metadata": {META: {"incident": n.incident_id, "keys": keys}},
        }
        if existing is None:
            change["name"] = page.title
            answer = self._call("POST", self._base, {"incident": change})
        else:
            answer = self._call("PATCH", f"{self._base}/{existing['id']}", {"incident": change})
        if isinstance(answer, dict) and isinstance(answer.get("id"), str):
            self._known[n.incident_id] = answer
            return DeliveryResult.delivered(n.key)
        self._known.pop(n.incident_id, None)
        return DeliveryResult.retry(n.key, "outcome unknown: Statuspage answered no incident")

    def _find(self, incident_id: str) -> dict[str, Any] | None:
        """The page incident of ``incident_id``: known, or looked up by its metadata among the
        unresolved incidents, then the latest ones."""
        known = self._known.get(incident_id)
        if known is not None:
            return known
        for path, params in ((f"{self._base}/unresolved", {}), (self._base, {"limit": "100"})):
            listed = self._call("GET", path, None, params)
            for incident in listed if isinstance(listed, list) else []:
                meta = incident.get("metadata") if isinstance(incident, dict) else None
                mine = meta.get(META) if isinstance(meta, dict) else None
                if isinstance(mine, dict) and mine.get("incident") == incident_id:
                    self._known[incident_id] = incident
                    return incident  # type: ignore[no-any-return]
        return None

    def _call(
        self, method: str, path: str, body: object, params: Mapping[str, str] | None = None
    ) -> Any:
        self._pacer.wait("page")
        self.calls += 1
        try:
            response = self._client.request(method, path, json=body, params=params)
        except Exception as error:
            text = f"outcome unknown: {describe_error(error)}"
            raise _Stop(lambda key: DeliveryResult.retry(key, text)) from None
        status = response.status_code
        if status in (420, 429):
            wait = parse_retry_after(response.headers.get("Retry-After")) or timedelta(seconds=1)
            raise _Stop(
                lambda key: DeliveryResult.throttled(key, wait, f"Statuspage answered {status}")
            )
        if status >= 500 or status in (401, 403):
            raise _Stop(lambda key: DeliveryResult.retry(key, f"Statuspage answered {status}"))
        try:
            document = response.json()
        except ValueError:
            text = f"outcome unknown: Statuspage answered {status} with no JSON"
            raise _Stop(lambda key: DeliveryResult.retry(key, text)) from None
        if status >= 400:
            message = neutralise(document.get("error") if isinstance(document, dict) else "", 300)
            text = one_line(f"Statuspage refused it ({status}): {message}")
            raise _Stop(lambda key: DeliveryResult.rejected(key, text))
        return document


def _keys(incident: dict[str, Any] | None) -> list[str]:
    meta = incident.get("metadata") if isinstance(incident, dict) else None
    mine = meta.get(META) if isinstance(meta, dict) else None
    keys = mine.get("keys") if isinstance(mine, dict) else None
    return [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else []
