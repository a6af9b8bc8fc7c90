"""`GET /admin/analytics/timeseries` over seeded rollups: local day buckets in Europe/Moscow and
Asia/Kolkata straddling midnight UTC, Europe/Berlin's DST change, weeks, months, empty buckets
as zero, one series per currency for money, CSV equal to JSON."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from _figures_helpers import d, seed_progress, seed_rollups
from sqlalchemy.ext.asyncio import AsyncEngine

URL = "/admin/analytics/timeseries"
IND = {"account_type": "individual", "country": "RU"}


async def get(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = await client.get(URL, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def values(body: dict[str, Any], metric: str, currency: str | None = None) -> list[int]:
    series = next(s for s in body["series"] if s["metric"] == metric and s["currency"] == currency)
    return [b["value"] for b in series["buckets"]]


async def seed_midnight(engine: AsyncEngine) -> None:
    """Registrations around midnight UTC of 1/2 March 2026."""
    await seed_rollups(
        engine,
        [
            d(
                "accounts.registered", "2026-03-01T18:15", **IND
            ),  # IST 2 Mar 23:45 / MSK 1 Mar 21:15
            d("accounts.registered", "2026-03-01T18:30", **IND),  # IST 2 Mar 00:00
            d("accounts.registered", "2026-03-01T20:59:59", **IND),  # MSK 1 Mar 23:59:59
            d("accounts.registered", "2026-03-01T21:00", **IND),  # MSK 2 Mar 00:00
            d("accounts.registered", "2026-03-01T23:59", **IND),  # UTC 1 Mar
            d("accounts.registered", "2026-03-02T00:00", **IND),  # UTC 2 Mar
        ],
    )


async def test_moscow_days(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    await seed_midnight(engine)
    body = await get(
        client,
        admin,
        metrics="accounts.registered",
        **{"from": "2026-03-01"},
        to="2026-03-04",
        interval="day",
        timezone="Europe/Moscow",
    )
    assert body["from"] == "2026-03-01T00:00:00+03:00" and body["to"] == "2026-03-04T00:00:00+03:00"
    assert body["interval"] == "day" and body["timezone"] == "Europe/Moscow"
    (series,) = body["series"]
    assert [(b["start"], b["end"]) for b in series["buckets"]][0] == (
        "2026-03-01T00:00:00+03:00",
        "2026-03-02T00:00:00+03:00",
    )
    assert values(body, "accounts.registered") == [3, 3, 0]
    assert series["total"] == 6 and series["unit"] == "count" and series["currency"] is None


async def test_kolkata_days(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    await seed_midnight(engine)
    body = await get(
        client,
        admin,
        metrics="accounts.registered",
        **{"from": "2026-03-01"},
        to="2026-03-03",
        interval="day",
        timezone="Asia/Kolkata",
    )
    assert body["series"][0]["buckets"][1]["start"] == "2026-03-02T00:00:00+05:30"
    assert values(body, "accounts.registered") == [1, 5]
    utc = await get(
        client, admin, metrics="accounts.registered", **{"from": "2026-03-01"}, to="2026-03-03"
    )
    assert values(utc, "accounts.registered") == [5, 1]


async def test_berlin_dst_day_and_hours(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    await seed_rollups(
        engine,
        [
            d("mining.sessions_started", "2026-03-28T22:59"),  # 28 Mar 23:59 CET
            d("mining.sessions_started", "2026-03-28T23:00"),  # 29 Mar 00:00 CET
            d("mining.sessions_started", "2026-03-29T00:59"),  # 01:59 CET
            d("mining.sessions_started", "2026-03-29T01:00", 2),  # 03:00 CEST (02:00 skipped)
            d("mining.sessions_started", "2026-03-29T21:59"),  # 23:59 CEST
            d("mining.sessions_started", "2026-03-29T22:00"),  # 30 Mar 00:00 CEST
        ],
    )
    days = await get(
        client,
        admin,
        metrics="mining.sessions_started",
        **{"from": "2026-03-28"},
        to="2026-03-31",
        timezone="Europe/Berlin",
    )
    buckets = days["series"][0]["buckets"]
    assert [(b["start"], b["value"]) for b in buckets] == [
        ("2026-03-28T00:00:00+01:00", 1),
        ("2026-03-29T00:00:00+01:00", 5),
        ("2026-03-30T00:00:00+02:00", 1),
    ]
    assert buckets[1]["end"] == "2026-03-30T00:00:00+02:00"  # a 23-hour day
    hours = await get(
        client,
        admin,
        metrics="mining.sessions_started",
        **{"from": "2026-03-29T00:00"},
        to="2026-03-29T04:00",
        interval="hour",
        timezone="Europe/Berlin",
    )
    assert [(b["start"][11:], b["value"]) for b in hours["series"][0]["buckets"]] == [
        ("00:00:00+01:00", 1),
        ("01:00:00+01:00", 1),
        ("03:00:00+02:00", 2),
    ]


async def test_weeks_months_and_empty_buckets(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    await seed_rollups(
        engine,
        [
            d("nft.transferred", "2026-03-01T20:59"),  # Sunday 23:59 MSK: week of 23 Feb
            d("nft.transferred", "2026-03-01T21:00"),  # Monday 2 March 00:00 MSK
            d("nft.transferred", "2026-03-31T20:59", 3),  # 31 Mar 23:59 MSK
            d("nft.transferred", "2026-03-31T21:00", 4),  # 1 Apr MSK
        ],
    )
    weeks = await get(
        client,
        admin,
        metrics="nft.transferred",
        **{"from": "2026-02-25"},
        to="2026-03-16",
        interval="week",
        timezone="Europe/Moscow",
    )
    assert [(b["start"][:10], b["value"]) for b in weeks["series"][0]["buckets"]] == [
        ("2026-02-23", 1),
        ("2026-03-02", 1),
        ("2026-03-09", 0),
    ]
    months = await get(
        client,
        admin,
        metrics="nft.transferred",
        **{"from": "2026-01-10"},
        to="2026-05-01",
        interval="month",
        timezone="Europe/Moscow",
    )
    assert [(b["start"][:10], b["value"]) for b in months["series"][0]["buckets"]] == [
        ("2026-01-01", 0),
        ("2026-02-01", 0),
        ("2026-03-01", 5),
        ("2026-04-01", 4),
    ]
    empty = await get(
        client, admin, metrics="mining.accelerations", **{"from": "2026-03-01"}, to="2026-03-08"
    )
    assert values(empty, "mining.accelerations") == [0] * 7


async def test_money_is_one_series_per_currency_and_points_are_strings(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    await seed_rollups(
        engine,
        [
            d(
                "payments.topups.amount",
                "2026-03-01T10:00",
                1_000,
                provider="stripe",
                currency="USD",
            ),
            d(
                "payments.topups.amount",
                "2026-03-02T10:00",
                250,
                provider="yoomoney",
                currency="USD",
            ),
            d(
                "payments.topups.amount",
                "2026-03-02T11:00",
                50_000,
                provider="yoomoney",
                currency="RUB",
            ),
            d("points.credited", "2026-03-02T11:00", 1_500_000),
        ],
    )
    body = await get(
        client,
        admin,
        metrics="payments.topups.amount,points.credited,payments.refunds.amount",
        **{"from": "2026-03-01"},
        to="2026-03-03",
    )
    assert [(s["metric"], s["currency"]) for s in body["series"]] == [
        ("payments.topups.amount", "RUB"),
        ("payments.topups.amount", "USD"),
        ("points.credited", None),
        ("payments.refunds.amount", None),
    ]
    assert values(body, "payments.topups.amount", "USD") == [1_000, 250]
    assert values(body, "payments.topups.amount", "RUB") == [0, 50_000]
    assert values(body, "payments.refunds.amount") == [0, 0]
    points = next(s for s in body["series"] if s["metric"] == "points.credited")
    assert [b["points"] for b in points["buckets"]] == ["0.000000", "1.500000"]
    assert points["unit"] == "micro_points"


async def test_csv_parses_back_to_the_json(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    await seed_midnight(engine)
    await seed_rollups(
        engine,
        [
            d(
                "payments.deposits.amount",
                "2026-03-01T10:00",
                1_000,
                provider="stripe",
                currency="EUR",
            )
        ],
    )
    await seed_progress(engine, {"auth.user.v1": "2026-03-02T00:00"})
    params = {
        "metrics": "accounts.registered,payments.deposits.amount",
        "from": "2026-03-01",
        "to": "2026-03-03",
        "timezone": "Asia/Kolkata",
    }
    body = await get(client, admin, **params)
    response = await client.get(URL, params=params, headers={**admin, "Accept": "text/csv"})
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    expected = [
        {
            "as_of": "2026-03-02T00:00:00+00:00",
            "metric": s["metric"],
            "currency": s["currency"] or "",
            "unit": s["unit"],
            "bucket_start": b["start"],
            "bucket_end": b["end"],
            "value": str(b["value"]),
        }
        for s in body["series"]
        for b in s["buckets"]
    ]
    assert rows == expected and len(rows) == 4
