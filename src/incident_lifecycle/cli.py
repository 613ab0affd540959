"""The command line: ``incident-lifecycle`` (also ``python -m incident_lifecycle``).

Standard library ``argparse`` only. Every command works on a SQLite file
(``--db``, default ``$INCIDENT_LIFECYCLE_DB`` or ``incidents.db``). User errors
print one line on stderr, never a traceback. Exit codes:

- 0: done
- 1: a replay finished with ``--keep-going`` but skipped bad lines
- 2: the command line itself is wrong (usage)
- 3: a command was refused (bad input, unknown incident, not permitted, not
  allowed in this status), or a replay stopped at a bad line
- 4: the database cannot be used (written by a newer version, damaged, locked)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .adapters.notifiers import JsonLinesNotifier
from .adapters.sqlite import SQLiteStore
from .cadence import UpdateDue
from .cli_prometheus import prometheus_metrics
from .codec import encode
from .desk import IncidentDesk
from .domain.errors import IncidentLifecycleError, StoreError
from .domain.events import DomainEvent
from .domain.incidents import ServiceIncident
from .metrics import DurationStats, Metrics
from .notifications import one_line
from .replay import ReplayError, apply_line, parse_line, schema_text

__all__ = ["main"]

EXIT_OK, EXIT_SKIPPED, EXIT_USAGE, EXIT_REFUSED, EXIT_STORE = 0, 1, 2, 3, 4
FORMAT_HELP = "text (default), json (as --json) or prometheus (every incident, as /metrics)"
_ROUTINE = frozenset({"TicketLinked", "ReportTriaged", "AlertJoined"})


class _Clock:
    """The system clock, or the replay's own time once a line has set it (never backwards)."""

    def __init__(self) -> None:
        self.fixed: datetime | None = None

    def now(self) -> datetime:
        return self.fixed if self.fixed is not None else datetime.now(UTC)

    def set(self, when: datetime) -> None:
        when = when.astimezone(UTC)
        if self.fixed is None or when > self.fixed:
            self.fixed = when


