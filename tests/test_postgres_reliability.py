"""Many processes on one PostgreSQL database: the storm, relays that die, lost connections,
and two desks racing on one incident.

Every scenario runs real child processes (``python -c``, this module imported by path)
against one schema of the test database (``postgres_support``). The default sizes keep
the suite fast; ``INCIDENT_LIFECYCLE_FULL_SCENARIOS=1`` runs the full sizes (8 x 5,000
signals, 4 relays draining 20,000 notifications).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import postgres_support
from incident_lifecycle import Actor, AlertSignal, IncidentDesk, Notification, RecordingNotifier
from incident_lifecycle.delivery import RetryPolicy
from incident_lifecycle.notifications import DeliveryResult
from incident_lifecycle.worker import RelayWorker

FULL = os.environ.get("INCIDENT_LIFECYCLE_FULL_SCENARIOS", "") == "1"
HERE = Path(__file__).resolve().parent
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PRODUCTS = ("support", "chat", "talk", "guide")
OWNERSHIP = {p: f"{p}-eng" for p in PRODUCTS}
OWNER = Actor(name="ana", role="engineering", team="support-eng")
LEASE = timedelta(seconds=2)

_LAUNCH = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "import test_postgres_reliability as m; m.CHILDREN[sys.argv[2]](*sys.argv[3:])"
)


def child(name: str, *args: object) -> list[str]:
    return [sys.executable, "-c", _LAUNCH, str(HERE), name, *map(str, args)]


def _store(dsn: str, schema: str) -> Any:
    from incident_lifecycle import PostgresStore

    return PostgresStore(dsn, schema=schema, pool_size=2)


@pytest.fixture
def schema() -> Iterator[tuple[str, str]]:
    """``(dsn, schema)`` of a fresh schema, dropped afterwards."""
    store = postgres_support.fresh_schema_store()
    yield store.dsn, store.schema
    store.drop()


# -- 1. the storm -------------------------------------------------------------------------


def _storm_child(dsn: str, schema: str, worker: str, signals: str, fingerprints: str) -> None:
    store = _store(dsn, schema)
    desk = IncidentDesk(store=store, notifier=RecordingNotifier(), ownership=OWNERSHIP)
    n, prints = int(signals), int(fingerprints)
    batch: list[AlertSignal] = []
    for i in range(n):
        fp = (i * 7 + int(worker) * 13) % prints
        batch.append(
            AlertSignal(
                fingerprint=f"fp-{fp}",
                product=PRODUCTS[fp % len(PRODUCTS)],
                kind="latency",
                summary="p99 above 2 s",
                observed_at=T0 + timedelta(seconds=i),
                region="pod17",
            )
        )
        if len(batch) == 1 + i % 50:  # batches of every size from 1 to 50
            desk.receive_alerts(batch)
            batch = []
    if batch:
        desk.receive_alerts(batch)
    store.close()


def test_scenario_1_a_storm_from_many_processes_loses_no_count(schema: tuple[str, str]) -> None:
    """Processes sending signals on shared fingerprints at once: every signal counted on its
    fingerprint's one alert, one potential incident per group key, nothing lost to a
    conflict (the desk retries)."""
    dsn, name = schema
    processes, signals, prints = (8, 5000, 100) if FULL else (3, 150, 12)
    children = [
        subprocess.Popen(child("storm", dsn, name, w, signals, prints), stderr=subprocess.PIPE)
        for w in range(processes)
    ]
    for proc in children:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()
    store = _store(dsn, name)
    try:
        with store.transaction() as tx:
            active = tx.active_alerts([f"fp-{i}" for i in range(prints)])
            incidents = tx.active_incidents()
        assert sum(a.count for a in active.values()) == processes * signals
        assert len(active) == prints  # one alert per fingerprint, all still active
        keys = [i.group_key for i in incidents]
        assert sorted(keys) == sorted(set(keys))  # one potential incident per group key
        assert {i.status.value for i in incidents} == {"detected"}
        assert {a.incident_id for a in active.values()} == {i.id for i in incidents}
    finally:
        store.close()


# -- 2. relays that die -------------------------------------------------------------------


class _FileNotifier:
    """Appends ``{key, recipient, ns}`` lines to a file (flushed per batch), slowly."""

    def __init__(self, path: Path, pause: float) -> None:
        self.path = path
        self.pause = pause

    def send(self, batch: Sequence[Notification]) -> list[DeliveryResult]:
        time.sleep(self.pause)
        with self.path.open("a", encoding="utf-8") as out:
            for n in batch:
                out.write(json.dumps({"key": n.key, "r": n.recipient, "ns": time.time_ns()}))
                out.write("\n")
        return [DeliveryResult.delivered(n.key) for n in batch]


def _relay_child(dsn: str, schema: str, out: str, pause: str, stop_when_empty: str) -> None:
    store = _store(dsn, schema)
    desk = IncidentDesk(
        store=store,
        notifier=_FileNotifier(Path(out), float(pause)),
        ownership=OWNERSHIP,
        retry=RetryPolicy(lease=LEASE),
    )
    worker = RelayWorker(desk, batch_size=50, idle_seconds=0.2)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    if stop_when_empty == "1":
        while True:
            worker.run(max_rounds=20)
            with store.transaction() as tx:
                if tx.outbox_stats().pending == 0:
                    break
    else:
        worker.run()
    store.close()


def _notes(start: int, count: int, recipients: int) -> list[Notification]:
    return [
        Notification(
            key=f"n-{i:06d}",
            recipient=f"T-{i % recipients}",
            recipient_kind="ticket",
            topic="status_update",
            incident_id="INC-1",
            subject="Update",
            body=f"update {i}",
            created_at=T0,
        )
        for i in range(start, start + count)
    ]


def _delivered(folder: Path) -> list[dict[str, Any]]:
    lines = []
    for path in sorted(folder.glob("relay-*.jsonl")):
        lines += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return lines


def test_scenario_2_relays_killed_mid_batch_lose_nothing_and_keep_order(
    schema: tuple[str, str], tmp_path: Path
) -> None:
    """Four relays drain the outbox while more is enqueued; one is killed with SIGKILL in
    the middle of a batch and another started: every key delivered, a key twice only
    from the killed batch, each recipient's messages in enqueue order, the outbox empty."""
    dsn, name = schema
    total, recipients = (20_000, 500) if FULL else (400, 20)
    store = _store(dsn, name)
    half = total // 2
    with store.transaction() as tx:
        tx.enqueue(_notes(0, half, recipients), T0)
    relays = [
        subprocess.Popen(
            child("relay", dsn, name, tmp_path / f"relay-{r}.jsonl", 0.03, 0),
            stderr=subprocess.PIPE,
        )
        for r in range(4)
    ]
    # The victim is the first relay seen delivering (any of the four may win the first
    # claims): killed inside its next batch's pause, its batch claimed and not recorded.
    outputs = [tmp_path / f"relay-{r}.jsonl" for r in range(4)]
    deadline = time.monotonic() + 60
    while not any(out.exists() for out in outputs):
        assert time.monotonic() < deadline, "no relay delivered anything within 60 s"
        time.sleep(0.01)
    victim = next(r for r, out in enumerate(outputs) if out.exists())
    time.sleep(0.02)
    relays[victim].send_signal(signal.SIGKILL)
    relays[victim].wait(30)
    survivors = [proc for r, proc in enumerate(relays) if r != victim]
    for start in range(half, total, 100):
        with store.transaction() as tx:
            tx.enqueue(_notes(start, min(100, total - start), recipients), T0)
    last = subprocess.Popen(
        child("relay", dsn, name, tmp_path / "relay-9.jsonl", 0.0, 1), stderr=subprocess.PIPE
    )
    _, err = last.communicate(timeout=600)
    assert last.returncode == 0, err.decode()
    for proc in survivors:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    with store.transaction() as tx:
        stats = tx.outbox_stats()
    store.close()
    assert (stats.pending, stats.dead, stats.delivered) == (0, 0, total)
    lines = _delivered(tmp_path)
    keys = [line["key"] for line in lines]
    assert set(keys) == {f"n-{i:06d}" for i in range(total)}
    first: dict[str, int] = {}
    for line in lines:
        first[line["key"]] = min(first.get(line["key"], line["ns"]), line["ns"])
    by_recipient: dict[str, list[str]] = defaultdict(list)
    for i in range(total):
        by_recipient[f"T-{i % recipients}"].append(f"n-{i:06d}")
    for recipient, ordered in by_recipient.items():
        times = [first[key] for key in ordered]
        assert times == sorted(times), recipient
    assert len(keys) - len(set(keys)) <= 50  # at most the killed relay's one batch again


