"""docker-compose.yml: valid against the Compose Specification, and wired the way DESIGN §3 says.

No Docker engine here, so the file is checked, not run: the bundled compose-spec JSON schema
(check-jsonschema), then the start order, health checks, KRaft, topics, commands and the
environment the services' own settings classes parse.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from _deploy_helpers import COMPOSE_FILE, REPO, console_scripts

ONE_SHOTS = {"kafka-init", "auth-migrate"}
APP_SERVICES = {"auth-api", "auth-worker", "auth-relay", "gateway"}
HEALTHY_CONDITIONS = {"service_healthy", "service_completed_successfully"}


def check_compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


# --- the schema -------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_spec() -> None:
    result = check_compose_schema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stdout


def test_schema_check_rejects_a_broken_compose_file(
    tmp_path: Path, compose: dict[str, Any]
) -> None:
    """The validator bites: an unknown key and a made-up depends_on condition fail it."""
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    broken["services"]["gateway"]["depends_on"]["auth-api"]["condition"] = "service_ready"
    broken["services"]["gateway"]["helthcheck"] = broken["services"]["gateway"].pop("healthcheck")
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    result = check_compose_schema(path)
    assert result.returncode != 0
    assert "helthcheck" in result.stdout + result.stderr


# --- start order and health -------------------------------------------------------------------


def test_every_service_is_health_checked_or_gated(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        depends = svc.get("depends_on", {})
        assert isinstance(depends, dict), (
            f"{name}: depends_on must use the long form with conditions"
        )
        for dep, spec in depends.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert spec.get("condition") in HEALTHY_CONDITIONS, f"{name} -> {dep}: {spec}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], (
                    f"{name} waits for {dep} to be healthy, which has no healthcheck"
                )
            else:
                assert dep in ONE_SHOTS, (
                    f"{name} waits for {dep} to complete, but {dep} is not a one-shot"
                )
        if name in ONE_SHOTS:
            assert svc.get("restart") == "no", f"one-shot {name} must not restart"
            assert depends, f"one-shot {name} must wait for what it prepares"
        else:
            assert svc.get("healthcheck", {}).get("test") or depends, (
                f"{name}: no healthcheck and no gate"
            )
    # Only Alloy (no shell tools in its image) relies on a gate alone.
    unchecked = {n for n, s in services.items() if "healthcheck" not in s and n not in ONE_SHOTS}
    assert unchecked == {"alloy"}


def test_migrations_run_once_before_the_auth_processes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    migrate = services["auth-migrate"]
    assert migrate["command"] == ["alembic", "-c", "services/auth/alembic.ini", "upgrade", "head"]
    assert (REPO / "services/auth/alembic.ini").is_file()
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" not in migrate
    for name in ("auth-api", "auth-worker", "auth-relay"):
        assert (
            services[name]["depends_on"]["auth-migrate"]["condition"]
            == "service_completed_successfully"
        )
    for name in ("auth-worker", "auth-relay"):
        assert (
            services[name]["depends_on"]["kafka-init"]["condition"]
            == "service_completed_successfully"
        )
    assert services["gateway"]["depends_on"]["auth-api"]["condition"] == "service_healthy"


def test_kafka_is_a_single_kraft_node(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert not any("zookeeper" in name for name in services)
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = env_of(kafka)
    assert not any("ZOOKEEPER" in key for key in env)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node_id = env["KAFKA_NODE_ID"]
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert re.fullmatch(rf"{node_id}@kafka:\d+", voters), voters
    controller_port = voters.rsplit(":", 1)[1]
    assert f"{controller}://:{controller_port}" in env["KAFKA_LISTENERS"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"])  # base64url of a UUID
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    # What the services dial is what the broker advertises.
    internal = {a.split("://", 1)[1] for a in env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    for name in ("auth-api", "auth-worker", "auth-relay"):
        assert env_of(services[name])["KAFKA_BOOTSTRAP_SERVERS"] in internal
    assert "kafka-broker-api-versions.sh" in " ".join(kafka["healthcheck"]["test"])


def test_kafka_init_creates_every_event_topic_and_its_dlq(compose: dict[str, Any]) -> None:
    from scifikpi_common.events import ALL_EVENTS

    script = "\n".join(compose["services"]["kafka-init"]["command"])
    match = re.search(r"for topic in ([^;]+);", script)
    assert match, script
    created = set(match.group(1).split())
    topics = {cls.TOPIC for cls in ALL_EVENTS.values()}
    assert topics, "no event topics declared in scifikpi_common.events"
    assert created >= topics | {f"{t}.dlq" for t in topics}
    assert "--if-not-exists" in script
    assert env_of(compose["services"]["kafka"])["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_postgres_init_creates_a_role_and_schema_per_database_service(
    compose: dict[str, Any],
) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:15")
    mounts = [v for v in postgres["volumes"] if "docker-entrypoint-initdb.d" in v]
    assert len(mounts) == 1
    init_sql = (REPO / mounts[0].split(":", 1)[0]).read_text()
    url = env_of(compose["services"]["auth-migrate"])["DATABASE_URL"]
    role, password = re.match(r"postgresql\+asyncpg://([^:]+):([^@]+)@postgres:5432/", url).groups()
    assert f"CREATE ROLE {role} LOGIN PASSWORD '{password}'" in init_sql
    assert f"CREATE SCHEMA auth AUTHORIZATION {role}" in init_sql
    # Alembic's env runs CREATE SCHEMA IF NOT EXISTS, which needs CREATE on the database.
    assert f"GRANT CONNECT, CREATE ON DATABASE %I TO {role}" in init_sql
    assert url.endswith("/" + env_of(postgres)["POSTGRES_DB"])


# --- images, commands and settings ------------------------------------------------------------


def test_commands_are_the_services_console_scripts(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("auth-api", "auth-worker", "auth-relay"):
        assert services[name]["build"]["dockerfile"] == "services/auth/Dockerfile"
        assert services[name]["command"][0] in console_scripts("auth"), name
        assert services[name]["command"] == [name]
    assert services["gateway"]["build"]["dockerfile"] == "services/gateway/Dockerfile"
    assert services["gateway"]["command"] == ["gateway-api"]
    assert "gateway-api" in console_scripts("gateway")
    for name in APP_SERVICES | {"auth-migrate"}:
        svc = services[name]
        assert svc.get("read_only") is True and svc.get("cap_drop") == ["ALL"], name
        assert (REPO / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()


def test_bind_mounts_exist(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name}: {source} is missing"


def test_only_the_gateway_and_tools_are_published_on_localhost(compose: dict[str, Any]) -> None:
    published = {}
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
            published[name] = port
    assert published["gateway"] == "127.0.0.1:8000:8000"
    assert not {"auth-api", "auth-worker", "auth-relay"} & set(published)


def test_observability_stack_is_an_opt_in_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("prometheus", "alertmanager", "loki", "alloy", "grafana"):
        assert services[name]["profiles"] == ["observability"], name
    for name in APP_SERVICES | ONE_SHOTS | {"postgres", "kafka", "redis"}:
        assert "profiles" not in services[name], f"{name} must start without a profile"


def _settings_from(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], cls: type) -> Any:
    for key in list(__import__("os").environ):
        if key.startswith(("AUTH_", "GATEWAY_")) or key in {
            "DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "JWKS_URL", "ENVIRONMENT",
            "FX_RATES",
        }:  # fmt: skip
            monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return cls()


def test_auth_environment_parses_into_its_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from auth.settings import AuthSettings

    services = compose["services"]
    api = _settings_from(monkeypatch, env_of(services["auth-api"]), AuthSettings)
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
        settings = _settings_from(monkeypatch, env_of(services[name]), AuthSettings)
        ports[name] = settings.metrics_port
        # The healthcheck probes the port the process actually serves its metrics on.
        assert f"127.0.0.1:{settings.metrics_port}/metrics" in " ".join(
            services[name]["healthcheck"]["test"]
        )
    assert ports == {"auth-worker": 9101, "auth-relay": 9111}
    assert "127.0.0.1:8001/readyz" in " ".join(services["auth-api"]["healthcheck"]["test"])


def test_gateway_environment_parses_into_its_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.settings import GatewaySettings

    gateway = compose["services"]["gateway"]
    settings = _settings_from(monkeypatch, env_of(gateway), GatewaySettings)
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", 8000)  # noqa: S104
    assert settings.upstream_url("auth", "http://127.0.0.1:8001") == "http://auth-api:8001"
    assert settings.jwks_url == "http://auth-api:8001/.well-known/jwks.json"
    assert settings.redis_url == "redis://redis:6379/0"
    assert "127.0.0.1:8000/readyz" in " ".join(gateway["healthcheck"]["test"])
    # The upstream the gateway dials is the auth API's compose name and port.
    auth_port = env_of(compose["services"]["auth-api"])["AUTH_HTTP_PORT"]
    assert settings.upstream_urls["auth"] == f"http://auth-api:{auth_port}"
