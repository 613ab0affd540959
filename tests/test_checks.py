"""The shared validators: what each accepts, what it refuses, and that refusals name the field."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_lifecycle.domain import InvalidInput
from incident_lifecycle.domain.alerts import FINGERPRINT_MAX
from incident_lifecycle.domain.checks import (
    IDENTIFIER_MAX,
    MAX_LABELS,
    check_aware,
    check_date,
    check_enum,
    check_identifier,
    check_int,
    check_non_negative,
    check_text,
    check_url,
    enum_member,
    freeze_labels,
    identifier,
    instance,
    optional,
    plain_label,
)
from incident_lifecycle.testing import strategies as ils

CONTROL = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))]
TEXT_CONTROL = [c for c in CONTROL if c not in "\t\n\r"]
BLANKS = st.text(st.sampled_from(" \t\n\r\u00a0\u2003\u3000"), max_size=20)


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


def _insert(text: str, char: str, at: int) -> str:
    at = min(at, len(text))
    return text[:at] + char + text[at:]


class TestCheckIdentifier:
    @given(ils.identifiers(max_size=FINGERPRINT_MAX))
    def test_accepts_any_fingerprint_of_1_to_255_characters(self, value: str) -> None:
        """Any non-blank string of 1-255 characters without control characters is a fingerprint."""
        assert check_identifier("fingerprint", value, max_len=FINGERPRINT_MAX) == value

    @given(ils.identifiers(max_size=16), st.integers(FINGERPRINT_MAX + 1, 2_000))
    def test_refuses_fingerprints_longer_than_255(self, seed: str, size: int) -> None:
        """A fingerprint of 256 characters or more is refused, naming ``fingerprint``."""
        value = (seed * size)[:size]
        with pytest.raises(InvalidInput, match=r"^fingerprint: .*the limit is 255") as info:
            check_identifier("fingerprint", value, max_len=FINGERPRINT_MAX)
        assert info.value.field == "fingerprint"

    @given(st.integers(1, IDENTIFIER_MAX))
    def test_default_limit_is_128_characters(self, size: int) -> None:
        """Identifiers default to a limit of 128 characters, boundary included."""
        assert check_identifier("product", "p" * size) == "p" * size
        with pytest.raises(InvalidInput, match="product"):
            check_identifier("product", "p" * (IDENTIFIER_MAX + size))

    @given(BLANKS)
    def test_refuses_blank_strings(self, value: str) -> None:
        """An empty or whitespace-only identifier is refused as empty."""
        with pytest.raises(InvalidInput, match="must not be empty") as info:
            check_identifier("ticket_id", value)
        assert info.value.field == "ticket_id"

    @given(ils.identifiers(max_size=64), st.sampled_from(CONTROL), st.integers(0, 64))
    def test_refuses_any_control_character(self, value: str, char: str, at: int) -> None:
        """A control character anywhere, tab and newline included, is refused."""
        with pytest.raises(InvalidInput, match="control characters"):
            check_identifier("id", _insert(value, char, at))

    @pytest.mark.parametrize("value", [None, 7, b"bytes", ["a"]])
    def test_refuses_non_strings(self, value: object) -> None:
        """A value that is not a string is refused with its type named."""
        with pytest.raises(InvalidInput, match=f"not {type(value).__name__}"):
            check_identifier("id", value)


class TestCheckText:
    @given(ils.texts(max_size=300))
    def test_accepts_non_blank_text_within_the_limit(self, value: str) -> None:
        """Non-blank text within the limit is accepted, tabs and line breaks included."""
        assert check_text("summary", value, max_len=300) == value

    @given(st.integers(1, 5_000))
    def test_refuses_text_over_the_limit(self, extra: int) -> None:
        """Text longer than the limit is refused with its length and the limit in the message."""
        value = "s" * (1_024 + extra)
        with pytest.raises(InvalidInput, match=f"is {len(value)} characters long; the limit is"):
            check_text("summary", value, max_len=1_024)

    def test_keeps_tabs_and_line_breaks(self) -> None:
        """Free text may hold tabs, newlines and carriage returns."""
        value = "line one\r\n\tline two"
        assert check_text("body", value, max_len=100) == value

    @given(ils.texts(max_size=50), st.sampled_from(TEXT_CONTROL), st.integers(0, 50))
    def test_refuses_other_control_characters(self, value: str, char: str, at: int) -> None:
        """Control characters other than tab and line breaks are refused in free text."""
        with pytest.raises(InvalidInput, match=r"^body: must not contain control characters"):
            check_text("body", _insert(value, char, at), max_len=100)

    @given(BLANKS)
    def test_refuses_blank_text_by_default(self, value: str) -> None:
        """Whitespace-only text is refused when at least one character is required."""
        with pytest.raises(InvalidInput, match=r"^summary: must not be empty$"):
            check_text("summary", value, max_len=100)

    @given(BLANKS)
    def test_min_len_zero_accepts_blank_text(self, value: str) -> None:
        """With ``min_len=0`` empty and whitespace-only text is accepted."""
        assert check_text("impact", value, max_len=100, min_len=0) == value

    def test_min_len_above_one_is_named_in_the_message(self) -> None:
        """A text shorter than a larger minimum is refused saying the minimum."""
        with pytest.raises(InvalidInput, match="needs 3"):
            check_text("code", "ab", max_len=10, min_len=3)

    def test_refuses_non_strings(self) -> None:
        """A number is not text."""
        with pytest.raises(InvalidInput, match="must be a string, not int"):
            check_text("summary", 12, max_len=10)


class TestCheckAware:
    @given(ils.aware_datetimes())
    def test_accepts_aware_datetimes(self, value: datetime) -> None:
        """Any timezone-aware datetime is accepted unchanged."""
        assert check_aware("at", value) is value

    @given(st.datetimes())
    def test_refuses_naive_datetimes(self, value: datetime) -> None:
        """A naive datetime is refused as ambiguous, naming the field."""
        with pytest.raises(InvalidInput, match=r"^observed_at: must be timezone-aware"):
            check_aware("observed_at", value)

    @pytest.mark.parametrize("value", [date(2026, 1, 1), "2026-01-01T00:00:00Z", 1767225600])
    def test_refuses_non_datetimes(self, value: object) -> None:
        """Dates, ISO strings and timestamps are not datetimes."""
        with pytest.raises(InvalidInput, match="must be a datetime"):
            check_aware("at", value)


class TestCheckEnum:
    def test_returns_members_unchanged(self) -> None:
        """A member is returned as it is."""
        assert check_enum("colour", Colour, Colour.RED) is Colour.RED

    def test_converts_value_strings(self) -> None:
        """A member's value string is converted to the member."""
        assert check_enum("colour", Colour, "blue") is Colour.BLUE

    @pytest.mark.parametrize("value", ["green", "RED", "", None, 1, ["red"]])
    def test_refuses_unknown_values_listing_the_allowed_ones(self, value: object) -> None:
        """An unknown value is refused with the allowed values listed."""
        with pytest.raises(InvalidInput, match=r"^colour: .* is not one of: red, blue$") as info:
            check_enum("colour", Colour, value)
        assert info.value.field == "colour"


