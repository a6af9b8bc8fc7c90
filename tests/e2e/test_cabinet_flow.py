"""The personal cabinet end to end, through the gateway, as the issue's newcomer walks it:

register -> pay the deposit (localstripe) -> money in `/balance` and a higher mining rate ->
start mining -> the countdown moves -> quote an acceleration for everything that remains -> pay
it -> the session completes at once -> the points in `/balance` -> every step in `/history` ->
`ledger-admin check` and `GET /admin/ledger/check` pass. The stack's sessions last a minute
(`E2E_STACK_ENV`), so the scheduler-completed path is exercised too.
"""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from e2e_support import (
    PASSWORD,
    active_user,
    admin_token,
    bearer,
    create_payment,
    eventually,
    new_email,
    run_cli,
    wait_payment,
)
from scifikpi_tools.standins.pay import pay_stripe

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

BIN = Path(sys.executable).parent


async def _balance(api: httpx.AsyncClient, token: str) -> dict[str, Any]:
    r = await api.get("/balance", headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


async def _history(api: httpx.AsyncClient, token: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await api.get("/history", params=query, headers=bearer(token))
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


async def test_deposit_mine_accelerate_and_see_it_all(
    api: httpx.AsyncClient, localstripe_url: str, database_url: str
) -> None:
    session = await active_user(api, localstripe_url, deposit_minor=2500)
    token = session["access_token"]

    # the deposit reaches the ledger: money and a mining power above the base rate
    async def money_booked() -> dict[str, Any] | None:
        balance = await _balance(api, token)
        return balance if balance["money"]["amount_minor"] == 2500 else None

    balance = await eventually(money_booked, what="deposit in /balance")
    assert balance["money"] == {"amount_minor": 2500, "currency": "USD"}
    assert balance["points"] == {
        "available": "0.000000",
        "reserved": "0.000000",
        "total": "0.000000",
    }
    rate = Decimal(balance["mining_power"]["rate_per_hour"])

    # mining learns the same deposit (MoneyCredited) and forecasts at the same rate
    async def mining_knows_the_rate() -> dict[str, Any] | None:
        r = await api.get("/mining/forecast", params={"days": 1}, headers=bearer(token))
        assert r.status_code == 200, r.text
        return r.json() if Decimal(r.json()["estimate"]["rate_per_hour"]) == rate else None

    await eventually(mining_knows_the_rate, what="mining rate = ledger mining power")
    base = await api.get("/mining/forecast", params={"days": 1}, headers=bearer(token))
    no_deposit_rate = Decimal(
        (
            await api.get(
                "/mining/forecast",
                params={"days": 1, "extra_deposit_minor": 0},
                headers=bearer(token),
            )  # fmt: skip
        ).json()["estimate"]["rate_per_hour"]
    )
    assert no_deposit_rate == rate == Decimal(base.json()["estimate"]["rate_per_hour"])
    more = await api.get(
        "/mining/forecast", params={"days": 1, "extra_deposit_minor": 10_000}, headers=bearer(token)
    )
    assert Decimal(more.json()["estimate"]["rate_per_hour"]) >= rate

    idle = await api.get("/mining/status", headers=bearer(token))
    assert (
        idle.status_code == 200 and idle.json()["status"] == "idle" and idle.json()["server_time"]
    )

    started = await api.post("/mining/start", headers=bearer(token))
    assert started.status_code == 201, started.text
    mining = started.json()
    assert mining["status"] == "active" and Decimal(mining["rate_per_hour"]) == rate
    assert mining["duration_s"] == 60 and mining["skipped_s"] == 0
    again = await api.post("/mining/start", headers=bearer(token))
    assert again.status_code == 409 and again.headers["content-type"].startswith(
        "application/problem+json"
    )

    # the countdown: the server decides, the client animates
    await asyncio.sleep(1.2)
    status = (await api.get("/mining/status", headers=bearer(token))).json()
    assert status["id"] == mining["id"] and status["remaining_s"] < mining["remaining_s"]
    assert Decimal(status["accrued_points"]) >= Decimal(mining["accrued_points"])
    assert status["server_time"] > mining["server_time"]

    # buy the rest of the session
    quote = await api.post(
        "/mining/acceleration/quote", json={"seconds": status["remaining_s"]},
        headers=bearer(token),
    )  # fmt: skip
    assert quote.status_code == 201, quote.text
    q = quote.json()
    assert q["session_id"] == mining["id"] and q["currency"] == "USD" and q["price_minor"] > 0
    payment = await create_payment(
        api, token, provider="stripe", purpose="acceleration", amount_minor=q["price_minor"],
        currency="USD", quote_id=q["quote_id"],
    )  # fmt: skip
    assert pay_stripe(localstripe_url, payment["provider_payment_id"])["status"] == "succeeded"
    assert (await wait_payment(api, token, payment["id"]))["status"] == "succeeded"

    # the session completes at once and the points arrive (PaymentSucceeded -> MiningAccelerated
    # -> MiningCompleted -> PointsCredited)
    target = Decimal(mining["target_points"])

    async def credited() -> dict[str, Any] | None:
        b = await _balance(api, token)
        return b if Decimal(b["points"]["available"]) == target else None

    balance = await eventually(credited, timeout_s=30, what="points credited")
    assert Decimal(balance["points"]["total"]) == target
    done = (await api.get("/mining/status", headers=bearer(token))).json()
    assert done["status"] == "idle" or done["remaining_s"] == 0, done
    sessions = (await api.get("/mining/sessions", headers=bearer(token))).json()["items"]
    assert [s["id"] for s in sessions] == [mining["id"]]
    assert sessions[0]["status"] == "completed" and sessions[0]["skipped_s"] > 0

    # every step in /history, newest first, paged by cursor
    history = await _history(api, token)
    kinds = [item["kind"] for item in history]
    assert kinds == ["mining", "acceleration", "deposit"], history
    assert history[0]["points"] and Decimal(history[0]["points"]) == target
    assert history[1]["direction"] == "external"
    assert history[1]["reference"]["payment_id"] == payment["id"]
    assert history[2]["money"] == {"amount_minor": 2500, "currency": "USD"}
    assert [i["kind"] for i in await _history(api, token, kind="mining")] == ["mining"]

    # the invariants hold, from the ops CLI and from the admin endpoint through the gateway
    cli = run_cli("ledger-admin", "check", database_url=database_url)
    assert cli.returncode == 0, cli.stderr
    assert orjson.loads(cli.stdout)["ok"] is True
    admin = await admin_token(api, database_url)
    check = await api.get("/admin/ledger/check", headers=bearer(admin))
    assert check.status_code == 200, check.text
    assert check.json()["ok"] is True
    assert (await api.get("/admin/ledger/check", headers=bearer(token))).status_code == 403


async def test_a_session_left_alone_is_completed_by_the_scheduler(
    api: httpx.AsyncClient, localstripe_url: str
) -> None:
    token = (await active_user(api, localstripe_url))["access_token"]

    async def started() -> dict[str, Any] | None:
        r = await api.post("/mining/start", headers=bearer(token))
        assert r.status_code == 201, r.text
        return r.json()

    mining = await started()
    target = Decimal(mining["target_points"])

    async def credited() -> bool:
        b = await _balance(api, token)
        return Decimal(b["points"]["available"]) == target

    await eventually(credited, timeout_s=mining["remaining_s"] + 30, interval=1.0, what="credit")
    sessions = (await api.get("/mining/sessions", headers=bearer(token))).json()["items"]
    assert sessions[0]["status"] == "completed" and sessions[0]["skipped_s"] == 0


async def test_acceleration_quote_refusals_are_problems(
    api: httpx.AsyncClient, localstripe_url: str
) -> None:
    token = (await active_user(api, localstripe_url))["access_token"]
    none = await api.post("/mining/acceleration/quote", json={"seconds": 10}, headers=bearer(token))
    assert none.status_code == 422 and none.headers["content-type"].startswith(
        "application/problem+json"
    )
    mining = (await api.post("/mining/start", headers=bearer(token))).json()
    for seconds in (0, -5, mining["remaining_s"] + 3600):
        r = await api.post(
            "/mining/acceleration/quote", json={"seconds": seconds}, headers=bearer(token)
        )
        assert r.status_code == 422, (seconds, r.text)
        assert r.json()["type"].startswith("urn:scifikpi:problem:"), r.text
    unauth = await api.get("/mining/status")
    assert unauth.status_code == 401


async def test_a_pending_account_cannot_mine(api: httpx.AsyncClient) -> None:
    r = await api.post(
        "/auth/register",
        json={
            "account_type": "individual", "email": new_email("idle"), "password": PASSWORD,
            "country": "US", "full_name": "Grace Hopper",
            "initial_deposit": {"amount_minor": 1000, "currency": "USD"},
        },
    )  # fmt: skip
    token = r.json()["access_token"]
    refused = await api.post("/mining/start", headers=bearer(token))
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")


async def test_paying_someone_elses_quote_is_rejected_and_refunded(
    api: httpx.AsyncClient, localstripe_url: str
) -> None:
    owner = (await active_user(api, localstripe_url))["access_token"]
    payer = (await active_user(api, localstripe_url))["access_token"]
    mining = (await api.post("/mining/start", headers=bearer(owner))).json()
    quote = await api.post(
        "/mining/acceleration/quote", json={"seconds": 10}, headers=bearer(owner)
    )
    assert quote.status_code == 201, quote.text
    q = quote.json()
    payment = await create_payment(
        api, payer, provider="stripe", purpose="acceleration", amount_minor=q["price_minor"],
        currency="USD", quote_id=q["quote_id"],
    )  # fmt: skip
    assert pay_stripe(localstripe_url, payment["provider_payment_id"])["status"] == "succeeded"

    async def refunded() -> dict[str, Any] | None:
        r = await api.get(f"/payments/{payment['id']}", headers=bearer(payer))
        return r.json() if r.json()["status"] == "refunded" else None

    await eventually(refunded, timeout_s=30, what="acceleration refunded")
    # the owner's session is untouched; the payer's history shows the payment and its refund
    status = (await api.get("/mining/status", headers=bearer(owner))).json()
    assert status["id"] == mining["id"] and status["skipped_s"] == 0

    async def reversed_in_history() -> list[dict[str, Any]] | None:
        items = await _history(api, payer)
        kinds = [i["kind"] for i in items]
        return items if kinds[:2] == ["refund", "acceleration"] else None

    items = await eventually(reversed_in_history, timeout_s=30, what="refund in history")
    assert items[0]["reference"]["payment_id"] == payment["id"]
