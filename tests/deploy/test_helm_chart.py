"""deploy/helm/scifikpi: lint, values schema, render, and validate every manifest offline.

Rendering goes through Helm's own engine (helm-python-sdk binds the Helm v4 Go SDK); each
built-in object is validated with kubernetes-validate against the bundled OpenAPI schemas of the
oldest Kubernetes the chart supports and of the newest bundled one. Custom resources (CloudNativePG,
Strimzi, Prometheus Operator) have no bundled schema: they are checked structurally here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from _deploy_helpers import (
    CHART_DIR,
    DB_SERVICES,
    METRICS_PORTS,
    MINING_POWER_VARS,
    SETTINGS_PREFIXES,
    load_yaml,
)
from kubernetes_validate.utils import SchemaNotFoundError

RELEASE = "scifikpi"
NAMESPACE = "scifikpi"
PRODUCTION_VALUES = CHART_DIR / "ci" / "production-values.yaml"
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


def kube_versions() -> list[str]:
    """The chart's minimum Kubernetes version and the newest schema set bundled."""
    minimum = re.search(r"(\d+\.\d+)", load_yaml(CHART_DIR / "Chart.yaml")["kubeVersion"]).group(1)
    bundled = kubernetes_validate.utils.all_versions()
    return sorted({minimum, bundled[-1]}, key=lambda v: tuple(map(int, v.split(".")[:2])))


@pytest.fixture(scope="module")
def chart() -> helm.Chart:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def render(chart: helm.Chart, values: dict[str, Any]) -> list[dict[str, Any]]:
    rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    docs = []
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            continue
        docs += [doc for doc in yaml.safe_load_all(text) if doc]
    return docs


@pytest.fixture(scope="module")
def production_values() -> dict[str, Any]:
    return load_yaml(PRODUCTION_VALUES)


@pytest.fixture(scope="module")
def default_docs(chart: helm.Chart) -> list[dict[str, Any]]:
    return render(chart, {})


@pytest.fixture(scope="module")
def production_docs(chart: helm.Chart, production_values: dict[str, Any]) -> list[dict[str, Any]]:
    return render(chart, production_values)


@pytest.fixture(scope="module")
def external_db_docs(chart: helm.Chart) -> list[dict[str, Any]]:
    return render(chart, EXTERNAL_DB_VALUES)


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_templates(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]
        for d in docs
        if d["kind"] in {"Deployment", "Job"}
    }


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value = labels.get(expr["key"])
        if expr["operator"] == "In" and value not in expr["values"]:
            return False
        if expr["operator"] == "NotIn" and value in expr["values"]:
            return False
    return True


# --- lint and values schema ---------------------------------------------------------------------


@pytest.mark.parametrize("values_name", ["default", "production", "external-db"])
def test_chart_lints_clean(values_name: str, production_values: dict[str, Any]) -> None:
    values = {"default": {}, "production": production_values, "external-db": EXTERNAL_DB_VALUES}[
        values_name
    ]
    report = helm.lint(CHART_DIR, values, strict=True, namespace=NAMESPACE)
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report["messages"]


def test_values_schema_is_a_valid_json_schema() -> None:
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [
            sys.executable, "-m", "check_jsonschema", "--check-metaschema",
            str(CHART_DIR / "values.schema.json"),
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_values_files_satisfy_the_schema(
    chart: helm.Chart, production_values: dict[str, Any]
) -> None:
    assert chart.schema is not None
    chart.validate_schema({})
    chart.validate_schema(production_values)
    chart.validate_schema(EXTERNAL_DB_VALUES)


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"services": {"auth": {"worker": {"replcas": 3}}}}, "replcas"),
        ({"global": {"environment": "prod"}}, "environment"),
        ({"containerSecurityContext": {"readOnlyRootFilesystem": False}}, "readOnlyRootFilesystem"),
        ({"podSecurityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
        ({"kafka": {"bootstrapServers": "kafka"}}, "bootstrapServers"),
        ({"services": {"auth": {"api": {"pdb": {"minAvailable": 1, "maxUnavailable": 1}}}}}, "pdb"),
        ({"global": {"fxRates": {"USD": 1.0}}}, "fxRates"),
        ({"services": {"payments": {"scheduler": {"replcas": 3}}}}, "replcas"),
        ({"services": {"payments": {"secrets": {"keys": ["stripe-key"]}}}}, "stripe-key"),
        ({"services": {"payments": {"externalEgress": {"components": ["web"]}}}}, "components"),
        ({"services": {"payments": {"externalEgress": {"ports": [0]}}}}, "externalEgress/ports"),
        (
            {"global": {"sharedEnv": {"miningPower": {"MINING_R_BASE_MICRO_PER_HOUR": "1.5"}}}},
            "MINING_R_BASE_MICRO_PER_HOUR",
        ),
        ({"global": {"sharedEnv": {"miningPower": {"MINING_R_MAX": "1"}}}}, "MINING_R_MAX"),
        ({"services": {"ledger": {"sharedEnv": ["mining-power"]}}}, "sharedEnv"),
        ({"services": {"mining": {"scheduler": {"replcas": 3}}}}, "replcas"),
        ({"services": {"nft": {"ton": {"network": "devnet"}}}}, "network"),
        ({"services": {"nft": {"ton": {"netwrk": "testnet"}}}}, "netwrk"),
        (
            {
                "services": {
                    "nft": {
                        "ton": {
                            "network": "mainnet",
                            "liteserverConfig": {"existingConfigMap": "ton", "json": "{}"},
                        }
                    }
                }
            },
            "liteserverConfig",
        ),
        ({"services": {"nft": {"externalEgress": {"anyPort": "yes"}}}}, "anyPort"),
    ],
)
def test_schema_rejects_bad_values(
    chart: helm.Chart, values: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(helm.HelmValuesError, match=complaint):
        chart.validate_schema(values)
    with pytest.raises(helm.HelmError):
        chart.render(values, name=RELEASE, namespace=NAMESPACE)


# --- every manifest is a valid Kubernetes object --------------------------------------------------


@pytest.mark.parametrize("variant", ["default", "production", "external-db"])
def test_every_rendered_manifest_validates(
    variant: str, default_docs: list, production_docs: list, external_db_docs: list
) -> None:
    docs = {
        "default": default_docs,
        "production": production_docs,
        "external-db": external_db_docs,
    }[variant]
    assert len(docs) > 15
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names)), "duplicate objects"
    custom = 0
    for doc in docs:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", doc["metadata"]["name"]), doc[
            "metadata"
        ]["name"]
        assert len(doc["metadata"]["name"]) <= 63
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            custom += 1
            continue
        for version in kube_versions():
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                pytest.fail(
                    f"{doc['kind']}/{doc['metadata']['name']} invalid for {version}: "
                    f"{path}: {exc.message}"
                )
            except SchemaNotFoundError:
                pytest.fail(
                    f"{doc['apiVersion']} {doc['kind']} is not an API of Kubernetes {version}"
                )
    assert custom == sum((d["apiVersion"], d["kind"]) in CUSTOM_KINDS for d in docs)


