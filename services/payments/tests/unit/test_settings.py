"""Settings: dev placeholders refused outside local/test, https providers in production, the
YooKassa allowlist (loopback only in local/test), several webhook secrets."""

from __future__ import annotations

from typing import Any

import pytest
from payments.settings import PaymentsSettings
from pydantic import ValidationError

PRODUCTION: dict[str, Any] = {
    "environment": "production",
    "stripe_api_key": "sk_live_real",
    "stripe_webhook_secret": "whsec_real",
    "yookassa_secret_key": "live_real",
    "stripe_api_base": "https://api.stripe.com",
    "yookassa_api_base": "https://api.yookassa.ru/v3",
}


def test_defaults_work_locally() -> None:
    s = PaymentsSettings(environment="local")
    assert s.http_port == 8002
    assert s.stripe_api_base == "http://127.0.0.1:8420"
    assert s.yookassa_api_base == "http://127.0.0.1:8421/v3"
    assert "127.0.0.1/32" in s.yookassa_ip_allowlist
    assert "185.71.76.0/27" in s.yookassa_ip_allowlist


def test_production_is_accepted_with_real_values() -> None:
    s = PaymentsSettings(**PRODUCTION)
    assert "127.0.0.1/32" not in s.yookassa_ip_allowlist
    assert "185.71.76.0/27" in s.yookassa_ip_allowlist


@pytest.mark.parametrize(
    "field", ["stripe_api_key", "stripe_webhook_secret", "yookassa_secret_key"]
)
def test_placeholders_refused_outside_dev(field: str) -> None:
    values = {k: v for k, v in PRODUCTION.items() if k != field}
    with pytest.raises(ValidationError, match=field.upper()):
        PaymentsSettings(**values)


@pytest.mark.parametrize("field", ["stripe_api_base", "yookassa_api_base"])
def test_plain_http_providers_refused_outside_dev(field: str) -> None:
    with pytest.raises(ValidationError, match="https"):
        PaymentsSettings(**{**PRODUCTION, field: "http://127.0.0.1:8420"})


def test_env_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENTS_STRIPE_WEBHOOK_PREVIOUS_SECRETS", "whsec_a, whsec_b")
    monkeypatch.setenv("PAYMENTS_YOOKASSA_IP_ALLOWLIST", '["185.71.76.0/27", "10.1.2.3"]')
    monkeypatch.setenv("PAYMENTS_YOOKASSA_CURRENCIES", "rub,usd")
    monkeypatch.setenv("PAYMENTS_YOOKASSA_API_BASE", "http://127.0.0.1:9999/")
    s = PaymentsSettings(environment="test")
    assert s.stripe_webhook_secrets[1:] == ["whsec_a", "whsec_b"]
    # explicitly set: no loopback added, even in test
    assert s.yookassa_ip_allowlist == ["185.71.76.0/27", "10.1.2.3/32"]
    assert s.yookassa_currencies == ["RUB", "USD"]
    assert s.yookassa_api_base == "http://127.0.0.1:9999/v3"


def test_secrets_are_not_in_the_repr() -> None:
    s = PaymentsSettings(**PRODUCTION, stripe_webhook_previous_secrets=["whsec_old_one"])
    text = repr(s) + str(s.model_dump())
    for secret in ("sk_live_real", "whsec_real", "live_real", "whsec_old_one"):
        assert secret not in text


def test_lease_must_outlast_the_provider_timeout() -> None:
    with pytest.raises(ValidationError, match="SUBMIT_LEASE"):
        PaymentsSettings(environment="test", provider_timeout_s=10, submit_lease_s=5)
