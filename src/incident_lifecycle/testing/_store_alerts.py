"""The store contract's checks of alerts (private: see
:mod:`incident_lifecycle.testing.contracts`)."""

from __future__ import annotations

from datetime import datetime

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ..domain.alerts import Alert, AlertStatus, new_occurrences
from ..domain.errors import ConcurrencyConflict, NotFound
from . import strategies as ils
from ._contract_kit import (
    HOUR,
    T0,
    StoreHarness,
    canonical,
    contract_settings,
    make_alert,
    save_alert,
    store_view,
)


class AlertChecks(StoreHarness):
    """Alerts: round trips, saves, conflicts, one active alert per fingerprint, repeats."""

    # -- alerts ---------------------------------------------------------------------------
    def test_alerts_round_trip_field_by_field(self) -> None:
        """Alerts in every status, with labels, counts and incidents, read back as added."""

        @contract_settings(self.max_examples)
        @given(
            st.lists(
                ils.alerts(),
                min_size=1,
                max_size=5,
                unique_by=(lambda a: a.id, lambda a: a.fingerprint),
            )
        )
        def check(batch: list[Alert]) -> None:
            for alert in batch:
                alert.version = 0
            with self.opened() as store:
                with store.transaction() as tx:
                    tx.add_alerts(batch)
                with store.transaction() as tx:
                    for alert in batch:
                        assert canonical(tx.alert(alert.id)) == canonical(alert)
                    active = tx.active_alerts([a.fingerprint for a in batch])
                    assert canonical(dict(active)) == {
                        a.fingerprint: canonical(a) for a in batch if a.active
                    }
                    for incident_id in {a.incident_id for a in batch if a.incident_id}:
                        assert canonical(list(tx.alerts_of(incident_id))) == canonical(
                            [a for a in batch if a.incident_id == incident_id]
                        )

        check()

    def test_a_missing_alert_is_not_found(self) -> None:
        """Reading or saving an alert that was never added raises ``NotFound``."""
        with self.populated() as store, store.transaction() as tx:
            with pytest.raises(NotFound):
                tx.alert("ALR-404")
            with pytest.raises(NotFound):
                tx.save_alerts([make_alert("ALR-404", "fp-404")])
            assert tx.active_alerts(["fp-404"]) == {}
            assert list(tx.alerts_of("INC-404")) == []

    def test_saving_alerts_writes_status_incident_and_active_and_bumps_versions(self) -> None:
        """``save_alerts`` stores status, incident and ``active``, raising both versions by one."""
        with self.populated() as store:
            with store.transaction() as tx:
                alert = tx.alert("ALR-1")
                alert.status, alert.incident_id, alert.active = (
                    AlertStatus.VALIDATED,
                    "INC-2",
                    False,
                )
                tx.save_alerts([alert])
                assert alert.version == 1
            with store.transaction() as tx:
                stored = tx.alert("ALR-1")
                assert (stored.status, stored.incident_id, stored.active, stored.version) == (
                    AlertStatus.VALIDATED,
                    "INC-2",
                    False,
                    1,
                )
                assert tx.active_alerts(["fp-1"]) == {}
                assert [a.id for a in tx.alerts_of("INC-1")] == ["ALR-3"]
                assert sorted(a.id for a in tx.alerts_of("INC-2")) == ["ALR-1", "ALR-2"]

    def test_saving_an_alert_never_writes_its_count(self) -> None:
        """A stale count or last-seen time on a saved alert does not undo repeats counted since."""
        with self.populated() as store:
            with store.transaction() as tx:
                alert = tx.alert("ALR-1")
            with store.transaction() as tx:
                tx.count_repeats({"fp-1": 10}, {"fp-1": T0 + HOUR})
            alert.count, alert.last_seen_at = 1, T0
            with store.transaction() as tx:
                tx.save_alerts([alert])
            with store.transaction() as tx:
                stored = tx.alert("ALR-1")
            assert (stored.count, stored.last_seen_at, stored.version) == (11, T0 + HOUR, 1)

    def test_a_stale_alert_in_a_batch_conflicts_and_none_is_written(self) -> None:
        """One stale alert makes ``save_alerts`` raise ``ConcurrencyConflict`` and save none."""
        with self.populated() as store:
            with store.transaction() as tx:
                fresh, stale = tx.alert("ALR-1"), tx.alert("ALR-2")
                tx.save_alerts([tx.alert("ALR-2")])
            before = store_view(store)
            fresh.active = stale.active = False
            with store.transaction() as tx:
                with pytest.raises(ConcurrencyConflict):
                    tx.save_alerts([fresh, stale])
                assert tx.alert("ALR-1").active
                assert tx.alert("ALR-1").version == 0
            assert (fresh.version, stale.version) == (0, 0)
            assert store_view(store) == before

    def test_an_alert_id_is_added_once(self) -> None:
        """Adding an alert whose id is taken raises ``ConcurrencyConflict``."""
        with self.populated() as store:
            before = store_view(store)
            with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
                tx.add_alerts([make_alert("ALR-1", "fp-new", active=False)])
            assert store_view(store) == before

    def test_one_active_alert_per_fingerprint(self) -> None:
        """A second active alert of a fingerprint conflicts; an inactive one does not."""
        with self.populated() as store:
            with store.transaction() as tx, pytest.raises(ConcurrencyConflict):
                tx.add_alerts([make_alert("ALR-9", "fp-1")])
            with store.transaction() as tx:
                tx.add_alerts([make_alert("ALR-9", "fp-1", "INC-1", active=False)])
                assert tx.active_alerts(["fp-1"])["fp-1"].id == "ALR-1"
            with store.transaction() as tx:
                old = tx.alert("ALR-9")
                old.active = True
                with pytest.raises(ConcurrencyConflict):
                    tx.save_alerts([old])
            with store.transaction() as tx:
                assert tx.active_alerts(["fp-1"])["fp-1"].id == "ALR-1"

    def test_two_active_alerts_of_one_fingerprint_in_one_batch_conflict(self) -> None:
        """A batch holding two active alerts of one fingerprint is refused as a whole."""
        with self.opened() as store:
            with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
                tx.add_alerts([make_alert("ALR-1", "fp"), make_alert("ALR-2", "fp")])
            with store.transaction() as tx:
                assert tx.active_alerts(["fp"]) == {}
                with pytest.raises(NotFound):
                    tx.alert("ALR-1")

    def test_a_fingerprint_is_free_again_once_its_alert_is_inactive(self) -> None:
        """After its alert stops being active, a fingerprint may get a new active alert."""
        with self.populated() as store, store.transaction() as tx:
            save_alert(tx)
            tx.add_alerts([make_alert("ALR-9", "fp-1")])
            assert tx.active_alerts(["fp-1"])["fp-1"].id == "ALR-9"

    def test_count_repeats_adds_counts_and_keeps_the_latest_time(self) -> None:
        """Repeats raise the active alert's count and last-seen time, and no version."""
        with self.populated() as store:
            with store.transaction() as tx:
                save_alert(tx)  # fp-1 has no active alert any more
                tx.add_alerts([make_alert("ALR-9", "fp-9", active=False)])
                counted = tx.count_repeats(
                    {"fp-1": 4, "fp-2": 3, "fp-9": 7, "fp-unknown": 9},
                    {"fp-1": T0, "fp-2": T0 + HOUR, "fp-9": T0, "fp-unknown": T0},
                )
                assert dict(counted) == {"fp-2": ("ALR-2", "INC-2")}
                counted = tx.count_repeats({"fp-2": 2, "fp-3": 1}, {"fp-2": T0, "fp-3": T0})
                assert dict(counted) == {"fp-2": ("ALR-2", "INC-2"), "fp-3": ("ALR-3", "INC-1")}
            with store.transaction() as tx:
                two, three = tx.alert("ALR-2"), tx.alert("ALR-3")
                assert (two.count, two.last_seen_at, two.version) == (6, T0 + HOUR, 0)
                assert (three.count, three.last_seen_at, three.version) == (2, T0, 0)
                assert (tx.alert("ALR-1").count, tx.alert("ALR-9").count) == (1, 1)
                assert tx.count_repeats({}, {}) == {}

    def test_counting_never_conflicts_with_a_save(self) -> None:
        """An alert read before repeats were counted still saves: counting changes no version."""
        with self.populated() as store:
            with store.transaction() as tx:
                alert = tx.alert("ALR-2")
            with store.transaction() as tx:
                tx.count_repeats({"fp-2": 1}, {"fp-2": T0})
            alert.status = AlertStatus.VALIDATED
            with store.transaction() as tx:
                tx.save_alerts([alert])
                assert tx.alert("ALR-2").count == 2

    # -- occurrences ----------------------------------------------------------------------
    def test_a_start_already_counted_moves_only_the_last_seen_time(self) -> None:
        """A re-sent start (no later than the alert's latest) counts nothing; a later one counts."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.add_alerts([attrs.evolve(make_alert("ALR-1", "fp"), started_at=T0)])
            with store.transaction() as tx:
                counted = tx.count_repeats({"fp": 0}, {"fp": T0 + HOUR}, {"fp": [T0]})
                assert dict(counted) == {"fp": ("ALR-1", None)}
                tx.count_repeats({"fp": 0}, {"fp": T0}, {"fp": [T0 - HOUR]})
            with store.transaction() as tx:
                alert = tx.alert("ALR-1")
                assert (alert.count, alert.last_seen_at, alert.started_at) == (1, T0 + HOUR, T0)
                later = T0 + 2 * HOUR
                tx.count_repeats({"fp": 1}, {"fp": later}, {"fp": [T0, later, later + HOUR]})
            with store.transaction() as tx:
                alert = tx.alert("ALR-1")
                assert (alert.count, alert.started_at, alert.version) == (4, later + HOUR, 0)

    def test_every_start_is_new_to_an_alert_without_one(self) -> None:
        """An alert opened by signals without a start counts each distinct start it then sees."""
        with self.populated() as store:
            with store.transaction() as tx:
                tx.count_repeats({"fp-2": 0}, {"fp-2": T0}, {"fp-2": [T0, T0 + HOUR, T0]})
            with store.transaction() as tx:
                alert = tx.alert("ALR-2")
                assert (alert.count, alert.started_at) == (3, T0 + HOUR)

    def test_a_rolled_back_count_restores_the_start(self) -> None:
        """Counting in a transaction that rolls back leaves count, times and start as they were."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.add_alerts([attrs.evolve(make_alert("ALR-1", "fp"), started_at=T0)])

            def count_then_abort() -> None:
                with store.transaction() as tx:
                    tx.count_repeats({"fp": 2}, {"fp": T0 + HOUR}, {"fp": [T0 + HOUR]})
                    raise RuntimeError("abort")

            with pytest.raises(RuntimeError):
                count_then_abort()
            with store.transaction() as tx:
                alert = tx.alert("ALR-1")
                assert (alert.count, alert.last_seen_at, alert.started_at) == (1, T0, T0)

    def test_occurrences_are_counted_as_the_domain_rule_says(self) -> None:
        """Any starts, on an alert with or without one, count as ``new_occurrences`` says."""
        times = st.integers(-5, 5).map(lambda n: T0 + n * HOUR)

        @contract_settings(self.max_examples)
        @given(
            st.none() | times,
            st.lists(st.lists(times, max_size=4), min_size=1, max_size=3),
            st.integers(0, 3),
        )
        def check(first: datetime | None, batches: list[list[datetime]], plain: int) -> None:
            count, latest = 1, first
            with self.opened() as store:
                with store.transaction() as tx:
                    tx.add_alerts([attrs.evolve(make_alert("ALR-1", "fp"), started_at=first)])
                for batch in batches:
                    more, latest = new_occurrences(latest, batch)
                    count += plain + more
                    with store.transaction() as tx:
                        tx.count_repeats({"fp": plain}, {"fp": T0}, {"fp": batch})
                with store.transaction() as tx:
                    alert = tx.alert("ALR-1")
                assert (alert.count, alert.started_at) == (count, latest)

        check()
