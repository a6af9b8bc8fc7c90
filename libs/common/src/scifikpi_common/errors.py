"""Typed errors a client may see, each with a stable RFC 9457 problem `type`.

No framework here, so domain code can raise them; `scifikpi_common.problems` turns them into
`application/problem+json` responses. Every slug is listed in docs/problems.md.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_PREFIX = "urn:scifikpi:problem:"


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

    def __init__(
        self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extensions: Any
    ):
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


class KeepsChanges(Exception):  # noqa: N818 - a marker mixed into errors, not an error itself
    """Marks an error whose side effects (a failure counter, a revoked token family, a sold-out
    attempt recorded) must be committed before it is answered: the edge commits, then lets the
    error through (`scifikpi_common.db.committing`)."""


class BadRequest(AppError):
    status, slug, title = 400, "bad-request", "Bad request"


class MissingIdempotencyKey(AppError):
    status, slug, title = 400, "idempotency-key-missing", "Idempotency-Key header is required"


class InvalidToken(AppError):
    status, slug, title = 401, "invalid-token", "Missing or invalid access token"
    # typed as on AppError, so a subclass that is no bearer-token problem can set `headers = None`
    headers: dict[str, str] | None = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


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


class InvalidCursor(ValidationFailed):
    slug, title = "invalid-cursor", "The page cursor is not valid"