def test_validator_rejects_a_broken_manifest(default_docs: list) -> None:
    """kubernetes-validate in strict mode bites: a misspelt field fails."""
    deployment = next(d for d in default_docs if d["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kube_versions()[-1], strict=True)


# --- per-service objects --------------------------------------------------------------------------


def test_each_service_gets_its_deployments_service_hpa_and_pdb(default_docs: list) -> None:
    deployments = by_kind(default_docs, "Deployment")
    hpas = by_kind(default_docs, "HorizontalPodAutoscaler")
    pdbs = by_kind(default_docs, "PodDisruptionBudget")
    services = by_kind(default_docs, "Service")
    assert (
        set(deployments)
        == {
            "scifikpi-auth-api",
            "scifikpi-auth-worker",
            "scifikpi-auth-relay",
            "scifikpi-gateway-api",
        }
        | PAYMENTS_DEPLOYMENTS
        | MINING_DEPLOYMENTS
        | LEDGER_DEPLOYMENTS
        | NFT_DEPLOYMENTS
    )
    assert set(services) == {
        "scifikpi-auth-api",
        "scifikpi-gateway-api",
        "scifikpi-payments-api",
        "scifikpi-mining-api",
        "scifikpi-ledger-api",
        "scifikpi-nft-api",
    }
    assert {
        "scifikpi-auth-api",
        "scifikpi-auth-worker",
        "scifikpi-gateway-api",
        "scifikpi-payments-api",
        "scifikpi-payments-worker",
        "scifikpi-mining-api",
        "scifikpi-mining-worker",
        "scifikpi-ledger-api",
        "scifikpi-ledger-worker",
        "scifikpi-nft-api",
        "scifikpi-nft-worker",
    } <= set(hpas)
    assert set(pdbs) == set(deployments)
    for name, hpa in hpas.items():
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] == name
        assert "replicas" not in deployments[name]["spec"], (
            f"{name}: the HPA owns the replica count"
        )
        assert hpa["spec"]["minReplicas"] >= 2
    for name, pdb in pdbs.items():
        assert selects(
            pdb["spec"]["selector"], deployments[name]["spec"]["template"]["metadata"]["labels"]
        )
        others = [n for n, d in deployments.items() if n != name]
        assert not any(
            selects(
                pdb["spec"]["selector"], deployments[o]["spec"]["template"]["metadata"]["labels"]
            )
            for o in others
        )
    for name, svc in services.items():
        pods = [
            n
            for n, d in deployments.items()
            if selects(
                {"matchLabels": svc["spec"]["selector"]},
                d["spec"]["template"]["metadata"]["labels"],
            )
        ]
        assert pods == [name], f"Service {name} selects {pods}"
    # The nft chain engine: one active (advisory lock), extra replicas only stand by: 1, no HPA.
    assert "scifikpi-nft-scheduler" not in hpas
    assert deployments["scifikpi-nft-scheduler"]["spec"]["replicas"] == 1
    # The relay is one active publisher (advisory lock) plus a standby: no HPA, fixed replicas.
    # The scheduler shares its work through row locks and leases: two for availability, no HPA
    # (its load is provider and database round trips, not CPU).
    # mining-scheduler (due sessions) and ledger-scheduler (expired holds) likewise: any number of
    # replicas may run, each piece of work is done exactly once.
    fixed = {
        f"scifikpi-{s}-{c}"
        for s in ("payments", "mining", "ledger")
        for c in ("relay", "scheduler")
    }
    for name in fixed | {"scifikpi-auth-relay", "scifikpi-nft-relay"}:
        assert name not in hpas
        assert deployments[name]["spec"]["replicas"] == 2


def test_processes_run_their_console_scripts(default_docs: list) -> None:
    from _deploy_helpers import console_scripts

    for name, template in pod_templates(default_docs).items():
        (container,) = template["spec"]["containers"]
        service = template["metadata"]["labels"]["app.kubernetes.io/name"]
        component = template["metadata"]["labels"]["app.kubernetes.io/component"]
        image = container["image"]
        assert image == f"ghcr.io/scifikpi/{service}:0.1.0", image
        if component == "migrate":
            assert container["command"] == [
                "alembic",
                "-c",
                f"services/{service}/alembic.ini",
                "upgrade",
                "head",
            ]
        else:
            assert container["command"] == [f"{service}-{component}"], name
            assert container["command"][0] in console_scripts(service)
    # Every long-lived process of payments, mining and ledger runs (`*-admin` is run by hand).
    for service in ("payments", "mining", "ledger"):
        components = {
            t["metadata"]["labels"]["app.kubernetes.io/component"]
            for t in pod_templates(default_docs).values()
            if t["metadata"]["labels"]["app.kubernetes.io/name"] == service
        }
        assert components == {"api", "worker", "relay", "scheduler", "migrate"}, service
        assert {f"{service}-{c}" for c in components - {"migrate"}} == {
            s for s in console_scripts(service) if not s.endswith("-admin")
        }, service
    # nft: api, worker, relay and the scheduler (chain engine); nft-admin is run by hand in the
    # scheduler's pod.
    components = {
        t["metadata"]["labels"]["app.kubernetes.io/component"]
        for t in pod_templates(default_docs).values()
        if t["metadata"]["labels"]["app.kubernetes.io/name"] == "nft"
    }
    assert components == {"api", "worker", "relay", "scheduler", "migrate"}
    assert {f"nft-{c}" for c in components - {"migrate"}} == {
        s for s in console_scripts("nft") if not s.endswith("-admin")
    }
    assert "nft-admin" in console_scripts("nft")


def test_pods_are_hardened(production_docs: list) -> None:
    templates = pod_templates(production_docs)
    # auth api/worker/relay/migrate + payments, mining and ledger api/worker/relay/scheduler/migrate
    # + nft api/worker/relay/scheduler/migrate + gateway api
    assert len(templates) == 25
    for name, template in templates.items():
        spec = template["spec"]
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] >= 1000
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in sc["capabilities"]
            resources = container["resources"]
            assert resources["requests"]["cpu"] and resources["requests"]["memory"], name
            assert resources["limits"]["memory"], name
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            if name == "Deployment/scifikpi-nft-scheduler":
                # ...plus the TON liteserver config, read-only (production: mainnet).
                assert mounts == {"/tmp", "/etc/scifikpi/ton"}  # noqa: S108
                (ton,) = [m for m in container["volumeMounts"] if m["name"] == "ton-config"]
                assert ton["readOnly"] is True
            else:
                assert mounts == {"/tmp"}, name  # noqa: S108
        assert spec["imagePullSecrets"] == [{"name": "registry-credentials"}]


