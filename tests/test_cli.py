"""The command line: demo, replay, status, show, due, deliver, metrics and their exit codes.

Commands run in-process through ``incident_lifecycle.cli.main(argv, out=...)``;
a few run end to end in a fresh interpreter (``python -m incident_lifecycle``)
to check what a user sees: help, one line on stderr, never a traceback.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from incident_lifecycle.adapters.sqlite import SQLiteStore
from incident_lifecycle.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "replay.jsonl"
EXAMPLE_COMMANDS = sum(
    1
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.lstrip().startswith("#")
)

ANA = {"name": "ana", "role": "engineering", "team": "support-eng"}
CHEN = {"name": "chen", "role": "engineering", "team": "chat-eng"}
SAM = {"name": "sam", "role": "support", "team": "tier1"}
IRIS = {"name": "iris", "role": "incident_manager"}


def run(*argv: str | Path) -> tuple[int, str]:
    """Run the command line in-process; return the exit code and what it printed."""
    out = io.StringIO()
    code = main([str(arg) for arg in argv], out=out)
    return code, out.getvalue()


def run_json(*argv: str | Path) -> Any:
    """Run a command with ``--json``; it must succeed and print one JSON document."""
    code, text = run(*argv, "--json")
    assert code == 0
    return json.loads(text)


def err_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The lines written to stderr since the last call."""
    return capsys.readouterr().err.splitlines()


def write_lines(path: Path, *lines: object) -> Path:
    """Write a replay file: dicts are dumped as JSON, strings are written as they are."""
    text = "".join(
        (json.dumps(line) if isinstance(line, dict) else str(line)) + "\n" for line in lines
    )
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of ``db``, to compare before and after a command."""
    conn = sqlite3.connect(db)
    try:
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return {
            table: sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
            for table in sorted(tables)
        }
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database holding the replayed example (INC-1 closed, INC-2 dismissed, INC-3 open)."""
    path = tmp_path / "example.db"
    code, text = run("replay", EXAMPLE, "--db", path)
    assert code == 0, text
    return path


# -- the program --------------------------------------------------------------


