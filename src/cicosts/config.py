"""Settings from the environment and `.env`.

Outside development every secret must be set to a real value: a missing or placeholder secret stops start-up
with a message naming it, so a production deployment can never run on a default.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./cicosts.db"
DEVELOPMENT_SECRET = "development-only-secret-change-me"  # noqa: S105 - refused in production
PLACEHOLDERS = frozenset({"", "changeme", "change-me", "secret", "placeholder", DEVELOPMENT_SECRET})
REQUIRED_SECRETS = (
    "jwt_secret",
    "github_webhook_secret",
    "github_app_id",
    "github_app_private_key",
    "github_client_id",
    "github_client_secret",
)
BILLING_SECRETS = ("stripe_secret_key", "stripe_webhook_secret")  # required when BILLING_ENABLED


class ConfigurationError(RuntimeError):
    """The settings cannot run the service; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    environment: Literal["development", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    jwt_secret: str = DEVELOPMENT_SECRET
    jwt_access_token_minutes: int = Field(default=15, ge=1)
    github_webhook_secret: str = DEVELOPMENT_SECRET
    github_app_id: str = ""
    github_app_private_key: str = ""
    github_client_id: str = ""
    github_client_secret: str = ""
    self_hosted_runner_rate: Decimal = Field(default=Decimal(0), ge=0)
    worker_batch_size: int = Field(default=500, ge=1, le=10_000)
    worker_lease_seconds: float = Field(default=60.0, gt=0)
    worker_idle_seconds: float = Field(default=0.5, gt=0)
    worker_max_attempts: int = Field(default=8, ge=1)
    github_url: str = "https://github.com"
    github_api_url: str = "https://api.github.com"
    # Where sign-in may send people back to (comma-separated URLs); the dashboard's own origin in practice.
    oauth_redirect_allowlist: str = "http://127.0.0.1:8000/,http://localhost:8000/,http://localhost:3000/"
    refresh_token_days: int = Field(default=30, ge=1)
    billing_enabled: bool = False
    # Stripe, for the hosted plans (only read when BILLING_ENABLED).
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_price_pro_monthly: str = ""
    stripe_price_pro_annual: str = ""
    stripe_price_team_monthly: str = ""
    stripe_price_team_annual: str = ""
    # Outgoing email (billing notices, later alerts); no SMTP_HOST means no email is sent.
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "CICosts <cicosts@localhost>"
    smtp_starttls: bool = True
    # Alert webhooks (Slack, signed webhooks) to private, loopback or link-local addresses are refused unless
    # this is true (a self-hosted install posting to an internal service; the tests).
    allow_private_webhooks: bool = False
    rate_limit_per_minute: int | None = Field(default=None, ge=1)
    redis_url: str | None = None
    cors_origins: str = ""
    # Where uploaded files wait for the worker (FOCUS billing files), deleted once imported.
    data_dir: str = "./data"
    # The most one upload of FOCUS files may hold, all files together (a large account's month is a few GB).
    cloud_upload_max_bytes: int = Field(default=8 * 2**30, ge=1)

    @property
    def redirect_allowlist(self) -> list[str]:
        return [url.strip() for url in self.oauth_redirect_allowlist.split(",") if url.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def oauth_configured(self) -> bool:
        return bool(self.github_client_id and self.github_client_secret)

    @property
    def email_configured(self) -> bool:
        return bool(self.smtp_host.strip())

    @property
    def stripe_prices(self) -> dict[str, dict[str, str]]:
        """Configured Stripe price ids: tier -> interval -> price id (unset ones left out)."""
        prices = {
            "pro": {"monthly": self.stripe_price_pro_monthly, "annual": self.stripe_price_pro_annual},
            "team": {"monthly": self.stripe_price_team_monthly, "annual": self.stripe_price_team_annual},
        }
        return {
            tier: {interval: price.strip() for interval, price in by_interval.items() if price.strip()}
            for tier, by_interval in prices.items()
        }

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if not self.is_production:
            # A blank secret in a development .env means "use the development default".
            for name in ("jwt_secret", "github_webhook_secret"):
                if not getattr(self, name).strip():
                    setattr(self, name, DEVELOPMENT_SECRET)
            return self
        for name in REQUIRED_SECRETS:
            value: str = getattr(self, name)
            if value.strip().lower() in PLACEHOLDERS:
                raise ConfigurationError(
                    f"{name.upper()} must be set to a real value when ENVIRONMENT=production"
                )
        if self.billing_enabled:
            for name in BILLING_SECRETS:
                if getattr(self, name).strip().lower() in PLACEHOLDERS:
                    raise ConfigurationError(
                        f"{name.upper()} must be set to a real value when BILLING_ENABLED=true"
                        " and ENVIRONMENT=production"
                    )
        if self.smtp_username.strip() and self.smtp_password.strip().lower() in PLACEHOLDERS:
            raise ConfigurationError("SMTP_PASSWORD must be set to a real value when SMTP_USERNAME is set")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
