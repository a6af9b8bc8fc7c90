"""docker-compose.yml's environments for auth, the gateway, mining, ledger and analytics, parsed by the
services' own settings classes after compose's `${VAR:-default}` interpolation (host overrides
included): what each process reads is what compose meant.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from _compose_helpers import (
    ANALYTICS_PROCESSES,
    APP_SERVICES,
    LEDGER_PROCESSES,
    MINING_PROCESSES,
    env_of,
)
from _deploy_helpers import (
    COMPOSE_FILE,
    METRICS_PORTS,
    MINING_POWER_VARS,
    settings_class,
    settings_from_env,
)

# --- auth and the gateway -------------------------------------------------------------------------


def test_auth_environment_parses_into_its_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from auth.settings import AuthSettings

    services = compose["services"]
    api = settings_from_env(monkeypatch, env_of(services["auth-api"]), AuthSettings)
    assert (api.http_host, api.http_port) == ("0.0.0.0", 8001)  # noqa: S104
    assert api.database_url.startswith("postgresql+asyncpg://auth:")
    assert api.database_url.split("@", 1)[1].startswith("postgres:5432/")
    assert api.kafka_bootstrap_servers == "kafka:9092"
    assert api.redis_url == "redis://redis:6379/0"
    assert str(api.environment) == "local"
    assert api.jwks_url == "http://auth-api:8001/.well-known/jwks.json"
    assert "172.16.0.0/12" in api.trusted_proxies
    ports = {}
    for name in ("auth-worker", "auth-relay"):
        settings = settings_from_env(monkeypatch, env_of(services[name]), AuthSettings)
        ports[name] = settings.metrics_port
        # The healthcheck probes the port the process actually serves its metrics on.
        assert f"127.0.0.1:{settings.metrics_port}/metrics" in " ".join(
            services[name]["healthcheck"]["test"]
        )
    assert ports == {k: v for k, v in METRICS_PORTS.items() if k.startswith("auth-")}
    assert "127.0.0.1:8001/readyz" in " ".join(services["auth-api"]["healthcheck"]["test"])


def test_gateway_environment_parses_into_its_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.settings import GatewaySettings

    gateway = compose["services"]["gateway"]
    settings = settings_from_env(monkeypatch, env_of(gateway), GatewaySettings)
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", 8000)  # noqa: S104
    assert settings.upstream_url("auth", "http://127.0.0.1:8001") == "http://auth-api:8001"
    assert settings.upstream_url("payments", "http://127.0.0.1:8002") == "http://payments-api:8002"
    assert settings.upstream_url("mining", "http://127.0.0.1:8003") == "http://mining-api:8003"
    assert settings.upstream_url("ledger", "http://127.0.0.1:8004") == "http://ledger-api:8004"
    assert settings.upstream_url("nft", "http://127.0.0.1:8005") == "http://nft-api:8005"
    assert (
        settings.upstream_url("analytics", "http://127.0.0.1:8006") == "http://analytics-api:8006"
    )
    assert settings.jwks_url == "http://auth-api:8001/.well-known/jwks.json"
    assert settings.redis_url == "redis://redis:6379/0"
    assert "127.0.0.1:8000/readyz" in " ".join(gateway["healthcheck"]["test"])
    # The upstreams the gateway dials are the APIs' compose names and ports, one per upstream of
    # its route table.
    from gateway.routes import UPSTREAMS

    assert set(settings.upstream_urls) == {u.name for u in UPSTREAMS}
    for name in settings.upstream_urls:
        port = env_of(compose["services"][f"{name}-api"])[f"{name.upper()}_HTTP_PORT"]
        assert settings.upstream_urls[name] == f"http://{name}-api:{port}"


def test_analytics_environment_parses_into_its_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """analytics: its own role and schema, an API and a worker (it publishes nothing: no relay)."""
    cls = settings_class("analytics")
    services = compose["services"]
    assert {n for n in services if n.startswith("analytics-")} == ANALYTICS_PROCESSES | {
        "analytics-migrate"
    }
    api = settings_from_env(monkeypatch, env_of(services["analytics-api"]), cls)
    assert (api.http_host, api.http_port) == ("0.0.0.0", 8006)  # noqa: S104
    assert api.database_url.startswith("postgresql+asyncpg://analytics:analytics@postgres:5432/")
    worker = settings_from_env(monkeypatch, env_of(services["analytics-worker"]), cls)
    assert worker.metrics_port == METRICS_PORTS["analytics-worker"] == 9106
    assert "127.0.0.1:9106/metrics" in " ".join(services["analytics-worker"]["healthcheck"]["test"])
    assert "127.0.0.1:8006/readyz" in " ".join(services["analytics-api"]["healthcheck"]["test"])


# --- mining and ledger -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("svc", "port", "processes"),
    [("mining", 8003, MINING_PROCESSES), ("ledger", 8004, LEDGER_PROCESSES)],
)
def test_mining_and_ledger_environments_parse_into_their_settings(
    compose: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    svc: str,
    port: int,
    processes: set[str],
) -> None:
    cls = settings_class(svc)
    services = compose["services"]
    api = settings_from_env(monkeypatch, env_of(services[f"{svc}-api"]), cls)
    assert (api.http_host, api.http_port) == ("0.0.0.0", port)  # noqa: S104
    assert api.http_port == cls.model_fields["http_port"].default
    assert api.database_url == f"postgresql+asyncpg://{svc}:{svc}@postgres:5432/scifikpi"
    assert api.kafka_bootstrap_servers == "kafka:9092"
    assert str(api.environment) == "local"
    assert api.jwks_url == "http://auth-api:8001/.well-known/jwks.json"
    assert f"127.0.0.1:{port}/readyz" in " ".join(services[f"{svc}-api"]["healthcheck"]["test"])
    for name in processes - {f"{svc}-api"}:
        settings = settings_from_env(monkeypatch, env_of(services[name]), cls)
        assert settings.metrics_port == METRICS_PORTS[name], name
        assert settings.database_url == api.database_url, name
        assert f"127.0.0.1:{settings.metrics_port}/metrics" in " ".join(
            services[name]["healthcheck"]["test"]
        )
    migrate = settings_from_env(monkeypatch, env_of(services[f"{svc}-migrate"]), cls)
    assert migrate.database_url == api.database_url
    # The schedulers work on Postgres only (like payments-scheduler): no wait for Kafka topics.
    scheduler = services[f"{svc}-scheduler"]["depends_on"]
    assert scheduler[f"{svc}-migrate"]["condition"] == "service_completed_successfully"
    assert scheduler["postgres"]["condition"] == "service_healthy"


def test_mining_and_ledger_read_the_same_mining_power(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MINING_R_* come from one shared fragment merged into both environments: the same values in
    every ledger and mining process, by default and when the host overrides them; nobody else
    gets them."""
    from scifikpi_common.events.mining import MiningPowerSettings

    services = compose["services"]
    processes = {n for n in services if n.startswith(("mining-", "ledger-"))}
    assert processes == MINING_PROCESSES | LEDGER_PROCESSES | {"mining-migrate", "ledger-migrate"}
    fields = {v.lower() for v in MINING_POWER_VARS}
    assert fields <= set(MiningPowerSettings.model_fields)
    defaults = {
        v: str(MiningPowerSettings.model_fields[v.lower()].default) for v in MINING_POWER_VARS
    }
    override = {"MINING_R_BASE_MICRO_PER_HOUR": "2000000", "MINING_R_MAX_MICRO_PER_HOUR": "5000000"}
    for host_env, expected in ((None, defaults), (override, {**defaults, **override})):
        for name in processes:
            env = env_of(services[name], host_env)
            assert {v: env[v] for v in MINING_POWER_VARS} == expected, name
    text = COMPOSE_FILE.read_text()
    for var in MINING_POWER_VARS:
        keys = re.findall(rf"^\s*{var}:", text, flags=re.MULTILINE)
        assert len(keys) == 1, f"{var} must be set in one place only"
    for name in APP_SERVICES - processes:
        assert not set(MINING_POWER_VARS) & set(env_of(services[name])), name
    # ...and the services parse them (both classes share the mixin).
    for svc in ("mining", "ledger"):
        env = env_of(services[f"{svc}-api"], override)
        settings = settings_from_env(monkeypatch, env, settings_class(svc))
        assert settings.mining_r_base_micro_per_hour == 2_000_000
        assert settings.mining_r_max_micro_per_hour == 5_000_000


def test_mining_session_duration_can_be_shortened_from_the_host(compose: dict[str, Any]) -> None:
    from mining.settings import MiningSettings

    api = compose["services"]["mining-api"]
    default = MiningSettings.model_fields["session_duration_s"].default
    assert env_of(api)["MINING_SESSION_DURATION_S"] == str(default)
    assert env_of(api, {"MINING_SESSION_DURATION_S": "60"})["MINING_SESSION_DURATION_S"] == "60"