def _help(command: list[str]) -> str:
    done = subprocess.run(
        [*command, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_module_prints_help() -> None:
    """``python -m incident_lifecycle --help`` lists every command and the exit codes."""
    text = _help([sys.executable, "-m", "incident_lifecycle"])
    assert text.startswith("usage: incident-lifecycle ")
    for name in ("demo", "replay", "status", "show", "due", "deliver", "metrics"):
        assert re.search(rf"^\s+{name}\s", text, re.MULTILINE)
    words = " ".join(text.split())  # however argparse wraps the epilog
    assert (
        "Exit codes: 0 done, 1 replay skipped bad lines, 2 usage, 3 refused, 4 database." in words
    )


def test_console_script_prints_help() -> None:
    """The installed ``incident-lifecycle`` console script answers ``--help``."""
    script = Path(sys.executable).with_name("incident-lifecycle")
    if not script.exists():
        pytest.skip("the package is not installed beside this interpreter")
    assert _help([str(script)]) == _help([sys.executable, "-m", "incident_lifecycle"])


def test_user_error_prints_one_line_and_no_traceback(db: Path, tmp_path: Path) -> None:
    """A refused command, run as a program, prints exactly one line on stderr and exits 3 or 4."""
    cases = [
        (["show", "INC-404", "--db", str(db)], 3, "No incident 'INC-404'"),
        (["status", "--db", str(tmp_path / "missing.db")], 4, "no database at"),
    ]
    for argv, code, message in cases:
        done = subprocess.run(
            [sys.executable, "-m", "incident_lifecycle", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == code
        assert done.stdout == ""
        lines = done.stderr.splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("incident-lifecycle: ")
        assert message in lines[0]
        assert "Traceback" not in done.stderr


def test_replay_reads_standard_input_end_to_end(tmp_path: Path) -> None:
    """``replay -`` applies the lines piped to it, and the database keeps them for ``status``."""
    db = tmp_path / "piped.db"
    done = subprocess.run(
        [sys.executable, "-m", "incident_lifecycle", "replay", "-", "--db", str(db)],
        input=EXAMPLE.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"replayed {EXAMPLE_COMMANDS} command(s), skipped 0 bad line(s)\n"
    assert [i["id"] for i in run_json("status", "--db", db)] == ["INC-3"]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown command or a missing argument is a usage error: exit code 2."""
    for argv in (["launch"], ["show"], ["replay"], []):
        with pytest.raises(SystemExit) as info:
            main(argv, out=io.StringIO())
        assert info.value.code == 2
    assert "usage: incident-lifecycle" in capsys.readouterr().err


# -- demo -----------------------------------------------------------------------


def test_demo_runs_the_whole_workflow(tmp_path: Path) -> None:
    """The demo tells the story end to end, closes INC-1 at SEV1 and delivers the outbox."""
    db = tmp_path / "demo.db"
    code, text = run("demo", "--db", db)
    assert code == 0
    for heading in ("Incidents", "What customers were sent", "Metrics"):
        assert f"\n{heading}\n" in text
    assert "INC-1 SEV1 closed: Support agent pages slow in pod 17" in text
    assert "0 dead-lettered, 0 pending" in text
    outbox = tmp_path / "demo-outbox.jsonl"
    topics = {json.loads(line)["topic"] for line in outbox.read_text("utf-8").splitlines()}
    assert {"ticket_linked", "status_update", "resolution"} <= topics
    assert run_json("status", "--db", db) == []


def test_demo_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    """Two demos with one seed print the same account (paths aside); another seed differs."""

    def account(name: str, seed: int) -> str:
        (tmp_path / name).mkdir()
        db = tmp_path / name / f"{name}.db"
        code, text = run("demo", "--db", db, "--seed", str(seed))
        assert code == 0
        return text.replace(str(db.with_name(f"{name}-outbox.jsonl")), "OUTBOX").replace(
            str(db), "DB"
        )

    first = account("first", 11)
    assert "seed 11" in first
    assert account("second", 11) == first
    assert account("third", 12) != first


def test_demo_runs_again_on_its_own_database(tmp_path: Path) -> None:
    """A demo database is replaced by the next demo run, which prints the same account."""
    db = tmp_path / "demo.db"
    assert run("demo", "--db", db, "--seed", "3") == run("demo", "--db", db, "--seed", "3")


def test_demo_refuses_to_overwrite_other_files(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo leaves a replayed database, another SQLite file or a text file as it is (exit 3)."""
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE mine (x)")
    conn.commit()
    conn.close()
    text = tmp_path / "notes.db"
    text.write_text("not a database", encoding="utf-8")
    before = (snapshot(db), text.read_bytes())
    for path in (db, foreign, text):
        capsys.readouterr()
        code, printed = run("demo", "--db", path)
        assert code == 3
        assert printed == ""
        assert err_lines(capsys) == [
            f"incident-lifecycle: {path} exists and is not a demo database; choose another --db"
        ]
    assert (snapshot(db), text.read_bytes()) == before
    assert list(snapshot(foreign)) == ["mine"]  # no table added, and not switched to WAL
    conn = sqlite3.connect(foreign)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()


# -- replay and what the other commands show of it --------------------------------


def test_replay_applies_every_line_of_the_example(tmp_path: Path) -> None:
    """Every command of examples/replay.jsonl is applied; comments and blank lines are skipped."""
    db = tmp_path / "example.db"
    code, text = run("replay", EXAMPLE, "--db", db)
    assert code == 0
    assert text == f"replayed {EXAMPLE_COMMANDS} command(s), skipped 0 bad line(s)\n"
    store = SQLiteStore(db)
    try:
        assert store.get_setting("ownership") == {
            "support": "support-eng",
            "chat": "chat-eng",
            "guide": "guide-eng",
        }
    finally:
        store.close()


def test_status_lists_the_open_incident(db: Path) -> None:
    """``status`` shows the open chat incident, not the closed or dismissed ones: table and JSON."""
    code, text = run("status", "--db", db)
    assert code == 0
    header, *rows = text.splitlines()
    assert header.split() == [
        "INCIDENT",
        "STATUS",
        "SEV",
        "PRODUCTS",
        "OWNER",
        "TICKETS",
        "AGE",
        "TITLE",
    ]
    assert len(rows) == 1
    assert rows[0].split()[:6] == ["INC-3", "investigating", "SEV2", "chat", "chat-eng", "2"]
    assert rows[0].endswith("Customers report unavailable on chat")
    (incident,) = run_json("status", "--db", db)
    assert incident["id"] == "INC-3"
    assert incident["status"] == "investigating"
    assert incident["severity"]["name"] == "SEV2"
    assert incident["linked_tickets"] == 2


def test_show_tells_the_whole_story_of_an_incident(db: Path) -> None:
    """``show`` gives the fields, the updates (internal marked) and the timeline: table and JSON."""
    code, text = run("show", "INC-1", "--db", db)
    assert code == 0
    fields = dict(line.split(None, 1) for line in text.split("\n\n")[0].splitlines())
    assert fields["status"] == "closed"
    assert fields["owner"] == "platform-eng"
    assert fields["severity"] == "SEV1"
    assert fields["resolved"] == "2026-06-09T10:05:00+00:00"
    assert "linked tickets  3" in text
    assert "internal investigating ana: DB primary at 95% CPU" in text
    for event in ("IncidentValidated", "IncidentHandedOff", "IncidentResolved", "IncidentClosed"):
        assert f" {event} " in text

    shown = run_json("show", "INC-1", "--db", db)
    incident = shown["incident"]
    assert incident["status"] == "closed"
    assert incident["acknowledged_at"] == "2026-06-09T09:03:00+00:00"
    assert incident["review"]["root_cause"].startswith("A schema change")
    assert [item["due"] for item in incident["review"]["remediation"]] == [
        "2026-06-30",
        "2026-06-23",
    ]
    assert shown["linked_tickets"] == ["ZD-5001", "ZD-5002", "ZD-5003"]
    assert [(u["visibility"], u["status"]) for u in shown["updates"]] == [
        ("public", "investigating"),
        ("internal", "investigating"),
        ("public", "identified"),
        ("public", "monitoring"),
    ]
    names = [event["type"].removeprefix("event:") for event in shown["timeline"]]
    assert names[0] == "IncidentDetected"
    assert names[-1] == "IncidentClosed"
    assert names.count("TicketLinked") == 3


def test_dismissed_blip_and_troubleshooting_are_recorded(db: Path) -> None:
    """The recovered Guide blip is dismissed, and the two troubleshot reports ended as replayed."""
    assert run_json("show", "INC-2", "--db", db)["incident"]["status"] == "dismissed"
    store = SQLiteStore(db)
    try:
        with store.transaction() as tx:
            resolved = tx.report("ZD-5004")
            transferred = tx.report("ZD-5005")
        assert resolved is not None
        assert transferred is not None
        assert (resolved.status.value, transferred.status.value) == ("solved", "transferred")
    finally:
        store.close()


def test_due_lists_the_overdue_update_and_reminds(db: Path, tmp_path: Path) -> None:
    """``due`` lists INC-3's late update; ``--remind`` enqueues a reminder; ``deliver`` sends it."""
    code, text = run("due", "--db", db)
    assert code == 0
    header, row = text.splitlines()
    assert header.split() == ["INCIDENT", "SEV", "OWNER", "UPDATE", "DUE", "AT", "OVERDUE"]
    assert row.split()[:6] == ["INC-3", "SEV2", "chat-eng", "regular", "2026-06-09", "09:55"]

    due = run_json("due", "--db", db)
    assert due["reminders_sent"] == 0
    (item,) = due["due"]
    assert item["incident_id"] == "INC-3"
    assert item["first"] is False
    assert item["due_at"] == "2026-06-09T09:55:00+00:00"
    assert item["overdue_seconds"] > 0

    assert run_json("due", "--remind", "--db", db)["reminders_sent"] == 1
    assert run_json("due", "--remind", "--db", db)["reminders_sent"] == 0
    to = tmp_path / "reminders.jsonl"
    delivered = run_json("deliver", "--to", to, "--db", db)
    assert (delivered["delivered"], delivered["pending"], delivered["to"]) == (1, 0, str(to))
    (sent,) = [json.loads(line) for line in to.read_text("utf-8").splitlines()]
    assert (sent["topic"], sent["recipient"], sent["incident_id"]) == (
        "update_reminder",
        "chat-eng",
        "INC-3",
    )


def test_deliver_line_drained_the_outbox(db: Path) -> None:
    """The replay's ``deliver`` line wrote every notification; no internal update reached anyone."""
    outbox = db.with_name("example-outbox.jsonl")
    sent = [json.loads(line) for line in outbox.read_text("utf-8").splitlines()]
    resolutions = sorted(n["recipient"] for n in sent if n["topic"] == "resolution")
    assert resolutions == ["ZD-5001", "ZD-5002", "ZD-5003"]
    assert {n["locale"] for n in sent if n["recipient"] == "ZD-5002"} == {"fr"}
    assert ("report_transferred", "guide-eng") in {(n["topic"], n["recipient"]) for n in sent}
    assert ("handoff", "platform-eng") in {(n["topic"], n["recipient"]) for n in sent}
    assert not any("DB primary" in n["body"] for n in sent)

    code, text = run("deliver", "--db", db)
    assert code == 0
    assert text.startswith("delivered 0 notification(s) in 0 batch(es) to ")
    assert run_json("deliver", "--db", db)["pending"] == 0


def test_metrics_reflect_the_replayed_times(db: Path) -> None:
    """``metrics`` gives counts, medians and p90 from the replay's own clock: table and JSON."""
    metrics = run_json("metrics", "--db", db)
    assert metrics["incidents"] == 3
    assert metrics["time_to_acknowledge"] == {
        "count": 1,
        "median_seconds": 180.0,
        "p90_seconds": 180.0,
    }
    assert metrics["time_to_validate"]["count"] == 2
    assert metrics["time_to_first_public_update"] == {
        "count": 2,
        "median_seconds": 330.0,
        "p90_seconds": 420.0,
    }
    assert metrics["time_to_resolve"] == {
        "count": 1,
        "median_seconds": 3900.0,
        "p90_seconds": 3900.0,
    }
    code, text = run("metrics", "--db", db)
    assert code == 0
    assert re.search(r"^time to resolve\s+1\s+1h05m\s+1h05m$", text, re.MULTILINE)
    assert text.endswith("(3 incident(s) detected in the period)\n")
    later = run_json("metrics", "--db", db, "--since", "2026-06-09T09:10:00+00:00")
    assert later["incidents"] == 1


# -- bad lines ----------------------------------------------------------------------

BAD_LINES = [
    pytest.param(
        '{"op": "launch"}', r"unknown op 'launch' \(one of: acknowledge, ", id="unknown-op"
    ),
    pytest.param('{"op": "own", "product": ', r"invalid JSON: ", id="invalid-json"),
    pytest.param("[1, 2, 3]", r"each line must be a JSON object", id="not-an-object"),
    pytest.param({"op": "own", "product": "talk"}, r"missing field 'team'", id="missing-field"),
    pytest.param(
        {"op": "acknowledge", "incident": 3, "by": ANA},
        r"field 'incident' must be str, not int",
        id="wrong-type",
    ),
    pytest.param(
        {"op": "update", "incident": "INC-3", "body": "x", "visibility": "secret", "by": CHEN},
        r"visibility: 'secret' is not one of: public, internal",
        id="wrong-value",
    ),
    pytest.param(
        {"op": "acknowledge", "incident": "INC-404", "by": ANA},
        r"No incident 'INC-404'\.",
        id="unknown-incident",
    ),
    pytest.param(
        {"op": "resolve", "incident": "INC-1", "resolution": "again", "by": IRIS},
        r"Can't resolve incident INC-1 while closed\.",
        id="invalid-transition",
    ),
    pytest.param(
        {"op": "update", "incident": "INC-3", "body": "Fixed soon", "by": SAM},
        r"sam \(support, tier1\) may not post a public update",
        id="not-permitted",
    ),
    pytest.param(
        {"op": "update", "at": "2026-06-11T09:00:00", "incident": "INC-3", "body": "x", "by": CHEN},
        r"at: '2026-06-11T09:00:00' has no offset",
        id="naive-at",
    ),
    pytest.param(
        b'{"op": "own", "product": "caf\xe9", "team": "x"}', r"not UTF-8 text", id="not-utf8"
    ),
    pytest.param(
        {"op": "own", "product": " ", "team": "talk-eng"},
        r"product: must not be empty",
        id="blank-owner",
    ),
    pytest.param(
        '{"op": "own", "product": "\\ud800", "team": "x"}',
        r"product: .*lone surrogates",
        id="surrogate",
    ),
    pytest.param("[" * 100_000, r"invalid JSON: nested too deeply", id="deep-nesting"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
def test_bad_line_is_reported_and_applies_nothing(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], line: object, reason: str
) -> None:
    """A bad line is reported with its file, line number and a one-line reason; nothing changes."""
    bad = tmp_path / "bad.jsonl"
    if isinstance(line, bytes):
        bad.write_bytes(line + b"\n")
    else:
        write_lines(bad, line)
    before = snapshot(db)
    capsys.readouterr()
    code, text = run("replay", bad, "--db", db)
    assert code == 3
    assert text == ""
    first, last = err_lines(capsys)
    assert re.fullmatch(rf"incident-lifecycle: {re.escape(str(bad))}:1: {reason}.*", first)
    assert last == "incident-lifecycle: stopped; 0 line(s) applied"
    assert snapshot(db) == before
    assert run_json("status", "--db", db)[0]["id"] == "INC-3"  # still readable


def _update(at: str, body: str) -> dict[str, object]:
    return {"op": "update", "at": at, "incident": "INC-3", "body": body, "by": CHEN}


def _bodies(db: Path) -> list[str]:
    return [u["body"] for u in run_json("show", "INC-3", "--db", db)["updates"]]


def test_bad_line_stops_the_replay_unless_keep_going(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad line stops the replay (exit 3); with ``--keep-going`` the rest is applied (exit 1)."""
    one = _update("2026-06-11T09:00:00Z", "One")
    three = _update("2026-06-11T09:30:00Z", "Three")
    path = write_lines(tmp_path / "three.jsonl", one, '{"op": "fly"}', three)
    capsys.readouterr()
    assert run("replay", path, "--db", db) == (3, "")
    stopped, summary = err_lines(capsys)
    assert stopped.startswith(f"incident-lifecycle: {path}:2: unknown op 'fly' (one of: ")
    assert summary == "incident-lifecycle: stopped; 1 line(s) applied"
    assert _bodies(db)[-1] == "One"

    path = write_lines(tmp_path / "again.jsonl", "# a comment", "", '{"op": "fly"}', three)
    code, text = run("replay", path, "--db", db, "--keep-going")
    assert (code, text) == (1, "replayed 1 command(s), skipped 1 bad line(s)\n")
    (skipped,) = err_lines(capsys)
    assert skipped.startswith(f"incident-lifecycle: skipped {path}:3: unknown op 'fly'")
    assert _bodies(db)[-2:] == ["One", "Three"]


def test_a_refused_line_does_not_move_the_clock(db: Path, tmp_path: Path) -> None:
    """The "at" of a refused line is not kept: the next line runs at its own, earlier time."""
    refused = {"op": "acknowledge", "at": "2030-01-01T00:00:00Z", "incident": "INC-404", "by": ANA}
    path = write_lines(tmp_path / "clock.jsonl", refused, _update("2026-06-11T10:00:00Z", "Later"))
    assert run("replay", path, "--db", db, "--keep-going")[0] == 1
    update = run_json("show", "INC-3", "--db", db)["updates"][-1]
    assert (update["body"], update["posted_at"]) == ("Later", "2026-06-11T10:00:00+00:00")


def test_time_never_goes_back(db: Path, tmp_path: Path) -> None:
    """A line whose "at" is earlier than the replay clock runs at the clock's time."""
    path = write_lines(
        tmp_path / "clock.jsonl",
        _update("2026-06-11T10:00:00Z", "First"),
        _update("2026-06-11T09:00:00Z", "Second"),
    )
    assert run("replay", path, "--db", db)[0] == 0
    posted = [u["posted_at"] for u in run_json("show", "INC-3", "--db", db)["updates"][-2:]]
    assert posted == ["2026-06-11T10:00:00+00:00", "2026-06-11T10:00:00+00:00"]


def test_ownership_is_kept_in_the_database(db: Path, tmp_path: Path) -> None:
    """``own`` lines are kept in the database: a later replay opens incidents on those products."""
    declare = {
        "op": "declare",
        "at": "2026-06-12T08:00:00Z",
        "title": "Chat transcripts missing",
        "product": "chat",
        "severity": "SEV3",
        "by": SAM,
    }
    unowned = declare | {"product": "talk"}
    path = write_lines(tmp_path / "later.jsonl", declare, unowned)
    assert run("replay", path, "--db", db, "--keep-going")[0] == 1
    statuses = {i["id"]: i["owner_team"] for i in run_json("status", "--db", db)}
    assert statuses == {"INC-3": "chat-eng", "INC-4": "chat-eng"}
    path = write_lines(tmp_path / "own.jsonl", {"op": "own", "product": "talk", "team": "talk-eng"})
    assert run("replay", path, "--db", db)[0] == 0
    path = write_lines(tmp_path / "talk.jsonl", unowned)
    assert run("replay", path, "--db", db)[0] == 0
    assert run_json("show", "INC-5", "--db", db)["incident"]["owner_team"] == "talk-eng"


def test_missing_replay_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A replay file that cannot be read is refused in one line (exit 3)."""
    capsys.readouterr()
    code, _ = run("replay", tmp_path / "nowhere.jsonl", "--db", tmp_path / "x.db")
    assert code == 3
    (line,) = err_lines(capsys)
    assert line.startswith("incident-lifecycle: cannot read ")


def test_progress_is_shown_on_a_terminal_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A long replay counts lines on stderr when it is a terminal, and erases the counter."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    path = write_lines(tmp_path / "long.jsonl", *[{"op": "clear", "fingerprint": "none"}] * 2_100)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert run("replay", path, "--db", tmp_path / "tty.db") == (
        0,
        "replayed 2100 command(s), skipped 0 bad line(s)\n",
    )
    shown = terminal.getvalue()
    assert "\r1,000 lines..." in shown
    assert "\r2,000 lines..." in shown
    assert shown.endswith("\r" + " " * len("2,000 lines...") + "\r")
    monkeypatch.undo()
    capsys.readouterr()
    assert run("replay", path, "--db", tmp_path / "pipe.db")[0] == 0
    assert capsys.readouterr().err == ""


# -- the database ---------------------------------------------------------------------


def test_newer_schema_is_refused_with_exit_4(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database written by a newer schema is refused by every command, in one line (exit 4)."""
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    before = snapshot(db)
    capsys.readouterr()
    for argv in (
        ["status"],
        ["show", "INC-1"],
        ["due"],
        ["deliver"],
        ["metrics"],
        ["replay", str(EXAMPLE)],
    ):
        assert run(*argv, "--db", db) == (4, "")
        (line,) = err_lines(capsys)
        assert "newer incident_lifecycle (schema 99" in line
    assert snapshot(db) == before


def test_db_defaults_to_the_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``--db`` every command uses ``$INCIDENT_LIFECYCLE_DB``."""
    db = tmp_path / "from-env.db"
    monkeypatch.setenv("INCIDENT_LIFECYCLE_DB", str(db))
    monkeypatch.chdir(tmp_path)
    assert run("replay", EXAMPLE)[0] == 0
    assert db.exists()
    assert not (tmp_path / "incidents.db").exists()
    assert [i["id"] for i in run_json("status")] == ["INC-3"]
    assert run_json("show", "INC-1")["incident"]["status"] == "closed"
    assert run_json("metrics")["incidents"] == 3
    assert run_json("deliver")["to"] == str(tmp_path / "from-env-outbox.jsonl")


def test_schema_prints_the_generated_replay_schema() -> None:
    """``schema`` prints the replay line's JSON Schema: the shipped file, one branch per op."""
    from incident_lifecycle.commands import COMMANDS
    from incident_lifecycle.replay import schema

    out = io.StringIO()
    assert main(["schema"], out=out) == 0
    printed = json.loads(out.getvalue())
    assert printed == schema()
    assert [branch["title"] for branch in printed["oneOf"]] == list(COMMANDS)
