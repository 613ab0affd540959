"""The store contract's checks of times at the ends of the calendar (private: see
:mod:`incident_lifecycle.testing.contracts`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import attrs
from hypothesis import given
from hypothesis import strategies as st

from ..domain.checks import EARLIEST, LATEST
from ..domain.events import IncidentAcknowledged
from ..domain.incidents import IncidentStatus
from ..domain.reports import ReportStatus
from ..ports import OutboxState
from ._contract_kit import (
    ENGINEER,
    MICROSECOND,
    StoreHarness,
    canonical,
    contract_settings,
    make_alert,
    make_incident,
    make_note,
    make_report,
    make_update,
)

_WIDEST = timedelta(hours=23, minutes=59)
EXTREMES = (
    EARLIEST,
    EARLIEST + MICROSECOND,
    LATEST - MICROSECOND,
    LATEST,
    datetime.min.replace(tzinfo=timezone(_WIDEST)),  # year 0 in UTC
    datetime.max.replace(tzinfo=timezone(-_WIDEST)),  # year 10000 in UTC
    datetime(1970, 1, 1, tzinfo=UTC),
)
"""The first and last instants of years 1 and 9999 (in UTC and in the widest offsets), the
epoch."""
_OFFSETS = st.just(UTC) | st.builds(
    timezone, st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timedelta(minutes=m))
)
ANY_TIME = st.sampled_from(EXTREMES) | st.datetimes(
    min_value=datetime.min, max_value=datetime.max, timezones=_OFFSETS
)
"""Any aware datetime Python can hold, the calendar's ends more often than chance would."""


class TimeChecks(StoreHarness):
    """Every aware datetime Python holds round-trips, orders and is due like any other."""

    def test_times_at_the_ends_of_the_calendar_round_trip(self) -> None:
        """Entities, events and outbox entries at any instant of years 1 to 9999, in any
        offset, read back at that instant, and lookups by time still find them."""

        @contract_settings(self.max_examples)
        @given(ANY_TIME, ANY_TIME)
        def check(at: datetime, later: datetime) -> None:
            alert = make_alert("ALR-1", "fp-1")
            alert.first_seen_at = alert.last_seen_at = at
            incident = make_incident("INC-1", detected_at=at, status=IncidentStatus.RESOLVED)
            report = make_report("T-1", reported_at=at, status=ReportStatus.SOLVED)
            report.ended_at = later
            update = attrs.evolve(make_update("UPD-1", "INC-1"), posted_at=later)
            event = IncidentAcknowledged(incident_id="INC-1", actor=ENGINEER, at=later)
            note = attrs.evolve(make_note("k1"), created_at=later)
            with self.opened() as store:
                with store.transaction() as tx:
                    tx.add_alerts([alert])
                    tx.add_incident(incident)
                    tx.add_report(report)
                    tx.add_update(update)
                    tx.append([event])
                    tx.enqueue([note], at)
                with store.transaction() as tx:
                    stored = (tx.alert("ALR-1"), tx.incident("INC-1"), tx.report("T-1"))
                    assert canonical(stored) == canonical((alert, incident, report))
                    assert canonical(list(tx.updates("INC-1"))) == canonical([update])
                    assert canonical(list(tx.timeline("INC-1"))) == canonical([event])
                    entry = tx.outbox_entry("k1")
                    assert entry is not None
                    assert canonical(entry.notification) == canonical(note)
                    assert entry.next_attempt_at == entry.updated_at == at
                    assert tx.next_due_at() == at
                    assert [i.id for i in tx.incidents_detected_between(at, None)] == ["INC-1"]
                    assert list(tx.incidents_detected_between(None, at)) == []
                    assert [r.ticket_id for r in tx.reports_since("support", at)] == ["T-1"]
                    (claimed,) = tx.claim_due(at, 10, later, "relay")
                    assert (claimed.key, claimed.next_attempt_at) == ("k1", later)
                    tx.count_repeats({"fp-1": 1}, {"fp-1": later})
                    tx.schedule_retry("k1", later, "busy", at)
                    assert tx.next_due_at() == later
                    tx.mark_dead("k1", "refused", later)
                with store.transaction() as tx:
                    (dead,) = tx.dead_letters()
                    assert (dead.state, dead.updated_at) == (OutboxState.DEAD, later)
                    assert tx.alert("ALR-1").last_seen_at == max(at, later)

        check()

    def test_a_claim_at_the_last_instant_takes_each_entry_once(self) -> None:
        """At the last instant of 9999 a lease ends when it starts (``lease_until == now``):
        one ``claim_due`` still takes each entry at most once, and an entry whose lease
        has ended before the call may be taken again by it."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.enqueue(
                    [make_note(f"k{n}", f"team-{n % 3}") for n in range(5)],
                    LATEST - 3 * MICROSECOND,
                )
            with store.transaction() as tx:
                first = tx.claim_due(LATEST - 2 * MICROSECOND, 1, LATEST, "relay")
            with store.transaction() as tx:
                again = tx.claim_due(LATEST, 101, LATEST, "relay")
            assert [e.key for e in first] == ["k0"]
            keys = [e.key for e in again]
            assert len(keys) == len(set(keys)) == 3
            assert set(keys) == {"k0", "k1", "k2"}
