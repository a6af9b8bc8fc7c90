"""Settings of the ledger service (env prefix `LEDGER_`; shared values also read unprefixed).

Mining power constants live here because the ledger knows each user's total deposits (DESIGN §5):
`rate_µP_per_hour = min(R_MAX, R_BASE + R_PER_USD × floor(total_deposits_usd))`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict
from scifikpi_common.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore", env_ignore_empty=True)

    service_name: ClassVar[str] = "ledger"
    db_schema: ClassVar[str] = "ledger"

    http_port: int = 8004
    metrics_port: int | None = Field(
        default=9104, description="/metrics of ledger-worker, -relay and -scheduler."
    )

    # --- mining power (µP per hour) ---
    r_base_micro_per_hour: int = Field(default=1_000_000, ge=0, description="R_BASE")
    r_per_usd_micro_per_hour: int = Field(default=100_000, ge=0, description="R_PER_USD")
    r_max_micro_per_hour: int = Field(default=10_000_000, ge=0, description="R_MAX")

    # --- holds ---
    hold_ttl_s: int = Field(
        default=86_400,
        ge=1,
        description="A hold not captured or released within this time expires (points return). "
        "Must exceed the nft service's mint retry window.",
    )
    sweep_interval_s: float = Field(default=5.0, gt=0)
    sweep_batch_size: int = Field(default=500, ge=1, le=10_000)

    @model_validator(mode="after")
    def _rate_bounds(self) -> LedgerSettings:
        if self.r_max_micro_per_hour < self.r_base_micro_per_hour:
            raise ValueError("LEDGER_R_MAX_MICRO_PER_HOUR must be >= LEDGER_R_BASE_MICRO_PER_HOUR")
        return self

    def mining_rate_micro_per_hour(self, total_deposits_usd_minor: int) -> int:
        """min(R_MAX, R_BASE + R_PER_USD × floor(total deposits in whole USD)); integers only."""
        whole_usd = max(total_deposits_usd_minor, 0) // 100
        return min(
            self.r_max_micro_per_hour,
            self.r_base_micro_per_hour + self.r_per_usd_micro_per_hour * whole_usd,
        )


@lru_cache
def get_settings() -> LedgerSettings:
    return LedgerSettings()
