"""Latency of single commands: validate, post a public update, resolve."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.common import (
    START,
    Case,
    MakeStore,
    Run,
    Spec,
    measured,
    new_desk,
    stopwatch,
    timed_each,
)
from incident_lifecycle import Actor, AlertKind, AlertSignal, Role
from incident_lifecycle.desk import IncidentDesk

ENGINEER = Actor(name="ana", role=Role.ENGINEERING, team="support-eng")


COMMANDS = ("validate_incident", "post_update (public)", "resolve_incident")


def _calls(desk: IncidentDesk) -> list[Callable[[str], object]]:
    """The commands, in the order of ``COMMANDS``."""
    return [
        lambda i: desk.validate_incident(i, ENGINEER, "SEV2"),
        lambda i: desk.post_update(i, ENGINEER, "Investigating."),
        lambda i: desk.resolve_incident(i, ENGINEER, "Fixed."),
    ]


def reference_command(rounds: int) -> float:
    """A dict-of-dicts incident updated in place, with an event appended: a command's floor."""
    rows: dict[str, dict[str, Any]] = {
        f"INC-{n}": {"status": "detected", "version": 0, "events": []} for n in range(rounds)
    }

    def work() -> None:
        for key, row in rows.items():
            row["status"] = "investigating"
            row["version"] += 1
            row["events"].append((key, "validated", START))

    return stopwatch(work)


def bench_commands(make_store: MakeStore, rounds: int) -> list[Run]:
    """Each command once on each of ``rounds`` potential incidents, in order."""
    desk = new_desk(make_store())
    desk.receive_alerts(
        [
            AlertSignal(
                fingerprint=f"cmd-{n}",
                product="support",
                region=f"r{n}",
                kind=AlertKind.ERROR_RATE,
                summary="errors",
                observed_at=START,
            )
            for n in range(rounds)
        ]
    )
    ids = [i.id for i in desk.potential_incidents()]
    if len(ids) != rounds:
        raise AssertionError(f"{len(ids)} potential incidents, expected {rounds}")
    runs = []
    for command in _calls(desk):
        seconds, latencies = timed_each(ids, command)
        runs.append(measured(rounds, seconds, latencies, reference_command(rounds)))
    if desk.open_incidents() or desk.potential_incidents():
        raise AssertionError("the commands did not resolve every incident")
    return runs


def command_cases(backend: str, make_store: MakeStore, rounds: int) -> list[Case]:
    """The three command rows of ``backend``, measured together."""
    specs = tuple(Spec(name, backend, f"{rounds:,} commands", "commands") for name in COMMANDS)
    return [Case("commands", specs, lambda: bench_commands(make_store, rounds))]
