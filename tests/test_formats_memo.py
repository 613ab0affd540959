"""The memo of decoded alerts: a re-sent alert decodes to what decoding it again would give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import formats_support as fx
import web_support as w
from incident_lifecycle import InvalidInput
from incident_lifecycle.formats import FormatError, alertmanager, grafana
from incident_lifecycle.formats.alertmanager import AlertmanagerMapping
from incident_lifecycle.formats.memo import SignalMemo, alert_key
from incident_lifecycle.testing import strategies as ils
from incident_lifecycle.web import Limits, create_app

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _decoded(decode: Any, payload: Any, **kwargs: Any) -> Any:
    """What ``decode`` gives, or the refusal's field and reason."""
    try:
        return decode(payload, **kwargs)
    except FormatError as error:
        return ("refused", error.field, error.reason)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    payloads=st.lists(fx.am_payloads(), min_size=1, max_size=4),
    later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
    resend=st.booleans(),
)
def test_with_a_memo_every_payload_decodes_as_without_one(
    payloads: list[dict[str, Any]], later: timedelta, resend: bool
) -> None:
    """Any payloads, decoded in turn with one memo and then re-sent later, give exactly
    the commands, drops and facts that decoding each alone gives."""
    memo = SignalMemo(size=5)
    mapping = AlertmanagerMapping()
    feed = [(p, T0) for p in payloads] + ([(p, T0 + later) for p in payloads] if resend else [])
    for payload, at in feed:
        alone = _decoded(alertmanager.decode, payload, mapping=mapping, received_at=at)
        remembered = _decoded(
            alertmanager.decode, payload, mapping=mapping, received_at=at, memo=memo
        )
        assert remembered == alone
    assert len(memo) <= 5


def test_a_resent_grafana_alert_is_found_and_keeps_its_values() -> None:
    """Grafana's alerts hold numbers (``values``): found again, with the new receive time."""
    payload = fx.grafana_payload(fx.am_alert("SupportLatencyHigh", "support", "pod-1"))
    memo = SignalMemo()
    first = grafana.decode(payload, received_at=T0, memo=memo)
    again = grafana.decode(payload, received_at=T0 + timedelta(minutes=5), memo=memo)
    assert memo.hits == 1
    (signal,) = again.commands[0].signals
    assert signal.observed_at == T0 + timedelta(minutes=5)
    assert signal == attrs.evolve(first.commands[0].signals[0], observed_at=signal.observed_at)
    assert "2.31" in (signal.description or "")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"a": "1"}, {"a": 1}),
        ({"a": 1}, {"a": True}),
        ({"a": 1}, {"a": 1.0}),
        ({"a": {"x": "1"}}, {"a": {"x": 1}}),
        ({"a": {"x": 0}}, {"a": {"x": False}}),
        ({"a": "x"}, {"a": {"x": "x"}}),
        ({"a": None}, {"a": "None"}),
    ],
    ids=["string-number", "number-bool", "int-float", "nested", "nested-bool", "object", "null"],
)
def test_keys_tell_json_types_apart(one: dict[str, Any], other: dict[str, Any]) -> None:
    """Values Python finds equal but JSON does not (``1``, ``1.0``, ``true``) make two keys."""
    assert alert_key(one) is not None
    assert alert_key(one) != alert_key(other)


@pytest.mark.parametrize("raw", [[1], "alert", {"a": [1]}, {"a": {"b": {"c": "d"}}}, None])
def test_what_a_key_cannot_hold_is_decoded_every_time(raw: object) -> None:
    """Lists, deeper nesting and non-objects have no key."""
    assert alert_key(raw) is None


def test_the_memo_is_bounded_and_forgets_the_oldest_first() -> None:
    """At its size, each new alert pushes out the oldest one."""
    memo = SignalMemo(size=2)
    mapping = AlertmanagerMapping()
    payloads = [fx.am_payload(fx.am_alert("Down", "support", f"pod-{n}")) for n in range(3)]
    for payload in payloads:
        alertmanager.decode(payload, mapping, received_at=T0, memo=memo)
    assert len(memo) == 2
    alertmanager.decode(payloads[0], mapping, received_at=T0, memo=memo)
    assert memo.hits == 0  # pod-0 was the oldest: gone
    alertmanager.decode(payloads[2], mapping, received_at=T0, memo=memo)
    assert memo.hits == 1


