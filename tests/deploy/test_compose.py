"""docker-compose.yml: valid against the Compose Specification, and wired the way DESIGN §3 says.

No Docker engine here, so the file is checked, not run: the bundled compose-spec JSON schema
(check-jsonschema), then the start order, health checks, KRaft, topics, commands and the
environment the services' own settings classes parse (after compose's `${VAR:-default}`
interpolation). The provider stand-ins' relay (deploy/compose/tools/expose.py) is run for real on
loopback, and the init SQL on the local Postgres when one answers.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from _deploy_helpers import (
    COMPOSE_FILE,
    DB_SERVICES,
    METRICS_PORTS,
    MINING_POWER_VARS,
    REPO,
    SETTINGS_PREFIXES,
    TOOLS_DIR,
    console_scripts,
    interpolate,
    settings_class,
)

ONE_SHOTS = {"kafka-init"} | {f"{svc}-migrate" for svc in DB_SERVICES}
PAYMENTS_PROCESSES = {"payments-api", "payments-worker", "payments-relay", "payments-scheduler"}
MINING_PROCESSES = {"mining-api", "mining-worker", "mining-relay", "mining-scheduler"}
LEDGER_PROCESSES = {"ledger-api", "ledger-worker", "ledger-relay", "ledger-scheduler"}
NFT_PROCESSES = {"nft-api", "nft-worker", "nft-relay", "nft-scheduler"}
APP_SERVICES = (
    {"auth-api", "auth-worker", "auth-relay", "gateway"}
    | PAYMENTS_PROCESSES
    | MINING_PROCESSES
    | LEDGER_PROCESSES
    | NFT_PROCESSES
)
STANDINS = {"localstripe", "yookassa"}
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


def env_of(service: dict[str, Any], host_env: dict[str, str] | None = None) -> dict[str, str]:
    """A service's environment as compose hands it over (interpolated from `host_env`)."""
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: interpolate(str(v), host_env) for k, v in env.items()}


def command_of(service: dict[str, Any], host_env: dict[str, str] | None = None) -> list[str]:
    return [interpolate(str(arg), host_env) for arg in service["command"]]


def flags(argv: list[str]) -> dict[str, str]:
    """`--name=value` arguments of a command line."""
    return dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)


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


@pytest.mark.parametrize("svc", DB_SERVICES)
def test_migrations_run_once_before_the_service_processes(
    compose: dict[str, Any], svc: str
) -> None:
    services = compose["services"]
    migrate = services[f"{svc}-migrate"]
    assert migrate["command"] == ["alembic", "-c", f"services/{svc}/alembic.ini", "upgrade", "head"]
    assert (REPO / f"services/{svc}/alembic.ini").is_file()
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" not in migrate
    processes = {n for n in services if n.startswith(f"{svc}-") and n != f"{svc}-migrate"}
    assert {f"{svc}-api", f"{svc}-worker", f"{svc}-relay"} <= processes
    for name in processes:
        assert (
            services[name]["depends_on"][f"{svc}-migrate"]["condition"]
            == "service_completed_successfully"
        ), name
    # Consumers and relays need their topics; the scheduler talks to Postgres only.
    for name in (f"{svc}-worker", f"{svc}-relay"):
        assert (
            services[name]["depends_on"]["kafka-init"]["condition"]
            == "service_completed_successfully"
        )
    assert services["gateway"]["depends_on"][f"{svc}-api"]["condition"] == "service_healthy"


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
    for name in sorted(APP_SERVICES - {"gateway"}):
        assert env_of(services[name])["KAFKA_BOOTSTRAP_SERVERS"] in internal, name
    assert "kafka-broker-api-versions.sh" in " ".join(kafka["healthcheck"]["test"])