def test_probes(default_docs: list) -> None:
    for name, template in pod_templates(default_docs).items():
        (container,) = template["spec"]["containers"]
        component = template["metadata"]["labels"]["app.kubernetes.io/component"]
        if component == "api":
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
            assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
            assert template["metadata"]["annotations"]["prometheus.io/port"] == str(ports["http"])
            assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "python"
        elif component in {"worker", "relay", "scheduler"}:
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert container[probe]["tcpSocket"] == {"port": "metrics"}, name
            assert template["metadata"]["annotations"]["prometheus.io/port"] == str(
                ports["metrics"]
            )
            process = name.removeprefix("Deployment/scifikpi-")
            assert ports["metrics"] == METRICS_PORTS[process], name
        else:
            assert component == "migrate"
            assert not {"livenessProbe", "readinessProbe", "ports"} & set(container)


def _container_env(
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


def _settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], cls: type) -> Any:
    for key in list(os.environ):
        if key.startswith(SETTINGS_PREFIXES) or key in {
            "DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "JWKS_URL", "ENVIRONMENT",
            "FX_RATES", "OTLP_ENDPOINT",
        }:  # fmt: skip
            monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return cls()


def test_rendered_environment_parses_into_the_services_settings(
    production_docs: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ConfigMap + Secrets + DATABASE_URL, as the pods get them, satisfy the settings classes in
    production mode (which refuses placeholder secrets)."""
    from auth.settings import AuthSettings
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from gateway.settings import GatewaySettings

    key = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    secrets = {
        "scifikpi-auth-secrets": {"AUTH_JWT_PRIVATE_KEY": key},
        "scifikpi-auth-db": {"username": "auth", "password": "Pw0rd"},
        "scifikpi-payments-secrets": PRODUCTION_PAYMENTS_SECRETS,
        "scifikpi-payments-db": {"username": "payments", "password": "Pw1rd"},
        "scifikpi-mining-db": {"username": "mining", "password": "Pw3rd"},
        "scifikpi-ledger-db": {"username": "ledger", "password": "Pw4rd"},
        "scifikpi-nft-db": {"username": "nft", "password": "Pw5rd"},
        "scifikpi-nft-secrets": PRODUCTION_NFT_SECRETS,
    }
    configmaps = by_kind(production_docs, "ConfigMap")
    templates = pod_templates(production_docs)
    services = by_kind(production_docs, "Service")

    api_env = _container_env(templates["Deployment/scifikpi-auth-api"], configmaps, secrets)
    auth = _settings(monkeypatch, api_env, AuthSettings)
    assert str(auth.environment) == "production"
    assert auth.database_url == "postgresql+asyncpg://auth:Pw0rd@scifikpi-pg-rw:5432/scifikpi"
    assert (auth.http_host, auth.http_port) == ("0.0.0.0", 8001)  # noqa: S104
    assert auth.kafka_bootstrap_servers == "scifikpi-kafka-bootstrap.kafka.svc:9093"
    assert auth.redis_url and auth.otlp_endpoint
    assert auth.trusted_proxies == ["10.244.0.0/16"]
    assert services["scifikpi-auth-api"]["spec"]["ports"][0]["port"] == auth.http_port

    for component, port in (("worker", 9101), ("relay", 9111)):
        env = _container_env(
            templates[f"Deployment/scifikpi-auth-{component}"], configmaps, secrets
        )
        assert _settings(monkeypatch, env, AuthSettings).metrics_port == port

    migrate_env = _container_env(templates["Job/scifikpi-auth-migrate"], configmaps, secrets)
    assert _settings(monkeypatch, migrate_env, AuthSettings).database_url == auth.database_url

    _check_payments_environment(templates, configmaps, secrets, services, monkeypatch)
    power = {
        svc: _check_mining_ledger_environment(
            svc, port, templates, configmaps, secrets, services, monkeypatch
        )
        for svc, port in (("mining", 8003), ("ledger", 8004))
    }
    assert power["mining"] == power["ledger"], "ledger and mining must agree on mining power"
    _check_nft_environment(templates, configmaps, secrets, services, monkeypatch)

    gw_env = _container_env(templates["Deployment/scifikpi-gateway-api"], configmaps, secrets)
    gateway = _settings(monkeypatch, gw_env, GatewaySettings)
    assert gateway.upstream_urls == {
        "auth": "http://scifikpi-auth-api:8001",
        "payments": "http://scifikpi-payments-api:8002",
        "mining": "http://scifikpi-mining-api:8003",
        "ledger": "http://scifikpi-ledger-api:8004",
        "nft": "http://scifikpi-nft-api:8005",
    }
    from gateway.routes import UPSTREAMS

    assert set(gateway.upstream_urls) == {u.name for u in UPSTREAMS}
    assert gateway.jwks_url == "http://scifikpi-auth-api:8001/.well-known/jwks.json"
    assert gateway.cors_allow_origins == ["https://app.scifikpi.com"]
    assert "KAFKA_BOOTSTRAP_SERVERS" not in gw_env, "the gateway does not talk to Kafka"


def _check_payments_environment(
    templates: dict[str, Any],
    configmaps: dict[str, Any],
    secrets: dict[str, dict[str, str]],
    services: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from payments.settings import YOOKASSA_PUBLISHED_NETWORKS, PaymentsSettings
    from payments.webhooks import client_ip, ip_allowed

    api_env = _container_env(templates["Deployment/scifikpi-payments-api"], configmaps, secrets)
    api = _settings(monkeypatch, api_env, PaymentsSettings)  # production: no placeholder passes
    assert str(api.environment) == "production"
    assert api.database_url == ("postgresql+asyncpg://payments:Pw1rd@scifikpi-pg-rw:5432/scifikpi")
    assert (api.http_host, api.http_port) == ("0.0.0.0", 8002)  # noqa: S104
    assert services["scifikpi-payments-api"]["spec"]["ports"][0]["port"] == api.http_port
    assert api.stripe_api_base == "https://api.stripe.com"
    assert api.yookassa_api_base == "https://api.yookassa.ru/v3"
    assert api.stripe_api_key.get_secret_value() == "sk_live_51Example"
    assert api.stripe_webhook_secrets == ["whsec_live_example"]
    assert api.yookassa_secret_key.get_secret_value() == "live_example"
    assert api.yookassa_shop_id == "512345", "production values name the shop"
    assert api.yookassa_return_url == "https://app.scifikpi.com/payments/return"
    assert api.kafka_bootstrap_servers == "scifikpi-kafka-bootstrap.kafka.svc:9093"
    # The allowlist in the chart is YooKassa's published list, as the settings know it.
    assert set(api.yookassa_ip_allowlist) == set(YOOKASSA_PUBLISHED_NETWORKS)
    # A notification from YooKassa through the ingress controller and the gateway: payments
    # believes the gateway pod's X-Forwarded-For and judges YooKassa's address.
    assert api.trusted_proxies == ["10.244.0.0/16"]
    source = client_ip("10.244.3.17", "185.71.76.5", api.trusted_proxy_networks)
    assert source == "185.71.76.5" and ip_allowed(source, api.yookassa_networks)
    assert not ip_allowed(client_ip("10.244.3.17", "203.0.113.9", api.trusted_proxy_networks),
                          api.yookassa_networks)  # fmt: skip
    for component in ("worker", "relay", "scheduler"):
        env = _container_env(
            templates[f"Deployment/scifikpi-payments-{component}"], configmaps, secrets
        )
        settings = _settings(monkeypatch, env, PaymentsSettings)
        assert settings.metrics_port == METRICS_PORTS[f"payments-{component}"]
        assert settings.database_url == api.database_url
    migrate_env = _container_env(templates["Job/scifikpi-payments-migrate"], configmaps, secrets)
    assert _settings(monkeypatch, migrate_env, PaymentsSettings).database_url == api.database_url


def _check_mining_ledger_environment(
    service: str,
    port: int,
    templates: dict[str, Any],
    configmaps: dict[str, Any],
    secrets: dict[str, dict[str, str]],
    services: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[int, int, int]:
    """Every process of mining/ledger parses its environment in production mode; returns the
    mining power constants it read."""
    from _deploy_helpers import settings_class

    cls = settings_class(service)
    api_env = _container_env(templates[f"Deployment/scifikpi-{service}-api"], configmaps, secrets)
    api = _settings(monkeypatch, api_env, cls)
    assert str(api.environment) == "production"
    assert api.database_url == (
        f"postgresql+asyncpg://{service}:{secrets[f'scifikpi-{service}-db']['password']}"
        "@scifikpi-pg-rw:5432/scifikpi"
    )
    assert (api.http_host, api.http_port) == ("0.0.0.0", port)  # noqa: S104
    assert services[f"scifikpi-{service}-api"]["spec"]["ports"][0]["port"] == api.http_port
    assert api.kafka_bootstrap_servers == "scifikpi-kafka-bootstrap.kafka.svc:9093"
    assert api.jwks_url == "http://scifikpi-auth-api:8001/.well-known/jwks.json"
    power = (
        api.mining_r_base_micro_per_hour,
        api.mining_r_per_usd_micro_per_hour,
        api.mining_r_max_micro_per_hour,
    )
    for component in ("worker", "relay", "scheduler"):
        env = _container_env(
            templates[f"Deployment/scifikpi-{service}-{component}"], configmaps, secrets
        )
        settings = _settings(monkeypatch, env, cls)
        assert settings.metrics_port == METRICS_PORTS[f"{service}-{component}"]
        assert settings.database_url == api.database_url
        assert (
            settings.mining_r_base_micro_per_hour,
            settings.mining_r_per_usd_micro_per_hour,
            settings.mining_r_max_micro_per_hour,
        ) == power
    migrate_env = _container_env(templates[f"Job/scifikpi-{service}-migrate"], configmaps, secrets)
    assert _settings(monkeypatch, migrate_env, cls).database_url == api.database_url
    return power


def _check_nft_environment(
    templates: dict[str, Any],
    configmaps: dict[str, Any],
    secrets: dict[str, dict[str, str]],
    services: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every process of nft parses its environment in production mode; the metadata URLs are
    under the gateway's public host."""
    from nft.settings import NftSettings

    api_env = _container_env(templates["Deployment/scifikpi-nft-api"], configmaps, secrets)
    api = _settings(monkeypatch, api_env, NftSettings)
    assert str(api.environment) == "production"
    assert api.database_url == "postgresql+asyncpg://nft:Pw5rd@scifikpi-pg-rw:5432/scifikpi"
    assert (api.http_host, api.http_port) == ("0.0.0.0", 8005)  # noqa: S104
    assert services["scifikpi-nft-api"]["spec"]["ports"][0]["port"] == api.http_port
    assert api.kafka_bootstrap_servers == "scifikpi-kafka-bootstrap.kafka.svc:9093"
    assert api.jwks_url == "http://scifikpi-auth-api:8001/.well-known/jwks.json"
    # Production values: the ingress host of the gateway, with /api/v1.
    assert api.public_base_url == "https://api.scifikpi.com/api/v1"
    assert api.collection_metadata_url() == (
        "https://api.scifikpi.com/api/v1/nft/metadata/collection.json"
    )
    # Production values: mainnet, the custody key from the nft Secret in nft-scheduler only (the
    # one process that signs), the liteserver config only where the chain is reached.
    from nft.settings import TonNetwork

    key = PRODUCTION_NFT_SECRETS["NFT_CUSTODY_PRIVATE_KEY"]
    assert api.ton_network is TonNetwork.mainnet
    assert api.custody_private_key is None  # the API never sees the hot wallet's key
    assert api.ton_liteserver_config is None
    for component in ("worker", "relay", "scheduler"):
        env = _container_env(templates[f"Deployment/scifikpi-nft-{component}"], configmaps, secrets)
        settings = _settings(monkeypatch, env, NftSettings)
        assert settings.metrics_port == METRICS_PORTS[f"nft-{component}"]
        assert settings.database_url == api.database_url
        assert settings.public_base_url == api.public_base_url
        assert settings.ton_network is TonNetwork.mainnet
        if component == "scheduler":
            assert settings.custody_private_key.get_secret_value() == key
            assert settings.custody_seed() == key
            assert str(settings.ton_liteserver_config) == "/etc/scifikpi/ton/global.config.json"
        else:
            assert settings.custody_private_key is None, component
            assert settings.ton_liteserver_config is None, component
    migrate_env = _container_env(templates["Job/scifikpi-nft-migrate"], configmaps, secrets)
    assert _settings(monkeypatch, migrate_env, NftSettings).database_url == api.database_url
    # Outside local/test, custody refuses to sign without its own key (never the dev one); the
    # chart makes it a secretKeyRef of the scheduler so Kubernetes holds that pod instead.
    with pytest.raises(ValueError, match="NFT_CUSTODY_PRIVATE_KEY"):
        api.custody_seed()


def test_nft_default_configuration(default_docs: list) -> None:
    """The chart's values: the gateway's ingress host as the metadata base, the settings'
    collection defaults, the gateway reaches nft-api, testnet, the custody key Secret and calls
    out of the cluster in the scheduler only."""
    from nft.settings import NftSettings

    configmaps = by_kind(default_docs, "ConfigMap")
    nft = configmaps["scifikpi-nft"]["data"]
    assert nft["NFT_HTTP_PORT"] == "8005"
    gateway_values = load_yaml(CHART_DIR / "values.yaml")["services"]["gateway"]
    (host,) = [h["host"] for h in gateway_values["ingress"]["hosts"]]
    assert nft["NFT_PUBLIC_BASE_URL"] == f"https://{host}/api/v1"
    for var in ("COLLECTION_NAME", "COLLECTION_DESCRIPTION"):
        assert nft[f"NFT_{var}"] == NftSettings.model_fields[var.lower()].default
    assert "NFT_COLLECTION_IMAGE_URL" not in nft  # optional, left out of collection.json
    assert not set(MINING_POWER_VARS) & set(nft)
    gateway = configmaps["scifikpi-gateway"]["data"]
    assert gateway["GATEWAY_UPSTREAM_URLS__NFT"] == "http://scifikpi-nft-api:8005"
    assert nft["NFT_TON_NETWORK"] == "testnet"
    assert "NFT_TON_LITESERVER_CONFIG" not in nft, "testnet: the config bundled in the image"
    assert "scifikpi-nft-ton" not in by_kind(default_docs, "ConfigMap")
    for name, template in pod_templates(default_docs).items():
        if template["metadata"]["labels"]["app.kubernetes.io/name"] != "nft":
            continue
        (container,) = template["spec"]["containers"]
        signs = template["metadata"]["labels"]["app.kubernetes.io/component"] == "scheduler"
        secret_ref = {"secretRef": {"name": "scifikpi-nft-secrets"}}
        assert (secret_ref in container.get("envFrom", [])) is signs, name
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in container.get("env", [])
            if "valueFrom" in e
        }
        if signs:
            assert refs["NFT_CUSTODY_PRIVATE_KEY"] == {
                "name": "scifikpi-nft-secrets",
                "key": "NFT_CUSTODY_PRIVATE_KEY",
            }, name
        else:
            assert "NFT_CUSTODY_PRIVATE_KEY" not in refs, name
        assert not any(
            e["name"] == "NFT_TON_LITESERVER_CONFIG" for e in container.get("env", [])
        ), name
        assert {v["name"] for v in template["spec"]["volumes"]} == {"tmp"}, name
    assert "scifikpi-nft-external" in by_kind(default_docs, "NetworkPolicy")


