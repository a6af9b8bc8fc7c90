"""RFC 9457 responses: typed errors in, `application/problem+json` out.

Unexpected exceptions are logged with their traceback and answered with a generic 500 body: no
traceback, no internals. Validation errors list location, message and type, never the input.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

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


def _http_error(status_code: int) -> type[AppError]:
    """The problem for an HTTP status no error class of ours stands for."""

    class HTTPError(AppError):
        status = status_code
        slug = "http-error"
        title = "HTTP error"

    return HTTPError


E = TypeVar("E", bound=Exception)


def _add_handler(
    app: FastAPI, exc_type: type[E], handler: Callable[[Request, E], Awaitable[Response]]
) -> None:
    """`app.add_exception_handler` for a handler of one exception type (Starlette types every
    handler as taking any `Exception`; it calls this one only with `exc_type`)."""

    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, exc_type)
        return await handler(request, exc)

    app.add_exception_handler(exc_type, handle)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem_response(exc, _instance(request))

    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
        return problem_response(ValidationFailed(detail, errors=errors), _instance(request))

    async def on_http_exception(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI's 400 for a JSON body that is not even text: the same as a JSON syntax
            # error (422 json_invalid), which is what every route documents
            errors = [{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]
            invalid = ValidationFailed("body: JSON decode error (not UTF-8)", errors=errors)
            return problem_response(invalid, _instance(request))
        cls = _HTTP_STATUS_ERRORS.get(exc.status_code) or _http_error(exc.status_code)
        given: object = exc.detail  # FastAPI's HTTPException takes any JSON value
        detail = given if isinstance(given, str) else None
        error = cls(detail, headers=getattr(exc, "headers", None))
        return problem_response(error, _instance(request))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path, method=request.method)
        return problem_response(
            InternalError("The server failed to handle the request."), _instance(request)
        )

    _add_handler(app, AppError, on_app_error)
    _add_handler(app, RequestValidationError, on_validation_error)
    _add_handler(app, StarletteHTTPException, on_http_exception)
    app.add_exception_handler(Exception, on_unexpected)


def problem_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the problems a route may answer."""
    out: dict[int | str, dict[str, Any]] = {}
    every: tuple[type[AppError], ...] = (*errors, ValidationFailed)
    for err in every:
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
