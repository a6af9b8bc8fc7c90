"""Settings of the auth service (env prefix `AUTH_`; shared values also read unprefixed)."""

from __future__ import annotations

import json
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, ClassVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict
from scifikpi_common.settings import ServiceSettings

#: Development signing key, committed on purpose so `make run` works with no setup. The base
#: settings refuse it outside `local`/`test` (it is the field's SecretStr default).
DEV_JWT_PRIVATE_KEY = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIDcCdU/i+/yOgo7P7z7kAQ10w1g335qidfzQOoetsYfm
-----END PRIVATE KEY-----
"""

_PEM_END = "-----END PUBLIC KEY-----"


def _split_pems(value: object) -> list[str]:
    """A JSON list of PEMs, or PEM blocks simply concatenated (easier to put in a Secret)."""
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() + "\n" for v in value if str(v).strip()]
    text = str(value).strip()
    if text.startswith("["):
        return _split_pems(json.loads(text))
    blocks = [b.strip() for b in text.split(_PEM_END) if b.strip()]
    return [f"{b}\n{_PEM_END}\n" for b in blocks]


class AuthSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore", env_ignore_empty=True)

    service_name: ClassVar[str] = "auth"
    db_schema: ClassVar[str] = "auth"

    http_port: int = 8001
    metrics_port: int | None = 9101

    # --- access tokens (EdDSA JWT) ---
    jwt_private_key: SecretStr = Field(
        default=SecretStr(DEV_JWT_PRIVATE_KEY),
        description="Ed25519 private key (PKCS#8 PEM) that signs access tokens.",
    )
    jwt_previous_public_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Public keys (PEM) of retired signing keys, still published in the JWKS "
        "until every token they signed has expired. A JSON list or concatenated PEM blocks.",
    )
    access_token_ttl_s: int = Field(default=15 * 60, ge=60, le=24 * 3600)
    jwks_max_age_s: int = Field(default=300, ge=0, description="Cache-Control max-age of the JWKS.")

    # --- refresh tokens ---
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, ge=3600)

    # --- password hashing: argon2id, OWASP minimum (m=19 MiB, t=2, p=1) ---
    argon2_memory_kib: int = Field(default=19456, ge=8)
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_parallelism: int = Field(default=1, ge=1)
    argon2_max_concurrency: int = Field(
        default=4, ge=1, description="Hashes computed at once per process (bounds memory and CPU)."
    )

    # --- login rate limiting (failed attempts in a fixed window, counted in Postgres) ---
    login_window_s: int = Field(default=15 * 60, ge=1)
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=50, ge=1)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="Peers (IPs or CIDRs) whose X-Forwarded-For is believed, e.g. the gateway.",
    )

    @field_validator("jwt_previous_public_keys", mode="before")
    @classmethod
    def _parse_pems(cls, value: object) -> list[str]:
        return _split_pems(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_networks(cls, value: object) -> list[str]:
        if isinstance(value, str):
            text = value.strip()
            value = (
                json.loads(text)
                if text.startswith("[")
                else [v for v in text.split(",") if v.strip()]
            )
        if not isinstance(value, list | tuple | set | frozenset):
            raise ValueError("expected IPs or CIDRs: a JSON list or comma-separated")
        return [str(ip_network(str(v).strip(), strict=False)) for v in value]

    @property
    def trusted_proxy_networks(self) -> list[IPv4Network | IPv6Network]:
        return [ip_network(n) for n in self.trusted_proxies]


@lru_cache
def get_settings() -> AuthSettings:
    return AuthSettings()
