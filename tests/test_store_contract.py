"""The shipped stores pass the store contract (``incident_lifecycle.testing.contracts``)."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import postgres_support
from incident_lifecycle import Alert, ServiceIncident
from incident_lifecycle.adapters import InMemoryStore
from incident_lifecycle.adapters.sqlite import SQLiteStore
from incident_lifecycle.ports import OutboxEntry, Store, StoreTransaction
from incident_lifecycle.testing.contracts import StoreContract


class TestInMemoryStoreContract(StoreContract):
    """``InMemoryStore`` keeps every promise of the store port."""

    def make_store(self) -> Store:
        return InMemoryStore()


class TestSQLiteStoreContract(StoreContract):
    """``SQLiteStore`` on a file (WAL) keeps every promise of the store port."""

    max_examples = 100  # a file, a schema and a WAL per example: half the ci profile

    def make_store(self) -> Store:
        folder = Path(tempfile.mkdtemp(prefix="sqlite-contract-"))
        return SQLiteStore(folder / "store.db")

    def close_store(self, store: Store) -> None:
        assert isinstance(store, SQLiteStore)
        store.close()
        shutil.rmtree(Path(store.path).parent, ignore_errors=True)


class TestPostgresStoreContract(StoreContract):
    """``PostgresStore`` on the test server keeps every promise of the store port."""

    max_examples = 50  # a round trip per statement: a quarter of the ci profile

    def make_store(self) -> Store:
        return postgres_support.postgres_store()  # type: ignore[no-any-return]


# -- the contract catches broken stores ----------------------------------------------------


class PatchedTransaction:
    """An ``InMemoryStore`` transaction with some methods replaced (a deliberately broken store)."""

    def __init__(self, tx: StoreTransaction, patches: dict[str, Callable[..., Any]]) -> None:
        self._tx = tx
        self._patches = patches

    def __getattr__(self, name: str) -> Any:
        patch = self._patches.get(name)
        return getattr(self._tx, name) if patch is None else functools.partial(patch, self._tx)


class PatchedStore:
    """A store over ``InMemoryStore`` whose transactions carry ``patches``."""

    def __init__(self, **patches: Callable[..., Any]) -> None:
        self.inner = InMemoryStore()
        self.patches = patches

    @contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        with self.inner.transaction() as tx:
            yield PatchedTransaction(tx, self.patches)  # type: ignore[misc]


class CommitsOnErrorStore(InMemoryStore):
    """Keeps what a failed transaction wrote: it never rolls back."""

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with super().transaction() as tx:
            try:
                yield tx
            except Exception:  # the bug: swallowed, so the writes commit
                return


def _blind_save(tx: StoreTransaction, incident: ServiceIncident) -> None:
    incident.version = tx.incident(incident.id).version  # last writer wins
    tx.save_incident(incident)


def _dead_by_enqueue_order(tx: StoreTransaction, limit: int | None = None) -> list[OutboxEntry]:
    return sorted(tx.dead_letters(), key=lambda e: e.seq)[:limit]


def _contract_on(make: Callable[[], Store]) -> StoreContract:
    class Broken(StoreContract):
        def make_store(self) -> Store:
            return make()

    return Broken()


FAILED = (AssertionError, pytest.fail.Exception)


def test_the_contract_fails_a_store_that_saves_stale_versions() -> None:
    """A store that lets the last writer win fails the stale-incident check."""
    contract = _contract_on(lambda: PatchedStore(save_incident=_blind_save))  # type: ignore[arg-type,return-value]
    with pytest.raises(FAILED):
        contract.test_a_stale_incident_conflicts_and_nothing_is_written()


def test_the_contract_fails_a_store_that_does_not_roll_back() -> None:
    """A store that commits a failed transaction fails the rollback checks."""
    contract = _contract_on(CommitsOnErrorStore)
    with pytest.raises(FAILED):
        contract.test_every_kind_of_write_is_rolled_back_on_an_exception("entries claimed")


def test_the_contract_fails_a_store_that_lists_dead_letters_by_age_of_entry() -> None:
    """Dead letters listed by enqueue order rather than by death fail the contract."""
    contract = _contract_on(lambda: PatchedStore(dead_letters=_dead_by_enqueue_order))  # type: ignore[arg-type,return-value]
    with pytest.raises(FAILED):
        contract.test_dead_letters_are_listed_in_the_order_they_died()


def test_the_contract_fails_a_store_that_forgets_a_field() -> None:
    """A store that drops alert labels fails the field-by-field round trip."""

    def forgetful_alert(tx: StoreTransaction, alert_id: str) -> Alert:
        alert = tx.alert(alert_id)
        alert.labels = {}
        return alert

    contract = _contract_on(lambda: PatchedStore(alert=forgetful_alert))  # type: ignore[arg-type,return-value]
    with pytest.raises(FAILED):
        contract.test_alerts_round_trip_field_by_field()


def test_contracts_are_not_collected_by_themselves(tmp_path: Path) -> None:
    """A module importing the contract classes, without subclassing them, holds no test."""
    module = tmp_path / "test_imports_only.py"
    module.write_text(
        "from incident_lifecycle.testing.contracts import NotifierContract, StoreContract\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", module],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, done.stdout + done.stderr


def test_the_package_never_imports_the_contracts() -> None:
    """Importing the package and its testing tools loads neither the contracts nor pytest."""
    code = (
        "import json, sys; import incident_lifecycle, incident_lifecycle.testing, "
        "incident_lifecycle.adapters.sqlite; print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded = set(json.loads(out))
    assert not {"pytest", "hypothesis", "incident_lifecycle.testing.contracts"} & loaded
