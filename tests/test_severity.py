"""Severity levels, the guide's default scale, and custom scales."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_lifecycle.domain import (
    DEFAULT_SCALE,
    SEV0,
    SEV1,
    SEV2,
    SEV3,
    SEV4,
    InvalidInput,
    Severity,
    SeverityScale,
)
from incident_lifecycle.testing import strategies as ils

MINUTE = timedelta(minutes=1)


def level(**changes: Any) -> dict[str, Any]:
    """Constructor arguments of a valid level, with ``changes`` applied."""
    base: dict[str, Any] = {
        "rank": 5,
        "name": "SEV5",
        "description": "Cosmetic.",
        "public": False,
        "first_update": 60 * MINUTE,
        "update_interval": 120 * MINUTE,
        "public_review": False,
    }
    return {**base, **changes}


class TestSeverity:
    def test_levels_order_by_rank_worst_first(self) -> None:
        """``SEV0 < SEV4``: the lower the rank, the earlier in the queue."""
        assert sorted([SEV3, SEV0, SEV4, SEV1, SEV2]) == [SEV0, SEV1, SEV2, SEV3, SEV4]
        assert SEV0 < SEV4

    def test_str_is_the_name(self) -> None:
        """A level prints as its name."""
        assert str(SEV2) == "SEV2"

    def test_is_frozen_and_hashable(self) -> None:
        """A level is an immutable value usable as a dict key."""
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            SEV1.public = False  # type: ignore[misc]
        assert {SEV1: "major"}[SEV1] == "major"

    def test_zero_first_update_is_allowed(self) -> None:
        """A level may ask for an immediate first update."""
        assert Severity(**level(first_update=timedelta(0))).first_update == timedelta(0)

    @given(st.timedeltas(max_value=timedelta(0)))
    def test_update_interval_must_be_longer_than_zero(self, interval: timedelta) -> None:
        """A zero or negative update interval is refused, naming ``update_interval``."""
        with pytest.raises(InvalidInput) as info:
            Severity(**level(update_interval=interval))
        assert info.value.field == "update_interval"

    @given(st.timedeltas(max_value=-timedelta(microseconds=1)))
    def test_negative_first_update_is_refused(self, delay: timedelta) -> None:
        """A negative first-update delay is refused, naming ``first_update``."""
        with pytest.raises(InvalidInput, match=r"^first_update: must not be negative$"):
            Severity(**level(first_update=delay))

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"rank": -1}, "rank"),
            ({"rank": True}, "rank"),
            ({"name": ""}, "name"),
            ({"name": "S" * 33}, "name"),
            ({"description": " "}, "description"),
            ({"description": "d" * 501}, "description"),
            ({"public": "yes"}, "public"),
            ({"public_review": 1}, "public_review"),
            ({"update_interval": 30}, "update_interval"),
        ],
        ids=lambda v: repr(v)[:30],
    )
    def test_refuses_invalid_fields(self, changes: dict[str, Any], field: str) -> None:
        """Each invalid field is refused by name."""
        with pytest.raises(InvalidInput) as info:
            Severity(**level(**changes))
        assert info.value.field == field


class TestDefaultScale:
    def test_has_the_guides_five_levels_worst_first(self) -> None:
        """The default scale is SEV0 (worst) to SEV4, ranked 0 to 4."""
        assert [(s.rank, s.name) for s in DEFAULT_SCALE] == [(i, f"SEV{i}") for i in range(5)]
        assert (DEFAULT_SCALE.worst, DEFAULT_SCALE.least) == (SEV0, SEV4)

    @pytest.mark.parametrize("high", [SEV0, SEV1, SEV2], ids=str)
    def test_high_severities_are_public_15_then_30_minutes(self, high: Severity) -> None:
        """SEV0-SEV2 are announced within 15 minutes, updated every 30, reviewed publicly."""
        assert (high.public, high.public_review) == (True, True)
        assert (high.first_update, high.update_interval) == (15 * MINUTE, 30 * MINUTE)

    @pytest.mark.parametrize("low", [SEV3, SEV4], ids=str)
    def test_low_severities_are_internal(self, low: Severity) -> None:
        """SEV3-SEV4 are neither announced nor reviewed publicly, and update more slowly."""
        assert (low.public, low.public_review) == (False, False)
        assert low.update_interval > SEV2.update_interval

    def test_looks_levels_up_by_name_and_rank(self) -> None:
        """``scale[name]`` and ``by_rank`` find the same level."""
        assert DEFAULT_SCALE["SEV3"] is SEV3
        assert DEFAULT_SCALE.by_rank(3) is SEV3

    @pytest.mark.parametrize("name", ["SEV9", "sev1", "P1"])
    def test_unknown_name_is_refused_naming_severity(self, name: str) -> None:
        """An unknown level name is refused as ``severity``, listing the known ones."""
        with pytest.raises(InvalidInput, match=r"^severity: .* \(SEV0, SEV1, SEV2, SEV3, SEV4\)$"):
            DEFAULT_SCALE[name]

    @pytest.mark.parametrize("name", ["", 1, None])
    def test_malformed_name_is_refused_naming_severity(self, name: Any) -> None:
        """A lookup with something that is not a level name is refused as ``severity``."""
        with pytest.raises(InvalidInput) as info:
            DEFAULT_SCALE[name]
        assert info.value.field == "severity"

    def test_unknown_rank_is_refused(self) -> None:
        """A rank the scale lacks is refused as ``severity``."""
        with pytest.raises(InvalidInput, match=r"^severity: no level has rank 5$"):
            DEFAULT_SCALE.by_rank(5)

    def test_resolve_accepts_levels_and_names(self) -> None:
        """``resolve`` returns the scale's own level for a level or its name."""
        assert DEFAULT_SCALE.resolve("SEV1") is SEV1
        assert DEFAULT_SCALE.resolve(SEV1) is SEV1

    def test_resolve_refuses_a_level_of_another_scale(self) -> None:
        """A level that is not on the scale is refused even if its name is."""
        impostor = attrs.evolve(SEV1, public=False)
        assert impostor not in DEFAULT_SCALE
        with pytest.raises(InvalidInput, match=r"^severity: SEV1 is not a level of this scale$"):
            DEFAULT_SCALE.resolve(impostor)

    def test_len_and_membership(self) -> None:
        """The scale has five levels and contains each of them."""
        assert len(DEFAULT_SCALE) == 5
        assert all(s in DEFAULT_SCALE for s in (SEV0, SEV1, SEV2, SEV3, SEV4))
        assert "SEV1" not in DEFAULT_SCALE


