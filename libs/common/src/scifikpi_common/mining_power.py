"""Mining power: one formula and one set of constants for every service that shows or uses it.

The rule, as services/mining/README.md states it:
`rate_µP_per_hour = min(R_MAX, R_BASE + R_PER_USD × floor(total_deposits_usd))`.
The ledger shows it in `/balance`, mining freezes it into a session at start; both read the same
unprefixed environment (`MINING_R_BASE_MICRO_PER_HOUR`, ...) so they can never disagree.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from scifikpi_common.settings import ServiceSettings


def rate_micro_per_hour(total_deposits_usd_minor: int, *, base: int, per_usd: int, cap: int) -> int:
    """Integers only: USD cents floored to whole dollars; a negative total counts as 0."""
    whole_usd = max(total_deposits_usd_minor, 0) // 100
    return min(cap, base + per_usd * whole_usd)


class MiningPowerSettings(ServiceSettings):
    """Mixin for the services that need the mining-power constants (ledger, mining)."""

    mining_r_base_micro_per_hour: int = Field(
        default=1_000_000, ge=0, description="R_BASE: µP per hour with no deposits."
    )
    mining_r_per_usd_micro_per_hour: int = Field(
        default=100_000, ge=0, description="R_PER_USD: µP per hour added per whole deposited USD."
    )
    mining_r_max_micro_per_hour: int = Field(
        default=10_000_000, ge=0, description="R_MAX: the cap, µP per hour."
    )

    @model_validator(mode="after")
    def _rate_bounds(self) -> MiningPowerSettings:
        if self.mining_r_max_micro_per_hour < self.mining_r_base_micro_per_hour:
            raise ValueError("MINING_R_MAX_MICRO_PER_HOUR must be >= MINING_R_BASE_MICRO_PER_HOUR")
        return self

    def mining_rate_micro_per_hour(self, total_deposits_usd_minor: int) -> int:
        return rate_micro_per_hour(
            total_deposits_usd_minor,
            base=self.mining_r_base_micro_per_hour,
            per_usd=self.mining_r_per_usd_micro_per_hour,
            cap=self.mining_r_max_micro_per_hour,
        )
