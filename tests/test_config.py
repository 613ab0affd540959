"""The TOML configuration of ``incident-lifecycle serve``: every key checked, named when wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import web_support as w
from incident_lifecycle import Role
from incident_lifecycle.adapters import InMemoryStore, SQLiteStore
from incident_lifecycle.config import ConfigError, load_config, open_app, open_desk, parse_config

FULL = """
[store]
path = "data/incidents.db"
timeout_seconds = 2

[notifier]
path = "outbox.jsonl"

[ownership]
checkout = "payments"
search = "discovery"

[server]
host = "127.0.0.1"
port = 9099
threads = 2

[limits]
max_body_bytes = 100000
max_alerts = 500
request_seconds = 3
retry_after_seconds = 9

[relay]
enabled = false
interval_seconds = 0.5
batch_size = 50

[tokens]
alertmanager = { env = "AM_TOKEN" }
grafana = ["grafana-token-0123456789", "grafana-token-9876543210"]
reports = "reports-token-0123456789"

[reporter]
name = "zendesk"
role = "support"
"""


def test_a_full_file_is_read(tmp_path: Path) -> None:
    """Every table is read; relative paths are the file's folder's; env tokens resolved."""
    path = tmp_path / "service.toml"
    path.write_text(FULL, encoding="utf-8")
    config = load_config(path, environ={"AM_TOKEN": "am-token-from-the-env-0123"})
    assert config.store_path == str(tmp_path / "data/incidents.db")
    assert config.notifier_path == str(tmp_path / "outbox.jsonl")
    assert config.store_timeout == 2.0
    assert config.ownership == {"checkout": "payments", "search": "discovery"}
    assert (config.host, config.port, config.threads) == ("127.0.0.1", 9099, 2)
    assert config.limits.max_alerts == 500
    assert config.limits.retry_after_seconds == 9
    assert config.relay.enabled is False
    assert config.relay.interval_seconds == 0.5
    assert config.relay.batch_size == 50
    assert config.tokens["alertmanager"] == ("am-token-from-the-env-0123",)
    assert len(config.tokens["grafana"]) == 2
    assert config.reporter is not None
    assert config.reporter.role is Role.SUPPORT


def test_tokens_never_show_in_the_repr(tmp_path: Path) -> None:
    """A logged or printed configuration holds no token."""
    path = tmp_path / "service.toml"
    path.write_text(FULL, encoding="utf-8")
    config = load_config(path, environ={"AM_TOKEN": "am-token-from-the-env-0123"})
    assert "token" not in repr(config).replace("tokens", "")


def test_defaults_are_loopback_and_relay_on() -> None:
    """The smallest file: a memory store; loopback on 8080, relay on."""
    config = parse_config({"store": {"memory": True}})
    assert config.store_path is None
    assert (config.host, config.port) == ("127.0.0.1", 8080)
    assert config.relay.enabled is True
    assert config.tokens == {}


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({}, "store"),
        ({"store": {"memory": True, "path": "x.db"}}, "store"),
        ({"store": {"memory": True}, "stoer": {}}, "stoer"),
        ({"store": {"memory": True, "url": "x"}}, "store.url"),
        ({"store": {"path": 3}}, "store.path"),
        ({"store": {"memory": True}, "server": {"port": 70000}}, "server.port"),
        ({"store": {"memory": True}, "server": {"port": True}}, "server.port"),
        ({"store": {"memory": True}, "server": {"host": "example.org"}}, "server.host"),
        ({"store": {"memory": True}, "server": {"threads": 0}}, "server.threads"),
        (
            {"store": {"memory": True}, "tokens": {"alertmanager": {"env": "NOPE"}}},
            "tokens.alertmanager",
        ),
        ({"store": {"memory": True}, "tokens": {"grafana": 12}}, "tokens.grafana"),
        ({"store": {"memory": True}, "tokens": {"nagios": "x"}}, "tokens.nagios"),
        ({"store": {"memory": True}, "limits": {"max_alerts": 0}}, "limits.max_alerts"),
        ({"store": {"memory": True}, "limits": {"request_seconds": -1}}, "limits.request_seconds"),
        ({"store": {"memory": True}, "relay": {"interval_seconds": 0}}, "relay.interval_seconds"),
        ({"store": {"memory": True}, "relay": {"enabled": "yes"}}, "relay.enabled"),
        ({"store": {"memory": True}, "ownership": {"checkout": 3}}, "ownership"),
        ({"store": {"memory": True}, "reporter": {"name": "x", "role": "boss"}}, "reporter.role"),
        ({"store": {"memory": True}, "reporter": {"name": "x"}}, "reporter"),
        ({"store": {"memory": True}, "mappings": {"nagios": {}}}, "mappings.nagios"),
        ({"store": {"memory": True}, "mappings": {"grafana": 1}}, "mappings.grafana"),
    ],
)
def test_a_wrong_file_names_the_key(doc: dict[str, Any], field: str) -> None:
    """Each mistake raises ``ConfigError`` whose ``field`` is the key at fault."""
    with pytest.raises(ConfigError) as caught:
        parse_config(doc, environ={})
    assert caught.value.field == field


def test_a_short_token_is_refused_when_the_app_is_built() -> None:
    """Tokens shorter than 16 characters are refused, naming the scope."""
    config = parse_config({"store": {"memory": True}, "tokens": {"grafana": "short"}})
    with pytest.raises(ConfigError) as caught:
        open_app(config, open_desk(config))
    assert caught.value.field == "tokens.grafana"


def test_unreadable_or_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    """A missing file or broken TOML is one ``ConfigError``."""
    with pytest.raises(ConfigError):
        load_config(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[store\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_config(broken)


def test_the_desk_and_app_are_built_from_the_file(tmp_path: Path) -> None:
    """SQLite or memory, the ownership and the tokens reach the desk and the app."""
    config = parse_config(
        {
            "store": {"path": "a.db"},
            "ownership": {"checkout": "payments"},
            "tokens": {"incidents": w.TOKEN},
        },
        base=tmp_path,
    )
    desk = open_desk(config)
    assert isinstance(desk.store, SQLiteStore)
    assert desk.ownership == {"checkout": "payments"}
    app = open_app(config, desk)
    assert w.call(app, "GET", "/v1/incidents").status == 200
    desk.store.close()
    memory = open_desk(parse_config({"store": {"memory": True}}))
    assert isinstance(memory.store, InMemoryStore)


def test_a_sqlite_file_keeps_its_own_ownership(tmp_path: Path) -> None:
    """With no ``[ownership]``, a database's stored ownership (from ``replay``) is used."""
    store = SQLiteStore(tmp_path / "a.db")
    store.set_setting("ownership", {"mail": "messaging"})
    store.close()
    desk = open_desk(parse_config({"store": {"path": "a.db"}}, base=tmp_path))
    assert desk.ownership == {"mail": "messaging"}
    desk.store.close()  # type: ignore[attr-defined]


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "service.toml"


