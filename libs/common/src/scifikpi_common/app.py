"""The FastAPI app every service starts from.

Resources (engine, sessionmaker, JWKS cache) are made in the lifespan and closed on shutdown,
never at import. Middleware, problem handlers, `/healthz`, `/readyz` and `/metrics` are the same
everywhere, so a new service only brings its routers. A service with a database answers its
outage with a retryable 503 (never a 500); a client that hangs up mid-body gets 499 logged, not an
error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.requests import ClientDisconnect

from scifikpi_common.db import UnitOfWork, UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.errors import Problem, UpstreamUnavailable
from scifikpi_common.health import ReadinessCheck, broker_check, database_check, health_router
from scifikpi_common.logging import configure_logging, get_logger
from scifikpi_common.metrics import metrics_endpoint
from scifikpi_common.middleware import RequestContextMiddleware
from scifikpi_common.outbox import Outbox
from scifikpi_common.problems import install_problem_handlers, problem_response
from scifikpi_common.security import JwksCache, JwksFetcher, TokenVerifier, http_jwks_fetcher
from scifikpi_common.settings import ServiceSettings
from scifikpi_common.tracing import configure_tracing

log = get_logger(__name__)

StartupHook = Callable[[FastAPI], Awaitable[None]]
ShutdownHook = Callable[[], Awaitable[None]]
#: What a lost database connection raises through the pool and the driver.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
)


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    outbox: Outbox | None = None,
    jwks_fetcher: JwksFetcher | None = None,
    on_startup: StartupHook | None = None,
    on_shutdown: ShutdownHook | None = None,
    check_broker: bool = True,
    version: str = "1.0.0",
) -> FastAPI:
    service = settings.service_name
    configure_logging(service, level=settings.log_level, fmt=settings.log_format)
    configure_tracing(service, settings.otlp_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        checks: dict[str, ReadinessCheck] = {}
        engine = None
        if outbox is not None:
            engine = create_engine(
                settings.database_url,
                schema=outbox.table.schema or service,
                application_name=f"{service}.api",
                pool_size=settings.db_pool_size,
            )
            app.state.engine = engine
            app.state.uow_factory = UnitOfWorkFactory(create_sessionmaker(engine), outbox)
            checks["database"] = database_check(engine)
        if check_broker:
            checks["broker"] = broker_check(settings.kafka_bootstrap_servers)
        app.state.readiness_checks = checks
        http = httpx.AsyncClient(timeout=5.0)
        fetcher = jwks_fetcher or http_jwks_fetcher(settings.jwks_url, http)
        app.state.token_verifier = TokenVerifier(
            JwksCache(fetcher), issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )
        if on_startup is not None:
            await on_startup(app)
        try:
            yield
        finally:
            try:
                if on_shutdown is not None:
                    await on_shutdown()
            finally:
                await http.aclose()
                if engine is not None:
                    await engine.dispose()

    # FastAPI's built-in telemetry would add four more spans per request and an OTel log record
    # carrying request input; our middleware makes the one server span we want.
    app = _ServiceApp(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    install_problem_handlers(app)
    if outbox is not None:
        for exc_class in DATABASE_UNAVAILABLE:
            app.add_exception_handler(exc_class, _database_unavailable)
    app.add_exception_handler(ClientDisconnect, _client_left)
    app.add_middleware(
        RequestContextMiddleware, service=service, max_body_bytes=settings.max_body_bytes
    )
    app.include_router(health_router())
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    for router in routers:
        app.include_router(router)

    return app


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database (or its network) failed: a retryable 503, not a 500."""
    log.warning("database_unavailable", path=request.url.path, error=type(exc).__name__)
    error = UpstreamUnavailable(
        "The service's database is unavailable; try again shortly.", headers={"Retry-After": "5"}
    )
    return problem_response(error, request.url.path)


async def _client_left(request: Request, exc: Exception) -> Response:
    """The client hung up before its body arrived (nothing was stored): not a server error."""
    log.info("client_disconnected", path=request.url.path)
    return Response(status_code=499)


class _ServiceApp(FastAPI):
    """FastAPI whose OpenAPI document names `Problem` as a component, so every problem response
    can reference it."""

    def openapi(self) -> dict[str, Any]:
        schema = self.openapi_schema
        if schema is None:
            schema = super().openapi()  # also kept in self.openapi_schema
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas.setdefault("Problem", Problem.model_json_schema())
        return schema


async def get_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    """The request's unit of work: read-only for GET and HEAD (`UnitOfWorkFactory.reading`)."""
    factory: UnitOfWorkFactory = request.app.state.uow_factory
    reads = request.method in ("GET", "HEAD")
    async with factory.reading() if reads else factory() as uow:
        yield uow


UoW = Annotated[UnitOfWork, Depends(get_uow)]
