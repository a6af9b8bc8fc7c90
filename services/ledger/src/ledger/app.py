"""The ledger API application (`uvicorn --factory ledger.app:create_app`)."""

from __future__ import annotations

from fastapi import FastAPI
from scifikpi_common.app import create_service_app
from scifikpi_common.security import JwksFetcher

from ledger.api import admin_router, router
from ledger.models import make_outbox
from ledger.settings import LedgerSettings, get_settings

DESCRIPTION = """The ledger: double-entry accounts for points (micro-points, shown as decimal
strings) and deposited money (USD minor units), holds for NFT purchases, and each user's history.

Errors are `application/problem+json` with a stable `type` (`urn:scifikpi:problem:...`)."""


def create_app(
    settings: LedgerSettings | None = None, *, jwks_fetcher: JwksFetcher | None = None
) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="SciFiKPI ledger",
        description=DESCRIPTION,
        routers=[router, admin_router],
        outbox=make_outbox(),
        jwks_fetcher=jwks_fetcher,
    )
