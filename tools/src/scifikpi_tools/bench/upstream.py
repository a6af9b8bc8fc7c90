"""A cheap upstream for the gateway benchmark, built like every real service.

`service` flavour: `scifikpi_common.app.create_service_app` (request-id/tracing/metrics
middleware, problem handlers) serving a static JWKS-shaped document, i.e. what the auth
service's `/.well-known/jwks.json` costs without its key store. `bare` flavour: plain FastAPI
without middleware, the cheapest upstream (hardest ratio for the gateway).
"""

from __future__ import annotations

import os

import orjson
from fastapi import APIRouter, FastAPI
from fastapi.responses import Response

_JWKS = {
    "keys": [
        {
            "kty": "OKP",
            "crv": "Ed25519",
            "kid": "bench-key-1",
            "alg": "EdDSA",
            "use": "sig",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        }
    ]
}


def _router() -> APIRouter:
    router = APIRouter()

    body = orjson.dumps(_JWKS)

    @router.get("/.well-known/jwks.json")
    async def jwks() -> Response:
        return Response(body, media_type="application/json")

    return router


def create_app() -> FastAPI:
    """Factory for `uvicorn --factory`; flavour from BENCH_UPSTREAM_FLAVOUR."""
    flavour = os.environ.get("BENCH_UPSTREAM_FLAVOUR", "service")
    if flavour == "bare":
        app = FastAPI()
        app.include_router(_router())

        @app.get("/healthz")
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}

        return app
    from scifikpi_common.app import create_service_app
    from scifikpi_common.settings import ServiceSettings

    class BenchSettings(ServiceSettings):
        service_name = "bench-upstream"

    return create_service_app(
        BenchSettings(),
        title="bench upstream",
        description="Static JWKS for the gateway benchmark",
        routers=[_router()],
        check_broker=False,
    )
