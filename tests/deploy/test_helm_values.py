"""deploy/helm/scifikpi: the chart lints clean and its values are held by values.schema.json.

`helm lint --strict` (through helm-python-sdk, Helm's own code) passes for the default values,
ci/production-values.yaml and an external-database variant; the schema is a valid JSON Schema,
every values file satisfies it, and a misspelt or out-of-range value is refused by the schema and
by a render. The chart pulls no remote dependency and its production example holds no secret.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
from _deploy_helpers import CHART_DIR
from _helm_helpers import EXTERNAL_DB_VALUES, NAMESPACE, PRODUCTION_VALUES, RELEASE


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


def test_chart_declares_no_remote_dependencies(chart: helm.Chart) -> None:
    assert not chart.metadata.get("dependencies")
    assert helm.dependency_list(CHART_DIR) == []
    assert chart.dependencies == []


def test_production_values_hold_no_password_and_name_production(
    production_values: dict[str, Any],
) -> None:
    text = Path(PRODUCTION_VALUES).read_text()
    assert "password" not in text.lower().replace("password=<url-safe>", ""), (
        "no secrets in values files"
    )
    assert production_values["global"]["environment"] == "production"
