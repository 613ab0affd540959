"""The service's configuration file (TOML, read with the standard library's ``tomllib``).

:func:`load_config` reads and checks the whole file before anything starts:
an unknown table or key, a wrong type, a token that is missing from the
environment, each raises :class:`ConfigError` naming the key
(``tokens.alertmanager``). :func:`open_desk` and :func:`open_app` build what
the file describes. ``docs/service.md`` is the reference of every key.
"""

from __future__ import annotations

import importlib
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .adapters.memory import InMemoryStore
from .adapters.notifiers import JsonLinesNotifier
from .adapters.urls import open_store, sqlite_path
from .desk import IncidentDesk
from .domain.actors import Actor
from .domain.checks import check_ownership
from .domain.errors import InvalidInput
from .domain.severity import SeverityScale
from .ports import SettingsStore, Store
from .web.app import ALERT_SOURCES, TOKEN_SCOPES, IntakeApp
from .web.requests import Limits

__all__ = [
    "ConfigError",
    "RelaySettings",
    "ServiceConfig",
    "build_mapping",
    "load_config",
    "open_app",
    "open_desk",
    "parse_config",
]

_TABLES: Mapping[str, frozenset[str]] = {
    "store": frozenset({"path", "url", "memory", "timeout_seconds"}),
    "notifier": frozenset({"path"}),
    "ownership": frozenset(),  # any product name
    "server": frozenset({"host", "port", "threads"}),
    "limits": frozenset({f.name for f in attrs.fields(Limits)}),
    "relay": frozenset({"enabled", "interval_seconds", "batch_size"}),
    "tokens": frozenset(TOKEN_SCOPES),
    "reporter": frozenset({"name", "role", "team"}),
    "mappings": frozenset(ALERT_SOURCES),
}


class ConfigError(InvalidInput):
    """The configuration file cannot work; ``field`` is the key (``server.port``)."""


@attrs.frozen(kw_only=True)
class RelaySettings:
    """Whether and how the served process drains the outbox in the background."""

    enabled: bool = True
    interval_seconds: float = 5.0
    """The pause between rounds when nothing was due."""
    batch_size: int = 100


@attrs.frozen(kw_only=True)
class ServiceConfig:
    """What ``incident-lifecycle serve`` runs, as the file said (tokens resolved)."""

    store_path: str | None
    """The store: a SQLite file, a store URL (``sqlite:///...``, ``postgresql://...``), or
    ``None`` for an in-memory store (``memory = true``)."""
    store_timeout: float = 5.0
    notifier_path: str
    ownership: Mapping[str, str] = attrs.field(factory=dict)
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 4
    limits: Limits = attrs.field(factory=Limits)
    relay: RelaySettings = attrs.field(factory=RelaySettings)
    tokens: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, repr=False)
    """By scope; never shown (``repr`` leaves them out)."""
    reporter: Actor | None = None
    mappings: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    """Each alert source's mapping table, as written (built by :func:`open_app`)."""


