"""PostgreSQL for the tests: a throwaway database per test process, and stores in it.

The server is found through ``INCIDENT_LIFECYCLE_TEST_POSTGRES`` (a libpq DSN
or URL; default :data:`DEFAULT_DSN`, the local server's ``test`` database).
The first store asked for creates a database with a name unique to this run
and process (several test runs may share the server), migrated by the
store; it is dropped when the process exits. Without a reachable server (or
without psycopg) the tests that need one skip with the reason, or fail
under ``INCIDENT_LIFECYCLE_REQUIRE_INTEROP=1`` (``require_interop``).

Creating a schema costs a fifth of a second, so stores are recycled: a store
closed by a test is emptied (every row deleted, a millisecond) and handed to
the next test as a fresh one. Tests that need a store of their own (a schema
no other test sees) call :func:`fresh_schema_store`.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import os
import threading
import uuid
from typing import Any

from conftest import REQUIRE_INTEROP, require_interop

ENV = "INCIDENT_LIFECYCLE_TEST_POSTGRES"
DEFAULT_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
TABLES = (
    "outbox",
    "messages",
    "timeline",
    "updates",
    "links",
    "reports",
    "incident_products",
    "incidents",
    "alerts",
    "counters",
)
_names = itertools.count(1)
_free: list[Any] = []
_free_lock = threading.Lock()


def server_dsn() -> str:
    """The DSN of the server the tests use (a database the tests may connect to)."""
    return os.environ.get(ENV, "") or DEFAULT_DSN


@functools.cache
def _session_database() -> tuple[str | None, str]:
    """``(dsn of this process's throwaway database, why not)``."""
    try:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict, make_conninfo
    except ImportError:
        return None, "psycopg is not installed (the 'postgres' extra)"
    base = server_dsn()
    name = f"il_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(base, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
            # A throwaway database: commits need not wait for the disk (a crash of the
            # server may lose the last ones, never corrupt anything).
            conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    except psycopg.Error as error:
        return None, f"no PostgreSQL server answers at {base!r} ({' '.join(str(error).split())})"
    params = conninfo_to_dict(base)
    params["dbname"] = name
    dsn = make_conninfo(**params)

    def drop() -> None:
        for store in _free:
            store.really_close()
        try:
            with psycopg.connect(base, autocommit=True, connect_timeout=3) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error:
            pass

    atexit.register(drop)
    return dsn, ""


def database_dsn() -> str:
    """This process's throwaway database (created on first use); skips or fails the
    calling test when no server answers."""
    dsn, why = _session_database()
    require_interop(dsn, why)
    assert dsn is not None
    return dsn


def fresh_schema_store(**kwargs: Any) -> Any:
    """A ``PostgresStore`` in a schema of its own, new (its ``close`` really closes)."""
    from incident_lifecycle.adapters.postgres import PostgresStore

    dsn = database_dsn()
    schema = f"t{os.getpid()}_{next(_names)}_{uuid.uuid4().hex[:6]}"
    kwargs.setdefault("pool_size", 4)
    return PostgresStore(dsn, schema=schema, **kwargs)


def _recycled_class() -> type[Any]:
    from incident_lifecycle.adapters.postgres import PostgresStore

    class RecycledPostgresStore(PostgresStore):
        """A store whose ``close`` empties it and hands it to the next test."""

        def close(self) -> None:
            with self.transaction() as tx:
                for table in TABLES:
                    tx._q(f"DELETE FROM {table}")
                tx._q("DELETE FROM meta WHERE key LIKE 'setting:%'")
            with _free_lock:
                if self not in _free:
                    _free.append(self)

        def really_close(self) -> None:
            super().close()

    return RecycledPostgresStore


_Recycled = functools.cache(_recycled_class)


def postgres_store() -> Any:
    """An empty ``PostgresStore`` (a recycled one when a test has closed one)."""
    dsn = database_dsn()
    with _free_lock:
        if _free:
            return _free.pop()
    schema = f"r{os.getpid()}_{next(_names)}_{uuid.uuid4().hex[:6]}"
    return _Recycled()(dsn, schema=schema, pool_size=4)


def optional_store() -> Any:
    """:func:`postgres_store`, or ``None`` when no server answers (a test that runs on
    every store it can); fails instead under ``INCIDENT_LIFECYCLE_REQUIRE_INTEROP=1``."""
    dsn, why = _session_database()
    if dsn is None:
        if os.environ.get(REQUIRE_INTEROP, "") == "1":
            require_interop(None, why)
        return None
    return postgres_store()


def drop_schema(schema: str) -> None:
    """Drop ``schema`` from this process's database, if there (for tests that make one
    through a store URL)."""
    import psycopg

    dsn, _ = _session_database()
    if dsn is None:
        return
    with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
