"""The interop helper: a missing program skips its tests locally and fails them in CI."""

from __future__ import annotations

import pytest

from conftest import REQUIRE_INTEROP, interop_binary, require_interop


def test_a_missing_program_skips_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the variable, a missing program is a skip naming it."""
    monkeypatch.delenv(REQUIRE_INTEROP, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-program"):
        interop_binary("no-such-program-3f9a")


def test_a_missing_program_fails_when_interop_is_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``INCIDENT_LIFECYCLE_REQUIRE_INTEROP=1`` the same test fails instead."""
    monkeypatch.setenv(REQUIRE_INTEROP, "1")
    with pytest.raises(pytest.fail.Exception, match="must run here"):
        require_interop(None, "no-such-program-3f9a is not installed")


def test_a_present_program_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """A program on PATH is returned by path."""
    monkeypatch.setenv(REQUIRE_INTEROP, "1")
    assert interop_binary("no-such-program-3f9a", "sh").endswith("/sh")
