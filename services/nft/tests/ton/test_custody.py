"""The custody wallet against the real emulated chain: minting into custody, batches, replays,
expiry, an empty wallet, out-of-order indices, transfers to users, persistence."""

from __future__ import annotations

import time

import pytest
from nft.settings import NftSettings
from nft.ton.custody import Custody, SignedExternal, hl_query_id
from nft.ton.local import LocalChain, bootstrap_local
from nft.ton.provider import ChainUnavailable, MessageRejected
from pytoniq_core import Address

TON = 10**9


async def _sign(custody: Custody, messages: list, n: int) -> SignedExternal:
    return custody.sign(messages, query_id=hl_query_id(n), created_at=await custody.created_at())


async def _mint(custody: Custody, indices: list[int], n: int) -> SignedExternal:
    signed = await _sign(custody, [custody.mint_message(i, f"item-{i}.json") for i in indices], n)
    await custody.send(signed)
    return signed


async def test_bootstrap_is_all_green_and_idempotent(chain: LocalChain, custody: Custody) -> None:
    before = await custody.check()
    assert not before.ok and not before.wallet_active and not before.collection_active
    await bootstrap_local(chain, custody)
    status = await custody.check()
    assert status.ok
    assert status.wallet_active and status.collection_active
    assert status.collection_code_ok and status.owner_ok and status.next_index == 0
    assert status.balance > 9_999 * TON
    txs = await chain.get_transactions(custody.address, 100)
    await bootstrap_local(chain, custody)  # nothing left to do
    assert len(await chain.get_transactions(custody.address, 100)) == len(txs)
    num, den, dest = await chain.run_get_method(custody.collection, "royalty_params", [])
    assert (num, den, dest.load_address()) == (0, 1000, custody.address)


async def test_batch_of_three_in_one_external(
    chain: LocalChain, ready: Custody, settings: NftSettings
) -> None:
    custody = ready
    started = time.perf_counter()
    signed = await _mint(custody, [0, 1, 2], n=1)
    elapsed_ms = (time.perf_counter() - started) * 1000
    # external -> wallet, internal_transfer -> wallet, 3 x collection, 3 x item
    assert len(chain.last_trace) == 8
    print(f"3-item batch emulated and stored in {elapsed_ms:.1f} ms")
    assert await custody.next_item_index() == 3
    for i in range(3):
        item = custody.item_address(i)
        (on_chain,) = await chain.run_get_method(
            custody.collection, "get_nft_address_by_index", [i]
        )
        assert on_chain.load_address() == item
        assert await custody.nft_owner(item) == custody.address
    # the item's full metadata URL: collection prefix + suffix
    *_, content = await chain.run_get_method(custody.item_address(1), "get_nft_data", [])
    (full,) = await chain.run_get_method(custody.collection, "get_nft_content", [1, content])
    cs = full.begin_parse()
    assert cs.load_uint(8) == 1
    assert cs.load_snake_string() == settings.item_metadata_prefix() + "item-1.json"
    wtx = await custody.wallet_tx(signed.message_hash)
    assert wtx is not None and wtx.ok and wtx.out_messages == 3
    assert await custody.processed(signed.query_id)
    assert not await custody.processed(hl_query_id(2))
    assert await custody.nft_owner(custody.item_address(3)) is None


async def test_single_item_is_a_direct_message(chain: LocalChain, ready: Custody) -> None:
    signed = await _mint(ready, [0], n=1)
    assert len(chain.last_trace) == 3  # wallet (sends directly), collection, item
    wtx = await ready.wallet_tx(signed.message_hash)
    assert wtx is not None and wtx.ok and wtx.out_messages == 1
    assert await ready.nft_owner(ready.item_address(0)) == ready.address


async def test_resending_the_same_signed_message_mints_once(
    chain: LocalChain, ready: Custody
) -> None:
    signed = await _mint(ready, [0, 1], n=7)
    with pytest.raises(MessageRejected) as err:
        await ready.send(signed)
    assert err.value.exit_code == 36  # HLv3 already_executed
    assert await ready.next_item_index() == 2
    found = [
        tx
        for tx in await chain.get_transactions(ready.address, 50)
        if tx.in_msg is not None and tx.in_msg.serialize().hash.hex() == signed.message_hash
    ]
    assert len(found) == 1


async def test_expired_message_is_rejected_and_never_processed(
    chain: LocalChain, ready: Custody
) -> None:
    signed = await _sign(ready, [ready.mint_message(0, "0.json")], n=3)
    await chain.advance_time(ready.timeout + 60)
    with pytest.raises(MessageRejected) as err:
        await ready.send(signed)
    assert err.value.exit_code == 35
    assert not await ready.processed(signed.query_id)
    assert await ready.wallet_tx(signed.message_hash) is None
    assert await ready.nft_owner(ready.item_address(0)) is None
    # re-signed with a fresh created_at (and query id) it executes
    await _mint(ready, [0], n=4)
    assert await ready.nft_owner(ready.item_address(0)) == ready.address


async def test_empty_wallet_processes_but_mints_nothing(chain: LocalChain, ready: Custody) -> None:
    await chain.set_balance(ready.address, 20_000_000)  # 0.02 TON: gas only
    assert await ready.balance() == 20_000_000
    signed = await _mint(ready, [0, 1], n=5)
    assert await ready.processed(signed.query_id)
    wtx = await ready.wallet_tx(signed.message_hash)
    assert wtx is not None
    assert wtx.exit_code == 0 and wtx.skipped_actions == 1 and wtx.out_messages == 0
    assert not wtx.ok
    assert await ready.next_item_index() == 0
    assert await ready.nft_owner(ready.item_address(0)) is None


