"""OpenTelemetry spans: one per command and one per delivery batch, through the API only,
recorded here by the SDK's in-memory exporter."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import web_support as w
from incident_lifecycle import AlertSignal, InvalidInput, NotPermitted
from incident_lifecycle.adapters import InMemoryStore
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.domain.actors import Actor, Role
from incident_lifecycle.telemetry import Telemetry
from incident_lifecycle.testing import FakeClock, FlakyNotifier

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace", reason="opentelemetry-sdk (dev)")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode  # noqa: E402


def traced_desk(**kwargs: Any) -> tuple[IncidentDesk, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    desk = IncidentDesk(
        store=InMemoryStore(),
        notifier=kwargs.pop("notifier", FlakyNotifier()),
        ownership=w.OWNERSHIP,
        clock=FakeClock(w.T0),
        telemetry=Telemetry(tracer_provider=provider),
        **kwargs,
    )
    return desk, exporter


def signal(fingerprint: str, product: str = "checkout") -> AlertSignal:
    return AlertSignal(
        fingerprint=fingerprint, product=product, kind="error_rate", summary="5xx", observed_at=w.T0
    )


def test_each_command_is_one_span_with_incident_outcome_and_store() -> None:
    """Declaring, updating and resolving give one span each, named by the op, with the
    incident id, the outcome and the store's class."""
    desk, exporter = traced_desk()
    opened = desk.declare_incident(
        w.ENGINEER, title="Checkout fails", product="checkout", severity="SEV2"
    )
    desk.post_update(opened.id, w.ENGINEER, "Looking.")
    desk.resolve_incident(opened.id, w.ENGINEER, "Fixed.")
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == [
        "incident_lifecycle.declare",
        "incident_lifecycle.update",
        "incident_lifecycle.resolve",
    ]
    for span in spans:
        assert span.attributes["incident_lifecycle.incident_id"] == opened.id
        assert span.attributes["incident_lifecycle.outcome"] == "ok"
        assert span.attributes["incident_lifecycle.store"] == "InMemoryStore"
        assert span.status.status_code is StatusCode.UNSET
        assert span.parent is None


def test_an_intake_batch_names_its_incidents_and_counts() -> None:
    """A batch of signals is one span with the incidents it touched and its counts."""
    desk, exporter = traced_desk()
    desk.receive_alerts([signal("fp-1"), signal("fp-1"), signal("fp-2", product="search")])
    (span,) = exporter.get_finished_spans()
    assert span.name == "incident_lifecycle.alerts"
    assert span.attributes["incident_lifecycle.signals"] == 3
    assert span.attributes["incident_lifecycle.deduplicated"] == 1
    assert list(span.attributes["incident_lifecycle.incident_ids"]) == ["INC-1", "INC-2"]


def test_a_refused_command_is_a_failed_span_without_user_text() -> None:
    """A refusal sets the span's status to error, ``error.type`` and the outcome; the
    error's message (which may quote the caller) is not in the span."""
    desk, exporter = traced_desk()
    outsider = Actor(name="eve", role=Role.SUPPORT, team="support")
    opened = desk.declare_incident(
        w.ENGINEER, title="Checkout fails", product="checkout", severity="SEV2"
    )
    with pytest.raises(NotPermitted):
        desk.resolve_incident(opened.id, outsider, "secret words")
    with pytest.raises(InvalidInput):
        desk.receive_alert(signal("fp-9", product="nobody-owns-this"))
    refused, junk = exporter.get_finished_spans()[1:]
    assert refused.status.status_code is StatusCode.ERROR
    assert refused.attributes["incident_lifecycle.outcome"] == "not_permitted"
    assert refused.attributes["error.type"] == "NotPermitted"
    assert refused.attributes["incident_lifecycle.incident_id"] == opened.id
    assert junk.attributes["incident_lifecycle.outcome"] == "invalid_input"
    text = repr([dict(s.attributes) for s in exporter.get_finished_spans()])
    text += repr([s.status.description for s in exporter.get_finished_spans()])
    text += repr([e.attributes for s in exporter.get_finished_spans() for e in s.events])
    assert "secret words" not in text
    assert "nobody-owns-this" not in text


def test_delivery_batches_are_spans_inside_the_deliver_span() -> None:
    """``deliver`` is one span, and each batch it sends a child span with its counts."""
    desk, exporter = traced_desk(notifier=FlakyNotifier(reject_recipients={"discovery"}))
    desk.receive_alerts([signal("fp-1"), signal("fp-2", product="search")])
    exporter.clear()
    desk.deliver(batch_size=1)
    spans = exporter.get_finished_spans()
    deliver = spans[-1]
    batches = spans[:-1]
    assert deliver.name == "incident_lifecycle.deliver"
    assert [s.name for s in batches] == ["incident_lifecycle.deliver.batch"] * 2
    for batch in batches:
        assert batch.parent is not None
        assert batch.parent.span_id == deliver.context.span_id
        assert batch.attributes["incident_lifecycle.batch.size"] == 1
        assert list(batch.attributes["incident_lifecycle.batch.outlets"]) == ["team"]
    assert sum(s.attributes["incident_lifecycle.batch.delivered"] for s in batches) == 1
    assert sum(s.attributes["incident_lifecycle.batch.dead"] for s in batches) == 1


def test_without_the_api_nothing_happens() -> None:
    """With ``opentelemetry`` unimportable, the desk works and imports no tracing code."""
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from datetime import UTC, datetime\n"
        "from incident_lifecycle import IncidentDesk, InMemoryStore, RecordingNotifier\n"
        "from incident_lifecycle import Actor, Role\n"
        "desk = IncidentDesk(store=InMemoryStore(), notifier=RecordingNotifier(),"
        " ownership={'chat': 'chat-eng'})\n"
        "chen = Actor(name='chen', role=Role.ENGINEERING, team='chat-eng')\n"
        "desk.declare_incident(chen, title='Slow', product='chat', severity='SEV3')\n"
        "desk.deliver()\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry.')], 'imported'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_a_junk_telemetry_is_refused() -> None:
    """The desk refuses a telemetry that is not a ``Telemetry``, naming the argument."""
    with pytest.raises(InvalidInput) as caught:
        IncidentDesk(
            store=InMemoryStore(),
            notifier=FlakyNotifier(),
            ownership={},
            telemetry="yes",  # type: ignore[arg-type]
        )
    assert caught.value.field == "telemetry"


def test_a_global_provider_set_later_is_used() -> None:
    """A desk built before the application sets its global provider traces into it."""
    code = (
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "from incident_lifecycle import IncidentDesk, InMemoryStore, RecordingNotifier\n"
        "from incident_lifecycle import Actor, Role\n"
        "desk = IncidentDesk(store=InMemoryStore(), notifier=RecordingNotifier(),"
        " ownership={'chat': 'chat-eng'})\n"
        "chen = Actor(name='chen', role=Role.ENGINEERING, team='chat-eng')\n"
        "desk.declare_incident(chen, title='Slow', product='chat', severity='SEV3')\n"
        "exporter = InMemorySpanExporter()\n"
        "provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "trace.set_tracer_provider(provider)\n"
        "desk.declare_incident(chen, title='Slow', product='chat', severity='SEV3')\n"
        "print([s.name for s in exporter.get_finished_spans()])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['incident_lifecycle.declare']"