class TestCheckNumbersAndDates:
    @given(st.timedeltas(min_value=timedelta(0)))
    def test_accepts_zero_or_positive_timedeltas(self, value: timedelta) -> None:
        """A timedelta of zero or more is accepted."""
        assert check_non_negative("first_update", value) == value

    @given(st.timedeltas(max_value=-timedelta(microseconds=1)))
    def test_refuses_negative_timedeltas(self, value: timedelta) -> None:
        """A negative timedelta is refused, naming the field."""
        with pytest.raises(InvalidInput, match=r"^first_update: must not be negative$"):
            check_non_negative("first_update", value)

    def test_refuses_seconds_as_a_timedelta(self) -> None:
        """A number of seconds is not a timedelta."""
        with pytest.raises(InvalidInput, match="must be a timedelta, not int"):
            check_non_negative("first_update", 900)

    @given(st.dates())
    def test_accepts_plain_dates(self, value: date) -> None:
        """A plain date is accepted."""
        assert check_date("due", value) == value

    def test_refuses_datetimes_as_dates(self) -> None:
        """A datetime is refused where a plain date is expected, although it subclasses date."""
        with pytest.raises(InvalidInput, match="must be a date, not datetime"):
            check_date("due", datetime(2026, 1, 1, tzinfo=UTC))

    @given(st.integers(0, 10**9))
    def test_accepts_ints_at_or_above_the_minimum(self, value: int) -> None:
        """An int at or above the minimum is accepted."""
        assert check_int("count", value) == value

    @given(st.integers(max_value=0))
    def test_refuses_ints_below_the_minimum(self, value: int) -> None:
        """An int below the minimum is refused, naming the minimum."""
        with pytest.raises(InvalidInput, match=r"^count: must be at least 1$"):
            check_int("count", value, minimum=1)

    @pytest.mark.parametrize("value", [True, False, 1.0, "1"])
    def test_refuses_bools_floats_and_strings_as_ints(self, value: object) -> None:
        """Booleans, floats and numeric strings are not integers."""
        with pytest.raises(InvalidInput, match="must be an integer"):
            check_int("count", value)


