"""`GET /admin/analytics/summary` over seeded facts and rollups: every figure exact, money per
provider and currency (never summed across currencies), windows of whole 15-minute buckets."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from _figures_helpers import (
    account,
    at,
    catalog_item,
    d,
    purchase,
    seed_progress,
    seed_rollups,
    seed_rows,
)
from analytics import models
from analytics.domain import METRICS
from analytics.figures import api
from sqlalchemy.ext.asyncio import AsyncEngine

NOW = at("2026-12-07T09:37:12")
URL = "/admin/analytics/summary"


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat()


@pytest.fixture(autouse=True)
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "utcnow", lambda: NOW)


def metric(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in body["metrics"] if m["name"] == name)


def vals(total: int, d1: int, d7: int, d30: int) -> dict[str, int]:
    return {"total": total, "last_24h": d1, "last_7d": d7, "last_30d": d30}


async def seed_world(engine: AsyncEngine) -> None:
    money = {"provider": "stripe", "currency": "USD"}
    await seed_rollups(
        engine,
        [
            d("accounts.registered", ago(minutes=5), account_type="individual", country="DE"),
            d("accounts.registered", ago(hours=30), account_type="legal_entity", country="RU"),
            d("accounts.registered", ago(days=10), account_type="individual", country="DE"),
            d("accounts.registered", ago(days=60), account_type="individual", country="DE"),
            # the bucket boundary: 24 h before the end of the current bucket is in, before is out
            d(
                "accounts.activated",
                at("2026-12-06T09:45"),
                account_type="individual",
                country="DE",
            ),
            d(
                "accounts.activated",
                at("2026-12-06T09:44:59"),
                account_type="individual",
                country="DE",
            ),
            d("accounts.activated", ago(days=2), account_type="individual", country="DE"),
            d("payments.deposits.amount", ago(hours=1), 1_500, **money),
            d("payments.deposits.amount", ago(days=3), 2_000, **money),
            d(
                "payments.deposits.amount",
                ago(hours=2),
                100_000,
                provider="yoomoney",
                currency="RUB",
            ),
            d("payments.deposits.amount", ago(days=40), 700, provider="yoomoney", currency="USD"),
            d("payments.deposits.count", ago(hours=1), 1, **money),
            d("mining.points_mined", ago(hours=1), 12_500_000),
            d("points.reserved", ago(days=2), 30_000_000),
            d("points.debited", ago(days=1, hours=1), 10_000_000),
            d("points.released", ago(hours=3), 5_000_000),
        ],
    )
    await seed_rows(
        engine,
        models.accounts,
        [
            account(ago(days=3), activated=ago(days=3, seconds=-60)),
            account(ago(days=3), activated=ago(days=2)),
            account(ago(days=1), activated=ago(days=1, seconds=-30)),
            account(ago(hours=1)),
        ],
    )
    sessions = [
        {
            "session_id": uuid.uuid4(),
            "user_id": u,
            "started_at": at(ago(hours=1)),
            "completed_at": c,
            "points_micro": None,
        }
        for u, c in [
            (uuid.UUID(int=1), None),
            (uuid.UUID(int=1), None),
            (uuid.UUID(int=2), None),
            (uuid.UUID(int=3), at(ago(minutes=1))),
        ]
    ]
    await seed_rows(engine, models.sessions, sessions)
    ship = catalog_item("Ship", 10, ago(days=5))
    sold = [d("nft.purchases_completed", ago(hours=2), catalog_item_id=ship["item_id"])] * 2
    await seed_rollups(engine, sold)  # the two minted below (nft_sold reads the totals)
    await seed_rows(engine, models.catalog_items, [ship, catalog_item("Rock", 5, ago(days=4))])
    await seed_rows(
        engine,
        models.purchases,
        [
            purchase(ship["item_id"], ago(hours=2), minted=ago(hours=2, seconds=-4)),
            purchase(ship["item_id"], ago(hours=2), minted=ago(hours=2, seconds=-10)),
            purchase(ship["item_id"], ago(hours=2), failed=ago(hours=1)),
        ],
    )
    await seed_progress(
        engine, {"auth.user.v1": ago(minutes=3), "mining.session.v1": ago(minutes=1)}
    )


async def test_nothing_applied_yet(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    body = (await client.get(URL, headers=admin)).raise_for_status().json()
    assert body["as_of"] is None
    assert [m["name"] for m in body["metrics"]] == [m.name for m in METRICS]
    assert metric(body, "accounts.registered")["values"] == vals(0, 0, 0, 0)
    assert metric(body, "payments.deposits.amount")["values"] is None
    assert metric(body, "payments.deposits.amount")["by_currency"] == []
    f = body["figures"]
    assert f["activation_rate"] == {"numerator": 0, "denominator": 0, "value": None}
    assert f["time_to_activation"] == {"count": 0, "p50_ms": None, "p90_ms": None}
    assert f["points_held"] == "0.000000" and f["users_mining_now"] == 0


async def test_every_figure_exact(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    await seed_world(engine)
    body = (await client.get(URL, headers=admin)).raise_for_status().json()
    assert at(body["as_of"].replace("Z", "+00:00")) == at(ago(minutes=1))
    assert body["generated_at"].startswith("2026-12-07T09:37:12")
    assert body["windows"][0] == {
        "name": "last_24h",
        "start": "2026-12-06T09:45:00Z",
        "end": "2026-12-07T09:45:00Z",
    }
    registered = metric(body, "accounts.registered")
    assert registered["values"] == vals(4, 1, 2, 3)
    assert {
        (tuple(sorted(c["dimensions"].items())), c["values"]["total"])
        for c in registered["breakdown"]
    } == {
        ((("account_type", "individual"), ("country", "DE")), 3),
        ((("account_type", "legal_entity"), ("country", "RU")), 1),
    }
    assert metric(body, "accounts.activated")["values"] == vals(3, 1, 3, 3)
    deposits = metric(body, "payments.deposits.amount")
    assert deposits["values"] is None  # never summed across currencies
    assert [(c["dimensions"], c["values"]) for c in deposits["by_currency"]] == [
        ({"currency": "RUB"}, vals(100_000, 100_000, 100_000, 100_000)),
        ({"currency": "USD"}, vals(4_200, 1_500, 3_500, 3_500)),
    ]
    assert [(c["dimensions"], c["values"]["total"]) for c in deposits["breakdown"]] == [
        ({"currency": "RUB", "provider": "yoomoney"}, 100_000),
        ({"currency": "USD", "provider": "stripe"}, 3_500),
        ({"currency": "USD", "provider": "yoomoney"}, 700),
    ]
    mined = metric(body, "mining.points_mined")
    assert mined["values"] == vals(12_500_000, 12_500_000, 12_500_000, 12_500_000)
    assert mined["points"]["total"] == "12.500000"
    f = body["figures"]
    assert f["accounts_registered"] == 4 and f["accounts_activated"] == 3
    assert f["activation_rate"] == {"numerator": 3, "denominator": 4, "value": "0.7500"}
    assert f["time_to_activation"] == {"count": 3, "p50_ms": 60_000, "p90_ms": 86_400_000}
    assert f["users_mining_now"] == 2
    assert (f["points_held_micro"], f["points_held"]) == (15_000_000, "15.000000")
    assert f["mint_latency"] == {"count": 2, "p50_ms": 4_000, "p90_ms": 10_000}
    assert (f["nft_sold"], f["nft_supply_total"]) == (2, 15)
    assert f["nft_sell_through"] == {"numerator": 2, "denominator": 15, "value": "0.1333"}


async def test_csv_parses_back_to_the_json(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    await seed_world(engine)
    body = (await client.get(URL, headers=admin)).json()
    response = await client.get(URL, headers={**admin, "Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {at(r["as_of"]) for r in rows} == {at(body["as_of"].replace("Z", "+00:00"))}
    by_key = {(r["figure"], r["dimension"]): r for r in rows}
    for m in body["metrics"]:
        cells = [("", m["values"])] if m["values"] else []
        cells += [
            (";".join(f"{k}={v}" for k, v in sorted(c["dimensions"].items())), c["values"])
            for c in (m["by_currency"] or []) + m["breakdown"]
        ]
        for dim, values in cells:
            row = by_key[(m["name"], dim)]
            assert row["unit"] == m["unit"]
            assert {k: int(row[k]) for k in values} == values
    f = body["figures"]
    assert by_key[("activation_rate", "")]["total"] == f["activation_rate"]["value"]
    assert int(by_key[("points_held", "")]["total"]) == f["points_held_micro"]
    assert int(by_key[("mint_latency.p90", "")]["total"]) == f["mint_latency"]["p90_ms"]
    assert int(by_key[("users_mining_now", "")]["total"]) == f["users_mining_now"]
    expected = sum(
        1 + len(m["breakdown"]) + len(m["by_currency"] or []) - (m["values"] is None)
        for m in body["metrics"]
    )
    assert len(rows) == expected + 18  # the figures over facts


async def test_the_duration_percentiles_cover_the_last_30_days(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    await seed_world(engine)
    item = uuid.uuid4()
    early = [  # activated before the `last_30d` window (registered inside or out): rate only
        account(ago(days=40), activated=ago(days=31)),
        account(ago(days=30, minutes=20), activated=ago(days=30, minutes=10)),
    ]
    unregistered = account(None, activated=ago(days=1))  # its UserRegistered not arrived yet
    unregistered["account_type"] = unregistered["country"] = None
    await seed_rows(engine, models.accounts, [*early, unregistered])
    dims = {"account_type": "individual", "country": "DE"}
    await seed_rollups(  # the cells those rows are counted in (as the projection keeps them)
        engine,
        [
            *(d("accounts.registered", a["registered_at"], **dims) for a in early),
            *(d("accounts.activated", a["activated_at"], **dims) for a in early),
            d("accounts.activated", ago(days=1), account_type=None, country=None),
        ],
    )
    await seed_rows(
        engine,
        models.purchases,
        [purchase(item, ago(days=31), minted=ago(days=30, minutes=59))],  # minted before it
    )
    f = (await client.get(URL, headers=admin)).raise_for_status().json()["figures"]
    assert f["activation_rate"] == {"numerator": 5, "denominator": 6, "value": "0.8333"}
    assert f["time_to_activation"] == {"count": 3, "p50_ms": 60_000, "p90_ms": 86_400_000}
    assert f["mint_latency"] == {"count": 2, "p50_ms": 4_000, "p90_ms": 10_000}
