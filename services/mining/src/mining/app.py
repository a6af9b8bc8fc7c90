"""The mining API application (`uvicorn --factory mining.app:create_app`)."""

from __future__ import annotations

from fastapi import FastAPI
from scifikpi_common.app import create_service_app
from scifikpi_common.security import JwksFetcher

from mining.api import router
from mining.models import make_outbox
from mining.settings import MiningSettings, get_settings

DESCRIPTION = """Mining: timed sessions that earn points on a server-side countdown, paid
acceleration (quote → `acceleration` payment), history and a forecast. Points are micro-points
shown as decimal strings; money is USD cents; times are UTC.

Errors are `application/problem+json` with a stable `type` (`urn:scifikpi:problem:...`)."""


def create_app(
    settings: MiningSettings | None = None, *, jwks_fetcher: JwksFetcher | None = None
) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="SciFiKPI mining",
        description=DESCRIPTION,
        routers=[router],
        outbox=make_outbox(),
        jwks_fetcher=jwks_fetcher,
    )
