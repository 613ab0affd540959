"""docs/service.md: the framework snippets compile, the TOML reads, the Alertmanager YAML loads."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

from conftest import interop_binary
from incident_lifecycle.config import open_app, open_desk, parse_config

PAGE = Path(__file__).resolve().parents[1] / "docs" / "service.md"


def blocks(language: str) -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.DOTALL | re.MULTILINE)


def test_the_framework_snippets_compile() -> None:
    """The Flask, Django and FastAPI snippets are valid Python (the frameworks are not here)."""
    snippets = blocks("py")
    assert len(snippets) == 3
    for number, snippet in enumerate(snippets, start=1):
        compile(snippet, f"service.md#py{number}", "exec")


def test_the_configuration_example_is_a_valid_file(tmp_path: Path) -> None:
    """The documented TOML file passes every check (its environment variables set)."""
    (doc,) = blocks("toml")
    env = {
        name: f"{name.lower()}-value-0123456789"
        for name in (
            "IL_ALERTMANAGER_TOKEN",
            "IL_REPORTS_TOKEN",
            "IL_DASHBOARD_TOKEN",
            "IL_SCRIPTS_TOKEN",
        )
    }
    config = parse_config(tomllib.loads(doc), base=tmp_path, environ=env)
    assert config.tokens["incidents"] == (
        "il_dashboard_token-value-0123456789",
        "il_scripts_token-value-0123456789",
    )
    assert config.host == "127.0.0.1"
    app = open_app(config, open_desk(parse_config({"store": {"memory": True}})))
    assert app.mappings["alertmanager"].products == {"checkout-api": "checkout"}


def test_the_alertmanager_snippet_is_a_valid_configuration(tmp_path: Path) -> None:
    """Alertmanager's own ``amtool check-config`` accepts the documented receiver."""
    amtool = interop_binary("amtool")
    (doc,) = blocks("yaml")
    token = tmp_path / "incidents.token"
    token.write_text("token-0123456789abcdef\n", encoding="utf-8")
    config = tmp_path / "alertmanager.yml"
    config.write_text(doc.replace("/etc/alertmanager/incidents.token", str(token)), "utf-8")
    result = subprocess.run(
        [amtool, "check-config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