# -- 3. connections ended by the server ---------------------------------------------------


def test_scenario_3_relays_whose_connections_the_server_ends_recover(
    schema: tuple[str, str], tmp_path: Path
) -> None:
    """While two relays drain the outbox, the server ends every one of their sessions,
    several times (``pg_terminate_backend``, inside transactions and between them): the
    relays log typed errors, reconnect and finish; nothing is lost or half-written."""
    dsn, name = schema
    total = 3_000 if FULL else 300
    store = _store(dsn, name)
    with store.transaction() as tx:
        tx.enqueue(_notes(0, total, 40), T0)
    relays = [
        subprocess.Popen(
            child("relay", dsn, name, tmp_path / f"relay-{r}.jsonl", 0.02, 1),
            stderr=subprocess.PIPE,
        )
        for r in range(2)
    ]
    ended = 0
    with store.connect() as conn:
        for _ in range(5):
            time.sleep(0.3)
            row = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND state IS NOT NULL"
            ).fetchone()
            ended += int(row[0]) if row else 0
    errors = []
    for proc in relays:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()
        assert "Traceback" not in err.decode()
        errors.append(err.decode())
    assert ended > 0
    with store.transaction() as tx:
        stats = tx.outbox_stats()
    store.close()
    assert (stats.pending, stats.dead, stats.delivered) == (0, 0, total)
    keys = {line["key"] for line in _delivered(tmp_path)}
    assert keys == {f"n-{i:06d}" for i in range(total)}


