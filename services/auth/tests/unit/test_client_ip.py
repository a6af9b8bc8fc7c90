"""Which address login rate limiting counts: X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import pytest
from auth.api import login_address
from auth.handlers import AuthDeps
from auth.settings import AuthSettings
from starlette.requests import Request


def _request(peer: str, xff: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", xff.encode())] if xff is not None else []
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/auth/login",
            "headers": headers,
            "client": (peer, 5555),
        }
    )


@pytest.fixture(scope="module")
def deps() -> AuthDeps:
    return AuthDeps.from_settings(
        AuthSettings(environment="test", trusted_proxies=["10.0.0.0/8", "::1"])
    )


def test_peer_without_forwarding(deps: AuthDeps) -> None:
    assert login_address(_request("203.0.113.9"), deps) == "203.0.113.9"


def test_forwarded_for_from_a_trusted_proxy_takes_the_first_entry(deps: AuthDeps) -> None:
    assert login_address(_request("10.1.2.3", "198.51.100.7, 10.1.2.3"), deps) == "198.51.100.7"
    assert login_address(_request("::1", "2001:db8::1"), deps) == "2001:db8::1"


def test_forwarded_for_from_anyone_else_is_ignored(deps: AuthDeps) -> None:
    assert login_address(_request("203.0.113.9", "198.51.100.7"), deps) == "203.0.113.9"


def test_garbage_forwarded_for_counts_the_proxy(deps: AuthDeps) -> None:
    assert login_address(_request("10.1.2.3", "not-an-ip"), deps) == "10.1.2.3"
