"""docker-compose.yml's infrastructure: a single KRaft Kafka node and the topics kafka-init creates,
Postgres with one role and schema per service (docs/adr/0003-schema-per-service.md), its init SQL
run for real on the local Postgres when one answers.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

import pytest
from _compose_helpers import (
    APP_SERVICES,
    env_of,
    init_sql_path,
)
from _deploy_helpers import (
    DB_SERVICES,
    settings_class,
)


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
