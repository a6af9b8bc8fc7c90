"""Helpers shared by tests/deploy (importable because conftest puts this folder on sys.path)."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from scifikpi_tools.services import SERVICES as SERVICE_TABLE

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
CHART_DIR = REPO / "deploy" / "helm" / "scifikpi"
OBSERVABILITY = REPO / "deploy" / "observability"

#: Services of the workspace, each shipping an image: name -> directory (the service table).
SERVICES = {svc.name: REPO / "services" / svc.name for svc in SERVICE_TABLE}
#: ...of which these own a database schema (migrations in the image, a `<svc>-migrate` one-shot).
DB_SERVICES = tuple(svc.name for svc in SERVICE_TABLE if svc.has_db)
#: Worker processes and the port each serves /metrics on (compose, the chart, the images).
METRICS_PORTS = {
    "auth-worker": 9101,
    "auth-relay": 9111,
    "payments-worker": 9102,
    "payments-relay": 9112,
    "payments-scheduler": 9122,
    "mining-worker": 9103,
    "mining-relay": 9113,
    "mining-scheduler": 9123,
    "ledger-worker": 9104,
    "ledger-relay": 9114,
    "ledger-scheduler": 9124,
    "nft-worker": 9105,
    "nft-relay": 9115,
    "nft-scheduler": 9125,
    "analytics-worker": 9106,
}
#: Unprefixed settings ledger and mining must read identically (scifikpi_common.events.mining):
#: one x- anchor in compose, one global.sharedEnv group in the chart.
MINING_POWER_VARS = (
    "MINING_R_BASE_MICRO_PER_HOUR",
    "MINING_R_PER_USD_MICRO_PER_HOUR",
    "MINING_R_MAX_MICRO_PER_HOUR",
)
#: Environment prefixes of the services' settings (cleared before a settings class is built).
SETTINGS_PREFIXES = ("AUTH_", "GATEWAY_", "PAYMENTS_", "MINING_", "LEDGER_", "NFT_", "ANALYTICS_")
#: The compose-only tools image (payment-provider stand-ins) and the relay that exposes them.
TOOLS_DIR = REPO / "deploy" / "compose" / "tools"

#: Modules whose prometheus_client objects the services export (nft: its chain engine's).
METRIC_MODULES = (
    "scifikpi_common.metrics",
    "payments.metrics",
    "nft.chain.metrics",
)


def settings_class(service: str) -> type:
    """The pydantic-settings class of a service."""
    from analytics.settings import AnalyticsSettings
    from auth.settings import AuthSettings
    from gateway.settings import GatewaySettings
    from ledger.settings import LedgerSettings
    from mining.settings import MiningSettings
    from nft.settings import NftSettings
    from payments.settings import PaymentsSettings

    return {
        "auth": AuthSettings,
        "gateway": GatewaySettings,
        "payments": PaymentsSettings,
        "mining": MiningSettings,
        "ledger": LedgerSettings,
        "nft": NftSettings,
        "analytics": AnalyticsSettings,
    }[service]


#: Unprefixed settings the services read; cleared, like the prefixed ones, before a settings
#: class is built from a deployment's environment.
SHARED_SETTINGS_VARS = frozenset(
    {
        "DATABASE_URL",
        "KAFKA_BOOTSTRAP_SERVERS",
        "REDIS_URL",
        "JWKS_URL",
        "ENVIRONMENT",
        "FX_RATES",
        "OTLP_ENDPOINT",
    }
)


def settings_from_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], cls: type) -> Any:
    """A settings class built from exactly `env` (what a container of compose or the chart gets)."""
    for key in list(os.environ):
        if key.startswith(SETTINGS_PREFIXES) or key in SHARED_SETTINGS_VARS:
            monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return cls()


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def console_scripts(service: str) -> set[str]:
    """The `[project.scripts]` of a service's pyproject (the commands its image can run)."""
    data = tomllib.loads((SERVICES[service] / "pyproject.toml").read_text())
    return set(data["project"].get("scripts", {}))


# --- Prometheus metric names ---------------------------------------------------------------------


def exported_metric_names() -> set[str]:
    """Series names the services export, read from the metric objects themselves."""
    import importlib

    from prometheus_client import Counter, Gauge, Histogram

    objects = [
        obj for module in METRIC_MODULES for obj in vars(importlib.import_module(module)).values()
    ]
    names: set[str] = set()
    for obj in objects:
        if isinstance(obj, Counter):
            names |= {f"{obj._name}_total", f"{obj._name}_created"}
        elif isinstance(obj, Histogram):
            names |= {f"{obj._name}_bucket", f"{obj._name}_count", f"{obj._name}_sum"}
        elif isinstance(obj, Gauge):
            names.add(obj._name)
    return names


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's variable interpolation: `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$$`."""
    env = env or {}

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, default = match.group(1), match.group(2), match.group(3) or ""
        if op == ":-":
            return env.get(name) or default
        if op == "-":
            return env.get(name, default)
        return env.get(name, "")

    return re.sub(r"\$\$|\$\{(\w+)(?:(:-|-)([^}]*))?\}", one, value)


#: Written by Prometheus itself for every scrape target.
PROMETHEUS_SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

_PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "atan2", "inf", "nan",
}  # fmt: skip


def promql_metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (a small lexer, enough for our rules/dashboards).

    Strings, label matchers `{...}`, range/subquery brackets `[...]`, grouping clauses
    `by (...)`, numbers and function calls are removed; the identifiers left are metric names.
    """
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    text = re.sub(r"'(?:\\.|[^'\\])*'", "''", text)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
        " ",
        text,
        flags=re.IGNORECASE,
    )
    text = re.sub(r"(?<![\w:.])\d+(\.\d+)?(e[+-]?\d+)?\b", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        rest = text[match.end() :].lstrip()
        if rest.startswith("("):  # a function or aggregation
            continue
        if word.lower() in _PROMQL_WORDS:
            continue
        names.add(word)
    return names