def _nft_scheduler(docs: list) -> dict[str, Any]:
    return by_kind(docs, "Deployment")["scifikpi-nft-scheduler"]["spec"]["template"]


def test_nft_scheduler_mounts_the_liteserver_config(
    chart: helm.Chart, production_docs: list, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The TON global config: an existing ConfigMap (production) or one rendered from values,
    mounted read-only into nft-scheduler only, NFT_TON_LITESERVER_CONFIG pointing at it; its
    content rolls the scheduler; the file is one the nft service's loader accepts."""
    import json

    from nft.settings import NftSettings
    from nft.ton.lite import load_liteserver_config

    template = _nft_scheduler(production_docs)
    (container,) = template["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["NFT_TON_LITESERVER_CONFIG"] == "/etc/scifikpi/ton/global.config.json"
    (volume,) = [v for v in template["spec"]["volumes"] if v["name"] == "ton-config"]
    assert volume["configMap"] == {
        "name": "scifikpi-ton-mainnet",
        "items": [{"key": "global.config.json", "path": "global.config.json"}],
    }
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "ton-config"]
    assert mount == {"name": "ton-config", "mountPath": "/etc/scifikpi/ton", "readOnly": True}
    assert "scifikpi-nft-ton" not in by_kind(production_docs, "ConfigMap")
    assert by_kind(production_docs, "ConfigMap")["scifikpi-nft"]["data"]["NFT_TON_NETWORK"] == (
        "mainnet"
    )

    text = json.dumps(TON_GLOBAL_CONFIG, indent=2)
    values = {
        "services": {"nft": {"ton": {"network": "mainnet", "liteserverConfig": {"json": text}}}}
    }
    docs = render(chart, values)
    rendered = by_kind(docs, "ConfigMap")["scifikpi-nft-ton"]["data"]["global.config.json"]
    assert json.loads(rendered) == TON_GLOBAL_CONFIG
    template = _nft_scheduler(docs)
    (volume,) = [v for v in template["spec"]["volumes"] if v["name"] == "ton-config"]
    assert volume["configMap"]["name"] == "scifikpi-nft-ton"
    annotations = template["metadata"]["annotations"]
    other = render(
        chart,
        {"services": {"nft": {"ton": {"network": "mainnet", "liteserverConfig": {"json": "{}"}}}}},
    )
    assert (
        annotations["checksum/ton-config"]
        != (_nft_scheduler(other)["metadata"]["annotations"]["checksum/ton-config"])
    )
    # Only the scheduler (and nft-admin in its pod) reaches the chain.
    for component in ("api", "worker", "relay"):
        pod = by_kind(docs, "Deployment")[f"scifikpi-nft-{component}"]["spec"]["template"]
        assert {v["name"] for v in pod["spec"]["volumes"]} == {"tmp"}, component
    # What the pod reads at mountPath/key is a config the service's loader accepts.
    path = tmp_path / "global.config.json"
    path.write_text(rendered)
    env = {"NFT_TON_NETWORK": "mainnet", "NFT_TON_LITESERVER_CONFIG": str(path)}
    settings = _settings(monkeypatch, env, NftSettings)
    assert load_liteserver_config(settings)["liteservers"] == TON_GLOBAL_CONFIG["liteservers"]


def test_nft_mainnet_without_liteserver_config_fails_the_render(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmError, match="liteserverConfig"):
        render(chart, {"services": {"nft": {"ton": {"network": "mainnet"}}}})
    # local (test clusters): no config, no failure; the network reaches every nft process.
    docs = render(chart, {"services": {"nft": {"ton": {"network": "local"}}}})
    assert by_kind(docs, "ConfigMap")["scifikpi-nft"]["data"]["NFT_TON_NETWORK"] == "local"
    (container,) = by_kind(docs, "Job")["scifikpi-nft-migrate"]["spec"]["template"]["spec"][
        "containers"
    ]
    assert {"name": "NFT_TON_NETWORK", "value": "local"} in container["env"]


def test_payments_pods_do_not_start_without_their_provider_secrets(default_docs: list) -> None:
    """Each provider secret is an explicit secretKeyRef (not only envFrom): Kubernetes holds the
    pod while the Secret or the key is missing, instead of the settings falling back."""
    for name, template in pod_templates(default_docs).items():
        if template["metadata"]["labels"]["app.kubernetes.io/name"] != "payments":
            continue
        (container,) = template["spec"]["containers"]
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in container.get("env", [])
            if "valueFrom" in e
        }
        for key in PAYMENTS_SECRET_KEYS:
            assert refs[key] == {"name": "scifikpi-payments-secrets", "key": key}, name
            assert refs[key].get("optional") is not True


