"""GET /nft/mine and a completed purchase's on-chain fields, against real Postgres (minted rows
are inserted directly: minting itself is the chain engine's)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

from _nft_helpers import PROBLEM, create
from nft.ton.addresses import friendly, parse_user_address
from sqlalchemy import text

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
COLLECTION = "0:" + os.urandom(32).hex()
CUSTODY = "0:" + os.urandom(32).hex()


async def minted(
    engine, user_id, item_id, *, index: int, at: datetime, status="custody", owner: str = CUSTODY
) -> tuple[uuid.UUID, str]:
    pid, item_address = uuid.uuid4(), "0:" + os.urandom(32).hex()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO nft.purchases (id, user_id, catalog_item_id, idempotency_key,"
                " price_points_micro, status, created_at, updated_at, completed_at, item_index)"
                " VALUES (:id, :u, :i, :k, 1000000, 'completed', :t, :t, :t, :n)"
            ),
            {"id": pid, "u": user_id, "i": item_id, "k": str(pid), "t": at, "n": index},
        )
        await conn.execute(
            text(
                "INSERT INTO nft.nfts (id, purchase_id, user_id, catalog_item_id,"
                " collection_address, item_index, item_address, owner_address, status, minted_at,"
                " transferred_at) VALUES (:id, :id, :u, :i, :c, :n, :a, :o, :s, :t, :tt)"
            ),
            {
                "id": pid,
                "u": user_id,
                "i": item_id,
                "c": COLLECTION,
                "n": index,
                "a": item_address,
                "o": owner,
                "s": status,
                "t": at,
                "tt": at if status == "transferred" else None,
            },
        )
    return pid, item_address


def show(raw: str, *, contract: bool) -> str:
    return friendly(parse_user_address(raw), bounceable=contract, testnet=True)


async def test_mine_lists_minted_nfts_newest_first_by_pages(client, admin, keys, engine):
    item = await create(client, admin, name="Star Cruiser", supply_total=20)
    user_id = uuid.uuid4()
    headers = keys.headers(user_id)
    made = [
        await minted(engine, user_id, item["id"], index=i, at=NOW + timedelta(seconds=i))
        for i in range(5)
    ]
    other = uuid.uuid4()
    await minted(engine, other, item["id"], index=99, at=NOW)
    wallet = "0:" + os.urandom(32).hex()
    sent, _ = await minted(
        engine,
        user_id,
        item["id"],
        index=5,
        at=NOW + timedelta(seconds=5),
        status="transferred",
        owner=wallet,
    )

    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        r = await client.get("/nft/mine", params=params, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [n["id"] for n in seen] == [str(sent)] + [str(pid) for pid, _ in reversed(made)]
    top = seen[0]
    assert top["status"] == "transferred" and top["owner_address"] == show(wallet, contract=False)
    assert top["transferred_at"] is not None
    last = seen[-1]
    pid, item_address = made[0]
    assert last == {
        "id": str(pid),
        "catalog_item_id": item["id"],
        "name": "Star Cruiser",
        "image_url": item["image_url"],
        "metadata_url": item["metadata_url"],
        "collection_address": show(COLLECTION, contract=True),
        "index": 0,
        "item_address": show(item_address, contract=True),
        "owner_address": show(CUSTODY, contract=False),
        "status": "custody",
        "minted_at": last["minted_at"],
        "transferred_at": None,
    }
    assert last["collection_address"].startswith("kQ")
    assert last["owner_address"].startswith("0Q")

    assert (await client.get("/nft/mine", headers=keys.headers(uuid.uuid4()))).json() == {
        "items": [],
        "next_cursor": None,
    }
    bad = await client.get("/nft/mine", params={"cursor": "x"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["type"] == PROBLEM + "invalid-cursor"
    assert (await client.get("/nft/mine")).status_code == 401


async def test_completed_purchase_shows_where_its_nft_is(client, admin, keys, engine):
    item = await create(client, admin)
    user_id = uuid.uuid4()
    headers = keys.headers(user_id)
    pid, item_address = await minted(engine, user_id, item["id"], index=3, at=NOW)
    got = (await client.get(f"/nft/purchases/{pid}", headers=headers)).json()
    assert got["status"] == "completed" and got["completed_at"] is not None
    assert got["index"] == 3
    assert got["collection_address"] == show(COLLECTION, contract=True)
    assert got["item_address"] == show(item_address, contract=True)
