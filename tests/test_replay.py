"""The replay format: the schema generated from the commands, ``parse_line`` and ``apply_line``.

Every op has two example lines here: ``MINIMAL`` (the schema's required fields
only) and ``FULL`` (every property the schema lists). Both must satisfy the
schema and apply on a desk prepared for them; removing any required field,
nested ones included, must be refused.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_lifecycle import InvalidInput
from incident_lifecycle.adapters import InMemoryStore, RecordingNotifier
from incident_lifecycle.commands import COMMANDS
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.domain.errors import IncidentLifecycleError
from incident_lifecycle.replay import (
    OPS,
    ReplayError,
    apply_line,
    generate_schema,
    parse_line,
    schema,
    schema_text,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "replay.jsonl"
SCHEMA = schema()
BY_OP: dict[str, dict[str, Any]] = {
    branch["properties"]["op"]["const"]: branch for branch in SCHEMA["oneOf"]
}
T0 = datetime(2026, 6, 9, 9, 0, tzinfo=UTC)

ANA = {"name": "ana", "role": "engineering", "team": "support-eng"}
CHEN = {"name": "chen", "role": "engineering", "team": "chat-eng"}
SAM = {"name": "sam", "role": "support", "team": "tier1"}
MONITOR = {"name": "noc", "role": "monitoring"}
AT = "2026-06-09T10:00:00Z"
SIGNAL = {
    "fingerprint": "support-latency-app07",
    "product": "support",
    "kind": "latency",
    "summary": "p99 latency 2.2 s on app07",
    "observed_at": AT,
}
REPORT = {
    "ticket_id": "ZD-77",
    "account_id": "acct-77",
    "product": "guide",
    "symptom": "other",
    "summary": "How do I add a logo to my help centre?",
    "reported_at": AT,
}

MINIMAL: dict[str, dict[str, Any]] = {
    "own": {"op": "own", "product": "talk", "team": "talk-eng"},
    "alert": {"op": "alert", **SIGNAL},
    "alerts": {"op": "alerts", "signals": [SIGNAL]},
    "clear": {"op": "clear", "fingerprint": "support-latency-app01"},
    "clear_alerts": {"op": "clear_alerts", "fingerprints": ["support-latency-app01"]},
    "acknowledge": {"op": "acknowledge", "incident": "INC-1", "by": ANA},
    "validate": {"op": "validate", "incident": "INC-1", "by": ANA},
    "dismiss": {"op": "dismiss", "incident": "INC-1", "reason": "A load test", "by": ANA},
    "declare": {
        "op": "declare",
        "title": "Views fail to load",
        "product": "support",
        "severity": "SEV2",
        "by": SAM,
    },
    "update": {"op": "update", "incident": "INC-2", "body": "Investigating.", "by": CHEN},
    "severity": {"op": "severity", "incident": "INC-2", "severity": "SEV1", "by": CHEN},
    "hand_off": {
        "op": "hand_off",
        "incident": "INC-2",
        "to_team": "platform-eng",
        "reason": "The CDN is platform's",
        "by": CHEN,
    },
    "resolve": {"op": "resolve", "incident": "INC-2", "resolution": "Fixed.", "by": CHEN},
    "reopen": {"op": "reopen", "incident": "INC-3", "reason": "It is back", "by": ANA},
    "merge": {"op": "merge", "incident": "INC-4", "into": "INC-2", "by": CHEN},
    "close": {
        "op": "close",
        "incident": "INC-3",
        "review": {"root_cause": "A bad config"},
        "by": ANA,
    },
    "detach": {"op": "detach", "alert": "ALR-2", "by": ANA},
    "report": {"op": "report", "report": REPORT, "by": SAM},
    "resolve_report": {"op": "resolve_report", "ticket": "T-1", "note": "Answered", "by": SAM},
    "transfer_report": {
        "op": "transfer_report",
        "ticket": "T-1",
        "to_team": "guide-eng",
        "reason": "Needs an engineer",
        "by": SAM,
    },
    "link": {"op": "link", "ticket": "T-1", "incident": "INC-2", "by": SAM},
    "unlink": {"op": "unlink", "ticket": "T-2", "by": SAM},
    "reports": {"op": "reports", "reports": [REPORT | {"ticket_id": "ZD-78"}], "by": SAM},
    "remind": {"op": "remind"},
    "escalate": {"op": "escalate"},
    "redrive": {"op": "redrive"},
    "deliver": {"op": "deliver"},
}
"""Per op, a line with exactly the schema's required fields, valid on ``prepared_desk()``."""