def test_payments_default_configuration(default_docs: list) -> None:
    """The chart's own defaults point at the real providers over HTTPS and make webhooks work
    behind the gateway; the YooKassa shop id is per environment (production values set it)."""
    from payments.settings import YOOKASSA_PUBLISHED_NETWORKS

    data = by_kind(default_docs, "ConfigMap")["scifikpi-payments"]["data"]
    assert data["PAYMENTS_STRIPE_API_BASE"] == "https://api.stripe.com"
    assert data["PAYMENTS_YOOKASSA_API_BASE"] == "https://api.yookassa.ru/v3"
    assert data["PAYMENTS_HTTP_PORT"] == "8002"
    # Without trusted proxies every YooKassa notification would be judged by the gateway pod's
    # address and refused.
    assert data["PAYMENTS_TRUSTED_PROXIES"]
    allowlist = {n.strip() for n in data["PAYMENTS_YOOKASSA_IP_ALLOWLIST"].split(",")}
    assert allowlist == set(YOOKASSA_PUBLISHED_NETWORKS)
    assert data["PAYMENTS_YOOKASSA_RETURN_URL"].startswith("https://")
    gateway = by_kind(default_docs, "ConfigMap")["scifikpi-gateway"]["data"]
    assert gateway["GATEWAY_UPSTREAM_URLS__PAYMENTS"] == "http://scifikpi-payments-api:8002"


