"""deploy/helm/scifikpi: the rendered environment parses into each service's settings.

The ConfigMaps, Secrets (as production would hold them) and the composed DATABASE_URL, put
together the way Kubernetes gives them to each container, build every service's settings class in
production mode (which refuses placeholder secrets): ports match the Services, the gateway's
upstreams are the API Services, ledger and mining agree on mining power, only nft-scheduler holds
the custody key.
"""

from __future__ import annotations

from typing import Any

import pytest
from _deploy_helpers import METRICS_PORTS, settings_class, settings_from_env
from _helm_helpers import (
    PRODUCTION_NFT_SECRETS,
    PRODUCTION_PAYMENTS_SECRETS,
    by_kind,
    container_env,
    pod_templates,
)


def test_rendered_environment_parses_into_the_services_settings(
    production_docs: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ConfigMap + Secrets + DATABASE_URL, as the pods get them, satisfy the settings classes in
    production mode (which refuses placeholder secrets)."""
    from auth.settings import AuthSettings
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from gateway.settings import GatewaySettings

    key = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    secrets = {
        "scifikpi-auth-secrets": {"AUTH_JWT_PRIVATE_KEY": key},
        "scifikpi-auth-db": {"username": "auth", "password": "Pw0rd"},
        "scifikpi-payments-secrets": PRODUCTION_PAYMENTS_SECRETS,
        "scifikpi-payments-db": {"username": "payments", "password": "Pw1rd"},
        "scifikpi-mining-db": {"username": "mining", "password": "Pw3rd"},
        "scifikpi-ledger-db": {"username": "ledger", "password": "Pw4rd"},
        "scifikpi-nft-db": {"username": "nft", "password": "Pw5rd"},
        "scifikpi-nft-secrets": PRODUCTION_NFT_SECRETS,
        "scifikpi-analytics-db": {"username": "analytics", "password": "Pw6rd"},
    }
    configmaps = by_kind(production_docs, "ConfigMap")
    templates = pod_templates(production_docs)
    services = by_kind(production_docs, "Service")

    api_env = container_env(templates["Deployment/scifikpi-auth-api"], configmaps, secrets)
    auth = settings_from_env(monkeypatch, api_env, AuthSettings)
    assert str(auth.environment) == "production"
    assert auth.database_url == "postgresql+asyncpg://auth:Pw0rd@scifikpi-pg-rw:5432/scifikpi"
    assert (auth.http_host, auth.http_port) == ("0.0.0.0", 8001)  # noqa: S104
    assert auth.kafka_bootstrap_servers == "scifikpi-kafka-bootstrap.kafka.svc:9093"
    assert auth.redis_url and auth.otlp_endpoint
    assert auth.trusted_proxies == ["10.244.0.0/16"]
    assert services["scifikpi-auth-api"]["spec"]["ports"][0]["port"] == auth.http_port

    for component, port in (("worker", 9101), ("relay", 9111)):
        env = container_env(templates[f"Deployment/scifikpi-auth-{component}"], configmaps, secrets)
        assert settings_from_env(monkeypatch, env, AuthSettings).metrics_port == port

    migrate_env = container_env(templates["Job/scifikpi-auth-migrate"], configmaps, secrets)
    assert (
        settings_from_env(monkeypatch, migrate_env, AuthSettings).database_url == auth.database_url
    )

    _check_payments_environment(templates, configmaps, secrets, services, monkeypatch)
    power = {
        svc: _check_mining_ledger_environment(
            svc, port, templates, configmaps, secrets, services, monkeypatch
        )
        for svc, port in (("mining", 8003), ("ledger", 8004))
    }
    assert power["mining"] == power["ledger"], "ledger and mining must agree on mining power"
    _check_nft_environment(templates, configmaps, secrets, services, monkeypatch)
    _check_analytics_environment(templates, configmaps, secrets, services, monkeypatch)

    gw_env = container_env(templates["Deployment/scifikpi-gateway-api"], configmaps, secrets)
    gateway = settings_from_env(monkeypatch, gw_env, GatewaySettings)
    assert gateway.upstream_urls == {
        "auth": "http://scifikpi-auth-api:8001",
        "payments": "http://scifikpi-payments-api:8002",
        "mining": "http://scifikpi-mining-api:8003",
        "ledger": "http://scifikpi-ledger-api:8004",
        "nft": "http://scifikpi-nft-api:8005",
        "analytics": "http://scifikpi-analytics-api:8006",
    }
    from gateway.routes import UPSTREAMS

    assert set(gateway.upstream_urls) == {u.name for u in UPSTREAMS}
    assert gateway.jwks_url == "http://scifikpi-auth-api:8001/.well-known/jwks.json"
    assert gateway.cors_allow_origins == ["https://app.scifikpi.com"]
    assert "KAFKA_BOOTSTRAP_SERVERS" not in gw_env, "the gateway does not talk to Kafka"


def _check_analytics_environment(
    templates: dict[str, Any],
    configmaps: dict[str, Any],
    secrets: dict[str, dict[str, str]],
    services: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """analytics: its own role, an API and a worker (no relay, no scheduler), no Secret."""
    from analytics.settings import AnalyticsSettings

    assert not {n for n in templates if "analytics-relay" in n or "analytics-scheduler" in n}
    api_env = container_env(templates["Deployment/scifikpi-analytics-api"], configmaps, secrets)
    api = settings_from_env(monkeypatch, api_env, AnalyticsSettings)
    assert str(api.environment) == "production"
    assert api.database_url == ("postgresql+asyncpg://analytics:Pw6rd@scifikpi-pg-rw:5432/scifikpi")
    assert (api.http_host, api.http_port) == ("0.0.0.0", 8006)  # noqa: S104
    assert services["scifikpi-analytics-api"]["spec"]["ports"][0]["port"] == api.http_port
    assert api.max_buckets == AnalyticsSettings.model_fields["max_buckets"].default
    env = container_env(templates["Deployment/scifikpi-analytics-worker"], configmaps, secrets)
    worker = settings_from_env(monkeypatch, env, AnalyticsSettings)
    assert worker.metrics_port == 9106 and worker.database_url == api.database_url
    assert worker.kafka_bootstrap_servers == "scifikpi-kafka-bootstrap.kafka.svc:9093"


def _check_payments_environment(
    templates: dict[str, Any],
    configmaps: dict[str, Any],
    secrets: dict[str, dict[str, str]],
    services: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from payments.settings import YOOKASSA_PUBLISHED_NETWORKS, PaymentsSettings
    from payments.webhooks import ip_allowed
    from scifikpi_common.network import client_ip

    api_env = container_env(templates["Deployment/scifikpi-payments-api"], configmaps, secrets)
    # Production mode: no placeholder secret passes.
    api = settings_from_env(monkeypatch, api_env, PaymentsSettings)
    assert str(api.environment) == "production"
    assert api.database_url == ("postgresql+asyncpg://payments:Pw1rd@scifikpi-pg-rw:5432/scifikpi")
    assert (api.http_host, api.http_port) == ("0.0.0.0", 8002)  # noqa: S104
    assert services["scifikpi-payments-api"]["spec"]["ports"][0]["port"] == api.http_port
    assert api.stripe_api_base == "https://api.stripe.com"
    assert api.yookassa_api_base == "https://api.yookassa.ru/v3"
    assert api.stripe_api_key.get_secret_value() == "sk_live_51Example"
    assert api.stripe_webhook_secrets == ["whsec_live_example"]
    assert api.yookassa_secret_key.get_secret_value() == "live_example"
    assert api.yookassa_shop_id == "512345", "production values name the shop"
    assert api.yookassa_return_url == "https://app.scifikpi.com/payments/return"
    assert api.kafka_bootstrap_servers == "scifikpi-kafka-bootstrap.kafka.svc:9093"
    # The allowlist in the chart is YooKassa's published list, as the settings know it.
    assert set(api.yookassa_ip_allowlist) == set(YOOKASSA_PUBLISHED_NETWORKS)
    # A notification from YooKassa through the ingress controller and the gateway: payments
    # believes the gateway pod's X-Forwarded-For and judges YooKassa's address.
    assert api.trusted_proxies == ["10.244.0.0/16"]
    source = client_ip("10.244.3.17", "185.71.76.5", api.trusted_proxy_networks)
    assert source == "185.71.76.5" and ip_allowed(source, api.yookassa_networks)
    assert not ip_allowed(client_ip("10.244.3.17", "203.0.113.9", api.trusted_proxy_networks),
                          api.yookassa_networks)  # fmt: skip
    for component in ("worker", "relay", "scheduler"):
        env = container_env(
            templates[f"Deployment/scifikpi-payments-{component}"], configmaps, secrets
        )
        settings = settings_from_env(monkeypatch, env, PaymentsSettings)
        assert settings.metrics_port == METRICS_PORTS[f"payments-{component}"]
        assert settings.database_url == api.database_url
    migrate_env = container_env(templates["Job/scifikpi-payments-migrate"], configmaps, secrets)
    assert (
        settings_from_env(monkeypatch, migrate_env, PaymentsSettings).database_url
        == api.database_url
    )


def _check_mining_ledger_environment(
    service: str,
    port: int,
    templates: dict[str, Any],
    configmaps: dict[str, Any],
    secrets: dict[str, dict[str, str]],
    services: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[int, int, int]:
    """Every process of mining/ledger parses its environment in production mode; returns the
    mining power constants it read."""
    cls = settings_class(service)
    api_env = container_env(templates[f"Deployment/scifikpi-{service}-api"], configmaps, secrets)
    api = settings_from_env(monkeypatch, api_env, cls)
    assert str(api.environment) == "production"
    assert api.database_url == (
        f"postgresql+asyncpg://{service}:{secrets[f'scifikpi-{service}-db']['password']}"
        "@scifikpi-pg-rw:5432/scifikpi"
    )
    assert (api.http_host, api.http_port) == ("0.0.0.0", port)  # noqa: S104
    assert services[f"scifikpi-{service}-api"]["spec"]["ports"][0]["port"] == api.http_port
    assert api.kafka_bootstrap_servers == "scifikpi-kafka-bootstrap.kafka.svc:9093"
    assert api.jwks_url == "http://scifikpi-auth-api:8001/.well-known/jwks.json"
    power = (
        api.mining_r_base_micro_per_hour,
        api.mining_r_per_usd_micro_per_hour,
        api.mining_r_max_micro_per_hour,
    )
    for component in ("worker", "relay", "scheduler"):
        env = container_env(
            templates[f"Deployment/scifikpi-{service}-{component}"], configmaps, secrets
        )
        settings = settings_from_env(monkeypatch, env, cls)
        assert settings.metrics_port == METRICS_PORTS[f"{service}-{component}"]
        assert settings.database_url == api.database_url
        assert (
            settings.mining_r_base_micro_per_hour,
            settings.mining_r_per_usd_micro_per_hour,
            settings.mining_r_max_micro_per_hour,
        ) == power
    migrate_env = container_env(templates[f"Job/scifikpi-{service}-migrate"], configmaps, secrets)
    assert settings_from_env(monkeypatch, migrate_env, cls).database_url == api.database_url
    return power


def _check_nft_environment(
    templates: dict[str, Any],
    configmaps: dict[str, Any],
    secrets: dict[str, dict[str, str]],
    services: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every process of nft parses its environment in production mode; the metadata URLs are
    under the gateway's public host."""
    from nft.settings import NftSettings

    api_env = container_env(templates["Deployment/scifikpi-nft-api"], configmaps, secrets)
    api = settings_from_env(monkeypatch, api_env, NftSettings)
    assert str(api.environment) == "production"
    assert api.database_url == "postgresql+asyncpg://nft:Pw5rd@scifikpi-pg-rw:5432/scifikpi"
    assert (api.http_host, api.http_port) == ("0.0.0.0", 8005)  # noqa: S104
    assert services["scifikpi-nft-api"]["spec"]["ports"][0]["port"] == api.http_port
    assert api.kafka_bootstrap_servers == "scifikpi-kafka-bootstrap.kafka.svc:9093"
    assert api.jwks_url == "http://scifikpi-auth-api:8001/.well-known/jwks.json"
    # Production values: the ingress host of the gateway, with /api/v1.
    assert api.public_base_url == "https://api.scifikpi.com/api/v1"
    assert api.collection_metadata_url() == (
        "https://api.scifikpi.com/api/v1/nft/metadata/collection.json"
    )
    # Production values: mainnet, the custody key from the nft Secret in nft-scheduler only (the
    # one process that signs), the liteserver config only where the chain is reached.
    from nft.settings import TonNetwork

    key = PRODUCTION_NFT_SECRETS["NFT_CUSTODY_PRIVATE_KEY"]
    assert api.ton_network is TonNetwork.mainnet
    assert api.custody_private_key is None  # the API never sees the hot wallet's key
    assert api.ton_liteserver_config is None
    for component in ("worker", "relay", "scheduler"):
        env = container_env(templates[f"Deployment/scifikpi-nft-{component}"], configmaps, secrets)
        settings = settings_from_env(monkeypatch, env, NftSettings)
        assert settings.metrics_port == METRICS_PORTS[f"nft-{component}"]
        assert settings.database_url == api.database_url
        assert settings.public_base_url == api.public_base_url
        assert settings.ton_network is TonNetwork.mainnet
        if component == "scheduler":
            assert settings.custody_private_key.get_secret_value() == key
            assert settings.custody_seed() == key
            assert str(settings.ton_liteserver_config) == "/etc/scifikpi/ton/global.config.json"
        else:
            assert settings.custody_private_key is None, component
            assert settings.ton_liteserver_config is None, component
    migrate_env = container_env(templates["Job/scifikpi-nft-migrate"], configmaps, secrets)
    assert settings_from_env(monkeypatch, migrate_env, NftSettings).database_url == api.database_url
    # Outside local/test, custody refuses to sign without its own key (never the dev one); the
    # chart makes it a secretKeyRef of the scheduler so Kubernetes holds that pod instead.
    with pytest.raises(ValueError, match="NFT_CUSTODY_PRIVATE_KEY"):
        api.custody_seed()
