"""docs/desk.md names every public method of the desk."""

from __future__ import annotations

import inspect
from pathlib import Path

from incident_lifecycle import IncidentDesk

PAGE = Path(__file__).resolve().parents[1] / "docs" / "desk.md"


def test_every_public_desk_method_is_documented() -> None:
    """Each public method of IncidentDesk appears, as code, in docs/desk.md."""
    text = PAGE.read_text(encoding="utf-8")
    methods = [
        name
        for name, _ in inspect.getmembers(IncidentDesk, inspect.isfunction)
        if not name.startswith("_")
    ]
    missing = [name for name in methods if f"`{name}(" not in text]
    assert missing == []
