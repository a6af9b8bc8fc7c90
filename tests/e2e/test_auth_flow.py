"""Register -> login -> me -> refresh -> logout through the gateway, with exact response shapes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest
from e2e_support import PASSWORD, individual, new_email
from scifikpi_common.testing.contracts import assert_problem

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

TOKEN_KEYS = {"user", "access_token", "refresh_token", "token_type", "expires_in"}
USER_KEYS = {"id", "email", "account_type", "status"}


def assert_auth_response(body: dict[str, Any], email: str, status: str = "pending_payment") -> None:
    assert set(body) >= TOKEN_KEYS, body
    assert body["token_type"] == "Bearer"  # noqa: S105 - not a secret
    assert isinstance(body["expires_in"], int) and 60 <= body["expires_in"] <= 3600
    assert body["access_token"].count(".") == 2  # a JWT
    assert body["refresh_token"] and body["refresh_token"] != body["access_token"]
    user = body["user"]
    assert set(user) >= USER_KEYS, user
    UUID(user["id"])
    assert user["email"] == email
    assert user["account_type"] == "individual"
    assert user["status"] == status


async def test_register_login_me_refresh_logout(api: httpx.AsyncClient) -> None:
    email = new_email()
    registered = await api.post(
        "/auth/register", json=individual(email, amount_minor=1000, currency="USD")
    )
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert_auth_response(body, email)
    assert body["user"]["initial_deposit"] == {"amount_minor": 1000, "currency": "USD"}
    user_id = body["user"]["id"]

    login = await api.post("/auth/login", json={"email": email.upper(), "password": PASSWORD})
    assert login.status_code == 200, login.text
    session = login.json()
    assert_auth_response(session, email)
    assert session["user"]["id"] == user_id

    me = await api.get("/auth/me", headers={"Authorization": f"Bearer {session['access_token']}"})
    assert me.status_code == 200, me.text
    profile = me.json()
    assert set(profile) >= USER_KEYS
    assert profile["id"] == user_id and profile["email"] == email
    assert profile["status"] == "pending_payment" and profile["account_type"] == "individual"

    refreshed = await api.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    rotated = refreshed.json()
    assert_auth_response(rotated, email)
    assert rotated["refresh_token"] != session["refresh_token"]
    me_again = await api.get(
        "/auth/me", headers={"Authorization": f"Bearer {rotated['access_token']}"}
    )
    assert me_again.status_code == 200

    logout = await api.post("/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    assert logout.status_code == 204, logout.text
    assert logout.content == b""
    after = await api.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert_problem(after, 401)


async def test_refresh_reuse_after_rotation_is_refused_and_revokes_the_family(
    api: httpx.AsyncClient,
) -> None:
    email = new_email("reuse")
    first = (await api.post("/auth/register", json=individual(email))).json()["refresh_token"]
    second = await api.post("/auth/refresh", json={"refresh_token": first})
    assert second.status_code == 200, second.text
    newest = second.json()["refresh_token"]

    reused = await api.post("/auth/refresh", json={"refresh_token": first})
    assert_problem(reused, 401)
    # the whole family is revoked: the newest token stops working too
    assert_problem(await api.post("/auth/refresh", json={"refresh_token": newest}), 401)


async def test_me_without_a_token_is_401(api: httpx.AsyncClient) -> None:
    assert_problem(await api.get("/auth/me"), 401)
    assert_problem(await api.get("/auth/me", headers={"Authorization": "Bearer not.a.jwt"}), 401)


async def test_below_minimum_deposit_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post("/auth/register", json=individual(new_email("low"), amount_minor=999))
    assert_problem(response, 422, "deposit-below-minimum")


async def test_wrong_password_is_401_like_an_unknown_email(api: httpx.AsyncClient) -> None:
    email = new_email("pw")
    assert (await api.post("/auth/register", json=individual(email))).status_code == 201
    wrong = assert_problem(
        await api.post("/auth/login", json={"email": email, "password": "Nope-nope-12345"}), 401
    )
    unknown = assert_problem(
        await api.post("/auth/login", json={"email": new_email("ghost"), "password": PASSWORD}), 401
    )
    assert wrong["type"] == unknown["type"] and wrong["detail"] == unknown["detail"]