# -- 4. two desks racing ------------------------------------------------------------------


def _race_child(dsn: str, schema: str, action: str, go: str, out: str) -> None:
    store = _store(dsn, schema)
    desk = IncidentDesk(store=store, notifier=RecordingNotifier(), ownership=OWNERSHIP)
    desk.incident("INC-1")  # connected and warm
    Path(out + ".ready").write_text("", encoding="utf-8")
    while not Path(go).exists():
        time.sleep(0.001)
    try:
        if action == "validate":
            desk.validate_incident("INC-1", OWNER, severity="SEV2")
        else:
            desk.dismiss_incident("INC-1", OWNER, "noise")
        result = "done"
    except Exception as error:  # the outcome is what the test inspects
        result = type(error).__name__
    Path(out).write_text(result, encoding="utf-8")
    store.close()


def test_scenario_4_two_processes_validate_and_dismiss_one_incident_at_once(
    schema: tuple[str, str], tmp_path: Path
) -> None:
    """One process validates and another dismisses the same potential incident at the same
    moment: one wins, the other is refused by name, and the timeline tells one story."""
    dsn, name = schema
    store = _store(dsn, name)
    desk = IncidentDesk(store=store, notifier=RecordingNotifier(), ownership=OWNERSHIP)
    desk.receive_alert(
        AlertSignal(
            fingerprint="fp-1",
            product="support",
            kind="latency",
            summary="p99 above 2 s",
            observed_at=T0,
            region="pod17",
        )
    )
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            child("race", dsn, name, action, go, tmp_path / action), stderr=subprocess.PIPE
        )
        for action in ("validate", "dismiss")
    ]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(
        (tmp_path / f"{a}.ready").exists() for a in ("validate", "dismiss")
    ):
        time.sleep(0.01)
    go.write_text("go", encoding="utf-8")
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    results = sorted((tmp_path / a).read_text(encoding="utf-8") for a in ("validate", "dismiss"))
    assert results == ["InvalidTransition", "done"], results
    names = [e.name for e in desk.timeline("INC-1")]
    assert ("IncidentValidated" in names) != ("IncidentDismissed" in names)
    status = desk.incident("INC-1").status.value
    assert status == ("investigating" if "IncidentValidated" in names else "dismissed")
    store.close()


CHILDREN = {
    "storm": _storm_child,
    "relay": _relay_child,
    "race": _race_child,
}