class TestFreezeLabels:
    def test_none_becomes_an_empty_mapping(self) -> None:
        """No labels is an empty read-only mapping."""
        assert dict(freeze_labels(None)) == {}

    @given(ils.labels(max_size=MAX_LABELS))
    def test_copies_into_a_read_only_mapping(self, value: dict[str, str]) -> None:
        """Labels are copied: later changes to the source do not leak in, and the copy is frozen."""
        frozen = freeze_labels(value)
        value["added-later"] = "x"
        assert "added-later" not in frozen
        with pytest.raises(TypeError):
            frozen["new"] = "x"  # type: ignore[index]

    def test_accepts_exactly_64_labels(self) -> None:
        """Sixty-four labels is the limit, and allowed."""
        assert len(freeze_labels({f"k{i}": "v" for i in range(MAX_LABELS)})) == MAX_LABELS

    @given(st.integers(MAX_LABELS + 1, 200))
    def test_refuses_more_than_64_labels(self, size: int) -> None:
        """More than 64 labels are refused, naming ``labels`` and the count."""
        with pytest.raises(InvalidInput, match=f"^labels: has {size} labels; the limit is 64$"):
            freeze_labels({f"k{i}": "v" for i in range(size)})

    @pytest.mark.parametrize(
        "value", [{"team": 1}, {1: "one"}, {"team": None}, {"team": b"chat"}], ids=repr
    )
    def test_refuses_non_string_keys_and_values(self, value: Mapping[Any, Any]) -> None:
        """Every key and value must be a string."""
        with pytest.raises(InvalidInput, match=r"^labels: keys and values must be strings"):
            freeze_labels(value)

    @pytest.mark.parametrize("value", [[("k", "v")], "k=v", 3])
    def test_refuses_non_mappings(self, value: object) -> None:
        """Labels must be a mapping."""
        with pytest.raises(InvalidInput, match=r"^labels: must be a mapping"):
            freeze_labels(value)

    @pytest.mark.parametrize("value", [{"": "v"}, {"k\n": "v"}, {"k": "v\x00"}, {"k": "v" * 256}])
    def test_refuses_invalid_keys_and_values(self, value: Mapping[str, str]) -> None:
        """Keys are identifiers; values are single-line-safe text of at most 255 characters."""
        with pytest.raises(InvalidInput) as info:
            freeze_labels(value)
        assert info.value.field == "labels"


