"""The writes the drill makes, through the gateway of a real stack, as a person would:

register → pay the deposit with Stripe (at localstripe, `scifikpi_tools.standins.pay`) → active →
start mining → quote an acceleration for the rest of the session → pay it → the session's points
on the ledger → buy an NFT → `completed` and the points captured. Every step is the services' own
path (payments' webhook, outboxes, relays, consumers, the local TON chain); nothing is put on the
broker by hand. A journey is done when its balance is final, so the books are quiet between
batches and the recovery target falls between two sets of committed writes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from scifikpi_tools.bench.cabinet import API, PASSWORD
from scifikpi_tools.bench.nft import admin_token
from scifikpi_tools.standins.pay import pay_stripe

ITEM_PRICE = Decimal("0.000001")
DEPOSIT_MINOR = 1000
STEP_TIMEOUT_S = 90.0


@dataclass
class Journey:
    email: str
    batch: str
    user_id: str = ""
    payments: list[str] = field(default_factory=list)
    session_id: str = ""
    purchase_id: str = ""
    balance: Decimal | None = None  # points available once everything settled


class Writer:
    """One gateway client and the stack's localstripe."""

    def __init__(self, client: httpx.AsyncClient, localstripe_url: str) -> None:
        self.client, self.localstripe_url = client, localstripe_url
        self.item_id = ""

    async def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """The response once it is not a 5xx/429 (a fresh stack's consumers may still join)."""
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:
            r = await self.client.request(method, f"{API}{path}", **kw)
            if r.status_code < 500 and r.status_code != 429:
                return r
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
            await asyncio.sleep(0.5)

    async def until(self, what: str, check: Any) -> Any:
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:
            value = await check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            await asyncio.sleep(0.25)

    async def create_item(self, database_url: str) -> None:
        token = await admin_token(self.client, database_url)
        r = await self.call(
            "POST",
            "/admin/nft/catalog",
            json={
                "name": "Restore Drill",
                "image_url": "https://cdn.example.com/nft/drill.png",
                "price_points": str(ITEM_PRICE),
                "supply_total": 1000,
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        r.raise_for_status()
        self.item_id = str(r.json()["id"])

    async def pay(
        self, journey: Journey, auth: dict[str, str], purpose: str, amount: int, **extra: str
    ) -> None:
        body = {"purpose": purpose, "amount_minor": amount, "currency": "USD", "provider": "stripe"}
        headers = {**auth, "Idempotency-Key": str(uuid.uuid4())}
        r = await self.call("POST", "/payments", json={**body, **extra}, headers=headers)
        if r.status_code != 201:
            raise RuntimeError(f"POST /payments ({purpose}): {r.status_code} {r.text[:300]}")
        journey.payments.append(str(r.json()["id"]))
        await asyncio.to_thread(pay_stripe, self.localstripe_url, r.json()["provider_payment_id"])

    async def journey(self, batch: str) -> Journey:
        journey = Journey(email=f"drill.{batch}.{uuid.uuid4().hex[:10]}@example.com", batch=batch)
        body = {
            "account_type": "individual",
            "email": journey.email,
            "password": PASSWORD,
            "country": "US",
            "full_name": "Drill User",
            "initial_deposit": {"amount_minor": DEPOSIT_MINOR, "currency": "USD"},
        }
        r = await self.call("POST", "/auth/register", json=body)
        if r.status_code != 201:
            raise RuntimeError(f"register: {r.status_code} {r.text[:300]}")
        journey.user_id = str(r.json()["user"]["id"])
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        await self.pay(journey, auth, "registration", DEPOSIT_MINOR)

        async def active() -> bool:
            me = await self.call("GET", "/auth/me", headers=auth)
            return me.status_code == 200 and me.json()["status"] == "active"

        await self.until("the account to be active", active)
        auth = await self.login(journey.email)  # a token that says active
        r = await self.call("POST", "/mining/start", headers=auth)
        if r.status_code != 201:
            raise RuntimeError(f"mining start: {r.status_code} {r.text[:300]}")
        quote, status = await self._quote(auth)
        journey.session_id = str(status["id"])
        target = Decimal(status["target_points"])
        await self.pay(
            journey, auth, "acceleration", int(quote["price_minor"]), quote_id=quote["quote_id"]
        )
        await self.until("the session's points", lambda: self._points_are(auth, target))
        r = await self.call(
            "POST",
            "/nft/purchases",
            json={"catalog_item_id": self.item_id},
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
        )
        if r.status_code != 202:
            raise RuntimeError(f"purchase: {r.status_code} {r.text[:300]}")
        journey.purchase_id = str(r.json()["id"])

        async def completed() -> bool:
            p = await self.call("GET", f"/nft/purchases/{journey.purchase_id}", headers=auth)
            if p.status_code == 200 and p.json()["status"] == "failed":
                raise RuntimeError(f"purchase failed: {p.json()}")
            return p.status_code == 200 and p.json()["status"] == "completed"

        await self.until("the purchase to complete", completed)
        journey.balance = target - ITEM_PRICE
        await self.until("the capture", lambda: self._points_are(auth, journey.balance))
        return journey

    async def _quote(self, auth: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """An acceleration quote for all that remains of the session, so it completes now."""
        for _ in range(5):
            status = (await self.call("GET", "/mining/status", headers=auth)).json()
            r = await self.call(
                "POST",
                "/mining/acceleration/quote",
                json={"seconds": status["remaining_s"]},
                headers=auth,
            )
            if r.status_code in (200, 201):
                return r.json(), status
        raise RuntimeError(f"no acceleration quote: {r.status_code} {r.text[:300]}")

    async def _points_are(self, auth: dict[str, str], expected: Decimal | None) -> bool:
        r = await self.call("GET", "/balance", headers=auth)
        if r.status_code != 200:
            return False
        points = r.json()["points"]
        return Decimal(points["available"]) == expected and Decimal(points["reserved"]) == 0

    async def login(self, email: str) -> dict[str, str]:
        r = await self.call("POST", "/auth/login", json={"email": email, "password": PASSWORD})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def batch(self, name: str, users: int) -> list[Journey]:
        return list(await asyncio.gather(*(self.journey(name) for _ in range(users))))
