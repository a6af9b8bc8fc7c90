"""POST /nft/{id}/transfer and GET /nft/transfers/{id} against real Postgres.

Minted NFTs and verified wallets are inserted directly (the mint engine and the wallet binding
are tested where they live)."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime

from _nft_helpers import PROBLEM, create
from nft.ton.addresses import friendly, parse_user_address
from sqlalchemy import text

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def raw_address() -> str:
    return "0:" + os.urandom(32).hex()


CUSTODY = raw_address()
COLLECTION = raw_address()


async def purchase(engine, user_id, item_id, *, status: str = "completed") -> uuid.UUID:
    pid = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO nft.purchases (id, user_id, catalog_item_id, idempotency_key,"
                " price_points_micro, status, failure_reason, created_at, updated_at)"
                " VALUES (:id, :u, :i, :k, 1000000, :s, :r, :t, :t)"
            ),
            {
                "id": pid,
                "u": user_id,
                "i": item_id,
                "k": str(pid),
                "s": status,
                "r": "mint_failed" if status == "failed" else None,
                "t": NOW,
            },
        )
    return pid


async def minted(engine, user_id, item_id, *, index: int, status: str = "custody") -> uuid.UUID:
    pid = await purchase(engine, user_id, item_id)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO nft.nfts (id, purchase_id, user_id, catalog_item_id,"
                " collection_address, item_index, item_address, owner_address, status, minted_at)"
                " VALUES (:id, :id, :u, :i, :c, :n, :a, :o, :s, :t)"
            ),
            {
                "id": pid,
                "u": user_id,
                "i": item_id,
                "c": COLLECTION,
                "n": index,
                "a": raw_address(),
                "o": CUSTODY,
                "s": status,
                "t": NOW,
            },
        )
    return pid


async def wallet(engine, user_id, address: str | None = None) -> str:
    address = address or raw_address()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO nft.wallets (user_id, address, public_key, verified_at)"
                " VALUES (:u, :a, :k, :t)"
            ),
            {"u": user_id, "a": address, "k": os.urandom(32).hex(), "t": NOW},
        )
    return address


def person(keys) -> tuple[uuid.UUID, dict[str, str]]:
    user_id = uuid.uuid4()
    return user_id, keys.headers(user_id)


async def send(client, headers, nft_id, body: dict | None = None):
    return await client.post(f"/nft/{nft_id}/transfer", json=body, headers=headers)


def expect(r, status: int, slug: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["type"] == PROBLEM + slug


async def test_happy_path_creates_a_pending_transfer(client, admin, keys, engine):
    item = (await create(client, admin))["id"]
    user_id, headers = person(keys)
    nft_id = await minted(engine, user_id, item, index=0)
    address = await wallet(engine, user_id)
    r = await send(client, headers, nft_id)
    assert r.status_code == 202, r.text
    body = r.json()
    shown = friendly(parse_user_address(address), testnet=True)
    assert shown.startswith("0Q")  # non-bounceable, test-only (not mainnet)
    assert body["status"] == "pending" and body["nft_id"] == str(nft_id)
    assert body["to_address"] == shown
    assert body["item_address"].startswith("kQ")  # a contract: bounceable
    assert body["message_hash"] is None and body["failure_reason"] is None
    assert r.headers["Location"] == f"/nft/transfers/{body['id']}"
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT * FROM nft.transfers"))).one()
    assert stored.to_address == address and stored.status == "pending"
    assert stored.user_id == user_id

    got = await client.get(f"/nft/transfers/{body['id']}", headers=headers)
    assert got.status_code == 200 and got.json() == body
    _, stranger = person(keys)
    expect(
        await client.get(f"/nft/transfers/{body['id']}", headers=stranger),
        404,
        "transfer-not-found",
    )
    expect(
        await client.get(f"/nft/transfers/{uuid.uuid4()}", headers=headers),
        404,
        "transfer-not-found",
    )
    # one transfer in flight per NFT
    expect(await send(client, headers, nft_id), 409, "transfer-in-progress")


async def test_request_wakes_the_chain_engine(client, admin, keys, engine):
    item = (await create(client, admin))["id"]
    user_id, headers = person(keys)
    nft_id = await minted(engine, user_id, item, index=0)
    await wallet(engine, user_id)
    seen: list[str] = []
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        await driver.add_listener("nft_chain", lambda *a: seen.append(a[2]))
        assert (await send(client, headers, nft_id)).status_code == 202
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.02)
    assert len(seen) == 1


async def test_to_address_must_be_the_verified_wallet(client, admin, keys, engine):
    item = (await create(client, admin))["id"]
    user_id, headers = person(keys)
    nft_id = await minted(engine, user_id, item, index=0)
    address = await wallet(engine, user_id)
    expect(await send(client, headers, nft_id, {"to_address": "EQnope"}), 422, "invalid-address")
    expect(
        await send(client, headers, nft_id, {"to_address": "-1:" + "ab" * 32}),
        422,
        "invalid-address",
    )
    expect(
        await send(client, headers, nft_id, {"to_address": raw_address()}),
        422,
        "wallet-not-verified",
    )
    # the verified wallet in another form (bounceable, url-safe) is the same wallet
    same = friendly(parse_user_address(address), bounceable=True)
    r = await send(client, headers, nft_id, {"to_address": same})
    assert r.status_code == 202, r.text


async def test_without_a_verified_wallet(client, admin, keys, engine):
    item = (await create(client, admin))["id"]
    user_id, headers = person(keys)
    nft_id = await minted(engine, user_id, item, index=0)
    expect(await send(client, headers, nft_id), 422, "wallet-not-verified")
    expect(
        await send(client, headers, nft_id, {"to_address": raw_address()}),
        422,
        "wallet-not-verified",
    )


async def test_not_found_not_minted_and_already_sent(client, admin, keys, engine):
    item = (await create(client, admin))["id"]
    user_id, headers = person(keys)
    await wallet(engine, user_id)
    other_id, _ = person(keys)
    expect(await send(client, headers, uuid.uuid4()), 404, "nft-not-found")
    theirs = await minted(engine, other_id, item, index=0)
    expect(await send(client, headers, theirs), 404, "nft-not-found")
    failed = await purchase(engine, user_id, item, status="failed")
    expect(await send(client, headers, failed), 404, "nft-not-found")
    for status in ("pending", "reserved"):
        waiting = await purchase(engine, user_id, item, status=status)
        expect(await send(client, headers, waiting), 409, "nft-not-minted")
    others_pending = await purchase(engine, other_id, item, status="pending")
    expect(await send(client, headers, others_pending), 404, "nft-not-found")
    sent = await minted(engine, user_id, item, index=1, status="transferred")
    expect(await send(client, headers, sent), 409, "nft-already-transferred")
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM nft.transfers"))).scalar() == 0


async def test_a_failed_transfer_can_be_requested_again(client, admin, keys, engine):
    item = (await create(client, admin))["id"]
    user_id, headers = person(keys)
    nft_id = await minted(engine, user_id, item, index=0)
    await wallet(engine, user_id)
    first = (await send(client, headers, nft_id)).json()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE nft.transfers SET status = 'failed', failure_reason = 'bounced'"
                " WHERE id = :id"
            ),
            {"id": first["id"]},
        )
    got = (await client.get(f"/nft/transfers/{first['id']}", headers=headers)).json()
    assert got["status"] == "failed" and got["failure_reason"] == "bounced"
    again = await send(client, headers, nft_id)
    assert again.status_code == 202 and again.json()["id"] != first["id"]


async def test_concurrent_requests_make_one_transfer(client, admin, keys, engine):
    item = (await create(client, admin))["id"]
    user_id, headers = person(keys)
    nft_id = await minted(engine, user_id, item, index=0)
    await wallet(engine, user_id)
    answers = await asyncio.gather(*(send(client, headers, nft_id) for _ in range(10)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [202] + [409] * 9, [r.text for r in answers]
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM nft.transfers"))).scalar() == 1


async def test_requires_a_token(client):
    assert (await client.post(f"/nft/{uuid.uuid4()}/transfer")).status_code == 401
    assert (await client.get(f"/nft/transfers/{uuid.uuid4()}")).status_code == 401