def test_the_example_configuration_serves_an_alertmanager_webhook(tmp_path: Path) -> None:
    """``examples/service.toml`` (the README's) is valid as shipped: copied beside a fresh
    database, it serves a webhook with the token from the environment."""
    copy = tmp_path / "service.toml"
    copy.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    tokens = {"IL_ALERTMANAGER_TOKEN": w.TOKEN, "IL_REPORTS_TOKEN": w.OTHER}
    config = load_config(copy, environ=tokens)
    assert config.store_path == str(tmp_path / "incidents.db")
    assert (config.host, config.port) == ("127.0.0.1", 8080)
    assert config.relay.enabled is True
    desk = open_desk(config)
    app = open_app(config, desk)
    alert = {
        "status": "firing",
        "labels": {"alertname": "CheckoutErrors", "service": "checkout", "region": "eu1"},
        "annotations": {"summary": "checkout 5xx above 5%"},
        "startsAt": "2026-06-01T09:00:00Z",
        "fingerprint": "0123456789abcdef",
    }
    payload = {"version": "4", "status": "firing", "alerts": [alert]}
    answer = w.call(app, "POST", "/v1/alerts/alertmanager", payload, token=w.TOKEN)
    assert answer.status == 200, answer.body
    assert [i.products for i in desk.potential_incidents()] == [("checkout",)]
    refused = w.call(app, "POST", "/v1/alerts/alertmanager", payload, token=w.OTHER)
    assert refused.status == 401
