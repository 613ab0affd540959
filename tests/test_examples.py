"""The examples a newcomer runs: the quickstart is one script that runs, twice in a row,
exactly as docs/quickstart.md shows it; the docs cite only files that exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "quickstart.py"
EXPECTED = [
    "to support-eng: Please validate potential incident INC-1 (support)",
    "to ZD-1001: Your request is part of a known service incident",
    "to ZD-1001: Update on service incident INC-1: investigating",
    "linked to INC-1: score 4.5 >= threshold 3",
    "['IncidentDetected', 'IncidentValidated', 'ReportTriaged', 'TicketLinked', 'UpdatePosted']",
]


def test_the_quickstart_page_shows_the_whole_script() -> None:
    """docs/quickstart.md's one Python block is examples/quickstart.py, character for
    character, and its printed output is the script's."""
    page = (ROOT / "docs" / "quickstart.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"^```python\n(.*?)^```", page, re.DOTALL | re.MULTILINE)
    assert block == SCRIPT.read_text(encoding="utf-8")
    (shown,) = re.findall(r"^```text\n(.*?)^```", page, re.DOTALL | re.MULTILINE)
    assert shown.splitlines() == EXPECTED


def test_the_quickstart_script_runs_twice_in_a_fresh_directory(tmp_path: Path) -> None:
    """``python examples/quickstart.py`` prints what the page says, and again on a second run
    in the same directory (it starts from a fresh database)."""
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, str(SCRIPT)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == EXPECTED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quickstart.db"]


CITED = re.compile(
    r"`((?:tests|src|examples|docs|benchmarks|reference|\.ci)/[A-Za-z0-9_./-]+)"
    r"(?:::[A-Za-z0-9_:\[\]-]*)?`"
)


def test_the_docs_cite_only_files_of_the_repository() -> None:
    """Every path the README and docs/ cite in backticks (``tests/test_x.py::test``,
    ``examples/...``) is a file or folder of the repository."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = [
        f"{page.name}: {match.group(1)}"
        for page in pages
        for match in CITED.finditer(page.read_text(encoding="utf-8"))
        if not (ROOT / match.group(1).rstrip("/.")).exists()
    ]
    assert missing == []