class _Progress:
    """A one-line counter on a terminal, erased before any other message."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._width = 0

    def show(self, text: str) -> None:
        self._stream.write("\r" + text.ljust(self._width))
        self._stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        if self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0


def _default_db() -> str:
    return os.environ.get("INCIDENT_LIFECYCLE_DB", "incidents.db")


def _open(args: argparse.Namespace, clock: _Clock | None = None) -> IncidentDesk:
    store = SQLiteStore(args.db, create=getattr(args, "create", False))
    ownership = store.get_setting("ownership") or {}
    outbox = getattr(args, "outbox", None) or _outbox_path(args.db)
    return IncidentDesk(
        store=store,
        notifier=JsonLinesNotifier(outbox),
        ownership=ownership,
        clock=clock or _Clock(),
    )


def _outbox_path(db: str) -> Path:
    path = Path(db)
    return path.with_name(path.stem + "-outbox.jsonl")


def _age(since: datetime | None, now: datetime) -> str:
    if since is None:
        return "-"
    return _span(now - since)


def _span(delta: timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "-" + _span(-delta)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 48:
        return f"{hours // 24}d{hours % 24:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s"


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        out.write("  ".join(cells).rstrip() + "\n")


def _dump(value: object, out: TextIO) -> None:
    out.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


# -- commands -----------------------------------------------------------------


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    """Run the whole workflow on a fresh SQLite file and narrate it."""
    from .demo import incident_summary, run_demo

    db = Path(args.db)
    if db.exists():
        if not _is_demo(db):
            raise IncidentLifecycleError(
                f"{db} exists and is not a demo database; choose another --db"
            )
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    outbox = Path(args.outbox) if args.outbox else _outbox_path(str(db))
    outbox.unlink(missing_ok=True)
    out.write(f"incident_lifecycle demo (seed {args.seed}) on {db}\n\n")

    def say(line: str) -> None:
        out.write(line + "\n")

    facts = run_demo(db, outbox, args.seed, say)
    desk: IncidentDesk = facts["desk"]  # type: ignore[assignment]
    store = SQLiteStore(db)
    desk = IncidentDesk(
        store=store, notifier=desk.notifier, ownership=desk.ownership, clock=desk.clock
    )
    out.write("\nIncidents\n")
    with store.transaction() as tx:
        incidents = list(tx.incidents_detected_between(None, None))
    for incident in incidents:
        out.write(f"  {incident_summary(incident)}\n")
    for incident in incidents:
        if incident.status.value != "closed":
            continue
        out.write(f"\nTimeline of {incident.id} (abridged)\n")
        events = desk.timeline(incident.id)
        shown = [
            e for e in events if e.name not in {"TicketLinked", "ReportTriaged", "AlertJoined"}
        ]
        hidden = len(events) - len(shown)
        for event in shown[:14]:
            out.write(f"  {event.at:%m-%d %H:%M} {event.name:<22} by {event.actor.name}\n")
        if hidden:
            out.write(f"  ... and {hidden} ticket links, triage decisions and alert joins\n")
    out.write("\nWhat customers were sent\n")
    counts: dict[str, int] = {}
    samples: dict[str, str] = {}
    with outbox.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record["recipient_kind"] != "ticket":
                continue
            topic = f"{record['topic']} ({record['locale']})"
            counts[topic] = counts.get(topic, 0) + 1
            samples.setdefault(record["topic"], f"{record['subject']} | {record['body']}")
    for topic, count in sorted(counts.items()):
        out.write(f"  {count:>5}  {topic}\n")
    for topic, sample in sorted(samples.items()):
        out.write(f"  e.g. {topic}: {one_line(sample, 140)}\n")
    out.write("\nMetrics\n")
    _write_metrics(desk.metrics(), out)
    out.write(f"\nDatabase: {db}   Outbox: {outbox}\n")
    out.write(f"Try: incident-lifecycle status --db {db}\n")
    store.close()
    return EXIT_OK


def _is_demo(db: Path) -> bool:
    """Whether ``db`` is a demo database, read without creating or migrating anything in it."""
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT 1 FROM meta WHERE key = 'setting:demo'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:  # not a database, or not one of ours
        return False
    return row is not None


def cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    """Apply a JSON Lines file of commands (see docs/cli.md)."""
    clock = _Clock()
    args.create = True
    desk = _open(args, clock)
    store = desk.store
    assert isinstance(store, SQLiteStore)
    path = Path(args.file)
    try:
        # Bytes, decoded line by line: a line that is not UTF-8 is one bad line.
        handle = path.open("rb") if args.file != "-" else sys.stdin.buffer
    except OSError as error:
        raise IncidentLifecycleError(f"cannot read {args.file}: {error.strerror}") from None
    progress = _Progress(sys.stderr) if sys.stderr.isatty() else None
    applied = skipped = 0
    with handle:
        for number, raw in enumerate(handle, start=1):
            if progress is not None and number % 1000 == 0:
                progress.show(f"{number:,} lines...")
            before = clock.fixed
            try:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise ReplayError(
                        f"not UTF-8 text ({error.reason} at byte {error.start})"
                    ) from None
                command = parse_line(text)
                if command is None:
                    continue
                apply_line(desk, command, clock.set)
                if command["op"] == "own":
                    store.set_setting("ownership", desk.ownership)
                applied += 1
            except (ReplayError, IncidentLifecycleError) as error:
                if isinstance(error, StoreError) and not isinstance(error, ReplayError):
                    raise
                clock.fixed = before  # a refused line applies nothing, its "at" included
                if progress is not None:
                    progress.clear()
                message = f"{args.file}:{number}: {one_line(error, 300)}"
                if not args.keep_going:
                    sys.stderr.write(f"incident-lifecycle: {message}\n")
                    sys.stderr.write(f"incident-lifecycle: stopped; {applied} line(s) applied\n")
                    return EXIT_REFUSED
                sys.stderr.write(f"incident-lifecycle: skipped {message}\n")
                skipped += 1
    if progress is not None:
        progress.clear()
    out.write(f"replayed {applied} command(s), skipped {skipped} bad line(s)\n")
    return EXIT_SKIPPED if skipped else EXIT_OK


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    """Open and potential incidents."""
    desk = _open(args)
    incidents = [*desk.potential_incidents(), *desk.open_incidents()]
    tickets = {i.id: len(desk.linked_tickets(i.id)) for i in incidents}
    if args.json:
        _dump(
            [encode(i) | {"linked_tickets": tickets[i.id]} for i in incidents],
            out,
        )
        return EXIT_OK
    if not incidents:
        out.write("No open or potential incidents.\n")
        return EXIT_OK
    now = desk.clock.now()
    rows = [["INCIDENT", "STATUS", "SEV", "PRODUCTS", "OWNER", "TICKETS", "AGE", "TITLE"]]
    for i in incidents:
        rows.append(
            [
                i.id,
                i.status.value,
                i.severity.name if i.severity else "-",
                ",".join(i.products),
                i.owner_team,
                str(tickets[i.id]),
                _age(i.detected_at, now),
                one_line(i.title, 60),
            ]
        )
    _table(rows, out)
    return EXIT_OK


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    """One incident: its fields, updates and timeline."""
    desk = _open(args)
    incident = desk.incident(args.incident)
    timeline = desk.timeline(incident.id)
    updates = desk.updates(incident.id)
    tickets = desk.linked_tickets(incident.id)
    if args.json:
        _dump(
            {
                "incident": encode(incident),
                "linked_tickets": list(tickets),
                "updates": [encode(u) for u in updates],
                "timeline": [encode(e) for e in timeline],
            },
            out,
        )
        return EXIT_OK
    _write_incident(incident, len(tickets), out)
    if updates:
        out.write("\nUpdates\n")
        for update in updates:
            out.write(
                f"  {update.posted_at:%Y-%m-%d %H:%M} {update.visibility.value:<8} "
                f"{update.status.value:<13} {update.author.name}: {one_line(update.body, 80)}\n"
            )
    out.write("\nTimeline\n")
    for event in timeline:
        out.write(
            f"  {event.at:%Y-%m-%d %H:%M:%S} {event.name:<24} by {event.actor.name:<12} "
            f"{_event_detail(event)}\n"
        )
    return EXIT_OK


def _write_incident(incident: ServiceIncident, tickets: int, out: TextIO) -> None:
    rows = [
        ["id", incident.id],
        ["title", one_line(incident.title, 100)],
        ["status", incident.status.value],
        ["severity", incident.severity.name if incident.severity else "-"],
        ["products", ", ".join(incident.products)],
        ["region", incident.region or "-"],
        ["owner", incident.owner_team],
        ["linked tickets", str(tickets)],
    ]
    for name in (
        "detected_at",
        "acknowledged_at",
        "opened_at",
        "identified_at",
        "monitoring_at",
        "resolved_at",
        "closed_at",
    ):
        value = getattr(incident, name)
        if value is not None:
            rows.append([name.replace("_at", ""), value.isoformat()])
    _table(rows, out)


def _event_detail(event: DomainEvent) -> str:
    """The event's own fields, briefly (``ticket_id=ZD-1 outcome=link_existing``)."""
    parts = []
    for name, value in encode(event).items():
        if name in {"v", "type", "incident_id", "actor", "at"} or value in (None, "", [], 0):
            continue
        parts.append(f"{name}={value}")
    return one_line(" ".join(parts), 90)


