"""Reliability scenarios 5, 6, 12, 15 and 20 of ``reliability-anchors.md`` section 6, on SQLite.

The crash scenarios run the work in a real child process (``subprocess`` with
``sys.executable``) that dies with ``os._exit`` at the chosen point; the
parent then reopens the same database file, as a restarted worker would. The
children are functions of this module, run as ``python -c`` with the module
imported by path (see :func:`child`). Time is a ``FakeClock`` wherever a lease
must expire; children and threads that must overlap wait for a "go" file.
"""

from __future__ import annotations

import ast
import fcntl
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import incident_lifecycle
from incident_lifecycle import (
    Actor,
    AlertSignal,
    CustomerReport,
    DecodeError,
    InvalidInput,
    ReportStatus,
    StoreError,
)
from incident_lifecycle.adapters import JsonLinesNotifier, RecordingNotifier
from incident_lifecycle.adapters.sqlite import SCHEMA_VERSION, SQLiteStore
from incident_lifecycle.delivery import Relay, RetryPolicy
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.domain.events import UpdatePosted
from incident_lifecycle.notifications import DeliveryResult, Notification
from incident_lifecycle.ports import Notifier, OutboxState, SystemClock
from incident_lifecycle.testing import FakeClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWNERSHIP = {"support": "support-eng"}
OWNER = Actor(name="ana", role="engineering", team="support-eng")
LEASE = RetryPolicy().lease
HERE = Path(__file__).resolve().parent


# -- running children ---------------------------------------------------------------------

_LAUNCH = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "import test_sqlite_reliability as m; m.CHILDREN[sys.argv[2]](*sys.argv[3:])"
)


def child(name: str, *args: object) -> list[str]:
    """The command line running ``CHILDREN[name](*args)`` in a fresh interpreter."""
    return [sys.executable, "-c", _LAUNCH, str(HERE), name, *map(str, args)]


