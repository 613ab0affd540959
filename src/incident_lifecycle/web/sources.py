"""Which formats the app serves: each source's ``decode``, and the vendors' own answers.

The format modules (``incident_lifecycle.formats.alertmanager``, ...) are
looked up by name, so a source whose module is absent is simply not routed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..formats.base import Decoded

__all__ = [
    "Decoder",
    "default_pagerduty_answer",
    "format_function",
    "load_decoders",
    "opsgenie_close_alias",
    "pagerduty_answer",
]

Decoder = Callable[..., Decoded]
"""A format's ``decode(payload, mapping, *, received_at)``."""


def load_decoders(sources: Iterable[str]) -> dict[str, Decoder]:
    """Each source's ``decode`` from its module of ``incident_lifecycle.formats``, if present."""
    found: dict[str, Decoder] = {}
    for source in sources:
        try:
            module = importlib.import_module(f"incident_lifecycle.formats.{source}")
        except ModuleNotFoundError:
            continue
        decode = getattr(module, "decode", None)
        if callable(decode):
            found[source] = decode
    return found


def default_pagerduty_answer(decoded: Decoded) -> Mapping[str, object]:
    """PagerDuty's 202 body, when the PagerDuty format has no ``answer``."""
    out = {"status": "success", "message": "Event processed"}
    key = decoded.facts.get("dedup_key")
    if isinstance(key, str):
        out["dedup_key"] = key
    return out


def pagerduty_answer() -> Callable[[Decoded], Mapping[str, object]]:
    """The PagerDuty format's ``answer`` (its 202 body), when the format is there."""
    try:
        module = importlib.import_module("incident_lifecycle.formats.pagerduty")
    except ModuleNotFoundError:
        return default_pagerduty_answer
    found: Callable[[Decoded], Mapping[str, object]] = getattr(
        module, "answer", default_pagerduty_answer
    )
    return found


def format_function(source: str, name: str) -> Callable[..., Any] | None:
    """A function of a format module (``opsgenie.close``), if the module has it."""
    try:
        module = importlib.import_module(f"incident_lifecycle.formats.{source}")
    except ModuleNotFoundError:
        return None
    found = getattr(module, name, None)
    return found if callable(found) else None


def opsgenie_close_alias(path: str) -> str | None:
    """The alias of ``/v1/alerts/opsgenie/{alias}/close`` (PEP 3333 paths are latin-1)."""
    prefix, suffix = "/v1/alerts/opsgenie/", "/close"
    if not (path.startswith(prefix) and path.endswith(suffix)) or len(path) <= 26:
        return None
    try:
        return path[len(prefix) : -len(suffix)].encode("latin-1").decode("utf-8")
    except UnicodeError:
        return None
