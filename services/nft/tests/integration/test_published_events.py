"""The facts nft publishes about the catalog (`nft.catalog.v1`) and wallets (`nft.wallet.v1`):
one event per change, the whole state after it, queued in the change's own transaction; a
refused, failed or rolled-back change queues nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from _nft_helpers import create, item_body
from _wallet_helpers import Wallet, bound, challenge, verify
from nft.catalog import handlers as catalog
from nft.catalog.domain import NewItem
from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWorkFactory, committing
from scifikpi_common.events import ALL_EVENTS, Envelope
from scifikpi_common.events.nft import (
    CATALOG_TOPIC,
    WALLET_TOPIC,
    NftCatalogItemChanged,
    NftWalletBound,
)
from scifikpi_common.testing.contracts import assert_problem
from scifikpi_common.testing.tokens import TokenSigner
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def published(engine: AsyncEngine, topic: str) -> list[tuple[Envelope[Any], Any]]:
    """The outbox rows of `topic` in relay order: the envelope and its parsed payload."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT key, event_type, payload FROM nft.outbox WHERE topic = :t ORDER BY id"),
            {"t": topic},
        )
        out = []
        for row in rows:
            envelope = Envelope[dict[str, Any]].model_validate(row.payload)
            assert row.key == envelope.key and row.event_type == envelope.event_type
            event = ALL_EVENTS[envelope.event_type].model_validate(envelope.payload)
            assert topic == event.TOPIC
            out.append((envelope, event))
        return out


async def catalog_events(engine: AsyncEngine) -> list[NftCatalogItemChanged]:
    events = [event for _, event in await published(engine, CATALOG_TOPIC)]
    assert all(isinstance(e, NftCatalogItemChanged) for e in events)
    return events


def state_of(event: NftCatalogItemChanged) -> dict[str, Any]:
    """The event as the API shows the item (to compare with the answer)."""
    return {
        "id": str(event.item_id),
        "name": event.name,
        "price_points_micro": event.price_points_micro,
        "supply_total": event.supply_total,
        "status": event.status,
        "updated_at": event.changed_at,
    }


def shown(item: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "name", "price_points_micro", "supply_total", "status")
    return {**{k: item[k] for k in keys}, "updated_at": datetime.fromisoformat(item["updated_at"])}


@pytest.fixture
def admin_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def admin(keys: TokenSigner, admin_id: uuid.UUID) -> dict[str, str]:
    return keys.headers(admin_id, role="admin")


# --- the catalog ---
async def test_create_edit_retire_each_publish_the_whole_state(
    client: httpx.AsyncClient, admin: dict[str, str], admin_id: uuid.UUID, engine: AsyncEngine
) -> None:
    item = await create(client, admin, price_points="12.5", supply_total=10)
    [(envelope, created)] = await published(engine, CATALOG_TOPIC)
    assert envelope.key == item["id"]  # partitioned by item, not by admin
    assert envelope.producer == "nft" and envelope.event_type == "NftCatalogItemChanged"
    assert created.user_id == admin_id
    assert state_of(created) == shown(item)
    assert (created.name, created.price_points_micro, created.supply_total, created.status) == (
        "Star Cruiser",
        12_500_000,
        10,
        "active",
    )

    path = f"/admin/nft/catalog/{item['id']}"
    edited = await client.patch(path, json={"name": "Frigate", "supply_total": 7}, headers=admin)
    assert edited.status_code == 200, edited.text
    retired = await client.post(f"{path}/retire", headers=admin)
    assert retired.status_code == 200, retired.text

    events = await catalog_events(engine)
    assert [state_of(e) for e in events] == [
        shown(item),
        shown(edited.json()),
        shown(retired.json()),
    ]
    assert events[1].name == "Frigate" and events[1].supply_total == 7
    assert events[2].status == "retired" and events[2].name == "Frigate"
    assert events[0].changed_at < events[1].changed_at < events[2].changed_at
    assert {e.user_id for e in events} == {admin_id}
    assert {env.key for env, _ in await published(engine, CATALOG_TOPIC)} == {item["id"]}


async def test_changes_that_change_nothing_publish_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    item = await create(client, admin)
    path = f"/admin/nft/catalog/{item['id']}"
    assert (await client.patch(path, json={}, headers=admin)).status_code == 200
    assert (await client.post(f"{path}/retire", headers=admin)).status_code == 200
    assert (await client.post(f"{path}/retire", headers=admin)).status_code == 200
    assert [e.status for e in await catalog_events(engine)] == ["active", "retired"]


async def test_refused_changes_publish_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], user: dict[str, str], engine: AsyncEngine
) -> None:
    invalid = item_body(price_points="0")
    assert_problem(
        await client.post("/admin/nft/catalog", json=invalid, headers=admin), 422, "invalid-price"
    )
    r = await client.post("/admin/nft/catalog", json=item_body(supply_total=0), headers=admin)
    assert r.status_code == 422
    assert (
        await client.post("/admin/nft/catalog", json=item_body(), headers=user)
    ).status_code == 403
    assert await catalog_events(engine) == []

    item = await create(client, admin, supply_total=10)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE nft.catalog_items SET supply_sold = 4 WHERE id = :id"), {"id": item["id"]}
        )
    path = f"/admin/nft/catalog/{item['id']}"
    assert_problem(
        await client.patch(path, json={"supply_total": 3}, headers=admin), 409, "supply-below-sold"
    )
    r = await client.patch(path, json={"price_points": "-1"}, headers=admin)
    assert_problem(r, 422, "invalid-price")
    r = await client.patch(path, json={"name": None}, headers=admin)
    assert r.status_code == 422
    missing = f"/admin/nft/catalog/{uuid.uuid4()}"
    assert (await client.patch(missing, json={"name": "x"}, headers=admin)).status_code == 404
    assert (await client.post(f"{missing}/retire", headers=admin)).status_code == 404
    assert (await client.post(f"{path}/retire", headers=user)).status_code == 403
    [only] = await catalog_events(engine)
    assert str(only.item_id) == item["id"] and only.supply_total == 10


