"""deploy/observability: the Prometheus alert rules as a whole, and Alertmanager.

Rules are well formed (one alert or record each, severities, summaries, `for` durations), every
expression selects only metrics the services really export (read from scifikpi_common.metrics,
payments.metrics and nft.chain.metrics) or that Prometheus writes itself (`up`), the required
alerts exist, PromQL parses with a real parser, and each runbook link names an existing section.
When `promtool`/`amtool` are on PATH (Debian: the `prometheus` and `prometheus-alertmanager`
packages) Prometheus checks and unit-tests the rules itself and Alertmanager its config.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from _deploy_helpers import PROMETHEUS_SYNTHETIC, REPO, load_yaml, promql_metric_names
from _observability_helpers import (
    ALERT_RULES,
    ALERT_TESTS,
    ALERTMANAGER_CONFIG,
    LOKI_RULES,
    PROMETHEUS_CONFIG,
    SEVERITIES,
    dashboard_exprs,
    heading_anchor,
    payments_alerts,
    promtool,
    rules,
)


def test_alert_rules_are_well_formed() -> None:
    seen = set()
    alerts = 0
    for rule in rules(ALERT_RULES):
        assert ("alert" in rule) != ("record" in rule), rule
        assert isinstance(rule["expr"], str) and rule["expr"].strip()
        name = rule.get("alert") or rule["record"]
        assert name not in seen, f"duplicate {name}"
        seen.add(name)
        if "record" in rule:
            assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", name), (
                f"recording rule naming: {name}"
            )
            continue
        alerts += 1
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", name)
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["for"]
    assert alerts >= 8


def test_alert_rules_only_use_exported_metrics(known_metrics: set[str]) -> None:
    recorded = {r["record"] for r in rules(ALERT_RULES) if "record" in r}
    for rule in rules(ALERT_RULES):
        used = promql_metric_names(rule["expr"])
        assert used, f"{rule.get('alert') or rule.get('record')}: selects no metric"
        unknown = used - known_metrics - PROMETHEUS_SYNTHETIC - recorded
        assert not unknown, (
            f"{rule.get('alert') or rule.get('record')} uses metrics nobody exports: {unknown}"
        )


def test_metric_check_catches_made_up_metrics(known_metrics: set[str]) -> None:
    """The extractor must see through functions, aggregations, matchers and grouping."""
    expr = (
        'sum by (service) (rate(payments_stuck_total{status=~"5.."}[5m]))'
        " / on (service) max(mint_failures) > 0"
    )
    assert promql_metric_names(expr) == {"payments_stuck_total", "mint_failures"}
    assert promql_metric_names(
        "histogram_quantile(0.99, sum by (le) "
        "(rate(http_request_duration_seconds_bucket[5m]))) > 1e3"
    ) == {"http_request_duration_seconds_bucket"}
    assert not promql_metric_names(expr) <= known_metrics


def test_alerts_cover_errors_latency_dlq_outbox_lag_and_relay_failures() -> None:
    alerts = {r["alert"]: r["expr"] for r in rules(ALERT_RULES) if "alert" in r}

    def alerting_on(metric: str, needle: str = "") -> list[str]:
        return [n for n, e in alerts.items() if metric in promql_metric_names(e) and needle in e]

    assert alerting_on("http_requests_total", 'status=~"5.."'), "5xx error rate"
    assert alerting_on("http_request_duration_seconds_bucket"), "latency"
    assert alerting_on("dlq_messages_total"), "DLQ growth"
    assert alerting_on("outbox_backlog") and alerting_on("outbox_oldest_unpublished_age_seconds"), (
        "outbox"
    )
    assert alerting_on("consumer_lag_messages"), "consumer lag"
    assert alerting_on("events_consumed_total", "dead_lettered"), "consumer failures"
    assert alerting_on("outbox_publish_errors_total"), "relay errors"


def test_dead_lettered_is_an_outcome_the_consumers_report() -> None:
    import typing

    from scifikpi_common.messaging import Outcome

    outcomes = set(typing.get_args(Outcome))
    used = set()
    for rule in rules(ALERT_RULES):
        if "events_consumed_total" in promql_metric_names(rule["expr"]):
            used |= set(re.findall(r'outcome="([^"]+)"', rule["expr"]))
    assert used and used <= outcomes, used - outcomes


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    tool = promtool()
    check = subprocess.run(  # noqa: S603 - promtool/amtool found on PATH, fixed arguments
        [tool, "check", "rules", str(ALERT_RULES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(  # noqa: S603 - promtool/amtool found on PATH, fixed arguments
        [tool, "test", "rules", str(ALERT_TESTS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr
    config = subprocess.run(  # noqa: S603 - promtool/amtool found on PATH, fixed arguments
        [tool, "check", "config", "--syntax-only", str(PROMETHEUS_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert config.returncode == 0, config.stdout + config.stderr


def test_promql_parses_with_a_real_parser() -> None:
    parser = pytest.importorskip("promql_parser")
    exprs = [r["expr"] for r in rules(ALERT_RULES)] + dashboard_exprs("prometheus")
    for expr in exprs:
        parser.parse(expr)


def test_every_alert_links_an_existing_runbook_section() -> None:
    for rule in rules(ALERT_RULES) + rules(LOKI_RULES):
        runbook = rule.get("annotations", {}).get("runbook")
        if runbook is None:
            continue
        path, _, anchor = runbook.partition("#")
        doc = REPO / path
        assert doc.is_file(), f"{rule['alert']}: {path} is missing"
        text = doc.read_text()
        assert rule["alert"] in text.splitlines()[0], f"{path} does not name {rule['alert']}"
        if anchor:
            anchors = {
                heading_anchor(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)
            }
            assert anchor in anchors, f"{rule['alert']}: no section #{anchor} in {path}"
    assert payments_alerts(), "no payments alerts"


def test_alertmanager_routes_by_service_to_a_declared_receiver() -> None:
    config = load_yaml(ALERTMANAGER_CONFIG)
    receivers = {r["name"] for r in config["receivers"]}
    assert config["route"]["receiver"] in receivers
    assert "service" in config["route"]["group_by"]
    amtool = shutil.which("amtool")
    if amtool:
        result = subprocess.run(  # noqa: S603 - promtool/amtool found on PATH, fixed arguments
            [amtool, "check-config", str(ALERTMANAGER_CONFIG)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
