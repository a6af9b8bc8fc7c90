"""The frontend's users as locust users: what a person does in the cabinet and the shop.

Importing this module imports locust, which monkey-patches the process for gevent: only the
load runner's process imports it. Each user signs up and pays the deposit (Stripe at
localstripe, or YooMoney at the YooKassa fake, as `scifikpi_tools.standins.pay` plays the
customer), polls `/auth/me` until active, then, weighted like the cabinet's pages: polls the
mining status and balance, reads history and the catalog, starts mining when idle, accelerates
(quote, payment, pay), buys an NFT when it has the points, binds a TON wallet once and sends a
minted NFT there. What each user set in motion is kept (`Flows`) so the run can check that all
of it converged after the load stops.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from locust import FastHttpUser, between, task

from scifikpi_tools.bench.cabinet import API, PASSWORD
from scifikpi_tools.standins.pay import pay_stripe
from scifikpi_tools.standins.tonwallet import Wallet
from scifikpi_tools.standins.yookassa.control import SyncControlClient

#: RUB 1,000.00 covers the USD 10.00 deposit at the default FX rate (tests/e2e payments flow)
RUB_DEPOSIT_MINOR = 100_000
USD_DEPOSIT_MINOR = 1000
#: a share of sign-ups paying with YooMoney instead of a card
YOOMONEY_SHARE = 0.25
ACTIVATION_TIMEOUT_S = 60.0


@dataclass
class Flows:
    """What one user started, checked for convergence after the load."""

    token: str = ""
    refresh: str = ""
    active: bool = False
    payments: list[str] = field(default_factory=list)
    purchases: list[str] = field(default_factory=list)
    transfers: list[str] = field(default_factory=list)
    accelerated: set[str] = field(default_factory=set)


class Shared:
    """What every user of a run needs: the stand-ins, the item to buy, and the flows."""

    localstripe_url: ClassVar[str] = ""
    yookassa_url: ClassVar[str | None] = None
    item_id: ClassVar[str | None] = None
    item_price: ClassVar[Decimal] = Decimal("0.000001")
    flows: ClassVar[list[Flows]] = []
    #: users past their first sign-up (active or given up): the runner measures after all are
    settled: ClassVar[int] = 0


def _points(value: str) -> Decimal:
    return Decimal(value)


class CabinetUser(FastHttpUser):
    """A person in the cabinet: ~1 request a second, mostly the pages' polls."""

    wait_time = between(0.5, 1.5)
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.flows = Flows()
        self.session: dict[str, Any] | None = None
        self.available = Decimal(0)
        self.wallet: Wallet | None = None
        self.handled: set[str] = set()  # purchases sent on, or failed
        Shared.flows.append(self.flows)
        try:
            self.signup()
        finally:
            Shared.settled += 1

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.flows.token}"}

    # --- sign up and pay -------------------------------------------------------------------

    def signup(self) -> None:
        yoomoney = Shared.yookassa_url is not None and random.random() < YOOMONEY_SHARE
        amount, currency = (RUB_DEPOSIT_MINOR, "RUB") if yoomoney else (USD_DEPOSIT_MINOR, "USD")
        body = {
            "account_type": "individual", "email": f"load.{uuid.uuid4().hex[:12]}@example.com",
            "password": PASSWORD, "country": "US", "full_name": "Load User",
            "initial_deposit": {"amount_minor": amount, "currency": currency},
        }  # fmt: skip
        with self.client.post(f"{API}/auth/register", json=body, catch_response=True,
                              name="POST /auth/register") as r:  # fmt: skip
            if r.status_code != 201:
                r.failure(f"{r.status_code}")
                return
            session = r.json()
        self.flows.token, self.flows.refresh = session["access_token"], session["refresh_token"]
        payment = self.pay(amount, currency, "yoomoney" if yoomoney else "stripe", "registration")
        if payment is None:
            return
        paid, active = time.monotonic(), False
        while not active and time.monotonic() < paid + ACTIVATION_TIMEOUT_S:
            me = self.client.get(f"{API}/auth/me", headers=self.auth, name="GET /auth/me")
            active = me.status_code == 200 and me.json()["status"] == "active"
            if not active:
                time.sleep(0.5)  # gevent-patched: other users run meanwhile
        timeout = (
            None
            if active
            else TimeoutError(f"not active {ACTIVATION_TIMEOUT_S:.0f} s after paying")
        )
        # from paid to active, as the page polling /auth/me sees it (0.5 s resolution)
        self.environment.events.request.fire(
            request_type="CHAIN", name="paid -> active", context={},
            response_time=(time.monotonic() - paid) * 1000, response_length=0,
            response=None, exception=timeout,
        )  # fmt: skip
        if timeout is not None:
            return
        with self.client.post(f"{API}/auth/refresh", json={"refresh_token": self.flows.refresh},
                              catch_response=True, name="POST /auth/refresh") as r:  # fmt: skip
            if r.status_code == 200:
                self.flows.token, self.flows.refresh = (
                    r.json()["access_token"],
                    r.json()["refresh_token"],
                )
                self.flows.active = True
            else:
                r.failure(f"{r.status_code}")

    def pay(self, amount: int, currency: str, provider: str, purpose: str,
            quote_id: str | None = None) -> str | None:  # fmt: skip
        """Create the payment through the gateway, then pay it at the provider's stand-in."""
        body: dict[str, Any] = {
            "amount_minor": amount, "currency": currency, "provider": provider, "purpose": purpose,
        }  # fmt: skip
        if quote_id is not None:
            body["quote_id"] = quote_id
        headers = {**self.auth, "Idempotency-Key": str(uuid.uuid4())}
        with self.client.post(f"{API}/payments", json=body, headers=headers, catch_response=True,
                              name=f"POST /payments ({purpose})") as r:  # fmt: skip
            if r.status_code != 201:
                r.failure(f"{r.status_code}")
                return None
            payment = r.json()
        started = time.perf_counter()
        error: Exception | None = None
        try:
            if provider == "stripe":
                pay_stripe(Shared.localstripe_url, payment["provider_payment_id"])
            else:
                assert Shared.yookassa_url is not None
                SyncControlClient(Shared.yookassa_url).pay(payment["provider_payment_id"])
        except Exception as exc:  # noqa: BLE001 - reported as a failed request of the stand-in
            error = exc
        # paid (or tried to): from now on the chain owes the outcome; stopped before, the
        # customer abandoned the checkout, which is no flow of ours
        self.flows.payments.append(payment["id"])
        # the customer's leg, at the stand-in: shown apart, not a gateway figure
        self.environment.events.request.fire(
            request_type="STANDIN", name=f"pay at {provider}", context={},
            response_time=(time.perf_counter() - started) * 1000, response_length=0,
            response=None, exception=error,
        )  # fmt: skip
        return None if error else str(payment["id"])

    @task(1)
    def newcomer(self) -> None:
        """Someone new signs up and pays (this user's place goes to them): sign-ups keep coming
        at a steady share of the mix, not only while the users spawn."""
        self.flows = Flows()
        self.session, self.available, self.wallet, self.handled = None, Decimal(0), None, set()
        Shared.flows.append(self.flows)
        self.signup()

    # --- the cabinet's pages ---------------------------------------------------------------

    @task(10)
    def mining_status(self) -> None:
        if not self.flows.active:
            return
        r = self.client.get(f"{API}/mining/status", headers=self.auth, name="GET /mining/status")
        if r.status_code == 200:
            self.session = r.json()

    @task(8)
    def balance(self) -> None:
        if not self.flows.active:
            return
        r = self.client.get(f"{API}/balance", headers=self.auth, name="GET /balance")
        if r.status_code == 200:
            self.available = _points(r.json()["points"]["available"])

    @task(3)
    def history(self) -> None:
        if self.flows.active:
            self.client.get(f"{API}/history?limit=20", headers=self.auth, name="GET /history")

    @task(4)
    def catalog(self) -> None:
        self.client.get(f"{API}/nft/catalog?limit=20", name="GET /nft/catalog")

    @task(2)
    def start_mining(self) -> None:
        if not self.flows.active or (self.session or {}).get("status") != "idle":
            return
        with self.client.post(f"{API}/mining/start", headers=self.auth, catch_response=True,
                              name="POST /mining/start") as r:  # fmt: skip
            if r.status_code == 201:
                self.session = r.json()
            elif r.status_code == 409:  # the page was stale: a session runs; not an error
                r.success()
            else:
                r.failure(f"{r.status_code}")

    @task(1)
    def accelerate(self) -> None:
        s = self.session
        if not self.flows.active or not s or s.get("status") != "active":
            return
        if s["id"] in self.flows.accelerated or s["remaining_s"] < 5:
            return
        with self.client.post(f"{API}/mining/acceleration/quote", headers=self.auth,
                              json={"seconds": s["remaining_s"] - 2}, catch_response=True,
                              name="POST /mining/acceleration/quote") as r:  # fmt: skip
            if r.status_code == 422:  # the countdown moved on since the page's last poll
                r.success()
                return
            if r.status_code != 201:
                r.failure(f"{r.status_code}")
                return
            quote = r.json()
        self.flows.accelerated.add(s["id"])
        self.pay(quote["price_minor"], "USD", "stripe", "acceleration", quote["quote_id"])

    @task(1)
    def buy(self) -> None:
        if not self.flows.active or Shared.item_id is None or self.available < Shared.item_price:
            return
        headers = {**self.auth, "Idempotency-Key": str(uuid.uuid4())}
        with self.client.post(f"{API}/nft/purchases", json={"catalog_item_id": Shared.item_id},
                              headers=headers, catch_response=True,
                              name="POST /nft/purchases") as r:  # fmt: skip
            if r.status_code != 202:
                r.failure(f"{r.status_code}")
                return
            self.flows.purchases.append(r.json()["id"])
        self.available -= Shared.item_price

    @task(1)
    def bind_wallet(self) -> None:
        if not self.flows.active or self.wallet is not None or not self.flows.purchases:
            return
        wallet = Wallet.generate()
        with self.client.post(
            f"{API}/nft/wallets/challenge",
            headers=self.auth,
            catch_response=True,
            name="POST /nft/wallets/challenge",
        ) as r:
            if r.status_code != 201:
                r.failure(f"{r.status_code}")
                return
            payload = r.json()["payload"]
        r = self.client.post(f"{API}/nft/wallets/verify", json=wallet.proof(payload),
                             headers=self.auth, name="POST /nft/wallets/verify")  # fmt: skip
        if r.status_code == 200:
            self.wallet = wallet

    @task(1)
    def transfer(self) -> None:
        waiting = [p for p in self.flows.purchases if p not in self.handled]
        if self.wallet is None or not waiting:
            return
        purchase_id = waiting[0]
        r = self.client.get(f"{API}/nft/purchases/{purchase_id}", headers=self.auth,
                            name="GET /nft/purchases/{id}")  # fmt: skip
        status = r.json().get("status") if r.status_code == 200 else None
        if status == "failed":
            self.handled.add(purchase_id)  # refunded: nothing to send
        if status != "completed":
            return
        self.handled.add(purchase_id)
        with self.client.post(
            f"{API}/nft/{purchase_id}/transfer",
            json={},
            headers=self.auth,
            catch_response=True,
            name="POST /nft/{id}/transfer",
        ) as r:
            if r.status_code == 202:
                self.flows.transfers.append(r.json()["id"])
            else:
                r.failure(f"{r.status_code}")
