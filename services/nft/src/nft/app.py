"""The nft API application (`uvicorn --factory nft.app:create_app`)."""

from __future__ import annotations

from fastapi import FastAPI
from scifikpi_common.app import create_service_app
from scifikpi_common.security import JwksFetcher

from nft.catalog.api import admin_router, public_router
from nft.models import make_outbox
from nft.purchases.api import purchases_router
from nft.settings import NftSettings, get_settings
from nft.transfers.api import transfers_router
from nft.wallets.api import wallets_router

DESCRIPTION = """NFT: the catalog admins manage, the public catalog, TEP-64 metadata JSON at stable
URLs that the on-chain collection content points to; purchases with points (202, then poll until
`completed` or `failed`), NFTs minted on TON into platform custody, wallet binding with a TON
Connect `ton_proof`, and transfers of an NFT to the bound wallet (202, then poll). Points are
decimal strings; addresses are user-friendly (contracts bounceable, wallets non-bounceable);
times are UTC.

Errors are `application/problem+json` with a stable `type` (`urn:scifikpi:problem:...`)."""


def create_app(
    settings: NftSettings | None = None, *, jwks_fetcher: JwksFetcher | None = None
) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="SciFiKPI nft",
        description=DESCRIPTION,
        routers=[public_router, wallets_router, purchases_router, transfers_router, admin_router],
        outbox=make_outbox(),
        jwks_fetcher=jwks_fetcher,
    )
