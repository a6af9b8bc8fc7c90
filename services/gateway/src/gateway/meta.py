"""The gateway's own endpoints (FastAPI, off the hot path): /docs, /openapi.json, health, metrics.

Swagger UI is served from the `swagger-ui-bundle` package's files, never from a CDN, so /docs
works offline and under a strict Content-Security-Policy.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from scifikpi_common.health import health_router
from scifikpi_common.metrics import metrics_endpoint
from scifikpi_common.problems import install_problem_handlers
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from gateway.openapi30 import to_openapi30

ASSETS = "/docs/assets"


def create_meta_app() -> FastAPI:
    """The app; `state.openapi` (OpenApiAggregator) and `state.readiness_checks` come at startup."""
    app = FastAPI(
        title="SciFiKPI gateway",
        version="1.0.0",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_problem_handlers(app)
    app.include_router(health_router())
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="swagger-assets")

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(await request.app.state.openapi.document())

    @app.get("/docs/openapi-3.0.json", include_in_schema=False)
    async def openapi_30(request: Request) -> JSONResponse:
        """The same document translated to OpenAPI 3.0 for the bundled Swagger UI 4."""
        return JSONResponse(to_openapi30(await request.app.state.openapi.document()))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/docs/openapi-3.0.json",
            title="SciFiKPI API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_ui_parameters={"persistAuthorization": True, "displayRequestDuration": True},
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    return app


def gateway_spec(app: FastAPI) -> dict[str, Any]:
    """The gateway's own operations (health), for the merged document."""
    spec = app.openapi()
    readyz = spec.get("paths", {}).get("/readyz", {}).get("get")
    if readyz is not None:
        readyz["summary"] = "Readiness: every upstream service answers its /healthz"
    for item in spec.get("paths", {}).values():
        for op in item.values():
            op["tags"] = ["gateway"]
    return spec
