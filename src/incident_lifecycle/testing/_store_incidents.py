"""The store contract's checks of incidents (private: see
:mod:`incident_lifecycle.testing.contracts`)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ..domain.errors import ConcurrencyConflict, NotFound
from ..domain.incidents import (
    ACTIVE_STATUSES,
    IncidentStatus,
    ServiceIncident,
    incident_order,
    regions_compatible,
)
from . import strategies as ils
from ._contract_kit import (
    EACH_KIND_EXAMPLES,
    MICROSECOND,
    MINUTE,
    T0,
    StoreHarness,
    canonical,
    contract_settings,
    make_incident,
    save_incident,
    store_view,
)


class IncidentChecks(StoreHarness):
    """Incidents: round trips, saves, conflicts, group keys, active and detected lookups."""

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
