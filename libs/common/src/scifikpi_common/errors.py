"""RFC 9457 problem details: typed exceptions in, `application/problem+json` out.

Every error a client can see has a stable `type` (`urn:scifikpi:problem:<slug>`), listed in
docs/problems.md. Unexpected exceptions are logged with their traceback and answered with a
generic 500 body: no traceback, no internals.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from scifikpi_common.logging import get_logger

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_PREFIX = "urn:scifikpi:problem:"

log = get_logger(__name__)


def problem_type(slug: str) -> str:
    return PROBLEM_PREFIX + slug


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["urn:scifikpi:problem:validation-error"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class AppError(Exception):
    """Base of every error a client may see. Subclasses fix `status`, `slug` and `title`."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"
    headers: dict[str, str] | None = None

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extensions: Any):
        super().__init__(detail or self.title)
        self.detail = detail
        self.extensions = extensions
        if headers:
            self.headers = headers

    @classmethod
    def type_uri(cls) -> str:
        return problem_type(cls.slug)

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type_uri(), "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


class BadRequest(AppError):
    status, slug, title = 400, "bad-request", "Bad request"


class MissingIdempotencyKey(AppError):
    status, slug, title = 400, "idempotency-key-missing", "Idempotency-Key header is required"


class InvalidToken(AppError):
    status, slug, title = 401, "invalid-token", "Missing or invalid access token"
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(AppError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(AppError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(AppError):
    status, slug, title = 422, "validation-error", "Request validation failed"


class RateLimited(AppError):
    status, slug, title = 429, "rate-limited", "Too many requests"


class InternalError(AppError):
    status, slug, title = 500, "internal-error", "Internal server error"


class UpstreamUnavailable(AppError):
    status, slug, title = 503, "upstream-unavailable", "A backing service is unavailable"


class UpstreamTimeout(AppError):
    status, slug, title = 504, "upstream-timeout", "A backing service did not answer in time"


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


def install_problem_handlers(app: FastAPI) -> None:
    async def on_app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem_response(exc, request.url.path)

    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
        return problem_response(ValidationFailed(detail, errors=errors), request.url.path)

    async def on_http_exception(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        cls = _HTTP_STATUS_ERRORS.get(exc.status_code)
        if cls is None:
            cls = type("HTTPError", (AppError,), {"status": exc.status_code, "slug": "http-error", "title": "HTTP error"})
        detail = exc.detail if isinstance(exc.detail, str) else None
        error = cls(detail, headers=getattr(exc, "headers", None))
        return problem_response(error, request.url.path)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path, method=request.method)
        return problem_response(InternalError("The server failed to handle the request."), request.url.path)

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
            {"model": Problem, "description": err.title, "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}},
        )
        if entry["description"] != err.title and err.title not in entry["description"]:
            entry["description"] += f" / {err.title}"
    return out
