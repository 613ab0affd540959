"""The shipped stores pass the store contract (``incident_lifecycle.testing.contracts``)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from incident_lifecycle.adapters import InMemoryStore
from incident_lifecycle.adapters.sqlite import SQLiteStore
from incident_lifecycle.ports import Store
from incident_lifecycle.testing.contracts import StoreContract


class TestInMemoryStoreContract(StoreContract):
    """``InMemoryStore`` keeps every promise of the store port."""

    def make_store(self) -> Store:
        return InMemoryStore()


class TestSQLiteStoreContract(StoreContract):
    """``SQLiteStore`` on a file (WAL) keeps every promise of the store port."""

    def make_store(self) -> Store:
        folder = Path(tempfile.mkdtemp(prefix="sqlite-contract-"))
        return SQLiteStore(folder / "store.db")

    def close_store(self, store: Store) -> None:
        assert isinstance(store, SQLiteStore)
        store.close()
        shutil.rmtree(Path(store.path).parent, ignore_errors=True)
