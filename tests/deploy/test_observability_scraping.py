"""deploy/observability: what Prometheus scrapes.

In compose, the static targets are exactly the compose processes on their HTTP or metrics port
(nft-scheduler included), with the rules and Alertmanager mounted and wired; in Kubernetes, the
pod discovery config follows the chart's prometheus.io annotations.
"""

from __future__ import annotations

import re
from typing import Any

from _deploy_helpers import METRICS_PORTS, load_yaml
from _observability_helpers import PROMETHEUS_CONFIG, PROMETHEUS_K8S_CONFIG


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
        "analytics-api",
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


def test_compose_scrapes_the_nft_scheduler(compose: dict[str, Any]) -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    targets = {
        group["labels"]["process"]: group["targets"]
        for job in config["scrape_configs"]
        if job["job_name"] == "scifikpi-workers"
        for group in job["static_configs"]
    }
    assert targets["nft-scheduler"] == [f"nft-scheduler:{METRICS_PORTS['nft-scheduler']}"]


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
