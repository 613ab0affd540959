"""What the formats share: dedup keys as fingerprints, RFC 3339 times, the mapping's rules."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_lifecycle import AlertKind, AlertSignal
from incident_lifecycle.domain.checks import FINGERPRINT_MAX
from incident_lifecycle.formats import DEFAULT_KIND_RULES, FormatError, KindRule, SignalMapping
from incident_lifecycle.formats.fields import HASH_PREFIX, fingerprint_of, string_map, timestamp


def test_a_key_that_fits_is_its_own_fingerprint() -> None:
    """A key of 1 to 255 characters on one line is used as it is, nothing kept besides."""
    assert fingerprint_of("support/latency") == ("support/latency", None)
    assert fingerprint_of("k" * FINGERPRINT_MAX) == ("k" * FINGERPRINT_MAX, None)


def test_a_long_key_is_the_documented_hash_and_the_original_is_kept() -> None:
    """``sha256:`` and the hex digest of the UTF-8 bytes; the original up to 1,024 kept."""
    key = "é" * 300
    expected = HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()
    assert fingerprint_of(key) == (expected, key)
    assert fingerprint_of("x" * 1_025)[1] is None
    assert fingerprint_of("line\nbreak") == (
        HASH_PREFIX + hashlib.sha256(b"line\nbreak").hexdigest(),
        None,
    )


@given(st.text(min_size=1, max_size=1_500))
def test_any_key_gives_a_valid_fingerprint_always_the_same(key: str) -> None:
    """Whatever the source's key, the fingerprint builds a signal, and is stable."""
    fingerprint, original = fingerprint_of(key)
    assert fingerprint_of(key) == (fingerprint, original)
    AlertSignal(
        fingerprint=fingerprint,
        product="support",
        kind="other",
        summary="s",
        observed_at=datetime(2026, 3, 2, tzinfo=UTC),
        dedup_key=original,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-08-03T09:52:26.739266876+02:00", datetime(2018, 8, 3, 7, 52, 26, 739266, UTC)),
        ("2023-02-06T13:08:45.828Z", datetime(2023, 2, 6, 13, 8, 45, 828000, UTC)),
        ("2015-07-17T08:42:58.315+0000", datetime(2015, 7, 17, 8, 42, 58, 315000, UTC)),
    ],
)
def test_times_are_read_as_the_sources_write_them(text: str, expected: datetime) -> None:
    """Go's nanoseconds, ``Z`` and ``+0000`` offsets are read to the microsecond."""
    assert timestamp(text, "t") == expected


@pytest.mark.parametrize("text", ["2026-03-02T09:00:00", "2026-03-02", "soon", 5, None])
def test_a_time_without_an_offset_or_not_a_time_is_refused(text: object) -> None:
    """A naive or unreadable time is a FormatError naming the path."""
    with pytest.raises(FormatError) as caught:
        timestamp(text, "alerts[0].startsAt")
    assert caught.value.field == "alerts[0].startsAt"


def test_a_string_map_names_the_key_of_a_value_that_is_not_a_string() -> None:
    """Labels must map to strings; the path names the label."""
    with pytest.raises(FormatError) as caught:
        string_map({"ok": "x", "bad": 5}, "alerts[2].labels")
    assert caught.value.field == "alerts[2].labels.bad"


def test_the_default_rules_find_the_guides_three_signals() -> None:
    """Latency, errors and volume words, in any case; the first rule wins."""
    mapping = SignalMapping()
    assert mapping.kind_of(None, "HighRequestLatency") is AlertKind.LATENCY
    assert mapping.kind_of(None, "HTTP 5xx ratio") is AlertKind.ERROR_RATE
    assert mapping.kind_of(None, "Traffic dropped") is AlertKind.VOLUME
    assert mapping.kind_of(None, "Slow errors") is AlertKind.LATENCY
    assert mapping.kind_of("Error_Rate", "slow") is AlertKind.ERROR_RATE  # explicit wins
    assert mapping.kind_of(None, "Disk full") is AlertKind.OTHER
    assert [r.kind for r in DEFAULT_KIND_RULES] == ["latency", "error_rate", "volume"]


def test_severity_words_and_product_renames() -> None:
    """Severity words match in any case; renames apply; the default fills a gap."""
    mapping = SignalMapping(products={"support-api": "support"}, default_product="guide")
    assert (
        mapping.severity_of("CRITICAL"),
        mapping.severity_of("page"),
        mapping.severity_of("?"),
    ) == (
        "SEV1",
        "SEV1",
        None,
    )
    assert (
        mapping.product_of("support-api"),
        mapping.product_of("chat"),
        mapping.product_of(None),
    ) == (
        "support",
        "chat",
        "guide",
    )


def test_a_kind_rule_matches_its_keywords_in_any_case() -> None:
    """Keywords are lower-cased when the rule is built and found anywhere in the text."""
    rule = KindRule(kind="volume", keywords=[" Signups "])
    assert rule.keywords == ("signups",)
    assert rule.matches("daily signups dropped")
    assert not rule.matches("logins dropped")


def test_mappings_are_values() -> None:
    """Mappings compare by value and hash (a cache may key on them)."""
    from incident_lifecycle.formats.alertmanager import AlertmanagerMapping
    from incident_lifecycle.formats.opsgenie import OpsgenieMapping
    from incident_lifecycle.formats.pagerduty import PagerDutyMapping

    for cls in (AlertmanagerMapping, PagerDutyMapping, OpsgenieMapping):
        assert cls() == cls()
        assert hash(cls()) == hash(cls())
    assert AlertmanagerMapping(products={"a": "b"}) != AlertmanagerMapping()
    assert {AlertmanagerMapping(): 1}[AlertmanagerMapping(product_labels=["product", "service"])]
