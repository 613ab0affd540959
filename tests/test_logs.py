"""Log records: a logger per module, a NullHandler on the package, one line per record,
user text neutralised, and every record named and documented."""

from __future__ import annotations

import ast
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import incident_lifecycle
import web_support as w
from incident_lifecycle import AlertSignal, DeliveryResult, IncidentDesk, InMemoryStore
from incident_lifecycle.logs import EVENT
from incident_lifecycle.web import create_app

PACKAGE = Path(incident_lifecycle.__file__).parent
DOCS = Path(__file__).resolve().parents[1] / "docs" / "observability.md"
HOSTILE = "line one\r\nline two \x1b[31mred\u2028\u202e"


def _documented() -> set[str]:
    """The record names of the docs' table of log records (its first column)."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Logs") :]
    return set(re.findall(r"^\| `([a-z_]+)` \| `incident_lifecycle", section, re.MULTILINE))


def _emitted_in_code() -> set[str]:
    """Every record name the package passes to ``fields(...)``."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "fields"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.add(node.args[0].value)
    return found


def test_every_record_of_the_code_is_documented_and_no_other() -> None:
    """The docs' table lists exactly the records the package emits."""
    emitted = _emitted_in_code()
    assert emitted, "no record found in the code"
    assert _documented() == emitted


def test_each_module_logs_on_its_own_logger() -> None:
    """Every ``logging.getLogger`` of the package is ``getLogger(__name__)``, save the
    command line's configuration of the package's own logger."""
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "getLogger"
            ):
                (arg,) = node.args
                own = isinstance(arg, ast.Name) and arg.id == "__name__"
                package = isinstance(arg, ast.Constant) and arg.value == "incident_lifecycle"
                assert own or package, f"{path.name}:{node.lineno}"


def test_the_package_logger_has_a_null_handler() -> None:
    """``incident_lifecycle`` holds a ``NullHandler``: a warning with no logging configured
    prints nothing (Python's last-resort handler would print it to stderr)."""
    handlers = logging.getLogger("incident_lifecycle").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)
    code = (
        "from datetime import UTC, datetime\n"
        "from incident_lifecycle import Actor, IncidentDesk, InMemoryStore, Role\n"
        "from incident_lifecycle.testing import FlakyNotifier\n"
        "desk = IncidentDesk(store=InMemoryStore(), notifier=FlakyNotifier(permanent_rate=1.0),"
        " ownership={'chat': 'chat-eng'})\n"
        "chen = Actor(name='chen', role=Role.SUPPORT)\n"
        "desk.declare_incident(chen, title='Slow', product='chat', severity='SEV3')\n"
        "assert desk.deliver().dead_lettered == 1\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


class _Hostile:
    """Answers a batch with rejections whose text spans lines and carries controls."""

    def __init__(self) -> None:
        self.calls = 0

    def send(self, batch):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError(HOSTILE)
        return [DeliveryResult.rejected(n.key, HOSTILE) for n in batch]


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    kept: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            kept.append(record)

    handler = Keep(level=logging.DEBUG)
    package = logging.getLogger("incident_lifecycle")
    old = package.level
    package.addHandler(handler)
    package.setLevel(logging.DEBUG)
    try:
        yield kept
    finally:
        package.removeHandler(handler)
        package.setLevel(old)


def test_every_record_is_one_named_line_with_user_text_neutralised(
    records: list[logging.LogRecord],
) -> None:
    """Commands, refusals, retried and dead-lettered deliveries, requests (one failing),
    a scrape of an unreadable store: each record is named, documented, one line, and
    hostile text arrives neutralised in its message and its fields."""
    clock = w.FakeClock(w.T0)
    store = w.BusyStore(InMemoryStore())
    desk = IncidentDesk(store=store, notifier=_Hostile(), ownership=w.OWNERSHIP, clock=clock)  # type: ignore[arg-type]
    signal = AlertSignal(
        fingerprint="fp-1", product="checkout", kind="error_rate", summary="5xx", observed_at=w.T0
    )
    desk.receive_alerts([signal])
    with pytest.raises(incident_lifecycle.InvalidInput):
        desk.receive_alert(attrs_evolve(signal, fingerprint="fp-2", product="nobody-owns"))
    desk.deliver()
    clock.advance(timedelta(hours=1))
    desk.deliver()
    app = create_app(desk, tokens={"incidents": w.TOKEN, "metrics": w.TOKEN})
    w.call(app, "GET", "/v1/incidents/INC-1")
    w.call(app, "GET", "/v1/incidents/" + "x\r\ny")
    store.busy = True
    w.call(app, "GET", "/v1/incidents")
    w.call(app, "GET", "/metrics")
    names = {getattr(r, EVENT, None) for r in records}
    assert None not in names, [r.getMessage() for r in records if not hasattr(r, EVENT)]
    assert names <= _documented()
    for expected in (
        "command",
        "delivery_batch_failed",
        "notification_dead_lettered",
        "http_request",
        "metrics_store_unreadable",
    ):
        assert expected in names, expected
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    for record in records:
        line = formatter.format(record)
        assert len(line.splitlines()) == 1, line
        assert not any(c in line for c in "\r\x1b\u2028\u202e"), line
        for name, value in vars(record).items():
            if name not in logging.makeLogRecord({}).__dict__ and isinstance(value, str):
                assert not any(c in value for c in "\r\n\x1b\u2028\u202e"), (name, value)
        assert record.name.startswith("incident_lifecycle.")


def attrs_evolve(signal: AlertSignal, **changes: object) -> AlertSignal:
    import attrs

    return attrs.evolve(signal, **changes)
