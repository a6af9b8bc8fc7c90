"""The ledger's answers through the real consumer wrapper (inbox + one commit), and the service
functions the chain engine calls to end purchases (`fail`, `sweep_pending`), on real Postgres."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from nft.consumers import consumers
from nft.purchases import handlers as purchases
from scifikpi_common.events import Envelope
from scifikpi_common.events.ledger import PointsReservationRejected, PointsReserved
from scifikpi_common.testing.broker import deliver as deliver_to
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


async def new_item(engine, *, supply_total: int = 10) -> uuid.UUID:
    item_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO nft.catalog_items (id, name, image_url, price_points_micro,"
                " supply_total, created_at, updated_at)"
                " VALUES (:id, 'Ship', 'https://cdn.example.com/s.png', 5000000, :total, :now, :now)"
            ),
            {"id": item_id, "total": supply_total, "now": NOW},
        )
    return item_id


async def bought(factory, item_id: uuid.UUID, *, user_id: uuid.UUID | None = None, at=NOW):
    """A purchase made through the real use case (supply taken, event queued)."""
    async with factory() as uow:
        outcome = await purchases.buy(
            uow,
            user_id=user_id or uuid.uuid4(),
            catalog_item_id=item_id,
            key=str(uuid.uuid4()),
            now=at,
        )
        await uow.commit()
    return outcome.purchase


def reserved(p) -> PointsReserved:
    return PointsReserved(
        user_id=p.user_id,
        purchase_id=p.id,
        points_micro=p.price_points_micro,
        expires_at=NOW + timedelta(hours=1),
        transfer_id=f"nft:{p.id}",
        booked_at=NOW,
    )


def rejected(p) -> PointsReservationRejected:
    return PointsReservationRejected(
        user_id=p.user_id,
        purchase_id=p.id,
        points_micro=p.price_points_micro,
        reason="insufficient_funds",
        rejected_at=NOW,
    )


async def row(engine, purchase_id) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT * FROM nft.purchases WHERE id = :id"), {"id": purchase_id}
            )
        ).one()


async def supply_sold(engine, item_id) -> int:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT supply_sold FROM nft.catalog_items WHERE id = :id"), {"id": item_id}
            )
        ).scalar_one()


async def failed_events(engine) -> list[dict]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT payload FROM nft.outbox WHERE event_type = 'NftPurchaseFailed' ORDER BY id"
            )
        )
        return [r.payload["payload"] for r in rows]


class Listener:
    """LISTEN nft_chain on its own connection; counts notifications."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.seen: list[str] = []

    async def __aenter__(self) -> Listener:
        self.conn = await self.engine.connect()
        raw = await self.conn.get_raw_connection()
        self.driver = raw.driver_connection
        await self.driver.add_listener("nft_chain", self._on)
        return self

    def _on(self, *args: Any) -> None:
        self.seen.append(args[2])

    async def wait(self, n: int = 1) -> list[str]:
        for _ in range(100):
            if len(self.seen) >= n:
                break
            await asyncio.sleep(0.02)
        return self.seen

    async def __aexit__(self, *exc: Any) -> None:
        await self.driver.remove_listener("nft_chain", self._on)
        await self.conn.close()


async def test_reserved_moves_pending_to_reserved_and_wakes_the_chain(engine, factory):
    item = await new_item(engine)
    p = await bought(factory, item)
    event = reserved(p)
    envelope = Envelope.wrap(event, producer="ledger")
    async with Listener(engine) as listener:
        assert await deliver(factory, event, envelope=envelope) == ["handled"]
        assert len(await listener.wait()) == 1
    r = await row(engine, p.id)
    assert r.status == "reserved" and r.reserved_at is not None
    # the same message again: the inbox skips it; the same fact again: nothing changes
    assert await deliver(factory, event, envelope=envelope) == ["duplicate"]
    assert await deliver(factory, event) == ["handled"]
    assert (await row(engine, p.id)).reserved_at == r.reserved_at
    assert await failed_events(engine) == []
    assert await supply_sold(engine, item) == 1


async def test_rejected_fails_the_purchase_and_restores_supply(engine, factory):
    item = await new_item(engine, supply_total=1)
    p = await bought(factory, item)
    assert await supply_sold(engine, item) == 1
    event = rejected(p)
    envelope = Envelope.wrap(event, producer="ledger")
    assert await deliver(factory, event, envelope=envelope) == ["handled"]
    r = await row(engine, p.id)
    assert (r.status, r.failure_reason) == ("failed", "insufficient_points")
    assert r.failed_at is not None
    assert await supply_sold(engine, item) == 0
    assert await failed_events(engine) == []  # no hold to release
    assert await deliver(factory, event, envelope=envelope) == ["duplicate"]
    assert await deliver(factory, event) == ["handled"]
    assert await supply_sold(engine, item) == 0
    # the unit is on sale again
    assert (await bought(factory, item)).status == "pending"


