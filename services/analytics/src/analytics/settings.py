"""Settings of the analytics service (env prefix `ANALYTICS_`; shared values read unprefixed)."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from scifikpi_common.settings import ServiceSettings


class AnalyticsSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="ANALYTICS_", extra="ignore", env_ignore_empty=True
    )

    service_name: ClassVar[str] = "analytics"
    db_schema: ClassVar[str] = "analytics"

    http_port: int = 8006
    metrics_port: int | None = Field(default=9106, description="/metrics of analytics-worker.")

    # --- queries ---
    max_buckets: int = Field(
        default=1_000,
        ge=1,
        le=100_000,
        description="The most buckets one timeseries answer may hold (a year of days fits).",
    )


@lru_cache
def get_settings() -> AnalyticsSettings:
    return AnalyticsSettings()
