from __future__ import annotations

from pathlib import Path

import pytest

from redline.config import hash_key, load_settings
from redline.errors import ConfigError


def test_zero_config_from_the_ecosystem_variables() -> None:
    settings = load_settings(
        None,
        env={
            "OPENAI_BASE_URL": "http://127.0.0.1:11434/v1",
            "ANTHROPIC_API_KEY": "sk-ant",
            "REDLINE_API_KEY": "k1",
            "REDLINE_DB": "/tmp/x.db",
        },
    )
    assert {p.name for p in settings.providers} == {"openai", "anthropic"}
    assert settings.route("claude-3-5-sonnet").providers == ("anthropic",)  # type: ignore[union-attr]
    assert settings.route("gpt-4o").providers == ("openai",)  # type: ignore[union-attr]
    assert settings.route("gemini-2.0-flash").providers == ("openai",)  # type: ignore[union-attr]  # no Gemini key
    assert settings.tenant_for_key("k1") is not None and settings.tenant_for_key("k2") is None
    assert settings.ledger == "/tmp/x.db"
    assert settings.generated_key is None
    anthropic = next(p for p in settings.providers if p.name == "anthropic")
    assert anthropic.key(settings.env) == "sk-ant"
    assert anthropic.url == "https://api.anthropic.com"


def test_without_a_key_one_is_generated_for_the_run() -> None:
    settings = load_settings(None, env={})
    assert settings.generated_key and settings.tenant_for_key(settings.generated_key) is not None
    assert settings.ledger == "redline.db"
    assert settings.route("gpt-4o") is None


@pytest.mark.parametrize(
    ("text", "field", "line", "words"),
    [
        ("providers:\n  - name: x\n    type: bard\n", "providers.0.type", 3, "openai"),
        ("tenants:\n  - name: t\n    keys: [plaintext]\n", "tenants.0", 2, "stored hashed"),
        (
            "routes:\n  - model: '*'\n    providers: [nobody]\n",
            "routes.0",
            None,
            "no provider named 'nobody'",
        ),
        ("retries: 9\n", "retries", 1, "less than or equal to 5"),
        ("colour: blue\n", "colour", 1, "unknown field"),
        (
            "tenants:\n  - name: t\n    keys: ['" + hash_key("k") + "']\n    contract: missing.yaml\n",
            "tenants.0.contract",
            None,
            "no such file",
        ),
    ],
)
def test_config_errors_name_field_and_line(
    tmp_path: Path, text: str, field: str, line: int | None, words: str
) -> None:
    path = tmp_path / "redline.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.field == field
    assert info.value.line == line
    assert words in str(info.value)
    assert str(path) in str(info.value)
