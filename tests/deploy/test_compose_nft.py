"""docker-compose.yml's nft processes: their environment parsed by NftSettings, the emulated TON
chain by default (testnet from the host's .env), and the chain engine as one scheduler.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from _compose_helpers import (
    NFT_PROCESSES,
    env_of,
    init_sql_path,
)
from _deploy_helpers import (
    COMPOSE_FILE,
    METRICS_PORTS,
    MINING_POWER_VARS,
    settings_from_env,
)


def test_nft_environment_parses_into_its_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """api, worker, relay, scheduler and the migrations read the nft role's database, the
    compose network's Kafka and JWKS; the metadata base is the gateway as published."""
    from nft.settings import NftSettings

    services = compose["services"]
    assert {n for n in services if n.startswith("nft-")} == NFT_PROCESSES | {"nft-migrate"}
    api = settings_from_env(monkeypatch, env_of(services["nft-api"]), NftSettings)
    assert (api.http_host, api.http_port) == ("0.0.0.0", 8005)  # noqa: S104
    assert api.http_port == NftSettings.model_fields["http_port"].default
    assert api.database_url == "postgresql+asyncpg://nft:nft@postgres:5432/scifikpi"
    assert api.kafka_bootstrap_servers == "kafka:9092"
    assert str(api.environment) == "local"
    assert api.jwks_url == "http://auth-api:8001/.well-known/jwks.json"
    assert "127.0.0.1:8005/readyz" in " ".join(services["nft-api"]["healthcheck"]["test"])
    # TEP-64 metadata URLs: under the gateway's published /api/v1, overridable from the host.
    assert api.public_base_url == "http://localhost:8000/api/v1"
    assert (
        api.collection_metadata_url() == "http://localhost:8000/api/v1/nft/metadata/collection.json"
    )
    assert api.collection_name == NftSettings.model_fields["collection_name"].default
    assert api.collection_description == NftSettings.model_fields["collection_description"].default
    assert api.collection_image_url is None  # empty -> unset -> left out of collection.json
    host = {
        "NFT_PUBLIC_BASE_URL": "https://api.example/api/v1/",
        "NFT_COLLECTION_NAME": "Test",
        "NFT_COLLECTION_IMAGE_URL": "https://cdn.example/c.png",
    }
    overridden = settings_from_env(monkeypatch, env_of(services["nft-api"], host), NftSettings)
    assert overridden.public_base_url == "https://api.example/api/v1"
    assert overridden.collection_name == "Test"
    assert overridden.collection_image_url == "https://cdn.example/c.png"
    for name in NFT_PROCESSES - {"nft-api"}:
        settings = settings_from_env(monkeypatch, env_of(services[name]), NftSettings)
        assert settings.metrics_port == METRICS_PORTS[name], name
        assert settings.database_url == api.database_url, name
        assert f"127.0.0.1:{settings.metrics_port}/metrics" in " ".join(
            services[name]["healthcheck"]["test"]
        )
        deps = services[name]["depends_on"]
        assert deps["nft-migrate"]["condition"] == "service_completed_successfully", name
        if name == "nft-scheduler":
            # The chain engine works on Postgres (and the chain) only; it publishes through the
            # outbox, so it waits for no topic.
            assert deps["postgres"]["condition"] == "service_healthy"
            assert "kafka-init" not in deps
        else:
            assert deps["kafka-init"]["condition"] == "service_completed_successfully", name
    migrate = settings_from_env(monkeypatch, env_of(services["nft-migrate"]), NftSettings)
    assert migrate.database_url == api.database_url
    assert services["nft-migrate"]["command"] == [
        "alembic", "-c", "services/nft/alembic.ini", "upgrade", "head",
    ]  # fmt: skip
    # The gateway waits for nft-api like for the other upstreams; nft is not published.
    assert services["gateway"]["depends_on"]["nft-api"]["condition"] == "service_healthy"
    # nft's topics (it publishes nft.purchase.v1 and nft.transfer.v1) exist before its relay.
    words = set(re.split(r"[\s;\\]+", " ".join(map(str, services["kafka-init"]["command"]))))
    for topic in ("nft.purchase.v1", "nft.transfer.v1"):
        assert {topic, f"{topic}.dlq"} <= words, topic
    # MINING_R_* are ledger's and mining's only.
    assert not set(MINING_POWER_VARS) & set(env_of(services["nft-api"]))


