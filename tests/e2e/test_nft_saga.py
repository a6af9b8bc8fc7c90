"""NFTs end to end, through the gateway, as the issue's newcomer walks it on `make run`:

an admin adds a catalog item -> a user with mined points buys it (Idempotency-Key) -> the purchase
completes with an on-chain item address (the local emulated chain runs the reference contracts) ->
the user binds a TON wallet with a ton_proof signed by a real wallet key -> sends the NFT there ->
the transfer completes and the item's on-chain owner is that wallet -> `/history` shows the
reservation and the debit -> `ledger-admin check` passes.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from e2e_support import (
    admin_token,
    bearer,
    eventually,
    mined_user,
    run_cli,
)
from scifikpi_tools.standins.tonwallet import Wallet

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


async def _get(api: httpx.AsyncClient, path: str, token: str) -> dict[str, Any]:
    r = await api.get(path, headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def _on_chain(database_url: str, address: str) -> dict[str, Any]:
    """The item as the chain has it (`nft-admin item`, the ops view of the same chain)."""
    out = run_cli("nft-admin", "item", address, "--json", database_url=database_url)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


async def test_buy_mint_bind_a_wallet_and_send_the_nft_there(
    api: httpx.AsyncClient, localstripe_url: str, database_url: str
) -> None:
    admin = await admin_token(api, database_url)
    created = await api.post(
        "/admin/nft/catalog",
        json={
            "name": "Warp Core", "description": "Folds space.",
            "image_url": "https://cdn.example.com/nft/warp.png",
            "attributes": [{"trait_type": "class", "value": "engine"}],
            "price_points": "0.000100", "supply_total": 5,
        },
        headers=bearer(admin),
    )  # fmt: skip
    assert created.status_code == 201, created.text
    item = created.json()

    token, points = await mined_user(api, localstripe_url)
    price = Decimal(item["price_points"])
    assert points >= price

    key = str(uuid.uuid4())
    bought = await api.post(
        "/nft/purchases", json={"catalog_item_id": item["id"]},
        headers={**bearer(token), "Idempotency-Key": key},
    )  # fmt: skip
    assert bought.status_code == 202, bought.text
    purchase = bought.json()
    assert purchase["status"] == "pending"
    replay = await api.post(
        "/nft/purchases", json={"catalog_item_id": item["id"]},
        headers={**bearer(token), "Idempotency-Key": key},
    )  # fmt: skip
    assert replay.status_code == 200 and replay.json()["id"] == purchase["id"], replay.text

    async def completed() -> dict[str, Any] | None:
        p = await _get(api, f"/nft/purchases/{purchase['id']}", token)
        assert p["status"] != "failed", p
        return p if p["status"] == "completed" else None

    done = await eventually(completed, timeout_s=60, what="purchase completed")
    assert done["item_address"] and done["collection_address"] and done["index"] >= 0
    chain_item = _on_chain(database_url, done["item_address"])
    assert chain_item["active"] is True and chain_item["index"] == done["index"]
    assert chain_item["owner"] == chain_item["custody"]  # minted into platform custody

    mine = (await _get(api, "/nft/mine", token))["items"]
    assert [(n["id"], n["status"]) for n in mine] == [(purchase["id"], "custody")]
    catalog = (await api.get("/nft/catalog", params={"limit": 100})).json()["items"]
    assert next(i for i in catalog if i["id"] == item["id"])["supply_left"] == 4

    # bind a wallet: challenge -> ton_proof signed by the wallet's key -> verify
    user_wallet = Wallet.generate()  # what the user's wallet app holds
    wallet = user_wallet.address
    challenge = await api.post("/nft/wallets/challenge", headers=bearer(token))
    assert challenge.status_code == 201, challenge.text
    proof = user_wallet.proof(challenge.json()["payload"])
    verified = await api.post("/nft/wallets/verify", json=proof, headers=bearer(token))
    assert verified.status_code == 200, verified.text
    assert verified.json()["address"] == wallet.to_str(is_user_friendly=False)
    replayed = await api.post("/nft/wallets/verify", json=proof, headers=bearer(token))
    assert replayed.status_code in (401, 422), replayed.text

    # send the NFT to it
    sent = await api.post(f"/nft/{purchase['id']}/transfer", json={}, headers=bearer(token))
    assert sent.status_code == 202, sent.text
    transfer = sent.json()

    async def transferred() -> dict[str, Any] | None:
        t = await _get(api, f"/nft/transfers/{transfer['id']}", token)
        assert t["status"] != "failed", t
        return t if t["status"] == "completed" else None

    t = await eventually(transferred, timeout_s=60, what="transfer completed")
    assert t["message_hash"]
    chain_item = _on_chain(database_url, done["item_address"])
    assert chain_item["owner"] == wallet.to_str(is_user_friendly=False)
    mine = (await _get(api, "/nft/mine", token))["items"]
    assert mine[0]["status"] == "transferred"
    again = await api.post(f"/nft/{purchase['id']}/transfer", json={}, headers=bearer(token))
    assert again.status_code == 409, again.text

    # the reservation and the debit in /history; the points went down by the price
    async def debited() -> list[dict[str, Any]] | None:
        items = (await _get(api, "/history?limit=50", token))["items"]
        kinds = [i["kind"] for i in items]
        return items if "nft_post" in kinds and "nft_hold" in kinds else None

    history = await eventually(debited, timeout_s=30, what="hold and debit in /history")
    hold = next(i for i in history if i["kind"] == "nft_hold")
    assert Decimal(hold["points"]) == price
    balance = await _get(api, "/balance", token)
    assert Decimal(balance["points"]["available"]) == points - price
    assert Decimal(balance["points"]["reserved"]) == 0

    cli = run_cli("ledger-admin", "check", database_url=database_url)
    assert cli.returncode == 0, cli.stderr
    assert orjson.loads(cli.stdout)["ok"] is True


async def test_too_few_points_fail_the_purchase_and_touch_nothing(
    api: httpx.AsyncClient, localstripe_url: str, database_url: str
) -> None:
    admin = await admin_token(api, database_url)
    created = await api.post(
        "/admin/nft/catalog",
        json={
            "name": "Ringworld", "image_url": "https://cdn.example.com/nft/ring.png",
            "price_points": "1000000", "supply_total": 1,
        },
        headers=bearer(admin),
    )  # fmt: skip
    assert created.status_code == 201, created.text
    item = created.json()
    token, points = await mined_user(api, localstripe_url)
    bought = await api.post(
        "/nft/purchases", json={"catalog_item_id": item["id"]},
        headers={**bearer(token), "Idempotency-Key": str(uuid.uuid4())},
    )  # fmt: skip
    assert bought.status_code == 202, bought.text

    async def failed() -> dict[str, Any] | None:
        p = await _get(api, f"/nft/purchases/{bought.json()['id']}", token)
        return p if p["status"] == "failed" else None

    p = await eventually(failed, timeout_s=30, what="purchase failed")
    assert p["failure_reason"] == "insufficient_points"
    balance = await _get(api, "/balance", token)
    assert Decimal(balance["points"]["available"]) == points
    assert Decimal(balance["points"]["reserved"]) == 0
    catalog = (await api.get("/nft/catalog", params={"limit": 100})).json()["items"]
    assert next(i for i in catalog if i["id"] == item["id"])["supply_left"] == 1  # restored


async def test_fifty_buyers_for_ten_items_never_oversell(
    api: httpx.AsyncClient, localstripe_url: str, database_url: str
) -> None:
    import asyncio

    admin = await admin_token(api, database_url)
    created = await api.post(
        "/admin/nft/catalog",
        json={
            "name": "Generation Ship", "image_url": "https://cdn.example.com/nft/ship.png",
            "price_points": "0.000010", "supply_total": 10,
        },
        headers=bearer(admin),
    )  # fmt: skip
    assert created.status_code == 201, created.text
    item = created.json()
    gate = asyncio.Semaphore(10)

    async def buyer() -> tuple[str, Decimal]:
        async with gate:
            return await mined_user(api, localstripe_url)

    buyers = await asyncio.gather(*(buyer() for _ in range(50)))

    async def buy(token: str) -> httpx.Response:
        return await api.post(
            "/nft/purchases", json={"catalog_item_id": item["id"]},
            headers={**bearer(token), "Idempotency-Key": str(uuid.uuid4())},
        )  # fmt: skip

    answers = await asyncio.gather(*(buy(token) for token, _ in buyers))
    assert sorted(r.status_code for r in answers) == [202] * 10 + [409] * 40
    sold_out = [r.json() for r in answers if r.status_code == 409]
    assert {p["type"] for p in sold_out} == {"urn:scifikpi:problem:sold-out"}

    async def final(token: str, purchase_id: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            p = await _get(api, f"/nft/purchases/{purchase_id}", token)
            return p if p["status"] in ("completed", "failed") else None

        return await eventually(probe, timeout_s=90, what=f"purchase {purchase_id} final")

    outcomes = await asyncio.gather(
        *(
            final(token, r.json()["id"] if r.status_code == 202 else r.json()["purchase_id"])
            for (token, _), r in zip(buyers, answers, strict=True)
        )
    )
    statuses = sorted(o["status"] for o in outcomes)
    assert statuses == ["completed"] * 10 + ["failed"] * 40
    assert len({o["index"] for o in outcomes if o["status"] == "completed"}) == 10
    assert {o["failure_reason"] for o in outcomes if o["status"] == "failed"} == {"sold_out"}

    price = Decimal(item["price_points"])
    for (token, points), outcome in zip(buyers, outcomes, strict=True):
        expected = points - price if outcome["status"] == "completed" else points

        async def settled(token: str = token, expected: Decimal = expected) -> bool:
            b = await _get(api, "/balance", token)
            return (
                Decimal(b["points"]["available"]) == expected
                and Decimal(b["points"]["reserved"]) == 0
            )

        await eventually(settled, timeout_s=30, what="points settled")
    catalog = (await api.get("/nft/catalog", params={"limit": 100})).json()["items"]
    assert next(i for i in catalog if i["id"] == item["id"])["supply_left"] == 0
    cli = run_cli("ledger-admin", "check", database_url=database_url)
    assert cli.returncode == 0, cli.stderr
    assert orjson.loads(cli.stdout)["ok"] is True
