"""The front door: a sorted, importable ``__all__`` and a version from the metadata."""

from __future__ import annotations

from importlib.metadata import version

import incident_lifecycle as il
import incident_lifecycle.domain as domain


def test_all_is_sorted_and_unique() -> None:
    """``__all__`` is sorted and lists each name once."""
    assert list(il.__all__) == sorted(set(il.__all__))
    assert list(domain.__all__) == sorted(set(domain.__all__))


def test_every_exported_name_exists() -> None:
    """Every name in ``__all__`` is an attribute of the package."""
    missing = [name for name in il.__all__ if not hasattr(il, name)]
    assert missing == []


def test_domain_api_is_re_exported() -> None:
    """Everything the domain exports is reachable from the package itself."""
    assert set(domain.__all__) <= set(il.__all__)


def test_version_comes_from_package_metadata() -> None:
    """``__version__`` is the installed distribution's version."""
    assert il.__version__ == version("incident-lifecycle")


def test_typed_marker_is_shipped() -> None:
    """The package ships ``py.typed`` so type checkers read its annotations."""
    from pathlib import Path

    assert (Path(il.__file__).parent / "py.typed").is_file()
