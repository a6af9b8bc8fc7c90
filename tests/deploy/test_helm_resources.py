"""deploy/helm/scifikpi: the custom resources, checked structurally (no bundled schema).

CloudNativePG: a three-instance cluster with one role and schema per service, WAL archiving and
scheduled backups through the Barman Cloud plugin, nothing of it with an external database.
Strimzi: a KafkaTopic (and its DLQ) for every event topic, opt-in. Prometheus Operator: PodMonitors
that scrape each process's metrics port and label it `process`.
"""

from __future__ import annotations

import re

from _deploy_helpers import DB_SERVICES
from _helm_helpers import by_kind, pod_templates, selects


def test_cloudnativepg_cluster_with_replicas_and_scheduled_backups(default_docs: list) -> None:
    (cluster,) = by_kind(default_docs, "Cluster").values()
    spec = cluster["spec"]
    assert spec["instances"] == 3
    assert cluster["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert spec["affinity"]["enablePodAntiAffinity"] is True
    assert spec["bootstrap"]["initdb"]["database"] == "scifikpi"
    roles = {r["name"]: r for r in spec["managed"]["roles"]}
    assert set(roles) == set(DB_SERVICES)
    sql = spec["bootstrap"]["initdb"]["postInitApplicationSQL"]
    for role in DB_SERVICES:
        assert roles[role]["login"] is True and roles[role]["ensure"] == "present"
        assert roles[role]["passwordSecret"]["name"] == f"scifikpi-{role}-db"
        assert f'CREATE ROLE "{role}" NOLOGIN' in sql
        assert f'GRANT CONNECT, CREATE ON DATABASE "scifikpi" TO "{role}"' in sql
        assert f'ALTER ROLE "{role}" SET search_path = "{role}"' in sql
    (plugin,) = spec["plugins"]
    assert plugin["name"] == "barman-cloud.cloudnative-pg.io" and plugin["isWALArchiver"] is True
    (store,) = by_kind(default_docs, "ObjectStore").values()
    assert plugin["parameters"]["barmanObjectName"] == store["metadata"]["name"]
    assert store["spec"]["configuration"]["destinationPath"].startswith("s3://")
    assert re.fullmatch(r"\d+[dwm]", store["spec"]["retentionPolicy"])
    (backup,) = by_kind(default_docs, "ScheduledBackup").values()
    assert backup["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert backup["spec"]["method"] == "plugin"
    assert backup["spec"]["pluginConfiguration"]["name"] == plugin["name"]
    assert len(backup["spec"]["schedule"].split()) == 6, "CloudNativePG cron has a seconds field"
    (database,) = by_kind(default_docs, "Database").values()
    assert database["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    for role in DB_SERVICES:
        assert {"name": role, "owner": role, "ensure": "present"} in database["spec"]["schemas"]
    # The pods reach the cluster's read-write Service.
    assert "@" + cluster["metadata"]["name"] + "-rw:" in str(
        by_kind(default_docs, "Deployment")["scifikpi-auth-api"]
    )


def test_no_database_objects_with_an_external_database(external_db_docs: list) -> None:
    kinds = {d["kind"] for d in external_db_docs}
    assert not kinds & {"Cluster", "ScheduledBackup", "ObjectStore", "Database"}


def test_strimzi_topics_cover_every_event_topic(production_docs: list, default_docs: list) -> None:
    from scifikpi_common.events import ALL_EVENTS

    topics = by_kind(production_docs, "KafkaTopic")
    expected = {cls.TOPIC for cls in ALL_EVENTS.values()}
    expected |= {f"{t}.dlq" for t in expected}
    assert {t["spec"]["topicName"] for t in topics.values()} == expected
    for topic in topics.values():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "scifikpi"
        assert topic["metadata"]["namespace"] == "kafka"
        assert topic["spec"]["partitions"] == 12 and topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == "2"
    assert by_kind(default_docs, "KafkaTopic") == {}, "Strimzi topics are opt-in"


def test_pod_monitors_cover_api_and_worker_ports(production_docs: list) -> None:
    monitors = by_kind(production_docs, "PodMonitor")
    assert set(monitors) == {
        "scifikpi-auth",
        "scifikpi-gateway",
        "scifikpi-payments",
        "scifikpi-mining",
        "scifikpi-ledger",
        "scifikpi-nft",
        "scifikpi-analytics",
        "scifikpi-pg",
    }
    templates = pod_templates(production_docs)
    for name in monitors.keys() - {"scifikpi-pg"}:
        monitor = monitors[name]
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        ports = {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]}
        # `process` = <service>-<component>, as the compose and annotation scrape configs label
        # targets (the scheduler alerts select it).
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            assert endpoint["relabelings"] == [
                {
                    "sourceLabels": [
                        "__meta_kubernetes_pod_label_app_kubernetes_io_name",
                        "__meta_kubernetes_pod_label_app_kubernetes_io_component",
                    ],
                    "separator": "-",
                    "targetLabel": "process",
                }
            ]
        for template in templates.values():
            labels = template["metadata"]["labels"]
            if (
                selects(monitor["spec"]["selector"], labels)
                and labels["app.kubernetes.io/component"] != "migrate"
            ):
                container_ports = {p["name"] for p in template["spec"]["containers"][0]["ports"]}
                assert container_ports & ports, labels
    for template in templates.values():
        assert "prometheus.io/scrape" not in template["metadata"].get("annotations", {})
