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


# -- the import graph of the whole package ------------------------------------------


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolved_imports(path: Path) -> set[str]:
    """The package's own modules ``path`` imports (``from .x import y``: ``x.y`` if a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            submodules = [f"{module}.{alias.name}" for alias in node.names]
            targets = [t for t in submodules if t in MODULES]
            if len(targets) < len(submodules):  # some names are the module's own
                targets.append(module)
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


def _cycle() -> list[str] | None:
    graph = {name: _resolved_imports(path) for name, path in MODULES.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_no_import_cycle_anywhere() -> None:
    """No module of the package imports, directly or not, a module that imports it back.

    A package's ``__init__`` importing its own submodules is its front door, not a cycle:
    submodules are resolved to themselves, and a submodule never needs its package's
    ``__init__`` (``TYPE_CHECKING`` imports count too).
    """
    assert _cycle() is None


def _private_imports(path: Path) -> list[str]:
    """``from x import _name`` where ``_name`` is private to another module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    out.append(f"{node.module}.{alias.name}")
            module = node.module or ""
            private = [p for p in module.split(".") if p.startswith("_") and p != "__future__"]
            here = _module_name(path).split(".")
            if private and not (node.level == 1 and path.parent.name in here):
                # a private module is imported only by its own package's modules
                out.append(module)
    return out


@pytest.mark.parametrize("path", sorted(MODULES.values()), ids=lambda p: _module_name(p))
def test_no_module_imports_a_private_name_of_another(path: Path) -> None:
    """Private names stay private: a helper used across modules is public (``domain.checks``)."""
    assert _private_imports(path) == []


MAX_LINES = 600
LARGE = {
    "incident_lifecycle.adapters.memory",
    "incident_lifecycle.adapters.sqlite",
    "incident_lifecycle.adapters.postgres",
}


@pytest.mark.parametrize("path", sorted(MODULES.values()), ids=lambda p: _module_name(p))
def test_modules_stay_small(path: Path) -> None:
    """No module is over 600 lines (the three stores excepted); the desk is under 400."""
    lines = len(path.read_text(encoding="utf-8").splitlines())
    name = _module_name(path)
    limit = 400 if name == "incident_lifecycle.desk" else MAX_LINES
    if name not in LARGE:
        assert lines < limit, f"{name} has {lines} lines"


def test_the_application_layer_imports_no_adapter_or_wire_format() -> None:
    """Commands, the desk and delivery import the domain, policies and ports, never an edge."""
    inner = [n for n in MODULES if n.startswith("incident_lifecycle.commands")]
    inner += ["incident_lifecycle.desk", "incident_lifecycle.delivery"]
    edges = ("adapters", "replay", "cli", "testing", "demo")
    for name in inner:
        for imported in _resolved_imports(MODULES[name]):
            assert not any(imported.startswith(f"incident_lifecycle.{e}") for e in edges), (
                f"{name} imports {imported}"
            )
