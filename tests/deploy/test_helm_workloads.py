"""deploy/helm/scifikpi: the workloads of each service.

Each service gets its Deployments, Service, HorizontalPodAutoscalers and PodDisruptionBudgets
(selecting exactly their own pods; fixed replicas where one active process holds a lock); each pod
runs a console script of its service's image; pods are hardened (non-root, read-only root, no
capabilities, resources); probes use the health endpoints or the metrics port; the migrations Job
is a Helm hook carrying the same configuration as the pods.
"""

from __future__ import annotations

import pytest
from _deploy_helpers import DB_SERVICES, METRICS_PORTS, console_scripts
from _helm_helpers import (
    ANALYTICS_DEPLOYMENTS,
    LEDGER_DEPLOYMENTS,
    MINING_DEPLOYMENTS,
    NFT_DEPLOYMENTS,
    PAYMENTS_DEPLOYMENTS,
    SERVICES_WITH_SECRETS,
    by_kind,
    pod_templates,
    selects,
)


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
        | ANALYTICS_DEPLOYMENTS
    )
    assert set(services) == {
        "scifikpi-auth-api",
        "scifikpi-gateway-api",
        "scifikpi-payments-api",
        "scifikpi-mining-api",
        "scifikpi-ledger-api",
        "scifikpi-nft-api",
        "scifikpi-analytics-api",
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
        "scifikpi-analytics-api",
        "scifikpi-analytics-worker",
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
    # analytics: api and worker only (it publishes nothing); analytics-admin is run by hand.
    components = {
        t["metadata"]["labels"]["app.kubernetes.io/component"]
        for t in pod_templates(default_docs).values()
        if t["metadata"]["labels"]["app.kubernetes.io/name"] == "analytics"
    }
    assert components == {"api", "worker", "migrate"}
    assert {f"analytics-{c}" for c in components - {"migrate"}} == {
        s for s in console_scripts("analytics") if not s.endswith("-admin")
    }
    assert "analytics-admin" in console_scripts("analytics")
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
    # + nft api/worker/relay/scheduler/migrate + analytics api/worker/migrate + gateway api
    assert len(templates) == 28
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


def test_apis_probe_their_health_endpoints_and_workers_their_metrics_port(
    default_docs: list,
) -> None:
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
