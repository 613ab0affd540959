"""The API reference: a page per public module, built by MkDocs with warnings as errors,
holding every name of every ``__all__``."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

import incident_lifecycle

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api"


def _public_modules() -> list[tuple[str, bool]]:
    """``(name, is_package)`` of every module with no private part in its name."""
    found = [("incident_lifecycle", True)]
    for info in pkgutil.walk_packages(incident_lifecycle.__path__, "incident_lifecycle."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            found.append((info.name, info.ispkg))
    return found


def _exported() -> list[str]:
    """``module.name`` for every name of every public module's ``__all__`` (dunders aside)."""
    out = []
    for name, _ in _public_modules():
        module = importlib.import_module(name)
        out += [f"{name}.{n}" for n in getattr(module, "__all__", ()) if not n.startswith("__")]
    return out


def test_every_public_module_has_its_page() -> None:
    """Each public module that declares ``__all__`` (packages aside: they re-export) has a
    page in docs/api/ that renders it, and the index links every page."""
    index = (API / "index.md").read_text(encoding="utf-8")
    for name, is_package in _public_modules():
        module = importlib.import_module(name)
        if is_package or not hasattr(module, "__all__"):
            continue
        short = name.removeprefix("incident_lifecycle.")
        page = API / f"{short}.md"
        assert page.is_file(), f"docs/api/{short}.md is missing"
        assert f"::: {name}\n" in page.read_text(encoding="utf-8")
        assert f"({short}.md)" in index, f"docs/api/index.md does not link {short}.md"


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The objects of the built site (mkdocstrings' ``objects.inv``)."""
    pytest.importorskip("mkdocs", reason="the docs extra (mkdocs, mkdocstrings) is not installed")
    site = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-4000:]
    data = (site / "objects.inv").read_bytes()
    body = zlib.decompress(data.split(b"\n", 4)[4]).decode("utf-8")
    return {line.split(" ")[0] for line in body.splitlines() if line}


def test_the_site_builds_with_warnings_as_errors_and_holds_every_exported_name(
    inventory: set[str],
) -> None:
    """``mkdocs build --strict`` succeeds, and every ``module.name`` of every ``__all__``
    is an object of the reference."""
    missing = [name for name in _exported() if name not in inventory]
    assert missing == []
