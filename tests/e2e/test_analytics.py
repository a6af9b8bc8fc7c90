"""Admin analytics end to end, as the issue's newcomer walks it: a few users register (one legal
entity), pay with both providers, mine, accelerate, buy and transfer an NFT; an admin then sees
each of those in `summary`, `timeseries` (days in Europe/Moscow and Asia/Kolkata), `funnel` and
`nft/items`, exactly; CSV answers the same; `analytics-admin rebuild` gives the same figures; a
plain user gets 403.

The stack is shared with the other e2e tests, so figures are read where they are the walk's
alone: the funnel of the accounts registered since the walk began, countries and a currency no
other test uses (IS, RU legal entities, EUR), the walk's own catalog item; the rest as the
difference between before and after.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from e2e_support import (
    PASSWORD,
    admin_token,
    bearer,
    create_payment,
    eventually,
    idempotency_key,
    new_email,
    wait_active,
    wait_payment,
)
from scifikpi_tools.standins.pay import pay_stripe
from scifikpi_tools.standins.tonwallet import Wallet
from scifikpi_tools.standins.yookassa import ControlClient

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

RUB_DEPOSIT = 80_000  # 1,000.00 RUB = USD 10.00 at the default rate
EUR_DEPOSIT, EUR_TOPUP = 1_000, 700


async def _json(api: httpx.AsyncClient, path: str, token: str, **params: Any) -> Any:
    response = await api.get(path, params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


def _metric(summary: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in summary["metrics"] if m["name"] == name)


def _cell(summary: dict[str, Any], name: str, **dims: str) -> int:
    """The all-time total of one dimension cell of a metric (0 when the cell is empty)."""
    for cell in _metric(summary, name)["breakdown"]:
        if cell["dimensions"] == dims:
            return int(cell["values"]["total"])
    return 0


def _total(summary: dict[str, Any], name: str) -> int:
    return int(_metric(summary, name)["values"]["total"])


def _figures(summary: dict[str, Any]) -> dict[str, Any]:
    """Everything the summary says except when it was said."""
    return {"metrics": summary["metrics"], "figures": summary["figures"]}


async def _activate(api: httpx.AsyncClient, token: str) -> None:
    await wait_active(api, token)


async def _register(api: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post("/auth/register", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def _refreshed(api: httpx.AsyncClient, session: dict[str, Any]) -> str:
    refreshed = await api.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    return str(refreshed.json()["access_token"])


async def _topup(api: httpx.AsyncClient, token: str, localstripe_url: str) -> dict[str, Any]:
    async def accepted() -> dict[str, Any] | None:
        response = await api.post(
            "/balance/topup",
            json={"amount_minor": EUR_TOPUP, "currency": "EUR", "provider": "stripe"},
            headers={**bearer(token), "Idempotency-Key": idempotency_key()},
        )
        if response.status_code == 403:  # payments has not heard of the activation yet
            return None
        assert response.status_code == 201, response.text
        return response.json()

    topup = await eventually(accepted, timeout_s=30, what="top-up accepted")
    assert pay_stripe(localstripe_url, topup["provider_payment_id"])["status"] == "succeeded"
    done = await wait_payment(api, token, topup["id"])
    assert done["status"] == "succeeded", done
    return done


async def _mine_and_accelerate(
    api: httpx.AsyncClient, token: str, localstripe_url: str
) -> tuple[int, int]:
    """One session bought out with an acceleration; returns (seconds quoted, price paid)."""
    started = await api.post("/mining/start", headers=bearer(token))
    assert started.status_code == 201, started.text
    session = started.json()
    quote = await api.post(
        "/mining/acceleration/quote", json={"seconds": session["remaining_s"] - 1},
        headers=bearer(token),
    )  # fmt: skip
    assert quote.status_code == 201, quote.text
    q = quote.json()
    payment = await create_payment(
        api, token, provider="stripe", purpose="acceleration", amount_minor=q["price_minor"],
        currency="USD", quote_id=q["quote_id"],
    )  # fmt: skip
    assert pay_stripe(localstripe_url, payment["provider_payment_id"])["status"] == "succeeded"
    target = Decimal(session["target_points"])

    async def credited() -> bool:
        balance = await _json(api, "/balance", token)
        return Decimal(balance["points"]["available"]) == target

    await eventually(credited, timeout_s=90, interval=0.5, what="points credited")
    return int(q["seconds"]), int(q["price_minor"])


async def _buy_bind_and_transfer(
    api: httpx.AsyncClient, token: str, item_id: str
) -> dict[str, Any]:
    bought = await api.post(
        "/nft/purchases", json={"catalog_item_id": item_id},
        headers={**bearer(token), "Idempotency-Key": str(uuid.uuid4())},
    )  # fmt: skip
    assert bought.status_code == 202, bought.text
    purchase = bought.json()

    async def completed() -> dict[str, Any] | None:
        p = await _json(api, f"/nft/purchases/{purchase['id']}", token)
        assert p["status"] != "failed", p
        return p if p["status"] == "completed" else None

    await eventually(completed, timeout_s=60, what="purchase completed")
    wallet = Wallet.generate()
    challenge = await api.post("/nft/wallets/challenge", headers=bearer(token))
    assert challenge.status_code == 201, challenge.text
    verified = await api.post(
        "/nft/wallets/verify", json=wallet.proof(challenge.json()["payload"]),
        headers=bearer(token),
    )  # fmt: skip
    assert verified.status_code == 200, verified.text
    sent = await api.post(f"/nft/{purchase['id']}/transfer", json={}, headers=bearer(token))
    assert sent.status_code == 202, sent.text

    async def transferred() -> bool:
        t = await _json(api, f"/nft/transfers/{sent.json()['id']}", token)
        assert t["status"] != "failed", t
        return bool(t["status"] == "completed")

    await eventually(transferred, timeout_s=60, what="transfer completed")
    return purchase


def _rebuild(e2e: Any) -> dict[str, Any]:
    """`analytics-admin rebuild`, as ops run it against the stack's database and broker."""
    env = {
        **os.environ,
        "DATABASE_URL": e2e.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": e2e.kafka_bootstrap_servers,
        "ENVIRONMENT": "local",
    }
    out = subprocess.run(  # noqa: S603 - our own console script
        [str(Path(sys.executable).parent / "analytics-admin"), "rebuild"],
        capture_output=True, text=True, env=env, timeout=180, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return dict(orjson.loads(out.stdout))


async def test_an_admin_sees_exactly_what_the_users_did(
    api: httpx.AsyncClient, e2e: Any, localstripe_url: str, database_url: str
) -> None:
    if not (e2e.yookassa_url and e2e.database_url and e2e.kafka_bootstrap_servers):
        pytest.skip("needs the stack's YooKassa fake, database and broker")
    yookassa = ControlClient(e2e.yookassa_url)
    admin = await admin_token(api, database_url)
    walk_began = datetime.now(UTC)  # after the admin registered: the funnel is the walk's
    before = await _json(api, "/admin/analytics/summary", admin)

    created = await api.post(
        "/admin/nft/catalog",
        json={"name": "Analytics Beacon", "description": "Counts itself.",
              "image_url": "https://cdn.example.com/nft/beacon.png", "attributes": [],
              "price_points": "0.000100", "supply_total": 3},
        headers=bearer(admin),
    )  # fmt: skip
    assert created.status_code == 201, created.text
    item = created.json()

    # Ada: an individual in Iceland, pays in EUR with Stripe, mines, accelerates, buys, transfers
    ada = await _register(
        api,
        {"account_type": "individual", "email": new_email("ada"), "password": PASSWORD,
         "country": "IS", "full_name": "Ada Lovelace",
         "initial_deposit": {"amount_minor": EUR_DEPOSIT, "currency": "EUR"}},
    )  # fmt: skip
    deposit = await create_payment(
        api, ada["access_token"], provider="stripe", amount_minor=EUR_DEPOSIT, currency="EUR"
    )
    assert pay_stripe(localstripe_url, deposit["provider_payment_id"])["status"] == "succeeded"
    await _activate(api, ada["access_token"])
    ada_token = await _refreshed(api, ada)
    skipped, acceleration_price = await _mine_and_accelerate(api, ada_token, localstripe_url)
    await _buy_bind_and_transfer(api, ada_token, item["id"])

    # a Russian company: registers with a RUB deposit paid with YooMoney, tops up in EUR
    company = await _register(
        api,
        {"account_type": "legal_entity", "email": new_email("company"), "password": PASSWORD,
         "country": "RU",
         "company": {"name": "Sberbank", "tax_id": "7707083893",
                     "representative": {"full_name": "Ivan Petrov", "position": "CFO"}},
         "initial_deposit": {"amount_minor": RUB_DEPOSIT, "currency": "RUB"}},
    )  # fmt: skip
    rub = await create_payment(
        api, company["access_token"], provider="yoomoney", amount_minor=RUB_DEPOSIT,
        currency="RUB",
    )  # fmt: skip
    assert (await yookassa.pay(rub["provider_payment_id"]))["payment"]["status"] == "succeeded"
    await _activate(api, company["access_token"])
    company_token = await _refreshed(api, company)
    topup = await _topup(api, company_token, localstripe_url)

    # the admin's view catches up (the projection is asynchronous; `as_of` says how fresh)
    async def caught_up() -> dict[str, Any] | None:
        s = await _json(api, "/admin/analytics/summary", admin)
        done = (
            _cell(s, "payments.topups.count", currency="EUR", provider="stripe") >= 1
            and _total(s, "nft.transferred") > _total(before, "nft.transferred")
            and _total(s, "nft.wallets_bound") > _total(before, "nft.wallets_bound")
            and _total(s, "points.debited") - _total(before, "points.debited") >= 100
        )
        return s if done else None

    after = await eventually(caught_up, timeout_s=60, interval=0.5, what="analytics caught up")
    assert after["as_of"] is not None

    def grew(name: str, **dims: str) -> int:
        if dims:
            return _cell(after, name, **dims) - _cell(before, name, **dims)
        return _total(after, name) - _total(before, name)

    # accounts, by type and country (no other test registers in IS or a legal entity in RU)
    registered = _metric(after, "accounts.registered")
    assert _cell(after, "accounts.registered", account_type="individual", country="IS") == 1, (
        registered
    )
    assert _cell(after, "accounts.registered", account_type="legal_entity", country="RU") == 1
    assert _cell(after, "accounts.activated", account_type="individual", country="IS") == 1
    assert _cell(after, "accounts.activated", account_type="legal_entity", country="RU") == 1
    # money, per provider and currency, never mixed
    assert _cell(after, "payments.deposits.count", currency="EUR", provider="stripe") == 1
    assert _cell(after, "payments.deposits.amount", currency="EUR", provider="stripe") == 1000
    assert grew("payments.deposits.count", currency="RUB", provider="yoomoney") == 1
    assert grew("payments.deposits.amount", currency="RUB", provider="yoomoney") == RUB_DEPOSIT
    assert _cell(after, "payments.topups.amount", currency="EUR", provider="stripe") == EUR_TOPUP
    assert topup["amount_minor"] == EUR_TOPUP
    assert grew("payments.accelerations.count", currency="USD", provider="stripe") == 1
    assert grew("payments.accelerations.amount", currency="USD", provider="stripe") == (
        acceleration_price
    )
    # mining and points
    assert grew("mining.sessions_started") == 1
    assert grew("mining.accelerations") == 1
    # capped at what was left when the payment arrived, a second or two after the quote
    assert 0 < grew("mining.seconds_skipped") <= skipped
    assert grew("mining.sessions_completed") >= 1 and grew("points.credited") > 0
    assert grew("points.reserved") == grew("points.debited") == 100  # 0.000100 points
    # the walk's catalog item
    items = await _json(api, "/admin/analytics/nft/items", admin, limit=100)
    mine = next(i for i in items["items"] if i["item_id"] == item["id"])
    assert (mine["name"], mine["supply_total"]) == ("Analytics Beacon", 3)
    assert (mine["requested"], mine["sold"], mine["failed"]) == (1, 1, 0)
    assert (mine["sell_through"]["numerator"], mine["sell_through"]["denominator"]) == (1, 3)
    assert mine["points_spent_micro"] == 100 and mine["points_spent"] == "0.000100"

    # the funnel of the accounts registered since the walk began: exactly the walk's two
    funnel = await _json(
        api, "/admin/analytics/funnel", admin,
        **{"from": walk_began.isoformat(), "to": (datetime.now(UTC) + timedelta(minutes=1))
           .isoformat(), "timezone": "Asia/Kolkata"},
    )  # fmt: skip
    assert [(s["name"], s["count"]) for s in funnel["steps"]] == [
        ("registered", 2), ("activated", 2), ("first_mining_session", 1),
        ("first_nft_purchase", 1), ("wallet_bound", 1), ("nft_transferred", 1),
    ]  # fmt: skip

    # day buckets in Moscow (+03:00) and Kolkata (+05:30): the EUR top-up's money in one bucket
    for zone in ("Europe/Moscow", "Asia/Kolkata"):
        today = datetime.now(UTC).date()
        params = {"metrics": "payments.topups.amount", "interval": "day", "timezone": zone,
                  "from": (today - timedelta(days=2)).isoformat(),
                  "to": (today + timedelta(days=2)).isoformat()}  # fmt: skip
        series = await _json(api, "/admin/analytics/timeseries", admin, **params)
        [eur] = [s for s in series["series"] if s["currency"] == "EUR"]
        assert eur["total"] == EUR_TOPUP, eur
        assert sorted(b["value"] for b in eur["buckets"] if b["value"]) == [EUR_TOPUP], eur
        assert all(b["start"].endswith("+03:00" if zone == "Europe/Moscow" else "+05:30")
                   for b in eur["buckets"])  # fmt: skip
        as_csv = await api.get(
            "/admin/analytics/timeseries", params=params,
            headers={**bearer(admin), "Accept": "text/csv"},
        )  # fmt: skip
        assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
        rows = [r for r in csv.DictReader(io.StringIO(as_csv.text)) if r["currency"] == "EUR"]
        assert sum(int(r["value"]) for r in rows) == EUR_TOPUP

    # a plain user may not look
    denied = await api.get("/admin/analytics/summary", headers=bearer(ada_token))
    assert denied.status_code == 403, denied.text

    # rebuilt from the topics, the figures are the same
    async def settled() -> dict[str, Any] | None:
        first = await _json(api, "/admin/analytics/summary", admin)
        again = await _json(api, "/admin/analytics/summary", admin)
        return first if _figures(first) == _figures(again) else None

    quiet = await eventually(settled, timeout_s=60, interval=2, what="no event in flight")
    report = _rebuild(e2e)
    assert report, report

    async def rebuilt() -> dict[str, Any] | None:
        s = await _json(api, "/admin/analytics/summary", admin)
        return s if _figures(s) == _figures(quiet) else None

    await eventually(rebuilt, timeout_s=120, interval=1, what="rebuilt figures equal")
