"""Relay scaling: delivery throughput of 1, 2 and 4 relay processes on one PostgreSQL database.

The outbox holds ``n`` notifications to ``n / 10`` recipients (ten each, so the
per-recipient order constrains the claims as it does in production). Each relay
is a process of its own (``python -c``; the GIL would serialise threads) running
``Relay.deliver`` through a notifier that answers "delivered" at once, so the
rows measure the store and the claims, not an outlet. The processes connect
first and start together; the time runs from the start to the last one finding
nothing due. The ratio column is the time of one relay over this row's time (the
speed-up), and the bare reference of the one-relay row is a plain loop over the
same notifications.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import START, Case, Run, Spec, Stores
from incident_lifecycle.notifications import DeliveryResult, Notification

RELAYS = (1, 2, 4)
BATCH = 100

_CHILD = """
import sys, time
from pathlib import Path
from incident_lifecycle.adapters.postgres import PostgresStore
from incident_lifecycle.delivery import Relay
from incident_lifecycle.notifications import DeliveryResult
from incident_lifecycle.ports import SystemClock

class Fast:
    def send(self, batch):
        return [DeliveryResult.delivered(n.key) for n in batch]

dsn, schema, go, done = sys.argv[1:5]
store = PostgresStore(dsn, schema=schema, pool_size=1)
with store.transaction() as tx:
    tx.outbox_stats()
Path(done + ".ready").write_text("")
while not Path(go).exists():
    time.sleep(0.001)
report = Relay(store, Fast(), SystemClock()).deliver(batch_size=int(sys.argv[5]))
Path(done).write_text(str(report.delivered))
"""


def _notes(n: int) -> list[Notification]:
    return [
        Notification(
            key=f"INC-1/UPD-{i // (n // 10 or 1)}/T-{i % (n // 10 or 1)}",
            recipient=f"T-{i % (n // 10 or 1)}",
            recipient_kind="ticket",
            topic="status_update",
            incident_id="INC-1",
            subject="Update",
            body="We are investigating.",
            created_at=START,
        )
        for i in range(n)
    ]


def _reference(notes: Sequence[Notification]) -> float:
    """A plain loop doing the relay's bookkeeping for ``notes`` in dicts."""
    started = time.perf_counter()
    state = {n.key: "pending" for n in notes}
    for start in range(0, len(notes), BATCH):
        for n in notes[start : start + BATCH]:
            state[n.key] = DeliveryResult.delivered(n.key).status.value
    return time.perf_counter() - started


def _drain(stores: Stores, notes: Sequence[Notification], relays: int) -> float:
    store = stores.postgres()
    with store.transaction() as tx:
        tx.enqueue(notes, START)
    dsn, schema = store.dsn, store.schema  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as folder:
        go = Path(folder) / "go"
        done = [Path(folder) / f"done-{r}" for r in range(relays)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _CHILD, dsn, schema, str(go), str(d), str(BATCH)],
                env=dict(os.environ),
            )
            for d in done
        ]
        while not all(Path(f"{d}.ready").exists() for d in done):
            if any(p.poll() not in (None, 0) for p in procs):
                raise AssertionError("a relay process failed to start")
            time.sleep(0.01)
        started = time.perf_counter()
        go.write_text("")
        for proc in procs:
            if proc.wait(600) != 0:
                raise AssertionError("a relay process failed")
        seconds = time.perf_counter() - started
        delivered = sum(int(d.read_text()) for d in done)
    with store.transaction() as tx:
        stats = tx.outbox_stats()
    if stats.pending or stats.delivered != len(notes) or delivered < len(notes):
        raise AssertionError(f"relays left {stats}, reported {delivered}")
    return seconds


def bench_relays(stores: Stores, n: int) -> list[Run]:
    """One run per relay count, on fresh schemas."""
    notes = _notes(n)
    bare = _reference(notes)
    times = {relays: _drain(stores, notes, relays) for relays in RELAYS}
    return [
        Run(
            items=n,
            seconds=times[relays],
            bare_seconds=bare if relays == 1 else None,
            ratio=times[1] / times[relays],
        )
        for relays in RELAYS
    ]


def relay_cases(stores: Stores, n: int) -> list[Case]:
    """The relay-scaling rows (PostgreSQL only)."""
    specs = tuple(
        Spec(
            f"relay scaling, {r} relay{'s' if r > 1 else ''}", "postgres", f"{n:,}", "notifications"
        )
        for r in RELAYS
    )
    return [Case("relay scaling", specs, lambda: bench_relays(stores, n))]
