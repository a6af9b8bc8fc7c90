"""Helpers for the observability checks (test_observability_*.py): where deploy/observability keeps
each file, reading rule groups, the dashboard's queries, the labels Alloy sets and LogQL selectors.

Importable because tests/deploy/conftest.py puts this folder on sys.path; the names the services
export are the session fixture `known_metrics` there.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from _deploy_helpers import OBSERVABILITY, REPO, load_yaml, promql_metric_names

ALERT_RULES = OBSERVABILITY / "prometheus" / "rules" / "scifikpi-alerts.yml"
ALERT_TESTS = OBSERVABILITY / "prometheus" / "tests" / "scifikpi-alerts.test.yml"
LOKI_RULES = OBSERVABILITY / "loki" / "rules" / "scifikpi-logs.yml"
LOKI_CONFIG = OBSERVABILITY / "loki" / "loki.yml"
ALLOY_CONFIG = OBSERVABILITY / "alloy" / "config.alloy"
PROMETHEUS_CONFIG = OBSERVABILITY / "prometheus" / "prometheus.yml"
PROMETHEUS_K8S_CONFIG = OBSERVABILITY / "prometheus" / "prometheus-kubernetes.yml"
ALERTMANAGER_CONFIG = OBSERVABILITY / "alertmanager" / "alertmanager.yml"
DASHBOARD = OBSERVABILITY / "grafana" / "dashboards" / "scifikpi-overview.json"
DATASOURCES = OBSERVABILITY / "grafana" / "provisioning" / "datasources" / "datasources.yml"
SEVERITIES = {"warning", "critical"}
STRUCTLOG_LEVELS = {"debug", "info", "warning", "error", "critical"}


def promtool() -> str:
    """promtool on PATH, or skip the test (Debian package `prometheus`)."""
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed (Debian package `prometheus`)")
    return path


def rules(path: Path) -> list[dict[str, Any]]:
    """Every rule of every group of a Prometheus or Loki rules file."""
    data = load_yaml(path)
    assert set(data) == {"groups"}
    out = []
    for group in data["groups"]:
        assert group["name"] and group["rules"], group
        out += group["rules"]
    return out


def group_rules(path: Path, group: str) -> list[dict[str, Any]]:
    (found,) = [g for g in load_yaml(path)["groups"] if g["name"] == group]
    return found["rules"]


def payments_alerts() -> dict[str, dict[str, Any]]:
    """Alerts on a `payments_*` metric, by name."""
    return {
        r["alert"]: r
        for r in rules(ALERT_RULES)
        if "alert" in r and any(n.startswith("payments_") for n in promql_metric_names(r["expr"]))
    }


def mining_ledger_alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in group_rules(ALERT_RULES, "scifikpi-mining-ledger")}


def nft_alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in group_rules(ALERT_RULES, "scifikpi-nft")}


def analytics_alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in group_rules(ALERT_RULES, "scifikpi-analytics") if "alert" in r}


def promtool_cases() -> tuple[set[str], set[str]]:
    """Alert names with a promtool case where they fire, and with one where they stay quiet."""
    tests = load_yaml(ALERT_TESTS)["tests"]
    fired, quiet = set(), set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    return fired, quiet


def service_source(service: str) -> str:
    """All the Python source of a service, as one text."""
    return "\n".join(p.read_text() for p in (REPO / "services" / service / "src").rglob("*.py"))


def heading_anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def alloy_labels() -> set[str]:
    """The Loki labels the Alloy pipeline sets (relabel target_labels and stage.labels)."""
    text = ALLOY_CONFIG.read_text()
    labels = set(re.findall(r'target_label\s*=\s*"(\w+)"', text))
    stage = re.search(r"stage\.labels\s*\{\s*values\s*=\s*\{([^}]*)\}", text)
    assert stage, "no stage.labels in the Alloy pipeline"
    labels |= set(re.findall(r"(\w+)\s*=", stage.group(1)))
    return labels


def stream_selectors(logql: str) -> list[dict[str, str]]:
    """label -> value of each stream selector `{...}` of a LogQL expression."""
    selectors = []
    for body in re.findall(r"\{([^{}]*)\}", logql):
        if "=" not in body:
            continue
        matchers = dict(re.findall(r'(\w+)\s*(?:=~|!=|!~|=)\s*"([^"]*)"', body))
        selectors.append(matchers)
    return selectors


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_exprs(datasource_type: str) -> list[str]:
    """The dashboard's queries on one kind of datasource, Grafana variables filled in."""
    out = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            if (target.get("datasource") or panel["datasource"])["type"] == datasource_type:
                expr = target["expr"].replace("$__rate_interval", "5m").replace("$__range", "1h")
                out.append(expr.replace("$service", ".+"))
    return out
