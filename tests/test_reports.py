"""Customer reports: the second road into an incident, through support."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_lifecycle.domain import (
    Channel,
    CustomerReport,
    InvalidInput,
    ReportStatus,
    Symptom,
    TriageOutcome,
)
from incident_lifecycle.domain.reports import REPORT_SUMMARY_MAX
from incident_lifecycle.testing import strategies as ils

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def report_args(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ticket_id": "ZD-1001",
        "account_id": "acme",
        "product": "chat",
        "symptom": Symptom.SLOW,
        "summary": "The chat widget takes a minute to load.",
        "reported_at": T0,
    }
    return {**base, **changes}


def refused_field(**kwargs: Any) -> str:
    with pytest.raises(InvalidInput) as info:
        CustomerReport(**kwargs)
    assert str(info.value).startswith(f"{info.value.field}: ")
    return info.value.field


class TestEnums:
    def test_triage_has_the_guides_three_outcomes(self) -> None:
        """Triage links to an existing incident, opens a new one, or troubleshoots."""
        assert {o.value for o in TriageOutcome} == {"link_existing", "open_new", "troubleshoot"}

    def test_reports_arrive_by_ticket_or_chat(self) -> None:
        """Customers reach support through tickets and chat."""
        assert {c.value for c in Channel} == {"ticket", "chat"}


class TestCustomerReport:
    def test_defaults_to_a_received_english_ticket(self) -> None:
        """A new report is received, by ticket, in English, unlinked and at version 0."""
        report = CustomerReport(**report_args())
        assert (report.status, report.channel, report.locale) == (
            ReportStatus.RECEIVED,
            Channel.TICKET,
            "en",
        )
        assert (report.incident_id, report.ended_at, report.region, report.version) == (
            None,
            None,
            None,
            0,
        )

    def test_identity_is_the_ticket_id(self) -> None:
        """A report's id is its helpdesk ticket id."""
        assert CustomerReport(**report_args(ticket_id="ZD-42")).id == "ZD-42"

    @given(st.integers(1, REPORT_SUMMARY_MAX))
    def test_accepts_summaries_up_to_10000_characters(self, size: int) -> None:
        """A summary of up to 10,000 characters is accepted."""
        assert len(CustomerReport(**report_args(summary="s" * size)).summary) == size

    @given(st.integers(REPORT_SUMMARY_MAX + 1, REPORT_SUMMARY_MAX + 5_000))
    def test_refuses_longer_summaries(self, size: int) -> None:
        """A summary over 10,000 characters is refused, naming ``summary``."""
        assert refused_field(**report_args(summary="s" * size)) == "summary"

    def test_summary_keeps_line_breaks(self) -> None:
        """A pasted multi-line summary is kept as written."""
        summary = "Steps:\r\n1. open chat\n\t2. wait"
        assert CustomerReport(**report_args(summary=summary)).summary == summary

    def test_enum_fields_accept_their_values(self) -> None:
        """Symptom, channel and status may be given as their value strings."""
        report = CustomerReport(
            **report_args(symptom="unavailable", channel="chat", status="troubleshooting")
        )
        assert (report.symptom, report.channel, report.status) == (
            Symptom.UNAVAILABLE,
            Channel.CHAT,
            ReportStatus.TROUBLESHOOTING,
        )

    @pytest.mark.parametrize("locale", ["en", "fr", "fr-CA", "pt_BR", "es-419", "zh-Hant-TW"])
    def test_accepts_language_tags(self, locale: str) -> None:
        """Common language tags are accepted as the locale."""
        assert CustomerReport(**report_args(locale=locale)).locale == locale

    @pytest.mark.parametrize(
        "locale", ["", "e", "en\n", "en US", "fr-", "1en", "en-" + "x" * 40, None, 42]
    )
    def test_refuses_other_locales(self, locale: object) -> None:
        """Anything that is not a language tag (a trailing newline included) is refused."""
        assert refused_field(**report_args(locale=locale)) == "locale"

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("ticket_id", ""),
            ("ticket_id", "t" * 129),
            ("account_id", "acme\x00"),
            ("product", None),
            ("symptom", "broken"),
            ("channel", "email"),
            ("status", "open"),
            ("summary", "   "),
            ("summary", "bad\x07bell"),
            ("reported_at", datetime(2026, 3, 1)),
            ("ended_at", datetime(2026, 3, 1)),
            ("incident_id", ""),
            ("version", -1),
        ],
        ids=lambda v: repr(v)[:24],
    )
    def test_refuses_invalid_fields_by_name(self, field: str, value: object) -> None:
        """Each invalid field is refused, and the error names it."""
        assert refused_field(**report_args(**{field: value})) == field

    @given(ils.customer_reports())
    def test_reports_are_equal_only_to_themselves(self, report: CustomerReport) -> None:
        """Reports are entities: a copy with the same fields is a different report."""
        copy = attrs.evolve(report)
        assert report == report
        assert copy != report
        assert attrs.asdict(copy) == attrs.asdict(report)
