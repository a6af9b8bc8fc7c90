"""Settings (prefixes, shared values, placeholder secrets) and money rules (no floats, floor)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict
from scifikpi_common.money import (
    MIN_REGISTRATION_DEPOSIT_USD_MINOR,
    UnknownCurrency,
    meets_registration_minimum,
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
        assert meets_registration_minimum(1000, "USD", RATES)
        assert not meets_registration_minimum(999, "USD", RATES)

    def test_rub_converts_with_configured_rate(self):
        # 800.00 RUB * 0.0125 = 10.00 USD exactly; one kopeck less is below.
        assert to_usd_minor(80000, "RUB", RATES) == 1000
        assert not meets_registration_minimum(79999, "RUB", RATES)

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

    def test_minimum_constant(self):
        assert MIN_REGISTRATION_DEPOSIT_USD_MINOR == 1000
