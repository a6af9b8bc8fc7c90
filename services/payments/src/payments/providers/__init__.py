"""Payment providers behind one port (`base.PaymentProvider`): Stripe and YooKassa (YooMoney)."""

from __future__ import annotations

from collections.abc import Mapping

from payments.providers.base import (
    CreatePayment,
    PaymentProvider,
    ProviderError,
    ProviderNotFound,
    ProviderPayment,
    ProviderRefund,
    ProviderRejected,
    ProviderUnavailable,
)
from payments.settings import PaymentsSettings

Providers = Mapping[str, PaymentProvider]


def build_providers(settings: PaymentsSettings) -> dict[str, PaymentProvider]:
    """One client per provider, configured from settings; close each with `aclose()`."""
    from payments.providers.stripe import StripeProvider
    from payments.providers.yookassa import YooKassaProvider

    return {
        "stripe": StripeProvider(
            api_key=settings.stripe_api_key.get_secret_value(),
            api_base=settings.stripe_api_base,
            currencies=frozenset(settings.stripe_currencies),
            timeout_s=settings.provider_timeout_s,
            max_network_retries=settings.stripe_max_network_retries,
        ),
        "yoomoney": YooKassaProvider(
            shop_id=settings.yookassa_shop_id,
            secret_key=settings.yookassa_secret_key.get_secret_value(),
            api_base=settings.yookassa_api_base,
            return_url=settings.yookassa_return_url,
            currencies=frozenset(settings.yookassa_currencies),
            timeout_s=settings.provider_timeout_s,
        ),
    }


async def close_providers(providers: Providers) -> None:
    for provider in providers.values():
        await provider.aclose()


__all__ = [
    "CreatePayment",
    "PaymentProvider",
    "ProviderError",
    "ProviderNotFound",
    "ProviderPayment",
    "ProviderRefund",
    "ProviderRejected",
    "ProviderUnavailable",
    "Providers",
    "build_providers",
    "close_providers",
]