async def test_late_reservation_after_failure_is_released(engine, factory):
    item = await new_item(engine)
    p = await bought(factory, item)
    async with factory() as uow:
        assert (
            await purchases.sweep_pending(
                uow, older_than=NOW + timedelta(seconds=1), now=NOW + timedelta(minutes=10)
            )
            == 1
        )
        await uow.commit()
    assert [e["reason"] for e in await failed_events(engine)] == ["reservation_timeout"]
    assert await deliver(factory, reserved(p)) == ["handled"]
    events = await failed_events(engine)
    assert [e["reason"] for e in events] == ["reservation_timeout", "reservation_late"]
    assert events[1]["purchase_id"] == str(p.id) and events[1]["user_id"] == str(p.user_id)
    r = await row(engine, p.id)
    assert (r.status, r.failure_reason) == ("failed", "reservation_timeout")
    assert await supply_sold(engine, item) == 0


async def test_reserved_purchase_ignores_a_rejection_and_unknown_ids_are_ignored(engine, factory):
    item = await new_item(engine)
    p = await bought(factory, item)
    assert await deliver(factory, reserved(p)) == ["handled"]
    assert await deliver(factory, rejected(p)) == ["handled"]
    assert (await row(engine, p.id)).status == "reserved"
    ghost = dataclasses.replace(p, id=uuid.uuid4())
    assert await deliver(factory, reserved(ghost)) == ["handled"]
    assert await deliver(factory, rejected(ghost)) == ["handled"]
    assert await supply_sold(engine, item) == 1


async def test_fail_ends_open_purchases_once(engine, factory):
    item = await new_item(engine)
    pending = await bought(factory, item)
    held = await bought(factory, item)
    await deliver(factory, reserved(held))
    async with engine.begin() as conn:  # the chain engine had allocated a slot
        await conn.execute(
            text("UPDATE nft.purchases SET item_index = 7 WHERE id = :id"), {"id": held.id}
        )
    at = NOW + timedelta(minutes=5)
    async with factory() as uow:
        assert await purchases.fail(uow, held.id, reason="mint_failed", now=at, release_hold=True)
        assert await purchases.fail(uow, pending.id, reason="cancelled", now=at, release_hold=False)
        await uow.commit()
    r = await row(engine, held.id)
    assert (r.status, r.failure_reason, r.failed_at) == ("failed", "mint_failed", at)
    assert r.item_index is None and r.message_id is None
    assert await supply_sold(engine, item) == 0
    events = await failed_events(engine)
    assert len(events) == 1 and events[0]["reason"] == "mint_failed"
    assert events[0]["purchase_id"] == str(held.id)
    async with factory() as uow:  # already final: nothing changes
        assert not await purchases.fail(uow, held.id, reason="x", now=at, release_hold=True)
        assert not await purchases.fail(uow, uuid.uuid4(), reason="x", now=at, release_hold=True)
        await uow.commit()
    assert await supply_sold(engine, item) == 0
    assert len(await failed_events(engine)) == 1


async def test_sweep_fails_only_stale_pending_purchases(engine, factory):
    item = await new_item(engine)
    other = await new_item(engine)
    old = [await bought(factory, i, at=NOW) for i in (item, other, item)]
    fresh = await bought(factory, item, at=NOW + timedelta(minutes=9))
    held = await bought(factory, item, at=NOW)
    await deliver(factory, reserved(held))  # reserved: the engine's business, not the sweep's
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE nft.purchases SET updated_at = :t WHERE id = :id"),
            {"t": NOW, "id": held.id},
        )
    cutoff, now = NOW + timedelta(minutes=5), NOW + timedelta(minutes=10)
    async with factory() as uow:
        assert await purchases.sweep_pending(uow, older_than=cutoff, now=now, limit=2) == 2
        await uow.commit()
    async with factory() as uow:
        assert await purchases.sweep_pending(uow, older_than=cutoff, now=now) == 1
        await uow.commit()
    async with factory() as uow:
        assert await purchases.sweep_pending(uow, older_than=cutoff, now=now) == 0
        await uow.commit()
    for p in old:
        r = await row(engine, p.id)
        assert (r.status, r.failure_reason) == ("failed", "reservation_timeout")
    assert (await row(engine, fresh.id)).status == "pending"
    assert (await row(engine, held.id)).status == "reserved"
    assert await supply_sold(engine, item) == 2 and await supply_sold(engine, other) == 0
    assert sorted(e["purchase_id"] for e in await failed_events(engine)) == sorted(
        str(p.id) for p in old
    )


async def test_concurrent_sweepers_fail_each_purchase_once(engine, factory):
    item = await new_item(engine, supply_total=30)
    for _ in range(30):
        await bought(factory, item)

    async def sweep() -> int:
        async with factory() as uow:
            n = await purchases.sweep_pending(
                uow, older_than=NOW + timedelta(seconds=1), now=NOW, limit=7
            )
            await asyncio.sleep(0.05)  # hold the locks while the others look
            await uow.commit()
            return n

    total = 0
    while True:
        counts = await asyncio.gather(*(sweep() for _ in range(4)))
        total += sum(counts)
        if not any(counts):
            break
    assert total == 30
    assert len(await failed_events(engine)) == 30
    assert await supply_sold(engine, item) == 0


async def deliver(factory, event, *, envelope=None) -> list[str]:
    return await deliver_to(consumers, factory, event, envelope=envelope)
