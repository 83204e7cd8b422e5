"""Settings refuse to run production on a missing or placeholder secret."""

from __future__ import annotations

import pytest

from cicosts.config import REQUIRED_SECRETS, ConfigurationError, Settings

REAL = {name: f"real-{name}-value-0123456789abcdef" for name in REQUIRED_SECRETS}


def test_development_runs_on_defaults() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.environment == "development"
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.jwt_secret and settings.github_webhook_secret


def test_production_with_every_secret_set_starts() -> None:
    settings = Settings(_env_file=None, environment="production", **REAL)  # type: ignore[call-arg]
    assert settings.is_production


@pytest.mark.parametrize("name", REQUIRED_SECRETS)
@pytest.mark.parametrize("value", ["", "changeme", "development-only-secret-change-me"])
def test_production_refuses_a_missing_or_placeholder_secret_by_name(name: str, value: str) -> None:
    values = {**REAL, name: value}
    with pytest.raises(ConfigurationError, match=name.upper()):
        Settings(_env_file=None, environment="production", **values)  # type: ignore[call-arg]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELF_HOSTED_RUNNER_RATE", "0.002")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@h/db")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert str(settings.self_hosted_runner_rate) == "0.002"
    assert not settings.is_sqlite


def test_env_example_documents_every_setting() -> None:
    from pathlib import Path

    documented = {
        line.split("=", 1)[0].lower()
        for line in (Path(__file__).parent.parent / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert documented == set(Settings.model_fields)