def test_mining_power_is_one_shared_block_for_ledger_and_mining(
    chart: helm.Chart, default_docs: list
) -> None:
    """MINING_R_* are written once (global.sharedEnv.miningPower) and reach exactly the ledger and
    mining ConfigMaps (and their migrations Jobs' inline env), identical; an override moves both."""
    from scifikpi_common.mining_power import MiningPowerSettings

    def power(docs: list) -> dict[str, dict[str, str]]:
        out = {}
        for name, cm in by_kind(docs, "ConfigMap").items():
            found = {k: v for k, v in cm["data"].items() if k in MINING_POWER_VARS}
            if found:
                out[name] = found
        return out

    defaults = {
        v: str(MiningPowerSettings.model_fields[v.lower()].default) for v in MINING_POWER_VARS
    }
    assert power(default_docs) == {"scifikpi-mining": defaults, "scifikpi-ledger": defaults}
    for service in ("mining", "ledger"):
        (container,) = by_kind(default_docs, "Job")[f"scifikpi-{service}-migrate"]["spec"][
            "template"
        ]["spec"]["containers"]
        inline = {e["name"]: e["value"] for e in container["env"] if "value" in e}
        assert {v: inline[v] for v in MINING_POWER_VARS} == defaults
    override = {"MINING_R_PER_USD_MICRO_PER_HOUR": "250000"}
    docs = render(chart, {"global": {"sharedEnv": {"miningPower": override}}})
    assert power(docs) == {
        "scifikpi-mining": {**defaults, **override},
        "scifikpi-ledger": {**defaults, **override},
    }

    # A config change rolls both services' pods (the checksum annotation follows the ConfigMap).
    def checksum(docs: list, name: str) -> str:
        return by_kind(docs, "Deployment")[name]["spec"]["template"]["metadata"]["annotations"][
            "checksum/config"
        ]

    for name in ("scifikpi-mining-scheduler", "scifikpi-ledger-api"):
        assert checksum(docs, name) != checksum(default_docs, name), name
    assert checksum(docs, "scifikpi-auth-api") == checksum(default_docs, "scifikpi-auth-api")
    with pytest.raises(helm.HelmError, match="nftPricing"):
        render(chart, {"services": {"ledger": {"sharedEnv": ["miningPower", "nftPricing"]}}})


def test_mining_and_ledger_default_configuration(default_docs: list) -> None:
    """The chart's own values name the documented defaults of the settings, and the gateway
    reaches both APIs."""
    from ledger.settings import LedgerSettings
    from mining.settings import MiningSettings

    configmaps = by_kind(default_docs, "ConfigMap")
    mining = configmaps["scifikpi-mining"]["data"]
    assert mining["MINING_HTTP_PORT"] == "8003"
    for var in ("SESSION_DURATION_S", "PRICE_PER_HOUR_MINOR", "MIN_ACCEL_MINOR", "QUOTE_TTL_S"):
        assert mining[f"MINING_{var}"] == str(MiningSettings.model_fields[var.lower()].default)
    ledger = configmaps["scifikpi-ledger"]["data"]
    assert ledger["LEDGER_HTTP_PORT"] == "8004"
    assert ledger["LEDGER_HOLD_TTL_S"] == str(LedgerSettings.model_fields["hold_ttl_s"].default)
    assert float(ledger["LEDGER_SWEEP_INTERVAL_S"]) == (
        LedgerSettings.model_fields["sweep_interval_s"].default
    )
    gateway = configmaps["scifikpi-gateway"]["data"]
    assert gateway["GATEWAY_UPSTREAM_URLS__MINING"] == "http://scifikpi-mining-api:8003"
    assert gateway["GATEWAY_UPSTREAM_URLS__LEDGER"] == "http://scifikpi-ledger-api:8004"
    # No application Secret and no calls out of the cluster.
    for service in ("mining", "ledger"):
        for name, template in pod_templates(default_docs).items():
            if template["metadata"]["labels"]["app.kubernetes.io/name"] != service:
                continue
            (container,) = template["spec"]["containers"]
            assert not any("secretRef" in s for s in container.get("envFrom", [])), name
    assert not {n for n in by_kind(default_docs, "NetworkPolicy") if n.endswith("-external")} - {
        "scifikpi-payments-external",
        "scifikpi-nft-external",
    }


def test_dev_secret_missing_a_required_key_fails_the_render(chart: helm.Chart) -> None:
    values = yaml.safe_load(yaml.safe_dump(EXTERNAL_DB_VALUES))
    del values["services"]["payments"]["secrets"]["data"]["PAYMENTS_YOOKASSA_SECRET_KEY"]
    with pytest.raises(helm.HelmError, match="PAYMENTS_YOOKASSA_SECRET_KEY"):
        chart.render(values, name=RELEASE, namespace=NAMESPACE)


def test_no_secret_value_is_rendered_into_config(default_docs: list, production_docs: list) -> None:
    for docs in (default_docs, production_docs):
        for configmap in by_kind(docs, "ConfigMap").values():
            data = configmap["data"]
            assert not {k for k in data if k in PAYMENTS_SECRET_KEYS or "SECRET" in k}, data
            assert not any(v.startswith(("sk_", "whsec_", "live_", "test_")) for v in data.values())
        assert by_kind(docs, "Secret") == {}
    values = (CHART_DIR / "values.yaml").read_text() + PRODUCTION_VALUES.read_text()
    assert not re.search(r"\b(sk|rk)_(live|test)_\w+|whsec_\w+", values)


def test_database_url_is_composed_from_the_credentials_secret(default_docs: list) -> None:
    for name, template in pod_templates(default_docs).items():
        (container,) = template["spec"]["containers"]
        env = container.get("env", [])
        names = [e["name"] for e in env]
        service = template["metadata"]["labels"]["app.kubernetes.io/name"]
        if service not in DB_SERVICES:
            assert "DATABASE_URL" not in names, name
            continue
        # $(VAR) only expands variables defined earlier in the list.
        assert names.index("DB_USERNAME") < names.index("DATABASE_URL")
        assert names.index("DB_PASSWORD") < names.index("DATABASE_URL")
        url = next(e["value"] for e in env if e["name"] == "DATABASE_URL")
        assert (
            url == "postgresql+asyncpg://$(DB_USERNAME):$(DB_PASSWORD)@scifikpi-pg-rw:5432/scifikpi"
        )
        refs = {
            (
                e["name"],
                e["valueFrom"]["secretKeyRef"]["name"],
                e["valueFrom"]["secretKeyRef"]["key"],
            )
            for e in env
            if "valueFrom" in e
        }
        db = f"scifikpi-{service}-db"
        assert {r for r in refs if r[1] == db} == {
            ("DB_USERNAME", db, "username"),
            ("DB_PASSWORD", db, "password"),
        }
        # Anything else read by reference is a key of the service's own Secret, same name.
        for var, secret, key in refs - {r for r in refs if r[1] == db}:
            assert (secret, key) == (f"scifikpi-{service}-secrets", var), name


