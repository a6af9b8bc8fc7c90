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
from _deploy_helpers import CHART_DIR, load_yaml
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
    assert set(deployments) == {
        "scifikpi-auth-api",
        "scifikpi-auth-worker",
        "scifikpi-auth-relay",
        "scifikpi-gateway-api",
    }
    assert set(services) == {"scifikpi-auth-api", "scifikpi-gateway-api"}
    assert {"scifikpi-auth-api", "scifikpi-auth-worker", "scifikpi-gateway-api"} <= set(hpas)
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
    # The relay is one active publisher (advisory lock) plus a standby: no HPA, fixed replicas.
    assert "scifikpi-auth-relay" not in hpas
    assert deployments["scifikpi-auth-relay"]["spec"]["replicas"] == 2


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


def test_pods_are_hardened(production_docs: list) -> None:
    templates = pod_templates(production_docs)
    assert len(templates) == 5  # auth api/worker/relay/migrate + gateway api
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
            assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}  # noqa: S108
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
        elif component in {"worker", "relay"}:
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert container[probe]["tcpSocket"] == {"port": "metrics"}, name
            assert template["metadata"]["annotations"]["prometheus.io/port"] == str(
                ports["metrics"]
            )
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
        if key.startswith(("AUTH_", "GATEWAY_")) or key in {
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

    gw_env = _container_env(templates["Deployment/scifikpi-gateway-api"], configmaps, secrets)
    gateway = _settings(monkeypatch, gw_env, GatewaySettings)
    assert gateway.upstream_urls == {"auth": "http://scifikpi-auth-api:8001"}
    assert gateway.jwks_url == "http://scifikpi-auth-api:8001/.well-known/jwks.json"
    assert gateway.cors_allow_origins == ["https://app.scifikpi.com"]
    assert "KAFKA_BOOTSTRAP_SERVERS" not in gw_env, "the gateway does not talk to Kafka"


def test_database_url_is_composed_from_the_credentials_secret(default_docs: list) -> None:
    for name, template in pod_templates(default_docs).items():
        (container,) = template["spec"]["containers"]
        env = container.get("env", [])
        names = [e["name"] for e in env]
        if template["metadata"]["labels"]["app.kubernetes.io/name"] != "auth":
            assert "DATABASE_URL" not in names, name
            continue
        # $(VAR) only expands variables defined earlier in the list.
        assert names.index("DB_USERNAME") < names.index("DATABASE_URL")
        assert names.index("DB_PASSWORD") < names.index("DATABASE_URL")
        url = next(e["value"] for e in env if e["name"] == "DATABASE_URL")
        assert (
            url == "postgresql+asyncpg://$(DB_USERNAME):$(DB_PASSWORD)@scifikpi-pg-rw:5432/scifikpi"
        )
        refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in env if "valueFrom" in e}
        assert refs == {"scifikpi-auth-db"}


def test_migrations_job_is_a_hook_with_the_same_configuration(
    default_docs: list, external_db_docs: list
) -> None:
    for docs, events in (
        (default_docs, "post-install,pre-upgrade"),
        (external_db_docs, "pre-install,pre-upgrade"),
    ):
        job = by_kind(docs, "Job")["scifikpi-auth-migrate"]
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == events
        assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation"
        spec = job["spec"]
        assert spec["template"]["spec"]["restartPolicy"] == "Never"
        assert spec["backoffLimit"] >= 1 and spec["activeDeadlineSeconds"] > 0
        # The ConfigMap does not exist yet when a pre-install hook runs: same values, inline.
        (container,) = spec["template"]["spec"]["containers"]
        inline = {e["name"]: e["value"] for e in container["env"] if "value" in e}
        configmap = by_kind(docs, "ConfigMap")["scifikpi-auth"]["data"]
        assert configmap.items() <= inline.items()
        assert not any("configMapRef" in s for s in container.get("envFrom", []))
    assert not by_kind(default_docs, "Job").keys() - {"scifikpi-auth-migrate"}


def test_dev_secrets_exist_before_the_migrations_hook(
    external_db_docs: list, default_docs: list
) -> None:
    secrets = by_kind(external_db_docs, "Secret")
    assert set(secrets) == {"scifikpi-auth-secrets", "scifikpi-auth-db"}
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
    workers = _ingress_peers(policies["scifikpi-auth-workers"])
    assert len(workers) == 1 and workers[0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    assert policies["scifikpi-auth-workers"]["spec"]["ingress"][0]["ports"] == [
        {"port": "metrics", "protocol": "TCP"}
    ]


def test_egress_is_limited_to_the_dependencies(production_docs: list) -> None:
    policies = by_kind(production_docs, "NetworkPolicy")

    def ports(policy: dict[str, Any]) -> set[int]:
        return {p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", [])}

    auth = policies["scifikpi-auth-egress"]
    assert ports(auth) == {53, 5432, 9092, 6379, 4317, 4318}
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
    assert (
        roles["auth"]["login"] is True
        and roles["auth"]["passwordSecret"]["name"] == "scifikpi-auth-db"
    )
    sql = spec["bootstrap"]["initdb"]["postInitApplicationSQL"]
    assert 'GRANT CONNECT, CREATE ON DATABASE "scifikpi" TO "auth"' in sql
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
    assert {"name": "auth", "owner": "auth", "ensure": "present"} in database["spec"]["schemas"]
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
    assert set(monitors) == {"scifikpi-auth", "scifikpi-gateway", "scifikpi-pg"}
    templates = pod_templates(production_docs)
    for name in ("scifikpi-auth", "scifikpi-gateway"):
        monitor = monitors[name]
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        ports = {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]}
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
