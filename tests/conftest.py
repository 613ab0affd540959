"""Shared fixtures and the hypothesis profiles (``dev``, ``ci``)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=50, stateful_step_count=30, deadline=None)
settings.register_profile(
    "ci",
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
# CI (CI=true) runs the ci profile; HYPOTHESIS_PROFILE overrides either way.
_default = "ci" if os.environ.get("CI", "").lower() in {"1", "true", "yes"} else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))


# -- interop: real programs (Alertmanager; PostgreSQL later) -------------------------
REQUIRE_INTEROP = "INCIDENT_LIFECYCLE_REQUIRE_INTEROP"
"""Set to 1 (``.ci/run`` does) and a missing interop program fails its tests instead of
skipping them."""


def require_interop(found: object, reason: str) -> None:
    """Skip the calling test when ``found`` is falsy (a binary, a server, a driver missing),
    with ``reason``; fail it instead when ``INCIDENT_LIFECYCLE_REQUIRE_INTEROP=1``."""
    import pytest

    if found:
        return
    if os.environ.get(REQUIRE_INTEROP, "") == "1":
        pytest.fail(f"{reason} ({REQUIRE_INTEROP}=1: interop tests must run here)")
    pytest.skip(reason)


def interop_binary(*names: str) -> str:
    """The path of the first of ``names`` found on PATH (or /usr/bin, /usr/sbin), else
    skip or fail as :func:`require_interop` says."""
    import shutil

    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin", "/usr/sbin"])
    found = next((p for p in (shutil.which(n, path=search) for n in names) if p), None)
    require_interop(found, f"{' or '.join(names)} is not installed")
    assert found is not None
    return found
