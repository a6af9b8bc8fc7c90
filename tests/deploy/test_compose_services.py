"""docker-compose.yml as a whole: valid against the Compose Specification, started in the order
docs/architecture.md gives (migrations once, before the processes), every process of `make run`
present, built from the one root Dockerfile, locked down, published on localhost only.

No Docker engine here, so the file is checked, not run (the bundled compose-spec JSON schema
through check-jsonschema, then the parsed YAML).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from _compose_helpers import (
    ANALYTICS_PROCESSES,
    APP_SERVICES,
    HEALTHY_CONDITIONS,
    LEDGER_PROCESSES,
    MINING_PROCESSES,
    NFT_PROCESSES,
    ONE_SHOTS,
    PAYMENTS_PROCESSES,
    STANDINS,
    check_compose_schema,
    env_of,
)
from _deploy_helpers import (
    COMPOSE_FILE,
    DB_SERVICES,
    METRICS_PORTS,
    REPO,
    SERVICES,
    console_scripts,
)
from _dockerfile_helpers import DOCKERFILE, build_args

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
    from scifikpi_tools.services import SERVICES as TABLE

    kinds = next(s for s in TABLE if s.name == svc).processes
    processes = {n for n in services if n.startswith(f"{svc}-") and n != f"{svc}-migrate"}
    assert {f"{svc}-{kind}" for kind in kinds} <= processes
    for name in processes:
        assert (
            services[name]["depends_on"][f"{svc}-migrate"]["condition"]
            == "service_completed_successfully"
        ), name
    # Consumers and relays need their topics; the scheduler talks to Postgres only (a service
    # that publishes nothing, analytics, has no relay).
    for name in (f"{svc}-{kind}" for kind in kinds if kind in ("worker", "relay")):
        assert (
            services[name]["depends_on"]["kafka-init"]["condition"]
            == "service_completed_successfully"
        )
    assert services["gateway"]["depends_on"][f"{svc}-api"]["condition"] == "service_healthy"


# --- images and commands -----------------------------------------------------------------------


def test_commands_are_the_services_console_scripts(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for svc, names in (
        ("auth", ("auth-api", "auth-worker", "auth-relay")),
        ("payments", tuple(sorted(PAYMENTS_PROCESSES))),
        ("mining", tuple(sorted(MINING_PROCESSES))),
        ("ledger", tuple(sorted(LEDGER_PROCESSES))),
        ("nft", tuple(sorted(NFT_PROCESSES))),
        ("analytics", tuple(sorted(ANALYTICS_PROCESSES))),
    ):
        for name in names:
            assert services[name]["build"]["args"] == build_args(svc), name
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
        ("analytics", ANALYTICS_PROCESSES),
    ):
        assert {s for s in console_scripts(svc) if not s.endswith("-admin")} == processes, svc
    assert services["gateway"]["build"]["args"] == build_args("gateway")
    assert services["gateway"]["command"] == ["gateway-api"]
    assert "gateway-api" in console_scripts("gateway")
    for name in APP_SERVICES | STANDINS | (ONE_SHOTS - {"kafka-init"}):
        svc = services[name]
        assert svc.get("read_only") is True and svc.get("cap_drop") == ["ALL"], name
        assert (REPO / svc["build"]["context"] / svc["build"]["dockerfile"]).resolve() == DOCKERFILE


def test_a_tag_names_one_build(compose: dict[str, Any]) -> None:
    """The processes and the migrations of a service share one image: every compose service
    tagged `scifikpi/<svc>:local` builds it the same way (else the last build would win)."""
    builds: dict[str, list[dict[str, Any]]] = {}
    for svc in compose["services"].values():
        if "build" in svc:
            builds.setdefault(svc["image"], []).append(svc["build"])
    assert set(builds) == {f"scifikpi/{s}:local" for s in SERVICES} | {"scifikpi/tools:local"}
    for tag, variants in builds.items():
        assert all(b == variants[0] for b in variants), tag
        assert variants[0]["dockerfile"] == "Dockerfile" and variants[0]["context"] == "."
    for name in ONE_SHOTS - {"kafka-init"}:
        service = name.removesuffix("-migrate")
        assert compose["services"][name]["build"]["args"] == build_args(service), name


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
