"""The published HTTP contract as every service's tests check it (docs/developer-guide.md).

An operation is documented when it has a description (its docstring), the statuses the service
promises, problem+json on every error status and, where asked, a response model on every success
status and a bearer-token requirement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: (path, method) -> the statuses it documents, or (statuses, whether it needs a bearer token)
Expected = Mapping[tuple[str, str], set[str] | tuple[set[str], bool]]


def check_documented(
    paths: Mapping[str, Any],
    expected: Expected,
    *,
    secured: bool | None = None,
    typed_success: bool = False,
) -> None:
    """Fail on the first operation of `expected` that is not documented as promised."""
    for (path, method), promise in expected.items():
        statuses, needs_token = promise if isinstance(promise, tuple) else (promise, secured)
        operation = paths[path][method]
        assert operation.get("description"), f"{method} {path} has no docstring"
        if needs_token is not None:
            assert bool(operation.get("security")) is needs_token, (method, path, "security")
        responses = operation["responses"]
        assert statuses <= set(responses), (method, path, sorted(responses))
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert "application/problem+json" in response["content"], (path, status)
            elif typed_success:
                assert "$ref" in str(response["content"]["application/json"]["schema"]), path


def assert_problem(response: Any, status: int, slug: str | None = None) -> dict[str, Any]:
    """`response` (an httpx response) is an RFC 9457 problem with this status and, when given,
    the stable type `urn:scifikpi:problem:<slug>`, and shows no traceback; returns its body."""
    assert response.status_code == status, response.text
    content_type = response.headers["content-type"]
    assert content_type.startswith("application/problem+json"), content_type
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"], body
    if slug is not None:
        assert body["type"] == f"urn:scifikpi:problem:{slug}", body
    assert "Traceback" not in response.text
    return body