_OPTIONAL: dict[str, dict[str, Any]] = {
    "own": {},
    "alert": {
        "region": "pod17",
        "labels": {"host": "app07"},
        "started_at": "2026-03-02T08:58:00+00:00",
        "severity_hint": "SEV2",
        "description": "p99 latency of the views API is above 2 s on pod 17.",
        "links": {"runbook": "https://runbooks.example.com/support/latency"},
        "dedup_key": "support-latency-app01",
        "source_group": '{}:{alertname="SupportLatency"}',
        "by": MONITOR,
    },
    "alerts": {"by": MONITOR},
    "clear": {"by": MONITOR},
    "clear_alerts": {"by": MONITOR},
    "acknowledge": {},
    "validate": {"severity": "SEV1", "title": "Support pages slow in pod 17"},
    "dismiss": {},
    "declare": {"region": "pod17"},
    "update": {"visibility": "public", "status": "identified"},
    "severity": {"reason": "More customers affected"},
    "hand_off": {},
    "resolve": {},
    "reopen": {},
    "merge": {},
    "close": {
        "review": {
            "root_cause": "A bad config",
            "impact": "Agents waited 10 s per page for 20 minutes.",
            "remediation": [
                {"description": "Lint configs", "owner_team": "support-eng", "due": "2026-07-01"}
            ],
        }
    },
    "detach": {"into": "INC-5"},
    "report": {
        "report": REPORT | {"region": "pod3", "channel": "chat", "locale": "fr-CA"},
        "decision": {
            "outcome": "link_existing",
            "incident": "INC-2",
            "severity": "SEV2",
            "reasons": ["the agent knows"],
        },
    },
    "resolve_report": {},
    "transfer_report": {},
    "link": {},
    "unlink": {"reason": "Wrong incident"},
    "reports": {},
    "remind": {"by": MONITOR},
    "escalate": {"by": MONITOR},
    "redrive": {"keys": ["INC-2/declared"], "by": MONITOR},
    "deliver": {"batch_size": 10, "max_batches": 3},
}
FULL: dict[str, dict[str, Any]] = {
    op: MINIMAL[op] | {"at": AT} | extra for op, extra in _OPTIONAL.items()
}
"""Per op, a line with every property the schema lists, valid on ``prepared_desk()``."""


class Clock:
    """The replay clock of the command line: it follows "at" and never goes back."""

    def __init__(self) -> None:
        self.time = datetime.fromisoformat(AT)  # reports are stamped at AT: not from the future

    def now(self) -> datetime:
        return self.time

    def set(self, when: datetime) -> None:
        self.time = max(self.time, when.astimezone(UTC))


def prepared_desk() -> IncidentDesk:
    """A desk where every example line applies.

    INC-1 is potential (alerts ALR-1, ALR-2), INC-2 open (chat), INC-3
    resolved (support), INC-4 open (chat, to merge), INC-5 potential (talk);
    T-1 is in troubleshooting and T-2 linked to INC-2.
    """
    clock = Clock()
    desk = IncidentDesk(
        store=InMemoryStore(),
        notifier=RecordingNotifier(),
        ownership={"support": "support-eng", "chat": "chat-eng", "guide": "guide-eng"},
        clock=clock,
    )
    lines: list[dict[str, Any]] = [
        {"op": "own", "product": "talk", "team": "support-eng"},
        {
            "op": "alerts",
            "signals": [
                SIGNAL
                | {"fingerprint": f"support-latency-app0{n}", "region": "pod17"}
                | {"severity_hint": f"SEV{n + 1}"}  # validating INC-1 without a severity: SEV2
                for n in (1, 2)
            ],
        },
        {"op": "declare", "title": "Chat down", "product": "chat", "severity": "SEV2", "by": SAM},
        {"op": "declare", "title": "Slow", "product": "support", "severity": "SEV3", "by": SAM},
        {"op": "resolve", "incident": "INC-3", "resolution": "Gone", "by": ANA},
        {"op": "declare", "title": "Chat slow", "product": "chat", "severity": "SEV3", "by": SAM},
        {"op": "alert", **SIGNAL, "fingerprint": "talk-errors", "product": "talk"},
        {"op": "report", "report": REPORT | {"ticket_id": "T-1"}, "by": SAM},
        {
            "op": "report",
            "report": REPORT | {"ticket_id": "T-2", "product": "chat"},
            "decision": {"outcome": "link_existing", "incident": "INC-2"},
            "by": SAM,
        },
    ]
    for line in lines:
        apply_line(desk, line, clock.set)
    return desk


