"""`GET /admin/analytics/funnel` (a cohort in a timezone, cumulative steps, exact conversions) and
`GET /admin/analytics/nft/items` (per item, keyset-paged), each with CSV equal to JSON."""

from __future__ import annotations

import csv
import io
import uuid

import httpx
from _figures_helpers import account, at, catalog_item, purchase, seed_progress, seed_rows
from analytics import models
from sqlalchemy.ext.asyncio import AsyncEngine

FUNNEL = "/admin/analytics/funnel"
ITEMS = "/admin/analytics/nft/items"
T = "2026-03-05T10:00"


async def seed_cohort(engine: AsyncEngine) -> None:
    rows = [
        # registered 1 Mar 00:30 MSK (28 Feb 21:30 UTC): in a Moscow cohort of March, not UTC's
        account("2026-02-28T21:30", activated=T, session=T, purchase=T, wallet=T, transfer=T),
        account("2026-03-01T10:00", activated=T, session=T, purchase=T, wallet=T),
        account("2026-03-01T10:00", activated=T, session=T, purchase=T),
        account("2026-03-02T10:00", activated=T, session=T, account_type="legal_entity"),
        account("2026-03-02T10:00", activated=T),
        account("2026-03-03T10:00", session=T),  # not activated: later steps not counted either
        account("2026-03-31T21:00", activated=T),  # 1 Apr MSK: outside
        account(None, activated=T, session=T),  # registration not applied yet: no cohort
    ]
    await seed_rows(engine, models.accounts, rows)


