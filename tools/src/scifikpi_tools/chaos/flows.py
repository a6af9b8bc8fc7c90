"""The flows a chaos run drives through the gateway while processes die: register + deposit,
start mining + buy the acceleration, until the ledger shows the session's points.

Payments are the bench's (`scifikpi_tools.bench.cabinet`): a `PaymentSucceeded` envelope put on
`payments.payment.v1` where payments' relay would. The flow keeps that envelope and sends the
same bytes again (same `event_id`) while its effect has not shown, as payments' outbox would
republish it after a broker loss; the inbox makes every resend a no-op. HTTP calls are retried
across connection errors and 5xx, since the gateway and APIs are being killed too; a retried
registration that already went through logs in instead.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from scifikpi_common.clock import utcnow
from scifikpi_common.events import Envelope, PaymentSucceeded

from scifikpi_tools.bench.cabinet import API, PASSWORD

RESEND_S = 5.0  # an effect not visible after this: send the payment envelope again


@dataclass
class FlowResult:
    user_id: uuid.UUID | None = None
    expected_points: str | None = None
    done: bool = False
    error: str | None = None
    resends: int = 0
    payments: list[uuid.UUID] = field(default_factory=list)
    headers: dict[str, str] | None = None


class Driver:
    """HTTP through the gateway and a producer on the stack's broker."""

    def __init__(self, client: httpx.AsyncClient, producer: AIOKafkaProducer) -> None:
        self.client, self.producer = client, producer

    async def call(
        self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201), **kw: Any
    ) -> httpx.Response:
        """The response once it is not a 5xx/connection failure (retried for 90 s)."""
        deadline = time.monotonic() + 90
        while True:
            try:
                r = await self.client.request(method, f"{API}{path}", **kw)
                if r.status_code < 500 and r.status_code != 429:
                    return r
                last = f"{r.status_code}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method} {path} kept failing: {last}")
            await asyncio.sleep(0.5)

    async def send(self, envelope: Envelope[Any]) -> None:
        deadline = time.monotonic() + 90
        while True:
            try:
                await self.producer.send_and_wait(
                    PaymentSucceeded.TOPIC, envelope.to_bytes(), key=envelope.key.encode()
                )
                return
            except Exception:  # noqa: BLE001 - the broker is down or restarting: retry
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def paid_until(self, result: FlowResult, event: PaymentSucceeded, done: Any) -> None:
        """Publish `event`; again (same envelope) every RESEND_S until `done()` is true."""
        envelope = Envelope.wrap(event, producer="payments")
        result.payments.append(event.payment_id)
        deadline = time.monotonic() + 240
        while True:
            await self.send(envelope)
            until = time.monotonic() + RESEND_S
            while time.monotonic() < until:
                if await done():
                    return
                await asyncio.sleep(0.25)
            if time.monotonic() > deadline:
                raise RuntimeError(f"payment {event.payment_id} never took effect")
            result.resends += 1

    async def flow(self) -> FlowResult:
        result = FlowResult()
        try:
            await self._flow(result)
            result.done = True
        except Exception as exc:  # noqa: BLE001 - reported in the verdict
            result.error = repr(exc)[:300]
        return result

    async def _flow(self, result: FlowResult) -> None:
        email = f"chaos.{uuid.uuid4().hex[:12]}@example.com"
        body = {
            "account_type": "individual",
            "email": email,
            "password": PASSWORD,
            "country": "US",
            "full_name": "Chaos User",
            "initial_deposit": {"amount_minor": 1000, "currency": "USD"},
        }
        r = await self.call("POST", "/auth/register", json=body, ok=(201, 409))
        if r.status_code == 409:  # a retried registration had gone through
            r = await self.call("POST", "/auth/login", json={"email": email, "password": PASSWORD})
        r.raise_for_status()
        user_id = uuid.UUID(r.json()["user"]["id"])
        result.user_id = user_id
        tokens = {"refresh": r.json()["refresh_token"], "access": r.json()["access_token"]}

        async def active() -> bool:
            r = await self.call("POST", "/auth/refresh", json={"refresh_token": tokens["refresh"]})
            if r.status_code != 200:
                return False
            tokens["refresh"], tokens["access"] = (
                r.json()["refresh_token"],
                r.json()["access_token"],
            )
            return bool(r.json()["user"]["status"] == "active")

        await self.paid_until(result, _payment(user_id, "registration", 1000), active)
        headers = {"Authorization": f"Bearer {tokens['access']}"}
        result.headers = headers
        r = await self.call("POST", "/mining/start", headers=headers, ok=(201, 200, 409))
        if r.status_code == 409:  # a retried start had gone through
            r = await self.call("GET", "/mining/status", headers=headers)
        r.raise_for_status()
        status: dict[str, Any] = {}
        for _ in range(5):  # skip all that remains, so the session completes now
            status = (await self.call("GET", "/mining/status", headers=headers)).json()
            r = await self.call(
                "POST",
                "/mining/acceleration/quote",
                json={"seconds": status["remaining_s"]},
                headers=headers,
                ok=(200, 201, 422),
            )
            if r.status_code != 422:
                break
        r.raise_for_status()
        quote = r.json()
        target = status["target_points"]
        result.expected_points = target

        async def credited() -> bool:
            r = await self.call("GET", "/balance", headers=headers)
            return bool(r.status_code == 200 and r.json()["points"]["available"] == target)

        event = _payment(
            user_id, "acceleration", quote["price_minor"], quote_id=uuid.UUID(quote["quote_id"])
        )
        await self.paid_until(result, event, credited)


def _payment(user_id: uuid.UUID, purpose: Any, amount: int, **extra: Any) -> PaymentSucceeded:
    return PaymentSucceeded(
        user_id=user_id,
        payment_id=uuid.uuid4(),
        purpose=purpose,
        provider="stripe",
        amount_minor=amount,
        currency="USD",
        succeeded_at=utcnow(),
        **extra,
    )
