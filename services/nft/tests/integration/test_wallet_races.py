"""Races of wallet binding, decided by the database: one payload verified twice at once binds
once; one wallet bound by two accounts at once goes to one; a verify or bind waiting on a
committing one sees its result."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from _nft_helpers import PROBLEM
from _wallet_helpers import Wallet, bound, challenge, verify
from scifikpi_common.testing.contracts import assert_problem
from scifikpi_common.testing.tokens import TokenSigner
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


@pytest.fixture
def user_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def me(keys: TokenSigner, user_id: uuid.UUID) -> dict[str, str]:
    return keys.headers(user_id)


async def test_concurrent_verifies_of_one_payload_bind_once(
    client: httpx.AsyncClient, me: dict[str, str], engine: AsyncEngine
) -> None:
    payload = await challenge(client, me)
    a, b = Wallet.new(), Wallet.new()
    results = await asyncio.gather(*(verify(client, me, w.body(payload)) for w in (a, b, a)))
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 422, 422], [r.text for r in results]
    assert len(await bound(engine)) == 1


async def test_concurrent_binds_of_one_wallet_by_two_accounts(
    client: httpx.AsyncClient, keys: TokenSigner, engine: AsyncEngine
) -> None:
    wallet = Wallet.new()
    users = [keys.headers(uuid.uuid4()) for _ in range(4)]
    bodies = [wallet.body(await challenge(client, h)) for h in users]
    results = await asyncio.gather(
        *(verify(client, h, b) for h, b in zip(users, bodies, strict=True))
    )
    assert sorted(r.status_code for r in results) == [200, 409, 409, 409]
    for r in results:
        if r.status_code == 409:
            assert r.json()["type"] == f"{PROBLEM}wallet-taken"
    assert len(await bound(engine)) == 1


async def _wait_for_lock_waiter(engine: AsyncEngine) -> None:
    """Until some backend waits on a row lock (the request blocked behind our transaction)."""
    for _ in range(100):
        async with engine.connect() as conn:
            waiting = await conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
            if waiting.scalar_one():
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the request never waited on the lock")


async def test_bind_racing_a_committing_bind_of_the_same_wallet_is_wallet_taken(
    client: httpx.AsyncClient, me: dict[str, str], engine: AsyncEngine
) -> None:
    """Deterministic race: another account's bind of the same wallet is in flight (inserted,
    not committed) when ours inserts; ours waits, then answers 409, never a 500."""
    wallet = Wallet.new()
    body = wallet.body(await challenge(client, me))
    async with engine.connect() as conn:
        tx = await conn.begin()
        await conn.execute(
            text("INSERT INTO nft.wallets VALUES (:u, :a, '00', now())"),
            {"u": uuid.uuid4(), "a": wallet.raw},
        )
        request = asyncio.create_task(verify(client, me, body))
        await _wait_for_lock_waiter(engine)
        await tx.commit()
    assert_problem(await request, 409, "wallet-taken")
    assert len(await bound(engine)) == 1


async def test_verify_racing_a_committing_verify_of_the_same_payload_is_rejected(
    client: httpx.AsyncClient, me: dict[str, str], engine: AsyncEngine
) -> None:
    """The guarded UPDATE waits for a concurrent consumer of the payload, then finds it used."""
    payload = await challenge(client, me)
    async with engine.connect() as conn:
        tx = await conn.begin()
        await conn.execute(
            text("UPDATE nft.wallet_challenges SET used_at = now() WHERE payload = :p"),
            {"p": payload},
        )
        request = asyncio.create_task(verify(client, me, Wallet.new().body(payload)))
        await _wait_for_lock_waiter(engine)
        await tx.commit()
    problem = assert_problem(await request, 422, "proof-rejected")
    assert "already used" in problem["detail"]
    assert await bound(engine) == []
