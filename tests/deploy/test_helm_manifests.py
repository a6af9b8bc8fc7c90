"""deploy/helm/scifikpi: every rendered manifest is a valid Kubernetes object.

Each built-in object of the default, production and external-database renders is validated with
kubernetes-validate (strict) against the bundled OpenAPI schemas of the oldest Kubernetes the chart
supports and of the newest bundled one; names are unique DNS labels. Custom resources (CloudNativePG,
Strimzi, Prometheus Operator) have no bundled schema: test_helm_resources.py checks them.
"""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml
from _helm_helpers import CUSTOM_KINDS, kube_versions
from kubernetes_validate.utils import SchemaNotFoundError


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
