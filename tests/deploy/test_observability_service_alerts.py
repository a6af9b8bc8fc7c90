"""deploy/observability: the alerts of payments, mining, ledger, nft and analytics.

Each service's alerts cover its failure modes on metrics it really exports, match only label values
its code writes (a typo would never fire), route to the service and link its runbook, and have a
promtool case where they fire and one where they stay quiet; its Loki log alerts search for event
names its code logs, at the level the rule selects.
"""

from __future__ import annotations

import re

from _deploy_helpers import DB_SERVICES, METRICS_PORTS, promql_metric_names
from _observability_helpers import (
    LOKI_RULES,
    analytics_alerts,
    group_rules,
    mining_ledger_alerts,
    nft_alerts,
    payments_alerts,
    promtool_cases,
    service_source,
    stream_selectors,
)


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
    source = service_source("payments")
    for name, rule in payments_alerts().items():
        for label, values in re.findall(r'(outcome|result|status)=~?"([^"]+)"', rule["expr"]):
            for value in values.split("|"):
                assert re.search(rf'["\']{re.escape(value)}["\']', source), (name, label, value)


def test_every_payments_alert_has_a_firing_and_a_quiet_promtool_case() -> None:
    fired, quiet = promtool_cases()
    missing_fire = set(payments_alerts()) - fired
    missing_quiet = set(payments_alerts()) - quiet
    assert not missing_fire, f"no promtool case where these fire: {missing_fire}"
    assert not missing_quiet, f"no promtool case where these stay quiet: {missing_quiet}"


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
            source = service_source(service)
            assert re.search(rf"\b{event_type}\b", source), f"{service} never handles {event_type}"


def test_every_mining_and_ledger_alert_has_a_firing_and_a_quiet_promtool_case() -> None:
    fired, quiet = promtool_cases()
    alerts = set(mining_ledger_alerts())
    assert not alerts - fired, f"no promtool case where these fire: {alerts - fired}"
    assert not alerts - quiet, f"no promtool case where these stay quiet: {alerts - quiet}"


def test_mining_and_ledger_log_alerts_match_lines_the_services_write() -> None:
    """Each Loki rule of the two services searches for an event name its code logs, at the level
    the rule selects (a renamed log event would silently never fire)."""
    for group, service in (("scifikpi-ledger-logs", "ledger"), ("scifikpi-mining-logs", "mining")):
        source = service_source(service)
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
    source = service_source("nft")
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
    fired, quiet = promtool_cases()
    alerts = set(nft_alerts())
    assert len(alerts) >= 7
    assert not alerts - fired, f"no promtool case where these fire: {alerts - fired}"
    assert not alerts - quiet, f"no promtool case where these stay quiet: {alerts - quiet}"


def test_nft_log_alerts_match_lines_the_service_writes() -> None:
    """The Loki rule searches for `nft_mint_failed`, logged at error by the nft service."""
    source = service_source("nft")
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


def test_analytics_alerts_cover_lag_skipped_events_and_a_missing_worker() -> None:
    """Lag (stale figures), events a strict projection skipped and no worker at all, on the
    common series with service="analytics", routed to analytics and linked to its runbook; each
    with a promtool case where it fires and one where it stays quiet."""
    alerts = analytics_alerts()

    def on(metric: str, needle: str) -> list[str]:
        return [n for n, r in alerts.items() if metric in promql_metric_names(r["expr"])
                and needle in r["expr"]]  # fmt: skip

    assert on("consumer_lag_messages", 'service="analytics"'), "lag"
    assert on("events_skipped_total", 'service="analytics"'), "skipped events"
    assert [n for n, r in alerts.items() if 'up{process="analytics-worker"}' in r["expr"]]
    for name, rule in alerts.items():
        assert rule["labels"]["service"] == "analytics", name
        assert rule["annotations"]["runbook"].startswith("docs/runbooks/analytics.md#"), name
        for process in re.findall(r'process="([^"]+)"', rule["expr"]):
            assert process in METRICS_PORTS, (name, process)
    # The `reason` values a strict consumer writes (scifikpi_common.messaging.handling).
    from pathlib import Path

    import scifikpi_common.messaging.handling as handling

    source = Path(handling.__file__).read_text()
    assert '"unknown-type"' in source and '"newer-schema-version"' in source
    fired, quiet = promtool_cases()
    assert not set(alerts) - fired, f"no promtool case where these fire: {set(alerts) - fired}"
    assert not set(alerts) - quiet, (
        f"no promtool case where these stay quiet: {set(alerts) - quiet}"
    )