@pytest.mark.parametrize("service", DB_SERVICES)
def test_migrations_job_is_a_hook_with_the_same_configuration(
    default_docs: list, external_db_docs: list, service: str
) -> None:
    for docs, events in (
        (default_docs, "post-install,pre-upgrade"),
        (external_db_docs, "pre-install,pre-upgrade"),
    ):
        job = by_kind(docs, "Job")[f"scifikpi-{service}-migrate"]
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == events
        assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation"
        spec = job["spec"]
        assert spec["template"]["spec"]["restartPolicy"] == "Never"
        assert spec["backoffLimit"] >= 1 and spec["activeDeadlineSeconds"] > 0
        # The ConfigMap does not exist yet when a pre-install hook runs: same values, inline.
        (container,) = spec["template"]["spec"]["containers"]
        inline = {e["name"]: e["value"] for e in container["env"] if "value" in e}
        configmap = by_kind(docs, "ConfigMap")[f"scifikpi-{service}"]["data"]
        assert configmap.items() <= inline.items()
        assert not any("configMapRef" in s for s in container.get("envFrom", []))
        # The settings refuse placeholder secrets in production, migrations included: the Job
        # reads the service's Secret like the pods do (mining and ledger have none).
        api = by_kind(docs, "Deployment")[f"scifikpi-{service}-api"]["spec"]["template"]
        api_secrets = [s for s in api["spec"]["containers"][0]["envFrom"] if "secretRef" in s]
        assert [s for s in container.get("envFrom", []) if "secretRef" in s] == api_secrets
        # nft's Secret is the custody key: nft-scheduler alone reads it (secrets.components).
        if service in SERVICES_WITH_SECRETS and service != "nft":
            assert {"secretRef": {"name": f"scifikpi-{service}-secrets"}} in container["envFrom"]
        else:
            assert not api_secrets, f"{service}'s API and migrations read no application Secret"
    assert not by_kind(default_docs, "Job").keys() - {f"scifikpi-{s}-migrate" for s in DB_SERVICES}


def test_dev_secrets_exist_before_the_migrations_hook(
    external_db_docs: list, default_docs: list
) -> None:
    secrets = by_kind(external_db_docs, "Secret")
    assert set(secrets) == {
        "scifikpi-auth-secrets",
        "scifikpi-auth-db",
        "scifikpi-payments-secrets",
        "scifikpi-payments-db",
        "scifikpi-mining-db",
        "scifikpi-ledger-db",
        "scifikpi-nft-db",
        "scifikpi-nft-secrets",
    }
    assert secrets["scifikpi-nft-db"]["stringData"] == {"username": "nft", "password": "s3cret"}
    assert set(secrets["scifikpi-nft-secrets"]["stringData"]) == {"NFT_CUSTODY_PRIVATE_KEY"}
    assert secrets["scifikpi-ledger-db"]["stringData"] == {
        "username": "ledger",
        "password": "s3cret",
    }
    assert set(secrets["scifikpi-payments-secrets"]["stringData"]) == PAYMENTS_SECRET_KEYS
    job_weight = int(
        by_kind(external_db_docs, "Job")["scifikpi-auth-migrate"]["metadata"]["annotations"][
            "helm.sh/hook-weight"
        ]
    )
    for secret in secrets.values():
        annotations = secret["metadata"]["annotations"]
        assert "pre-install" in annotations["helm.sh/hook"]
        assert int(annotations["helm.sh/hook-weight"]) < job_weight
    assert secrets["scifikpi-auth-db"]["type"] == "kubernetes.io/basic-auth"
    assert secrets["scifikpi-auth-db"]["stringData"] == {"username": "auth", "password": "s3cret"}
    # Production never renders secrets: they come from outside the chart.
    assert by_kind(default_docs, "Secret") == {}
    url = next(
        e["value"]
        for e in by_kind(external_db_docs, "Deployment")["scifikpi-auth-api"]["spec"]["template"][
            "spec"
        ]["containers"][0]["env"]
        if e["name"] == "DATABASE_URL"
    )
    assert "@pg.internal.example:5432/" in url


# --- network policies -----------------------------------------------------------------------------


def _ingress_peers(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [peer for rule in policy["spec"].get("ingress", []) for peer in rule.get("from", [])]


def test_every_pod_is_covered_by_ingress_and_egress_policies(production_docs: list) -> None:
    policies = by_kind(production_docs, "NetworkPolicy").values()
    for name, template in pod_templates(production_docs).items():
        labels = template["metadata"]["labels"]
        matching = [p for p in policies if selects(p["spec"]["podSelector"], labels)]
        types = {t for p in matching for t in p["spec"]["policyTypes"]}
        assert "Egress" in types, name
        if not name.startswith("Job/"):
            assert "Ingress" in types, name


def test_gateway_is_reachable_from_the_ingress_controller_only(production_docs: list) -> None:
    policies = by_kind(production_docs, "NetworkPolicy")
    gateway = _ingress_peers(policies["scifikpi-gateway-api"])
    assert {"kubernetes.io/metadata.name": "ingress-nginx"} in [
        p.get("namespaceSelector", {}).get("matchLabels") for p in gateway
    ]
    assert all("namespaceSelector" in p for p in gateway), (
        "no in-namespace pod may call the gateway directly"
    )
    auth = _ingress_peers(policies["scifikpi-auth-api"])
    assert not any(
        p.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
        == "ingress-nginx"
        for p in auth
    )
    # auth: this release's pods (gateway, JWKS fetches) and Prometheus; nothing else.
    assert {"app.kubernetes.io/instance": RELEASE, "app.kubernetes.io/part-of": "scifikpi"} in [
        p.get("podSelector", {}).get("matchLabels") for p in auth if "namespaceSelector" not in p
    ]
    assert len(auth) == 2
    for service in ("auth", "payments", "mining", "ledger", "nft"):
        workers = _ingress_peers(policies[f"scifikpi-{service}-workers"])
        assert len(workers) == 1 and workers[0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "monitoring"
        }
        assert policies[f"scifikpi-{service}-workers"]["spec"]["ingress"][0]["ports"] == [
            {"port": "metrics", "protocol": "TCP"}
        ]
    # payments (webhooks included), mining and ledger are reached through the gateway only, and
    # by Prometheus.
    for service in ("payments", "mining", "ledger", "nft"):
        peers = _ingress_peers(policies[f"scifikpi-{service}-api"])
        assert len(peers) == 2, service
        assert [
            p.get("podSelector", {}).get("matchLabels")
            for p in peers
            if "namespaceSelector" not in p
        ] == [{"app.kubernetes.io/name": "gateway", "app.kubernetes.io/instance": RELEASE}]
        assert {"kubernetes.io/metadata.name": "monitoring"} in [
            p.get("namespaceSelector", {}).get("matchLabels") for p in peers
        ]


def test_egress_is_limited_to_the_dependencies(production_docs: list) -> None:
    policies = by_kind(production_docs, "NetworkPolicy")

    def ports(policy: dict[str, Any]) -> set[int]:
        return {p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", [])}

    auth = policies["scifikpi-auth-egress"]
    assert ports(auth) == {53, 5432, 9092, 6379, 4317, 4318}
    for service in ("payments", "mining", "ledger", "nft"):
        assert ports(policies[f"scifikpi-{service}-egress"]) == ports(auth), service
    postgres = next(
        r for r in auth["spec"]["egress"] if {"port": 5432, "protocol": "TCP"} in r.get("ports", [])
    )
    assert postgres["to"] == [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "scifikpi-pg"}}}]
    gateway = policies["scifikpi-gateway-egress"]
    assert ports(gateway) == {53, 6379, 4317, 4318}, "the gateway has no database and no Kafka"
    # Only this release's API pods are reachable without a port list (upstreams, JWKS).
    unrestricted = [r for r in gateway["spec"]["egress"] if "ports" not in r]
    assert unrestricted == [
        {
            "to": [
                {
                    "podSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/instance": RELEASE,
                            "app.kubernetes.io/component": "api",
                        }
                    }
                }
            ]
        }
    ]


