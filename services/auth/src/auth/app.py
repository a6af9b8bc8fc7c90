"""The auth API application (`uvicorn --factory auth.app:create_app`)."""

from __future__ import annotations

from fastapi import FastAPI
from scifikpi_common.app import create_service_app
from scifikpi_common.logging import get_logger

from auth.api import jwks_router, router
from auth.handlers import AuthDeps
from auth.models import make_outbox
from auth.settings import AuthSettings, get_settings

log = get_logger(__name__)

DESCRIPTION = """Accounts (individuals and legal entities), credentials, access and refresh tokens,
roles, and the public keys (JWKS) every other service verifies access tokens with.

Errors are `application/problem+json` with a stable `type` (`urn:scifikpi:problem:...`)."""


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    deps = AuthDeps.from_settings(settings)

    async def on_startup(app: FastAPI) -> None:
        app.state.auth = deps
        await deps.passwords.warm_up()

    async def on_shutdown() -> None:
        deps.passwords.close()

    app = create_service_app(
        settings,
        title="SciFiKPI auth",
        description=DESCRIPTION,
        routers=[router, jwks_router],
        outbox=make_outbox(),
        # The service verifies its own tokens from its own keys: no HTTP round trip to itself.
        jwks_fetcher=deps.tokens.fetch_jwks,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
    )
    return app
