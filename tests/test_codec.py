"""The JSON documents of the codec: durations round-trip exactly, old documents still read."""

from __future__ import annotations

from datetime import timedelta

import attrs
from hypothesis import given
from hypothesis import strategies as st

from incident_lifecycle import SEV1, Severity
from incident_lifecycle.codec import decode, encode

POSITIVE = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta.max)


@given(first=POSITIVE, interval=POSITIVE)
def test_any_duration_round_trips_exactly(first: timedelta, interval: timedelta) -> None:
    """A severity's durations, up to ``timedelta.max``, come back exactly (float seconds
    rounded the longest up, past what a ``timedelta`` holds)."""
    level = attrs.evolve(SEV1, first_update=first, update_interval=interval)
    assert decode(encode(level), Severity) == level


def test_a_duration_written_as_float_seconds_still_reads() -> None:
    """Documents written before durations were exact (``{"seconds": 900.0}``) decode alike."""
    document = encode(SEV1)
    document["first_update"] = {"seconds": 900.0}
    assert decode(document, Severity) == SEV1
