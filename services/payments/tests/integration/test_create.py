"""POST /payments and /balance/topup against real Postgres and real localstripe / YooKassa fake:
validation problems, account rules, idempotency (replay, reuse, a concurrent burst)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from _pay_helpers import payment_body
from scifikpi_common.testing.contracts import assert_problem
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def _count_payments(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM payments.payments"))).scalar_one()


async def _stripe_intents(localstripe: Any, payment_id: str) -> list[dict[str, Any]]:
    """The PaymentIntents localstripe holds for one of our payments (by metadata)."""
    async with httpx.AsyncClient(base_url=localstripe.url, timeout=10) as c:
        r = await c.get(
            "/v1/payment_intents",
            params={"limit": 100},
            headers={"Authorization": "Bearer sk_test_local"},
        )
    r.raise_for_status()
    return [pi for pi in r.json()["data"] if pi["metadata"].get("payment_id") == payment_id]


class TestStripeCreate:
    async def test_creates_a_payment_intent_keyed_by_our_id(
        self, client: httpx.AsyncClient, user, localstripe
    ) -> None:
        r = await client.post("/payments", json=payment_body(), headers=user.headers())
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "pending"
        assert body["purpose"] == "topup" and body["provider"] == "stripe"
        assert (body["amount_minor"], body["currency"]) == (1500, "USD")
        assert body["provider_payment_id"].startswith("pi_")
        assert body["client_secret"].startswith(body["provider_payment_id"])
        assert body["confirmation_url"] is None
        assert uuid.UUID(body["id"]).version == 7
        assert r.headers["location"] == f"/payments/{body['id']}"
        [intent] = await _stripe_intents(localstripe, body["id"])
        assert intent["id"] == body["provider_payment_id"]
        assert (intent["amount"], intent["currency"]) == (1500, "usd")
        assert intent["metadata"] == {
            "payment_id": body["id"],
            "user_id": str(user.id),
            "purpose": "topup",
        }

    async def test_registration_while_pending(self, client, make_user) -> None:
        pending = make_user("pending_payment")
        r = await client.post(
            "/payments",
            json=payment_body(purpose="registration", amount_minor=1000),
            headers=pending.headers(),
        )
        assert r.status_code == 201, r.text
        assert r.json()["purpose"] == "registration"

    async def test_same_key_same_body_is_the_same_payment(self, client, user, localstripe) -> None:
        headers = user.headers("key-1")
        first = await client.post("/payments", json=payment_body(), headers=headers)
        again = await client.post("/payments", json=payment_body(), headers=headers)
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert len(await _stripe_intents(localstripe, first.json()["id"])) == 1

    async def test_location_keeps_the_gateway_prefix(self, client, user) -> None:
        headers = {**user.headers(), "X-Forwarded-Prefix": "/api/v1"}
        r = await client.post("/payments", json=payment_body(), headers=headers)
        assert r.headers["location"] == f"/api/v1/payments/{r.json()['id']}"
        headers = {**user.headers(), "X-Forwarded-Prefix": "javascript:alert(1)"}
        r = await client.post("/payments", json=payment_body(), headers=headers)
        assert r.headers["location"] == f"/payments/{r.json()['id']}"

    async def test_topup_and_payments_share_the_key_space(self, client, user) -> None:
        headers = user.headers()
        body = {"amount_minor": 700, "currency": "EUR", "provider": "stripe"}
        first = await client.post("/balance/topup", json=body, headers=headers)
        assert first.status_code == 201, first.text
        assert first.json()["purpose"] == "topup"
        again = await client.post("/payments", json={**body, "purpose": "topup"}, headers=headers)
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]

    async def test_keys_are_per_user(self, client, make_user) -> None:
        a, b = make_user(), make_user()
        ra = await client.post("/payments", json=payment_body(), headers=a.headers("shared"))
        rb = await client.post("/payments", json=payment_body(), headers=b.headers("shared"))
        assert (ra.status_code, rb.status_code) == (201, 201)
        assert ra.json()["id"] != rb.json()["id"]

    async def test_twenty_concurrent_posts_with_one_key_make_one_payment(
        self, client: httpx.AsyncClient, user, engine: AsyncEngine, localstripe
    ) -> None:
        headers = user.headers("burst")
        responses = await asyncio.gather(
            *(client.post("/payments", json=payment_body(), headers=headers) for _ in range(20))
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 19 + [201], [r.text for r in responses if r.status_code > 201]
        ids = {r.json()["id"] for r in responses}
        assert len(ids) == 1
        assert {r.json()["provider_payment_id"] for r in responses} != {None}
        assert await _count_payments(engine) == 1
        assert len(await _stripe_intents(localstripe, ids.pop())) == 1


class TestYooMoneyCreate:
    async def test_redirect_confirmation(self, client, user, yookassa) -> None:
        r = await client.post(
            "/payments",
            json=payment_body(provider="yoomoney", currency="RUB", amount_minor=123456),
            headers=user.headers(),
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "pending"
        assert body["confirmation_url"] and body["client_secret"] is None
        [created] = [
            p for p in await yookassa.control.payments() if p["id"] == body["provider_payment_id"]
        ]
        assert created["amount"] == {"value": "1234.56", "currency": "RUB"}
        assert created["metadata"]["payment_id"] == body["id"]
        assert created["confirmation"]["type"] == "redirect"

    async def test_same_key_same_body(self, client, user, yookassa) -> None:
        headers = user.headers()
        body = payment_body(provider="yoomoney", currency="RUB", amount_minor=5000)
        first = await client.post("/payments", json=body, headers=headers)
        again = await client.post("/payments", json=body, headers=headers)
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json() == again.json()
        assert len(await yookassa.control.payments()) == 1


class TestBadInput:
    async def test_registration_below_minimum(self, client, make_user, engine) -> None:
        pending = make_user("pending_payment")
        r = await client.post(
            "/payments",
            json=payment_body(purpose="registration", amount_minor=999),
            headers=pending.headers(),
        )
        body = assert_problem(r, 422, "deposit-below-minimum")
        assert body["minimum"] == {"amount_minor": 1000, "currency": "USD"}
        assert await _count_payments(engine) == 0

    async def test_registration_below_minimum_in_rub(self, client, make_user) -> None:
        pending = make_user("pending_payment")
        r = await client.post(
            "/payments",
            json=payment_body(
                purpose="registration", currency="RUB", amount_minor=79999, provider="yoomoney"
            ),
            headers=pending.headers(),
        )
        assert assert_problem(r, 422, "deposit-below-minimum")["minimum"] == {
            "amount_minor": 80000,
            "currency": "RUB",
        }

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("purpose", "donation"),
            ("provider", "paypal"),
            ("currency", "usd"),
            ("currency", "DOLLARS"),
            ("amount_minor", 0),
            ("amount_minor", -100),
            ("amount_minor", 1.5),
            ("amount_minor", "1000"),
        ],
    )
    async def test_invalid_fields(self, client, user, engine, field: str, value: Any) -> None:
        r = await client.post(
            "/payments", json=payment_body(**{field: value}), headers=user.headers()
        )
        body = assert_problem(r, 422, "validation-error")
        assert any(field in e["loc"] for e in body["errors"]), body
        assert await _count_payments(engine) == 0

    async def test_unknown_currency(self, client, user, engine) -> None:
        r = await client.post(
            "/payments", json=payment_body(currency="XYZ"), headers=user.headers()
        )
        assert_problem(r, 422, "unsupported-currency")
        assert await _count_payments(engine) == 0

    async def test_currency_the_provider_does_not_take(self, client, user) -> None:
        r = await client.post(
            "/payments",
            json=payment_body(provider="yoomoney", currency="USD"),
            headers=user.headers(),
        )
        assert_problem(r, 422, "currency-not-supported-by-provider")

    async def test_unknown_fields_are_refused(self, client, user) -> None:
        r = await client.post(
            "/payments", json=payment_body(user_id=str(uuid.uuid4())), headers=user.headers()
        )
        assert_problem(r, 422, "validation-error")

    async def test_missing_idempotency_key(self, client, user, engine) -> None:
        r = await client.post("/payments", json=payment_body(), headers=user.auth)
        assert_problem(r, 400, "idempotency-key-missing")
        r = await client.post(
            "/balance/topup",
            json={"amount_minor": 500, "currency": "USD", "provider": "stripe"},
            headers=user.auth,
        )
        assert_problem(r, 400, "idempotency-key-missing")
        r = await client.post(
            "/payments", json=payment_body(), headers={**user.auth, "Idempotency-Key": "  "}
        )
        assert_problem(r, 400, "idempotency-key-missing")
        assert await _count_payments(engine) == 0

    async def test_overlong_idempotency_key(self, client, user) -> None:
        r = await client.post("/payments", json=payment_body(), headers=user.headers("k" * 256))
        assert_problem(r, 422, "idempotency-key-invalid")

    async def test_same_key_different_body(self, client, user, engine) -> None:
        headers = user.headers()
        first = await client.post("/payments", json=payment_body(), headers=headers)
        assert first.status_code == 201
        r = await client.post("/payments", json=payment_body(amount_minor=1501), headers=headers)
        body = assert_problem(r, 422, "idempotency-key-reused")
        assert body["payment_id"] == first.json()["id"]
        assert await _count_payments(engine) == 1

    async def test_acceleration_needs_a_quote(self, client, user) -> None:
        r = await client.post(
            "/payments", json=payment_body(purpose="acceleration"), headers=user.headers()
        )
        assert_problem(r, 422, "quote-required")
        quote = str(uuid.uuid4())
        r = await client.post(
            "/payments", json=payment_body(quote_id=quote), headers=user.headers()
        )
        assert_problem(r, 422, "quote-not-allowed")
        r = await client.post(
            "/payments",
            json=payment_body(purpose="acceleration", quote_id=quote),
            headers=user.headers(),
        )
        assert r.status_code == 201, r.text
        assert r.json()["quote_id"] == quote

    async def test_no_token(self, client) -> None:
        r = await client.post("/payments", json=payment_body(), headers={"Idempotency-Key": "k"})
        assert_problem(r, 401, "invalid-token")


class TestAccountRules:
    async def test_registration_when_already_active(self, client, user) -> None:
        r = await client.post(
            "/payments",
            json=payment_body(purpose="registration", amount_minor=1000),
            headers=user.headers(),
        )
        assert_problem(r, 409, "account-not-pending-payment")

    async def test_topup_while_pending(self, client, make_user) -> None:
        r = await client.post(
            "/payments", json=payment_body(), headers=make_user("pending_payment").headers()
        )
        assert_problem(r, 403, "account-not-active")

    async def test_the_projection_wins_over_the_token(self, client, make_user, engine) -> None:
        """A token issued while pending, after auth said the account is active."""
        u = make_user("pending_payment")
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO payments.accounts (user_id, status) VALUES (:u, 'active')"),
                {"u": u.id},
            )
        r = await client.post("/payments", json=payment_body(), headers=u.headers())
        assert r.status_code == 201, r.text
        r = await client.post(
            "/payments",
            json=payment_body(purpose="registration", amount_minor=1000),
            headers=u.headers(),
        )
        assert_problem(r, 409, "account-not-pending-payment")

    async def test_a_succeeded_registration_deposit_is_proof_of_activation(
        self, client, make_user, engine
    ) -> None:
        """auth's UserActivated has not reached payments yet; the user tops up at once."""
        u = make_user("pending_payment")
        r = await client.post(
            "/payments",
            json=payment_body(purpose="registration", amount_minor=1000),
            headers=u.headers(),
        )
        assert r.status_code == 201, r.text
        topup = payment_body(purpose="topup", amount_minor=500)
        r = await client.post("/payments", json=topup, headers=u.headers())
        assert_problem(r, 403, "account-not-active")
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE payments.payments SET status = 'succeeded' WHERE id = :id"),
                {"id": await _only_registration(conn, u.id)},
            )
        r = await client.post("/payments", json=topup, headers=u.headers())
        assert r.status_code == 201, r.text

    async def test_replay_is_answered_even_after_the_account_changed(
        self, client, make_user, engine
    ) -> None:
        u = make_user("pending_payment")
        headers = u.headers()
        body = payment_body(purpose="registration", amount_minor=1000)
        first = await client.post("/payments", json=body, headers=headers)
        assert first.status_code == 201
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO payments.accounts (user_id, status) VALUES (:u, 'active')"),
                {"u": u.id},
            )
        again = await client.post("/payments", json=body, headers=headers)
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]


async def _only_registration(conn, user_id):
    return (
        await conn.execute(
            text(
                "SELECT id FROM payments.payments WHERE user_id = :u AND purpose = 'registration'"
            ),
            {"u": user_id},
        )
    ).scalar_one()
