"""deploy/helm/scifikpi: secrets and database credentials.

No secret value is ever rendered into a ConfigMap or a values file; payments pods hold until each
provider secret exists (explicit secretKeyRefs); DATABASE_URL is composed from the service's own
credentials Secret; chart-made dev Secrets (external-database variant) exist before the migrations
hook runs and must carry every required key.
"""

from __future__ import annotations

import re

import helm_python as helm
import pytest
import yaml
from _deploy_helpers import CHART_DIR, DB_SERVICES
from _helm_helpers import (
    EXTERNAL_DB_VALUES,
    NAMESPACE,
    PAYMENTS_SECRET_KEYS,
    PRODUCTION_VALUES,
    RELEASE,
    by_kind,
    pod_templates,
)


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
