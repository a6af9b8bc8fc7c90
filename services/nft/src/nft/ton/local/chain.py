"""LocalChain: an emulated TON chain that runs the real contracts, with its state in Postgres.

pytvm's libemulator (`emulator.py`) executes every message; internal messages a transaction sends
are delivered breadth-first (like @ton/sandbox) in the same call. The state lives in schema
`ton_local` of the service database (`repository.py`), so the chain survives restarts and is
shared by every nft process: each send does load → emulate → write in one database transaction
under the chain's lock.

The blockchain config is @ton/sandbox's mainnet config, so gas and fees match a real network.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytoniq_core import Address, Cell, MessageAny, ShardAccount, Slice, Transaction
from pytoniq_core.tlb.account import SimpleAccount
from pytoniq_core.tlb.block import CurrencyCollection
from pytvm.tvm_emulator import TvmEmulator

from nft.ton.local import emulator
from nft.ton.local.repository import LocalStore, TransactionRow, db_guard
from nft.ton.provider import ChainUnavailable, GetMethodFailed, MessageRejected

CONFIG_PATH = Path(__file__).parent.parent / "config" / "sandbox_default_config.b64"
FAUCET_ADDRESS = Address("0:" + "fa" * 32)
MAX_TRACE = 10_000  # transactions per delivered message (a 250-item batch needs ~760)
_LT_STEP = 1_000_000
_EMPTY_SHARD_ACCOUNT_BOC = (
    ShardAccount(account=None, last_trans_hash=b"\x00" * 32, last_trans_lt=0).serialize().to_boc()
)


def _addr(address: Address | str) -> Address:
    return Address(address) if isinstance(address, str) else address


def _raw(address: Address) -> str:
    return address.to_str(is_user_friendly=False)


@dataclass
class _Trace:
    """One delivery in progress: the account states it touched (base64 BOCs, the emulator's
    form), the transactions to write and the clock."""

    now: int
    lt: int
    states: dict[str, bytes]
    rows: list[TransactionRow]
    last: dict[str, tuple[int, bytes]]  # account -> (lt, hash) of its last transaction
    transactions: list[Transaction]


class LocalChain:
    """The emulated chain; implements `TonProvider`. Make it with `await LocalChain.open(url)`."""

    def __init__(self, store: LocalStore, config_b64: str) -> None:
        self._store = store
        self._config_b64_bytes = config_b64.encode()
        self._engine = emulator.engine()
        self._emulator = emulator.transaction_emulator(config_b64)
        self._drop = 0
        self._fail = 0
        self.last_trace: list[Transaction] = []

    @classmethod
    async def open(cls, database_url: str, *, config_b64: str | None = None) -> LocalChain:
        store = await LocalStore.open(database_url)
        cfg = config_b64 if config_b64 is not None else CONFIG_PATH.read_text().strip()
        return cls(store, cfg)

    async def close(self) -> None:
        await self._store.close()

    # ---------------- clock ----------------
    async def now(self) -> int:
        return int(time.time()) + await self._store.clock_offset()

    async def advance_time(self, seconds: int) -> int:
        """Move the chain clock forward (persisted); returns the new chain time."""
        return int(time.time()) + await self._store.advance_clock(seconds)

    # ---------------- fault injection (tests) ----------------
    def drop_next_sends(self, n: int = 1) -> None:
        """The next n `raw_send_message` calls answer 1 but the message is lost."""
        self._drop += n

    def fail_next_sends(self, n: int = 1) -> None:
        """The next n `raw_send_message` calls raise ChainUnavailable."""
        self._fail += n

    # ---------------- state ----------------
    async def shard_account(self, address: Address | str) -> ShardAccount:
        boc = await self._store.shard_account(_raw(_addr(address)))
        cell = Cell.one_from_boc(boc if boc is not None else _EMPTY_SHARD_ACCOUNT_BOC)
        return ShardAccount.deserialize(cell.begin_parse())

    async def balance(self, address: Address | str) -> int:
        sa = await self.shard_account(address)
        return sa.account.storage.balance.grams if sa.account is not None else 0

    # ---------------- message processing ----------------
    @db_guard
    async def deliver(self, message: MessageAny, boc: bytes | None = None) -> list[Transaction]:
        """Execute a message (`boc`: its serialized form, if at hand) and every internal message
        it causes, atomically. An external that the account does not accept raises
        MessageRejected and changes nothing. States travel as base64 BOCs between the database
        and the emulator (pytoniq's Python cell codec is the slow part)."""
        async with self._store.locked() as conn:
            offset, lt = await self._store.clock(conn)
            trace = _Trace(int(time.time()) + offset, lt, {}, [], {}, [])
            first = boc if boc is not None else message.serialize().to_boc()
            queue: list[tuple[MessageAny, bytes, bytes]] = [
                (message, first, Cell.one_from_boc(first).hash)
            ]
            while queue:
                if len(trace.transactions) >= MAX_TRACE:
                    raise RuntimeError("local chain: trace limit exceeded")
                queue.extend(await self._execute(conn, trace, *queue.pop(0)))
            accounts = [
                (account, base64.b64decode(trace.states[account]), lt_, hash_)
                for account, (lt_, hash_) in trace.last.items()
            ]
            await self._store.write(conn, accounts, trace.rows, trace.lt)
        self.last_trace = trace.transactions
        return trace.transactions

    async def _execute(
        self, conn: Any, trace: _Trace, msg: MessageAny, msg_boc: bytes, msg_hash: bytes
    ) -> list[tuple[MessageAny, bytes, bytes]]:
        """Emulate one message on its destination; the internal messages it sends."""
        dest = _raw(msg.info.dest)
        if dest not in trace.states:
            stored = await self._store.locked_shard_account(conn, dest)
            trace.states[dest] = base64.b64encode(stored or _EMPTY_SHARD_ACCOUNT_BOC)
        trace.lt += _LT_STEP
        self._emulator.set_lt(trace.lt)
        self._emulator.set_unixtime(trace.now)
        res = self._engine.transaction_emulator_emulate_transaction(
            self._emulator.emulator, trace.states[dest], base64.b64encode(msg_boc)
        )
        if not res.get("success"):
            if msg.is_external:
                raise MessageRejected(
                    f"external message not accepted by {dest}: {res.get('error')}"
                    f" (exit code {res.get('vm_exit_code')})",
                    exit_code=res.get("vm_exit_code"),
                )
            raise RuntimeError(f"local chain: emulation failed at {dest}: {res}")
        trace.states[dest] = res["shard_account"].encode()
        tx_boc = base64.b64decode(res["transaction"])
        tx_cell = Cell.one_from_boc(tx_boc)
        tx = Transaction.deserialize(tx_cell.begin_parse())
        tx.cell = tx_cell
        trace.rows.append((dest, tx.lt, tx_cell.hash, msg_hash, tx_boc, trace.now))
        trace.last[dest] = (tx.lt, tx_cell.hash)
        trace.transactions.append(tx)
        sent = []
        for out in tx.out_msgs:
            if out.is_internal:
                out_cell = out.serialize()
                sent.append((out, out_cell.to_boc(), out_cell.hash))
        return sent

    # ---------------- local helpers ----------------
    async def faucet(self, address: Address | str, amount_nano: int) -> list[Transaction]:
        """Top up an account with a non-bounceable internal message from the faucet."""
        return await self.deliver(
            emulator.internal_message(FAUCET_ADDRESS, _addr(address), amount_nano, bounce=False)
        )

    @db_guard
    async def set_balance(self, address: Address | str, nano: int) -> None:
        """Overwrite an existing account's balance (tests: an empty custody wallet)."""
        raw_address = _raw(_addr(address))
        async with self._store.locked() as conn:
            stored = await self._store.locked_shard_account(conn, raw_address)
            cell = Cell.one_from_boc(stored or _EMPTY_SHARD_ACCOUNT_BOC)
            sa = ShardAccount.deserialize(cell.begin_parse())
            if sa.account is None:
                raise ValueError(f"account {raw_address} does not exist")
            sa.account.storage.balance = CurrencyCollection(nano, None)
            new = ShardAccount(sa.account, sa.last_trans_hash, sa.last_trans_lt).serialize()
            await self._store.put_shard_account(conn, raw_address, new.to_boc())

    async def reset(self) -> None:
        """Forget the whole chain (tests)."""
        await self._store.reset()

    # ---------------- TonProvider ----------------
    async def raw_get_account_state(
        self, address: Address | str, block: Any = None
    ) -> tuple[Any, Any]:
        sa = await self.shard_account(address)
        if sa.account is None:
            return None, None
        return sa.account, sa

    async def get_account_state(self, address: Address | str) -> SimpleAccount:
        address = _addr(address)
        account, _ = await self.raw_get_account_state(address)
        return SimpleAccount.from_raw(account, address)

    async def run_get_method(
        self, address: Address | str, method: str | int, stack: list[Any], block: Any = None
    ) -> list[Any]:
        address = _addr(address)
        sa = await self.shard_account(address)
        acc = sa.account
        if acc is None or acc.storage.state.type_ != "account_active":
            raise GetMethodFailed(f"account {_raw(address)} is not active", exit_code=-256)
        state_init = acc.storage.state.state_init
        tvm = TvmEmulator(state_init.code, state_init.data, engine=self._engine)
        self._engine.tvm_emulator_set_c7(  # the config's base64 as is: no re-serializing
            tvm.emulator,
            _raw(address).encode(),
            await self.now(),
            acc.storage.balance.grams,
            ("00" * 32).encode(),
            self._config_b64_bytes,
        )
        res = tvm.run_get_method(method, list(stack))
        exit_code = res.get("vm_exit_code", 0)
        if not res.get("success", True) or exit_code not in (0, 1):
            raise GetMethodFailed(f"get method {method!r} failed: exit code {exit_code}", exit_code)
        stack_out: list[Any] = res["stack"]
        return stack_out

    async def raw_send_message(self, message: bytes) -> int:
        if self._fail:
            self._fail -= 1
            raise ChainUnavailable("local chain: injected send failure")
        msg = MessageAny.deserialize(Slice.one_from_boc(message))
        if self._drop:
            self._drop -= 1
            return 1
        await self.deliver(msg, message)
        return 1

    async def get_transactions(
        self,
        address: Address | str,
        count: int,
        from_lt: int | None = None,
        from_hash: bytes | None = None,
        **_: Any,
    ) -> list[Transaction]:
        """Newest first, like a liteserver; `from_lt` starts at that transaction (inclusive)."""
        txs = []
        for boc in await self._store.transactions(_raw(_addr(address)), from_lt, count):
            cell = Cell.one_from_boc(boc)
            tx = Transaction.deserialize(cell.begin_parse())
            tx.cell = cell
            txs.append(tx)
        return txs