def _table(doc: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(name, "must be a table")
    allowed = _TABLES[name]
    if allowed:
        for key in value:
            if key not in allowed:
                raise ConfigError(
                    f"{name}.{key}", f"unknown key (known: {', '.join(sorted(allowed))})"
                )
    return value


def _typed(
    table: Mapping[str, Any], where: str, key: str, kind: type | tuple[type, ...], default: Any
) -> Any:
    if key not in table:
        return default
    value = table[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ConfigError(f"{where}.{key}", "must not be a boolean")
    if not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(f"{where}.{key}", f"must be {names}, not {type(value).__name__}")
    return value


def _token_values(scope: str, raw: object, environ: Mapping[str, str]) -> tuple[str, ...]:
    """A token entry: a string, a list of them, or ``{env = "NAME"}`` (or a list of names)."""
    where = f"tokens.{scope}"
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, dict):
        if set(raw) != {"env"}:
            raise ConfigError(where, 'a table of a token holds only env = "VARIABLE"')
        names = raw["env"] if isinstance(raw["env"], list) else [raw["env"]]
        out = []
        for name in names:
            if not isinstance(name, str) or not name:
                raise ConfigError(where, "env names an environment variable")
            value = environ.get(name)
            if not value:
                raise ConfigError(where, f"the environment variable {name} is not set")
            out.append(value)
        return tuple(out)
    if isinstance(raw, list) and raw and all(isinstance(v, str | dict) for v in raw):
        return tuple(t for item in raw for t in _token_values(scope, item, environ))
    raise ConfigError(where, 'must be a token, a list of tokens, or {env = "VARIABLE"}')


def _server(doc: Mapping[str, Any]) -> tuple[str, int, int]:
    table = _table(doc, "server")
    host = _typed(table, "server", "host", str, "127.0.0.1")
    port = _typed(table, "server", "port", int, 8080)
    threads = _typed(table, "server", "threads", int, 4)
    if not 0 <= port <= 65535:
        raise ConfigError("server.port", "must be 0 to 65535 (0: any free port)")
    if not 1 <= threads <= 256:
        raise ConfigError("server.threads", "must be 1 to 256")
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError("server.host", "must be an IP address or localhost") from None
    return host, port, threads


def _relay(doc: Mapping[str, Any]) -> RelaySettings:
    table = _table(doc, "relay")
    enabled = _typed(table, "relay", "enabled", bool, True)
    interval = _typed(table, "relay", "interval_seconds", (int, float), 5.0)
    batch = _typed(table, "relay", "batch_size", int, 100)
    if not 0 < interval <= 3600:
        raise ConfigError("relay.interval_seconds", "must be above 0 and at most 3600")
    if not 1 <= batch <= 10_000:
        raise ConfigError("relay.batch_size", "must be 1 to 10000")
    return RelaySettings(enabled=enabled, interval_seconds=float(interval), batch_size=batch)


def _limits(doc: Mapping[str, Any]) -> Limits:
    table = _table(doc, "limits")
    try:
        return Limits(**table)
    except InvalidInput as error:
        raise ConfigError(f"limits.{error.field}", error.reason) from None


def _store(doc: Mapping[str, Any], base: Path) -> tuple[str | None, float, str]:
    table = _table(doc, "store")
    memory = _typed(table, "store", "memory", bool, False)
    path = _typed(table, "store", "path", str, None)
    url = _typed(table, "store", "url", str, None)
    timeout = _typed(table, "store", "timeout_seconds", (int, float), 5.0)
    if [memory, path is not None, url is not None].count(True) != 1:
        raise ConfigError(
            "store", "give one of path (a SQLite file), url (a store URL) or memory = true"
        )
    if not 0 < timeout <= 600:
        raise ConfigError("store.timeout_seconds", "must be above 0 and at most 600")
    if url is not None:
        try:
            file = sqlite_path(url)
        except InvalidInput as error:
            raise ConfigError("store.url", error.reason) from None
        if file is not None and file != ":memory:":
            path, url = file, None  # a SQLite file, relative to the configuration's folder
    notifier = _table(doc, "notifier")
    default_outbox = "outbox.jsonl" if path is None else Path(path).stem + "-outbox.jsonl"
    outbox = _typed(notifier, "notifier", "path", str, default_outbox)
    resolved = url if path is None else str(base / path)
    return resolved, float(timeout), str(base / outbox)


def _reporter(doc: Mapping[str, Any]) -> Actor | None:
    table = _table(doc, "reporter")
    if not table:
        return None
    try:
        return Actor(**table)
    except InvalidInput as error:
        raise ConfigError(f"reporter.{error.field}", error.reason) from None
    except TypeError:
        raise ConfigError("reporter", "needs name and role (and team for engineering)") from None


def parse_config(
    doc: Mapping[str, Any], *, base: Path = Path(), environ: Mapping[str, str] | None = None
) -> ServiceConfig:
    """Check a parsed TOML document; relative paths are taken from ``base``."""
    environ = os.environ if environ is None else environ
    for name in doc:
        if name not in _TABLES:
            raise ConfigError(name, f"unknown table (known: {', '.join(sorted(_TABLES))})")
    store_path, timeout, outbox = _store(doc, base)
    try:
        ownership = check_ownership("ownership", _table(doc, "ownership"))
    except InvalidInput as error:
        raise ConfigError("ownership", error.reason) from None
    tokens = {s: _token_values(s, v, environ) for s, v in _table(doc, "tokens").items()}
    mappings = _table(doc, "mappings")
    for source, table in mappings.items():
        if not isinstance(table, dict):
            raise ConfigError(f"mappings.{source}", "must be a table")
    host, port, threads = _server(doc)
    return ServiceConfig(
        store_path=store_path,
        store_timeout=timeout,
        notifier_path=outbox,
        ownership=ownership,
        host=host,
        port=port,
        threads=threads,
        limits=_limits(doc),
        relay=_relay(doc),
        tokens=tokens,
        reporter=_reporter(doc),
        mappings=mappings,
    )


def load_config(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> ServiceConfig:
    """Read and check the TOML file at ``path`` (relative paths in it: from its folder)."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            doc = tomllib.load(handle)
    except OSError as error:
        raise ConfigError("config", f"cannot read {file}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("config", f"{file} is not valid TOML: {error}") from None
    return parse_config(doc, base=file.parent, environ=environ)


def open_desk(config: ServiceConfig) -> IncidentDesk:
    """The desk the file describes (the store's own ownership setting, unless the file
    gives one)."""
    store: Store
    ownership: Mapping[str, str] = config.ownership
    if config.store_path is None:
        store = InMemoryStore()
    else:
        store = open_store(config.store_path, timeout=config.store_timeout)
        if not ownership and isinstance(store, SettingsStore):
            ownership = store.get_setting("ownership") or {}
    return IncidentDesk(
        store=store, notifier=JsonLinesNotifier(config.notifier_path), ownership=ownership
    )


_MAPPING_CLASSES: Mapping[str, str] = {
    "alertmanager": "AlertmanagerMapping",
    "grafana": "GrafanaMapping",
    "pagerduty": "PagerDutyMapping",
    "opsgenie": "OpsgenieMapping",
}


def build_mapping(source: str, table: Mapping[str, Any], scale: SeverityScale) -> object:
    """A source's mapping object from its TOML table (``kind_rules`` as tables of
    ``kind`` and ``keywords``; the desk's severity scale unless the table is for another)."""
    where = f"mappings.{source}"
    try:
        module = importlib.import_module(f"incident_lifecycle.formats.{source}")
        kind_rule = importlib.import_module("incident_lifecycle.formats.mapping").KindRule
    except ModuleNotFoundError:
        raise ConfigError(where, "this version has no such format") from None
    cls = getattr(module, _MAPPING_CLASSES[source])
    known = {f.name for f in attrs.fields(cls)} - {"scale"}
    for key in table:
        if key not in known:
            raise ConfigError(f"{where}.{key}", f"unknown key (known: {', '.join(sorted(known))})")
    values = dict(table)
    rules = values.get("kind_rules")
    if isinstance(rules, list):
        try:
            values["kind_rules"] = [kind_rule(**r) if isinstance(r, dict) else r for r in rules]
        except (TypeError, InvalidInput):
            raise ConfigError(
                f"{where}.kind_rules", "each rule is {kind = KIND, keywords = [WORDS]}"
            ) from None
    try:
        return cls(scale=scale, **values)
    except InvalidInput as error:
        raise ConfigError(f"{where}.{error.field}", error.reason) from None


def open_app(config: ServiceConfig, desk: IncidentDesk) -> IntakeApp:
    """The WSGI application the file describes, over ``desk``."""
    mappings = {
        source: build_mapping(source, table, desk.scale)
        for source, table in config.mappings.items()
    }
    extra: dict[str, Any] = {} if config.reporter is None else {"reporter": config.reporter}
    try:
        return IntakeApp(
            desk, tokens=config.tokens, mappings=mappings, limits=config.limits, **extra
        )
    except InvalidInput as error:
        raise ConfigError(error.field, error.reason) from None
