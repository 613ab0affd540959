"""The store contract's checks of transactions, ids, alerts, incidents, reports, links,
updates and the timeline (private: see :mod:`incident_lifecycle.testing.contracts`)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ..domain.alerts import Alert, AlertStatus
from ..domain.errors import ConcurrencyConflict, NotFound
from ..domain.events import EVENT_TYPES, DomainEvent
from ..domain.incidents import (
    ACTIVE_STATUSES,
    IncidentStatus,
    ServiceIncident,
    StatusUpdate,
    incident_order,
    regions_compatible,
)
from ..domain.reports import CustomerReport, ReportStatus
from ..lifecycle import REPORT_LIFECYCLE, Transition
from . import strategies as ils
from ._contract_kit import (
    EACH_KIND_EXAMPLES,
    HOUR,
    MICROSECOND,
    MINUTE,
    T0,
    WRITES,
    Interrupt,
    StoreHarness,
    apply_link,
    canonical,
    contract_settings,
    every_write,
    make_alert,
    make_incident,
    make_note,
    make_report,
    rolled_back,
    save_alert,
    save_incident,
    save_once,
    store_view,
)


class EntityChecks(StoreHarness):
    """Transactions, ids and every entity but the outbox: round trips, conflicts, lookups."""

    # -- transactions -------------------------------------------------------------------
    def test_changes_commit_when_the_block_ends_normally(self) -> None:
        """What a transaction wrote is visible to the next one once its block ended normally."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.add_incident(make_incident("INC-1"))
                assert tx.incident("INC-1").id == "INC-1"
            with store.transaction() as tx:
                assert tx.incident("INC-1").title == "latency on support"

    @pytest.mark.parametrize("write", list(WRITES))
    def test_every_kind_of_write_is_rolled_back_on_an_exception(self, write: str) -> None:
        """A write followed by an exception in its transaction leaves every record as it was."""
        with self.populated() as store:
            before = store_view(store)
            rolled_back(store, WRITES[write])
            assert store_view(store) == before
            with store.transaction() as tx:  # the store is still usable
                WRITES[write](tx)

    def test_a_base_exception_rolls_back_too(self) -> None:
        """An interrupt that is not an ``Exception`` (like ``KeyboardInterrupt``) rolls back."""
        with self.populated() as store:
            before = store_view(store)

            def interrupted() -> None:
                with store.transaction() as tx:
                    every_write(tx)
                    raise Interrupt

            with pytest.raises(Interrupt):
                interrupted()
            assert store_view(store) == before

    def test_a_conflict_escaping_the_block_rolls_back_the_writes_before_it(self) -> None:
        """When a stale save raises out of the block, nothing written before it is kept."""
        with self.populated() as store:
            with store.transaction() as tx:
                stale = tx.incident("INC-2")
                tx.save_incident(tx.incident("INC-2"))
            before = store_view(store)

            def write_then_conflict() -> None:
                with store.transaction() as tx:
                    tx.add_report(make_report("T-9"))
                    tx.enqueue([make_note("k-f1", "team-f")], T0)
                    tx.save_incident(stale)

            with pytest.raises(ConcurrencyConflict):
                write_then_conflict()
            assert store_view(store) == before

    def test_entities_read_are_the_callers_copies(self) -> None:
        """Changing an alert, incident, report or list read from the store changes nothing."""
        with self.populated() as store:
            before = store_view(store)
            with store.transaction() as tx:
                alert, incident = tx.alert("ALR-1"), tx.incident("INC-1")
                report = tx.report("T-2")
                assert report is not None
                alert.count, alert.active = 99, False
                incident.title = "changed"
                report.summary = "changed"
                tickets = tx.linked_tickets("INC-2")
                if isinstance(tickets, list):
                    tickets.append("T-9")
            assert store_view(store) == before

    def test_concurrent_transactions_from_threads_lose_nothing(self) -> None:
        """Transactions run from four threads at once serialise: no save and no id is lost."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.add_incident(make_incident("INC-1"))
            ids: list[str] = []
            errors: list[BaseException] = []
            start = threading.Barrier(4)

            def work(worker: int) -> None:
                try:
                    start.wait()
                    for _ in range(10):
                        ids.append(save_once(store, worker))
                except BaseException as error:  # reported by the assertion below
                    errors.append(error)

            threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == []
            with store.transaction() as tx:
                assert tx.incident("INC-1").version == 40
            assert len(set(ids)) == 40

    # -- ids ------------------------------------------------------------------------------
    def test_new_id_is_the_prefix_a_dash_and_a_number(self) -> None:
        """``new_id`` hands out ``prefix-<n>`` ids, distinct per prefix and never repeated."""
        with self.opened() as store:
            seen: set[str] = set()
            for _ in range(3):
                with store.transaction() as tx:
                    for prefix in ("INC", "ALR", "UPD"):
                        new = tx.new_id(prefix)
                        head, _, number = new.rpartition("-")
                        assert head == prefix
                        assert number.isdigit()
                        assert new not in seen
                        seen.add(new)
            assert len(seen) == 9

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

    # -- incidents ------------------------------------------------------------------------
    def test_incidents_in_every_status_round_trip_field_by_field(self) -> None:
        """An incident of each status, with all its fields, reads back as added."""

        @contract_settings(self.max_examples, EACH_KIND_EXAMPLES)
        @given(st.data())
        def check(data: st.DataObject) -> None:
            added = []
            for number, status in enumerate(IncidentStatus, start=1):
                incident = data.draw(ils.service_incidents(status), label=status.value)
                incident.id, incident.version = f"INC-{number}", 0
                added.append(incident)
            with self.opened() as store:
                with store.transaction() as tx:
                    for incident in added:
                        tx.add_incident(incident)
                with store.transaction() as tx:
                    for incident in added:
                        assert canonical(tx.incident(incident.id)) == canonical(incident)
                    active = tx.active_incidents()
                    everything = tx.incidents_detected_between(None, None)
                expected = sorted(
                    (i for i in added if i.status in ACTIVE_STATUSES), key=incident_order
                )
                assert canonical(list(active)) == canonical(expected)
                assert sorted(i.id for i in everything) == sorted(i.id for i in added)
                assert canonical(sorted(everything, key=lambda i: i.id)) == canonical(
                    sorted(added, key=lambda i: i.id)
                )

        check()

    def test_saving_an_incident_writes_every_field(self) -> None:
        """``save_incident`` replaces every field and raises both versions by one."""

        @contract_settings(self.max_examples)
        @given(ils.service_incidents(), ils.service_incidents())
        def check(first: ServiceIncident, second: ServiceIncident) -> None:
            first.version = 0
            replacement = attrs.evolve(second, id=first.id, version=0)
            with self.opened() as store:
                with store.transaction() as tx:
                    tx.add_incident(first)
                with store.transaction() as tx:
                    tx.save_incident(replacement)
                    assert replacement.version == 1
                with store.transaction() as tx:
                    assert canonical(tx.incident(first.id)) == canonical(replacement)
                    active = [i.id for i in tx.active_incidents()]
                    found = tx.incidents_detected_between(None, None)
                assert active == ([first.id] if replacement.status in ACTIVE_STATUSES else [])
                assert canonical(list(found)) == canonical([replacement])

        check()

    def test_a_missing_incident_is_not_found(self) -> None:
        """Reading or saving an incident that was never added raises ``NotFound``."""
        with self.populated() as store, store.transaction() as tx:
            with pytest.raises(NotFound):
                tx.incident("INC-404")
            with pytest.raises(NotFound):
                tx.save_incident(make_incident("INC-404"))

    def test_a_stale_incident_conflicts_and_nothing_is_written(self) -> None:
        """Saving an incident read before another save raises and keeps the winner's data."""
        with self.populated() as store:
            with store.transaction() as tx:
                first, second = tx.incident("INC-2"), tx.incident("INC-2")
            first.title, second.title = "winner", "loser"
            with store.transaction() as tx:
                tx.save_incident(first)
            with store.transaction() as tx:
                with pytest.raises(ConcurrencyConflict):
                    tx.save_incident(second)
                stored = tx.incident("INC-2")
            assert (stored.title, stored.version, second.version) == ("winner", 1, 0)

    def test_an_incident_id_is_added_once(self) -> None:
        """Adding an incident whose id is taken raises ``ConcurrencyConflict``."""
        with self.populated() as store:
            before = store_view(store)
            with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
                tx.add_incident(make_incident("INC-1", group_key="other"))
            assert store_view(store) == before

    def test_one_detected_incident_per_group_key(self) -> None:
        """A second detected incident of a group key conflicts until the first is validated."""
        with self.populated() as store:
            with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
                tx.add_incident(make_incident("INC-9", group_key="support|eu"))
            with store.transaction() as tx:
                tx.add_incident(make_incident("INC-9", group_key="chat|eu"))
            with store.transaction() as tx:
                moved = tx.incident("INC-9")
                moved.group_key = "support|eu"
                with pytest.raises(ConcurrencyConflict):
                    tx.save_incident(moved)
            with store.transaction() as tx:
                save_incident(tx)  # INC-1 is validated: the key is free for a detected one
                tx.add_incident(make_incident("INC-10", group_key="support|eu"))
                found = tx.active_incidents(group_key="support|eu")
            assert [(i.id, i.status) for i in found] == [
                ("INC-1", IncidentStatus.INVESTIGATING),
                ("INC-10", IncidentStatus.DETECTED),
            ]

    def test_open_incidents_may_share_a_group_key(self) -> None:
        """The rule only holds for detected incidents: open ones of one key coexist."""
        with self.opened() as store, store.transaction() as tx:
            for number in range(3):
                tx.add_incident(
                    make_incident(
                        f"INC-{number}", group_key="g", status=IncidentStatus.INVESTIGATING
                    )
                )
            tx.add_incident(make_incident("INC-3", group_key="g"))
            assert len(tx.active_incidents(group_key="g")) == 4

    def test_active_incidents_filter_and_order(self) -> None:
        """Active incidents are detected or open ones, filtered as asked, oldest first."""
        statuses = st.sampled_from(
            [
                IncidentStatus.DETECTED,
                IncidentStatus.INVESTIGATING,
                IncidentStatus.RESOLVED,
                IncidentStatus.DISMISSED,
            ]
        )
        specs = st.tuples(
            statuses,
            st.sampled_from(["support", "chat", "talk"]),
            st.none() | st.sampled_from(["g1", "g2"]),
            st.none() | st.sampled_from(["eu", "us"]),
            st.integers(0, 3),
        )

        @contract_settings(self.max_examples)
        @given(st.lists(specs, max_size=12), st.data())
        def check(rows: list[Any], data: st.DataObject) -> None:
            incidents, detected_keys = [], set()
            for number, (status, product, group, region, minutes) in enumerate(rows, start=1):
                if status is IncidentStatus.DETECTED and group is not None:
                    if group in detected_keys:
                        group = None
                    detected_keys.add(group)
                incident = make_incident(
                    f"INC-{number}",
                    product=product,
                    group_key=group,
                    region=region,
                    detected_at=T0 + minutes * MINUTE,
                    status=status,
                )
                incidents.append(incident)
            filters = data.draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "product": st.sampled_from(["support", "chat", "talk"]),
                        "group_key": st.sampled_from(["g1", "g2"]),
                        "region": st.sampled_from(["eu", "us"]),
                    },
                )
            )
            with self.opened() as store:
                with store.transaction() as tx:
                    for incident in data.draw(st.permutations(incidents)):
                        tx.add_incident(incident)
                with store.transaction() as tx:
                    found = tx.active_incidents(**filters)
            expected = sorted(
                (
                    i
                    for i in incidents
                    if i.status in ACTIVE_STATUSES
                    and filters.get("product", i.products[0]) in i.products
                    and filters.get("group_key", i.group_key) == i.group_key
                    and regions_compatible(i.region, filters.get("region"))
                ),
                key=incident_order,
            )
            assert [i.id for i in found] == [i.id for i in expected]

        check()

    def test_incidents_detected_between_is_half_open_and_oldest_first(self) -> None:
        """``incidents_detected_between`` keeps ``since <= detected_at < until``, oldest first."""
        times = [T0 + n * MINUTE for n in (3, 0, 2, 1, 2)]
        with self.opened() as store:
            with store.transaction() as tx:
                for number, at in enumerate(times, start=1):
                    tx.add_incident(
                        make_incident(
                            f"INC-{number}", detected_at=at, status=IncidentStatus.RESOLVED
                        )
                    )
            with store.transaction() as tx:

                def between(since: datetime | None, until: datetime | None) -> list[datetime]:
                    found = tx.incidents_detected_between(since, until)
                    return [i.detected_at for i in found]

                assert between(None, None) == sorted(times)
                assert between(T0 + MINUTE, T0 + 3 * MINUTE) == [
                    T0 + MINUTE,
                    T0 + 2 * MINUTE,
                    T0 + 2 * MINUTE,
                ]
                assert between(T0 + 2 * MINUTE, None) == [T0 + 2 * MINUTE] * 2 + [T0 + 3 * MINUTE]
                assert between(None, T0 + MINUTE) == [T0]
                assert between(T0 + MINUTE, T0 + MINUTE) == []
                paris = T0.astimezone(timezone(timedelta(hours=1)))
                assert between(paris, paris + MICROSECOND) == [T0]

    # -- reports --------------------------------------------------------------------------
    def test_reports_in_every_status_round_trip_field_by_field(self) -> None:
        """A report of each status, with all its fields, reads back as added."""

        @contract_settings(self.max_examples, EACH_KIND_EXAMPLES)
        @given(st.tuples(*(ils.customer_reports(status) for status in ReportStatus)))
        def check(drawn: tuple[CustomerReport, ...]) -> None:
            added = list(drawn)
            assume(len({r.ticket_id for r in added}) == len(added))
            for report in added:
                report.version = 0
            with self.opened() as store:
                with store.transaction() as tx:
                    for report in added:
                        tx.add_report(report)
                with store.transaction() as tx:
                    for report in added:
                        assert canonical(tx.report(report.ticket_id)) == canonical(report)
                    for product in {r.product for r in added}:
                        since = min(r.reported_at for r in added)
                        found = tx.reports_since(product, since)
                        expected = sorted(
                            (r for r in added if r.product == product),
                            key=lambda r: r.reported_at,
                        )
                        assert canonical(list(found)) == canonical(expected)

        check()

    def test_a_missing_report_is_none_and_cannot_be_saved(self) -> None:
        """``report`` of an unknown ticket is ``None``; saving one raises ``NotFound``."""
        with self.populated() as store, store.transaction() as tx:
            assert tx.report("T-404") is None
            with pytest.raises(NotFound):
                tx.save_reports([make_report("T-404")])

    def test_saving_reports_writes_their_status_and_bumps_versions(self) -> None:
        """``save_reports`` stores status, incident and end time, raising both versions."""
        with self.populated() as store:
            with store.transaction() as tx:
                one, two = tx.report("T-1"), tx.report("T-2")
                assert one is not None
                assert two is not None
                one.status, one.ended_at = ReportStatus.SOLVED, T0 + HOUR
                two.status, two.incident_id = ReportStatus.LINKED, "INC-1"
                tx.save_reports([one, two])
                assert (one.version, two.version) == (1, 1)
            with store.transaction() as tx:
                assert canonical(tx.report("T-1")) == canonical(one)
                assert canonical(tx.report("T-2")) == canonical(two)

    def test_a_stale_report_in_a_batch_conflicts_and_none_is_written(self) -> None:
        """One stale report makes ``save_reports`` raise ``ConcurrencyConflict`` and save none."""
        with self.populated() as store:
            with store.transaction() as tx:
                fresh, stale = tx.report("T-2"), tx.report("T-1")
                assert fresh is not None
                assert stale is not None
                winner = tx.report("T-1")
                assert winner is not None
                tx.save_reports([winner])
            before = store_view(store)
            fresh.status = stale.status = ReportStatus.TROUBLESHOOTING
            with store.transaction() as tx:
                with pytest.raises(ConcurrencyConflict):
                    tx.save_reports([fresh, stale])
                kept = tx.report("T-2")
                assert kept is not None
                assert (kept.status, kept.version) == (ReportStatus.RECEIVED, 0)
            assert (fresh.version, stale.version) == (0, 0)
            assert store_view(store) == before

    def test_a_ticket_has_one_report(self) -> None:
        """Adding a report whose ticket id is taken raises ``ConcurrencyConflict``."""
        with self.populated() as store:
            before = store_view(store)
            with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
                tx.add_report(make_report("T-1"))
            assert store_view(store) == before

    def test_reports_since_filters_by_product_and_time(self) -> None:
        """``reports_since`` keeps one product's reports at or after ``since``, oldest first."""
        with self.opened() as store:
            with store.transaction() as tx:
                tx.add_report(make_report("T-1", reported_at=T0 + 2 * MINUTE))
                tx.add_report(make_report("T-2", reported_at=T0))
                tx.add_report(make_report("T-3", reported_at=T0 + MINUTE))
                tx.add_report(make_report("T-4", product="chat", reported_at=T0 + HOUR))
            with store.transaction() as tx:
                assert [r.ticket_id for r in tx.reports_since("support", T0)] == [
                    "T-2",
                    "T-3",
                    "T-1",
                ]
                assert [r.ticket_id for r in tx.reports_since("support", T0 + MINUTE)] == [
                    "T-3",
                    "T-1",
                ]
                assert list(tx.reports_since("support", T0 + HOUR)) == []
                assert [r.ticket_id for r in tx.reports_since("chat", T0)] == ["T-4"]

    # -- links ------------------------------------------------------------------------------
    def test_links_agree_with_a_model(self) -> None:
        """Any sequence of link, unlink and move_links leaves tickets linked as a model says."""
        tickets, incidents = ("T-1", "T-2", "T-3", "T-4", "T-5"), ("INC-1", "INC-2", "INC-3")
        operations = st.tuples(
            st.sampled_from(["link", "unlink", "move"]),
            st.sampled_from(tickets),
            st.sampled_from(incidents),
            st.sampled_from(incidents),
        )
        statuses = st.sampled_from([None, *ReportStatus])

        @contract_settings(self.max_examples)
        @given(st.lists(operations, max_size=25), st.lists(statuses, min_size=5, max_size=5))
        def check(ops: list[tuple[str, str, str, str]], reports: list[Any]) -> None:
            model: dict[str, list[str]] = {incident: [] for incident in incidents}
            with self.opened() as store:
                with store.transaction() as tx:
                    for incident in incidents:
                        tx.add_incident(
                            make_incident(incident, status=IncidentStatus.INVESTIGATING)
                        )
                    for ticket, status in zip(tickets, reports, strict=True):
                        if status is not None:
                            tx.add_report(
                                make_report(ticket, status=status, locale=f"fr-{ticket[2:]}")
                            )
                for name, ticket, incident, other in ops:
                    with store.transaction() as tx:
                        if name == "move":
                            assert tx.move_links(incident, other) == len(model[incident])
                        elif name == "link":
                            tx.link(ticket, incident)
                        else:
                            tx.unlink(ticket)
                    apply_link(model, name, ticket, incident, other)
                status_of = dict(zip(tickets, reports, strict=True))
                with store.transaction() as tx:
                    for incident, linked in model.items():
                        assert list(tx.linked_tickets(incident)) == linked
                        reported = [t for t in linked if status_of[t] is not None]
                        assert [r.ticket_id for r in tx.reports_linked_to(incident)] == reported
                        for status in ReportStatus:
                            chosen = [t for t in linked if status_of[t] is status]
                            found = tx.reports_linked_to(incident, status)
                            assert [r.ticket_id for r in found] == chosen
                            assert list(tx.linked_recipients(incident, status)) == [
                                (t, f"fr-{t[2:]}") for t in chosen
                            ]
                    for ticket in tickets:
                        owner = [i for i, linked in model.items() if ticket in linked]
                        assert tx.incident_of(ticket) == (owner[0] if owner else None)

        check()

    def test_linking_keeps_link_order_and_relinking_moves_a_ticket(self) -> None:
        """Tickets list in link order; relinking moves one to the end of its new incident."""
        with self.populated() as store, store.transaction() as tx:
            assert list(tx.linked_tickets("INC-2")) == ["T-1", "T-2", "T-3"]
            tx.link("T-2", "INC-2")  # already there: stays in place
            assert list(tx.linked_tickets("INC-2")) == ["T-1", "T-2", "T-3"]
            tx.link("T-9", "INC-1")
            tx.link("T-1", "INC-1")
            assert list(tx.linked_tickets("INC-1")) == ["T-9", "T-1"]
            assert list(tx.linked_tickets("INC-2")) == ["T-2", "T-3"]
            tx.link("T-1", "INC-2")
            assert list(tx.linked_tickets("INC-2")) == ["T-2", "T-3", "T-1"]
            tx.unlink("T-3")
            tx.unlink("T-3")
            tx.unlink("T-unknown")
            assert (tx.incident_of("T-3"), tx.incident_of("T-1")) == (None, "INC-2")
            assert tx.move_links("INC-2", "INC-1") == 2
            assert list(tx.linked_tickets("INC-1")) == ["T-9", "T-2", "T-1"]
            assert list(tx.linked_tickets("INC-2")) == []
            assert tx.move_links("INC-2", "INC-1") == 0

    def test_linked_recipients_are_linked_reports_in_a_status(self) -> None:
        """``linked_recipients`` gives ``(ticket, locale)`` of linked reports, in link order."""
        with self.populated() as store, store.transaction() as tx:
            tx.add_report(
                make_report("T-9", status=ReportStatus.LINKED, incident_id="INC-2", locale="fr-CA")
            )
            tx.link("T-9", "INC-2")
            assert list(tx.linked_recipients("INC-2")) == [
                ("T-1", "en"),
                ("T-3", "en"),
                ("T-9", "fr-CA"),
            ]
            assert list(tx.linked_recipients("INC-2", ReportStatus.RECEIVED)) == [("T-2", "en")]
            assert list(tx.linked_recipients("INC-1")) == []
            found = tx.reports_linked_to("INC-2", ReportStatus.LINKED)
            assert [r.ticket_id for r in found] == ["T-1", "T-3", "T-9"]

    def test_transition_linked_reports_moves_them_in_bulk(self) -> None:
        """Linked reports in ``source`` move to ``target``, versions up, ended when solved."""
        with self.populated() as store:
            with store.transaction() as tx:
                stale = tx.report("T-1")
                moved = tx.transition_linked_reports(
                    "INC-2", ReportStatus.LINKED, ReportStatus.SOLVED, T0 + HOUR
                )
                assert list(moved) == [("T-1", "en"), ("T-3", "en")]
                again = tx.transition_linked_reports(
                    "INC-2", ReportStatus.LINKED, ReportStatus.SOLVED, T0 + HOUR
                )
                assert list(again) == []
            with store.transaction() as tx:
                for ticket in ("T-1", "T-3"):
                    report = tx.report(ticket)
                    assert report is not None
                    assert (report.status, report.ended_at, report.version) == (
                        ReportStatus.SOLVED,
                        T0 + HOUR,
                        1,
                    )
                untouched = tx.report("T-2")
                assert untouched is not None
                assert (untouched.status, untouched.version) == (ReportStatus.RECEIVED, 0)
                assert stale is not None
                with pytest.raises(ConcurrencyConflict):
                    tx.save_reports([stale])
            with store.transaction() as tx:
                moved = tx.transition_linked_reports(
                    "INC-2", ReportStatus.RECEIVED, ReportStatus.LINKED, T0 + 2 * HOUR
                )
                assert list(moved) == [("T-2", "en")]
                report = tx.report("T-2")
                assert report is not None
                assert (report.status, report.ended_at, report.version) == (
                    ReportStatus.LINKED,
                    None,
                    1,
                )

    def test_the_bulk_cascade_moves_reports_as_the_lifecycle_does(self) -> None:
        """``transition_linked_reports`` along any report edge leaves what firing the event
        leaves: the target status, ``ended_at`` stamped when the target ends, one more version."""

        @contract_settings(self.max_examples)
        @given(st.sampled_from(REPORT_LIFECYCLE.transitions), ils.aware_datetimes())
        def check(edge: Transition, now: datetime) -> None:
            source, target = ReportStatus(edge.source), ReportStatus(edge.target)
            report = make_report("T-1", status=source, incident_id="INC-1")
            with self.opened() as store:
                with store.transaction() as tx:
                    tx.add_incident(make_incident("INC-1"))
                    tx.add_report(report)
                    tx.link("T-1", "INC-1")
                with store.transaction() as tx:
                    moved = tx.transition_linked_reports("INC-1", source, target, now)
                    stored = tx.report("T-1")
            REPORT_LIFECYCLE.fire(report, edge.event, now=now)
            report.version = 1
            assert list(moved) == [("T-1", "en")]
            assert canonical(stored) == canonical(report)

        check()

    # -- updates and timeline ---------------------------------------------------------------
    def test_updates_round_trip_in_posting_order(self) -> None:
        """Status updates read back field by field, per incident, in posting order."""

        @contract_settings(self.max_examples)
        @given(
            st.lists(
                st.tuples(ils.status_updates(), st.sampled_from(["INC-1", "INC-2"])),
                max_size=8,
                unique_by=lambda pair: pair[0].id,
            ),
            st.integers(1, 3),
        )
        def check(pairs: list[tuple[StatusUpdate, str]], chunk: int) -> None:
            updates = [attrs.evolve(update, incident_id=i) for update, i in pairs]
            with self.opened() as store:
                for start in range(0, len(updates), chunk):
                    with store.transaction() as tx:
                        for update in updates[start : start + chunk]:
                            tx.add_update(update)
                with store.transaction() as tx:
                    for incident_id in ("INC-1", "INC-2", "INC-3"):
                        expected = [u for u in updates if u.incident_id == incident_id]
                        assert canonical(list(tx.updates(incident_id))) == canonical(expected)

        check()

    def test_every_event_type_round_trips_in_append_order(self) -> None:
        """One event of every type, appended in any order, reads back field by field in order."""

        @contract_settings(self.max_examples, EACH_KIND_EXAMPLES)
        @given(st.data())
        def check(data: st.DataObject) -> None:
            events = [
                attrs.evolve(data.draw(ils.domain_events(cls), label=name), incident_id="INC-1")
                for name, cls in EVENT_TYPES.items()
            ]
            events = data.draw(st.permutations(events))
            with self.opened() as store:
                with store.transaction() as tx:
                    tx.append(events[:10])
                    tx.append([])
                with store.transaction() as tx:
                    tx.append(events[10:])
                with store.transaction() as tx:
                    assert canonical(list(tx.timeline("INC-1"))) == canonical(events)
                    assert list(tx.timeline("INC-2")) == []

        check()

    def test_timelines_are_kept_per_incident(self) -> None:
        """Events of several incidents (and of none) are appended; each timeline keeps order."""

        @contract_settings(self.max_examples)
        @given(
            st.lists(
                st.tuples(ils.domain_events(), st.sampled_from(["INC-1", "INC-2", None])),
                max_size=8,
            )
        )
        def check(pairs: list[tuple[DomainEvent, str | None]]) -> None:
            events = [attrs.evolve(event, incident_id=i) for event, i in pairs]
            with self.opened() as store:
                with store.transaction() as tx:
                    tx.append(events)
                with store.transaction() as tx:
                    for incident_id in ("INC-1", "INC-2"):
                        expected = [e for e in events if e.incident_id == incident_id]
                        assert canonical(list(tx.timeline(incident_id))) == canonical(expected)

        check()
