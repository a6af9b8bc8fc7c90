"""Settings of the mining service (env prefix `MINING_`; shared values also read unprefixed).

Mining power constants (`MINING_R_*`) come from `scifikpi_common.events.mining`, shared with the
ledger so `/balance` and a new session never disagree. Every duration is a setting, so tests and
the local stack can run minute-long sessions (`MINING_SESSION_DURATION_S=60`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from scifikpi_common.events.mining import MiningPowerSettings


class MiningSettings(MiningPowerSettings):
    model_config = SettingsConfigDict(env_prefix="MINING_", extra="ignore", env_ignore_empty=True)

    service_name: ClassVar[str] = "mining"
    db_schema: ClassVar[str] = "mining"

    http_port: int = 8003
    metrics_port: int | None = Field(
        default=9103, description="/metrics of mining-worker, -relay and -scheduler."
    )

    # --- sessions ---
    session_duration_s: int = Field(
        default=28_800, ge=1, le=30 * 86_400, description="D: length of a session, seconds."
    )

    # --- acceleration ---
    price_per_hour_minor: int = Field(
        default=100, ge=1, description="PRICE_PER_HOUR_MINOR: USD cents per skipped hour."
    )
    min_accel_minor: int = Field(
        default=50, ge=1, description="MIN_ACCEL_MINOR: the lowest quote price, USD cents."
    )
    quote_ttl_s: int = Field(
        default=900, ge=1, description="A quote must be paid (payment succeeded) within this."
    )
    quote_retention_s: int = Field(
        default=7 * 86_400,
        ge=0,
        description="Unused quotes are deleted this long after they expire (a late payment "
        "then reads `quote_not_found` instead of `quote_expired`; both refund).",
    )

    # --- scheduler ---
    complete_interval_s: float = Field(default=1.0, gt=0, description="Completion poll period.")
    complete_batch_size: int = Field(default=200, ge=1, le=10_000)
    prune_interval_s: float = Field(default=300.0, gt=0)


@lru_cache
def get_settings() -> MiningSettings:
    return MiningSettings()