@attrs.frozen(kw_only=True)
class _Sample:
    code: str = attrs.field(validator=identifier(8))
    note: str | None = attrs.field(default=None, validator=optional(identifier()))
    colour: Colour = attrs.field(default=Colour.RED, validator=enum_member(Colour))
    when: object = attrs.field(default=None, validator=optional(instance(datetime)))


class TestAttrsValidators:
    def test_validator_names_the_attribute(self) -> None:
        """An attrs validator reports the attribute's own name as the field."""
        with pytest.raises(InvalidInput) as info:
            _Sample(code="much-too-long")
        assert info.value.field == "code"

    def test_optional_lets_none_through_and_checks_the_rest(self) -> None:
        """``optional`` accepts ``None`` and validates anything else."""
        assert _Sample(code="a", note=None).note is None
        with pytest.raises(InvalidInput, match=r"^note: must not be empty$"):
            _Sample(code="a", note=" ")

    def test_enum_member_refuses_raw_values(self) -> None:
        """``enum_member`` wants the member itself, not its value string."""
        with pytest.raises(InvalidInput, match=r"^colour: must be a Colour, not a raw value$"):
            _Sample(code="a", colour="red")

    def test_enum_member_refuses_unknown_values(self) -> None:
        """``enum_member`` refuses unknown values listing the allowed ones."""
        with pytest.raises(InvalidInput, match="is not one of: red, blue"):
            _Sample(code="a", colour="green")

    def test_instance_refuses_other_types(self) -> None:
        """``instance`` names both the expected and the actual type."""
        with pytest.raises(InvalidInput, match=r"^when: must be a datetime, not str$"):
            _Sample(code="a", when="yesterday")
        assert _Sample(code="a", when=datetime(2026, 1, 1, tzinfo=UTC)).code == "a"


LABEL_TEXT = st.text(
    alphabet=st.characters(codec="utf-8") | st.sampled_from(["\t", "\n", "\x00", "\xa0", " "]),
    max_size=300,
)


@given(LABEL_TEXT, LABEL_TEXT)
def test_the_quick_label_test_never_lets_through_what_the_full_checks_refuse(
    key: str, value: str
) -> None:
    """``plain_label`` is a shortcut: whatever it passes, the full checks pass too."""
    if plain_label(key, value):
        check_identifier("labels", key, max_len=255)
        check_text("labels", value, max_len=255, min_len=0)


def _valid_label(key: str, value: str) -> bool:
    try:
        check_identifier("labels", key, max_len=255)
        check_text("labels", value, max_len=255, min_len=0)
    except InvalidInput:
        return False
    return True


@given(LABEL_TEXT, LABEL_TEXT)
def test_freeze_labels_accepts_exactly_the_labels_the_full_checks_accept(
    key: str, value: str
) -> None:
    """The quick path inside ``freeze_labels`` changes its speed, not what it accepts."""
    if _valid_label(key, value):
        assert dict(freeze_labels({key: value})) == {key: value}
    else:
        with pytest.raises(InvalidInput, match="labels"):
            freeze_labels({key: value})


@given(st.sampled_from(["http://", "https://", "ftp://", "", "http:// "]), LABEL_TEXT)
def test_check_url_gives_the_same_answer_the_second_time(scheme: str, rest: str) -> None:
    """URLs are parsed once and remembered: a repeated URL gets the same answer, a refusal
    naming the field each time."""
    url = scheme + rest
    answers = [_url_answer(field, url) for field in ("link", "links")]
    assert answers[0][1] == answers[1][1]
    assert [field for field, _ in answers] in (["link", "links"], [None, None])


def _url_answer(field: str, url: str) -> tuple[str | None, str]:
    """The URL back (and no field), or the refusal's field and reason."""
    try:
        return None, check_url(field, url)
    except InvalidInput as error:
        return error.field, error.reason
