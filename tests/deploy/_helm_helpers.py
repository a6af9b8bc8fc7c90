"""Helpers for the Helm chart checks (test_helm_*.py): the release, the values variants rendered,
rendering through Helm's own engine, and looking objects up in what was rendered.

Importable because tests/deploy/conftest.py puts this folder on sys.path; the rendered variants
themselves are session fixtures there (default_docs, production_docs, external_db_docs).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml
from _deploy_helpers import CHART_DIR, load_yaml

RELEASE = "scifikpi"
NAMESPACE = "scifikpi"
PRODUCTION_VALUES = CHART_DIR / "ci" / "production-values.yaml"
#: Custom resources: no bundled OpenAPI schema, checked structurally by test_helm_resources.py.
CUSTOM_KINDS = {
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("postgresql.cnpg.io/v1", "Database"),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"),
    ("barmancloud.cnpg.io/v1", "ObjectStore"),
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
}
# An external database instead of CloudNativePG, chart-made dev secrets: the other branches.
EXTERNAL_DB_VALUES: dict[str, Any] = {
    "global": {"environment": "staging"},
    "postgres": {"cnpg": {"enabled": False}, "external": {"host": "pg.internal.example"}},
    "networkPolicy": {"postgres": {"to": [{"ipBlock": {"cidr": "10.10.0.0/16"}}]}},
    "services": {
        "auth": {
            "secrets": {"create": True, "data": {"AUTH_ACCESS_TOKEN_TTL_S": "600"}},
            "database": {"password": "s3cret"},
        },
        "payments": {
            "secrets": {
                "create": True,
                "data": {
                    "PAYMENTS_STRIPE_API_KEY": "sk_test_dev",
                    "PAYMENTS_STRIPE_WEBHOOK_SECRET": "whsec_dev",
                    "PAYMENTS_YOOKASSA_SECRET_KEY": "test_dev",
                },
            },
            "database": {"password": "s3cret"},
        },
        "mining": {"database": {"password": "s3cret"}},
        "ledger": {"database": {"password": "s3cret"}},
        "nft": {
            "secrets": {"create": True, "data": {"NFT_CUSTODY_PRIVATE_KEY": "cd" * 32}},
            "database": {"password": "s3cret"},
        },
    },
}
#: The provider secrets payments cannot start without (never values in the chart).
PAYMENTS_SECRET_KEYS = {
    "PAYMENTS_STRIPE_API_KEY",
    "PAYMENTS_STRIPE_WEBHOOK_SECRET",
    "PAYMENTS_YOOKASSA_SECRET_KEY",
}
#: What the payments Secret holds in production (made outside the chart, e.g. External Secrets).
PRODUCTION_PAYMENTS_SECRETS = {
    "PAYMENTS_STRIPE_API_KEY": "sk_live_51Example",
    "PAYMENTS_STRIPE_WEBHOOK_SECRET": "whsec_live_example",
    "PAYMENTS_YOOKASSA_SECRET_KEY": "live_example",
}
PAYMENTS_DEPLOYMENTS = {f"scifikpi-payments-{c}" for c in ("api", "worker", "relay", "scheduler")}
MINING_DEPLOYMENTS = {f"scifikpi-mining-{c}" for c in ("api", "worker", "relay", "scheduler")}
LEDGER_DEPLOYMENTS = {f"scifikpi-ledger-{c}" for c in ("api", "worker", "relay", "scheduler")}
NFT_DEPLOYMENTS = {f"scifikpi-nft-{c}" for c in ("api", "worker", "relay", "scheduler")}
#: analytics publishes nothing and has no time-driven work: no relay, no scheduler.
ANALYTICS_DEPLOYMENTS = {f"scifikpi-analytics-{c}" for c in ("api", "worker")}
#: Services whose pods read an application Secret (envFrom); mining and ledger need none.
SERVICES_WITH_SECRETS = ("auth", "payments", "nft")
#: nft's custody key, in production a Secret made outside the chart (64 hex chars).
PRODUCTION_NFT_SECRETS = {"NFT_CUSTODY_PRIVATE_KEY": "5e" * 32}
#: A TON global config as the liteserver ConfigMap holds it (the shape nft.ton.lite checks).
TON_GLOBAL_CONFIG = {
    "liteservers": [
        {
            "ip": 84478511,
            "port": 19949,
            "id": {"key": "n4VDnSCUuSpjnCyUk9e3QOOd6o0ItSWYbTnW3Wnn8wk="},
        }
    ],
    "validator": {
        "init_block": {
            "workchain": -1,
            "shard": -9223372036854775808,
            "seqno": 1,
            "root_hash": "F6OpKZKqvqeFp6CQmFomXNMfMj2EnLUiinSTXMdGuNM=",
            "file_hash": "XplPz01CXAps5qeSWUtxcyBfdAo5zVb1N979KLSKD24=",
        }
    },
}
#: Pod, Service, node and link-local (cloud metadata) ranges egress to the internet must exclude.
CLUSTER_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")


def kube_versions() -> list[str]:
    """The chart's minimum Kubernetes version and the newest schema set bundled."""
    minimum = re.search(r"(\d+\.\d+)", load_yaml(CHART_DIR / "Chart.yaml")["kubeVersion"]).group(1)
    bundled = kubernetes_validate.utils.all_versions()
    return sorted({minimum, bundled[-1]}, key=lambda v: tuple(map(int, v.split(".")[:2])))


def render(chart: helm.Chart, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object the chart renders for `values` (NOTES.txt left out)."""
    rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    docs = []
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            continue
        docs += [doc for doc in yaml.safe_load_all(text) if doc]
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_templates(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`Kind/name` -> pod template of every Deployment and Job."""
    return {
        f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]
        for d in docs
        if d["kind"] in {"Deployment", "Job"}
    }


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels, In/NotIn expressions) selects `labels`."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value = labels.get(expr["key"])
        if expr["operator"] == "In" and value not in expr["values"]:
            return False
        if expr["operator"] == "NotIn" and value in expr["values"]:
            return False
    return True


def container_env(
    doc_template: dict[str, Any], configmaps: dict[str, Any], secrets: dict[str, dict[str, str]]
) -> dict[str, str]:
    """The environment Kubernetes would give the container (envFrom, then env with $(VAR))."""
    (container,) = doc_template["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(configmaps[source["configMapRef"]["name"]]["data"])
        else:
            env.update(secrets[source["secretRef"]["name"]])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], item["value"])
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
    return env


def ingress_peers(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """Every `from` peer of a NetworkPolicy's ingress rules."""
    return [peer for rule in policy["spec"].get("ingress", []) for peer in rule.get("from", [])]


def ip_blocks_admit(blocks: list[dict[str, Any]], address: str) -> bool:
    """Whether `address` is inside one of the ipBlock peers and outside its `except` ranges."""
    ip = ipaddress.ip_address(address)
    return any(
        ip in ipaddress.ip_network(b["cidr"])
        and not any(ip in ipaddress.ip_network(e) for e in b.get("except", []))
        for b in blocks
    )


def nft_scheduler_pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The pod template of the nft scheduler (the chain engine)."""
    return by_kind(docs, "Deployment")["scifikpi-nft-scheduler"]["spec"]["template"]