async def test_funnel_counts_and_conversions(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    await seed_cohort(engine)
    params = {"from": "2026-03-01", "to": "2026-04-01", "timezone": "Europe/Moscow"}
    body = (await client.get(FUNNEL, params=params, headers=admin)).raise_for_status().json()
    assert body["from"] == "2026-03-01T00:00:00+03:00" and body["to"] == "2026-04-01T00:00:00+03:00"
    assert body["as_of"] is None and body["timezone"] == "Europe/Moscow"
    steps = [(s["name"], s["count"]) for s in body["steps"]]
    assert steps == [
        ("registered", 6),
        ("activated", 5),
        ("first_mining_session", 4),
        ("first_nft_purchase", 3),
        ("wallet_bound", 2),
        ("nft_transferred", 1),
    ]
    assert body["steps"][0]["conversion"] is None
    assert body["steps"][1]["conversion"] == {"numerator": 5, "denominator": 6, "value": "0.8333"}
    assert body["steps"][2]["conversion"] == {"numerator": 4, "denominator": 5, "value": "0.8000"}
    assert body["steps"][4]["conversion"] == {"numerator": 2, "denominator": 3, "value": "0.6667"}
    assert body["steps"][5]["overall"] == {"numerator": 1, "denominator": 6, "value": "0.1667"}
    utc = (await client.get(FUNNEL, params={**params, "timezone": "UTC"}, headers=admin)).json()
    assert utc["steps"][0]["count"] == 6  # loses 28 Feb 21:30, gains 31 Mar 21:00
    assert utc["steps"][5]["count"] == 0


async def test_funnel_empty_and_csv(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    params = {"from": "2026-03-01", "to": "2026-03-01"}
    body = (await client.get(FUNNEL, params=params, headers=admin)).json()
    assert [s["count"] for s in body["steps"]] == [0] * 6
    assert body["steps"][1]["conversion"] == {"numerator": 0, "denominator": 0, "value": None}
    await seed_cohort(engine)
    await seed_progress(engine, {"auth.user.v1": "2026-03-05T10:00"})
    params = {"from": "2026-03-01", "to": "2026-04-01", "timezone": "Asia/Kolkata"}
    body = (await client.get(FUNNEL, params=params, headers=admin)).json()
    text = (await client.get(FUNNEL, params=params, headers={**admin, "Accept": "text/csv"})).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows == [
        {
            "as_of": "2026-03-05T10:00:00+00:00",
            "step": s["name"],
            "count": str(s["count"]),
            "conversion_numerator": str(s["conversion"]["numerator"]) if s["conversion"] else "",
            "conversion_denominator": str(s["conversion"]["denominator"])
            if s["conversion"]
            else "",
            "conversion": (s["conversion"]["value"] or "") if s["conversion"] else "",
            "overall": s["overall"]["value"] or "",
        }
        for s in body["steps"]
    ]


async def seed_items(engine: AsyncEngine) -> list[dict[str, object]]:
    items = [catalog_item(f"Item {i}", 10 * (i + 1), f"2026-03-0{i + 1}T10:00") for i in range(5)]
    items[4]["status"] = "retired"
    await seed_rows(engine, models.catalog_items, items)
    first, last = items[0]["item_id"], items[4]["item_id"]
    orphan = uuid.uuid4()  # seen in purchases before its catalog event
    await seed_rows(
        engine,
        models.purchases,
        [
            purchase(first, T, minted=T, price=10_000_000),
            purchase(first, T, minted=T, price=12_500_000),
            purchase(first, T, failed=T),
            purchase(first, T),
            purchase(last, T, minted=T, price=1),
            purchase(orphan, "2026-02-01T00:00", minted=T, price=3),
            purchase(None, None, minted=T),  # item unknown yet: counted in no item
        ],
    )
    return items


async def test_items_exact_and_paged(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    items = await seed_items(engine)
    seen: list[dict[str, object]] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        body = (await client.get(ITEMS, params=params, headers=admin)).raise_for_status().json()
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 6
    assert [i["name"] for i in seen] == ["Item 4", "Item 3", "Item 2", "Item 1", "Item 0", None]
    by_name = {i["name"]: i for i in seen}
    assert by_name["Item 0"] == {
        "item_id": str(items[0]["item_id"]),
        "name": "Item 0",
        "status": "active",
        "supply_total": 10,
        "requested": 4,
        "sold": 2,
        "failed": 1,
        "sell_through": {"numerator": 2, "denominator": 10, "value": "0.2000"},
        "points_spent_micro": 22_500_000,
        "points_spent": "22.500000",
    }
    assert (
        by_name["Item 4"]["status"] == "retired" and by_name["Item 4"]["points_spent"] == "0.000001"
    )
    assert by_name["Item 2"]["sold"] == 0 and by_name["Item 2"]["sell_through"]["value"] == "0.0000"
    orphan = by_name[None]
    assert (orphan["sold"], orphan["supply_total"], orphan["sell_through"]["value"]) == (
        1,
        None,
        None,
    )


async def test_an_edit_between_page_fetches_skips_and_repeats_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    items = await seed_items(engine)
    first = (await client.get(ITEMS, params={"limit": "2"}, headers=admin)).json()
    assert [i["name"] for i in first["items"]] == ["Item 4", "Item 3"]
    c = models.catalog_items.c
    async with engine.begin() as conn:  # Item 0 (a later page) and Item 4 (seen) edited now
        for item, name in ((items[0], "Item 0 v2"), (items[4], "Item 4 v2")):
            await conn.execute(
                models.catalog_items.update()
                .where(c.item_id == item["item_id"])
                .values(name=name, changed_at=at("2026-04-01T10:00"))
            )
    seen, cursor = list(first["items"]), first["next_cursor"]
    while cursor:
        params = {"limit": "2", "cursor": cursor}
        body = (await client.get(ITEMS, params=params, headers=admin)).json()
        seen += body["items"]
        cursor = body["next_cursor"]
    assert [i["name"] for i in seen] == ["Item 4", "Item 3", "Item 2", "Item 1", "Item 0 v2", None]


async def test_items_csv(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    await seed_items(engine)
    body = (await client.get(ITEMS, params={"limit": "3"}, headers=admin)).json()
    response = await client.get(
        ITEMS, params={"limit": "3"}, headers={**admin, "Accept": "text/csv"}
    )
    assert response.headers["x-next-cursor"] == body["next_cursor"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["item_id"] for r in rows] == [i["item_id"] for i in body["items"]]
    for row, item in zip(rows, body["items"], strict=True):
        assert row["as_of"] == ""
        assert (row["name"], row["status"]) == (item["name"], item["status"])
        for key in ("supply_total", "requested", "sold", "failed", "points_spent_micro"):
            assert int(row[key]) == item[key]
        assert row["sell_through"] == item["sell_through"]["value"]
