"""Pure rules: email normalization, password policy, tax ids, the USD 10.00 minimum."""
# ruff: noqa: S105, S106  (test credentials)

from __future__ import annotations

from decimal import Decimal

import pytest
from auth.domain import (
    DepositBelowMinimum,
    InvalidTaxId,
    UnsupportedCurrency,
    WeakPassword,
    check_initial_deposit,
    check_password_policy,
    minimum_deposit_minor,
    normalize_email,
    password_problems,
    payment_meets_minimum,
    tax_id_module,
    validate_tax_id,
)

RATES = {
    "USD": Decimal("1"),
    "RUB": Decimal("0.0125"),
    "EUR": Decimal("1.08"),
    "JPY": Decimal("0.0067"),
}


class TestEmail:
    def test_trimmed_and_lower_cased(self) -> None:
        assert normalize_email("  Ada.Lovelace@Example.COM \n") == "ada.lovelace@example.com"


class TestPasswordPolicy:
    def test_accepts_a_long_uncommon_password(self) -> None:
        check_password_policy("correct horse battery", "ada@example.com")

    @pytest.mark.parametrize(
        ("password", "problem"),
        [
            ("short1!", "at least 10"),
            ("x" * 129, "at most 128"),
            ("my-ada.lovelace-pass", "must not contain the email"),
            ("MY-ADA.LOVELACE-PASS", "must not contain the email"),
            ("Password123", "too common"),
            ("qwertyuiop", "too common"),
        ],
    )
    def test_refuses(self, password: str, problem: str) -> None:
        with pytest.raises(WeakPassword) as err:
            check_password_policy(password, "Ada.Lovelace@example.com")
        assert problem in err.value.detail
        body = err.value.to_problem()
        assert body["type"] == "urn:scifikpi:problem:weak-password"
        assert body["status"] == 422
        assert password not in str(body)  # the password itself is never echoed

    def test_boundaries(self) -> None:
        assert password_problems("a" * 9 + "Z", "x@example.com") == []
        assert password_problems("b" * 128, "x@example.com") == []

    def test_short_local_parts_are_not_a_constraint(self) -> None:
        # "ab" would forbid too many passwords; only local parts of 3+ characters count.
        assert password_problems("ab-correct-horse", "ab@example.com") == []

    def test_lists_every_problem(self) -> None:
        assert len(password_problems("ada", "ada@example.com")) == 2


class TestTaxId:
    def test_valid_russian_inn_of_a_company(self) -> None:
        assert validate_tax_id("7707083893", "RU") == "7707083893"

    def test_valid_russian_inn_of_a_person(self) -> None:
        assert validate_tax_id("500100732259", "RU") == "500100732259"

    def test_russian_inn_with_bad_checksum(self) -> None:
        with pytest.raises(InvalidTaxId) as err:
            validate_tax_id("7707083894", "RU")
        body = err.value.to_problem()
        assert body["type"] == "urn:scifikpi:problem:invalid-tax-id"
        assert "check digits" in body["detail"]
        assert body["scheme"] == "ru.inn"

    def test_russian_inn_with_bad_length(self) -> None:
        with pytest.raises(InvalidTaxId, match="length"):
            validate_tax_id("77070838", "RU")

    def test_other_countries_use_their_stdnum_module(self) -> None:
        assert validate_tax_id("DE 136 695 976", "DE") == "136695976"
        assert validate_tax_id("04-2103594", "US") == "042103594"
        with pytest.raises(InvalidTaxId):
            validate_tax_id("DE136695977", "DE")

    def test_country_without_a_validator_is_refused_clearly(self) -> None:
        assert tax_id_module("KZ") is None
        with pytest.raises(InvalidTaxId, match="cannot be validated"):
            validate_tax_id("123456789012", "KZ")


class TestMinimumDeposit:
    def test_usd(self) -> None:
        assert minimum_deposit_minor("USD", RATES) == 1000

    def test_rub_converts_with_the_rate(self) -> None:
        assert minimum_deposit_minor("RUB", RATES) == 80000  # 800.00 RUB * 0.0125 = 10.00 USD

    def test_rounding_never_lets_less_than_ten_dollars_through(self) -> None:
        minimum = minimum_deposit_minor("EUR", RATES)  # 10 / 1.08 = 9.259...
        assert minimum == 926
        assert not payment_meets_minimum(minimum - 1, "EUR", RATES)
        assert payment_meets_minimum(minimum, "EUR", RATES)

    def test_zero_decimal_currency(self) -> None:
        assert minimum_deposit_minor("JPY", RATES) == 1493  # 1493 * 0.0067 = 10.0031

    def test_below_minimum_names_the_minimum(self) -> None:
        with pytest.raises(DepositBelowMinimum) as err:
            check_initial_deposit(79999, "RUB", RATES)
        body = err.value.to_problem()
        assert body["type"] == "urn:scifikpi:problem:deposit-below-minimum"
        assert body["minimum"] == {"amount_minor": 80000, "currency": "RUB"}
        assert body["minimum_usd"] == {"amount_minor": 1000, "currency": "USD"}

    def test_exactly_the_minimum_is_fine(self) -> None:
        check_initial_deposit(1000, "USD", RATES)
        check_initial_deposit(80000, "RUB", RATES)

    def test_unknown_currency(self) -> None:
        with pytest.raises(UnsupportedCurrency) as err:
            check_initial_deposit(100000, "XYZ", RATES)
        assert err.value.to_problem()["supported_currencies"] == ["EUR", "JPY", "RUB", "USD"]
        assert not payment_meets_minimum(100000, "XYZ", RATES)

    def test_currency_without_a_configured_rate(self) -> None:
        with pytest.raises(UnsupportedCurrency):
            check_initial_deposit(100000, "GBP", RATES)
