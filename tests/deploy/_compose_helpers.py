"""Helpers shared by the test_compose_*.py files: the stack's process groups, and
docker-compose.yml read the way compose hands a service its environment and command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from _deploy_helpers import DB_SERVICES, REPO, interpolate

ONE_SHOTS = {"kafka-init"} | {f"{svc}-migrate" for svc in DB_SERVICES}
PAYMENTS_PROCESSES = {"payments-api", "payments-worker", "payments-relay", "payments-scheduler"}
MINING_PROCESSES = {"mining-api", "mining-worker", "mining-relay", "mining-scheduler"}
LEDGER_PROCESSES = {"ledger-api", "ledger-worker", "ledger-relay", "ledger-scheduler"}
NFT_PROCESSES = {"nft-api", "nft-worker", "nft-relay", "nft-scheduler"}
#: analytics publishes nothing: no relay
ANALYTICS_PROCESSES = {"analytics-api", "analytics-worker"}
APP_SERVICES = (
    {"auth-api", "auth-worker", "auth-relay", "gateway"}
    | PAYMENTS_PROCESSES
    | MINING_PROCESSES
    | LEDGER_PROCESSES
    | NFT_PROCESSES
    | ANALYTICS_PROCESSES
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


def init_sql_path(compose: dict[str, Any]) -> Path:
    postgres = compose["services"]["postgres"]
    mounts = [v for v in postgres["volumes"] if "docker-entrypoint-initdb.d" in v]
    assert len(mounts) == 1
    return REPO / mounts[0].split(":", 1)[0]
