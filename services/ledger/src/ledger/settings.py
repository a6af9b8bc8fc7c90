"""Settings of the ledger service (env prefix `LEDGER_`; shared values also read unprefixed).

Mining power constants come from `scifikpi_common.events.mining` (shared with mining): the ledger
shows the rate in `/balance` because it knows each user's deposits.
"""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from scifikpi_common.events.mining import MiningPowerSettings


class LedgerSettings(MiningPowerSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore", env_ignore_empty=True)

    service_name: ClassVar[str] = "ledger"
    db_schema: ClassVar[str] = "ledger"

    http_port: int = 8004
    metrics_port: int | None = Field(
        default=9104, description="/metrics of ledger-worker, -relay and -scheduler."
    )

    # --- holds ---
    hold_ttl_s: int = Field(
        default=86_400,
        ge=1,
        description="A hold not captured or released within this time expires (points return). "
        "Must exceed the nft service's mint retry window.",
    )
    sweep_interval_s: float = Field(default=5.0, gt=0)
    sweep_batch_size: int = Field(default=500, ge=1, le=10_000)


@lru_cache
def get_settings() -> LedgerSettings:
    return LedgerSettings()
