"""The nft API application (`uvicorn --factory nft.app:create_app`)."""

from __future__ import annotations

from fastapi import FastAPI
from scifikpi_common.app import create_service_app
from scifikpi_common.security import JwksFetcher

from nft.api import admin_router, public_router
from nft.models import make_outbox
from nft.settings import NftSettings, get_settings

DESCRIPTION = """NFT: the catalog admins manage, the public catalog, and TEP-64 metadata JSON at
stable URLs that the on-chain collection content points to. Points are micro-points shown as
decimal strings; times are UTC. (Purchases, TON minting, wallets and transfers come next.)

Errors are `application/problem+json` with a stable `type` (`urn:scifikpi:problem:...`)."""


def create_app(
    settings: NftSettings | None = None, *, jwks_fetcher: JwksFetcher | None = None
) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="SciFiKPI nft",
        description=DESCRIPTION,
        routers=[public_router, admin_router],
        outbox=make_outbox(),
        jwks_fetcher=jwks_fetcher,
    )
