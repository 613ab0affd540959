"""Spans through the OpenTelemetry API, when it is installed (the ``otel`` extra).

The library only ever talks to ``opentelemetry-api``: the application picks
the SDK, the exporter and the sampler, and sets its tracer provider. Without
the API installed nothing happens at all (no import, no cost beyond a
function call), and with it but no provider set the API's own no-op tracer
answers. Attribute values are ids, counts and enum values: user text never
goes into a span.

>>> with span("incident_lifecycle.example", {"incident_lifecycle.store": "InMemoryStore"}) as s:
...     s.set("incident_lifecycle.outcome", "ok")
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import metadata
from typing import Any

__all__ = ["ATTRIBUTE_PREFIX", "AttributeValue", "SpanHandle", "active_tracer", "span", "tracer_of"]

ATTRIBUTE_PREFIX = "incident_lifecycle."
"""Every attribute the library sets is named under this prefix (``error.type`` aside)."""

AttributeValue = str | bool | int | float | Sequence[str] | Sequence[int]
"""What a span attribute may hold (OpenTelemetry's primitive types and their sequences)."""

_found: dict[str, Any] = {}
"""``opentelemetry.trace`` and the global tracer, once looked up (``None``: not installed)."""


def _trace_api() -> Any:
    if "api" not in _found:
        try:
            _found["api"] = importlib.import_module("opentelemetry.trace")
        except ImportError:
            _found["api"] = None
    return _found["api"]


def tracer_of(provider: object | None = None) -> Any:
    """The library's tracer from ``provider`` (the global one when ``None``), or ``None``
    when ``opentelemetry-api`` is not installed.

    The global tracer is a proxy: a provider the application sets later is used from then on.
    """
    api = _trace_api()
    if api is None:
        return None
    if provider is None and "tracer" in _found:
        return _found["tracer"]
    try:
        release = metadata.version("incident-lifecycle")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        release = None
    tracer = api.get_tracer("incident_lifecycle", release, tracer_provider=provider)
    if provider is None:
        _found["tracer"] = tracer
    return tracer


def active_tracer() -> Any:
    """The global tracer when an application has set a tracer provider, else ``None``.

    Until a provider is set, the API's spans record nothing: skipping them saves their cost
    on every command. A provider set later is seen on the next call.
    """
    api = _trace_api()
    if api is None:
        return None
    provider = api.get_tracer_provider()
    if isinstance(provider, api.ProxyTracerProvider | api.NoOpTracerProvider):
        return None
    return tracer_of()


class SpanHandle:
    """What the code inside :func:`span` may do to the span (nothing, without the API)."""

    __slots__ = ("_span",)

    def __init__(self, span: Any) -> None:
        self._span = span

    @property
    def recording(self) -> bool:
        """Whether attributes set now are kept (false without the API or with a no-op tracer)."""
        return self._span is not None and bool(self._span.is_recording())

    def set(self, key: str, value: AttributeValue | None) -> None:
        """Set an attribute (``None`` values are left out)."""
        if value is not None and self._span is not None:
            self._span.set_attribute(key, value)

    def set_all(self, attributes: Mapping[str, AttributeValue | None]) -> None:
        """Set several attributes."""
        for key, value in attributes.items():
            self.set(key, value)

    def fail(self, error: BaseException, outcome: str) -> None:
        """Mark the span as failed: status ERROR, ``error.type`` and the outcome, no message
        (an error's text may quote user input)."""
        if self._span is None:
            return
        api = _trace_api()
        self._span.set_attribute("error.type", type(error).__qualname__)
        self._span.set_attribute(ATTRIBUTE_PREFIX + "outcome", outcome)
        self._span.set_status(api.Status(api.StatusCode.ERROR, type(error).__qualname__))


_NO_SPAN = SpanHandle(None)


@contextmanager
def span(
    name: str, attributes: Mapping[str, AttributeValue | None], tracer: Any = None
) -> Iterator[SpanHandle]:
    """A span named ``name`` around the block, from ``tracer`` (the global tracer when
    ``None``); a no-op without ``opentelemetry-api``.

    An exception leaving the block marks the span as failed (see :meth:`SpanHandle.fail`)
    unless the block already did, and is raised on.
    """
    tracer = tracer if tracer is not None else active_tracer()
    if tracer is None:
        yield _NO_SPAN
        return
    clean = {k: v for k, v in attributes.items() if v is not None}
    with tracer.start_as_current_span(
        name, attributes=clean, record_exception=False, set_status_on_exception=False
    ) as current:
        handle = SpanHandle(current)
        try:
            yield handle
        except BaseException as error:
            if not _has_error(current):
                handle.fail(error, "error")
            raise


def _has_error(current: Any) -> bool:
    status = getattr(current, "status", None)
    api = _trace_api()
    return status is not None and status.status_code == api.StatusCode.ERROR
