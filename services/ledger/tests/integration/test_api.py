"""GET /balance, GET /history (keyset cursor), the admin check."""

from __future__ import annotations

import uuid

from _ledger_helpers import deliver, failed, mined, minted, paid, requested


async def test_balance_shape_and_mining_power(client, keys, factory, settings) -> None:
    user = uuid.uuid4()
    r = await client.get("/balance", headers=keys.headers(user))
    assert r.status_code == 200
    base = settings.mining_r_base_micro_per_hour
    assert r.json() == {
        "points": {"available": "0.000000", "reserved": "0.000000", "total": "0.000000"},
        "money": {"amount_minor": 0, "currency": "USD"},
        "mining_power": {
            "rate_per_hour": f"{base // 1_000_000}.{base % 1_000_000:06d}",
            "rate_micro_per_hour": base,
        },
    }
    await deliver(factory, paid(user, 2599))  # $25.99 → floor 25 whole dollars
    await deliver(factory, mined(user, 12_500_000))
    purchase = uuid.uuid4()
    await deliver(factory, requested(user, 1_000_001, purchase))
    body = (await client.get("/balance", headers=keys.headers(user))).json()
    assert body["points"] == {
        "available": "11.499999",
        "reserved": "1.000001",
        "total": "12.500000",
    }
    assert body["money"] == {"amount_minor": 2599, "currency": "USD"}
    expected = min(
        settings.mining_r_max_micro_per_hour,
        base + 25 * settings.mining_r_per_usd_micro_per_hour,
    )
    assert body["mining_power"]["rate_micro_per_hour"] == expected


async def test_mining_power_is_capped(client, keys, factory, settings) -> None:
    user = uuid.uuid4()
    await deliver(factory, paid(user, 10_000_000))
    body = (await client.get("/balance", headers=keys.headers(user))).json()
    assert body["mining_power"]["rate_micro_per_hour"] == settings.mining_r_max_micro_per_hour


async def test_balance_needs_a_token(client) -> None:
    r = await client.get("/balance")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_history_newest_first_with_keyset_pages_and_kind_filter(
    client, keys, factory
) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    await deliver(factory, paid(user, 1000, purpose="registration"))
    await deliver(factory, paid(user, 300, purpose="acceleration"))
    for _ in range(3):
        await deliver(factory, mined(user, 2_000_000))
    kept, lost = uuid.uuid4(), uuid.uuid4()
    await deliver(factory, requested(user, 1_000_000, kept))
    await deliver(factory, minted(user, kept))
    await deliver(factory, requested(user, 1_000_000, lost))
    await deliver(factory, failed(user, lost))
    await deliver(factory, mined(other, 1_000_000))

    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/history", params=params, headers=keys.headers(user))
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 3
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [i["kind"] for i in seen] == [
        "nft_void",
        "nft_hold",
        "nft_post",
        "nft_hold",
        "mining",
        "mining",
        "mining",
        "acceleration",
        "deposit",
    ]
    assert len({i["id"] for i in seen}) == 9
    created = [i["created_at"] for i in seen]
    assert created == sorted(created, reverse=True)
    deposit = seen[-1]
    assert deposit["money"] == {"amount_minor": 1000, "currency": "USD"}
    assert deposit["direction"] == "in" and deposit["points"] is None
    assert seen[-2]["direction"] == "external"
    assert seen[1]["points"] == "1.000000" and seen[1]["direction"] == "out"

    r = await client.get("/history", params={"kind": "mining"}, headers=keys.headers(user))
    assert [i["kind"] for i in r.json()["items"]] == ["mining"] * 3
    r = await client.get("/history", headers=keys.headers(other))
    assert len(r.json()["items"]) == 1


async def test_history_rejects_a_forged_cursor(client, keys) -> None:
    for bad in ("nope", "eyJ4IjoxfQ", "WyJub3QtYS1kYXRlIiwieCJd"):
        r = await client.get("/history", params={"cursor": bad}, headers=keys.headers(uuid.uuid4()))
        assert r.status_code == 422
        assert r.json()["type"].endswith("invalid-cursor")
    r = await client.get("/history", params={"kind": "bogus"}, headers=keys.headers(uuid.uuid4()))
    assert r.status_code == 422


async def test_admin_check_endpoint(client, keys, factory, engine) -> None:
    user = uuid.uuid4()
    await deliver(factory, mined(user, 1_000_000))
    r = await client.get("/admin/ledger/check", headers=keys.headers(user))
    assert r.status_code == 403
    r = await client.get("/admin/ledger/check", headers=keys.headers(user, role="admin"))
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True and r.json()["problems"] == []


async def test_openapi_lists_the_routes(client) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert {"/balance", "/history", "/admin/ledger/check"} <= set(spec["paths"])