class TestSeverityScale:
    @given(st.data(), st.integers(5, 99))
    def test_sorts_levels_by_rank(self, data: st.DataObject, rank: int) -> None:
        """A scale sorts the levels it is given, worst first, whatever their order."""
        extra = data.draw(ils.severity_levels(rank=rank, name=f"P{rank}"))
        levels = data.draw(st.permutations([extra, *DEFAULT_SCALE]))
        scale = SeverityScale(levels)
        assert list(scale) == [*DEFAULT_SCALE, extra]

    @given(ils.severity_scales())
    def test_every_level_is_found_by_name_and_rank(self, scale: SeverityScale) -> None:
        """Each level of a custom scale is found by its name and by its rank."""
        for each in scale:
            assert scale[each.name] is each
            assert scale.by_rank(each.rank) is each
            assert scale.resolve(each) is each
        assert scale.worst.rank == min(s.rank for s in scale)
        assert scale.least.rank == max(s.rank for s in scale)

    def test_accepts_a_list_and_keeps_a_tuple(self) -> None:
        """Levels given as a list are stored as a tuple."""
        assert SeverityScale([SEV1, SEV0]).levels == (SEV0, SEV1)

    @pytest.mark.parametrize("levels", [(), []])
    def test_refuses_a_scale_without_levels(self, levels: Any) -> None:
        """A scale needs at least one level."""
        with pytest.raises(InvalidInput, match=r"^levels: a scale needs at least one level$"):
            SeverityScale(levels)

    def test_refuses_duplicate_names(self) -> None:
        """Two levels with one name are refused, naming the duplicate."""
        with pytest.raises(InvalidInput, match=r"^levels: duplicate level names: SEV1$"):
            SeverityScale([SEV0, SEV1, attrs.evolve(SEV1, rank=7)])

    def test_refuses_duplicate_ranks(self) -> None:
        """Two levels with one rank are refused."""
        with pytest.raises(InvalidInput, match=r"^levels: duplicate level ranks$"):
            SeverityScale([SEV0, attrs.evolve(SEV1, rank=0, name="P0")])

    @pytest.mark.parametrize("levels", [[SEV0, "SEV1"], "SEV0", (s for s in [SEV0]), {SEV0}])
    def test_refuses_things_that_are_not_levels(self, levels: Any) -> None:
        """Only a list or tuple of ``Severity`` values makes a scale."""
        with pytest.raises(InvalidInput) as info:
            SeverityScale(levels)
        assert info.value.field == "levels"

    def test_equal_scales_compare_equal(self) -> None:
        """Two scales with the same levels are equal, whatever the order given."""
        assert SeverityScale([SEV4, SEV0]) == SeverityScale((SEV0, SEV4))
