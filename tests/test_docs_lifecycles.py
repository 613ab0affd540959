"""docs/lifecycles.md shows the diagrams generated from the classes, and its examples run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from incident_lifecycle.lifecycle import ALERT_LIFECYCLE, INCIDENT_LIFECYCLE, REPORT_LIFECYCLE

PAGE = Path(__file__).parents[1] / "docs" / "lifecycles.md"
LIFECYCLES = [ALERT_LIFECYCLE, INCIDENT_LIFECYCLE, REPORT_LIFECYCLE]


def blocks(language: str) -> list[str]:
    fence = re.compile(rf"^```{language}\n(.*?)^```$", re.DOTALL | re.MULTILINE)
    return fence.findall(PAGE.read_text(encoding="utf-8"))


def test_diagrams_are_the_generated_ones():
    """After the whole flow, the mermaid blocks are exactly ``mermaid()`` of the alert,
    incident and report lifecycles."""
    expected = [lifecycle.mermaid() + "\n" for lifecycle in LIFECYCLES]
    assert blocks("mermaid")[1:] == expected, (
        "docs/lifecycles.md is out of date: paste ALERT_LIFECYCLE.mermaid(), "
        "INCIDENT_LIFECYCLE.mermaid() and REPORT_LIFECYCLE.mermaid() into its mermaid blocks"
    )


FLOW_STAGES = (
    "alert",
    "potential",
    "validation",
    "updates",
    "outbox",
    "outlets",
    "report",
    "triage",
    "dismissed",
    "troubleshooting",
    "resolved",
)


def test_the_whole_flow_comes_first_and_names_every_stage():
    """The first diagram is the whole flow: alert -> potential incident -> validation ->
    updates -> outbox -> outlets, and report -> triage, each stage a node, linked in order."""
    flow = blocks("mermaid")[0]
    assert flow.startswith("flowchart LR\n")
    for stage in FLOW_STAGES:
        assert re.search(rf"^    {stage}[\[{{(]", flow, re.MULTILINE), stage
    edges = re.findall(r"^    (\w+) -[-.]*>(?:\|[^|]*\|)? (\w+)$", flow, re.MULTILINE)
    linked = set(edges)
    for pair in [
        ("alert", "potential"),
        ("potential", "validation"),
        ("validation", "open"),
        ("open", "updates"),
        ("updates", "outbox"),
        ("outbox", "outlets"),
        ("report", "triage"),
        ("triage", "open"),
        ("triage", "troubleshooting"),
    ]:
        assert pair in linked, pair


@pytest.mark.parametrize("lifecycle", LIFECYCLES, ids=lambda lifecycle: lifecycle.kind)
def test_every_status_and_event_is_explained(lifecycle):
    """The prose names every status and every event of each lifecycle, as code."""
    text = PAGE.read_text(encoding="utf-8")
    missing = [name for name in (*lifecycle.statuses, *lifecycle.events) if f"`{name}`" not in text]
    assert missing == []


def test_python_examples_run(tmp_path, monkeypatch):
    """The page's python blocks run in order, in one fresh namespace, without raising."""
    examples = blocks("python")
    assert examples, "docs/lifecycles.md should show how to ask the table"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "docs_lifecycles"}
    for number, source in enumerate(examples, start=1):
        exec(compile(source, f"lifecycles.md#python{number}", "exec"), namespace)
