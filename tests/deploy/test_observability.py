"""deploy/observability: alert rules, Loki rules and config, Alloy, scrape configs, dashboard.

Every PromQL expression (alerts and dashboard) may only select metrics the services really export
(read from scifikpi_common.metrics and payments.metrics) or that Prometheus writes itself (`up`). Loki selectors may
only use labels the Alloy pipeline sets. When `promtool` is on PATH (Debian: the `prometheus`
package) the rules are also checked and unit-tested by Prometheus itself.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _deploy_helpers import (
    DB_SERVICES,
    METRICS_PORTS,
    OBSERVABILITY,
    PROMETHEUS_SYNTHETIC,
    REPO,
    exported_metric_names,
    load_yaml,
    promql_metric_names,
)

ALERT_RULES = OBSERVABILITY / "prometheus" / "rules" / "scifikpi-alerts.yml"
ALERT_TESTS = OBSERVABILITY / "prometheus" / "tests" / "scifikpi-alerts.test.yml"
LOKI_RULES = OBSERVABILITY / "loki" / "rules" / "scifikpi-logs.yml"
LOKI_CONFIG = OBSERVABILITY / "loki" / "loki.yml"
ALLOY_CONFIG = OBSERVABILITY / "alloy" / "config.alloy"
PROMETHEUS_CONFIG = OBSERVABILITY / "prometheus" / "prometheus.yml"
PROMETHEUS_K8S_CONFIG = OBSERVABILITY / "prometheus" / "prometheus-kubernetes.yml"
DASHBOARD = OBSERVABILITY / "grafana" / "dashboards" / "scifikpi-overview.json"
DATASOURCES = OBSERVABILITY / "grafana" / "provisioning" / "datasources" / "datasources.yml"
SEVERITIES = {"warning", "critical"}
STRUCTLOG_LEVELS = {"debug", "info", "warning", "error", "critical"}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed (Debian package `prometheus`)")
    return path


def rules(path: Path) -> list[dict[str, Any]]:
    data = load_yaml(path)
    assert set(data) == {"groups"}
    out = []
    for group in data["groups"]:
        assert group["name"] and group["rules"], group
        out += group["rules"]
    return out


@pytest.fixture(scope="module")
def known_metrics() -> set[str]:
    names = exported_metric_names()
    assert {"http_requests_total", "http_request_duration_seconds_bucket", "outbox_backlog",
            "outbox_oldest_unpublished_age_seconds", "events_consumed_total", "dlq_messages_total",
            "consumer_lag_messages"} <= names  # fmt: skip
    return names


# --- Prometheus alert rules -------------------------------------------------------------------


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


def test_the_required_alerts_exist() -> None:
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


# --- payments alerts ------------------------------------------------------------------------------


def payments_alerts() -> dict[str, dict[str, Any]]:
    return {
        r["alert"]: r
        for r in rules(ALERT_RULES)
        if "alert" in r and any(n.startswith("payments_") for n in promql_metric_names(r["expr"]))
    }


def test_payments_alerts_cover_the_failure_modes() -> None:
    """Stuck payments, webhook verification failures, provider outage, delayed webhook processing,
    refunds and money taken after the end: each on a metric payments.metrics really exports."""
    from payments import metrics

    alerts = payments_alerts()

    def on(metric: str, needle: str = "") -> list[str]:
        return [n for n, r in alerts.items() if metric in promql_metric_names(r["expr"])
                and needle in r["expr"]]  # fmt: skip

    assert on(metrics.STUCK_PAYMENTS._name), "stuck payments"
    assert on(f"{metrics.WEBHOOKS._name}_total", "invalid_signature"), "Stripe signatures"
    assert on(f"{metrics.WEBHOOKS._name}_total", "forbidden_source"), "YooKassa sources"
    assert on(f"{metrics.PROVIDER_REQUESTS._name}_total", 'outcome="unavailable"'), "outage"
    assert on(metrics.PROVIDER_EVENTS_OLDEST_AGE._name), "stored webhooks not applied"
    assert on(f"{metrics.REFUNDS._name}_total", "failed"), "refused refunds"
    assert on(f"{metrics.REFUNDS._name}_total", "pending"), "refunds pending"
    assert on(f"{metrics.LATE_SUCCESS._name}_total"), "money taken after the end"
    for name, rule in alerts.items():
        assert rule["labels"]["service"] == "payments", name
        assert rule["annotations"]["runbook"].startswith("docs/runbooks/payments.md#"), name


def test_payments_alerts_only_match_label_values_the_service_emits() -> None:
    """`outcome="..."`/`result="..."` matchers name values the code writes (a typo never fires)."""
    source = "\n".join(
        p.read_text() for p in (REPO / "services" / "payments" / "src").rglob("*.py")
    )
    for name, rule in payments_alerts().items():
        for label, values in re.findall(r'(outcome|result|status)=~?"([^"]+)"', rule["expr"]):
            for value in values.split("|"):
                assert re.search(rf'["\']{re.escape(value)}["\']', source), (name, label, value)


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


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
            anchors = {_slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}
            assert anchor in anchors, f"{rule['alert']}: no section #{anchor} in {path}"
    assert payments_alerts(), "no payments alerts"


def test_every_payments_alert_has_a_firing_and_a_quiet_promtool_case() -> None:
    tests = load_yaml(ALERT_TESTS)["tests"]
    fired, quiet = set(), set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    missing_fire = set(payments_alerts()) - fired
    missing_quiet = set(payments_alerts()) - quiet
    assert not missing_fire, f"no promtool case where these fire: {missing_fire}"
    assert not missing_quiet, f"no promtool case where these stay quiet: {missing_quiet}"


# --- mining and ledger alerts -------------------------------------------------------------------

MINING_LEDGER_GROUPS = ("scifikpi-mining-ledger", "scifikpi-ledger-logs", "scifikpi-mining-logs")


def group_rules(path: Path, group: str) -> list[dict[str, Any]]:
    (found,) = [g for g in load_yaml(path)["groups"] if g["name"] == group]
    return found["rules"]


def mining_ledger_alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in group_rules(ALERT_RULES, "scifikpi-mining-ledger")}


def test_mining_and_ledger_alerts_cover_the_failure_modes() -> None:
    """No scheduler (sessions not completed / holds not released), events the ledger could not
    book, acceleration payments mining could not apply, rejected accelerations payments could not
    refund; each routed to its service and linked to its runbook section."""
    alerts = mining_ledger_alerts()

    def on(needle: str) -> list[str]:
        return [n for n, r in alerts.items() if needle in r["expr"]]

    assert on('up{process="mining-scheduler"}') and on('up{process="ledger-scheduler"}')
    assert on('service="ledger", outcome="dead_lettered"')
    assert on('service="mining", event_type="PaymentSucceeded", outcome="dead_lettered"')
    assert on('service="payments", event_type="AccelerationRejected", outcome="dead_lettered"')
    for name, rule in alerts.items():
        assert rule["labels"]["service"] in DB_SERVICES, name
        runbook = rule["annotations"]["runbook"]
        assert runbook.startswith(("docs/runbooks/mining.md#", "docs/runbooks/ledger.md#")), name


def test_mining_and_ledger_alerts_match_real_label_values() -> None:
    """`process` names a process that is scraped, `event_type` an event of the contracts that the
    named service really consumes, `outcome` an outcome the consumers report."""
    import typing

    from scifikpi_common.events import ALL_EVENTS
    from scifikpi_common.messaging import Outcome

    for name, rule in mining_ledger_alerts().items():
        expr = rule["expr"]
        for process in re.findall(r'process="([^"]+)"', expr):
            assert process in METRICS_PORTS, (name, process)
        for outcome in re.findall(r'outcome="([^"]+)"', expr):
            assert outcome in typing.get_args(Outcome), (name, outcome)
        services = re.findall(r'service="([^"]+)"', expr)
        for event_type in re.findall(r'event_type="([^"]+)"', expr):
            assert event_type in ALL_EVENTS, (name, event_type)
            (service,) = services
            source = "\n".join(
                p.read_text() for p in (REPO / "services" / service / "src").rglob("*.py")
            )
            assert re.search(rf"\b{event_type}\b", source), f"{service} never handles {event_type}"


def test_every_mining_and_ledger_alert_has_a_firing_and_a_quiet_promtool_case() -> None:
    tests = load_yaml(ALERT_TESTS)["tests"]
    fired, quiet = set(), set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    alerts = set(mining_ledger_alerts())
    assert not alerts - fired, f"no promtool case where these fire: {alerts - fired}"
    assert not alerts - quiet, f"no promtool case where these stay quiet: {alerts - quiet}"


def test_mining_and_ledger_log_alerts_match_lines_the_services_write() -> None:
    """Each Loki rule of the two services searches for an event name its code logs, at the level
    the rule selects (a renamed log event would silently never fire)."""
    for group, service in (("scifikpi-ledger-logs", "ledger"), ("scifikpi-mining-logs", "mining")):
        source = "\n".join(
            p.read_text() for p in (REPO / "services" / service / "src").rglob("*.py")
        )
        rules_ = group_rules(LOKI_RULES, group)
        assert rules_, group
        for rule in rules_:
            (event,) = re.findall(r'\|= "([a-z_]+)"', rule["expr"])
            calls = re.findall(rf'log\.(\w+)\(\s*"{event}"', source)
            assert calls, f"{rule['alert']}: {service} never logs {event}"
            (selector,) = stream_selectors(rule["expr"])
            assert selector["service"] == service
            levels = set(selector["level"].split("|"))
            logged = {"error" if c == "exception" else c for c in calls}
            assert logged <= levels, (rule["alert"], logged, levels)
            assert rule["annotations"]["runbook"].startswith(f"docs/runbooks/{service}.md#")


# --- scrape configs -----------------------------------------------------------------------------


def test_compose_scrape_targets_are_the_compose_processes(compose: dict[str, Any]) -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    targets = {
        target: group["labels"]["process"]
        for job in config["scrape_configs"]
        if job["job_name"].startswith("scifikpi")
        for group in job["static_configs"]
        for target in group["targets"]
    }
    assert set(targets.values()) == {
        "auth-api",
        "auth-worker",
        "auth-relay",
        "gateway",
        "payments-api",
        "payments-worker",
        "payments-relay",
        "payments-scheduler",
        "mining-api",
        "ledger-api",
        "nft-api",
    } | set(METRICS_PORTS)
    for target, process in targets.items():
        host, port = target.split(":")
        assert host == process and host in compose["services"]
        env = compose["services"][host]["environment"]
        assert port in {
            str(v) for k, v in env.items() if k.endswith(("_HTTP_PORT", "_METRICS_PORT"))
        }, target
        # Only the matching kind of port: APIs serve /metrics on HTTP, workers on METRICS_PORT.
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/observability/prometheus/rules:/etc/prometheus/rules:ro" in mounts
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_kubernetes_scrape_config_follows_the_chart_annotations() -> None:
    config = load_yaml(PROMETHEUS_K8S_CONFIG)
    (job,) = config["scrape_configs"]
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    relabels = job["relabel_configs"]
    keep = {tuple(r["source_labels"]): r["regex"] for r in relabels if r.get("action") == "keep"}
    assert keep[("__meta_kubernetes_pod_label_app_kubernetes_io_part_of",)] == "scifikpi"
    assert keep[("__meta_kubernetes_pod_annotation_prometheus_io_scrape",)] == "true"
    targets = {r.get("target_label") for r in relabels}
    assert {"__metrics_path__", "__address__"} <= targets
    address = next(r for r in relabels if r.get("target_label") == "__address__")
    assert (
        re.sub(address["regex"], address["replacement"].replace("$", "\\"), "10.1.2.3:8001;9101")
        == "10.1.2.3:9101"
    )


# --- Loki -----------------------------------------------------------------------------------------


def alloy_labels() -> set[str]:
    text = ALLOY_CONFIG.read_text()
    labels = set(re.findall(r'target_label\s*=\s*"(\w+)"', text))
    stage = re.search(r"stage\.labels\s*\{\s*values\s*=\s*\{([^}]*)\}", text)
    assert stage, "no stage.labels in the Alloy pipeline"
    labels |= set(re.findall(r"(\w+)\s*=", stage.group(1)))
    return labels


def stream_selectors(logql: str) -> list[dict[str, str]]:
    selectors = []
    for body in re.findall(r"\{([^{}]*)\}", logql):
        if "=" not in body:
            continue
        matchers = dict(re.findall(r'(\w+)\s*(?:=~|!=|!~|=)\s*"([^"]*)"', body))
        selectors.append(matchers)
    return selectors


def test_loki_rules_use_labels_that_alloy_sets() -> None:
    labels = alloy_labels()
    assert {"service", "level", "container"} <= labels
    loki_rules = rules(LOKI_RULES)
    assert loki_rules
    for rule in loki_rules:
        assert "alert" in rule and rule["labels"]["severity"] in SEVERITIES
        selectors = stream_selectors(rule["expr"])
        assert selectors, rule["alert"]
        for matchers in selectors:
            assert set(matchers) <= labels, (
                f"{rule['alert']}: {set(matchers) - labels} is never set by Alloy"
            )
            for level in re.split(r"\|", matchers.get("level", "")):
                assert not level or level in STRUCTLOG_LEVELS, level
        assert re.search(r"\b(rate|count_over_time|sum)\b", rule["expr"])
    assert any("error" in r["expr"] for r in loki_rules), "an error-rate rule per service"


def test_loki_config_fits_the_compose_stack(compose: dict[str, Any]) -> None:
    config = load_yaml(LOKI_CONFIG)
    assert config["auth_enabled"] is False
    (schema,) = config["schema_config"]["configs"]
    assert (schema["store"], schema["schema"]) == ("tsdb", "v13")
    ruler = config["ruler"]
    rules_dir = ruler["storage"]["local"]["directory"]
    loki = compose["services"]["loki"]
    # Without auth the tenant is "fake": rules live in <directory>/fake/.
    assert f"./deploy/observability/loki/rules:{rules_dir}/fake:ro" in loki["volumes"]
    assert "-config.file=/etc/loki/loki.yml" in loki["command"]
    assert ruler["alertmanager_url"].split("//", 1)[1].split(":")[0] in compose["services"]
    assert config["server"]["http_listen_port"] == 3100


def test_alloy_pipeline_is_wired() -> None:
    text = ALLOY_CONFIG.read_text()
    code = re.sub(r"^\s*//[^\n]*", "", text, flags=re.MULTILINE)  # whole-line comments
    assert code.count("{") == code.count("}")
    declared = set(re.findall(r'^([a-z_]+\.[a-z_]+)\s+"([a-z_]+)"\s*\{', code, flags=re.MULTILINE))
    assert declared
    references = set(
        re.findall(r"\b([a-z_]+\.[a-z_]+)\.([a-z_]+)\.(?:targets|rules|receiver)\b", code)
    )
    assert references and references <= declared, references - declared
    assert 'url = "http://loki:3100/loki/api/v1/push"' in code
    assert "com.docker.compose.project=scifikpi" in code


# --- Grafana --------------------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_exprs(datasource_type: str) -> list[str]:
    out = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            if (target.get("datasource") or panel["datasource"])["type"] == datasource_type:
                expr = target["expr"].replace("$__rate_interval", "5m").replace("$__range", "1h")
                out.append(expr.replace("$service", ".+"))
    return out


def test_dashboard_is_valid_grafana_json() -> None:
    dash = dashboard()
    assert dash["uid"] == "scifikpi-overview" and dash["title"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dash["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, panel["title"]
    uids = {d["uid"] for d in load_yaml(DATASOURCES)["datasources"]}
    for panel in dash["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] in uids, panel["title"]
        assert panel["targets"], panel["title"]
    (variable,) = dash["templating"]["list"]
    assert variable["name"] == "service" and variable["datasource"]["uid"] in uids


def test_dashboard_shows_red_outbox_and_consumer_metrics(known_metrics: set[str]) -> None:
    used: set[str] = set()
    for expr in dashboard_exprs("prometheus"):
        names = promql_metric_names(expr)
        assert names, expr
        assert names <= known_metrics | PROMETHEUS_SYNTHETIC, names - known_metrics
        used |= names
    assert {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "outbox_backlog",
        "outbox_oldest_unpublished_age_seconds",
        "outbox_published_total",
        "events_consumed_total",
        "consumer_lag_messages",
        "dlq_messages_total",
    } <= used
    # Mining and ledger: what each consumed, rejected accelerations, their processes.
    exprs = " ".join(dashboard_exprs("prometheus"))
    for needle in ('events_consumed_total{service="ledger"}', 'events_consumed_total{service="mining"}',
                   'event_type="AccelerationRejected"', 'up{process=~"(mining|ledger)-'):  # fmt: skip
        assert needle in exprs, needle
    # nft: its routes (catalog, metadata), its outbox, its processes.
    for needle in ('http_requests_total{service="nft"}', 'outbox_published_total{service="nft"}',
                   'up{process=~"nft-(api|worker|relay|scheduler)"}'):  # fmt: skip
        assert needle in exprs, needle
    # ...and its chain engine: custody, mint/transfer outcomes, TON messages.
    assert {
        "nft_custody_balance_nano",
        "nft_custody_ready",
        "nft_mint_outcomes_total",
        "nft_transfer_outcomes_total",
        "nft_ton_messages_sent_total",
        "nft_ton_messages_settled_total",
        "nft_ton_messages_open",
    } <= used
    # Payment outcomes, webhooks, provider calls, stuck payments and refunds have panels.
    assert {
        "payments_outcomes_total",
        "payments_webhooks_total",
        "payments_provider_requests_total",
        "payments_provider_request_duration_seconds_bucket",
        "payments_unfinished_past_max_age",
        "payments_provider_events_oldest_unprocessed_age_seconds",
        "payments_refunds_total",
        "payments_reconciliations_total",
    } <= used
    labels = alloy_labels()
    loki = dashboard_exprs("loki")
    assert loki
    for expr in loki:
        for matchers in stream_selectors(expr):
            assert set(matchers) <= labels


def test_grafana_provisioning_matches_compose(compose: dict[str, Any]) -> None:
    sources = {d["uid"]: d for d in load_yaml(DATASOURCES)["datasources"]}
    for uid in ("prometheus", "loki"):
        host = sources[uid]["url"].split("//", 1)[1].split(":")[0]
        assert host in compose["services"]
    providers = load_yaml(
        OBSERVABILITY / "grafana" / "provisioning" / "dashboards" / "dashboards.yml"
    )["providers"]
    path = providers[0]["options"]["path"]
    assert (
        f"./deploy/observability/grafana/dashboards:{path}:ro"
        in compose["services"]["grafana"]["volumes"]
    )


def test_alertmanager_config() -> None:
    config = load_yaml(OBSERVABILITY / "alertmanager" / "alertmanager.yml")
    receivers = {r["name"] for r in config["receivers"]}
    assert config["route"]["receiver"] in receivers
    assert "service" in config["route"]["group_by"]
    amtool = shutil.which("amtool")
    if amtool:
        result = subprocess.run(  # noqa: S603 - promtool/amtool found on PATH, fixed arguments
            [amtool, "check-config", str(OBSERVABILITY / "alertmanager" / "alertmanager.yml")],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr


# --- nft alerts -----------------------------------------------------------------------------------


def nft_alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in group_rules(ALERT_RULES, "scifikpi-nft")}


def test_nft_alerts_cover_the_chain_engine() -> None:
    """Mint and transfer failures, a low or not-ready custody wallet, an unreachable chain,
    messages that never settle and no scheduler at all; each on a metric the nft service really
    exports, routed to nft and linked to its runbook."""
    from nft.chain import metrics

    alerts = nft_alerts()

    def on(metric: str, needle: str = "") -> list[str]:
        return [n for n, r in alerts.items() if metric in promql_metric_names(r["expr"])
                and needle in r["expr"]]  # fmt: skip

    assert on(f"{metrics.MINT_OUTCOMES._name}_total", 'outcome=~"failed_.*"'), "mint failures"
    assert on(f"{metrics.TRANSFER_OUTCOMES._name}_total", 'outcome=~"failed_.*"'), "transfers"
    assert on(metrics.CUSTODY_BALANCE._name, "< 5"), "custody balance below 5 TON"
    assert on(metrics.CUSTODY_READY._name, "== 0"), "custody not ready"
    assert on(f"{metrics.MESSAGES_SENT._name}_total", 'result="unavailable"'), "chain unavailable"
    assert on(metrics.OPEN_MESSAGES._name), "messages open too long"
    assert on(f"{metrics.MESSAGES_SETTLED._name}_total"), "...with none settling"
    assert [n for n, r in alerts.items() if 'up{process="nft-scheduler"}' in r["expr"]]
    for name, rule in alerts.items():
        assert rule["labels"]["service"] == "nft", name
        assert rule["annotations"]["runbook"].startswith("docs/runbooks/nft.md#"), name
    # The low-balance threshold is one documented constant (TON, the gauge is nanoTON).
    balance = alerts["NftCustodyBalanceLow"]
    assert "/ 1e9 < 5" in balance["expr"] and "5 TON" in balance["annotations"]["summary"]


def test_nft_alerts_match_label_values_the_service_emits() -> None:
    """`outcome`/`result`/`kind` matchers name values the nft code writes; failed_<cause> causes
    are ones the chain verdicts report."""
    source = "\n".join(p.read_text() for p in (REPO / "services" / "nft" / "src").rglob("*.py"))
    for name, rule in nft_alerts().items():
        for process in re.findall(r'process="([^"]+)"', rule["expr"]):
            assert process in METRICS_PORTS, (name, process)
        for label, value in re.findall(r'(outcome|result|kind)=~?"([^"]+)"', rule["expr"]):
            if value == "failed_.*":
                assert re.search(r'f"failed_\{|"failed_', source), (name, value)
                continue
            for one in value.split("|"):
                assert re.search(rf'["\']{re.escape(one)}["\']', source), (name, label, one)


def test_every_nft_alert_has_a_firing_and_a_quiet_promtool_case() -> None:
    tests = load_yaml(ALERT_TESTS)["tests"]
    fired, quiet = set(), set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    alerts = set(nft_alerts())
    assert len(alerts) >= 7
    assert not alerts - fired, f"no promtool case where these fire: {alerts - fired}"
    assert not alerts - quiet, f"no promtool case where these stay quiet: {alerts - quiet}"


def test_nft_log_alerts_match_lines_the_service_writes() -> None:
    """The Loki rule searches for `nft_mint_failed`, logged at error by the nft service."""
    source = "\n".join(p.read_text() for p in (REPO / "services" / "nft" / "src").rglob("*.py"))
    rules_ = group_rules(LOKI_RULES, "scifikpi-nft-logs")
    events = set()
    for rule in rules_:
        (event,) = re.findall(r'\|= "([a-z_]+)"', rule["expr"])
        events.add(event)
        calls = re.findall(rf'log\.(\w+)\(\s*"{event}"', source)
        assert calls, f"{rule['alert']}: nft never logs {event}"
        (selector,) = stream_selectors(rule["expr"])
        assert selector["service"] == "nft"
        assert {"error" if c == "exception" else c for c in calls} <= set(
            selector["level"].split("|")
        ), rule["alert"]
        assert rule["annotations"]["runbook"].startswith("docs/runbooks/nft.md#")
    assert "nft_mint_failed" in events
    # The other events the runbook starts from are logged as the alerts describe them.
    for event, level in (("custody_not_ready", "error"), ("chain_unavailable", "warning")):
        assert re.search(rf'log\.{level}\(\s*"{event}"', source), event


def test_compose_scrapes_the_nft_scheduler(compose: dict[str, Any]) -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    targets = {
        group["labels"]["process"]: group["targets"]
        for job in config["scrape_configs"]
        if job["job_name"] == "scifikpi-workers"
        for group in job["static_configs"]
    }
    assert targets["nft-scheduler"] == [f"nft-scheduler:{METRICS_PORTS['nft-scheduler']}"]
