"""Settings of the payments service (env prefix `PAYMENTS_`; shared values also read unprefixed).

Provider keys and webhook secrets are `SecretStr` whose defaults are the local stand-ins'
development values (so `make run` needs no setup); the base settings refuse those placeholders
outside `local`/`test`, and so must provider base URLs be `https://` there.
"""

from __future__ import annotations

import json
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict
from scifikpi_common.money import CURRENCY_EXPONENTS
from scifikpi_common.settings import ServiceSettings

#: YooKassa's published notification source addresses (docs "HTTP notifications"; the same list
#: as the official SDK's `SecurityHelper`). Kept in settings, not code: it can change.
YOOKASSA_PUBLISHED_NETWORKS: tuple[str, ...] = (
    "185.71.76.0/27",
    "185.71.77.0/27",
    "77.75.153.0/25",
    "77.75.156.11/32",
    "77.75.156.35/32",
    "77.75.154.128/25",
    "2a02:5180:0:1509::/64",
    "2a02:5180:0:2655::/64",
    "2a02:5180:0:1533::/64",
    "2a02:5180:0:2669::/64",
)
LOOPBACK_NETWORKS: tuple[str, ...] = ("127.0.0.1/32", "::1/128")

# Development values of the local stand-ins (tools/src/scifikpi_tools/standins); refused outside
# local/test by the base settings because they are the SecretStr defaults.
DEV_STRIPE_SECRET_KEY = "sk_test_local"  # noqa: S105
DEV_STRIPE_WEBHOOK_SECRET = "whsec_scifikpi_local_dev"  # noqa: S105
DEV_YOOKASSA_SHOP_ID = "100500"
DEV_YOOKASSA_SECRET_KEY = "test_scifikpi_local_secret"  # noqa: S105


def _split_list(value: object) -> list[str]:
    """A JSON list or a comma-separated string."""
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value).strip()
    if text.startswith("["):
        return _split_list(json.loads(text))
    return [v.strip() for v in text.split(",") if v.strip()]


class PaymentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore", env_ignore_empty=True)

    service_name: ClassVar[str] = "payments"
    db_schema: ClassVar[str] = "payments"

    http_port: int = 8002
    metrics_port: int | None = Field(
        default=9102,
        description="/metrics of payments-worker, -relay and -scheduler (each process is given "
        "its own port by the stack: 9102, 9112, 9122).",
    )
    # Stripe events carry whole PaymentIntents; leave room above the 64 KiB default.
    max_body_bytes: int = 256 * 1024

    # --- Stripe ---
    stripe_api_key: SecretStr = Field(
        default=SecretStr(DEV_STRIPE_SECRET_KEY), description="Secret API key (sk_...)."
    )
    stripe_api_base: str = Field(
        default="http://127.0.0.1:8420",
        description="Stripe API base URL: https://api.stripe.com, or localstripe locally.",
    )
    stripe_webhook_secret: SecretStr = Field(
        default=SecretStr(DEV_STRIPE_WEBHOOK_SECRET),
        description="Signing secret (whsec_...) of the webhook endpoint.",
    )
    stripe_webhook_previous_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Secrets still accepted while a rotated secret rolls out (JSON list or "
        "comma-separated).",
    )
    stripe_webhook_tolerance_s: int = Field(default=300, ge=1, le=3600)
    stripe_max_network_retries: int = Field(
        default=1, ge=0, le=5, description="SDK retries (same idempotency key) on network errors."
    )
    stripe_currencies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: sorted(CURRENCY_EXPONENTS)
    )

    # --- YooKassa (YooMoney) ---
    yookassa_shop_id: str = DEV_YOOKASSA_SHOP_ID
    yookassa_secret_key: SecretStr = Field(default=SecretStr(DEV_YOOKASSA_SECRET_KEY))
    yookassa_api_base: str = Field(
        default="http://127.0.0.1:8421/v3",
        description="YooKassa API root: https://api.yookassa.ru/v3, or the local fake.",
    )
    yookassa_return_url: str = Field(
        default="http://localhost:4200/payments/return",
        description="Where YooKassa sends the payer back after the confirmation page.",
    )
    yookassa_currencies: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["RUB"])
    yookassa_ip_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(YOOKASSA_PUBLISHED_NETWORKS),
        description="Networks YooKassa notifications may come from. Default: YooKassa's "
        "published list, plus loopback in local/test.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(LOOPBACK_NETWORKS),
        description="Peers (IPs or CIDRs) whose X-Forwarded-For is believed, e.g. the gateway.",
    )

    # --- provider calls ---
    provider_timeout_s: float = Field(default=10.0, gt=0, le=60)
    submit_lease_s: float = Field(
        default=30.0,
        gt=0,
        description="How long one request owns a payment's provider create call; must exceed "
        "the provider timeout (and the SDK's retries).",
    )

    # --- scheduler: provider events, reconciliation, refunds ---
    event_poll_interval_s: float = Field(default=1.0, gt=0)
    event_batch_size: int = Field(default=100, ge=1, le=1000)
    event_concurrency: int = Field(default=8, ge=1, le=64)
    event_lease_s: float = Field(default=60.0, gt=0)
    event_backoff_max_s: float = Field(default=300.0, gt=0)
    unknown_payment_attempts: int = Field(
        default=5, ge=1, description="Retries of an event naming no payment of ours, then logged."
    )
    reconcile_interval_s: float = Field(default=15.0, gt=0)
    reconcile_min_age_s: float = Field(
        default=60.0, ge=0, description="A created/pending payment is re-checked after this age."
    )
    reconcile_backoff_max_s: float = Field(default=600.0, gt=0)
    reconcile_batch_size: int = Field(default=100, ge=1, le=1000)
    payment_max_age_s: float = Field(
        default=3600.0,
        gt=0,
        description="An unfinished payment older than this is canceled at the provider and ends "
        "canceled (or failed when the provider cannot be reached or cannot cancel it).",
    )
    payment_abandon_after_s: float = Field(
        default=86400.0,
        gt=0,
        description="A payment the provider still reports unfinished and cannot cancel (e.g. a "
        "pending YooKassa payment) ends failed locally after this age.",
    )
    refund_backoff_max_s: float = Field(default=300.0, gt=0)

    @field_validator(
        "stripe_currencies",
        "yookassa_currencies",
        mode="before",
    )
    @classmethod
    def _parse_currencies(cls, value: object) -> list[str]:
        return [c.upper() for c in _split_list(value)]

    @field_validator("stripe_webhook_previous_secrets", mode="before")
    @classmethod
    def _parse_secrets(cls, value: object) -> list[str]:
        if isinstance(value, list | tuple):
            return [
                v.get_secret_value() if isinstance(v, SecretStr) else str(v)
                for v in value
                if (v.get_secret_value() if isinstance(v, SecretStr) else str(v)).strip()
            ]
        return _split_list(value)

    @field_validator("yookassa_ip_allowlist", "trusted_proxies", mode="before")
    @classmethod
    def _parse_networks(cls, value: object) -> list[str]:
        return [str(ip_network(v, strict=False)) for v in _split_list(value)]

    @field_validator("yookassa_api_base")
    @classmethod
    def _yookassa_v3(cls, value: str) -> str:
        value = value.rstrip("/")
        return value if value.endswith("/v3") else value + "/v3"

    @model_validator(mode="after")
    def _environment_rules(self) -> PaymentsSettings:
        if self.submit_lease_s <= self.provider_timeout_s:
            raise ValueError("PAYMENTS_SUBMIT_LEASE_S must exceed PAYMENTS_PROVIDER_TIMEOUT_S")
        if self.is_dev:
            if "yookassa_ip_allowlist" not in self.model_fields_set:
                # Locally the fake YooKassa sends from loopback.
                self.yookassa_ip_allowlist = [
                    *self.yookassa_ip_allowlist,
                    *(n for n in LOOPBACK_NETWORKS if n not in self.yookassa_ip_allowlist),
                ]
            return self
        for name in ("stripe_api_base", "yookassa_api_base"):
            if urlsplit(getattr(self, name)).scheme != "https":
                raise ValueError(
                    f"PAYMENTS_{name.upper()} must be an https:// URL outside local/test"
                )
        return self

    @property
    def stripe_webhook_secrets(self) -> list[str]:
        """Current secret first, then the ones being rotated out."""
        return [
            self.stripe_webhook_secret.get_secret_value(),
            *(s.get_secret_value() for s in self.stripe_webhook_previous_secrets),
        ]

    @property
    def yookassa_networks(self) -> list[IPv4Network | IPv6Network]:
        return [ip_network(n) for n in self.yookassa_ip_allowlist]

    @property
    def trusted_proxy_networks(self) -> list[IPv4Network | IPv6Network]:
        return [ip_network(n) for n in self.trusted_proxies]


@lru_cache
def get_settings() -> PaymentsSettings:
    return PaymentsSettings()
