"""POST /auth/register against real Postgres: accounts, the outbox, bad input, races."""
# ruff: noqa: S105, S106  (test credentials)

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import jwt
from _auth_helpers import PASSWORD, individual, legal_entity, unique_email
from auth.models import outbox
from scifikpi_common.testing.contracts import assert_problem
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine


async def _outbox_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(outbox).order_by(outbox.c.id))).all())


class TestRegisterIndividual:
    async def test_created_pending_with_tokens(self, client: httpx.AsyncClient) -> None:
        body = individual(email="  Ada.Lovelace@Example.COM ")
        response = await client.post("/auth/register", json=body)
        assert response.status_code == 201, response.text
        assert response.headers["cache-control"] == "no-store"
        data = response.json()
        user = data["user"]
        assert user["email"] == "ada.lovelace@example.com"
        assert user["account_type"] == "individual"
        assert user["status"] == "pending_payment"
        assert user["role"] == "user"
        assert user["country"] == "RU"
        assert user["full_name"] == "Ada Lovelace"
        assert user["company"] is None
        assert user["initial_deposit"] == {"amount_minor": 1000, "currency": "USD"}
        assert user["created_at"]
        assert data["token_type"] == "Bearer"
        assert data["expires_in"] == 900
        assert len(data["refresh_token"]) >= 43
        claims = jwt.decode(data["access_token"], options={"verify_signature": False})
        assert claims["sub"] == user["id"]
        assert claims["status"] == "pending_payment"

    async def test_user_registered_goes_to_the_outbox_in_the_same_transaction(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        response = await client.post("/auth/register", json=individual(country="DE"))
        user = response.json()["user"]
        rows = await _outbox_rows(engine)
        assert len(rows) == 1
        row = rows[0]
        assert row.topic == "auth.user.v1"
        assert row.key == user["id"]
        assert row.event_type == "UserRegistered"
        assert row.published_at is None
        assert row.payload["producer"] == "auth"
        assert row.payload["payload"] == {
            "user_id": user["id"],
            "email": user["email"],
            "account_type": "individual",
            "country": "DE",
            "status": "pending_payment",
            "initial_deposit": {"amount_minor": 1000, "currency": "USD"},
            "registered_at": row.payload["payload"]["registered_at"],
        }
        assert "traceparent" in row.headers

    async def test_password_is_stored_as_argon2id_only(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await client.post("/auth/register", json=individual())
        async with engine.connect() as conn:
            stored = (await conn.execute(text("SELECT password_hash FROM auth.users"))).scalar_one()
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert PASSWORD not in stored

    async def test_rub_deposit_at_the_converted_minimum(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/auth/register",
            json=individual(initial_deposit={"amount_minor": 80000, "currency": "RUB"}),
        )
        assert response.status_code == 201, response.text


class TestRegisterLegalEntity:
    async def test_russian_company_with_valid_inn(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/auth/register", json=legal_entity())
        assert response.status_code == 201, response.text
        user = response.json()["user"]
        assert user["account_type"] == "legal_entity"
        assert user["full_name"] is None
        assert user["company"] == {
            "name": "Sberbank",
            "tax_id": "7707083893",
            "representative": {"full_name": "Ivan Petrov", "position": "CFO"},
        }

    async def test_representative_position_is_optional(self, client: httpx.AsyncClient) -> None:
        body = legal_entity()
        body["company"]["representative"] = {"full_name": "Ivan Petrov"}
        response = await client.post("/auth/register", json=body)
        assert response.status_code == 201, response.text
        assert response.json()["user"]["company"]["representative"]["position"] is None

    async def test_german_vat_number_is_normalized(self, client: httpx.AsyncClient) -> None:
        body = legal_entity(country="DE", initial_deposit={"amount_minor": 1000, "currency": "EUR"})
        body["company"]["tax_id"] = "DE 136 695 976"
        response = await client.post("/auth/register", json=body)
        assert response.status_code == 201, response.text
        assert response.json()["user"]["company"]["tax_id"] == "136695976"

    async def test_russian_inn_with_bad_checksum(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        body = legal_entity()
        body["company"]["tax_id"] = "7707083894"
        problem = assert_problem(
            await client.post("/auth/register", json=body), 422, "invalid-tax-id"
        )
        assert "check digits" in problem["detail"]
        assert await _outbox_rows(engine) == []

    async def test_country_without_tax_id_validation(self, client: httpx.AsyncClient) -> None:
        body = legal_entity(country="KZ")
        body["company"]["tax_id"] = "123456789012"
        problem = assert_problem(
            await client.post("/auth/register", json=body), 422, "invalid-tax-id"
        )
        assert "cannot be validated" in problem["detail"]

    async def test_company_is_required(self, client: httpx.AsyncClient) -> None:
        body = legal_entity()
        del body["company"]
        assert_problem(await client.post("/auth/register", json=body), 422, "validation-error")


class TestDeposit:
    async def test_below_usd_10(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/auth/register",
            json=individual(initial_deposit={"amount_minor": 999, "currency": "USD"}),
        )
        problem = assert_problem(response, 422, "deposit-below-minimum")
        assert problem["minimum"] == {"amount_minor": 1000, "currency": "USD"}

    async def test_below_the_rub_equivalent(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/auth/register",
            json=individual(initial_deposit={"amount_minor": 79999, "currency": "RUB"}),
        )
        problem = assert_problem(response, 422, "deposit-below-minimum")
        assert problem["minimum"] == {"amount_minor": 80000, "currency": "RUB"}

    async def test_unknown_currency(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/auth/register",
            json=individual(initial_deposit={"amount_minor": 100000, "currency": "XYZ"}),
        )
        problem = assert_problem(response, 422, "unsupported-currency")
        assert "USD" in problem["supported_currencies"]

    async def test_zero_or_negative(self, client: httpx.AsyncClient) -> None:
        for amount in (0, -100):
            response = await client.post(
                "/auth/register",
                json=individual(initial_deposit={"amount_minor": amount, "currency": "USD"}),
            )
            assert_problem(response, 422, "validation-error")


class TestPasswordPolicy:
    async def test_too_short(self, client: httpx.AsyncClient) -> None:
        problem = assert_problem(
            await client.post("/auth/register", json=individual(password="short")),
            422,
            "weak-password",
        )
        assert "at least 10" in problem["detail"]
        assert "short" not in json.dumps(problem["problems"]).replace("at least", "")

    async def test_contains_the_email(self, client: httpx.AsyncClient) -> None:
        body = individual(email="grace.hopper@example.com", password="grace.hopper-1906")
        assert_problem(await client.post("/auth/register", json=body), 422, "weak-password")

    async def test_common(self, client: httpx.AsyncClient) -> None:
        assert_problem(
            await client.post("/auth/register", json=individual(password="Password123")),
            422,
            "weak-password",
        )


class TestDuplicateEmail:
    async def test_second_registration_is_409(self, client: httpx.AsyncClient, register) -> None:
        first = await register()
        response = await client.post(
            "/auth/register", json=individual(email=first["user"]["email"].upper())
        )
        assert_problem(response, 409, "email-taken")

    async def test_concurrent_registrations_leave_exactly_one_user(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        email = unique_email("race")
        bodies = [
            individual(email=email if i % 2 else email.upper(), full_name=f"Racer {i}")
            for i in range(10)
        ]
        responses = await asyncio.gather(*(client.post("/auth/register", json=b) for b in bodies))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [409] * 9, [r.text for r in responses]
        for r in responses:
            if r.status_code == 409:
                assert r.json()["type"] == "urn:scifikpi:problem:email-taken"
        async with engine.connect() as conn:
            users = (await conn.execute(text("SELECT count(*) FROM auth.users"))).scalar_one()
            events = (await conn.execute(text("SELECT count(*) FROM auth.outbox"))).scalar_one()
        assert (users, events) == (1, 1)


class TestBadInput:
    async def test_malformed_json(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/auth/register",
            content=b'{"email": "a@b.c", ',
            headers={"content-type": "application/json"},
        )
        assert_problem(response, 422, "validation-error")

    async def test_wrong_types(self, client: httpx.AsyncClient) -> None:
        body = individual(email=12345, initial_deposit={"amount_minor": "lots", "currency": "USD"})
        problem = assert_problem(
            await client.post("/auth/register", json=body), 422, "validation-error"
        )
        locs = {tuple(e["loc"]) for e in problem["errors"]}
        assert ("body", "individual", "email") in locs
        assert ("body", "individual", "initial_deposit", "amount_minor") in locs

    async def test_unknown_fields(self, client: httpx.AsyncClient) -> None:
        problem = assert_problem(
            await client.post("/auth/register", json=individual(role="admin")),
            422,
            "validation-error",
        )
        assert problem["errors"][0]["type"] == "extra_forbidden"

    async def test_unknown_nested_fields(self, client: httpx.AsyncClient) -> None:
        body = legal_entity()
        body["company"]["representative"]["salary"] = 1
        assert_problem(await client.post("/auth/register", json=body), 422, "validation-error")

    async def test_unknown_account_type(self, client: httpx.AsyncClient) -> None:
        assert_problem(
            await client.post("/auth/register", json=individual(account_type="robot")),
            422,
            "validation-error",
        )

    async def test_invalid_email(self, client: httpx.AsyncClient) -> None:
        assert_problem(
            await client.post("/auth/register", json=individual(email="not-an-email")),
            422,
            "validation-error",
        )

    async def test_invalid_country(self, client: httpx.AsyncClient) -> None:
        assert_problem(
            await client.post("/auth/register", json=individual(country="XX")),
            422,
            "validation-error",
        )

    async def test_lowercase_currency_is_refused(self, client: httpx.AsyncClient) -> None:
        body = individual(initial_deposit={"amount_minor": 1000, "currency": "usd"})
        assert_problem(await client.post("/auth/register", json=body), 422, "validation-error")

    async def test_body_is_not_an_object(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.post("/auth/register", json=[1, 2, 3]), 422, "validation-error")

    async def test_password_is_never_echoed(self, client: httpx.AsyncClient) -> None:
        secret = "my-very-secret-password-123"
        response = await client.post(
            "/auth/register", json=individual(password=secret, email="bad")
        )
        assert secret not in response.text

    async def test_oversized_body(self, client: httpx.AsyncClient) -> None:
        body = individual(full_name="x" * 70_000)
        assert_problem(await client.post("/auth/register", json=body), 413, "payload-too-large")

    async def test_oversized_body_without_content_length(self, client: httpx.AsyncClient) -> None:
        payload = json.dumps(individual(full_name="x" * 70_000)).encode()

        async def chunks():
            for i in range(0, len(payload), 8192):
                yield payload[i : i + 8192]

        response = await client.post(
            "/auth/register", content=chunks(), headers={"content-type": "application/json"}
        )
        assert_problem(response, 413, "payload-too-large")
