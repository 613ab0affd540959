"""Store URLs: one string names a store, for the command line and the configuration file.

- ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, or a bare
  path (``incidents.db``): a :class:`SQLiteStore` file;
- ``postgresql://user@host:5432/db`` (or ``postgres://``): a
  :class:`PostgresStore`; the optional ``schema`` query parameter names its
  schema (``?schema=incidents``, default ``incident_lifecycle``); every other
  part is libpq's own (what the URL leaves out, ``PG*`` variables fill in);
  ``postgresql://`` alone takes everything from those variables;
- ``memory:``: an :class:`InMemoryStore` (nothing kept after the process).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..domain.errors import InvalidInput
from ..ports import Store
from .memory import InMemoryStore
from .sqlite import SQLiteStore

__all__ = ["POSTGRES_SCHEMES", "describe_store_url", "open_store", "sqlite_path"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
"""The prefixes of a PostgreSQL store URL."""
_SQLITE = "sqlite:///"


def sqlite_path(url: str) -> str | None:
    """The SQLite file a URL names (``sqlite:///x`` or a bare path), or ``None`` for
    another kind of store."""
    if not isinstance(url, str) or not url:
        raise InvalidInput("store", "must be a store URL or a SQLite file path")
    if url == "memory:" or url.startswith(POSTGRES_SCHEMES):
        return None
    if url.startswith("sqlite:"):
        if not url.startswith(_SQLITE) or len(url) == len(_SQLITE):
            raise InvalidInput("store", "a SQLite URL is sqlite:///PATH (four slashes: absolute)")
        return url[len(_SQLITE) :]
    if "://" in url:
        scheme = url.split("://", 1)[0]
        raise InvalidInput("store", f"unknown store URL scheme {scheme!r} (sqlite, postgresql)")
    return url


def _postgres_parts(url: str) -> tuple[str, str]:
    """``(libpq URL without our own parameters, schema)``."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = "incident_lifecycle"
    kept = []
    for name, value in query:
        if name == "schema":
            schema = value
        else:
            kept.append((name, value))
    rest = parts.netloc + parts.path + (f"?{urlencode(kept)}" if kept else "")
    return (f"{parts.scheme}://{rest}" if rest else ""), schema


def describe_store_url(url: str) -> str:
    """The URL as it may be shown (a password in it replaced by ``***``)."""
    if not url.startswith(POSTGRES_SCHEMES):
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def open_store(url: str | os.PathLike[str], *, timeout: float = 5.0, create: bool = True) -> Store:
    """The store ``url`` names (see the module docstring), opened and migrated.

    ``timeout``: seconds to wait for a lock (SQLite) or a connection
    (PostgreSQL). ``create=False`` refuses a SQLite file or a PostgreSQL
    schema that does not exist yet instead of creating it.
    """
    text = os.fspath(url)
    if text == "memory:":
        return InMemoryStore()
    path = sqlite_path(text)
    if path is not None:
        return SQLiteStore(path, timeout=timeout, create=create)
    from .postgres import PostgresStore

    dsn, schema = _postgres_parts(text)
    options: dict[str, Any] = {"schema": schema, "timeout": timeout, "create": create}
    return PostgresStore(dsn, **options)
