"""Gateway settings (`GATEWAY_` prefix; shared values such as REDIS_URL and JWKS_URL unprefixed).

Upstream base URLs default from the route table (`routes.UPSTREAMS`); override one with
`GATEWAY_UPSTREAM_URLS__AUTH=http://auth:8001` or the whole map as JSON in `GATEWAY_UPSTREAM_URLS`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from scifikpi_common.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_nested_delimiter="__")

    service_name: ClassVar[str] = "gateway"

    http_port: int = 8000
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes")
    trusted_proxy_ips: str = Field(
        default="",
        description="Comma-separated IPs/CIDRs of proxies in front of the gateway whose "
        "X-Forwarded-For is believed (empty: the TCP peer is the client).",
    )

    upstream_urls: dict[str, str] = Field(
        default_factory=dict, description="Per-upstream base URL overrides, keyed by service name."
    )
    upstream_timeout_s: float = Field(
        default=10.0, gt=0, description="Max wait for upstream bytes → 504"
    )
    upstream_connect_timeout_s: float = Field(default=2.0, gt=0)
    upstream_pool_size: int = Field(
        default=256, ge=1, description="Keep-alive connections per upstream"
    )
    upstream_idle_s: float = Field(
        default=4.0,
        gt=0,
        description="Pooled connections idle longer are not reused; keep it below the upstreams' "
        "keep-alive timeout (uvicorn: 5 s) so the gateway never writes into a closing connection",
    )

    # Each service enforces its own limit too; this one must admit the largest (Stripe events).
    max_body_bytes: int = 256 * 1024

    rate_limit_enabled: bool = True
    rate_limit_requests: int = Field(
        default=600, ge=1, description="Requests per window per client IP"
    )
    rate_limit_window_s: int = Field(default=60, ge=1)
    rate_limit_auth_requests: int = Field(
        default=30, ge=1, description="Stricter bucket for login/register/refresh per client IP"
    )
    rate_limit_auth_window_s: int = Field(default=60, ge=1)
    rate_limit_webhook_requests: int = Field(
        default=6000,
        ge=1,
        description="Provider webhooks per window per source IP: generous, since a provider "
        "retries what we refuse and bursts after an outage",
    )
    rate_limit_webhook_window_s: int = Field(default=60, ge=1)
    rate_limit_key_prefix: str = "scifikpi:gateway:"

    cors_allow_origins: list[str] = Field(default_factory=lambda: ["http://localhost:4200"])
    cors_max_age_s: int = 600

    openapi_cache_s: float = Field(
        default=30.0, ge=0, description="How long a fetched upstream spec is reused"
    )
    token_cache_size: int = Field(
        default=10_000,
        ge=0,
        description="Verified access tokens remembered until their expiry (0: off)",
    )
    access_log: bool = Field(default=False, description="One JSON log line per proxied request")
    gc_tune: bool = Field(
        default=True,
        description="Freeze the objects alive after startup out of the garbage collector's full "
        "passes (cuts GC pauses that dominate the tail latency); off in tests",
    )

    def upstream_url(self, name: str, default: str) -> str:
        return self.upstream_urls.get(name, default).rstrip("/")


@lru_cache
def get_settings() -> GatewaySettings:
    return GatewaySettings()
