"""Fixtures for the deployment checks (compose, Dockerfiles, Helm chart, observability).

Nothing here needs Docker, a cluster or the network: files are parsed, rendered (Helm through
helm-python-sdk) and validated against bundled schemas (compose spec, Kubernetes OpenAPI).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _deploy_helpers import COMPOSE_FILE, load_yaml  # noqa: E402


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE_FILE)
