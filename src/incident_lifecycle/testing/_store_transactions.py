"""The store contract's checks of transactions and ids (private: see
:mod:`incident_lifecycle.testing.contracts`)."""

from __future__ import annotations

import threading

import pytest

from ..domain.errors import ConcurrencyConflict
from ._contract_kit import (
    T0,
    WRITES,
    Interrupt,
    StoreHarness,
    every_write,
    make_incident,
    make_note,
    make_report,
    rolled_back,
    save_once,
    store_view,
)


class TransactionChecks(StoreHarness):
    """Transactions and ids: commit, rollback of every kind of write, copies, threads."""

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
