"""The store contract's checks of reports, links, updates and the timeline (private: see
:mod:`incident_lifecycle.testing.contracts`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ..domain.errors import ConcurrencyConflict, NotFound
from ..domain.events import (
    EVENT_TYPES,
    DomainEvent,
    IncidentAcknowledged,
    ReportResolved,
    ReportTransferred,
    ReportTriaged,
    TicketLinked,
)
from ..domain.incidents import (
    IncidentStatus,
    StatusUpdate,
)
from ..domain.reports import CustomerReport, ReportStatus
from ..lifecycle import REPORT_LIFECYCLE, Transition
from . import strategies as ils
from ._contract_kit import (
    EACH_KIND_EXAMPLES,
    ENGINEER,
    HOUR,
    MINUTE,
    T0,
    StoreHarness,
    apply_link,
    canonical,
    contract_settings,
    make_incident,
    make_report,
    rolled_back,
    store_view,
)

TICKET_EVENTS = (ReportTriaged, TicketLinked, ReportResolved, ReportTransferred)


class ReportChecks(StoreHarness):
    """Reports, links, updates and the timeline: round trips, lookups, bulk moves."""

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

    def test_a_ticket_timeline_holds_every_event_of_that_ticket_in_order(self) -> None:
        """Events naming a ticket, with an incident or none, are listed by ticket in append
        order; events of other tickets or of no ticket are not."""

        @contract_settings(self.max_examples)
        @given(
            st.lists(
                st.tuples(
                    st.sampled_from(
                        [ReportTriaged, TicketLinked, ReportResolved, ReportTransferred]
                    ),
                    st.sampled_from(["T-1", "T-2"]),
                    st.sampled_from(["INC-1", None]),
                ),
                max_size=8,
            ),
            st.data(),
        )
        def check(
            picks: list[tuple[type[DomainEvent], str, str | None]], data: st.DataObject
        ) -> None:
            changes: list[dict[str, Any]] = [
                {"ticket_id": t, "incident_id": i} for _, t, i in picks
            ]
            events = [
                attrs.evolve(data.draw(ils.domain_events(cls)), **change)
                for (cls, _, _), change in zip(picks, changes, strict=True)
            ]
            other = data.draw(ils.domain_events(IncidentAcknowledged))
            with self.opened() as store:
                with store.transaction() as tx:
                    tx.append([*events[:3], attrs.evolve(other, incident_id="INC-1")])
                with store.transaction() as tx:
                    tx.append(events[3:])
                with store.transaction() as tx:
                    for ticket in ("T-1", "T-2", "T-3"):
                        expected = [e for e in events if getattr(e, "ticket_id", None) == ticket]
                        assert canonical(list(tx.ticket_timeline(ticket))) == canonical(expected)

        check()

    def test_last_event_at_is_the_time_of_the_last_event_appended(self) -> None:
        """``last_event_at`` is the ``at`` of the incident's last appended event, ``None`` when
        it has none, and follows a rollback."""
        first = IncidentAcknowledged(incident_id="INC-1", actor=ENGINEER, at=T0 + HOUR)
        second = IncidentAcknowledged(incident_id="INC-1", actor=ENGINEER, at=T0 + MINUTE)
        with self.opened() as store:
            with store.transaction() as tx:
                assert tx.last_event_at("INC-1") is None
                tx.append([first, second])
                assert tx.last_event_at("INC-1") == T0 + MINUTE
            rolled_back(store, lambda tx: tx.append([first]))
            with store.transaction() as tx:
                assert tx.last_event_at("INC-1") == T0 + MINUTE
                assert tx.last_event_at("INC-2") is None
