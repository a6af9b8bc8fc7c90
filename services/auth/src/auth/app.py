"""The auth API application (`uvicorn --factory auth.app:create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from scifikpi_common.app import create_service_app
from scifikpi_common.errors import UpstreamUnavailable
from scifikpi_common.logging import get_logger
from scifikpi_common.problems import problem_response
from sqlalchemy.exc import InterfaceError, OperationalError

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

    app = create_service_app(
        settings,
        title="SciFiKPI auth",
        description=DESCRIPTION,
        routers=[router, jwks_router],
        outbox=make_outbox(),
        # The service verifies its own tokens from its own keys: no HTTP round trip to itself.
        jwks_fetcher=deps.tokens.fetch_jwks,
        on_startup=on_startup,
    )
    for exc_class in (OperationalError, InterfaceError, ConnectionError, TimeoutError):
        app.add_exception_handler(exc_class, _database_unavailable)

    common_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        try:
            async with common_lifespan(application):
                yield
        finally:
            deps.passwords.close()

    app.router.lifespan_context = lifespan
    return app


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database (or its network) failed: a retryable 503, not a 500."""
    log.warning("database_unavailable", path=request.url.path, error=type(exc).__name__)
    error = UpstreamUnavailable(
        "The service's database is unavailable; try again shortly.", headers={"Retry-After": "5"}
    )
    return problem_response(error, request.url.path)