async def test_a_rolled_back_change_publishes_nothing(
    factory: UnitOfWorkFactory, engine: AsyncEngine, admin_id: uuid.UUID
) -> None:
    new = NewItem("Probe", "", "https://cdn.example.com/p.png", [], 1_000_000, 3)
    with pytest.raises(RuntimeError, match="after the change"):
        async with factory() as uow, committing(uow):
            item = await catalog.create_item(uow, admin_id, new, utcnow())
            # the event is queued in the change's transaction, visible to it only
            queued = await uow.session.execute(text("SELECT count(*) FROM nft.outbox"))
            assert queued.scalar_one() == 1
            raise RuntimeError("after the change")
    assert await catalog_events(engine) == []
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM nft.catalog_items"))).scalar() == 0

    async with factory() as uow, committing(uow):
        item = await catalog.create_item(uow, admin_id, new, utcnow())
    with pytest.raises(RuntimeError):
        async with factory() as uow, committing(uow):
            await catalog.retire_item(uow, admin_id, item.id, utcnow())
            raise RuntimeError("rolled back")
    assert [e.status for e in await catalog_events(engine)] == ["active"]


async def test_changed_at_increases_even_when_the_clock_does_not(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    """A later state never carries an earlier `changed_at` (consumers keep the latest)."""
    item = await create(client, admin)
    ahead = datetime.now(UTC) + timedelta(hours=1)  # a previous change stamped by a faster clock
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE nft.catalog_items SET updated_at = :t WHERE id = :id"),
            {"t": ahead, "id": item["id"]},
        )
    r = await client.patch(f"/admin/nft/catalog/{item['id']}", json={"name": "B"}, headers=admin)
    assert r.status_code == 200, r.text
    last = (await catalog_events(engine))[-1]
    assert last.name == "B" and last.changed_at == ahead + timedelta(microseconds=1)
    assert datetime.fromisoformat(r.json()["updated_at"]) == last.changed_at


async def test_concurrent_edits_publish_in_commit_order(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    item = await create(client, admin)
    path = f"/admin/nft/catalog/{item['id']}"
    answers = await asyncio.gather(
        *(client.patch(path, json={"supply_total": 10 + i}, headers=admin) for i in range(8))
    )
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    events = (await catalog_events(engine))[1:]
    assert len(events) == 8
    times = [e.changed_at for e in events]
    assert times == sorted(times) and len(set(times)) == 8
    final = (await client.get("/admin/nft/catalog", headers=admin)).json()["items"][0]
    assert events[-1].supply_total == final["supply_total"]


# --- wallets ---
async def wallet_events(engine: AsyncEngine) -> list[NftWalletBound]:
    events = [event for _, event in await published(engine, WALLET_TOPIC)]
    assert all(isinstance(e, NftWalletBound) for e in events)
    return events


async def test_binding_publishes_wallet_bound_once(
    client: httpx.AsyncClient, keys: TokenSigner, engine: AsyncEngine
) -> None:
    user_id = uuid.uuid4()
    me = keys.headers(user_id)
    wallet = Wallet.new()
    first = await verify(client, me, wallet.body(await challenge(client, me)))
    assert first.status_code == 200, first.text
    [(envelope, event)] = await published(engine, WALLET_TOPIC)
    [(_, address, _, verified_at)] = await bound(engine)
    assert envelope.key == str(user_id) and event.user_id == user_id
    assert event.address == wallet.raw == address and event.address.startswith("0:")
    assert event.bound_at == verified_at

    # the same wallet again: 200, nothing changes, nothing published
    again = await verify(client, me, wallet.body(await challenge(client, me)))
    assert again.status_code == 200, again.text
    # another wallet on this account, this wallet on another account: refused
    other = Wallet.new()
    r = await verify(client, me, other.body(await challenge(client, me)))
    assert_problem(r, 409, "wallet-already-bound")
    them = keys.headers(uuid.uuid4())
    assert_problem(
        await verify(client, them, wallet.body(await challenge(client, them))), 409, "wallet-taken"
    )
    assert await wallet_events(engine) == [event]


async def test_failed_proofs_publish_nothing(
    client: httpx.AsyncClient, keys: TokenSigner, engine: AsyncEngine
) -> None:
    me = keys.headers(uuid.uuid4())
    wallet = Wallet.new()
    forged = wallet.body(await challenge(client, me), key=Wallet.new().key)
    assert_problem(await verify(client, me, forged), 401, "invalid-proof")  # commits (payload)
    stale = wallet.body(await challenge(client, me), ts=1)
    assert_problem(await verify(client, me, stale), 422, "proof-rejected")
    assert await wallet_events(engine) == []
    assert await bound(engine) == []


async def test_concurrent_binds_publish_once(
    client: httpx.AsyncClient, keys: TokenSigner, engine: AsyncEngine
) -> None:
    wallet = Wallet.new()
    users = [keys.headers(uuid.uuid4()) for _ in range(4)]
    bodies = [wallet.body(await challenge(client, h)) for h in users]
    results = await asyncio.gather(
        *(verify(client, h, b) for h, b in zip(users, bodies, strict=True))
    )
    assert sorted(r.status_code for r in results) == [200, 409, 409, 409]
    [event] = await wallet_events(engine)
    [(user_id, address, _, _)] = await bound(engine)
    assert (event.user_id, event.address) == (user_id, address)