def cmd_due(args: argparse.Namespace, out: TextIO) -> int:
    """Open incidents whose customer update is due, by how much; ``--remind`` notifies owners."""
    desk = _open(args)
    due: Sequence[UpdateDue] = desk.updates_due()
    reminded = desk.send_update_reminders() if args.remind else 0
    if args.json:
        _dump(
            {
                "due": [
                    {
                        "incident_id": d.incident_id,
                        "owner_team": d.owner_team,
                        "severity": d.severity,
                        "first": d.first,
                        "due_at": d.due_at.isoformat(),
                        "overdue_seconds": d.overdue.total_seconds(),
                    }
                    for d in due
                ],
                "reminders_sent": reminded,
            },
            out,
        )
        return EXIT_OK
    if not due:
        out.write("No update is due.\n")
    else:
        rows = [["INCIDENT", "SEV", "OWNER", "UPDATE", "DUE AT", "OVERDUE"]]
        for d in due:
            rows.append(
                [
                    d.incident_id,
                    d.severity,
                    d.owner_team,
                    "first" if d.first else "regular",
                    d.due_at.strftime("%Y-%m-%d %H:%M"),
                    _span(d.overdue),
                ]
            )
        _table(rows, out)
    if args.remind:
        out.write(f"{reminded} reminder(s) enqueued\n")
    return EXIT_OK


