"""LocalChain itself: shared state between chain objects (processes), the clock, history."""

from __future__ import annotations

import asyncio

import pytest
from nft.ton.custody import Custody, hl_query_id
from nft.ton.local import FAUCET_ADDRESS, LocalChain
from nft.ton.provider import GetMethodFailed, MessageRejected, TonProvider
from pytoniq_core import Address

TON = 10**9
SOMEONE = Address("0:" + "5e" * 32)


async def test_is_a_provider(chain: LocalChain) -> None:
    assert isinstance(chain, TonProvider)


async def test_faucet_history_and_paging(chain: LocalChain) -> None:
    for amount in (1, 2, 3):
        await chain.faucet(SOMEONE, amount * TON)
    account = await chain.get_account_state(SOMEONE)
    assert account.is_uninitialized() and not account.is_active()
    assert await chain.balance(SOMEONE) == 6 * TON
    txs = await chain.get_transactions(SOMEONE, 10)
    assert [tx.in_msg.info.value.grams for tx in txs] == [3 * TON, 2 * TON, 1 * TON]
    assert all(tx.in_msg.info.src == FAUCET_ADDRESS for tx in txs)
    older = await chain.get_transactions(SOMEONE, 10, from_lt=txs[1].lt, from_hash=txs[1].cell.hash)
    assert [tx.lt for tx in older] == [txs[1].lt, txs[2].lt]
    with pytest.raises(GetMethodFailed):
        await chain.run_get_method(SOMEONE, "seqno", [])


async def test_clock_offset_is_persisted(chain: LocalChain, clean_db: str) -> None:
    before = await chain.now()
    after = await chain.advance_time(3600)
    assert 3600 <= after - before <= 3602
    other = await LocalChain.open(clean_db)
    try:
        assert abs(await other.now() - after) <= 1
    finally:
        await other.close()


async def test_concurrent_senders_serialize(ready: Custody, clean_db: str, settings) -> None:
    """Two chain objects (as two processes would) mint at once: both execute, nothing is lost."""
    others = [await LocalChain.open(clean_db) for _ in range(2)]
    try:
        wallets = [Custody.from_settings(c, settings) for c in others]
        created_at = await ready.created_at()
        signed = [
            w.sign(
                [w.mint_message(i, f"{i}.json")],
                query_id=hl_query_id(10 + i),
                created_at=created_at,
            )
            for i, w in enumerate(wallets)
        ]
        await asyncio.gather(*(w.send(s) for w, s in zip(wallets, signed, strict=True)))
        # either order is possible: index 0 must land; index 1 lands only if it came second
        assert await ready.nft_owner(ready.item_address(0)) == ready.address
        for s in signed:
            assert await ready.processed(s.query_id)
            assert await ready.wallet_tx(s.message_hash) is not None
    finally:
        for c in others:
            await c.close()


async def test_rejected_external_leaves_no_trace(chain: LocalChain, ready: Custody) -> None:
    txs = await chain.get_transactions(ready.address, 100)
    bad = ready.sign(
        [ready.mint_message(0, "0.json")],
        query_id=hl_query_id(1),
        created_at=await chain.now() + 600,
    )  # created_at in the future: HLv3 exit 35
    with pytest.raises(MessageRejected):
        await ready.send(bad)
    assert len(await chain.get_transactions(ready.address, 100)) == len(txs)
