"""POST/GET /nft/purchases against real Postgres: supply, idempotency, races, sold out."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from _nft_helpers import PROBLEM, create
from scifikpi_common.testing.contracts import check_documented
from sqlalchemy import text

# Catalog writes publish on `nft.catalog.v1` too: count only the purchase saga's events.
PURCHASE_EVENTS = "SELECT count(*) FROM nft.outbox WHERE topic = 'nft.purchase.v1'"
PURCHASE_EVENTS_ROWS = (
    "SELECT event_type, key, payload FROM nft.outbox WHERE topic = 'nft.purchase.v1'"
)


def buyer(keys, **claims: Any) -> tuple[uuid.UUID, dict[str, str]]:
    user_id = uuid.uuid4()
    return user_id, keys.headers(user_id, **claims)


async def buy(client, headers, item_id, key: str | None = "k-1"):
    h = dict(headers)
    if key is not None:
        h["Idempotency-Key"] = key
    return await client.post("/nft/purchases", json={"catalog_item_id": str(item_id)}, headers=h)


async def scalar(engine, sql: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def test_purchase_is_pending_with_supply_taken_and_event_queued(client, admin, keys, engine):
    item = await create(client, admin, price_points="12.5", supply_total=3)
    user_id, headers = buyer(keys)
    r = await buy(client, headers, item["id"])
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "pending"
    assert body["catalog_item_id"] == item["id"]
    assert body["price_points"] == "12.500000" and body["price_points_micro"] == 12_500_000
    assert body["collection_address"] is None and body["index"] is None
    assert body["item_address"] is None and body["failure_reason"] is None
    assert r.headers["Location"] == f"/nft/purchases/{body['id']}"
    assert "Idempotent-Replayed" not in r.headers
    assert await scalar(engine, "SELECT supply_sold FROM nft.catalog_items") == 1
    async with engine.connect() as conn:
        rows = (await conn.execute(text(PURCHASE_EVENTS_ROWS))).all()
    assert len(rows) == 1 and rows[0].event_type == "NftPurchaseRequested"
    assert rows[0].key == str(user_id)
    payload = rows[0].payload["payload"]
    assert payload["purchase_id"] == body["id"] and payload["price_points_micro"] == 12_500_000
    assert payload["catalog_item_id"] == item["id"]

    got = await client.get(f"/nft/purchases/{body['id']}", headers=headers)
    assert got.status_code == 200 and got.json()["status"] == "pending"
    assert set(got.json()) >= {
        "id",
        "status",
        "catalog_item_id",
        "price_points",
        "failure_reason",
        "created_at",
        "updated_at",
        "completed_at",
        "collection_address",
        "index",
        "item_address",
    }


async def test_price_is_captured_at_purchase_time(client, admin, keys):
    item = await create(client, admin, price_points="5")
    _, headers = buyer(keys)
    first = (await buy(client, headers, item["id"])).json()
    r = await client.patch(
        f"/admin/nft/catalog/{item['id']}", json={"price_points": "9"}, headers=admin
    )
    assert r.status_code == 200
    got = (await client.get(f"/nft/purchases/{first['id']}", headers=headers)).json()
    assert got["price_points"] == "5.000000"


async def test_same_key_replays_and_other_item_is_refused(client, admin, keys, engine):
    item = await create(client, admin)
    other = await create(client, admin)
    _, headers = buyer(keys)
    first = await buy(client, headers, item["id"], "key-a")
    again = await buy(client, headers, item["id"], "key-a")
    assert first.status_code == 202 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    reused = await buy(client, headers, other["id"], "key-a")
    assert reused.status_code == 422
    assert reused.json()["type"] == PROBLEM + "idempotency-key-reused"
    assert await scalar(engine, "SELECT count(*) FROM nft.purchases") == 1
    assert await scalar(engine, PURCHASE_EVENTS) == 1
    # another user may use the same key
    _, headers2 = buyer(keys)
    assert (await buy(client, headers2, item["id"], "key-a")).status_code == 202


async def test_ten_concurrent_requests_with_one_key_make_one_purchase(client, admin, keys, engine):
    item = await create(client, admin, supply_total=20)
    _, headers = buyer(keys)
    answers = await asyncio.gather(*(buy(client, headers, item["id"], "race") for _ in range(10)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 9 + [202], [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert await scalar(engine, "SELECT count(*) FROM nft.purchases") == 1
    assert await scalar(engine, PURCHASE_EVENTS) == 1
    assert await scalar(engine, "SELECT supply_sold FROM nft.catalog_items") == 1


@pytest.mark.parametrize(
    ("key", "status", "slug"),
    [
        (None, 400, "idempotency-key-missing"),
        ("   ", 400, "idempotency-key-missing"),
        ("x" * 256, 422, "idempotency-key-invalid"),
        ("clé", 422, "idempotency-key-invalid"),
    ],
)
async def test_missing_or_invalid_key(client, admin, keys, engine, key, status, slug):
    item = await create(client, admin)
    _, headers = buyer(keys)
    h = dict(headers)
    if key is not None:
        h["Idempotency-Key"] = key
    r = await client.post(
        "/nft/purchases",
        json={"catalog_item_id": item["id"]},
        headers={k: v.encode() if k == "Idempotency-Key" else v for k, v in h.items()},
    )
    assert r.status_code == status, r.text
    assert r.json()["type"] == PROBLEM + slug
    assert await scalar(engine, "SELECT count(*) FROM nft.purchases") == 0


async def test_sold_out_is_recorded_failed_and_replays(client, admin, keys, engine):
    item = await create(client, admin, supply_total=1)
    _, first = buyer(keys)
    assert (await buy(client, first, item["id"])).status_code == 202
    _, late = buyer(keys)
    r = await buy(client, late, item["id"], "late")
    assert r.status_code == 409
    problem = r.json()
    assert problem["type"] == PROBLEM + "sold-out"
    purchase_id = problem["purchase_id"]
    got = (await client.get(f"/nft/purchases/{purchase_id}", headers=late)).json()
    assert got["status"] == "failed" and got["failure_reason"] == "sold_out"
    again = await buy(client, late, item["id"], "late")
    assert again.status_code == 409 and again.json()["purchase_id"] == purchase_id
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await scalar(engine, "SELECT supply_sold FROM nft.catalog_items") == 1
    assert await scalar(engine, PURCHASE_EVENTS) == 1


async def test_fifty_buyers_for_ten_units(client, admin, keys, engine):
    item = await create(client, admin, supply_total=10)
    buyers = [buyer(keys)[1] for _ in range(50)]
    answers = await asyncio.gather(*(buy(client, h, item["id"]) for h in buyers))
    codes = [r.status_code for r in answers]
    assert codes.count(202) == 10 and codes.count(409) == 40, [
        r.text for r in answers if r.status_code >= 500
    ]
    assert all(r.json()["type"] == PROBLEM + "sold-out" for r in answers if r.status_code == 409)
    async with engine.connect() as conn:
        counts = dict(
            (
                await conn.execute(
                    text(
                        "SELECT coalesce(failure_reason, status), count(*) FROM nft.purchases GROUP BY 1"
                    )
                )
            ).all()
        )
    assert counts == {"pending": 10, "sold_out": 40}
    assert await scalar(engine, "SELECT supply_sold FROM nft.catalog_items") == 10
    assert await scalar(engine, PURCHASE_EVENTS) == 10


async def test_retired_unknown_and_inactive(client, admin, keys, engine):
    item = await create(client, admin)
    _, headers = buyer(keys)
    assert (
        await client.post(f"/admin/nft/catalog/{item['id']}/retire", headers=admin)
    ).status_code == 200
    r = await buy(client, headers, item["id"], "r")
    assert r.status_code == 409 and r.json()["type"] == PROBLEM + "catalog-item-retired"
    r = await buy(client, headers, uuid.uuid4(), "u")
    assert r.status_code == 404 and r.json()["type"] == PROBLEM + "catalog-item-not-found"
    live = await create(client, admin)
    _, pending = buyer(keys, status="pending_payment")
    r = await buy(client, pending, live["id"], "p")
    assert r.status_code == 403 and r.json()["type"] == PROBLEM + "account-not-active"
    r = await client.post("/nft/purchases", json={"catalog_item_id": live["id"]})
    assert r.status_code == 401
    assert await scalar(engine, "SELECT count(*) FROM nft.purchases") == 0
    assert await scalar(engine, "SELECT sum(supply_sold) FROM nft.catalog_items") == 0


async def test_reads_are_own_only_and_paged(client, admin, keys):
    item = await create(client, admin, supply_total=10)
    _, headers = buyer(keys)
    _, stranger = buyer(keys)
    ids = [(await buy(client, headers, item["id"], f"k{i}")).json()["id"] for i in range(5)]
    assert (await client.get(f"/nft/purchases/{ids[0]}", headers=stranger)).status_code == 404
    r = await client.get(f"/nft/purchases/{uuid.uuid4()}", headers=headers)
    assert r.status_code == 404 and r.json()["type"] == PROBLEM + "purchase-not-found"
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/nft/purchases", params=params, headers=headers)).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert (await client.get("/nft/purchases", headers=stranger)).json()["items"] == []
    bad = await client.get("/nft/purchases", params={"cursor": "nope"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["type"] == PROBLEM + "invalid-cursor"


async def test_routes_are_documented_with_their_problems(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    expected = {
        ("/nft/purchases", "post"): {"200", "202", "400", "401", "403", "404", "409", "422"},
        ("/nft/purchases", "get"): {"200", "401", "422"},
        ("/nft/purchases/{purchase_id}", "get"): {"200", "401", "404"},
        ("/nft/mine", "get"): {"200", "401", "422"},
        ("/nft/{nft_id}/transfer", "post"): {"202", "401", "404", "409", "422"},
        ("/nft/transfers/{transfer_id}", "get"): {"200", "401", "404"},
    }
    check_documented(paths, expected, secured=True)
    post = paths["/nft/purchases"]["post"]["responses"]
    assert "sold out" in post["409"]["description"] and "retired" in post["409"]["description"]
    transfer = paths["/nft/{nft_id}/transfer"]["post"]["responses"]
    assert "not minted" in transfer["409"]["description"]
    assert "verified wallet" in transfer["422"]["description"]
    keys = [p for p in paths["/nft/purchases"]["post"]["parameters"]
            if p["name"] == "Idempotency-Key"]  # fmt: skip
    assert len(keys) == 1 and keys[0]["in"] == "header" and keys[0]["required"] is True, keys
