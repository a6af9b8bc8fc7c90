"""Settings (prefixes, shared values, placeholder secrets) and money rules (no floats, floor)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict
from scifikpi_common.money import (
    UnknownCurrency,
    smallest_amount_worth,
    to_usd_minor,
)
from scifikpi_common.settings import ServiceSettings


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore", env_ignore_empty=True)
    api_secret: SecretStr = SecretStr("dev-only-placeholder")


class TestSettings:
    def test_prefixed_value_wins_over_shared(self, monkeypatch):
        monkeypatch.setenv("DATABASE_URL", "postgresql://shared/db")
        assert DemoSettings().database_url == "postgresql+asyncpg://shared/db"
        monkeypatch.setenv("DEMO_DATABASE_URL", "postgres://own/db")
        assert DemoSettings().database_url == "postgresql+asyncpg://own/db"

    def test_only_shared_fields_read_unprefixed(self, monkeypatch):
        monkeypatch.setenv("HTTP_PORT", "9999")
        monkeypatch.setenv("DEMO_HTTP_PORT", "8123")
        assert DemoSettings().http_port == 8123
        monkeypatch.delenv("DEMO_HTTP_PORT")
        assert DemoSettings().http_port == 8000

    def test_placeholder_secret_refused_outside_dev(self, monkeypatch):
        monkeypatch.setenv("ENVIRONMENT", "production")
        with pytest.raises(ValidationError, match="DEMO_API_SECRET"):
            DemoSettings()
        monkeypatch.setenv("DEMO_API_SECRET", "a-real-secret")
        assert DemoSettings().api_secret.get_secret_value() == "a-real-secret"

    def test_placeholder_secret_accepted_in_local(self, monkeypatch):
        monkeypatch.setenv("ENVIRONMENT", "local")
        assert DemoSettings().is_dev

    def test_fx_rates_parse_as_decimals(self, monkeypatch):
        monkeypatch.setenv("FX_RATES", '{"usd": "1", "rub": "0.0111"}')
        rates = DemoSettings().fx_rates
        assert rates == {"USD": Decimal("1"), "RUB": Decimal("0.0111")}
        monkeypatch.setenv("FX_RATES", '{"RUB": "-1"}')
        with pytest.raises(ValidationError):
            DemoSettings()


RATES = {"USD": Decimal("1"), "RUB": Decimal("0.0125"), "JPY": Decimal("0.0067")}


class TestMoney:
    def test_usd_minimum_boundary(self):
        assert to_usd_minor(1000, "USD", RATES) == 1000
        assert smallest_amount_worth(1000, "USD", RATES) == 1000

    def test_rub_converts_with_configured_rate(self):
        # 800.00 RUB * 0.0125 = 10.00 USD exactly; one kopeck less is below.
        assert to_usd_minor(80000, "RUB", RATES) == 1000
        assert to_usd_minor(79999, "RUB", RATES) == 999
        assert smallest_amount_worth(1000, "RUB", RATES) == 80000

    def test_zero_exponent_currency(self):
        assert to_usd_minor(1500, "JPY", RATES) == 1005  # 1500 JPY * 0.0067 = 10.05 USD

    def test_unknown_currency(self):
        with pytest.raises(UnknownCurrency):
            to_usd_minor(100, "XYZ", RATES)
        with pytest.raises(UnknownCurrency):
            to_usd_minor(100, "EUR", RATES)  # known currency, but no configured rate

    @given(st.integers(min_value=1, max_value=10**12))
    def test_conversion_never_rounds_up(self, amount):
        usd = to_usd_minor(amount, "RUB", RATES)
        assert Decimal(usd) <= Decimal(amount) * Decimal("0.0125") < Decimal(usd + 1)

    def test_smallest_amount_worth_rounds_up(self):
        # 1500 JPY is worth 10.05 USD, 1493 JPY 10.00 (1492: 9.99): the least worth 10.00 is 1493
        assert smallest_amount_worth(1000, "JPY", RATES) == 1493
        with pytest.raises(UnknownCurrency):
            smallest_amount_worth(1000, "EUR", RATES)

    @given(st.integers(min_value=1, max_value=10**9))
    def test_smallest_amount_worth_is_the_least(self, usd_minor):
        least = smallest_amount_worth(usd_minor, "RUB", RATES)
        assert (
            to_usd_minor(least, "RUB", RATES) >= usd_minor > to_usd_minor(least - 1, "RUB", RATES)
        )
