"""The custody wallet: a HighloadWalletV3 that owns the collection, mints items into itself and
transfers them to users' verified wallets.

Signing is pure (no I/O): `sign()` turns an ordered list of wallet messages into ONE external
message whose BOC the caller persists before `send()`, and re-sends verbatim on retry; HLv3 executes
a given query_id at most once, and a message is provably dead once `created_at + timeout` passed
while `processed(query_id)` is false (the send log's rules: `nft.chain.domain`).

Query ids and the other values: `nft.ton.custody.messages`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nacl.bindings import crypto_sign_seed_keypair
from pytoniq import HighloadWalletV3
from pytoniq.contract.wallets.highload_v3 import HIGHLOAD_V3_WALLET_CODE
from pytoniq.contract.wallets.wallet import Wallet
from pytoniq_core import Address, StateInit, Transaction
from pytoniq_core.tlb.custom.wallet import WalletMessage

from nft.ton import contracts
from nft.ton.custody.messages import (
    CLOCK_LAG_S,
    COLLECTION_DEPLOY_VALUE_NANO,
    CustodyStatus,
    SignedExternal,
    WalletTx,
    admin_query_id,
    is_internal_transfer,
    slice_address,
)
from nft.ton.provider import GetMethodFailed, TonProvider

if TYPE_CHECKING:
    from nft.settings import NftSettings


class Custody:
    def __init__(
        self,
        provider: TonProvider,
        *,
        private_key: bytes,
        subwallet_id: int,
        timeout: int,
        collection_state_init: StateInit,
        mint_item_value_nano: int,
        mint_message_value_nano: int,
        transfer_value_nano: int,
    ) -> None:
        self.provider = provider
        self._private_key = private_key
        self.subwallet_id = subwallet_id
        self.timeout = timeout
        public_key = private_key[32:]
        data = HighloadWalletV3.create_data_cell(public_key, subwallet_id, 0, timeout=timeout)
        self.wallet_state_init = StateInit(code=HIGHLOAD_V3_WALLET_CODE, data=data)
        self.address = contracts.state_init_address(self.wallet_state_init)
        # An unchanged pytoniq wallet object (no I/O here; its state is the StateInit).
        self.wallet = HighloadWalletV3(
            provider=provider, address=self.address, state_init=self.wallet_state_init
        )
        self.collection_state_init = collection_state_init
        self.collection = contracts.state_init_address(collection_state_init)
        self.mint_item_value_nano = mint_item_value_nano
        self.mint_message_value_nano = mint_message_value_nano
        self.transfer_value_nano = transfer_value_nano

    def __repr__(self) -> str:  # never show the key
        return f"<Custody {self.address.to_str(is_user_friendly=False)}>"

    @classmethod
    def from_settings(cls, provider: TonProvider, settings: NftSettings) -> Custody:
        seed = bytes.fromhex(settings.custody_seed())
        if len(seed) != 32:
            raise ValueError("custody_private_key must be a 32-byte Ed25519 seed in hex")
        _public, private_key = crypto_sign_seed_keypair(seed)  # 64-byte key, as pytoniq wants
        owner = cls._address_for(
            private_key, settings.custody_subwallet_id, settings.custody_timeout_s
        )
        state_init = contracts.collection_state_init(
            owner=owner,
            collection_uri=settings.collection_metadata_url(),
            common_prefix=settings.item_metadata_prefix(),
            royalty_num=settings.royalty_numerator,
            royalty_den=settings.royalty_denominator,
            royalty_address=owner,
        )
        return cls(
            provider,
            private_key=private_key,
            subwallet_id=settings.custody_subwallet_id,
            timeout=settings.custody_timeout_s,
            collection_state_init=state_init,
            mint_item_value_nano=settings.mint_item_value_nano,
            mint_message_value_nano=settings.mint_message_value_nano,
            transfer_value_nano=settings.transfer_value_nano,
        )

    @staticmethod
    def _address_for(private_key: bytes, subwallet_id: int, timeout: int) -> Address:
        data = HighloadWalletV3.create_data_cell(private_key[32:], subwallet_id, 0, timeout=timeout)
        return contracts.state_init_address(StateInit(code=HIGHLOAD_V3_WALLET_CODE, data=data))

    # ---------------- messages (pure) ----------------
    def item_address(self, index: int) -> Address:
        return contracts.item_address(self.collection, index)

    def mint_message(self, index: int, content_suffix: str) -> WalletMessage:
        """Mint item `index` into custody (op=1); bounceable, so a refused mint refunds us."""
        body = contracts.mint_body(
            index, self.address, content_suffix, self.mint_item_value_nano, query_id=index
        )
        return Wallet.create_wallet_internal_message(
            destination=self.collection, value=self.mint_message_value_nano, body=body, bounce=True
        )

    def transfer_message(self, item: Address, new_owner: Address, query_id: int) -> WalletMessage:
        """TEP-62 transfer of a custody item; excess comes back to custody."""
        body = contracts.transfer_body(new_owner, self.address, query_id, forward_amount=1)
        return Wallet.create_wallet_internal_message(
            destination=item, value=self.transfer_value_nano, body=body, bounce=True
        )

    def sign(
        self,
        messages: list[WalletMessage],
        *,
        query_id: int,
        created_at: int,
        state_init: StateInit | None = None,
    ) -> SignedExternal:
        """ONE external message for the ordered list (>1 message or any StateInit → one
        internal_transfer to itself, executed in order). `state_init` deploys the wallet."""
        if not messages:
            raise ValueError("nothing to sign")
        if not 0 <= query_id < (1 << 23) or (query_id & 1023) == 1023:
            raise ValueError(f"invalid HLv3 query_id {query_id}")
        body = self.wallet.raw_create_transfer_msg(
            self._private_key,
            self.subwallet_id,
            messages,
            query_id=query_id,
            timeout=self.timeout,
            created_at=created_at,
        )
        ext = Wallet.create_external_msg(dest=self.address, state_init=state_init, body=body)
        cell = ext.serialize()
        return SignedExternal(
            boc=cell.to_boc(),
            message_hash=cell.hash.hex(),
            query_id=query_id,
            created_at=created_at,
            timeout=self.timeout,
        )

    # ---------------- chain ----------------
    async def created_at(self) -> int:
        """The created_at to sign with now: chain time minus the clock lag allowance."""
        return await self.provider.now() - CLOCK_LAG_S

    async def send(self, signed: SignedExternal) -> None:
        """Raises ChainUnavailable (retry: re-send the same BOC) or MessageRejected."""
        await self.provider.raw_send_message(signed.boc)

    async def _active(self, address: Address) -> tuple[bool, int]:
        account = await self.provider.get_account_state(address)
        return account.is_active(), int(account.balance or 0)

    async def processed(self, query_id: int) -> bool:
        """HLv3 `processed?(query_id, need_clean=false)`: true only if the wallet executed it.
        It remembers the last one to two timeouts (until a later wallet tx cleans); false after
        `created_at + timeout` means it will not execute (any more); check the business state."""
        active, _ = await self._active(self.address)
        if not active:
            return False
        stack = await self.provider.run_get_method(self.address, "processed?", [query_id, 0])
        return bool(stack[0])

    async def next_item_index(self) -> int:
        stack = await self.provider.run_get_method(self.collection, "get_collection_data", [])
        return int(stack[0])

    async def nft_owner(self, item: Address) -> Address | None:
        active, _ = await self._active(item)
        if not active:
            return None
        init, _index, _collection, owner, _content = await self.provider.run_get_method(
            item, "get_nft_data", []
        )
        if int(init) != -1:
            return None
        return slice_address(owner)

    async def balance(self) -> int:
        return (await self._active(self.address))[1]

    async def _find_tx(self, in_msg_hash: bytes, txs: list[Transaction]) -> Transaction | None:
        for tx in txs:
            if tx.in_msg is not None and tx.in_msg.serialize().hash == in_msg_hash:
                return tx
        return None

    async def wallet_tx(self, message_hash: str, *, scan: int = 50) -> WalletTx | None:
        """The wallet's outcome for an external, or None while it is not (fully) on chain. For a
        batch the external's tx only forwards an internal_transfer to itself; the sends happen in
        the next wallet tx, which is followed (and so on, for chained packs)."""
        txs = await self.provider.get_transactions(self.address, scan)
        tx = await self._find_tx(bytes.fromhex(message_hash), txs)
        if tx is None:
            return None
        codes: list[int | None] = []
        aborted = False
        actions: list[bool | None] = []
        skipped = 0
        out_messages = 0
        for _hop in range(300):
            d = tx.description
            compute = getattr(d, "compute_ph", None)
            codes.append(
                compute.exit_code if compute is not None and compute.type_ == "vm" else None
            )
            aborted = aborted or bool(getattr(d, "aborted", False))
            action = getattr(d, "action", None)
            actions.append(None if action is None else bool(action.success))
            if action is not None:
                skipped += int(action.skipped_actions or 0)
            follow = None
            for m in tx.out_msgs:
                if m.is_internal and m.info.dest == self.address and is_internal_transfer(m.body):
                    follow = m
                else:
                    out_messages += 1
            if follow is None:
                break
            nxt = await self._find_tx(follow.serialize().hash, txs)
            if nxt is None:
                return None  # the internal_transfer has not executed yet
            tx = nxt
        exit_code = next((c for c in codes if c != 0), 0)
        action_success = None if None in actions else all(actions)
        return WalletTx(exit_code, aborted, action_success, skipped, out_messages)

    async def check(self) -> CustodyStatus:
        wallet_active, balance = await self._active(self.address)
        account = await self.provider.get_account_state(self.collection)
        collection_active = account.is_active()
        code_ok = owner_ok = False
        next_index: int | None = None
        if collection_active:
            code_ok = account.state.state_init.code.hash.hex() == contracts.COLLECTION_CODE_HASH
            try:
                next_index_v, _content, owner = await self.provider.run_get_method(
                    self.collection, "get_collection_data", []
                )
                next_index = int(next_index_v)
                owner_ok = slice_address(owner) == self.address
            except GetMethodFailed:
                pass
        return CustodyStatus(
            address=self.address,
            collection=self.collection,
            wallet_active=wallet_active,
            balance=balance,
            collection_active=collection_active,
            collection_code_ok=code_ok,
            owner_ok=owner_ok,
            next_index=next_index,
        )

    async def deploy_wallet(self) -> SignedExternal | None:
        """Deploy the HLv3 wallet (external with its StateInit); no-op when active. It needs a
        balance first (a top-up to its address)."""
        if (await self._active(self.address))[0]:
            return None
        created_at = await self.created_at()
        msg = Wallet.create_wallet_internal_message(self.address, value=0, bounce=False)
        signed = self.sign(
            [msg],
            query_id=admin_query_id(created_at),
            created_at=created_at,
            state_init=self.wallet_state_init,
        )
        await self.send(signed)
        return signed

    async def deploy_collection(self) -> SignedExternal | None:
        """Send the collection's StateInit from custody (non-bounceable, 0.05 TON); no-op (None)
        when the collection is already active."""
        if (await self._active(self.collection))[0]:
            return None
        created_at = await self.created_at()
        msg = Wallet.create_wallet_internal_message(
            self.collection,
            value=COLLECTION_DEPLOY_VALUE_NANO,
            state_init=self.collection_state_init,
            bounce=False,
        )
        signed = self.sign([msg], query_id=admin_query_id(created_at, 1), created_at=created_at)
        await self.send(signed)
        return signed