def cmd_deliver(args: argparse.Namespace, out: TextIO) -> int:
    """Drain the outbox to a JSON Lines file."""
    args.outbox = args.to
    desk = _open(args)
    report = desk.deliver(batch_size=args.batch_size)
    if args.json:
        _dump(
            {
                "batches": report.batches,
                "attempted": report.attempted,
                "delivered": report.delivered,
                "retried": report.retried,
                "dead_lettered": report.dead_lettered,
                "pending": report.pending,
                "next_due_at": report.next_due_at.isoformat() if report.next_due_at else None,
                "to": str(args.to or _outbox_path(args.db)),
            },
            out,
        )
        return EXIT_OK
    out.write(
        f"delivered {report.delivered} notification(s) in {report.batches} batch(es) to "
        f"{args.to or _outbox_path(args.db)}; {report.retried} to retry, "
        f"{report.dead_lettered} dead-lettered, {report.pending} pending\n"
    )
    return EXIT_OK


def _stats(stats: DurationStats) -> list[str]:
    return [str(stats.count), _span(stats.median), _span(stats.p90)]


def _write_metrics(metrics: Metrics, out: TextIO) -> None:
    rows = [["MEASURE", "COUNT", "MEDIAN", "P90"]]
    rows.append(["time to acknowledge", *_stats(metrics.time_to_acknowledge)])
    rows.append(["time to validate", *_stats(metrics.time_to_validate)])
    rows.append(["time to first public update", *_stats(metrics.time_to_first_public_update)])
    rows.append(["time to resolve", *_stats(metrics.time_to_resolve)])
    _table(rows, out)
    out.write(f"({metrics.incidents} incident(s) detected in the period)\n")


def cmd_metrics(args: argparse.Namespace, out: TextIO) -> int:
    """Response-time metrics: count, median, p90."""
    desk = _open(args)
    if args.format == "prometheus":
        return prometheus_metrics(args, desk, out)
    args.json = args.json or args.format == "json"
    since = datetime.fromisoformat(args.since) if args.since else None
    until = datetime.fromisoformat(args.until) if args.until else None
    metrics = desk.metrics(since, until)
    if args.json:

        def as_dict(stats: DurationStats) -> dict[str, Any]:
            return {
                "count": stats.count,
                "median_seconds": stats.median.total_seconds() if stats.median else None,
                "p90_seconds": stats.p90.total_seconds() if stats.p90 else None,
            }

        _dump(
            {
                "incidents": metrics.incidents,
                "time_to_acknowledge": as_dict(metrics.time_to_acknowledge),
                "time_to_validate": as_dict(metrics.time_to_validate),
                "time_to_first_public_update": as_dict(metrics.time_to_first_public_update),
                "time_to_resolve": as_dict(metrics.time_to_resolve),
            },
            out,
        )
        return EXIT_OK
    _write_metrics(metrics, out)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    """Serve the HTTP API (and the outbox relay) until SIGTERM; see docs/service.md."""
    from .web.serve import serve_command

    return serve_command(args.config, out, relay=args.relay, log_level=args.log_level)