def state(desk: IncidentDesk) -> object:
    """What the example lines could change: ownership, timelines, reports, outbox.

    Not the clock: ``apply_line`` moves it to a line's ``at`` first (the command
    line puts it back when the line is refused).
    """
    timelines = [[e.name for e in desk.timeline(f"INC-{n}")] for n in range(1, 8)]
    reports = [desk.report(ticket) for ticket in ("T-1", "T-2", "ZD-77")]
    stats = desk.outbox_stats()
    return (
        dict(desk.ownership),
        timelines,
        [(r.status, r.incident_id) if r else None for r in reports],
        (stats.pending, stats.delivered, stats.dead),
    )


def apply(desk: IncidentDesk, line: dict[str, Any]) -> object:
    """Apply one line as the command line does: through ``parse_line`` and ``apply_line``."""
    clock = desk.clock
    assert isinstance(clock, Clock)
    command = parse_line(json.dumps(line))
    assert command is not None
    return apply_line(desk, command, clock.set)


# -- a small validator for the JSON Schema keywords the shipped schema uses ---------


def _type_ok(value: object, kind: str) -> bool:
    return {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "null": value is None,
    }[kind]


def violations(value: object, node: dict[str, Any], where: str = "$") -> Iterator[str]:
    """Where ``value`` breaks ``node`` (``type``, ``enum``, ``required``, ``format``, ...)."""
    if "oneOf" in node:
        matching = [b for b in node["oneOf"] if not list(violations(value, b, where))]
        if len(matching) != 1:
            yield f"{where}: matches {len(matching)} branches of oneOf"
        return
    kinds = node.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_type_ok(value, kind) for kind in kinds):
            yield f"{where}: not of type {kinds}"
            return
    if "const" in node and value != node["const"]:
        yield f"{where}: not {node['const']!r}"
    if "enum" in node and value not in node["enum"]:
        yield f"{where}: not one of {node['enum']}"
    if isinstance(value, str):
        if len(value) < node.get("minLength", 0) or len(value) > node.get("maxLength", 1 << 30):
            yield f"{where}: length out of range"
        if node.get("format") == "date-time":
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                parsed = None
            if parsed is None or parsed.tzinfo is None:
                yield f"{where}: not a date-time with an offset"
        if node.get("format") == "date":
            try:
                date.fromisoformat(value)
            except ValueError:
                yield f"{where}: not a date"
    if isinstance(value, dict):
        for name in node.get("required", ()):
            if name not in value:
                yield f"{where}: missing {name}"
        if len(value) > node.get("maxProperties", 1 << 30):
            yield f"{where}: too many properties"
        properties = node.get("properties", {})
        extra = node.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                yield from violations(item, properties[name], f"{where}.{name}")
            elif extra is False:
                yield f"{where}: unexpected {name}"
            elif isinstance(extra, dict):
                yield from violations(item, extra, f"{where}.{name}")
    if isinstance(value, list) and "items" in node:
        for index, item in enumerate(value):
            yield from violations(item, node["items"], f"{where}[{index}]")


def required_paths(value: object, node: dict[str, Any]) -> Iterator[tuple[str | int, ...]]:
    """The path of every field ``value`` holds because the schema requires it (nested too)."""
    if isinstance(value, dict):
        for name in node.get("required", ()):
            if name != "op":
                yield (name,)
        for name, item in value.items():
            child = node.get("properties", {}).get(name)
            if child is not None:
                for path in required_paths(item, child):
                    yield (name, *path)
    elif isinstance(value, list) and "items" in node:
        for index, item in enumerate(value):
            for path in required_paths(item, node["items"]):
                yield (index, *path)


