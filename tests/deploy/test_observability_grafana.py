"""deploy/observability: the Grafana dashboard and provisioning.

The overview dashboard is valid Grafana JSON on provisioned datasources; its PromQL selects only
exported metrics and covers RED, outbox, consumer, payments and nft chain-engine metrics; its LogQL
only labels Alloy sets; datasources and the dashboards folder match the compose services and mounts.
"""

from __future__ import annotations

from typing import Any

from _deploy_helpers import OBSERVABILITY, PROMETHEUS_SYNTHETIC, load_yaml, promql_metric_names
from _observability_helpers import (
    DATASOURCES,
    alloy_labels,
    dashboard,
    dashboard_exprs,
    stream_selectors,
)


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
