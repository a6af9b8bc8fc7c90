"""Service settings on pydantic-settings.

Each service subclasses `ServiceSettings` with its own env prefix (`AUTH_`, `GATEWAY_`, ...).
A few values are the same for every service of a deployment (database, broker, environment,
FX rates...); those also read their unprefixed name (`DATABASE_URL`), the prefixed one winning.
Secrets that still hold their development placeholder are refused outside `local`/`test`.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


class Environment(StrEnum):
    local = "local"
    test = "test"
    staging = "staging"
    production = "production"


DEV_ENVIRONMENTS = frozenset({Environment.local, Environment.test})

#: Settings every service of one deployment shares; readable without the service prefix.
SHARED_FIELDS = frozenset(
    {
        "environment",
        "database_url",
        "kafka_bootstrap_servers",
        "kafka_fetch_max_wait_ms",
        "log_level",
        "outbox_retention",
        "log_format",
        "otlp_endpoint",
        "redis_url",
        "fx_rates",
        "jwks_url",
        "jwt_issuer",
        "jwt_audience",
        # scifikpi_common.events.mining: ledger and mining must agree
        "mining_r_base_micro_per_hour",
        "mining_r_per_usd_micro_per_hour",
        "mining_r_max_micro_per_hour",
    }
)


class _SharedEnvSource(EnvSettingsSource):
    """Reads the unprefixed environment, but only for `SHARED_FIELDS`."""

    def __call__(self) -> dict[str, Any]:
        values = super().__call__()
        return {k: v for k, v in values.items() if k in SHARED_FIELDS}


class ServiceSettings(BaseSettings):
    """Base for every service's settings."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    service_name: ClassVar[str] = "service"

    environment: Environment = Environment.local
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/scifikpi"
    db_pool_size: int = 10
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_fetch_max_wait_ms: int = Field(
        default=500,
        ge=1,
        le=30_000,
        description="Longest wait of a consumer fetch. Kafka answers as soon as data arrives; "
        "the Tansu broker of the local stack only when the wait ends, so it runs with ~20 ms.",
    )
    outbox_retention: timedelta = Field(
        default=timedelta(days=7),
        gt=timedelta(0),
        description="How long published outbox rows are kept (ISO-8601 `P7D` or seconds): the "
        "window a lost or recreated topic can be republished from (scifikpi_common.republish).",
    )
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|console)$")
    otlp_endpoint: str | None = None
    redis_url: str | None = None
    # 1 unit of the currency = this many USD; decimal strings, never floats.
    fx_rates: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "USD": Decimal("1"),
            "RUB": Decimal("0.0125"),
            "EUR": Decimal("1.08"),
        }
    )
    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    jwt_issuer: str = "scifikpi-auth"
    jwt_audience: str = "scifikpi"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    metrics_port: int | None = Field(
        default=None,
        description="Port of the /metrics endpoint of worker processes (APIs serve it themselves).",
    )
    max_body_bytes: int = 64 * 1024

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        shared = _SharedEnvSource(settings_cls, env_prefix="")
        return init_settings, env_settings, shared, dotenv_settings, file_secret_settings

    @field_validator("database_url")
    @classmethod
    def _asyncpg_driver(cls, url: str) -> str:
        for plain in ("postgresql://", "postgres://", "postgresql+psycopg://"):
            if url.startswith(plain):
                return "postgresql+asyncpg://" + url[len(plain) :]
        return url

    @field_validator("fx_rates")
    @classmethod
    def _positive_rates(cls, rates: dict[str, Decimal]) -> dict[str, Decimal]:
        normalized = {code.upper(): rate for code, rate in rates.items()}
        bad = [code for code, rate in normalized.items() if rate <= 0 or len(code) != 3]
        if bad:
            raise ValueError(f"FX rates must be positive and keyed by ISO-4217 codes: {bad}")
        return normalized

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> ServiceSettings:
        if self.environment in DEV_ENVIRONMENTS:
            return self
        prefix = self.model_config.get("env_prefix", "")
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            default = field.default
            if (
                isinstance(value, SecretStr)
                and isinstance(default, SecretStr)
                and value.get_secret_value() == default.get_secret_value()
            ):
                raise ValueError(
                    f"{prefix}{name.upper()} still holds its development placeholder; "
                    f"set a real secret for environment {self.environment.value!r}"
                )
        return self

    @property
    def is_dev(self) -> bool:
        return self.environment in DEV_ENVIRONMENTS