def cmd_schema(args: argparse.Namespace, out: TextIO) -> int:
    """Print the JSON Schema of one replay line (generated from the commands)."""
    out.write(schema_text())
    return EXIT_OK


# -- wiring -------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="incident-lifecycle",
        description="Run the life of service incidents on an embedded SQLite database.",
        epilog="Exit codes: 0 done, 1 replay skipped bad lines, 2 usage, 3 refused, 4 database.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Callable[..., int], help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(handler=handler)
        command.add_argument("--db", default=_default_db(), help="the SQLite file")
        return command

    demo = add("demo", cmd_demo, "run the whole workflow on a fresh demo database")
    demo.set_defaults(db="incident-demo.db")
    demo.add_argument("--seed", type=int, default=7, help="the story's random seed")
    demo.add_argument("--outbox", help="where notifications are delivered (JSON Lines)")
    replay = add("replay", cmd_replay, "apply a JSON Lines file of commands ('-' for stdin)")
    replay.add_argument("file")
    replay.add_argument("--keep-going", action="store_true", help="skip bad lines")
    replay.add_argument("--outbox", help="where 'deliver' lines send notifications")
    for name, handler, text in (
        ("status", cmd_status, "list open and potential incidents"),
        ("metrics", cmd_metrics, "response-time metrics (count, median, p90)"),
    ):
        command = add(name, handler, text)
        command.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "metrics":
            command.add_argument("--since", help="ISO 8601 start (detected at or after)")
            command.add_argument("--until", help="ISO 8601 end (detected before)")
            formats = ("text", "json", "prometheus")  # prometheus: see cli_prometheus
            command.add_argument("--format", choices=formats, default="text", help=FORMAT_HELP)
    show = add("show", cmd_show, "show one incident: fields, updates, timeline")
    show.add_argument("incident")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    due = add("due", cmd_due, "list incidents whose customer update is due")
    due.add_argument("--remind", action="store_true", help="enqueue reminders to owner teams")
    due.add_argument("--json", action="store_true", help="machine-readable output")
    deliver = add("deliver", cmd_deliver, "drain the outbox to a JSON Lines file")
    deliver.add_argument("--to", help="the JSON Lines file (default: <db>-outbox.jsonl)")
    deliver.add_argument("--batch-size", type=int, default=100)
    deliver.add_argument("--json", action="store_true", help="machine-readable output")
    schema = sub.add_parser(
        "schema",
        help="print the JSON Schema of one replay line",
        description="Print the JSON Schema of one replay line, generated from the commands.",
    )
    schema.set_defaults(handler=cmd_schema)
    serve = sub.add_parser("serve", help="serve the HTTP API", description=cmd_serve.__doc__)
    serve.set_defaults(handler=cmd_serve)
    serve.add_argument("--config", required=True, help="the TOML configuration file")
    serve.add_argument(
        "--relay",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the outbox relay (default: the file's relay.enabled)",
    )
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; return the exit code."""
    stream = out if out is not None else sys.stdout
    args = _parser().parse_args(argv)
    try:
        code: int = args.handler(args, stream)
        return code
    except StoreError as error:
        sys.stderr.write(f"incident-lifecycle: {one_line(error, 300)}\n")
        return EXIT_STORE
    except IncidentLifecycleError as error:
        sys.stderr.write(f"incident-lifecycle: {one_line(error, 300)}\n")
        return EXIT_REFUSED
    except BrokenPipeError:  # e.g. `incident-lifecycle show INC-1 | head`
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (ValueError, OSError) as error:
        sys.stderr.write(f"incident-lifecycle: {one_line(error, 300)}\n")
        return EXIT_REFUSED
    except KeyboardInterrupt:
        sys.stderr.write("incident-lifecycle: interrupted\n")
        return 130
