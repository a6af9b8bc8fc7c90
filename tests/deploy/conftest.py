"""Fixtures for the deployment checks (compose, Dockerfiles, Helm chart, observability).

Nothing here needs Docker, a cluster or the network: files are parsed, rendered (Helm through
helm-python-sdk) and validated against bundled schemas (compose spec, Kubernetes OpenAPI).
The chart is loaded and each values variant rendered once per session, however many
test_helm_*.py files read them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import helm_python as helm  # noqa: E402
from _deploy_helpers import (  # noqa: E402
    CHART_DIR,
    COMPOSE_FILE,
    exported_metric_names,
    load_yaml,
)
from _helm_helpers import EXTERNAL_DB_VALUES, PRODUCTION_VALUES, render  # noqa: E402


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE_FILE)


# --- Helm chart ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def production_values() -> dict[str, Any]:
    return load_yaml(PRODUCTION_VALUES)


@pytest.fixture(scope="session")
def default_docs(chart: helm.Chart) -> list[dict[str, Any]]:
    """The chart rendered with its own values.yaml only."""
    return render(chart, {})


@pytest.fixture(scope="session")
def production_docs(chart: helm.Chart, production_values: dict[str, Any]) -> list[dict[str, Any]]:
    """The chart rendered with ci/production-values.yaml."""
    return render(chart, production_values)


@pytest.fixture(scope="session")
def external_db_docs(chart: helm.Chart) -> list[dict[str, Any]]:
    """The chart rendered with an external database and chart-made dev secrets."""
    return render(chart, EXTERNAL_DB_VALUES)


# --- observability -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def known_metrics() -> set[str]:
    """Series names the services export (read from their prometheus_client objects)."""
    names = exported_metric_names()
    assert {"http_requests_total", "http_request_duration_seconds_bucket", "outbox_backlog",
            "outbox_oldest_unpublished_age_seconds", "events_consumed_total", "dlq_messages_total",
            "consumer_lag_messages"} <= names  # fmt: skip
    return names
