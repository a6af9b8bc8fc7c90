"""OpenAPI facts FastAPI cannot infer from a signature.

A header the route must refuse with its own problem type (`MissingIdempotencyKey`, 400) when it is
absent is declared `str | None` so FastAPI lets the request through to the route, which would
document it as optional; `required_header` hides that parameter and documents it as required.
"""

from __future__ import annotations

from typing import Any


def required_header(name: str, description: str, *, max_length: int) -> dict[str, Any]:
    """`openapi_extra` for a route whose header `name` is declared with
    `Header(alias=name, include_in_schema=False)` and is required by the route itself."""
    return {
        "parameters": [
            {
                "name": name,
                "in": "header",
                "required": True,
                "description": description,
                "schema": {"type": "string", "minLength": 1, "maxLength": max_length},
            }
        ]
    }
