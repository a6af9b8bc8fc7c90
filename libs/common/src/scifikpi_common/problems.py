"""RFC 9457 responses: typed errors in, `application/problem+json` out.

Unexpected exceptions are logged with their traceback and answered with a generic 500 body: no
traceback, no internals. Validation errors list location, message and type, never the input.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from scifikpi_common.errors import (
    PROBLEM_CONTENT_TYPE,
    AppError,
    BadRequest,
    Conflict,
    Forbidden,
    InternalError,
    InvalidToken,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Problem,
    RateLimited,
    UnsupportedMediaType,
    UpstreamTimeout,
    UpstreamUnavailable,
    ValidationFailed,
)
from scifikpi_common.logging import get_logger

log = get_logger(__name__)

_HTTP_STATUS_ERRORS: dict[int, type[AppError]] = {
    400: BadRequest,
    401: InvalidToken,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    429: RateLimited,
    503: UpstreamUnavailable,
    504: UpstreamTimeout,
}


def problem_response(error: AppError, instance: str | None = None) -> JSONResponse:
    return JSONResponse(
        error.to_problem(instance),
        status_code=error.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=error.headers,
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Echo location, message and type only: never the submitted input (it may hold a password).
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


_PREFIX = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")


def _instance(request: Request) -> str:
    """The path as the client called it: behind the gateway, with its `X-Forwarded-Prefix`."""
    prefix = request.headers.get("x-forwarded-prefix", "")
    return (prefix if _PREFIX.match(prefix) else "") + request.url.path


def install_problem_handlers(app: FastAPI) -> None:
    async def on_app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem_response(exc, _instance(request))

    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
        return problem_response(ValidationFailed(detail, errors=errors), _instance(request))

    async def on_http_exception(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        cls = _HTTP_STATUS_ERRORS.get(exc.status_code)
        if cls is None:
            cls = type(
                "HTTPError",
                (AppError,),
                {"status": exc.status_code, "slug": "http-error", "title": "HTTP error"},
            )
        detail = exc.detail if isinstance(exc.detail, str) else None
        error = cls(detail, headers=getattr(exc, "headers", None))
        return problem_response(error, _instance(request))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path, method=request.method)
        return problem_response(
            InternalError("The server failed to handle the request."), request.url.path
        )

    app.add_exception_handler(AppError, on_app_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, on_http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_unexpected)


def problem_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the problems a route may answer."""
    out: dict[int | str, dict[str, Any]] = {}
    for err in (*errors, ValidationFailed):
        entry = out.setdefault(
            err.status,
            {
                "model": Problem,
                "description": err.title,
                "content": {
                    PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            },
        )
        if entry["description"] != err.title and err.title not in entry["description"]:
            entry["description"] += f" / {err.title}"
    return out