async def test_out_of_order_index_bounces(chain: LocalChain, ready: Custody) -> None:
    await _mint(ready, [0, 1, 2], n=1)
    balance = await ready.balance()
    signed = await _mint(ready, [5], n=2)
    collection_tx = [tx for tx in chain.last_trace if tx.account_addr == ready.collection.hash_part]
    assert collection_tx[0].description.compute_ph.exit_code == 402
    wtx = await ready.wallet_tx(signed.message_hash)
    assert wtx is not None and wtx.ok  # the wallet did its part; the collection refused
    assert await ready.nft_owner(ready.item_address(5)) is None
    assert await ready.next_item_index() == 3
    assert balance - await ready.balance() < 10_000_000  # bounced back, only fees lost


async def test_transfer_to_a_user_wallet(
    chain: LocalChain, ready: Custody, user_wallet: Address
) -> None:
    await _mint(ready, [0, 1], n=1)
    item = ready.item_address(1)
    signed = await _sign(ready, [ready.transfer_message(item, user_wallet, query_id=99)], n=2)
    await ready.send(signed)
    assert await ready.nft_owner(item) == user_wallet
    assert await ready.nft_owner(ready.item_address(0)) == ready.address
    wtx = await ready.wallet_tx(signed.message_hash)
    assert wtx is not None and wtx.ok and wtx.out_messages == 1
    # ownership_assigned (forward 1 nano) went to the user, excesses came back to custody
    item_tx = [tx for tx in chain.last_trace if tx.account_addr == item.hash_part][0]
    ops = {m.body.begin_parse().load_uint(32) for m in item_tx.out_msgs}
    assert ops == {0x05138D91, 0xD53276DB}


async def test_state_survives_a_new_chain_object(
    chain: LocalChain, ready: Custody, clean_db: str, settings: NftSettings
) -> None:
    await _mint(ready, [0, 1], n=1)
    await chain.advance_time(120)
    other = await LocalChain.open(clean_db)
    try:
        assert abs(await other.now() - await chain.now()) <= 1
        again = Custody.from_settings(other, settings)
        assert again.address == ready.address and again.collection == ready.collection
        status = await again.check()
        assert status.ok and status.next_index == 2
        assert await again.nft_owner(again.item_address(1)) == again.address
        await _mint(again, [2], n=2)  # the new object continues the same chain
    finally:
        await other.close()
    assert await ready.next_item_index() == 3


async def test_lost_and_failed_sends(chain: LocalChain, ready: Custody) -> None:
    signed = await _sign(ready, [ready.mint_message(0, "0.json")], n=1)
    chain.fail_next_sends(1)
    with pytest.raises(ChainUnavailable):
        await ready.send(signed)
    chain.drop_next_sends(1)
    await ready.send(signed)  # "accepted", then lost
    assert not await ready.processed(signed.query_id)
    assert await ready.nft_owner(ready.item_address(0)) is None
    await ready.send(signed)  # re-sending the same BOC executes it
    assert await ready.processed(signed.query_id)
    assert await ready.nft_owner(ready.item_address(0)) == ready.address


def test_hl_query_id_shape() -> None:
    seen = set()
    for n in [*range(0, 3000), 8191 * 1023 - 1, 8191 * 1023, 10**9]:
        q = hl_query_id(n)
        assert q < 1 << 23 and (q & 1023) != 1023 and (q >> 10) < 8191
        seen.add(q)
    assert len(seen) == 3000 + 2  # 8191*1023 wraps to 0
    assert hl_query_id(1022) & 1023 == 1022


async def test_query_bit_1022_is_accepted(chain: LocalChain, ready: Custody) -> None:
    signed = await _mint(ready, [0], n=1022)
    assert signed.query_id & 1023 == 1022
    assert await ready.processed(signed.query_id)
    assert await ready.nft_owner(ready.item_address(0)) == ready.address


async def test_unchanged_pytoniq_wallet_runs_on_the_local_chain(
    chain: LocalChain, ready: Custody
) -> None:
    """A user's WalletV4R2 (pytoniq's own signing and seqno get-method) receives an NFT from
    custody and passes it on."""
    from nacl.bindings import crypto_sign_seed_keypair
    from nft.ton.contracts import transfer_body
    from pytoniq import WalletV4R2

    _pub, priv = crypto_sign_seed_keypair(b"\x43" * 32)
    wallet = await WalletV4R2.from_private_key(chain, priv, version="v4r2")
    await chain.faucet(wallet.address, 5 * TON)
    await wallet.send_init_external()
    await wallet.update()
    assert wallet.is_active and await wallet.get_seqno() == 1
    await _mint(ready, [0], n=1)
    item = ready.item_address(0)
    await ready.send(await _sign(ready, [ready.transfer_message(item, wallet.address, 1)], n=2))
    assert await ready.nft_owner(item) == wallet.address
    friend = Address("0:" + "f1" * 32)
    body = transfer_body(friend, wallet.address, query_id=7)
    await wallet.transfer(destination=item, amount=TON // 10, body=body)
    assert await ready.nft_owner(item) == friend