def test_kafka_init_creates_every_event_topic_and_its_dlq(compose: dict[str, Any]) -> None:
    from scifikpi_common.events import ALL_EVENTS

    script = "\n".join(compose["services"]["kafka-init"]["command"])
    match = re.search(r"for topic in ([^;]+);", script)
    assert match, script
    created = set(match.group(1).replace("\\", " ").split())
    topics = {cls.TOPIC for cls in ALL_EVENTS.values()}
    assert topics, "no event topics declared in scifikpi_common.events"
    assert created >= topics | {f"{t}.dlq" for t in topics}
    assert "--if-not-exists" in script
    assert env_of(compose["services"]["kafka"])["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def init_sql_path(compose: dict[str, Any]) -> Path:
    postgres = compose["services"]["postgres"]
    mounts = [v for v in postgres["volumes"] if "docker-entrypoint-initdb.d" in v]
    assert len(mounts) == 1
    return REPO / mounts[0].split(":", 1)[0]


@pytest.mark.parametrize("svc", DB_SERVICES)
def test_postgres_init_creates_a_role_and_schema_per_database_service(
    compose: dict[str, Any], svc: str
) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:15")
    init_sql = init_sql_path(compose).read_text()
    schema = settings_class(svc).db_schema
    for name, service in compose["services"].items():
        if not name.startswith(f"{svc}-"):
            continue
        url = env_of(service)["DATABASE_URL"]
        match = re.match(r"postgresql\+asyncpg://([^:]+):([^@]+)@postgres:5432/", url)
        role, password = match.groups()
        assert f"CREATE ROLE {role} LOGIN PASSWORD '{password}'" in init_sql
        assert f"CREATE SCHEMA {schema} AUTHORIZATION {role}" in init_sql
        assert f"ALTER ROLE {role} SET search_path = {schema}" in init_sql
        # Alembic's env runs CREATE SCHEMA IF NOT EXISTS, which needs CREATE on the database.
        assert f"GRANT CONNECT, CREATE ON DATABASE %I TO {role}" in init_sql
        assert url.endswith("/" + env_of(postgres)["POSTGRES_DB"])


def _local_postgres() -> str | None:
    """A psql URL of a Postgres server whose user is a superuser (the test plugin's order:
    TEST_DATABASE_URL, DATABASE_URL, then the local server), or None."""
    if shutil.which("psql") is None:
        return None
    from scifikpi_tools.testing.plugin import LOCAL_SERVER

    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or LOCAL_SERVER
    url = re.sub(r"^postgres(ql)?\+\w+://", "postgresql://", url)
    probe = subprocess.run(  # noqa: S603 - psql from PATH, fixed arguments
        ["psql", url, "-Atc", "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"],
        capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    return url if probe.returncode == 0 and probe.stdout.strip() == "t" else None


def test_postgres_init_sql_runs_on_postgres(compose: dict[str, Any]) -> None:
    """The init script, as the entrypoint runs it (psql, ON_ERROR_STOP), in a scratch database
    and a transaction that is rolled back: roles and schemas exist with the right owners."""
    admin = _local_postgres()
    if admin is None:
        pytest.skip("no psql / local Postgres superuser")
    roles = list(DB_SERVICES)
    names = ", ".join(f"'{r}'" for r in roles)
    existing = subprocess.run(  # noqa: S603 - psql from PATH, fixed arguments
        ["psql", admin, "-Atc", f"SELECT rolname FROM pg_roles WHERE rolname IN ({names})"],
        capture_output=True, text=True, timeout=10, check=True,
    ).stdout.split()  # fmt: skip
    if existing:
        pytest.skip(f"roles {existing} already exist on this server")
    database = f"scifikpi_initsql_{os.getpid()}"
    subprocess.run(["psql", admin, "-c", f"CREATE DATABASE {database}"], check=True,  # noqa: S603
                   capture_output=True, timeout=30)  # fmt: skip
    try:
        script = (
            "BEGIN;\n"
            f"\\i {init_sql_path(compose)}\n"
            "SELECT n.nspname || '=' || pg_get_userbyid(n.nspowner) FROM pg_namespace n "
            f"WHERE n.nspname IN ({names}, 'ton_local');\n"
            "ROLLBACK;\n"
        )
        target = admin.rsplit("/", 1)[0] + "/" + database
        result = subprocess.run(  # noqa: S603 - psql from PATH, fixed arguments
            ["psql", target, "-v", "ON_ERROR_STOP=1", "-At", "-f", "-"],
            input=script, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        owners = {line for line in result.stdout.split() if "=" in line}
        # ...and nft's emulated TON chain (NFT_TON_NETWORK=local), which nft creates itself.
        assert owners == {f"{r}={r}" for r in roles} | {"ton_local=nft"}
    finally:
        subprocess.run(["psql", admin, "-c", f"DROP DATABASE IF EXISTS {database}"],  # noqa: S603
                       capture_output=True, timeout=30, check=False)  # fmt: skip


# --- images, commands and settings ------------------------------------------------------------


def test_commands_are_the_services_console_scripts(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for svc, names in (
        ("auth", ("auth-api", "auth-worker", "auth-relay")),
        ("payments", tuple(sorted(PAYMENTS_PROCESSES))),
        ("mining", tuple(sorted(MINING_PROCESSES))),
        ("ledger", tuple(sorted(LEDGER_PROCESSES))),
        ("nft", tuple(sorted(NFT_PROCESSES))),
    ):
        for name in names:
            assert services[name]["build"]["dockerfile"] == f"services/{svc}/Dockerfile"
            assert services[name]["command"][0] in console_scripts(svc), name
            assert services[name]["command"] == [name]
            assert services[name]["image"] == f"scifikpi/{svc}:local", name
    # Every console script that runs a long-lived process has its compose service (`*-admin`
    # commands are run by hand: `docker compose run --rm ledger-api ledger-admin check`).
    for svc, processes in (
        ("payments", PAYMENTS_PROCESSES),
        ("mining", MINING_PROCESSES),
        ("ledger", LEDGER_PROCESSES),
        ("nft", NFT_PROCESSES),
    ):
        assert {s for s in console_scripts(svc) if not s.endswith("-admin")} == processes, svc
    assert services["gateway"]["build"]["dockerfile"] == "services/gateway/Dockerfile"
    assert services["gateway"]["command"] == ["gateway-api"]
    assert "gateway-api" in console_scripts("gateway")
    for name in APP_SERVICES | STANDINS | (ONE_SHOTS - {"kafka-init"}):
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
    assert not (APP_SERVICES - {"gateway"}) & set(published)
    # The stand-ins on the ports `make run` uses (docs/payments-local.md, the `pay` helper).
    from scifikpi_tools.standins import LOCALSTRIPE_PORT, YOOKASSA_PORT

    assert published["localstripe"] == f"127.0.0.1:{LOCALSTRIPE_PORT}:{LOCALSTRIPE_PORT}"
    assert published["yookassa"] == f"127.0.0.1:{YOOKASSA_PORT}:{YOOKASSA_PORT}"


def test_observability_stack_is_an_opt_in_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("prometheus", "alertmanager", "loki", "alloy", "grafana"):
        assert services[name]["profiles"] == ["observability"], name
    for name in STANDINS:
        assert services[name]["profiles"] == ["standins"], name
    for name in APP_SERVICES | ONE_SHOTS | {"postgres", "kafka", "redis"}:
        assert "profiles" not in services[name], f"{name} must start without a profile"
        # ...and so never waits for a service of a profile that may be off.
        for dep, spec in services[name].get("depends_on", {}).items():
            if "profiles" in services[dep]:
                assert spec.get("required") is False, f"{name} -> {dep}"


def _settings_from(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], cls: type) -> Any:
    for key in list(os.environ):
        if key.startswith(SETTINGS_PREFIXES) or key in {
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
    assert ports == {k: v for k, v in METRICS_PORTS.items() if k.startswith("auth-")}
    assert "127.0.0.1:8001/readyz" in " ".join(services["auth-api"]["healthcheck"]["test"])


def test_gateway_environment_parses_into_its_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.settings import GatewaySettings

    gateway = compose["services"]["gateway"]
    settings = _settings_from(monkeypatch, env_of(gateway), GatewaySettings)
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", 8000)  # noqa: S104
    assert settings.upstream_url("auth", "http://127.0.0.1:8001") == "http://auth-api:8001"
    assert settings.upstream_url("payments", "http://127.0.0.1:8002") == "http://payments-api:8002"
    assert settings.upstream_url("mining", "http://127.0.0.1:8003") == "http://mining-api:8003"
    assert settings.upstream_url("ledger", "http://127.0.0.1:8004") == "http://ledger-api:8004"
    assert settings.upstream_url("nft", "http://127.0.0.1:8005") == "http://nft-api:8005"
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
    api = _settings_from(monkeypatch, env_of(services[f"{svc}-api"]), cls)
    assert (api.http_host, api.http_port) == ("0.0.0.0", port)  # noqa: S104
    assert api.http_port == cls.model_fields["http_port"].default
    assert api.database_url == f"postgresql+asyncpg://{svc}:{svc}@postgres:5432/scifikpi"
    assert api.kafka_bootstrap_servers == "kafka:9092"
    assert str(api.environment) == "local"
    assert api.jwks_url == "http://auth-api:8001/.well-known/jwks.json"
    assert f"127.0.0.1:{port}/readyz" in " ".join(services[f"{svc}-api"]["healthcheck"]["test"])
    for name in processes - {f"{svc}-api"}:
        settings = _settings_from(monkeypatch, env_of(services[name]), cls)
        assert settings.metrics_port == METRICS_PORTS[name], name
        assert settings.database_url == api.database_url, name
        assert f"127.0.0.1:{settings.metrics_port}/metrics" in " ".join(
            services[name]["healthcheck"]["test"]
        )
    migrate = _settings_from(monkeypatch, env_of(services[f"{svc}-migrate"]), cls)
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
    from scifikpi_common.mining_power import MiningPowerSettings

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
        settings = _settings_from(monkeypatch, env, settings_class(svc))
        assert settings.mining_r_base_micro_per_hour == 2_000_000
        assert settings.mining_r_max_micro_per_hour == 5_000_000


def test_mining_session_duration_can_be_shortened_from_the_host(compose: dict[str, Any]) -> None:
    from mining.settings import MiningSettings

    api = compose["services"]["mining-api"]
    default = MiningSettings.model_fields["session_duration_s"].default
    assert env_of(api)["MINING_SESSION_DURATION_S"] == str(default)
    assert env_of(api, {"MINING_SESSION_DURATION_S": "60"})["MINING_SESSION_DURATION_S"] == "60"


# --- nft -----------------------------------------------------------------------------------------


def test_nft_environment_parses_into_its_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """api, worker, relay, scheduler and the migrations read the nft role's database, the
    compose network's Kafka and JWKS; the metadata base is the gateway as published."""
    from nft.settings import NftSettings

    services = compose["services"]
    assert {n for n in services if n.startswith("nft-")} == NFT_PROCESSES | {"nft-migrate"}
    api = _settings_from(monkeypatch, env_of(services["nft-api"]), NftSettings)
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
    overridden = _settings_from(monkeypatch, env_of(services["nft-api"], host), NftSettings)
    assert overridden.public_base_url == "https://api.example/api/v1"
    assert overridden.collection_name == "Test"
    assert overridden.collection_image_url == "https://cdn.example/c.png"
    for name in NFT_PROCESSES - {"nft-api"}:
        settings = _settings_from(monkeypatch, env_of(services[name]), NftSettings)
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
    migrate = _settings_from(monkeypatch, env_of(services["nft-migrate"]), NftSettings)
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


# --- payments and the provider stand-ins ----------------------------------------------------------

#: What a person running against the real providers puts in the shell or in .env.
REAL_PROVIDER_ENV = {
    "PAYMENTS_STRIPE_API_BASE": "https://api.stripe.com",
    "PAYMENTS_STRIPE_API_KEY": "sk_test_51RealLookingKey",
    "PAYMENTS_STRIPE_WEBHOOK_SECRET": "whsec_real_endpoint_secret",
    "PAYMENTS_YOOKASSA_API_BASE": "https://api.yookassa.ru/v3",
    "PAYMENTS_YOOKASSA_SHOP_ID": "512345",
    "PAYMENTS_YOOKASSA_SECRET_KEY": "test_real_shop_key",
    "PAYMENTS_YOOKASSA_IP_ALLOWLIST": "185.71.76.0/27,185.71.77.0/27",
}


def test_payments_environment_parses_into_its_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments.settings import PaymentsSettings

    services = compose["services"]
    api = _settings_from(monkeypatch, env_of(services["payments-api"]), PaymentsSettings)
    assert (api.http_host, api.http_port) == ("0.0.0.0", 8002)  # noqa: S104
    assert api.http_port == PaymentsSettings.model_fields["http_port"].default
    assert api.database_url == "postgresql+asyncpg://payments:payments@postgres:5432/scifikpi"
    assert api.kafka_bootstrap_servers == "kafka:9092"
    assert str(api.environment) == "local"
    assert api.jwks_url == "http://auth-api:8001/.well-known/jwks.json"
    # Without provider variables on the host: the stand-ins, with their development credentials.
    assert api.stripe_api_base == "http://localstripe:8420"
    assert api.yookassa_api_base == "http://yookassa:8421/v3"
    from scifikpi_tools import standins

    assert api.stripe_api_key.get_secret_value() == standins.DEV_STRIPE_SECRET_KEY
    assert api.stripe_webhook_secrets == [standins.DEV_STRIPE_WEBHOOK_SECRET]
    assert api.yookassa_shop_id == standins.DEV_YOOKASSA_SHOP_ID
    assert api.yookassa_secret_key.get_secret_value() == standins.DEV_YOOKASSA_SECRET_KEY
    assert "127.0.0.1:8002/readyz" in " ".join(services["payments-api"]["healthcheck"]["test"])
    for name in PAYMENTS_PROCESSES - {"payments-api"}:
        settings = _settings_from(monkeypatch, env_of(services[name]), PaymentsSettings)
        assert settings.metrics_port == METRICS_PORTS[name], name
        assert f"127.0.0.1:{settings.metrics_port}/metrics" in " ".join(
            services[name]["healthcheck"]["test"]
        )
    migrate = _settings_from(monkeypatch, env_of(services["payments-migrate"]), PaymentsSettings)
    assert migrate.database_url == api.database_url


def test_payments_placeholders_are_refused_outside_local(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallbacks are the stand-ins' development values: fine locally, refused elsewhere; the
    real provider variables of the host replace them all."""
    from payments.settings import PaymentsSettings
    from pydantic import ValidationError

    service = compose["services"]["payments-api"]
    with pytest.raises(ValidationError, match="development placeholder|https"):
        _settings_from(monkeypatch, {**env_of(service), "ENVIRONMENT": "staging"}, PaymentsSettings)

    env = env_of(service, REAL_PROVIDER_ENV)
    for key, value in REAL_PROVIDER_ENV.items():
        assert env[key] == value, key
    real = _settings_from(monkeypatch, {**env, "ENVIRONMENT": "staging"}, PaymentsSettings)
    assert real.stripe_api_base == "https://api.stripe.com"
    assert real.stripe_webhook_secrets == ["whsec_real_endpoint_secret"]
    assert real.yookassa_ip_allowlist == ["185.71.76.0/27", "185.71.77.0/27"]


def test_standins_are_wired_to_payments_and_the_gateway(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stand-in command lines against the payments environment and the gateway's route table:
    the same secrets on both sides, API bases at the relayed ports, webhooks to public routes."""
    from gateway.routes import API_PREFIX, PUBLIC, ROUTES
    from payments.settings import PaymentsSettings
    from payments.webhooks import client_ip, ip_allowed

    services = compose["services"]
    payments = _settings_from(monkeypatch, env_of(services["payments-api"]), PaymentsSettings)
    gateway_port = env_of(services["gateway"])["GATEWAY_HTTP_PORT"]
    public_routes = {r.public_path for r in ROUTES if r.access == PUBLIC and "POST" in r.method_set}
    modules = {}
    for name in STANDINS:
        svc = services[name]
        argv = command_of(svc)
        assert argv[:2] == ["python", "/opt/scifikpi/expose.py"], argv
        separator = argv.index("--")
        relay, child = flags(argv[:separator]), argv[separator + 1 :]
        assert child[:2] == ["python", "-m"]
        modules[name] = child[2]
        own = flags(child)
        listen_host, listen_port = relay["listen"].rsplit(":", 1)
        assert listen_host == "0.0.0.0"  # noqa: S104 - the compose network, inside the container
        # The stand-in itself stays on loopback; the relay targets exactly it.
        assert relay["target"] == f"127.0.0.1:{own['port']}" and own["host"] == "127.0.0.1"
        assert own["port"] != listen_port
        # Webhooks go through the gateway, to public routes, as the real providers' do.
        webhook = own["webhook-url"]
        assert webhook.startswith(f"http://gateway:{gateway_port}{API_PREFIX}/"), webhook
        assert webhook.split(f":{gateway_port}", 1)[1] in public_routes, webhook
        assert "healthcheck" in svc and listen_port in " ".join(svc["healthcheck"]["test"])
        assert svc.get("init") is True, "the relay is PID 1 otherwise"
        assert f"./deploy/compose/tools/expose.py:{argv[1]}:ro" in svc["volumes"]
        published = svc["ports"][0].rsplit(":", 1)[1]
        assert published == listen_port
        if name == "localstripe":
            assert payments.stripe_api_base == f"http://localstripe:{listen_port}"
            assert own["webhook-secret"] in payments.stripe_webhook_secrets
            assert webhook.endswith("/payments/webhooks/stripe")
        else:
            assert payments.yookassa_api_base == f"http://yookassa:{listen_port}/v3"
            assert own["shop-id"] == payments.yookassa_shop_id
            assert own["secret-key"] == payments.yookassa_secret_key.get_secret_value()
            assert webhook.endswith("/payments/webhooks/yoomoney")
            # confirmation_url links open in a browser on the host: the published port.
            host_port = svc["ports"][0].split(":")[1]
            assert own["public-url"] == f"http://127.0.0.1:{host_port}"
    assert modules == {
        "localstripe": "scifikpi_tools.standins.localstripe",
        "yookassa": "scifikpi_tools.standins.yookassa",
    }
    # The fake notifies from its container address; the gateway (a compose-network peer that
    # payments trusts) forwards it in X-Forwarded-For, and the allowlist takes it. Docker's default
    # address pools are in 172.16.0.0/12 and 192.168.0.0/16.
    for fake, gateway in (("172.18.0.7", "172.18.0.9"), ("192.168.32.4", "192.168.32.2")):
        source = client_ip(gateway, fake, payments.trusted_proxy_networks)
        assert source == fake and ip_allowed(source, payments.yookassa_networks)
    assert not ip_allowed("203.0.113.10", payments.yookassa_networks)


@pytest.mark.parametrize("name", sorted(STANDINS))
def test_standin_command_lines_are_accepted_by_the_tools(
    compose: dict[str, Any], name: str
) -> None:
    """Every flag compose passes is one the stand-in's own CLI documents."""
    argv = command_of(compose["services"][name])
    child = argv[argv.index("--") + 1 :]
    result = subprocess.run(  # noqa: S603 - this interpreter, a module of this repo
        [sys.executable, *child[1:3], "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for flag in flags(child):
        assert f"--{flag}" in result.stdout, f"{name}: --{flag} is not an option of {child[2]}"
    relay_help = subprocess.run(  # noqa: S603 - this interpreter, the repo's relay script
        [sys.executable, str(TOOLS_DIR / "expose.py"), "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    for flag in flags(argv[: argv.index("--")]):
        assert f"--{flag}" in relay_help.stdout, flag


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_expose_relays_to_a_loopback_server_and_stops_it(tmp_path: Path) -> None:
    """deploy/compose/tools/expose.py for real, on loopback: it starts the command, accepts only
    once the command listens, relays HTTP both ways, and on SIGTERM stops the command and exits 0."""
    (tmp_path / "hello.txt").write_text("relayed\n")
    listen, target = _free_port(), _free_port()
    proc = subprocess.Popen(  # noqa: S603 - this interpreter, the repo's relay script
        [sys.executable, str(TOOLS_DIR / "expose.py"), f"--listen=127.0.0.1:{listen}",
         f"--target=127.0.0.1:{target}", "--", sys.executable, "-m", "http.server", str(target),
         "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{listen}/hello.txt", timeout=5) as r:
                    body = r.read().decode()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "the relay never answered"
                time.sleep(0.1)
        assert body == "relayed\n"
        for _ in range(3):  # keep-alive-less requests, one connection each
            with urllib.request.urlopen(f"http://127.0.0.1:{listen}/hello.txt", timeout=5) as r:
                assert r.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        output = proc.stdout.read() if proc.stdout else ""
        assert f"127.0.0.1:{listen} -> 127.0.0.1:{target}" in output
        # The command is gone with it: nothing listens on either port.
        for port in (listen, target):
            with socket.socket() as sock:
                assert sock.connect_ex(("127.0.0.1", port)) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_expose_exits_with_the_command_when_it_cannot_start() -> None:
    port = _free_port()
    result = subprocess.run(  # noqa: S603 - this interpreter, the repo's relay script
        [sys.executable, str(TOOLS_DIR / "expose.py"), f"--listen=127.0.0.1:{_free_port()}",
         f"--target=127.0.0.1:{port}", "--ready-timeout=20", "--", sys.executable, "-c",
         "raise SystemExit(3)"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr


def test_compose_runs_every_process_of_the_local_stack(compose: dict[str, Any]) -> None:
    """`make run` (scifikpi_tools.services) and compose start the same processes on the same
    ports: a service added to one and not the other fails here."""
    from scifikpi_tools.services import SERVICES

    services = compose["services"]
    for svc in SERVICES:
        for proc in svc.process_list():
            name = "gateway" if svc.is_gateway else proc.name
            assert name in services, f"{name} runs in `make run` but not in compose"
            env = env_of(services[name])
            if proc.is_api:
                assert env[f"{svc.env_prefix}HTTP_PORT"] == str(svc.http_port), name
            else:
                assert METRICS_PORTS[name] == proc.metrics_port, name
                assert env[f"{svc.env_prefix}METRICS_PORT"] == str(proc.metrics_port), name
        if svc.has_db:
            assert f"{svc.name}-migrate" in services


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
        settings = _settings_from(monkeypatch, env_of(services[name]), NftSettings)
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
        settings = _settings_from(monkeypatch, env, NftSettings)
        assert settings.ton_network is TonNetwork.testnet, name
        assert str(settings.ton_liteserver_config) == "/etc/scifikpi/ton/global.config.json"
        assert settings.custody_seed() == key
    # The development key never signs outside local/test.
    staging = _settings_from(
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
