"""Store URLs, ``incident-lifecycle relay`` and ``incident-lifecycle prune``.

The relay runs as a real process: it delivers what is pending, waits, wakes when
another process enqueues (PostgreSQL ``LISTEN``), and on SIGTERM finishes its batch
and exits 0.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import postgres_support
from incident_lifecycle.adapters import InMemoryStore, SQLiteStore
from incident_lifecycle.adapters.urls import describe_store_url, open_store, sqlite_path
from incident_lifecycle.cli import main
from incident_lifecycle.domain.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "replay.jsonl"
OWN = {"op": "own", "product": "support", "team": "support-eng"}


def run(*argv: str | Path) -> tuple[int, str]:
    out = io.StringIO()
    code = main([str(arg) for arg in argv], out=out)
    return code, out.getvalue()


def alert_line(fingerprint: str) -> dict[str, object]:
    return {
        "op": "alert",
        "fingerprint": fingerprint,
        "product": "support",
        "kind": "latency",
        "summary": "p99 above 2 s",
        "observed_at": "2026-06-09T09:00:00Z",
        "region": "pod17",
    }


def write_lines(path: Path, *lines: dict[str, object]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


# -- store URLs ---------------------------------------------------------------------------


def test_store_urls_name_their_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare path and ``sqlite:///`` are SQLite files (four slashes: absolute), ``memory:``
    is in memory; an unknown scheme or a SQLite URL without a path is refused by name."""
    monkeypatch.chdir(tmp_path)
    assert sqlite_path("incidents.db") == "incidents.db"
    assert sqlite_path("sqlite:///rel/x.db") == "rel/x.db"
    assert sqlite_path("sqlite:////abs/x.db") == "/abs/x.db"
    assert sqlite_path("postgresql://h/db") is None
    assert isinstance(open_store("memory:"), InMemoryStore)
    made = open_store("sqlite:///here.db")
    assert isinstance(made, SQLiteStore)
    made.close()
    assert (tmp_path / "here.db").exists()
    for bad in ("mysql://h/db", "sqlite:/x.db", "sqlite:///", ""):
        with pytest.raises(InvalidInput) as refused:
            sqlite_path(bad)
        assert refused.value.field == "store"
    assert describe_store_url("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"


def test_the_command_line_refuses_an_unknown_store_url(capsys: pytest.CaptureFixture[str]) -> None:
    """A URL of no known store: one line on stderr, exit 3 (a refused input)."""
    code, _ = run("status", "--db", "mysql://somewhere/db")
    assert code == 3
    assert "unknown store URL scheme 'mysql'" in capsys.readouterr().err


def _pg_url(schema: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(postgres_support.database_dsn())
    user = params.get("user", "postgres")
    host = params.get("host", "127.0.0.1")
    port = params.get("port", "5432")
    return f"postgresql://{user}@{host}:{port}/{params['dbname']}?schema={schema}"


def test_every_command_works_on_a_postgresql_url(tmp_path: Path) -> None:
    """Replay, status, show, deliver and prune on ``postgresql://...``, the ownership map
    kept in the database like SQLite keeps it."""
    url = _pg_url(f"cli_{os.getpid()}")
    try:
        code, text = run("replay", EXAMPLE, "--db", url, "--outbox", tmp_path / "o.jsonl")
        assert code == 0, text
        code, text = run("status", "--db", url)
        assert (code, text.splitlines()[1].split()[0]) == (0, "INC-3")
        assert run("show", "INC-1", "--db", url)[0] == 0
        code, text = run("deliver", "--db", url, "--to", tmp_path / "o.jsonl")
        assert code == 0, text
        assert run("prune", "--db", url, "--older-than", "36500")[1].startswith("pruned 0 ")
        assert run("prune", "--db", url)[1].startswith("pruned ")
        store = open_store(url)
        assert store.get_setting("ownership")["support"] == "support-eng"  # type: ignore[attr-defined]
        store.drop()  # type: ignore[attr-defined]
    finally:
        postgres_support.drop_schema(f"cli_{os.getpid()}")


# -- prune --------------------------------------------------------------------------------


def test_prune_forgets_old_deliveries_and_refuses_a_retention_below_the_horizon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``prune`` keeps a week by default (``--older-than`` days); a retention below the retry
    horizon is refused (exit 3, naming the field), since keys must outlive every retry."""
    db = tmp_path / "x.db"
    assert run("replay", EXAMPLE, "--db", db, "--outbox", tmp_path / "o.jsonl")[0] == 0
    code, _ = run("prune", "--db", db, "--older-than", "0")
    assert code == 3
    assert "older_than" in capsys.readouterr().err
    assert run("prune", "--db", db, "--older-than", "36500")[1] == (
        "pruned 0 delivered notification(s)\n"
    )
    code, text = run("prune", "--db", db, "--json")  # a week: the example is older
    assert code == 0
    pruned = json.loads(text)["pruned"]
    assert pruned > 0
    stats = SQLiteStore(db)
    with stats.transaction() as tx:
        assert tx.outbox_stats().delivered == 0
    stats.close()


# -- relay --------------------------------------------------------------------------------


def _start_relay(db: str, to: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "incident_lifecycle", "relay", "--db", db, "--to", str(to), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _lines(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _wait_for(check: object, seconds: float = 20.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_the_relay_delivers_then_exits_0_on_sigterm(tmp_path: Path) -> None:
    """On a SQLite file: pending notifications are delivered; SIGTERM ends it, exit 0."""
    db = tmp_path / "x.db"
    replay = write_lines(tmp_path / "r.jsonl", OWN, alert_line("fp-1"))
    assert run("replay", replay, "--db", db)[0] == 0
    to = tmp_path / "delivered.jsonl"
    relay = _start_relay(str(db), to, "--idle-seconds", "0.2")
    try:
        _wait_for(lambda: len(_lines(to)) == 1)
        relay.send_signal(signal.SIGTERM)
        out, err = relay.communicate(timeout=30)
    finally:
        relay.kill()
    assert relay.returncode == 0, err
    assert out.startswith("relay stopped: delivered 1 notification(s)")
    assert _lines(to)[0]["key"] == "INC-1/validation-request"


def test_an_idle_relay_on_postgresql_wakes_when_another_process_enqueues(
    tmp_path: Path,
) -> None:
    """The relay waits up to a minute between rounds, yet a notification enqueued by another
    process is delivered within seconds: ``LISTEN/NOTIFY`` wakes it."""
    schema = f"relay_{os.getpid()}"
    url = _pg_url(schema)
    to = tmp_path / "delivered.jsonl"
    try:
        assert run("replay", write_lines(tmp_path / "own.jsonl", OWN), "--db", url)[0] == 0
        relay = _start_relay(url, to, "--idle-seconds", "60")
        try:
            time.sleep(1.5)  # the relay is up and idle
            replay = write_lines(tmp_path / "r.jsonl", alert_line("fp-1"))
            started = time.monotonic()
            assert run("replay", replay, "--db", url)[0] == 0
            _wait_for(lambda: len(_lines(to)) == 1, seconds=30)
            assert time.monotonic() - started < 15
            relay.send_signal(signal.SIGTERM)
            out, err = relay.communicate(timeout=30)
        finally:
            relay.kill()
        assert relay.returncode == 0, err
        assert "delivered 1 notification(s)" in out
    finally:
        postgres_support.drop_schema(schema)
