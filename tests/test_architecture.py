"""The layers point inward: the domain pulls in nothing but the standard library and attrs."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import incident_lifecycle

PACKAGE = Path(incident_lifecycle.__file__).parent
FORBIDDEN_IN_DOMAIN = (
    "statemachine",
    "sqlite3",
    "hypothesis",
    "pytest",
    "incident_lifecycle.lifecycle",
)


def _modules_after_import(module: str) -> set[str]:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return set(json.loads(out))


def test_domain_imports_no_engine_driver_or_test_tool() -> None:
    """A fresh interpreter importing the domain loads no statemachine, sqlite3 or hypothesis."""
    loaded = _modules_after_import("incident_lifecycle.domain")
    offenders = sorted(
        name
        for name in loaded
        for bad in FORBIDDEN_IN_DOMAIN
        if name == bad or name.startswith(bad + ".")
    )
    assert offenders == []


def test_package_import_does_not_load_test_tools() -> None:
    """Importing the public package does not drag in hypothesis or pytest."""
    loaded = _modules_after_import("incident_lifecycle")
    assert not {"hypothesis", "pytest"} & loaded


def _imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    package_parts = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package_parts[: len(package_parts) - node.level + 1])
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted((PACKAGE / "domain").glob("*.py")), ids=lambda p: p.name)
def test_domain_module_imports_only_stdlib_attrs_and_domain(path: Path) -> None:
    """Each domain module imports only the standard library, attrs and other domain modules."""
    allowed_roots = set(sys.stdlib_module_names) | {"attrs", "attr", "__future__"}
    for name in _imports_of(path):
        root = name.split(".")[0]
        if root == "incident_lifecycle":
            assert name.startswith("incident_lifecycle.domain"), f"{path.name} imports {name}"
        else:
            assert root in allowed_roots, f"{path.name} imports {name}"


def test_lifecycle_module_does_not_import_outer_layers() -> None:
    """The lifecycle module depends on the domain only, never on adapters, the desk or testing."""
    for name in _imports_of(PACKAGE / "lifecycle.py"):
        if name.startswith("incident_lifecycle."):
            assert name.startswith("incident_lifecycle.domain"), name
