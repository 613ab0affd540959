"""Opening a large SQLite database: the time must not depend on the history it holds."""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import START, Case, Run, Spec, measured
from incident_lifecycle.adapters.sqlite import SQLiteStore
from incident_lifecycle.codec import encode
from incident_lifecycle.domain import ServiceIncident


def build_history(path: Path, incidents: int, alerts: int) -> None:
    """Fill ``path`` with resolved incidents and inactive alerts, written in bulk with SQL."""
    SQLiteStore(path).close()
    template = ServiceIncident(
        id="INC-0",
        title="Old outage",
        products=("support",),
        owner_team="support-eng",
        detected_at=START,
    )
    document = encode(template)
    conn = sqlite3.connect(path)
    with conn:
        rows = []
        for n in range(incidents):
            document["id"] = f"INC-{n + 1}"
            rows.append((f"INC-{n + 1}", "closed", None, 0, 0, 1, json.dumps(document), None))
        conn.executemany(
            "INSERT INTO incidents (id, status, group_key, detected_at, active, version, data, "
            "region) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO alerts (id, fingerprint, product, kind, summary, region, labels, status, "
            "count, first_seen, last_seen, incident_id, active, version) "
            "VALUES (?, ?, 'support', 'latency', 'slow', NULL, '{}', 'validated', "
            "1, 0, 0, ?, 0, 1)",
            (
                (f"ALR-{n + 1}", f"fp-{n % 50_000}", f"INC-{n % incidents + 1}")
                for n in range(alerts)
            ),
        )
    conn.close()


def bench_open(incidents: int, alerts: int) -> Run:
    """Open a database holding ``incidents`` incidents and ``alerts`` alerts, and query it.

    The median of five opens, each with the first queries.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "history.db"
        build_history(path, incidents, alerts)
        latencies = []
        for _ in range(5):
            started = time.perf_counter()
            store = SQLiteStore(path)
            with store.transaction() as tx:
                tx.active_incidents(product="support")
                tx.active_alerts(["fp-1"])
            latencies.append((time.perf_counter() - started) * 1e6)
            store.close()
        store = SQLiteStore(path)
        with store.transaction() as tx:  # raises NotFound if the history is not all there
            tx.incident(f"INC-{incidents}")
            tx.alert(f"ALR-{alerts}")
        store.close()
        started = time.perf_counter()
        conn = sqlite3.connect(path)
        conn.execute("SELECT 1").fetchone()
        conn.close()
        bare = time.perf_counter() - started
    seconds = statistics.median(latencies) / 1e6
    return measured(1, seconds, latencies, bare)


def open_cases(incidents: int, alerts: int) -> list[Case]:
    """The row of opening a large SQLite database."""
    spec = Spec(
        "open a large store", "sqlite", f"{incidents:,} incidents + {alerts:,} alerts", "opens"
    )
    return [Case("open", (spec,), lambda: [bench_open(incidents, alerts)])]