def run_child(name: str, *args: object) -> subprocess.CompletedProcess[str]:
    """Run a child to its end (or its crash); fail the test on a traceback."""
    done = subprocess.run(child(name, *args), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


def wait_for(path: Path) -> None:
    """Block until ``path`` exists (a start signal between processes, not a timing)."""
    for _ in range(60_000):
        if path.exists():
            return
        time.sleep(0.001)
    raise TimeoutError(f"{path} never appeared")


# -- the desk on a database file --------------------------------------------------------------


def make_desk(store: SQLiteStore, notifier: Notifier, clock: object) -> IncidentDesk:
    return IncidentDesk(
        store=store,
        notifier=notifier,
        ownership=OWNERSHIP,
        clock=clock,  # type: ignore[arg-type]
        seed=7,
    )


def declare_with_tickets(desk: IncidentDesk, tickets: int) -> str:
    """An open incident with ``tickets`` linked customer reports; its id."""
    incident = desk.declare_incident(OWNER, title="Slow pages", product="support", severity="SEV2")
    with desk.store.transaction() as tx:
        for n in range(tickets):
            tx.add_report(
                CustomerReport(
                    ticket_id=f"T-{n}",
                    account_id=f"acct-{n}",
                    product="support",
                    symptom="slow",
                    summary="Everything is slow.",
                    reported_at=T0,
                    status=ReportStatus.LINKED,
                    incident_id=incident.id,
                )
            )
            tx.link(f"T-{n}", incident.id)
    return incident.id


def expected_keys(incident_id: str, update_id: str, tickets: int) -> set[str]:
    """The idempotency keys of one public update to ``T-0`` ... ``T-<tickets-1>``."""
    return {f"{incident_id}/{update_id}/T-{n}" for n in range(tickets)}


def outbox_entries(store: SQLiteStore, keys: Sequence[str]) -> dict[str, Any]:
    with store.transaction() as tx:
        return {key: tx.outbox_entry(key) for key in keys}


# -- scenario 5: crash after commit, before fan-out -------------------------------------------


def commit_then_crash(db: str, tickets: str) -> None:
    """Child: post a public update to linked tickets, then die before delivering anything."""
    store = SQLiteStore(db)
    desk = make_desk(store, RecordingNotifier(), FakeClock(T0))
    incident_id = declare_with_tickets(desk, int(tickets))
    update = desk.post_update(incident_id, OWNER, "We found the cause.", "public")
    print(json.dumps({"incident": incident_id, "update": update.id}), flush=True)
    os._exit(0)  # committed; the relay never ran


def test_scenario_5_crash_after_commit_before_fan_out(tmp_path: Path) -> None:
    """After a worker dies right after its commit, a restarted relay sends every key once."""
    db = tmp_path / "desk.db"
    ids = json.loads(run_child("commit_then_crash", db, 40).stdout)
    wanted = expected_keys(ids["incident"], ids["update"], 40)

    store = SQLiteStore(db)  # the restart
    notifier = RecordingNotifier()
    desk = make_desk(store, notifier, FakeClock(T0))
    try:
        assert desk.outbox_stats().pending == 40
        report = desk.deliver(batch_size=15)
        sent = [n.key for n in notifier.sent]
        assert set(sent) == wanted  # 0 lost, 0 extra keys
        assert len(sent) == len(wanted)  # and none twice
        assert (report.pending, report.delivered, desk.outbox_stats().delivered) == (0, 40, 40)
    finally:
        store.close()


# -- scenario 6: crash after send, before mark-sent ----------------------------------------------


class SendThenDie(JsonLinesNotifier):
    """Writes the batch to the JSON Lines file, then the process dies before ``send`` returns."""

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        super().send(batch)
        os._exit(0)


def send_then_crash(db: str, sent: str, tickets: str) -> None:
    """Child: post a public update, then deliver through a notifier that dies after sending."""
    store = SQLiteStore(db)
    desk = make_desk(store, SendThenDie(sent), FakeClock(T0))
    incident_id = declare_with_tickets(desk, int(tickets))
    update = desk.post_update(incident_id, OWNER, "We found the cause.", "public")
    print(json.dumps({"incident": incident_id, "update": update.id}), flush=True)
    desk.deliver(batch_size=10)
    raise AssertionError("unreachable: the notifier ends the process")


def sent_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_scenario_6_crash_after_send_before_mark_sent(tmp_path: Path) -> None:
    """Notifications sent just before a crash are re-sent after the lease with identical keys."""
    db, sent = tmp_path / "desk.db", tmp_path / "sent.jsonl"
    ids = json.loads(run_child("send_then_crash", db, sent, 40).stdout)
    wanted = expected_keys(ids["incident"], ids["update"], 40)
    first = sent_lines(sent)
    assert len(first) == 10  # one batch went out, then the process died

    store = SQLiteStore(db)  # the restart, at the same instant: the lease still holds
    clock = FakeClock(T0)
    desk = make_desk(store, JsonLinesNotifier(sent), clock)
    try:
        desk.deliver()
        within_lease = sent_lines(sent)
        assert Counter(line["key"] for line in within_lease).most_common(1)[0][1] == 1
        assert len(within_lease) == 40  # the 30 never claimed; the 10 in flight wait

        clock.advance(LEASE)  # the dead worker's lease ends
        report = desk.deliver()
        lines = sent_lines(sent)
        keys = Counter(line["key"] for line in lines)
        assert set(keys) == wanted  # 0 lost
        resent = {key for key, count in keys.items() if count > 1}
        assert resent == {line["key"] for line in first}  # only the ambiguous ones, once more
        assert max(keys.values()) == 2
        by_key: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        for line in lines:
            by_key[line["key"]].append(line)
        assert all(copy == copies[0] for copies in by_key.values() for copy in copies)
        assert len({line["key"] for line in lines}) == 40  # after dedup by key: 0 duplicates
        entries = outbox_entries(store, sorted(wanted))
        assert {e.state for e in entries.values()} == {OutboxState.DELIVERED}
        assert {key for key, e in entries.items() if e.attempts == 2} == resent
        assert report.pending == 0
    finally:
        store.close()


# -- scenario 12: optimistic concurrency with threads and processes -----------------------------

THREADS, THREAD_COMMANDS = 16, 5
PROCESSES, PROCESS_COMMANDS = 4, 10


def post_updates(db: str, incident_id: str, ready: str, go: str, count: str) -> None:
    """Child: wait for the start signal, post ``count`` internal updates, report outcomes."""
    store = SQLiteStore(db)
    desk = make_desk(store, RecordingNotifier(), FakeClock(T0))
    Path(ready).touch()
    wait_for(Path(go))
    ok, errors = _post(desk, incident_id, int(count), f"process {os.getpid()}")
    print(json.dumps({"ok": ok, "errors": errors}), flush=True)


def _post(desk: IncidentDesk, incident_id: str, count: int, who: str) -> tuple[int, list[str]]:
    ok, errors = 0, []
    for n in range(count):
        try:
            desk.post_update(incident_id, OWNER, f"{who}, note {n}", "internal")
            ok += 1
        except Exception as error:  # every failure is reported, then asserted on
            errors.append(f"{type(error).__module__}.{type(error).__qualname__}: {error}")
    return ok, errors


def test_scenario_12_optimistic_concurrency_with_threads_and_processes(tmp_path: Path) -> None:
    """16 threads and 4 processes posting to one incident lose no update and see no raw error."""
    db = tmp_path / "desk.db"
    store = SQLiteStore(db)
    desk = make_desk(store, RecordingNotifier(), FakeClock(T0))
    incident_id = declare_with_tickets(desk, 0)
    initial = desk.incident(incident_id).version
    go = tmp_path / "go"
    readies = [tmp_path / f"ready-{n}" for n in range(PROCESSES)]
    children = [
        subprocess.Popen(
            child("post_updates", db, incident_id, ready, go, PROCESS_COMMANDS),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ready in readies
    ]
    results: list[tuple[int, list[str]]] = []
    start = threading.Barrier(THREADS)

    def work(n: int) -> None:
        start.wait()
        results.append(_post(desk, incident_id, THREAD_COMMANDS, f"thread {n}"))

    try:
        for ready in readies:
            wait_for(ready)
        threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        go.touch()  # the processes start with the threads
        for thread in threads:
            thread.join()
        for process in children:
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
            reported = json.loads(out)
            results.append((reported["ok"], reported["errors"]))
        errors = [e for _, found in results for e in found]
        successes = sum(ok for ok, _ in results)
        assert not [e for e in errors if e.startswith("sqlite3.")]  # nothing raw escaped
        assert errors == []  # with a 5 s busy timeout and 5 retries, every command lands
        assert successes == THREADS * THREAD_COMMANDS + PROCESSES * PROCESS_COMMANDS
        assert desk.incident(incident_id).version == initial + successes
        posted = [e for e in desk.timeline(incident_id) if isinstance(e, UpdatePosted)]
        assert len(posted) == successes
        assert len({e.update_id for e in posted}) == successes
        assert len(desk.updates(incident_id)) == successes
    finally:
        for process in children:
            if process.poll() is None:
                process.kill()
        store.close()


# -- scenario 15: two relay processes on one outbox ---------------------------------------------


class LockedLines:
    """Appends every batch to a shared file under an exclusive lock, and delivers it all.

    The file's line order is the order notifications were sent, across processes.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        text = "".join(
            json.dumps({"key": n.key, "recipient": n.recipient, "pid": os.getpid()}) + "\n"
            for n in batch
        )
        with open(self.path, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(text)
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
        return [DeliveryResult.delivered(n.key) for n in batch]


def relay_until_drained(db: str, sent: str, go: str, writer_done: str) -> None:
    """Child: run a relay (2-minute lease) until the writer is done and nothing is pending."""
    store = SQLiteStore(db)
    relay = Relay(store, LockedLines(sent), SystemClock(), RetryPolicy(lease=timedelta(minutes=2)))
    wait_for(Path(go))
    while True:
        finished = Path(writer_done).exists()
        report = relay.deliver(batch_size=7)
        if finished and report.pending == 0:
            break
        if report.attempted == 0:
            time.sleep(0.001)


def enqueue_while_relays_run(db: str, go: str, writer_done: str, rounds: str) -> None:
    """Child: enqueue ``rounds`` batches of 10 notifications, one transaction each."""
    store = SQLiteStore(db)
    wait_for(Path(go))
    for batch in range(int(rounds)):
        with store.transaction() as tx:
            tx.enqueue(outbox_batch(f"w{batch}", 10), datetime.now(UTC))
    Path(writer_done).touch()


def outbox_batch(prefix: str, size: int) -> list[Notification]:
    """``size`` notifications keyed ``prefix-<n>``, spread over 7 recipients."""
    return [
        Notification(
            key=f"{prefix}-{n:03d}",
            recipient=f"team-{n % 7}",
            recipient_kind="team",
            topic="handoff",
            incident_id="INC-1",
            subject="Handed off",
            body=f"Notification {prefix}-{n}",
            created_at=T0,
        )
        for n in range(size)
    ]


def test_scenario_15_two_relays_never_double_send_or_skip(tmp_path: Path) -> None:
    """Two relay processes draining one outbox while a writer adds more send each key once."""
    db, sent = tmp_path / "desk.db", tmp_path / "sent.jsonl"
    go, done = tmp_path / "go", tmp_path / "writer-done"
    store = SQLiteStore(db)
    with store.transaction() as tx:
        tx.enqueue(outbox_batch("p", 300), datetime.now(UTC))
    commands = [
        child("relay_until_drained", db, sent, go, done),
        child("relay_until_drained", db, sent, go, done),
        child("enqueue_while_relays_run", db, go, done, 20),
    ]
    processes = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for cmd in commands
    ]
    try:
        go.touch()
        for process in processes:
            _, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
        lines = sent_lines(sent)
        keys = Counter(line["key"] for line in lines)
        wanted = {n.key for n in outbox_batch("p", 300)}
        wanted |= {n.key for b in range(20) for n in outbox_batch(f"w{b}", 10)}
        assert set(keys) == wanted  # none skipped
        assert set(keys.values()) == {1}  # none sent twice
        order: defaultdict[str, list[str]] = defaultdict(list)
        for line in lines:
            order[line["recipient"]].append(line["key"])
        with store.transaction() as tx:
            seq = {key: tx.outbox_entry(key).seq for key in wanted}  # type: ignore[union-attr]
            stats = tx.outbox_stats()
        for recipient, sent_keys in order.items():  # per-recipient FIFO held across processes
            assert sent_keys == sorted(sent_keys, key=seq.__getitem__), recipient
        assert (stats.pending, stats.delivered, stats.dead) == (0, 500, 0)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        store.close()


# -- scenario 20: input limits and safe decoding -----------------------------------------------


def dump(db: Path) -> list[str]:
    """Every row of the database, as SQL text."""
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def signal(**changes: Any) -> AlertSignal:
    fields: dict[str, Any] = {
        "fingerprint": "fp-1",
        "product": "support",
        "kind": "latency",
        "summary": "p99 above 2 s",
        "observed_at": T0,
        "region": "eu",
    }
    return AlertSignal(**(fields | changes))


REFUSED: dict[str, tuple[str, Callable[[IncidentDesk, str], object]]] = {
    "fingerprint of 256 characters": (
        "fingerprint",
        lambda desk, _: desk.receive_alert(signal(fingerprint="f" * 256)),
    ),
    "summary of 1,025 characters": (
        "summary",
        lambda desk, _: desk.receive_alert(signal(summary="s" * 1_025)),
    ),
    "65 labels": (
        "labels",
        lambda desk, _: desk.receive_alert(signal(labels={f"l{n}": "v" for n in range(65)})),
    ),
    "a nested label value": (
        "labels",
        lambda desk, _: desk.receive_alert(signal(labels={"deep": {"deeper": {"x": "y"}}})),
    ),
    "a fingerprint that is a number": (
        "fingerprint",
        lambda desk, _: desk.receive_alert(signal(fingerprint=42)),
    ),
    "a batch with one item that is not a signal": (
        "signals",
        lambda desk, _: desk.receive_alerts([signal(), {"fingerprint": "fp-2"}]),  # type: ignore[list-item]
    ),
    "an update body of 10,001 characters": (
        "body",
        lambda desk, incident: desk.post_update(incident, OWNER, "b" * 10_001, "public"),
    ),
    "an unknown visibility": (
        "visibility",
        lambda desk, incident: desk.post_update(incident, OWNER, "fine", "everyone"),
    ),
    "a title of 201 characters": (
        "title",
        lambda desk, _: desk.declare_incident(
            OWNER, title="t" * 201, product="support", severity="SEV2"
        ),
    ),
    "a product nobody owns": (
        "product",
        lambda desk, _: desk.declare_incident(
            OWNER, title="Down", product="unknown", severity="SEV2"
        ),
    ),
    "a resolution of 10,001 characters": (
        "resolution",
        lambda desk, incident: desk.resolve_incident(incident, OWNER, "r" * 10_001),
    ),
    "a report summary of 10,001 characters": (
        "summary",
        lambda desk, _: CustomerReport(
            ticket_id="T-9",
            account_id="acct-9",
            product="support",
            symptom="slow",
            summary="s" * 10_001,
            reported_at=T0,
        ),
    ),
}


Busy = tuple[IncidentDesk, str, Path]


@pytest.fixture
def busy_desk(tmp_path: Path) -> Iterator[Busy]:
    """A desk on a database file holding an open incident with linked tickets and an alert."""
    store = SQLiteStore(tmp_path / "desk.db")
    desk = make_desk(store, RecordingNotifier(), FakeClock(T0))
    incident_id = declare_with_tickets(desk, 3)
    desk.receive_alert(signal(fingerprint="fp-0"))
    desk.post_update(incident_id, OWNER, "Looking.", "public")
    yield desk, incident_id, tmp_path / "desk.db"
    store.close()


@pytest.mark.parametrize("case", list(REFUSED))
def test_scenario_20_invalid_input_is_refused_naming_the_field(busy_desk: Busy, case: str) -> None:
    """Oversized or ill-typed input raises ``InvalidInput`` naming the field; nothing is written."""
    desk, incident_id, db = busy_desk
    field, command = REFUSED[case]
    before = dump(db)
    with pytest.raises(InvalidInput) as caught:
        command(desk, incident_id)
    assert caught.value.field == field
    assert dump(db) == before


def test_scenario_20_a_10_mb_summary_is_refused_at_once(busy_desk: Busy) -> None:
    """A 10 MB summary is refused by its length, before any work on its content."""
    desk, incident_id, db = busy_desk
    huge = "x" * 10_000_000
    before = dump(db)
    started = time.perf_counter()
    with pytest.raises(InvalidInput) as alert_error:
        signal(summary=huge)
    with pytest.raises(InvalidInput) as update_error:
        desk.post_update(incident_id, OWNER, huge, "public")
    elapsed = time.perf_counter() - started
    assert (alert_error.value.field, update_error.value.field) == ("summary", "body")
    assert huge[:50] not in str(alert_error.value)  # the message does not echo the input
    assert elapsed < 0.5  # generous: two length checks (the anchor asks for < 50 ms each)
    assert dump(db) == before


def test_scenario_20_tampered_rows_raise_typed_decode_errors(busy_desk: Busy) -> None:
    """Unknown states, newer formats and pickle bytes in the file come out as ``DecodeError``."""
    desk, incident_id, db = busy_desk

    def tamper(sql: str, *params: object) -> None:
        conn = sqlite3.connect(db, isolation_level=None)
        try:
            conn.execute(sql, params)
        finally:
            conn.close()

    tamper("UPDATE incidents SET data = json_set(data, '$.status', 'on-fire')")
    with pytest.raises(DecodeError):
        desk.incident(incident_id)
    tamper("UPDATE incidents SET data = json_set(data, '$.status', 'investigating', '$.v', 2)")
    with pytest.raises(DecodeError, match="newer"):
        desk.open_incidents()
    tamper("UPDATE incidents SET data = ?", b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94.")
    with pytest.raises(DecodeError, match="binary"):
        desk.incident(incident_id)
    tamper("UPDATE alerts SET status = 'on-fire'")
    with pytest.raises(DecodeError):
        desk.alert("ALR-1")
    tamper("UPDATE reports SET status = 'lost'")
    with pytest.raises(DecodeError):
        desk.report("T-0")


def test_scenario_20_a_database_from_a_future_schema_is_refused(busy_desk: Busy) -> None:
    """A file whose schema version is newer than the library's is refused on open."""
    desk, _, db = busy_desk
    desk.store.close()
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION + 5,)
        )
    finally:
        conn.close()
    with pytest.raises(StoreError, match="newer"):
        SQLiteStore(db)


FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill"}
FORBIDDEN_CALLS = {"eval", "exec"}


def _unsafe_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        found += [f"import {n}" for n in names if n.split(".")[0] in FORBIDDEN_MODULES]
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in FORBIDDEN_CALLS or name in {"__import__"}:
                found.append(f"{name}() at line {node.lineno}")
    return [f"{path.name}: {use}" for use in found]


def test_scenario_20_the_library_never_uses_pickle_marshal_shelve_or_eval() -> None:
    """A static scan of the package finds no pickle, marshal, shelve, ``eval`` or ``exec``."""
    package = Path(incident_lifecycle.__file__).parent
    sources = sorted(package.rglob("*.py"))
    assert len(sources) > 20
    uses = [use for path in sources for use in _unsafe_uses(path)]
    assert uses == []
    text = "\n".join(path.read_text(encoding="utf-8") for path in sources)
    assert "eval(" not in text.replace("literal_eval(", "")


CHILDREN: dict[str, Callable[..., None]] = {
    "commit_then_crash": commit_then_crash,
    "send_then_crash": send_then_crash,
    "post_updates": post_updates,
    "relay_until_drained": relay_until_drained,
    "enqueue_while_relays_run": enqueue_while_relays_run,
}
"""What a child process may run, by name (see :func:`child`)."""
