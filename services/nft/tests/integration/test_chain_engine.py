"""The chain engine against the real emulated chain (pytvm running the reference contracts, state
in Postgres): purchases reserved by the ledger are minted into custody in ordered batches, the
signed message is stored before it is sent and re-sent (never re-signed) while it can still
execute; lost, expired, bounced and unpaid messages each end in a defined state; transfers move
an NFT to the user's wallet. No chain mocks: faults are injected the way the chain shows them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nacl.signing import SigningKey
from nft.chain.engine import ChainEngine
from nft.settings import NftSettings
from nft.ton.addresses import raw
from nft.ton.custody import Custody
from nft.ton.local import LocalChain, bootstrap_local
from pytoniq.contract.wallets.wallet import WALLET_V4_R2_CODE
from pytoniq_core import Address, StateInit, begin_cell
from scifikpi_common.db import UnitOfWorkFactory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

TON = 10**9


@pytest.fixture
def settings(settings: NftSettings) -> NftSettings:
    """The test settings with re-sends due at once and two attempts per mint and transfer."""
    return settings.model_copy(
        update={"resend_interval_s": 0.0, "mint_max_attempts": 2, "transfer_max_attempts": 2}
    )


@pytest.fixture
async def custody(chain: LocalChain, settings: NftSettings) -> Custody:
    c = Custody.from_settings(chain, settings)
    await bootstrap_local(chain, c)
    return c


@pytest.fixture
def engine_(factory: UnitOfWorkFactory, custody: Custody, settings: NftSettings) -> ChainEngine:
    return ChainEngine(factory, custody, settings)


async def _item(engine: AsyncEngine, supply: int = 100) -> uuid.UUID:
    item_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO nft.catalog_items (id, name, image_url, price_points_micro,"
                " supply_total, supply_sold, created_at, updated_at) VALUES (:id, 'Ship',"
                " 'https://cdn.example.com/s.png', 1000, :total, 0, :now, :now)"
            ),
            {"id": item_id, "total": supply, "now": now},
        )
    return item_id


async def _reserved(engine: AsyncEngine, item_id: uuid.UUID, n: int) -> list[uuid.UUID]:
    """Purchases the ledger has reserved (what the worker leaves for the engine)."""
    ids = [uuid.uuid4() for _ in range(n)]
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        for i, pid in enumerate(ids):
            await conn.execute(
                text(
                    "INSERT INTO nft.purchases (id, user_id, catalog_item_id, idempotency_key,"
                    " price_points_micro, status, created_at, updated_at, reserved_at)"
                    " VALUES (:id, :user, :item, :key, 1000, 'reserved', :now, :now, :at)"
                ),
                {
                    "id": pid,
                    "user": uuid.uuid4(),
                    "item": item_id,
                    "key": str(pid),
                    "now": now,
                    "at": now + timedelta(microseconds=i),
                },
            )
        await conn.execute(
            text("UPDATE nft.catalog_items SET supply_sold = supply_sold + :n WHERE id = :id"),
            {"n": n, "id": item_id},
        )
    return ids


async def _rows(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(text(sql), params)).all()]


async def _purchase(engine: AsyncEngine, pid: uuid.UUID) -> dict[str, Any]:
    return (await _rows(engine, "SELECT * FROM nft.purchases WHERE id = :id", id=pid))[0]


async def _events(engine: AsyncEngine, event_type: str) -> list[dict[str, Any]]:
    rows = await _rows(
        engine, "SELECT payload FROM nft.outbox WHERE event_type = :t ORDER BY id", t=event_type
    )
    return [r["payload"]["payload"] for r in rows]


def _user_wallet() -> Address:
    data = (
        begin_cell()
        .store_uint(0, 32)
        .store_uint(698983191, 32)
        .store_bytes(bytes(SigningKey.generate().verify_key))
        .store_bit(0)
        .end_cell()
    )
    return Address((0, StateInit(code=WALLET_V4_R2_CODE, data=data).serialize().hash))


async def test_reserved_purchases_are_minted_into_custody_in_one_message(
    engine: AsyncEngine, engine_: ChainEngine, custody: Custody
) -> None:
    ids = await _reserved(engine, await _item(engine), 3)
    await engine_.drain()

    minted = await _rows(engine, "SELECT * FROM nft.nfts ORDER BY item_index")
    assert [m["id"] for m in minted] == ids  # reservation order = index order
    assert [m["item_index"] for m in minted] == [0, 1, 2]
    for m in minted:
        item = Address(m["item_address"])
        assert await custody.nft_owner(item) == custody.address
        assert item == custody.item_address(m["item_index"])
        assert m["collection_address"] == raw(custody.collection)
    assert {(await _purchase(engine, pid))["status"] for pid in ids} == {"completed"}
    messages = await _rows(engine, "SELECT * FROM nft.ton_messages")
    assert [(m["kind"], m["items"], m["outcome"], m["sends"]) for m in messages] == [
        ("mint", 3, "confirmed", 1)
    ]
    events = await _events(engine, "NftMinted")
    assert [e["purchase_id"] for e in events] == [str(pid) for pid in ids]
    assert [e["item_index"] for e in events] == [0, 1, 2]
    assert await custody.next_item_index() == 3


async def test_one_message_per_item_when_the_batch_size_is_one(
    engine: AsyncEngine, factory: UnitOfWorkFactory, custody: Custody, settings: NftSettings
) -> None:
    ids = await _reserved(engine, await _item(engine), 3)
    await ChainEngine(factory, custody, settings.model_copy(update={"mint_batch_size": 1})).drain()
    messages = await _rows(engine, "SELECT items, outcome FROM nft.ton_messages ORDER BY id")
    assert messages == [{"items": 1, "outcome": "confirmed"}] * 3
    assert {(await _purchase(engine, pid))["status"] for pid in ids} == {"completed"}


async def test_a_lost_send_is_resent_verbatim_not_resigned(
    engine: AsyncEngine, engine_: ChainEngine, chain: LocalChain, custody: Custody
) -> None:
    [pid] = await _reserved(engine, await _item(engine), 1)
    chain.drop_next_sends(1)  # the liteserver said yes, the message never made it
    await engine_.step()
    assert (await _purchase(engine, pid))["status"] == "reserved"
    await engine_.drain()
    assert (await _purchase(engine, pid))["status"] == "completed"
    [message] = await _rows(engine, "SELECT * FROM nft.ton_messages")
    assert message["sends"] == 2 and message["outcome"] == "confirmed"
    assert (await _purchase(engine, pid))["mint_attempts"] == 1  # signed once


async def test_a_crash_between_signing_and_sending_resends_the_stored_message(
    engine: AsyncEngine, factory: UnitOfWorkFactory, chain: LocalChain, settings: NftSettings
) -> None:
    [pid] = await _reserved(engine, await _item(engine), 1)
    first = Custody.from_settings(chain, settings)
    await bootstrap_local(chain, first)
    stored = await ChainEngine(factory, first, settings).form_mint_batch()
    assert stored is not None  # signed and stored; the process dies before sending

    restarted = ChainEngine(factory, Custody.from_settings(chain, settings), settings)
    await restarted.drain()
    assert (await _purchase(engine, pid))["status"] == "completed"
    [message] = await _rows(engine, "SELECT * FROM nft.ton_messages")
    assert message["message_hash"] == stored.message_hash and message["sends"] == 1


async def test_an_unavailable_chain_leaves_the_message_signed_then_it_goes_out(
    engine: AsyncEngine, engine_: ChainEngine, chain: LocalChain
) -> None:
    [pid] = await _reserved(engine, await _item(engine), 1)
    chain.fail_next_sends(1)
    await engine_.step()
    [message] = await _rows(engine, "SELECT status, last_error FROM nft.ton_messages")
    assert message["status"] == "signed" and message["last_error"].startswith("unavailable")
    await engine_.drain()
    assert (await _purchase(engine, pid))["status"] == "completed"


async def test_an_expired_external_is_resigned_and_the_purchase_still_completes(
    engine: AsyncEngine,
    factory: UnitOfWorkFactory,
    chain: LocalChain,
    custody: Custody,
    settings: NftSettings,
) -> None:
    [pid] = await _reserved(engine, await _item(engine), 1)
    # no re-send before the window closes: the one send is lost and then the message is dead
    engine_ = ChainEngine(factory, custody, settings.model_copy(update={"resend_interval_s": 1e6}))
    chain.drop_next_sends(1)
    await engine_.step()
    await chain.advance_time(custody.timeout + 60)  # the stored message can never execute now
    await engine_.drain()
    p = await _purchase(engine, pid)
    assert p["status"] == "completed" and p["mint_attempts"] == 2
    messages = await _rows(engine, "SELECT outcome FROM nft.ton_messages ORDER BY id")
    assert [m["outcome"] for m in messages] == ["expired", "confirmed"]


async def test_an_empty_custody_wallet_fails_the_purchase_and_releases_the_points(
    engine: AsyncEngine, engine_: ChainEngine, chain: LocalChain, custody: Custody
) -> None:
    item_id = await _item(engine, supply=5)
    [pid] = await _reserved(engine, item_id, 1)
    await chain.set_balance(custody.address, TON // 50)  # pays the wallet's gas, not the mint
    await engine_.drain()
    p = await _purchase(engine, pid)
    assert p["status"] == "failed" and p["mint_attempts"] == 2  # mint_max_attempts
    assert p["failure_reason"] == "mint_insufficient_balance"
    [failed] = await _events(engine, "NftPurchaseFailed")
    assert failed["purchase_id"] == str(pid) and failed["reason"] == "mint_insufficient_balance"
    assert await _rows(engine, "SELECT * FROM nft.nfts") == []
    [item] = await _rows(engine, "SELECT supply_sold FROM nft.catalog_items")
    assert item["supply_sold"] == 0  # supply restored
    outcomes = await _rows(engine, "SELECT outcome FROM nft.ton_messages ORDER BY id")
    assert [o["outcome"] for o in outcomes] == ["insufficient_balance"] * 2

    # funded again, the next purchase mints at the index the failed one never took
    await chain.faucet(custody.address, 100 * TON)
    [later] = await _reserved(engine, item_id, 1)
    await engine_.drain()
    assert (await _purchase(engine, later))["status"] == "completed"
    [nft] = await _rows(engine, "SELECT item_index FROM nft.nfts")
    assert nft["item_index"] == 0


class _SkewedCustody(Custody):
    """Reads the collection's next index one too high once: the mint is out of order (402) and
    bounces back, the way a stale read would make it."""

    skew = 1

    async def next_item_index(self) -> int:
        index = await super().next_item_index() + self.skew
        self.skew = 0
        return index


async def test_a_mint_that_bounces_is_retried_and_succeeds(
    engine: AsyncEngine, factory: UnitOfWorkFactory, chain: LocalChain, settings: NftSettings
) -> None:
    skewed = _SkewedCustody.from_settings(chain, settings)
    await bootstrap_local(chain, skewed)
    [pid] = await _reserved(engine, await _item(engine), 1)
    await ChainEngine(factory, skewed, settings).drain()
    p = await _purchase(engine, pid)
    assert p["status"] == "completed" and p["mint_attempts"] == 2 and p["item_index"] == 0
    outcomes = await _rows(engine, "SELECT outcome FROM nft.ton_messages ORDER BY id")
    assert [o["outcome"] for o in outcomes] == ["bounced", "confirmed"]


async def test_transfer_moves_the_item_to_the_users_wallet(
    engine: AsyncEngine, engine_: ChainEngine, custody: Custody
) -> None:
    [pid] = await _reserved(engine, await _item(engine), 1)
    await engine_.drain()
    [nft] = await _rows(engine, "SELECT * FROM nft.nfts")
    wallet = _user_wallet()
    transfer_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO nft.transfers (id, nft_id, user_id, to_address, status, created_at,"
                " updated_at) VALUES (:id, :nft, :user, :to, 'pending', :now, :now)"
            ),
            {"id": transfer_id, "nft": pid, "user": nft["user_id"], "to": raw(wallet), "now": now},
        )
    await engine_.drain()

    [t] = await _rows(engine, "SELECT * FROM nft.transfers")
    assert t["status"] == "completed" and t["message_hash"]
    assert await custody.nft_owner(Address(nft["item_address"])) == wallet
    [after] = await _rows(engine, "SELECT * FROM nft.nfts")
    assert after["status"] == "transferred" and after["owner_address"] == raw(wallet)
    [event] = await _events(engine, "NftTransferred")
    assert event["transfer_id"] == str(transfer_id) and event["to_address"] == raw(wallet)
    assert event["message_hash"] == t["message_hash"]


async def test_the_sweep_ends_stuck_purchases_and_purges_old_challenges(
    engine: AsyncEngine, engine_: ChainEngine, factory: UnitOfWorkFactory, settings: NftSettings
) -> None:
    item_id = await _item(engine)
    [stale] = await _reserved(engine, item_id, 1)
    long_ago = datetime.now(UTC) - timedelta(seconds=settings.mint_deadline_s + 5)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE nft.purchases SET reserved_at = :t WHERE id = :id"),
            {"t": long_ago, "id": stale},
        )
        await conn.execute(
            text(
                "INSERT INTO nft.purchases (id, user_id, catalog_item_id, idempotency_key,"
                " price_points_micro, status, created_at, updated_at)"
                " VALUES (:id, :user, :item, 'k', 1000, 'pending', :t, :t)"
            ),
            {"id": (pending := uuid.uuid4()), "user": uuid.uuid4(), "item": item_id, "t": long_ago},
        )
        await conn.execute(text("UPDATE nft.catalog_items SET supply_sold = supply_sold + 1"))
        for payload, expires in (("old", long_ago), ("live", datetime.now(UTC) + timedelta(60))):
            await conn.execute(
                text(
                    "INSERT INTO nft.wallet_challenges (payload, user_id, created_at, expires_at)"
                    " VALUES (:p, :u, :t, :e)"
                ),
                {"p": payload, "u": uuid.uuid4(), "t": long_ago, "e": expires},
            )
    await engine_.sweep()
    challenges = await _rows(engine, "SELECT payload FROM nft.wallet_challenges")
    assert challenges == [{"payload": "live"}]  # expired challenges are purged
    assert (await _purchase(engine, stale))["failure_reason"] == "mint_timeout"
    assert (await _purchase(engine, pending))["failure_reason"] == "reservation_timeout"
    reasons = sorted(e["reason"] for e in await _events(engine, "NftPurchaseFailed"))
    assert reasons == ["mint_timeout", "reservation_timeout"]  # both holds get released
    [item] = await _rows(engine, "SELECT supply_sold FROM nft.catalog_items")
    assert item["supply_sold"] == 0