CLUSTER_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")


def test_only_payments_api_and_scheduler_reach_the_providers(production_docs: list) -> None:
    """HTTPS to outside the cluster (provider addresses are not fixed), never to the cluster's
    own ranges or the cloud metadata endpoint; only the pods that call providers get it."""
    import ipaddress

    policies = by_kind(production_docs, "NetworkPolicy")
    external = {n: p for n, p in policies.items() if n.endswith("-external")}
    assert set(external) == {"scifikpi-payments-external", "scifikpi-nft-external"}
    policy = external["scifikpi-payments-external"]
    assert policy["spec"]["policyTypes"] == ["Egress"]
    (rule,) = policy["spec"]["egress"]
    assert rule["ports"] == [{"port": 443, "protocol": "TCP"}]
    blocks = [peer["ipBlock"] for peer in rule["to"]]
    assert len(blocks) == len(rule["to"]), "only ipBlock peers"
    v4 = next(b for b in blocks if b["cidr"] == "0.0.0.0/0")
    assert set(CLUSTER_RANGES) <= set(v4["except"])
    for block in blocks:
        net = ipaddress.ip_network(block["cidr"])
        for excluded in block.get("except", []):
            assert ipaddress.ip_network(excluded).subnet_of(net), (excluded, block["cidr"])

    def reaches_providers(address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(
            ip in ipaddress.ip_network(b["cidr"])
            and not any(ip in ipaddress.ip_network(e) for e in b.get("except", []))
            for b in blocks
        )

    # api.stripe.com / api.yookassa.ru resolve to public addresses; pods, Services, nodes and the
    # metadata endpoint do not pass.
    assert reaches_providers("54.187.174.169") and reaches_providers("185.71.76.10")
    assert reaches_providers("2a02:5180::1")
    for private in ("10.244.1.5", "172.20.0.10", "192.168.1.1", "169.254.169.254", "fd00::1"):
        assert not reaches_providers(private), private

    selected = {
        name
        for name, template in pod_templates(production_docs).items()
        if selects(policy["spec"]["podSelector"], template["metadata"]["labels"])
    }
    assert selected == {
        "Deployment/scifikpi-payments-api",
        "Deployment/scifikpi-payments-scheduler",
    }


def test_ingress_routes_to_the_gateway_service(production_docs: list) -> None:
    (ingress,) = by_kind(production_docs, "Ingress").values()
    services = by_kind(production_docs, "Service")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"][0]["hosts"] == ["api.scifikpi.com"]
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == "scifikpi-gateway-api"
            assert backend["port"]["name"] in {
                p["name"] for p in services[backend["name"]]["spec"]["ports"]
            }


# --- custom resources -----------------------------------------------------------------------------


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


def test_chart_declares_no_remote_dependencies(chart: helm.Chart) -> None:
    assert not chart.metadata.get("dependencies")
    assert helm.dependency_list(CHART_DIR) == []
    assert chart.dependencies == []


def test_production_values_file_is_documented_example(production_values: dict[str, Any]) -> None:
    text = Path(PRODUCTION_VALUES).read_text()
    assert "password" not in text.lower().replace("password=<url-safe>", ""), (
        "no secrets in values files"
    )
    assert production_values["global"]["environment"] == "production"


def test_only_the_nft_scheduler_reaches_the_ton_liteservers(
    chart: helm.Chart, production_docs: list
) -> None:
    """ADNL over TCP to liteservers whose addresses and ports are arbitrary: every TCP port (no
    UDP) to networkPolicy.internet, never the cluster's ranges, for nft-scheduler pods only;
    narrowing `to`/`ports` from values works."""
    import ipaddress

    policy = by_kind(production_docs, "NetworkPolicy")["scifikpi-nft-external"]
    assert policy["spec"]["policyTypes"] == ["Egress"]
    (rule,) = policy["spec"]["egress"]
    assert rule["ports"] == [{"protocol": "TCP"}], "every TCP port, nothing else"
    internet = load_yaml(CHART_DIR / "values.yaml")["networkPolicy"]["internet"]
    assert rule["to"] == internet
    blocks = [peer["ipBlock"] for peer in rule["to"]]

    def reaches(address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(
            ip in ipaddress.ip_network(b["cidr"])
            and not any(ip in ipaddress.ip_network(e) for e in b.get("except", []))
            for b in blocks
        )

    # A public liteserver (the int32 `ip` of a global config, as an address) passes; pods,
    # Services, nodes and the metadata endpoint do not.
    assert reaches(str(ipaddress.ip_address(TON_GLOBAL_CONFIG["liteservers"][0]["ip"] % 2**32)))
    for private in ("10.244.1.5", "172.20.0.10", "192.168.1.1", "169.254.169.254", "fd00::1"):
        assert not reaches(private), private
    selected = {
        name
        for name, template in pod_templates(production_docs).items()
        if selects(policy["spec"]["podSelector"], template["metadata"]["labels"])
    }
    assert selected == {"Deployment/scifikpi-nft-scheduler"}
    # Private liteservers: their addresses and ports only.
    narrowed = render(
        chart,
        {
            "services": {
                "nft": {
                    "externalEgress": {
                        "anyPort": False,
                        "ports": [19949, 30001],
                        "to": [{"ipBlock": {"cidr": "203.0.113.0/28"}}],
                    }
                }
            }
        },
    )
    (rule,) = by_kind(narrowed, "NetworkPolicy")["scifikpi-nft-external"]["spec"]["egress"]
    assert rule == {
        "to": [{"ipBlock": {"cidr": "203.0.113.0/28"}}],
        "ports": [{"port": 19949, "protocol": "TCP"}, {"port": 30001, "protocol": "TCP"}],
    }
