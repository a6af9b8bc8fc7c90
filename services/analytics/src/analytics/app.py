"""The analytics API application (`uvicorn --factory analytics.app:create_app`)."""

from __future__ import annotations

from fastapi import FastAPI
from scifikpi_common.app import create_service_app
from scifikpi_common.security import JwksFetcher

from analytics.figures.api import router
from analytics.models import make_outbox
from analytics.settings import AnalyticsSettings, get_settings

DESCRIPTION = """Business figures for admins, projected from every topic: accounts, money per
provider and currency, mining, points, NFTs, and the funnel from registration to a transferred
NFT. Every figure is an integer (money in minor units of its currency, points as decimal strings
of micro-points), derived from the event log, and says how fresh it is (`as_of`).

Every endpoint needs the admin role, and answers CSV on `Accept: text/csv`. Errors are
`application/problem+json` with a stable `type` (`urn:scifikpi:problem:...`)."""


def create_app(
    settings: AnalyticsSettings | None = None, *, jwks_fetcher: JwksFetcher | None = None
) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="SciFiKPI analytics",
        description=DESCRIPTION,
        routers=[router],
        outbox=make_outbox(),
        jwks_fetcher=jwks_fetcher,
    )
