"""Domain rules: the one-way state machine (with property-based tests), request checks, amounts."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from payments.domain import (
    ALLOWED,
    FINAL_FAILURES,
    RANK,
    AccountNotActive,
    AccountNotPendingPayment,
    CurrencyNotSupportedByProvider,
    DepositBelowMinimum,
    InvalidIdempotencyKey,
    PaymentRequest,
    PaymentStatus,
    Provider,
    Purpose,
    QuoteNotAllowed,
    QuoteRequired,
    UnsupportedCurrency,
    check_account_allows,
    check_idempotency_key,
    check_payment_request,
    format_minor,
    minimum_in,
    parse_major,
    request_fingerprint,
    transition,
)

S = PaymentStatus
FX = {
    "USD": Decimal("1"),
    "RUB": Decimal("0.0125"),
    "EUR": Decimal("1.08"),
    "JPY": Decimal("0.0067"),
}
ALL_CURRENCIES = frozenset({"USD", "RUB", "EUR", "JPY"})

statuses = st.sampled_from(list(PaymentStatus))
observations = st.lists(statuses, max_size=30)


def run(observed: list[PaymentStatus], start: PaymentStatus = S.created):
    status, events, path = start, [], [start]
    for o in observed:
        t = transition(status, o)
        if t.event:
            events.append(t.event)
        status = t.after
        path.append(status)
    return status, events, path


class TestStateMachine:
    def test_the_happy_paths(self) -> None:
        assert run([S.pending, S.succeeded, S.refunded])[1] == [
            "PaymentSucceeded",
            "PaymentRefunded",
        ]
        assert run([S.pending, S.canceled])[1] == ["PaymentFailed"]
        assert run([S.failed])[1] == ["PaymentFailed"]
        assert run([S.succeeded])[0] is S.succeeded  # created -> succeeded is forward too

    def test_failed_after_succeeded_stays_succeeded(self) -> None:
        t = transition(S.succeeded, S.failed)
        assert (t.after, t.kind, t.event) == (S.succeeded, "conflict", None)
        assert transition(S.succeeded, S.canceled).kind == "conflict"

    def test_stale_and_duplicate_observations_change_nothing(self) -> None:
        assert transition(S.succeeded, S.pending).kind == "stale"
        assert transition(S.pending, S.created).kind == "stale"
        assert transition(S.succeeded, S.succeeded).kind == "unchanged"

    def test_refund_only_from_succeeded(self) -> None:
        for status in PaymentStatus:
            t = transition(status, S.refunded)
            assert t.changed == (status is S.succeeded), status

    @given(observations)
    def test_status_never_moves_back(self, observed: list[PaymentStatus]) -> None:
        _, _, path = run(observed)
        for before, after in zip(path, path[1:], strict=False):
            assert RANK[after] >= RANK[before]
            assert after == before or after in ALLOWED[before]

    @given(observations)
    def test_each_event_at_most_once(self, observed: list[PaymentStatus]) -> None:
        _, events, _ = run(observed)
        assert events.count("PaymentSucceeded") <= 1
        assert events.count("PaymentFailed") <= 1
        assert events.count("PaymentRefunded") <= 1
        # a payment either succeeds or fails, never both
        assert not ("PaymentSucceeded" in events and "PaymentFailed" in events)
        if "PaymentRefunded" in events:
            assert events.index("PaymentSucceeded") < events.index("PaymentRefunded")

    @given(observations, st.integers(min_value=1, max_value=10))
    def test_duplicates_are_harmless(self, observed: list[PaymentStatus], copies: int) -> None:
        """Every observation delivered `copies` times: same end state, same events."""
        duplicated = [o for o in observed for _ in range(copies)]
        assert run(duplicated)[:2] == run(observed)[:2]

    @given(observations)
    def test_final_states_are_final(self, observed: list[PaymentStatus]) -> None:
        for final in (*FINAL_FAILURES, S.refunded):
            status, events, _ = run(observed, start=final)
            assert status is final and events == []

    @given(st.permutations([S.pending, S.succeeded, S.pending, S.failed, S.succeeded]))
    def test_success_is_counted_once_in_any_order(self, order: list[PaymentStatus]) -> None:
        status, events, _ = run(order)
        assert len([e for e in events if e in ("PaymentSucceeded", "PaymentFailed")]) == 1
        assert status in (S.succeeded, S.failed)


class TestAmounts:
    @pytest.mark.parametrize(
        ("minor", "currency", "text"),
        [
            (1000, "RUB", "10.00"),
            (1, "RUB", "0.01"),
            (80000, "RUB", "800.00"),
            (123456789, "USD", "1234567.89"),
            (10**12, "EUR", "10000000000.00"),
            (500, "JPY", "500"),
            (7, "USD", "0.07"),
        ],
    )
    def test_minor_units_to_decimal_strings(self, minor: int, currency: str, text: str) -> None:
        assert format_minor(minor, currency) == text
        assert parse_major(text, currency) == minor

    @given(st.integers(min_value=1, max_value=10**15), st.sampled_from(sorted(ALL_CURRENCIES)))
    def test_round_trip_is_exact(self, minor: int, currency: str) -> None:
        text = format_minor(minor, currency)
        assert "e" not in text.lower()
        assert parse_major(text, currency) == minor

    @pytest.mark.parametrize("value", ["10.001", "abc", "NaN", "Infinity", ""])
    def test_inexact_provider_amounts_are_refused(self, value: str) -> None:
        with pytest.raises(ValueError):
            parse_major(value, "RUB")

    def test_float_trap_values_stay_exact(self) -> None:
        # values whose float form is inexact (0.29 == 0.28999999999999998)
        assert format_minor(29, "RUB") == "0.29"
        assert format_minor(100_000_000_001, "RUB") == "1000000000.01"


def req(**kw) -> PaymentRequest:
    values = {
        "purpose": Purpose.topup,
        "amount_minor": 1000,
        "currency": "USD",
        "provider": Provider.stripe,
    }
    values.update(kw)
    return PaymentRequest(**values)


class TestRequests:
    def test_fingerprint_is_stable_and_covers_every_field(self) -> None:
        base = req()
        assert request_fingerprint(base) == request_fingerprint(req())
        quote = uuid.uuid4()
        variants = [
            req(amount_minor=1001),
            req(currency="EUR"),
            req(provider=Provider.yoomoney),
            req(purpose=Purpose.registration),
            req(purpose=Purpose.acceleration, quote_id=quote),
        ]
        prints = {request_fingerprint(v) for v in variants}
        assert len(prints) == len(variants)
        assert request_fingerprint(base) not in prints
        assert len(request_fingerprint(base)) == 64

    def test_registration_minimum_in_usd_and_rub(self) -> None:
        check_payment_request(
            req(purpose=Purpose.registration), fx_rates=FX, provider_currencies=ALL_CURRENCIES
        )
        check_payment_request(
            req(purpose=Purpose.registration, currency="RUB", amount_minor=80000),
            fx_rates=FX,
            provider_currencies=ALL_CURRENCIES,
        )
        with pytest.raises(DepositBelowMinimum) as info:
            check_payment_request(
                req(purpose=Purpose.registration, currency="RUB", amount_minor=79999),
                fx_rates=FX,
                provider_currencies=ALL_CURRENCIES,
            )
        assert info.value.extensions["minimum"] == {"amount_minor": 80000, "currency": "RUB"}
        assert minimum_in("USD", FX) == 1000
        assert minimum_in("EUR", FX) == 926  # 9.26 EUR * 1.08 = 10.0008 USD

    def test_topups_have_no_minimum(self) -> None:
        check_payment_request(req(amount_minor=1), fx_rates=FX, provider_currencies=ALL_CURRENCIES)

    def test_currency_checks(self) -> None:
        with pytest.raises(UnsupportedCurrency):
            check_payment_request(
                req(currency="XYZ"), fx_rates=FX, provider_currencies=ALL_CURRENCIES
            )
        with pytest.raises(UnsupportedCurrency):  # known exponent, but no FX rate
            check_payment_request(
                req(currency="GBP"), fx_rates=FX, provider_currencies=ALL_CURRENCIES
            )
        with pytest.raises(CurrencyNotSupportedByProvider):
            check_payment_request(
                req(provider=Provider.yoomoney), fx_rates=FX, provider_currencies=frozenset({"RUB"})
            )

    def test_quote_rules(self) -> None:
        with pytest.raises(QuoteRequired):
            check_payment_request(
                req(purpose=Purpose.acceleration), fx_rates=FX, provider_currencies=ALL_CURRENCIES
            )
        with pytest.raises(QuoteNotAllowed):
            check_payment_request(
                req(quote_id=uuid.uuid4()), fx_rates=FX, provider_currencies=ALL_CURRENCIES
            )

    def test_account_rules(self) -> None:
        check_account_allows(
            Purpose.registration, "pending_payment", registration_already_paid=False
        )
        check_account_allows(Purpose.topup, "active", registration_already_paid=False)
        with pytest.raises(AccountNotPendingPayment):
            check_account_allows(Purpose.registration, "active", registration_already_paid=False)
        with pytest.raises(AccountNotPendingPayment):
            check_account_allows(
                Purpose.registration, "pending_payment", registration_already_paid=True
            )
        for purpose in (Purpose.topup, Purpose.acceleration):
            for status in ("pending_payment", "blocked", None):
                with pytest.raises(AccountNotActive):
                    check_account_allows(purpose, status, registration_already_paid=False)

    @pytest.mark.parametrize("key", ["", "   ", "x" * 256, "ключ", "a\nb"])
    def test_bad_idempotency_keys(self, key: str) -> None:
        with pytest.raises(InvalidIdempotencyKey):
            check_idempotency_key(key)

    def test_good_idempotency_keys(self) -> None:
        assert check_idempotency_key(" abc-123 ") == "abc-123"
        assert check_idempotency_key("x" * 255) == "x" * 255