# --- the TON chain --------------------------------------------------------------------------------


def test_nft_runs_on_the_local_ton_chain_by_default(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compose runs the emulated chain (schema `ton_local` of the nft database, pre-created for
    the nft role) with the development custody key; .env switches every nft process to testnet
    with a real key and, optionally, a mounted liteserver config."""
    from nft.settings import DEV_CUSTODY_PRIVATE_KEY, NftSettings, TonNetwork

    services = compose["services"]
    nft = sorted(n for n in services if n.startswith("nft-"))
    for name in nft:
        settings = settings_from_env(monkeypatch, env_of(services[name]), NftSettings)
        assert settings.ton_network is TonNetwork.local, name
        assert settings.ton_liteserver_config is None, name
        assert settings.custody_seed() == DEV_CUSTODY_PRIVATE_KEY, name
    # The nft processes create `ton_local` themselves; init.sql makes it theirs up front.
    init_sql = init_sql_path(compose).read_text()
    assert re.search(r"^CREATE SCHEMA ton_local AUTHORIZATION nft;$", init_sql, re.MULTILINE)
    from nft.ton import local

    assert local.SCHEMA == "ton_local"
    # Testnet from the host / .env: the same variables reach every nft process.
    key = "ab" * 32
    host = {
        "NFT_TON_NETWORK": "testnet",
        "NFT_CUSTODY_PRIVATE_KEY": key,
        "NFT_TON_LITESERVER_CONFIG": "/etc/scifikpi/ton/global.config.json",
    }
    for name in nft:
        env = {**env_of(services[name], host), "NFT_CUSTODY_PRIVATE_KEY": key}
        settings = settings_from_env(monkeypatch, env, NftSettings)
        assert settings.ton_network is TonNetwork.testnet, name
        assert str(settings.ton_liteserver_config) == "/etc/scifikpi/ton/global.config.json"
        assert settings.custody_seed() == key
    # The development key never signs outside local/test.
    staging = settings_from_env(
        monkeypatch, {**env_of(services["nft-scheduler"]), "ENVIRONMENT": "staging"}, NftSettings
    )
    with pytest.raises(ValueError, match="NFT_CUSTODY_PRIVATE_KEY"):
        staging.custody_seed()
    # No secret value is written into the compose file itself.
    assert DEV_CUSTODY_PRIVATE_KEY not in COMPOSE_FILE.read_text()


def test_nft_scheduler_is_one_chain_engine(compose: dict[str, Any]) -> None:
    """nft-scheduler: the nft image, the nft environment, metrics on 9125 (healthcheck), and a
    single service without replicas (one active engine; a second would only stand by)."""
    services = compose["services"]
    scheduler = services["nft-scheduler"]
    assert scheduler["command"] == ["nft-scheduler"]
    assert scheduler["image"] == services["nft-api"]["image"]
    assert env_of(scheduler)["NFT_METRICS_PORT"] == str(METRICS_PORTS["nft-scheduler"]) == "9125"
    assert "127.0.0.1:9125/metrics" in " ".join(scheduler["healthcheck"]["test"])
    assert "deploy" not in scheduler and "scale" not in scheduler
    assert scheduler.get("restart") == "unless-stopped"
    shared = {k: v for k, v in env_of(scheduler).items() if k != "NFT_METRICS_PORT"}
    assert shared == {
        k: v for k, v in env_of(services["nft-worker"]).items() if k != "NFT_METRICS_PORT"
    }
