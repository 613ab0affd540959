"""Outlets: one public update to many linked tickets through the Zendesk adapter.

The local Zendesk server (``incident_lifecycle.testing.servers.ZendeskServer``) runs on
127.0.0.1 and implements the bulk update, job status and ticket endpoints; the relay drains
an outbox holding one fan-out, claiming 1,000 notifications per round. Three rows:

* HTTP calls: what the drain cost in requests (one bulk update per 100 tickets, plus the
  job polls: every job of a round polled in one call);
* unthrottled: notifications/s through the adapter, beside the same relay draining the
  same outbox into ``RecordingNotifier`` (the bare reference of the row);
* at 700 requests/minute: the server enforces the limit (429 with Retry-After past it), the
  adapter paces itself to it (``requests_per_minute=700``); the ratio is to the floor, the
  calls of the unthrottled drain at that rate.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from benchmarks.common import Case, Run, Spec
from incident_lifecycle.adapters import InMemoryStore, RecordingNotifier, ZendeskNotifier
from incident_lifecycle.delivery import Relay
from incident_lifecycle.notifications import FanOut
from incident_lifecycle.ports import Notifier, SystemClock
from incident_lifecycle.testing.servers import ZendeskServer

PER_MINUTE = 700
BATCH = 1_000
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _outbox(tickets: int) -> InMemoryStore:
    store = InMemoryStore()
    fanout = FanOut(
        key_prefix="INC-1/UPD-1",
        recipients=[str(t) for t in range(1, tickets + 1)],
        topic="status_update",
        incident_id="INC-1",
        subject="Update on service incident INC-1: investigating",
        body="We are investigating slow page loads in pod 17.",
        created_at=START,
    )
    with store.transaction() as tx:
        tx.enqueue_fanout(fanout, START)
    return store


def _drain(store: InMemoryStore, notifier: Notifier) -> float:
    """Seconds to deliver everything, sleeping until the next due time when throttled."""
    relay = Relay(store, notifier, SystemClock())
    started = time.perf_counter()
    while True:
        report = relay.deliver(batch_size=BATCH)
        if report.pending == 0:
            break
        if report.next_due_at is not None:
            time.sleep(max(0.0, (report.next_due_at - datetime.now(UTC)).total_seconds()))
    seconds = time.perf_counter() - started
    with store.transaction() as tx:
        stats = tx.outbox_stats()
    if stats.pending or stats.dead:
        raise AssertionError(f"the drain did not deliver everything: {stats}")
    return seconds


def _zendesk(server: ZendeskServer, **options: float) -> ZendeskNotifier:
    return ZendeskNotifier(
        server.url, email=server.email, api_token=server.token, poll_interval=0.05, **options
    )


def outlet_runs(tickets: int) -> list[Run]:
    """The three rows' runs for a fan-out to ``tickets`` tickets."""
    bare = _drain(_outbox(tickets), RecordingNotifier())
    with ZendeskServer(tickets=tickets).running() as server:
        notifier = _zendesk(server)
        free = _drain(_outbox(tickets), notifier)
        calls = notifier.calls
        notifier.close()
        if sum(len(c) for c in server.comments.values()) != tickets:
            raise AssertionError("not every ticket got its comment")
    with ZendeskServer(tickets=tickets, per_minute=PER_MINUTE).running() as server:
        notifier = _zendesk(server, requests_per_minute=PER_MINUTE)
        limited = _drain(_outbox(tickets), notifier)
        notifier.close()
        if sum(len(c) for c in server.comments.values()) != tickets:
            raise AssertionError("not every ticket got its comment under the limit")
    floor = calls / (PER_MINUTE / 60)
    return [
        Run(items=calls, seconds=free),
        Run(items=tickets, seconds=free, bare_seconds=bare, ratio=free / bare),
        Run(items=tickets, seconds=limited, bare_seconds=floor, ratio=limited / floor),
    ]


def outlet_cases(tickets: int) -> list[Case]:
    """The Zendesk fan-out case (its three rows measured together)."""
    n = f"{tickets:,} tickets"
    return [
        Case(
            name="zendesk fan-out",
            specs=(
                Spec("zendesk fan-out: HTTP calls", "memory", n, "calls"),
                Spec("zendesk delivery, unthrottled", "memory", f"{n} (bare: recorder)", "notes"),
                Spec("zendesk drain, 700 req/min", "memory", f"{n} (bare: the floor)", "notes"),
            ),
            bench=lambda: outlet_runs(tickets),
        )
    ]