def without(line: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    """A deep copy of ``line`` with the field at ``path`` removed."""
    copied = copy.deepcopy(line)
    parent: Any = copied
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return copied


# -- the schema and the OPS table -----------------------------------------------------


def test_schema_ops_are_the_ops_table() -> None:
    """Every op of the schema's oneOf is in OPS, and every op of OPS is in the schema, once."""
    titles = [branch["title"] for branch in SCHEMA["oneOf"]]
    assert sorted(titles) == sorted(BY_OP) == sorted(OPS)
    assert len(titles) == len(set(titles))
    assert set(MINIMAL) == set(FULL) == set(OPS)


def test_schema_is_the_file_shipped_in_the_package() -> None:
    """``schema()`` reads ``replay.schema.json`` from the package, a 2020-12 JSON Schema."""
    shipped = ROOT / "src" / "incident_lifecycle" / "replay.schema.json"
    assert schema() == json.loads(shipped.read_text(encoding="utf-8"))
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_shipped_schema_is_the_generated_one() -> None:
    """The shipped file is exactly what the command classes generate.

    After adding or changing a command, regenerate it with
    ``incident-lifecycle schema > src/incident_lifecycle/replay.schema.json``.
    """
    shipped = ROOT / "src" / "incident_lifecycle" / "replay.schema.json"
    assert shipped.read_text(encoding="utf-8") == schema_text()
    assert generate_schema() == SCHEMA


def test_ops_are_the_commands() -> None:
    """Every command is an op, under its class's ``op``; descriptions come from the docstrings."""
    assert dict(OPS) == dict(COMMANDS)
    for op, cls in COMMANDS.items():
        assert cls.op == op
        assert BY_OP[op]["description"] == (cls.__doc__ or "").strip().splitlines()[0]


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_op_accepts_an_optional_at(op: str) -> None:
    """Each op's branch requires ``op`` and allows an optional date-time ``at``."""
    branch = BY_OP[op]
    assert branch["type"] == "object"
    assert "op" in branch["required"]
    assert "at" not in branch["required"]
    assert branch["properties"]["at"]["format"] == "date-time"


@pytest.mark.parametrize("op", sorted(OPS))
def test_example_lines_match_the_schema(op: str) -> None:
    """The minimal line holds just the required fields, the full one every property; both valid."""
    branch = BY_OP[op]
    assert set(MINIMAL[op]) == set(branch["required"])
    assert set(FULL[op]) == set(branch["properties"])
    assert list(violations(MINIMAL[op], SCHEMA)) == []
    assert list(violations(FULL[op], SCHEMA)) == []


def test_the_examples_file_matches_the_schema() -> None:
    """Every command of examples/replay.jsonl satisfies the schema and parses."""
    commands = [parse_line(line) for line in EXAMPLE.read_text(encoding="utf-8").splitlines()]
    kept = [c for c in commands if c is not None]
    assert len(kept) > 20
    for command in kept:
        assert list(violations(command, SCHEMA)) == [], command


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("which", ["minimal", "full"])
def test_example_line_applies(op: str, which: str) -> None:
    """The op's minimal line (required fields suffice) and full line apply on a prepared desk."""
    line = (MINIMAL if which == "minimal" else FULL)[op]
    apply(prepared_desk(), line)


def _required_cases() -> Iterator[Any]:
    for op in sorted(OPS):
        for path in required_paths(FULL[op], BY_OP[op]):
            yield pytest.param(op, path, id=f"{op}-{'.'.join(map(str, path))}")


@pytest.mark.parametrize(("op", "path"), list(_required_cases()))
def test_missing_required_field_is_refused(op: str, path: tuple[str | int, ...]) -> None:
    """Without a field the schema requires, ``apply_line`` refuses the line and changes nothing."""
    desk = prepared_desk()
    before = state(desk)
    with pytest.raises((ReplayError, InvalidInput)) as info:
        apply(desk, without(FULL[op], path))
    assert "\n" not in str(info.value)
    assert state(desk) == before


def test_missing_field_names_the_field() -> None:
    """A missing top-level field is named in the refusal."""
    with pytest.raises(ReplayError, match=r"^missing field 'resolution'$"):
        apply(prepared_desk(), without(MINIMAL["resolve"], ("resolution",)))
    with pytest.raises(ReplayError, match=r"^missing field 'by' \(who runs the command\)$"):
        apply(prepared_desk(), without(MINIMAL["resolve"], ("by",)))


# -- properties ---------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=6)
SHARED_DESK = prepared_desk()


@given(op=JSON_VALUES.filter(lambda v: not (isinstance(v, str) and v in OPS)), fields=FIELDS)
def test_unknown_op_is_refused(op: object, fields: dict[str, Any]) -> None:
    """A JSON object whose op is missing or not in OPS is refused with ReplayError, naming it."""
    line = fields | {"op": op}
    with pytest.raises(ReplayError, match=r"^unknown op .*\(one of: acknowledge, "):
        parse_line(json.dumps(line))
    fields.pop("op", None)
    with pytest.raises(ReplayError, match=r"^unknown op None "):
        parse_line(json.dumps(fields))


@given(st.text(max_size=60) | st.binary(max_size=60).map(lambda b: b.decode("latin-1")))
def test_junk_is_refused_or_skipped(text: str) -> None:
    """Any text is a comment, a blank line, a command object, or refused with ReplayError."""
    try:
        command = parse_line(text)
    except ReplayError as error:
        message = str(error)
    else:
        message = ""
    assert "\n" not in message
    if message:
        return
    stripped = text.strip()
    if command is None:
        assert not stripped or stripped.startswith("#")
    else:
        assert command["op"] in OPS


@given(JSON_VALUES.filter(lambda v: not isinstance(v, dict)))
def test_json_that_is_not_an_object_is_refused(value: object) -> None:
    """A line holding JSON other than an object is refused with ReplayError."""
    with pytest.raises(ReplayError, match=r"^each line must be a JSON object$"):
        parse_line(json.dumps(value))


@given(st.data())
def test_wrong_typed_required_field_is_a_replay_error(data: st.DataObject) -> None:
    """A required field holding JSON of the wrong type is refused with ReplayError."""
    op = data.draw(st.sampled_from(sorted(o for o in OPS if len(BY_OP[o]["required"]) > 1)))
    name = data.draw(st.sampled_from([f for f in BY_OP[op]["required"] if f != "op"]))
    kind = BY_OP[op]["properties"][name].get("type", "string")  # enums are strings here
    assert isinstance(kind, str)  # no required field may be null
    value = data.draw(JSON_VALUES.filter(lambda v: not _type_ok(v, kind)))
    line = MINIMAL[op] | {name: value}
    with pytest.raises(ReplayError):
        apply(SHARED_DESK, line)


@given(st.data())
def test_known_op_with_junk_fields_raises_only_library_errors(data: st.DataObject) -> None:
    """A known op whose fields hold random JSON is applied or refused with a library error only."""
    op = data.draw(st.sampled_from(sorted(OPS)))
    line = copy.deepcopy(FULL[op])
    names = sorted(name for name in line if name != "op")
    if names:
        for name in data.draw(st.sets(st.sampled_from(names), min_size=1)):
            line[name] = data.draw(JSON_VALUES, label=name)
    line |= data.draw(FIELDS, label="extra") | {"op": op}
    with contextlib.suppress(IncidentLifecycleError):
        apply(SHARED_DESK, line)


VALID_LINES = [
    *MINIMAL.values(),
    *FULL.values(),
    *(json.loads(line) for line in EXAMPLE.read_text("utf-8").splitlines() if line.startswith("{")),
]


@given(
    line=st.sampled_from(VALID_LINES),
    separators=st.sampled_from([(", ", ": "), (",", ":"), (" , ", " : ")]),
    margin=st.sampled_from(["", " ", "\t", "  "]),
    end=st.sampled_from(["", "\n", "\r\n"]),
    ascii_only=st.booleans(),
)
def test_parse_line_round_trips_valid_lines(
    line: dict[str, Any], separators: tuple[str, str], margin: str, end: str, ascii_only: bool
) -> None:
    """``parse_line`` of a dumped valid line gives the line back, whatever the spacing."""
    text = margin + json.dumps(line, separators=separators, ensure_ascii=ascii_only) + margin + end
    assert parse_line(text) == line


@pytest.mark.parametrize("text", ["", "\n", "   \t\n", "# a comment\n", "  # indented {}\n"])
def test_blank_lines_and_comments_are_skipped(text: str) -> None:
    """Blank lines and lines starting with ``#`` parse to ``None``."""
    assert parse_line(text) is None


# -- the docs' op table ---------------------------------------------------------------


def _doc_table() -> dict[str, tuple[list[str], list[str]]]:
    """The op table of docs/cli.md: op -> (required fields, optional fields)."""
    import re

    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    section = text.split("### Operations", 1)[1].split("###", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue

        def names(cell: str) -> list[str]:
            plain = re.sub(r"\([^)]*\)", "", cell)  # drop the notes in parentheses
            return re.findall(r"`([a-z_]+)`", plain)

        rows[cells[0].strip("`")] = (names(cells[1]), names(cells[2]))
    return rows


def test_the_docs_op_table_is_the_schema() -> None:
    """docs/cli.md lists every op once, with the schema's required and optional fields."""
    table = _doc_table()
    assert list(table) == list(COMMANDS)
    for op, (required, optional) in table.items():
        branch = BY_OP[op]
        assert set(required) == set(branch["required"]) - {"op"}, op
        assert set(optional) == set(branch["properties"]) - set(branch["required"]) - {"at"}, op