def test_another_mapping_decodes_again() -> None:
    """A hit needs the same mapping object: another mapping may map the alert otherwise."""
    memo = SignalMemo()
    payload = fx.am_payload(fx.am_alert("Down", "support", "pod-1"))
    alertmanager.decode(payload, AlertmanagerMapping(), received_at=T0, memo=memo)
    renamed = AlertmanagerMapping(products={"support": "helpdesk"})
    decoded = alertmanager.decode(payload, renamed, received_at=T0, memo=memo)
    assert memo.hits == 0
    assert decoded.commands[0].signals[0].product == "helpdesk"


def test_an_alert_with_a_drop_is_not_remembered() -> None:
    """An alert whose decoding dropped something is decoded each time, so each payload's
    report of what was dropped is complete."""
    memo = SignalMemo()
    alert = fx.am_alert("Down", "support", "pod-1")
    alert["annotations"]["runbook_url"] = "not a url"
    payload = fx.am_payload(alert)
    for _ in range(2):
        decoded = alertmanager.decode(payload, received_at=T0, memo=memo)
        assert [d.path for d in decoded.dropped] == ["alerts[0].annotations.runbook_url"]
    assert memo.hits == 0
    assert len(memo) == 0


@given(signal=ils.alert_signals(), when=ils.aware_datetimes())
def test_seen_again_is_evolve_without_the_checks(signal: Any, when: datetime) -> None:
    """``seen_again`` gives the value ``attrs.evolve`` gives."""
    assert signal.seen_again(when) == attrs.evolve(signal, observed_at=when)


@pytest.mark.parametrize("when", [datetime(2026, 3, 2, 9, 0), "2026-03-02T09:00:00Z", None])
def test_seen_again_checks_its_time(when: object) -> None:
    """A naive or non-datetime time is refused, naming ``observed_at``."""
    payload = fx.am_payload(fx.am_alert("Down", "support", "pod-1"))
    (signal,) = alertmanager.decode(payload, received_at=T0).commands[0].signals
    with pytest.raises(InvalidInput) as refused:
        signal.seen_again(when)  # type: ignore[arg-type]
    assert refused.value.field == "observed_at"


@pytest.mark.parametrize("size", [-1, 1.5, True, "10", 10_000_001])
def test_a_memo_size_is_checked(size: object) -> None:
    """Sizes are whole numbers from 0 to 10 million."""
    with pytest.raises(InvalidInput) as refused:
        SignalMemo(size)  # type: ignore[arg-type]
    assert refused.value.field == "size"


@pytest.mark.parametrize("size", [-1, 2.0, 1_000_001])
def test_the_service_limit_is_checked(size: object) -> None:
    """``Limits.memo_alerts`` is checked like every limit, naming itself."""
    with pytest.raises(InvalidInput) as refused:
        Limits(memo_alerts=size)  # type: ignore[arg-type]
    assert refused.value.field == "memo_alerts"


@pytest.mark.parametrize("size", [0, 10_000])
def test_the_service_remembers_resent_alerts_unless_told_not_to(size: int) -> None:
    """Alertmanager's re-send of a group is found in the memo (``memo_alerts = 0``: never);
    either way the alerts are counted once."""
    desk = w.make_desk()
    app = create_app(desk, tokens={"alertmanager": w.TOKEN}, limits=Limits(memo_alerts=size))
    payload = fx.am_payload(
        fx.am_alert("CheckoutErrors", "checkout", "pod-1"),
        fx.am_alert("CheckoutErrors", "checkout", "pod-2"),
    )
    for _ in range(3):
        answer = w.call(app, "POST", "/v1/alerts/alertmanager", payload, token=w.TOKEN)
        assert answer.status == 200, answer.body
    hits = sum(memo.hits for memo in app.memos.values())
    assert hits == (4 if size else 0)
    (incident,) = desk.potential_incidents()
    assert sorted(a.count for a in desk.alerts_of(incident.id)) == [1, 1]
