"""Monitoring signals and the alerts that count them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_lifecycle.domain import Alert, AlertKind, AlertSignal, AlertStatus, InvalidInput
from incident_lifecycle.domain.alerts import FINGERPRINT_MAX, SUMMARY_MAX
from incident_lifecycle.testing import strategies as ils

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def signal_args(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "fingerprint": "chat/latency/eu-1",
        "product": "chat",
        "kind": AlertKind.LATENCY,
        "summary": "p99 latency above 2s",
        "observed_at": T0,
    }
    return {**base, **changes}


def refused_field(factory: Any, **kwargs: Any) -> str:
    with pytest.raises(InvalidInput) as info:
        factory(**kwargs)
    assert info.value.field in str(info.value)
    return info.value.field


class TestAlertKind:
    def test_has_the_guides_three_signals_and_other(self) -> None:
        """Monitoring reports latency, error rate, volume, or something else."""
        assert [k.value for k in AlertKind] == ["latency", "error_rate", "volume", "other"]


class TestAlertSignal:
    @given(ils.identifiers(max_size=FINGERPRINT_MAX))
    def test_accepts_fingerprints_of_1_to_255_characters(self, fingerprint: str) -> None:
        """Any non-blank single-line fingerprint of at most 255 characters is accepted."""
        assert AlertSignal(**signal_args(fingerprint=fingerprint)).fingerprint == fingerprint

    @given(st.integers(FINGERPRINT_MAX + 1, 1_000))
    def test_refuses_fingerprints_of_256_characters_or_more(self, size: int) -> None:
        """A fingerprint of 256+ characters is refused, naming ``fingerprint``."""
        assert refused_field(AlertSignal, **signal_args(fingerprint="f" * size)) == "fingerprint"

    @given(st.integers(1, SUMMARY_MAX))
    def test_accepts_summaries_up_to_1024_characters(self, size: int) -> None:
        """A summary of up to 1,024 characters is accepted."""
        assert len(AlertSignal(**signal_args(summary="s" * size)).summary) == size

    @given(st.integers(SUMMARY_MAX + 1, 3 * SUMMARY_MAX))
    def test_refuses_longer_summaries(self, size: int) -> None:
        """A summary over 1,024 characters is refused, naming ``summary``."""
        assert refused_field(AlertSignal, **signal_args(summary="s" * size)) == "summary"

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("fingerprint", ""),
            ("fingerprint", "a\tb"),
            ("product", " "),
            ("summary", ""),
            ("observed_at", datetime(2026, 3, 1)),
            ("observed_at", "2026-03-01T12:00:00Z"),
            ("kind", "cpu"),
            ("kind", "LATENCY"),
            ("region", ""),
            ("labels", {"k": 1}),
            ("labels", {f"k{i}": "v" for i in range(65)}),
        ],
        ids=lambda v: repr(v)[:24],
    )
    def test_refuses_invalid_fields_by_name(self, field: str, value: object) -> None:
        """Each invalid field is refused, and the error names it."""
        assert refused_field(AlertSignal, **signal_args(**{field: value})) == field

    def test_kind_may_be_given_as_its_value(self) -> None:
        """A kind's value string is converted to the kind."""
        assert AlertSignal(**signal_args(kind="error_rate")).kind is AlertKind.ERROR_RATE

    def test_labels_default_to_empty_and_are_read_only_copies(self) -> None:
        """Labels default to none; given labels are copied and cannot be changed."""
        assert dict(AlertSignal(**signal_args()).labels) == {}
        source = {"pod": "pod-7"}
        signal = AlertSignal(**signal_args(labels=source))
        source["pod"] = "pod-8"
        assert signal.labels["pod"] == "pod-7"
        with pytest.raises(TypeError):
            signal.labels["pod"] = "pod-9"  # type: ignore[index]

    @given(ils.alert_signals())
    def test_equal_signals_are_equal_and_hash_alike(self, signal: AlertSignal) -> None:
        """Signals are values: a copy is equal and hashes the same, labels included."""
        copy = AlertSignal(**attrs.asdict(signal, recurse=False))
        assert copy == signal
        assert hash(copy) == hash(signal)

    def test_signals_differing_only_in_labels_are_not_equal(self) -> None:
        """Labels take part in equality even though they are left out of the hash."""
        assert AlertSignal(**signal_args(labels={"a": "1"})) != AlertSignal(**signal_args())


class TestAlert:
    @given(ils.alert_signals(), ils.identifiers())
    def test_from_signal_opens_a_received_alert_seen_once(
        self, signal: AlertSignal, alert_id: str
    ) -> None:
        """A new alert copies its first signal: received, active, seen once at one instant."""
        alert = Alert.from_signal(alert_id, signal)
        assert (alert.id, alert.fingerprint, alert.product) == (
            alert_id,
            signal.fingerprint,
            signal.product,
        )
        assert (alert.kind, alert.summary, alert.region) == (
            signal.kind,
            signal.summary,
            signal.region,
        )
        assert dict(alert.labels) == dict(signal.labels)
        assert alert.first_seen_at == alert.last_seen_at == signal.observed_at
        assert (alert.status, alert.count, alert.incident_id, alert.version) == (
            AlertStatus.RECEIVED,
            1,
            None,
            0,
        )
        assert alert.active

    @given(st.lists(st.timedeltas(timedelta(hours=-2), timedelta(hours=2)), max_size=20))
    def test_repeats_count_and_last_seen_never_moves_back(self, offsets: list[timedelta]) -> None:
        """Each repeat raises the count; last seen is the latest observation, never earlier."""
        alert = Alert.from_signal("A-1", AlertSignal(**signal_args()))
        for offset in offsets:
            alert.record_repeat(AlertSignal(**signal_args(observed_at=T0 + offset)))
        assert alert.count == 1 + len(offsets)
        assert alert.last_seen_at == max([T0, *(T0 + o for o in offsets)])
        assert alert.first_seen_at == T0

    def test_status_may_be_given_as_its_value(self) -> None:
        """A status string is converted to the status."""
        alert = Alert.from_signal("A-1", AlertSignal(**signal_args()))
        assert attrs.evolve(alert, status="recovered").status is AlertStatus.RECOVERED

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("status", "closed"),
            ("count", 0),
            ("count", True),
            ("version", -1),
            ("id", ""),
            ("active", "yes"),
        ],
    )
    def test_refuses_invalid_fields_by_name(self, field: str, value: object) -> None:
        """A bad status, count, version, id or active flag is refused by name."""
        alert = Alert.from_signal("A-1", AlertSignal(**signal_args()))
        kwargs = {**attrs.asdict(alert, recurse=False), field: value}
        assert refused_field(Alert, **kwargs) == field

    def test_alerts_are_equal_only_to_themselves(self) -> None:
        """Alerts are entities: two with the same fields are still two alerts."""
        signal = AlertSignal(**signal_args())
        first, second = Alert.from_signal("A-1", signal), Alert.from_signal("A-1", signal)
        assert first == first
        assert first != second
