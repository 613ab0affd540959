"""``incident-lifecycle metrics --format prometheus`` and ``incident-lifecycle --version``."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import incident_lifecycle
from conftest import interop_binary
from incident_lifecycle import Actor, IncidentDesk, RecordingNotifier, Role, SQLiteStore
from incident_lifecycle.cli import main
from incident_lifecycle.testing import FakeClock

pytest.importorskip("prometheus_client", reason="the prometheus extra")


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """A SQLite database holding one resolved SEV2 incident, 40 minutes to resolve."""
    path = tmp_path / "metrics.db"
    clock = FakeClock(datetime(2026, 5, 2, 14, 0, tzinfo=UTC))
    store = SQLiteStore(path)
    desk = IncidentDesk(
        store=store, notifier=RecordingNotifier(), ownership={"chat": "chat-eng"}, clock=clock
    )
    chen = Actor(name="chen", role=Role.ENGINEERING, team="chat-eng")
    incident = desk.declare_incident(chen, title="Chat is slow", product="chat", severity="SEV2")
    clock.advance(timedelta(minutes=40))
    desk.resolve_incident(incident.id, chen, "Rolled back.")
    store.close()
    return path


def test_metrics_in_prometheus_format_are_the_stores_figures(database: Path) -> None:
    """The store's figures in Prometheus's text format, without the process counters a
    one-shot command would only print as zeros; ``promtool`` accepts them."""
    out = io.StringIO()
    assert main(["metrics", "--db", str(database), "--format", "prometheus"], out) == 0
    text = out.getvalue()
    assert 'incident_lifecycle_incidents{severity="SEV2",status="resolved"} 1.0' in text
    assert 'incident_lifecycle_time_to_resolve_seconds_sum{severity="SEV2"} 2400.0' in text
    assert "incident_lifecycle_store_up 1.0" in text
    assert "_total" not in text
    promtool = interop_binary("promtool")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_prometheus_format_refuses_a_period(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--since`` does not apply to the Prometheus format (it reads every incident):
    a usage error, exit 2, naming the flags."""
    code = main(
        ["metrics", "--db", str(database), "--format", "prometheus", "--since", "2026-01-01"]
    )
    assert code == 2
    assert "takes no --since" in capsys.readouterr().err


def test_format_json_is_json(database: Path) -> None:
    """``--format json`` is ``--json``."""
    by_flag, by_format = io.StringIO(), io.StringIO()
    main(["metrics", "--db", str(database), "--json"], by_flag)
    main(["metrics", "--db", str(database), "--format", "json"], by_format)
    assert by_flag.getvalue() == by_format.getvalue()
    assert by_format.getvalue().lstrip().startswith("{")


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    """``--version`` prints the program's name and version and exits 0."""
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"incident-lifecycle {incident_lifecycle.__version__}\n"
